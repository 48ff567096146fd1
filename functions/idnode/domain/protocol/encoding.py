"""Binary forms of the Handle data model (RFC 3651/3652), as Handle.Net 9 writes them.

Values travel in the Handle protocol as `index, timestamp, ttlType, ttl, permissions, type,
data, references`; their data is the value's bytes (UTF-8 for strings, decoded for base64
and hex, and structured records for HS_ADMIN, HS_VLIST, HS_SITE and public keys). Site
information also has a JSON form, the one Handle.Net v9's REST API and `siteinfo.json` use;
`site_to_bytes` and `site_from_bytes` convert between the two without losing anything.

Pure functions: no I/O, no AWS.
"""

from __future__ import annotations

import base64
import ipaddress
import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from idnode.domain.errors import InvalidValueError
from idnode.domain.values import ADMIN_PERMISSION_BITS, DataFormat, Permissions, Value, ValueData

INT = struct.Struct(">I")
INT2 = struct.Struct(">H")
BYTE_MAX = 255
MAX_COUNT = 65_536  # no list in a message holds more items than this
_VALUE_FIXED = struct.Struct(">IIBIB")  # index, timestamp, ttl type, ttl, permissions

PROTOCOLS = {"UDP": 0, "TCP": 1, "HTTP": 2, "HTTPS": 3}
PROTOCOL_NAMES = {code: name for name, code in PROTOCOLS.items()}
ST_ADMIN, ST_QUERY = 1, 2
PRIMARY_SITE, MULTI_PRIMARY = 0x80, 0x40
HASH_BY_ALL = 2
RSA_PUBLIC = b"RSA_PUB_KEY"


class DecodeError(ValueError):
    """The bytes are not a well-formed Handle protocol structure."""


