"""Expected failures as typed GraphQL results.

Each domain error maps to one error type; resolvers return it as a member of their result
union, so clients branch on `__typename` instead of parsing messages. Unexpected errors
never reach here: the schema's MaskErrors extension hides them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import strawberry

from idnode.domain import errors as domain


@strawberry.interface(description="An expected failure, with a message safe to show a person.")
class Error:
    message: str


@strawberry.type(description="The input is malformed; nothing was changed.")
class InvalidInputError(Error):
    handle: str | None = None


@strawberry.type(description="The identifier, or a value at an index named, does not exist.")
class NotFoundError(Error):
    handle: str | None = None


@strawberry.type(description="The identifier is registered already.")
class AlreadyExistsError(Error):
    handle: str | None = None


@strawberry.type(description="The prefix is not an allocated, active prefix of this node.")
class PrefixNotServedError(Error):
    handle: str | None = None


@strawberry.type(description="The operation needs a valid ID token (or the one sent was refused).")
class AuthenticationError(Error):
    pass


@strawberry.type(description="The caller may not do this.")
class NotAuthorisedError(Error):
    handle: str | None = None


@strawberry.type(
    description="The identifier changed under the request (another writer won, or it is no "
    "longer at the expected version); read it again and retry."
)
class ConflictError(Error):
    handle: str | None = None


@strawberry.type(description="The thing is not in a state that allows this operation.")
class InvalidStateError(Error):
    pass


@strawberry.type(
    description="A self-hosted enterprise node did not answer in time, answered with "
    "something unusable, or its referrals went round in a loop."
)
class UpstreamFailureError(Error):
    handle: str | None = None


@strawberry.type(description="A limit set in the system parameters would be exceeded.")
class QuotaExceededError(Error):
    pass


_MAP: list[tuple[type[domain.IdnodeError], Callable[[domain.IdnodeError], Error]]] = [
    (domain.AuthenticationRequiredError, lambda e: AuthenticationError(message=e.message)),
    (domain.NotAuthorisedError, lambda e: NotAuthorisedError(message=e.message, handle=e.handle)),
    (domain.HandleNotFoundError, lambda e: NotFoundError(message=e.message, handle=e.handle)),
    (domain.ValuesNotFoundError, lambda e: NotFoundError(message=e.message, handle=e.handle)),
    (
        domain.HandleAlreadyExistsError,
        lambda e: AlreadyExistsError(message=e.message, handle=e.handle),
    ),
    (
        domain.PrefixNotServedError,
        lambda e: PrefixNotServedError(message=e.message, handle=e.handle),
    ),
    (domain.ConcurrentUpdateError, lambda e: ConflictError(message=e.message, handle=e.handle)),
    (domain.NotFoundError, lambda e: NotFoundError(message=e.message, handle=e.handle)),
    (domain.InvalidStateError, lambda e: InvalidStateError(message=e.message)),
    (domain.QuotaExceededError, lambda e: QuotaExceededError(message=e.message)),
    (domain.InvalidHandleError, lambda e: InvalidInputError(message=e.message, handle=e.handle)),
    (
        domain.UpstreamUnavailableError,
        lambda e: UpstreamFailureError(message=e.message, handle=e.handle),
    ),
    (domain.UpstreamError, lambda e: UpstreamFailureError(message=e.message, handle=e.handle)),
    (domain.InvalidValueError, lambda e: InvalidInputError(message=e.message, handle=e.handle)),
]


def to_error(error: domain.IdnodeError) -> Error:
    for kind, build in _MAP:
        if isinstance(error, kind):
            return build(error)
    raise error  # an IdnodeError without a GraphQL shape is a bug: let MaskErrors hide it


R = TypeVar("R")


def typed_errors(resolver: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R | Any]]:
    """Turn the domain's expected errors raised by `resolver` into typed results."""

    @wraps(resolver)
    async def wrapper(*args: Any, **kwargs: Any) -> R | Any:
        try:
            return await resolver(*args, **kwargs)
        except domain.IdnodeError as error:
            return to_error(error)

    return wrapper
