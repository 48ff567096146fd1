"""Typed domain errors. Raised in the domain and services, translated once at each edge.

Each error carries the Handle response code that the Handle REST API answers with, so
the two edges (GraphQL and Handle REST) agree on what went wrong.
"""

from __future__ import annotations


class IdnodeError(Exception):
    """Base of every expected failure; its message is safe to show to the caller."""

    response_code = 2  # Handle "error"
    http_status = 500

    def __init__(self, message: str, *, handle: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.handle = handle


class InvalidHandleError(IdnodeError):
    """The identifier is not syntactically valid."""

    response_code = 102
    http_status = 400


class InvalidValueError(IdnodeError):
    """A value (index, type, data, ttl, permissions) or the request body is malformed."""

    response_code = 202
    http_status = 400


class PayloadTooLargeError(InvalidValueError):
    """The request or the resulting record exceeds a size limit."""

    http_status = 413


class HandleNotFoundError(IdnodeError):
    """No identifier with this name is registered."""

    response_code = 100
    http_status = 404


class HandleAlreadyExistsError(IdnodeError):
    """Create was asked for an identifier that is already registered."""

    response_code = 101
    http_status = 409


class SchemeKeyTakenError(HandleAlreadyExistsError):
    """The identifier is free, but the scheme key it stands for (a GTIN, an OID) is already
    registered as another identifier of the node."""


class ValuesNotFoundError(IdnodeError):
    """The record exists but none of the asked-for values do."""

    response_code = 200
    http_status = 400


class PrefixNotServedError(IdnodeError):
    """The identifier's prefix is not an allocated, active prefix of this node."""

    response_code = 301
    http_status = 404


class AuthenticationRequiredError(IdnodeError):
    """The operation needs credentials, or the credentials given are not valid."""

    response_code = 402
    http_status = 401


class NotAuthorisedError(IdnodeError):
    """The caller is authenticated but may not do this."""

    response_code = 400
    http_status = 403


class ConcurrentUpdateError(IdnodeError):
    """The record kept changing under us; the caller may retry."""

    response_code = 2
    http_status = 409


class NotFoundError(IdnodeError):
    """No such enterprise, application, user or other named thing (identifiers have
    HandleNotFoundError)."""

    response_code = 100
    http_status = 404


class InvalidStateError(IdnodeError):
    """The thing exists but is not in a state that allows this (e.g. an application that
    was decided already)."""

    response_code = 2
    http_status = 409


class QuotaExceededError(IdnodeError):
    """A limit set in the system parameters would be exceeded."""

    response_code = 2
    http_status = 429


class UpstreamUnavailableError(IdnodeError):
    """A self-hosted enterprise node did not answer (on any interface) in time."""

    response_code = 2
    http_status = 504


class UpstreamError(IdnodeError):
    """A self-hosted enterprise node answered, but not with an answer the node can use."""

    response_code = 2
    http_status = 502


class ReferralLimitError(UpstreamError):
    """Referrals went round in a loop or further than the node follows them."""

    response_code = 6  # recursion count too high