class Reader:
    """Reads the protocol's big-endian integers and length-prefixed byte strings."""

    __slots__ = ("data", "end", "offset")

    def __init__(self, data: bytes, offset: int = 0, end: int | None = None) -> None:
        self.data = data
        self.offset = offset
        self.end = len(data) if end is None else end

    def _take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > self.end:
            raise DecodeError(f"truncated: {size} bytes wanted at offset {self.offset}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def byte(self) -> int:
        return self._take(1)[0]

    def int2(self) -> int:
        return int(INT2.unpack(self._take(2))[0])

    def int4(self) -> int:
        return int(INT.unpack(self._take(4))[0])

    def count(self) -> int:
        n = self.int4()
        if n > MAX_COUNT:
            raise DecodeError(f"a count of {n} is more than any message holds")
        return n

    def bytes(self) -> bytes:
        return self._take(self.int4())

    def text(self) -> str:
        raw = self.bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("a string is not UTF-8") from None

    @property
    def remaining(self) -> int:
        return self.end - self.offset


def pack_bytes(data: bytes) -> bytes:
    return INT.pack(len(data)) + data


def pack_text(text: str) -> bytes:
    return pack_bytes(text.encode("utf-8"))


# ---- keys ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(number: int) -> bytes:
    """A non-negative number as Java's BigInteger.toByteArray writes it (two's complement)."""
    return number.to_bytes(number.bit_length() // 8 + 1, "big")


def rsa_public_key_bytes(modulus: int, exponent: int) -> bytes:
    """An RSA public key in Handle's encoding (as Handle.Net writes it, with its 4 trailing
    zero bytes)."""
    return (
        pack_bytes(RSA_PUBLIC)
        + INT2.pack(0)
        + pack_bytes(_signed(exponent))
        + pack_bytes(_signed(modulus))
        + INT.pack(0)
    )


def rsa_numbers(data: bytes) -> tuple[int, int] | None:
    """(modulus, exponent) of an RSA public key in Handle's encoding, else None."""
    try:
        reader = Reader(data)
        if reader.bytes() != RSA_PUBLIC:
            return None
        reader.int2()
        exponent = int.from_bytes(reader.bytes(), "big")
        modulus = int.from_bytes(reader.bytes(), "big")
    except DecodeError:
        return None
    return modulus, exponent


def key_to_json(data: bytes) -> dict[str, Any]:
    """The JSON form Handle.Net v9 gives a public key: JWK for RSA, else base64 data."""
    try:
        reader = Reader(data)
        if reader.bytes() == RSA_PUBLIC:
            reader.int2()
            exponent = int.from_bytes(reader.bytes(), "big")
            modulus = int.from_bytes(reader.bytes(), "big")
            n = modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")
            e = exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")
            return {"format": "key", "value": {"kty": "RSA", "n": _b64url(n), "e": _b64url(e)}}
    except DecodeError:
        pass
    return {"format": "base64", "value": base64.b64encode(data).decode("ascii")}


def key_from_json(raw: object, where: str) -> bytes:
    if isinstance(raw, Mapping) and raw.get("format") == "key":
        jwk = raw.get("value")
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            raise InvalidValueError(f"{where}: only RSA public keys (kty RSA) are supported")
        try:
            n = int.from_bytes(_unb64url(str(jwk["n"])), "big")
            e = int.from_bytes(_unb64url(str(jwk["e"])), "big")
        except (KeyError, ValueError):
            raise InvalidValueError(f"{where}: the key needs base64url n and e") from None
        return rsa_public_key_bytes(n, e)
    if isinstance(raw, Mapping) and raw.get("format") in ("base64", "hex"):
        return _opaque_bytes(raw, where)
    if raw is None:
        return b""
    raise InvalidValueError(f"{where}: a public key is {{format: key|base64|hex, value}}")


def _opaque_bytes(raw: Mapping[str, Any], where: str) -> bytes:
    value = raw.get("value")
    if not isinstance(value, str):
        raise InvalidValueError(f"{where}: data value must be a string")
    try:
        return base64.b64decode(value) if raw["format"] == "base64" else bytes.fromhex(value)
    except ValueError:
        raise InvalidValueError(f"{where}: data is not valid {raw['format']}") from None


# ---- site information ----------------------------------------------------------------------


def address_bytes(text: object, where: str) -> bytes:
    """An address as site information holds it: 16 bytes, IPv4 right-aligned after zeros.

    IPv6 addresses in ::/96 (such as ::1) would read back as IPv4 and are refused."""
    try:
        address = ipaddress.ip_address(str(text))
    except ValueError:
        raise InvalidValueError(
            f"{where}.address: {text!r} is not an IPv4 or IPv6 address"
        ) from None
    if address.version == 6 and address.packed[:12] == bytes(12):  # noqa: PLR2004
        raise InvalidValueError(
            f"{where}.address: {address} cannot be written in site information (it reads as IPv4)"
        )
    return address.packed.rjust(16, b"\0")


def address_text(raw: bytes) -> str:
    """An address as Handle.Net v9 writes it: dotted IPv4, or IPv6 with its first longest
    inner run of zero groups shortened (v9 never shortens a run that ends the address)."""
    if raw[:12] == bytes(12):
        return str(ipaddress.IPv4Address(raw[12:]))
    groups = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 16, 2)]
    start, length, run_start, run = -1, 0, 0, 0
    for i, group in enumerate(groups):
        if group == 0:
            if run == 0:
                run_start = i
            run += 1
        else:
            if run > length:
                start, length = run_start, run
            run = 0
    if length < 2:  # noqa: PLR2004 - a single zero group is never shortened
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:start])
    tail = ":".join(f"{g:x}" for g in groups[start + length :])
    return f"{head}::{tail}"


def _flag(raw: Mapping[str, Any], name: str, where: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise InvalidValueError(f"{where}.{name} must be true or false")
    return value


def _number(raw: Mapping[str, Any], name: str, where: str, high: int, default: int = 0) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidValueError(f"{where}.{name} must be a whole number from 0 to {high}")
    return value


def _interface_bytes(raw: object, where: str) -> bytes:
    if not isinstance(raw, Mapping):
        raise InvalidValueError(f"{where} must be an object")
    kind = (ST_QUERY if _flag(raw, "query", where) else 0) | (
        ST_ADMIN if _flag(raw, "admin", where) else 0
    )
    protocol = raw.get("protocol")
    code = PROTOCOLS.get(protocol) if isinstance(protocol, str) else protocol
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= BYTE_MAX:
        raise InvalidValueError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}")
    port = _number(raw, "port", where, 65_535)
    return bytes((kind, code)) + INT.pack(port)


def _server_bytes(raw: object, where: str) -> bytes:
    if not isinstance(raw, Mapping):
        raise InvalidValueError(f"{where} must be an object")
    interfaces = raw.get("interfaces")
    if not isinstance(interfaces, list) or not interfaces:
        raise InvalidValueError(f"{where}.interfaces must list at least one interface")
    return b"".join(
        (
            INT.pack(_number(raw, "serverId", where, 2**31 - 1, 1)),
            address_bytes(raw.get("address"), where),
            pack_bytes(key_from_json(raw.get("publicKey"), f"{where}.publicKey")),
            INT.pack(len(interfaces)),
            *(_interface_bytes(i, f"{where}.interfaces[{n}]") for n, i in enumerate(interfaces)),
        )
    )


