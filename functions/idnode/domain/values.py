"""Typed values of a record, in the Handle data model (RFC 3651).

A value has an index (unique in its record), a type, data with a format, a TTL, a timestamp
set by the server, and permissions. Data is kept in the Handle REST JSON form
(`{"format": ..., "value": ...}`) so that it round-trips to clients unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from idnode.domain.errors import InvalidValueError

MAX_INDEX = 2**31 - 1
MAX_TYPE_LENGTH = 255
MAX_STRING_DATA = 65_535
MAX_TTL = 2**31 - 1
DEFAULT_TTL = 86_400
ADMIN_PERMISSION_BITS = 12
_TYPE_RE = re.compile(r"^[\x21-\x7e]+$")
_DECIMAL_RE = re.compile(r"[0-9]{1,10}")
_HEX_RE = re.compile(r"^[0-9A-Fa-f]*$")
_BITS_RE = re.compile(rf"^[01]{{{ADMIN_PERMISSION_BITS}}}$")


class DataFormat(StrEnum):
    STRING = "string"
    BASE64 = "base64"
    HEX = "hex"
    ADMIN = "admin"
    VLIST = "vlist"
    SITE = "site"
    KEY = "key"


@dataclass(frozen=True, slots=True)
class ValueData:
    """Value data in Handle REST JSON form. `value` is a str, a dict or a list by format."""

    format: DataFormat
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format.value, "value": self.value}


@dataclass(frozen=True, slots=True)
class Permissions:
    """Who may read and write a value. `public_read=False` makes it a restricted value."""

    admin_read: bool = True
    admin_write: bool = True
    public_read: bool = True
    public_write: bool = False

    @property
    def bits(self) -> str:
        """Handle's 4-character form: admin read, admin write, public read, public write."""
        flags = (self.admin_read, self.admin_write, self.public_read, self.public_write)
        return "".join("1" if flag else "0" for flag in flags)

    @classmethod
    def from_bits(cls, bits: str) -> Permissions:
        ar, aw, pr, pw = (c == "1" for c in bits)
        return cls(admin_read=ar, admin_write=aw, public_read=pr, public_write=pw)


@dataclass(frozen=True, slots=True)
class Value:
    index: int
    type: str
    data: ValueData
    ttl: int = DEFAULT_TTL
    timestamp: datetime | None = None
    permissions: Permissions = Permissions()

    @property
    def restricted(self) -> bool:
        return not self.permissions.public_read

    def stamped(self, at: datetime) -> Value:
        return replace(self, timestamp=at)

    def matches(self, types: frozenset[str], indexes: frozenset[int]) -> bool:
        """Handle filter semantics: no filter selects all; otherwise the index is asked for,
        or the type is asked for exactly or as a parent (`URL` selects `URL.mobile`)."""
        if not types and not indexes:
            return True
        if self.index in indexes:
            return True
        return any(self.type == t or self.type.startswith(t + ".") for t in types)


def parse_decimal(raw: str, what: str) -> int:
    """A non-negative whole number written in ASCII digits (query parameters and the like)."""
    text = raw.strip()
    if not _DECIMAL_RE.fullmatch(text):
        raise InvalidValueError(f"{what} must be a whole number, not {raw!r}")
    return int(text)


def _fail(index: object, message: str) -> InvalidValueError:
    return InvalidValueError(f"value {index}: {message}")


def _parse_index(raw: object) -> int:
    # Clients send the index as a number or as a numeric string.
    if isinstance(raw, bool):
        raise _fail(raw, "index must be an integer")
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int):
        raise InvalidValueError(f"value index {raw!r} is not an integer")
    if not 1 <= raw <= MAX_INDEX:
        raise _fail(raw, f"index must be between 1 and {MAX_INDEX}")
    return raw


