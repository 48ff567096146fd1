"""Per-request context: who is calling and the request's DataLoaders.

Built fresh for every request (module globals survive warm Lambda invocations, so nothing
request-scoped may live there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from idnode.domain.access import Principal
from idnode.domain.errors import AuthenticationRequiredError
from idnode.domain.handles import fold_case
from idnode.domain.records import Record
from idnode.node import Node


@dataclass
class Context:
    node: Node
    _principal: Principal | None
    _auth_error: AuthenticationRequiredError | None = None
    records: DataLoader[str, Record | None] = field(init=False)

    def __post_init__(self) -> None:
        registry = self.node.registry

        async def load(names: list[str]) -> list[Record | None]:
            return registry.find_many(names)

        self.records = DataLoader(load_fn=load, cache_key_fn=fold_case)

    @property
    def principal(self) -> Principal:
        """The caller; raises if the request carried credentials that were refused."""
        if self._auth_error is not None:
            raise self._auth_error
        assert self._principal is not None
        return self._principal


def build_context(node: Node, authorization: str | None, source: str | None = None) -> Context:
    try:
        return Context(node=node, _principal=node.callers.authenticate(authorization, source))
    except AuthenticationRequiredError as error:
        return Context(node=node, _principal=None, _auth_error=error)


Info = StrawberryInfo[Context, Any]