def site_to_bytes(site: object) -> bytes:
    """The site information record (HS_SITE data) for its v9 JSON form; names the field
    that is wrong."""
    if not isinstance(site, Mapping):
        raise InvalidValueError("site information must be an object")
    version = str(site.get("protocolVersion", "2.10"))
    major, dot, minor = version.partition(".")
    if not (
        dot
        and major.isdigit()
        and minor.isdigit()
        and int(major) <= BYTE_MAX
        and int(minor) <= BYTE_MAX
    ):
        raise InvalidValueError(f"protocolVersion {version!r} is not of the form 2.10")
    attributes = site.get("attributes", [])
    if not isinstance(attributes, list) or not all(
        isinstance(a, Mapping)
        and isinstance(a.get("name"), str)
        and isinstance(a.get("value"), str)
        for a in attributes
    ):
        raise InvalidValueError("attributes must be a list of {name, value} strings")
    servers = site.get("servers")
    if not isinstance(servers, list) or not servers:
        raise InvalidValueError("servers must list at least one server")
    flags = (PRIMARY_SITE if _flag(site, "primarySite", "site") else 0) | (
        MULTI_PRIMARY if _flag(site, "multiPrimary", "site") else 0
    )
    hash_filter = site.get("hashFilter", "")
    if not isinstance(hash_filter, str):
        raise InvalidValueError("hashFilter must be a string")
    return b"".join(
        (
            INT2.pack(_number(site, "version", "site", 65_535, 1)),
            bytes((int(major), int(minor))),
            INT2.pack(_number(site, "serialNumber", "site", 65_535, 1)),
            bytes((flags, _number(site, "hashOption", "site", BYTE_MAX, HASH_BY_ALL))),
            pack_text(hash_filter),
            INT.pack(len(attributes)),
            *(pack_text(a["name"]) + pack_text(a["value"]) for a in attributes),
            INT.pack(len(servers)),
            *(_server_bytes(s, f"servers[{n}]") for n, s in enumerate(servers)),
        )
    )


def site_from_bytes(data: bytes) -> dict[str, Any]:
    """The v9 JSON form of a site information record (key order as v9 writes it)."""
    reader = Reader(data)
    version = reader.int2()
    major, minor = reader.byte(), reader.byte()
    serial = reader.int2()
    flags, hash_option = reader.byte(), reader.byte()
    hash_filter = reader.text()
    site: dict[str, Any] = {
        "version": version,
        "protocolVersion": f"{major}.{minor}",
        "serialNumber": serial,
        "primarySite": bool(flags & PRIMARY_SITE),
        "multiPrimary": bool(flags & MULTI_PRIMARY),
    }
    if hash_option != HASH_BY_ALL:
        site["hashOption"] = hash_option
    if hash_filter:
        site["hashFilter"] = hash_filter
    site["attributes"] = [
        {"name": reader.text(), "value": reader.text()} for _ in range(reader.count())
    ]
    servers = []
    for _ in range(reader.count()):
        server_id = reader.int4()
        address = address_text(reader._take(16))
        key = reader.bytes()
        interfaces = []
        for _ in range(reader.count()):
            kind, protocol, port = reader.byte(), reader.byte(), reader.int4()
            interfaces.append(
                {
                    "query": bool(kind & ST_QUERY),
                    "admin": bool(kind & ST_ADMIN),
                    "protocol": PROTOCOL_NAMES.get(protocol, protocol),
                    "port": port,
                }
            )
        servers.append(
            {
                "serverId": server_id,
                "address": address,
                "publicKey": key_to_json(key),
                "interfaces": interfaces,
            }
        )
    site["servers"] = servers
    if reader.remaining:
        raise DecodeError("site information has trailing bytes")
    return site


# ---- values --------------------------------------------------------------------------------

_ADMIN_BITS = ADMIN_PERMISSION_BITS


def admin_to_bytes(admin: Mapping[str, Any]) -> bytes:
    # The JSON permission string is written most significant bit first (LIST_HDLS ... ADD_HANDLE).
    return (
        INT2.pack(int(admin["permissions"], 2))
        + pack_text(admin["handle"])
        + INT.pack(int(admin["index"]))
    )


def admin_from_bytes(data: bytes) -> dict[str, Any]:
    reader = Reader(data)
    bits = reader.int2()
    handle = reader.text()
    index = reader.int4()
    permissions = format(bits & (2**_ADMIN_BITS - 1), f"0{_ADMIN_BITS}b")
    return {"handle": handle, "index": index, "permissions": permissions}


