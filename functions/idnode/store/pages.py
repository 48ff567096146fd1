"""Opaque cursors for paginated queries.

A cursor wraps DynamoDB's LastEvaluatedKey together with the partition it belongs to, so a
cursor from one prefix cannot be replayed against another.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from idnode.domain.errors import InvalidValueError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items with a cursor after each (resume after that item) and one for the next page."""

    items: list[T]
    cursors: list[str]
    next_cursor: str | None


def encode_cursor(scope: str, last_key: dict[str, Any]) -> str:
    raw = json.dumps({"s": scope, "k": last_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(scope: str, cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidValueError("the cursor is not valid") from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise InvalidValueError("the cursor does not belong to this listing")
    key: dict[str, Any] = data["k"]
    return key