def _parse_admin(index: int, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(index, "admin data must be an object with handle, index and permissions")
    handle, admin_index, bits = value.get("handle"), value.get("index"), value.get("permissions")
    if not isinstance(handle, str) or "/" not in handle:
        raise _fail(index, "admin data needs the admin's handle (prefix/suffix)")
    try:
        parsed_index = int(admin_index) if admin_index is not None else 0
    except (TypeError, ValueError):
        raise _fail(index, "admin data index must be an integer") from None
    if not 0 <= parsed_index <= MAX_INDEX:
        raise _fail(index, "admin data index is out of range")
    if not isinstance(bits, str) or not _BITS_RE.fullmatch(bits):
        raise _fail(index, f"admin permissions must be {ADMIN_PERMISSION_BITS} characters of 0/1")
    return {"handle": handle, "index": parsed_index, "permissions": bits}


def _parse_vlist(index: int, value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail(index, "vlist data must be a list of {handle, index}")
    out = []
    for ref in value:
        if not isinstance(ref, Mapping) or not isinstance(ref.get("handle"), str):
            raise _fail(index, "each vlist entry needs a handle")
        try:
            out.append({"handle": ref["handle"], "index": int(ref.get("index", 0))})
        except (TypeError, ValueError):
            raise _fail(index, "vlist entry index must be an integer") from None
    return out


def _parse_text(index: int, fmt: DataFormat, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(index, f"{fmt.value} data must be a string")
    if len(value) > MAX_STRING_DATA:
        raise _fail(index, f"data is longer than {MAX_STRING_DATA} characters")
    if fmt is DataFormat.BASE64:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(index, "data is not valid base64") from None
    if fmt is DataFormat.HEX and (len(value) % 2 or not _HEX_RE.fullmatch(value)):
        raise _fail(index, "data is not valid hex")
    return value


def _parse_data(index: int, raw: object) -> ValueData:
    # A bare string is string-format data, as the Handle REST API allows.
    if isinstance(raw, str):
        raw = {"format": "string", "value": raw}
    if not isinstance(raw, Mapping):
        raise _fail(index, "data must be a string or an object with format and value")
    fmt_raw = raw.get("format", "string")
    try:
        fmt = DataFormat(fmt_raw)
    except ValueError:
        formats = ", ".join(f.value for f in DataFormat)
        raise _fail(index, f"unknown data format {fmt_raw!r} (one of {formats})") from None
    value = raw.get("value")
    if fmt in (DataFormat.STRING, DataFormat.BASE64, DataFormat.HEX):
        return ValueData(fmt, _parse_text(index, fmt, value))
    if fmt is DataFormat.ADMIN:
        return ValueData(fmt, _parse_admin(index, value))
    if fmt is DataFormat.VLIST:
        return ValueData(fmt, _parse_vlist(index, value))
    # site and key are opaque structures to this node: stored and returned as given.
    if not isinstance(value, (str, Mapping, list)):
        raise _fail(index, f"{fmt.value} data must be a string, an object or a list")
    return ValueData(fmt, value)


def _parse_permissions(index: int, raw: Mapping[str, Any]) -> Permissions:
    perms = raw.get("permissions")
    base = Permissions()
    if perms is None:
        # Shorthand accepted from GraphQL and JSON clients: "restricted": true.
        restricted = raw.get("restricted", False)
        if not isinstance(restricted, bool):
            raise _fail(index, "restricted must be true or false")
        return replace(base, public_read=not restricted)
    if isinstance(perms, str):
        # Handle's 4-character form: admin read, admin write, public read, public write.
        if not re.fullmatch(r"[01]{4}", perms):
            raise _fail(index, "permissions string must be 4 characters of 0/1")
        return Permissions.from_bits(perms)
    if isinstance(perms, Mapping):
        fields = {}
        for key, attr in (
            ("adminRead", "admin_read"),
            ("adminWrite", "admin_write"),
            ("publicRead", "public_read"),
            ("publicWrite", "public_write"),
        ):
            if key in perms:
                if not isinstance(perms[key], bool):
                    raise _fail(index, f"permissions.{key} must be true or false")
                fields[attr] = perms[key]
        return replace(base, **fields)
    raise _fail(index, "permissions must be a 4-character string or an object")


def parse_value(raw: object) -> Value:
    """Validate one value from client JSON (Handle REST form). The timestamp is ignored:
    the server sets it."""
    if not isinstance(raw, Mapping):
        raise InvalidValueError("each value must be an object")
    index = _parse_index(raw.get("index"))
    vtype = raw.get("type")
    if not isinstance(vtype, str) or not vtype:
        raise _fail(index, "type must be a non-empty string")
    if len(vtype) > MAX_TYPE_LENGTH or not _TYPE_RE.fullmatch(vtype):
        raise _fail(index, f"type must be 1-{MAX_TYPE_LENGTH} printable ASCII characters")
    data = _parse_data(index, raw.get("data"))
    if vtype == "HS_ADMIN" and data.format is not DataFormat.ADMIN:
        raise _fail(index, "an HS_ADMIN value needs data of format admin")
    ttl_raw = raw.get("ttl", DEFAULT_TTL)
    if isinstance(ttl_raw, str) and ttl_raw.isascii() and ttl_raw.isdigit():
        ttl_raw = int(ttl_raw)
    if isinstance(ttl_raw, bool) or not isinstance(ttl_raw, int) or not 0 <= ttl_raw <= MAX_TTL:
        raise _fail(index, f"ttl must be an integer between 0 and {MAX_TTL}")
    return Value(
        index=index,
        type=vtype,
        data=data,
        ttl=ttl_raw,
        permissions=_parse_permissions(index, raw),
    )


def parse_values(raw: object, *, max_values: int) -> list[Value]:
    """Validate a list of values; indexes must be unique."""
    if not isinstance(raw, list):
        raise InvalidValueError("values must be a list")
    if len(raw) > max_values:
        raise InvalidValueError(f"too many values: {len(raw)} (at most {max_values})")
    values = [parse_value(item) for item in raw]
    seen: set[int] = set()
    for v in values:
        if v.index in seen:
            raise InvalidValueError(f"value index {v.index} appears more than once")
        seen.add(v.index)
    return values


def format_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def value_to_json(value: Value) -> dict[str, Any]:
    """The Handle REST JSON form of a value; `timestamp` is always present."""
    p = value.permissions
    out: dict[str, Any] = {
        "index": value.index,
        "type": value.type,
        "data": value.data.to_json(),
        "ttl": value.ttl,
        "timestamp": format_timestamp(value.timestamp or datetime.now(UTC)),
    }
    if p != Permissions():
        out["permissions"] = p.bits
    return out


def value_from_storage(raw: Mapping[str, Any]) -> Value:
    """Rebuild a value that this node stored itself (already validated, so no checks)."""
    return Value(
        index=raw["index"],
        type=raw["type"],
        data=ValueData(DataFormat(raw["data"]["format"]), raw["data"]["value"]),
        ttl=raw["ttl"],
        timestamp=datetime.fromisoformat(raw["timestamp"]),
        permissions=Permissions.from_bits(raw.get("permissions", "1110")),
    )


def value_to_storage(value: Value) -> dict[str, Any]:
    return {
        "index": value.index,
        "type": value.type,
        "data": value.data.to_json(),
        "ttl": value.ttl,
        "timestamp": (value.timestamp or datetime.now(UTC)).isoformat(),
        "permissions": value.permissions.bits,
    }


def select(
    values: Iterable[Value], types: Iterable[str] = (), indexes: Iterable[int] = ()
) -> tuple[Value, ...]:
    """The values a resolution filtered by `types` and `indexes` returns (all when neither)."""
    wanted_types, wanted_indexes = frozenset(types), frozenset(indexes)
    return tuple(v for v in values if v.matches(wanted_types, wanted_indexes))


def sorted_by_index(values: Iterable[Value]) -> tuple[Value, ...]:
    return tuple(sorted(values, key=lambda v: v.index))