def vlist_to_bytes(refs: list[Mapping[str, Any]]) -> bytes:
    return INT.pack(len(refs)) + b"".join(
        pack_text(r["handle"]) + INT.pack(int(r["index"])) for r in refs
    )


_DATA_BYTES: dict[DataFormat, Callable[[Any], bytes]] = {
    DataFormat.STRING: lambda v: str(v).encode("utf-8", "surrogatepass"),
    DataFormat.BASE64: base64.b64decode,
    DataFormat.HEX: bytes.fromhex,
    DataFormat.ADMIN: admin_to_bytes,
    DataFormat.VLIST: vlist_to_bytes,
    DataFormat.SITE: site_to_bytes,
}


def value_data_bytes(value: Value) -> bytes:
    """The bytes of a value's data, as the Handle protocol carries them."""
    convert = _DATA_BYTES.get(value.data.format)
    if convert is None:  # a public key
        return key_from_json(value.data.to_json(), f"value {value.index}")
    return bytes(convert(value.data.value))


def _permission_bits(p: Permissions) -> int:
    return (
        (0x8 if p.admin_read else 0)
        | (0x4 if p.admin_write else 0)
        | (0x2 if p.public_read else 0)
        | (0x1 if p.public_write else 0)
    )


def value_to_bytes(value: Value) -> bytes:
    """One handle value in the protocol's encoding (relative TTL, no references)."""
    stamp = value.timestamp or datetime.now(UTC)
    fixed = _VALUE_FIXED.pack(
        value.index, int(stamp.timestamp()), 0, value.ttl, _permission_bits(value.permissions)
    )
    return fixed + pack_text(value.type) + pack_bytes(value_data_bytes(value)) + INT.pack(0)


_SITE_TYPES = frozenset({"HS_SITE", "HS_SITE.6", "HS_SITE.PREFIX", "HS_NA_DELEGATE"})
TTL_ABSOLUTE = 1
MAX_REFERENCES = 1024


def _data_from_bytes(value_type: str, data: bytes) -> ValueData:
    """Value data in REST JSON form, as Handle.Net v9 writes it for each type."""
    try:
        if value_type in _SITE_TYPES:
            return ValueData(DataFormat.SITE, site_from_bytes(data))
        if value_type == "HS_ADMIN":
            return ValueData(DataFormat.ADMIN, admin_from_bytes(data))
        if value_type == "HS_VLIST":
            reader = Reader(data)
            refs = [
                {"handle": reader.text(), "index": reader.int4()} for _ in range(reader.count())
            ]
            return ValueData(DataFormat.VLIST, refs)
        if value_type == "HS_PUBKEY":
            key = key_to_json(data)
            return ValueData(DataFormat(key["format"]), key["value"])
    except DecodeError:
        pass  # not the structure its type names: kept as bytes
    try:
        return ValueData(DataFormat.STRING, data.decode("utf-8"))
    except UnicodeDecodeError:
        return ValueData(DataFormat.BASE64, base64.b64encode(data).decode("ascii"))


def value_from_reader(reader: Reader, now: int) -> Value:
    """One handle value as another server sent it (an absolute TTL becomes relative)."""
    index, stamp, ttl_type, ttl, bits = (
        reader.int4(),
        reader.int4(),
        reader.byte(),
        reader.int4(),
        reader.byte(),
    )
    value_type = reader.text()
    data = reader.bytes()
    references = reader.count()
    if references > MAX_REFERENCES:
        raise DecodeError(f"a value with {references} references")
    for _ in range(references):
        reader.bytes()
        reader.int4()
    if ttl_type == TTL_ABSOLUTE:
        ttl = max(0, ttl - now)
    permissions = Permissions(
        admin_read=bool(bits & 0x8),
        admin_write=bool(bits & 0x4),
        public_read=bool(bits & 0x2),
        public_write=bool(bits & 0x1),
    )
    return Value(
        index=index,
        type=value_type,
        data=_data_from_bytes(value_type, data),
        ttl=min(ttl, 2**31 - 1),
        timestamp=datetime.fromtimestamp(stamp, UTC),
        permissions=permissions,
    )


def values_from_body(body: bytes, now: int) -> tuple[str, tuple[Value, ...]]:
    """(handle, values) of a resolution or referral response body."""
    reader = Reader(body)
    handle = reader.text()
    if not reader.remaining:
        return handle, ()
    values = tuple(value_from_reader(reader, now) for _ in range(reader.count()))
    return handle, values
