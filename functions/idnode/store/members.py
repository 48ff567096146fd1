"""The people of each enterprise. The user pool holds the accounts but cannot filter on the
`custom:enterprise` attribute, so every binding is mirrored here, keyed by enterprise.

`role` holds the person's roles as a comma-separated list (e.g.
`enterprise-admin,enterprise-user`; empty when they hold none)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from idnode.domain.access import Role
from idnode.domain.errors import InvalidValueError
from idnode.domain.people import Member, role_names
from idnode.store.models import MemberModel
from idnode.store.pages import Page, decode_cursor, encode_cursor


def _scope(enterprise: str) -> str:
    return f"members#{enterprise}"


def _is_member_key(key: dict[str, Any], enterprise: str) -> bool:
    if set(key) != {"enterprise", "username"}:
        return False
    username = key["username"]
    return (
        key["enterprise"] == {"S": enterprise}
        and isinstance(username, dict)
        and set(username) == {"S"}
        and isinstance(username["S"], str)
    )


class MemberRepository:
    def __init__(self, model: type[MemberModel]) -> None:
        self._model = model

    def get(self, enterprise: str, username: str) -> Member | None:
        try:
            item = self._model.get(enterprise, username)
        except DoesNotExist:
            return None
        return self._to_member(item)

    def put(self, member: Member) -> None:
        """Record or update a binding; the time it was first recorded is kept."""
        model = self._model
        item = model(member.enterprise, member.username)
        item.update(
            actions=[
                model.role.set(",".join(role_names(member.roles))),
                model.created.set(model.created | datetime.now(UTC)),
            ]
        )

    def remove(self, enterprise: str, username: str) -> None:
        """Forget a binding (absent already: nothing to do)."""
        self._model(enterprise, username).delete()

    def list(self, enterprise: str, limit: int, cursor: str | None) -> Page[Member]:
        """An enterprise's people in username order."""
        start = decode_cursor(_scope(enterprise), cursor)
        if start is not None and not _is_member_key(start, enterprise):
            raise InvalidValueError("the cursor does not belong to this listing")
        results = self._model.query(
            enterprise, limit=limit, last_evaluated_key=start, page_size=limit
        )
        items = list(results)
        last = results.last_evaluated_key
        return Page(
            items=[self._to_member(i) for i in items],
            cursors=[
                encode_cursor(
                    _scope(enterprise),
                    {"enterprise": {"S": i.enterprise}, "username": {"S": i.username}},
                )
                for i in items
            ],
            next_cursor=encode_cursor(_scope(enterprise), last) if last else None,
        )

    @staticmethod
    def _to_member(item: MemberModel) -> Member:
        names = [n for n in (item.role or "").split(",") if n in Role._value2member_map_]
        return Member(
            enterprise=item.enterprise,
            username=item.username,
            roles=frozenset(Role(n) for n in names),
            created=item.created,
        )
