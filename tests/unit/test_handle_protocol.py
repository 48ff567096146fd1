"""The Handle protocol (RFC 3652 as Handle.Net 9.2 speaks it): encodings checked against bytes
and JSON written by the real Handle.Net 9.2.0 server, request and response round trips, the
dispatcher's answers to malformed messages, signatures as Java's AbstractMessage verifies
them, UDP packets, and the node's own site information."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idnode.adapters.signing import RsaSigner, generate_pem
from idnode.api.handle_protocol import HandleProtocol
from idnode.domain.errors import HandleNotFoundError, InvalidValueError
from idnode.domain.protocol import wire
from idnode.domain.protocol.encoding import (
    admin_from_bytes,
    key_from_json,
    key_to_json,
    rsa_public_key_bytes,
    site_from_bytes,
    site_to_bytes,
    value_data_bytes,
    value_to_bytes,
)
from idnode.domain.protocol.site import UNSPECIFIED_ADDRESS, node_site
from idnode.domain.values import Value, parse_value
from idnode.node import Node
from idnode.services.sites import SiteService

GOLDEN = Path(__file__).parent / "golden" / "handle"
NOW = 1_800_000_000
NODE_PREFIX = "88.100"
SPEC = (
    "tcp://127.0.0.1:2641,udp://127.0.0.1:2641,http://127.0.0.1:8000/hdl,tcp://[2001:db8::10]:2641"
)
PACKET = 512
PIECE = PACKET - 20


# ---- helpers written from the Java source, independent of the product's decoders -----------


def take(data: bytes, offset: int) -> tuple[bytes, int]:
    """A length-prefixed byte string at `offset` (Encoder.readByteArray) and the next offset."""
    (size,) = struct.unpack_from(">I", data, offset)
    start = offset + 4
    assert start + size <= len(data), "length prefix runs past the data"
    return data[start : start + size], start + size


def raw_request(
    body: bytes,
    *,
    op_code: int = wire.OC_RESOLUTION,
    response_code: int = 0,
    flags: int = 0,
    body_length: int | None = None,
    envelope_length: int | None = None,
    request_id: int = 4711,
    version: tuple[int, int] = (2, 11),
    envelope_flags: int = 0,
    expiration: int = NOW + 600,
) -> bytes:
    """A request assembled field by field (envelope, header, body, empty signature)."""
    header = struct.pack(
        ">IIIHBBII",
        op_code,
        response_code,
        flags,
        0,
        0,
        0,
        expiration,
        len(body) if body_length is None else body_length,
    )
    message = header + body + bytes(4)
    major, minor = version
    envelope = struct.pack(
        ">BBBBIIII",
        major,
        minor,
        envelope_flags | major,
        minor,
        0,
        request_id,
        0,
        len(message) if envelope_length is None else envelope_length,
    )
    return envelope + message


def text(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack(">I", len(raw)) + raw


def header_fields(message: bytes) -> tuple[int, ...]:
    """opCode, responseCode, opFlags, serial, recursion, reserved, expiration, bodyLength."""
    return struct.unpack_from(">IIIHBBII", message, 20)


def java_signed_bytes(message: bytes, counter: int) -> bytes:
    """What AbstractMessage.verifyMessage(PublicKey) feeds the verifier for a received message:
    envelope fields by version, then the header and body as received."""
    major, minor, flag_byte, suggest_minor = message[0], message[1], message[2], message[3]
    suggest_major = flag_byte & 0x03
    if suggest_major == 0:  # Encoder.decodeEnvelope
        suggest_major, suggest_minor = major, minor
    body_length = header_fields(message)[7]
    header_and_body = message[20 : 44 + body_length]
    if (major, minor) < (2, 6):
        return header_and_body
    has_suggest = (major, minor) >= (2, 8)
    versions = 4 if has_suggest else 2
    signed = bytearray(versions + 12)
    signed[0], signed[1] = major, minor
    if has_suggest:
        signed[2], signed[3] = suggest_major, suggest_minor
    fields = (message[4:8], message[8:12], struct.pack(">I", counter))  # session, request
    if (major, minor) >= (2, 7):
        for n, field in enumerate(fields):
            signed[versions + 4 * n : versions + 4 * n + 4] = field
    else:  # 2.6: "painful bug", each writeInt's return value is taken as the next offset
        offset = versions
        for field in fields:
            signed[offset : offset + 4] = field
            offset = 4
    return bytes(signed) + header_and_body


def credential_fields(message: bytes) -> dict[str, Any]:
    """The signature section of a message, read as AbstractMessage.verifyMessage reads it."""
    body_length = header_fields(message)[7]
    signature, end = take(message, 44 + body_length)
    assert end == len(message), "bytes after the signature section"
    assert len(message) - 20 == struct.unpack_from(">I", message, 16)[0]
    if not signature:
        return {}
    version, reserved, flags = struct.unpack_from(">BBH", signature)
    disused, offset = take(signature, 4)
    (counter,) = struct.unpack_from(">I", signature, offset)
    sig_type, offset = take(signature, offset + 4)
    (section_length,) = struct.unpack_from(">I", signature, offset)
    hash_name, offset = take(signature, offset + 4)
    sig_bytes, offset = take(signature, offset)
    return {
        "version": version,
        "reserved": reserved,
        "flags": flags,
        "disused": disused,
        "counter": counter,
        "type": sig_type,
        "section_length": section_length,
        "section_ok": section_length == 8 + len(hash_name) + len(sig_bytes),
        "trailing": len(signature) - offset,
        "hash": hash_name,
        "signature": sig_bytes,
    }


def verifies(message: bytes, public_key: rsa.RSAPublicKey) -> bool:
    fields = credential_fields(message)
    assert fields["type"] == b"HS_SIGNED"
    assert fields["hash"] == b"SHA-256"  # SHA256withRSA, Util.getSigIdFromHashAlgId
    try:
        public_key.verify(
            fields["signature"],
            java_signed_bytes(message, fields["counter"]),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True


def jwk_public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    def number(b64url: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(b64url + "=" * (-len(b64url) % 4)))

    return rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()


def b64url(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem() -> bytes:
    return generate_pem()


@pytest.fixture(scope="module")
def signer(pem: bytes) -> RsaSigner:
    return RsaSigner.from_pem(pem)


@pytest.fixture(scope="module")
def public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


@pytest.fixture(scope="module")
def golden_rest() -> dict[str, Any]:
    rest: dict[str, Any] = json.loads((GOLDEN / "site-88.100.9999.json").read_text())
    return rest


def golden_value(rest: dict[str, Any], vtype: str) -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in rest["values"] if v["type"] == vtype)
    return found


class FakeRegistry:
    def resolve(self, handle: str, *_args: object, **_kwargs: object) -> Any:
        raise HandleNotFoundError(f"{handle} is not registered", handle=handle)


class FakeNode:
    """What the dispatcher uses of a node: its signer, its sites and its registry. Counts how
    often the dispatcher asks for it."""

    def __init__(self, signer: RsaSigner | None) -> None:
        self.signer = signer
        key = signer.public_key_bytes if signer else None
        self.sites = SiteService(NODE_PREFIX, SPEC, lambda: key, hosted=lambda _prefix: False)
        self.registry = FakeRegistry()
        self.asked = 0

    def __call__(self) -> Node:
        self.asked += 1
        return cast("Node", self)


def dispatcher(signer: RsaSigner | None = None) -> tuple[HandleProtocol, FakeNode]:
    node = FakeNode(signer)
    return HandleProtocol(node=node, clock=lambda: float(NOW)), node


# ---- 1. golden site information written by Handle.Net 9.2.0 ---------------------------------


def test_golden_site_bytes_read_as_the_json_handle_net_writes(
    golden_rest: dict[str, Any],
) -> None:
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    decoded = site_from_bytes((GOLDEN / "site-88.100.9999.bin").read_bytes())
    assert decoded == site
    assert json.dumps(decoded) == json.dumps(site)  # key order too


def test_golden_site_json_written_as_the_bytes_handle_net_sends(
    golden_rest: dict[str, Any],
) -> None:
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    assert site_to_bytes(site) == (GOLDEN / "site-88.100.9999.bin").read_bytes()


def test_golden_admin_value_bytes(golden_rest: dict[str, Any]) -> None:
    raw = golden_value(golden_rest, "HS_ADMIN")
    data = (GOLDEN / "admin-88.100.9999.bin").read_bytes()
    assert value_data_bytes(parse_value(raw)) == data
    assert admin_from_bytes(data) == raw["data"]["value"]


def test_golden_public_key_is_written_as_handle_net_writes_it(
    golden_rest: dict[str, Any],
) -> None:
    key_json = golden_value(golden_rest, "HS_SITE")["data"]["value"]["servers"][0]["publicKey"]
    key = key_from_json(key_json, "publicKey")
    assert text(key) in (GOLDEN / "site-88.100.9999.bin").read_bytes()
    assert key_to_json(key) == key_json


Change = tuple[list[str | int], object]
INTERFACES: list[str | int] = ["servers", 0, "interfaces"]


@pytest.mark.parametrize(
    "changes",
    [
        [(["primarySite"], False), (["multiPrimary"], True)],
        [(["serialNumber"], 65_535), (["version"], 2), (["protocolVersion"], "2.5")],
        [([*INTERFACES, 1, "query"], False)],  # out of service: interface type 0
        [([*INTERFACES, 0, "protocol"], "HTTPS"), ([*INTERFACES, 0, "port"], 443)],
        # v9 writes a protocol code it has no name for as a number (serializeProtocol) and
        # reads it back (getAsByte)
        [([*INTERFACES, 2, "protocol"], 7)],
    ],
    ids=["flags", "numbers", "out-of-service", "https", "protocol-code"],
)
def test_site_json_and_bytes_convert_without_loss(
    golden_rest: dict[str, Any], changes: list[Change]
) -> None:
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    for path, new in changes:
        site = replace_in(site, path, new)
    assert json.dumps(site_from_bytes(site_to_bytes(site))) == json.dumps(site)


def test_site_hash_option_and_filter_round_trip(golden_rest: dict[str, Any]) -> None:
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    hashed = {
        **{k: v for k, v in site.items() if k not in ("attributes", "servers")},
        "hashOption": 1,
        "hashFilter": "x",
        "attributes": site["attributes"],
        "servers": site["servers"],
    }
    assert json.dumps(site_from_bytes(site_to_bytes(hashed))) == json.dumps(hashed)


# Written by Handle.Net 9.2.0 (ServerInfo.getAddressString, Util.rfcIpRepr) for these 16
# address bytes: 12 leading zero bytes make an IPv4 address, and a run of zeros at the end is
# never shortened to "::".
V9_ADDRESSES = [
    ("127.0.0.1", "127.0.0.1"),
    ("2001:db8::1", "2001:db8::1"),
    ("2001:db8:0:1::1", "2001:db8:0:1::1"),
    ("2001:db8::1:0:0:1", "2001:db8::1:0:0:1"),
    ("2001:db8::ab:0", "2001:db8::ab:0"),
    ("::ffff:1.2.3.4", "::ffff:102:304"),
    ("fe80::", "fe80:0:0:0:0:0:0:0"),
    ("1:0:0:2::", "1::2:0:0:0:0"),
    ("2001:0:0:1::", "2001::1:0:0:0:0"),
]


@pytest.mark.parametrize(("address", "v9"), V9_ADDRESSES)
def test_server_addresses_are_written_as_handle_net_writes_them(
    golden_rest: dict[str, Any], address: str, v9: str
) -> None:
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    decoded = site_from_bytes(site_to_bytes(replace_in(site, ["servers", 0, "address"], address)))
    assert decoded["servers"][0]["address"] == v9
    assert ipaddress.ip_address(v9).packed.rjust(16, b"\0") == ipaddress.ip_address(
        address
    ).packed.rjust(16, b"\0")


@pytest.mark.parametrize("address", ["::1", "::", "::7f00:1"])
def test_ipv6_addresses_that_would_read_as_ipv4_are_refused(
    golden_rest: dict[str, Any], address: str
) -> None:
    """12 leading zero bytes mean IPv4 to every Handle.Net reader: ::1 would be 0.0.0.1."""
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    with pytest.raises(InvalidValueError, match="reads as IPv4"):
        site_to_bytes(replace_in(site, ["servers", 0, "address"], address))


# ---- 2. round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handle", "types", "indexes"),
    [
        ("88.100/x", (), ()),
        ("88.100/Ü-ä", ("URL", "HS_ADMIN", "EMAIL.work"), (1, 100, 2**31 - 1)),
        ("0.NA/88.100", ("HS_SITE",), ()),
        ("88.100/only-indexes", (), (7, 3)),
    ],
)
def test_resolution_request_round_trips(
    handle: str, types: tuple[str, ...], indexes: tuple[int, ...]
) -> None:
    flags = wire.FLAG_CERT | wire.FLAG_AUTH
    data = wire.encode_request(
        handle, request_id=99, flags=flags, types=types, indexes=indexes, now=NOW
    )
    request = wire.decode_request(data)
    assert (request.handle, request.types, request.indexes) == (handle, types, indexes)
    assert (request.op_code, request.flags, request.envelope.request_id) == (1, flags, 99)
    assert (request.envelope.major, request.envelope.minor) == (2, 11)
    assert (request.envelope.suggest_major, request.envelope.suggest_minor) == (2, 11)
    assert request.certify and request.authoritative and not request.public_only
    assert request.raw == data[20:-4]  # header + body, without the empty signature
    assert header_fields(data)[6] == NOW + wire.RESPONSE_LIFETIME
    body = (
        text(handle)
        + struct.pack(">I", len(indexes))
        + b"".join(struct.pack(">I", i) for i in indexes)
        + struct.pack(">I", len(types))
        + b"".join(text(t) for t in types)
    )
    expiration = NOW + wire.RESPONSE_LIFETIME
    assert data == raw_request(body, flags=flags, request_id=99, expiration=expiration)


def test_site_info_request_round_trips() -> None:
    data = wire.encode_request("", wire.OC_GET_SITE_INFO, request_id=5)
    request = wire.decode_request(data)
    assert (request.op_code, request.handle, request.types, request.indexes) == (2, "", (), ())


def parsed_value(data: bytes) -> dict[str, Any]:
    """The value layout: index, timestamp, ttlType, ttl, permissions, type, data, refs."""
    index, stamp, ttl_type, ttl, perms = struct.unpack_from(">IIBIB", data)
    vtype, offset = take(data, 14)
    vdata, offset = take(data, offset)
    (refs,) = struct.unpack_from(">I", data, offset)
    assert offset + 4 == len(data)
    return {
        "index": index,
        "timestamp": stamp,
        "ttl_type": ttl_type,
        "ttl": ttl,
        "perms": perms,
        "type": vtype.decode(),
        "data": vdata,
        "refs": refs,
    }


STAMP = datetime(2026, 12, 7, 23, 23, 31, tzinfo=UTC)


def stamped(raw: dict[str, Any]) -> Value:
    return parse_value(raw).stamped(STAMP)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"format": "string", "value": "https://example.org/ü"}, "https://example.org/ü".encode()),
        ("bare string", b"bare string"),
        ({"format": "base64", "value": "AAEC/w=="}, b"\x00\x01\x02\xff"),
        ({"format": "hex", "value": "00ff10Ab"}, b"\x00\xff\x10\xab"),
        ({"format": "string", "value": ""}, b""),
    ],
)
def test_value_bytes_for_plain_data(data: object, expected: bytes) -> None:
    value = stamped({"index": 3, "type": "URL", "data": data, "ttl": 3600})
    assert parsed_value(value_to_bytes(value)) == {
        "index": 3,
        "timestamp": int(STAMP.timestamp()),
        "ttl_type": 0,
        "ttl": 3600,
        "perms": 0x0E,  # admin read, admin write, public read (Java PERM_* 0x8 0x4 0x2)
        "type": "URL",
        "data": expected,
        "refs": 0,
    }


@pytest.mark.parametrize(
    ("permissions", "bits"),
    [("1110", 0x0E), ("0101", 0x05), ("1000", 0x08), ("0011", 0x03), ("0000", 0x00)],
)
def test_value_permission_bits(permissions: str, bits: int) -> None:
    value = stamped({"index": 1, "type": "X", "data": "x", "permissions": permissions})
    assert parsed_value(value_to_bytes(value))["perms"] == bits


# Admin and vlist data as Handle.Net 9.2.0 encodes it (GsonUtility, Encoder.encodeAdminRecord):
# the JSON permission string's last character is perms[0] = ADD_HANDLE = 0x0001, its first
# LIST_HDLS = 0x0800.
@pytest.mark.parametrize(
    ("permissions", "java_hex"),
    [
        ("000000000001", "000100000009302e4e412f38382e31000000c8"),
        ("100000000000", "080000000009302e4e412f38382e31000000c8"),
        ("010000110010", "043200000009302e4e412f38382e31000000c8"),
        ("111111111111", "0fff00000009302e4e412f38382e31000000c8"),
    ],
)
def test_admin_value_bytes_match_java(permissions: str, java_hex: str) -> None:
    admin = {"handle": "0.NA/88.1", "index": 200, "permissions": permissions}
    value = stamped({"index": 100, "type": "HS_ADMIN", "data": {"format": "admin", "value": admin}})
    fields = parsed_value(value_to_bytes(value))
    assert fields["data"] == bytes.fromhex(java_hex)
    assert fields["type"] == "HS_ADMIN"
    assert admin_from_bytes(bytes.fromhex(java_hex)) == admin


def test_vlist_value_bytes_match_java() -> None:
    refs = [{"handle": "88.1/a", "index": 300}, {"handle": "88.1/b", "index": 1}]
    value = stamped({"index": 3, "type": "HS_VLIST", "data": {"format": "vlist", "value": refs}})
    assert parsed_value(value_to_bytes(value))["data"] == bytes.fromhex(
        "000000020000000638382e312f610000012c0000000638382e312f6200000001"
    )


def test_rsa_key_json_round_trip(signer: RsaSigner, public_key: rsa.RSAPublicKey) -> None:
    numbers = public_key.public_numbers()
    data = rsa_public_key_bytes(numbers.n, numbers.e)
    assert signer.public_key_bytes == data
    # Java's BigInteger.toByteArray: a 2048-bit modulus gets a leading zero byte
    modulus = b"\0" + numbers.n.to_bytes(256, "big")
    assert data == (
        text(b"RSA_PUB_KEY") + bytes(2) + text(b"\x01\x00\x01") + text(modulus) + bytes(4)
    )
    jwk = key_to_json(data)
    assert jwk == {"format": "key", "value": {"kty": "RSA", "n": b64url(numbers.n), "e": "AQAB"}}
    assert len(base64.urlsafe_b64decode(jwk["value"]["n"] + "==")) == 256  # unsigned
    assert key_from_json(jwk, "k") == data
    assert key_from_json(json.loads(json.dumps(jwk)), "k") == data


def test_other_key_data_round_trips_as_base64() -> None:
    data = text(b"DSA_PUB_KEY") + b"\x00\x01\x02"
    jwk = key_to_json(data)
    assert jwk == {"format": "base64", "value": base64.b64encode(data).decode()}
    assert key_from_json(jwk, "k") == data
    assert key_from_json({"format": "hex", "value": data.hex()}, "k") == data


def test_key_from_json_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(InvalidValueError, match="publicKey"):
        key_from_json({"format": "key", "value": {"kty": "EC", "x": "AA"}}, "publicKey")
    with pytest.raises(InvalidValueError, match="publicKey"):
        key_from_json({"format": "key", "value": {"kty": "RSA", "n": "AQAB"}}, "publicKey")


# ---- 3. malformed messages -----------------------------------------------------------------


def check_answer(data: bytes, code: int, request_id: int = 4711) -> wire.Response:
    protocol, node = dispatcher()
    answer = protocol.answer(data)
    assert answer is not None
    response = wire.decode_response(answer.message)
    assert (response.response_code, answer.response_code) == (code, code)
    assert response.envelope.request_id == request_id
    assert response.envelope.length == len(answer.message) - 20
    assert header_fields(answer.message)[6] > NOW  # expiration
    assert response.signature == b""
    if code == wire.RC_PROTOCOL_ERROR:
        assert node.asked == 0
    return response


@pytest.mark.parametrize("size", [0, 1, 19])
def test_fewer_bytes_than_an_envelope_are_dropped(size: int) -> None:
    protocol, node = dispatcher()
    data = wire.encode_request("88.100/x")[:size]
    assert protocol.answer(data) is None
    assert node.asked == 0


def test_envelope_alone_is_a_protocol_error() -> None:
    check_answer(raw_request(b"", envelope_length=0)[:20], 4)  # no header


def test_truncated_request_is_a_protocol_error() -> None:
    check_answer(wire.encode_request("88.100/x", request_id=4711)[:-5], 4)


@pytest.mark.parametrize("delta", [-1, 1, 1000, 2**31])
def test_envelope_length_disagreeing_with_the_data(delta: int) -> None:
    good = raw_request(text("88.100/x") + bytes(8))
    length = len(good) - 20 + delta
    check_answer(raw_request(text("88.100/x") + bytes(8), envelope_length=length), 4)


def test_envelope_length_beyond_the_maximum() -> None:
    body = text("88.100/x") + bytes(8) + bytes(wire.MAX_MESSAGE)
    check_answer(raw_request(body), 4)


@pytest.mark.parametrize("body_length", [25, 1000, 2**31, 2**32 - 1])
def test_body_length_larger_than_the_message(body_length: int) -> None:
    # 20 bytes of body and 4 of signature length: 25 is one more than the message holds
    check_answer(raw_request(text("88.100/x") + bytes(8), body_length=body_length), 4)


def test_body_length_cutting_the_body_short() -> None:
    check_answer(raw_request(text("88.100/x") + bytes(8), body_length=10), 4)


@pytest.mark.parametrize(
    "body",
    [
        text("88.100/x") + struct.pack(">I", 2**31),
        text("88.100/x") + struct.pack(">I", 2**32 - 1),
        text("88.100/x") + bytes(4) + struct.pack(">I", 2**31),
        text("88.100/x") + struct.pack(">I", 1) + bytes(4) + struct.pack(">I", 2**31 + 5),
        struct.pack(">I", 2**31) + b"88.100/x" + bytes(8),
        text("88.100/x") + struct.pack(">I", 65_536),
        text("88.100/x") + bytes(4) + struct.pack(">I", 1) + struct.pack(">I", 2**31),
        b"",
        bytes(3),
    ],
)
def test_bad_counts_and_lengths_are_protocol_errors(body: bytes) -> None:
    check_answer(raw_request(body), 4)


@pytest.mark.parametrize(
    "body",
    [
        text(b"88.100/\xff\xfe") + bytes(8),
        text(b"88.100/\xc3") + bytes(8),
        text(b"\xed\xa0\x80") + bytes(8),  # an encoded surrogate
        text("88.100/x") + bytes(4) + struct.pack(">I", 1) + text(b"URL\x80"),
    ],
)
def test_strings_that_are_not_utf8_are_protocol_errors(body: bytes) -> None:
    check_answer(raw_request(body), 4)


@pytest.mark.parametrize("op_code", [999, 0, 3, 100, 2**32 - 1])
def test_unknown_operations_are_not_supported(op_code: int) -> None:
    response = check_answer(raw_request(text("88.100/x") + bytes(8), op_code=op_code), 5)
    assert response.op_code == op_code


@pytest.mark.parametrize("response_code", [1, 4, 100, 2**32 - 1])
def test_a_response_code_in_a_request_is_a_protocol_error(response_code: int) -> None:
    check_answer(raw_request(text("88.100/x") + bytes(8), response_code=response_code), 4)


@pytest.mark.parametrize("flag", [wire.ENCRYPTED, wire.COMPRESSED])
def test_encrypted_or_compressed_without_a_session_is_a_protocol_error(flag: int) -> None:
    check_answer(raw_request(text("88.100/x") + bytes(8), envelope_flags=flag), 4)


def test_protocol_error_is_answered_in_the_requests_version() -> None:
    response = check_answer(
        raw_request(text("88.100/x") + bytes(8), body_length=9999, version=(2, 10)), 4
    )
    assert (response.envelope.major, response.envelope.minor) == (2, 10)


VALID = wire.encode_request("88.100/x", request_id=4711, types=("URL",), indexes=(1,))


def mutated(edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(VALID)
    for offset, byte in edits:
        data[offset] = byte
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=120),
        st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6).map(
            mutated
        ),
        st.integers(0, len(VALID)).map(lambda n: VALID[:n]),
    )
)
def test_any_bytes_get_a_decodable_answer_or_none(data: bytes) -> None:
    protocol, _ = dispatcher()
    answer = protocol.answer(data)
    if len(data) < 20:
        assert answer is None
        return
    assert answer is not None
    response = wire.decode_response(answer.message)
    assert response.response_code == answer.response_code != 0
    assert response.envelope.request_id == struct.unpack_from(">I", data, 8)[0]
    assert header_fields(answer.message)[6] > NOW


class BrokenNode:
    def __init__(self) -> None:
        self.asked = 0

    def __call__(self) -> Node:
        self.asked += 1
        raise RuntimeError("the node cannot be built")


class FailingSigner:
    def __call__(self, data: bytes) -> tuple[bytes, bytes]:
        raise RuntimeError("the signing key is unavailable")


@pytest.mark.parametrize("op_code", [wire.OC_RESOLUTION, wire.OC_GET_SITE_INFO, 999])
def test_a_node_that_cannot_be_built_still_gets_an_error_answer(op_code: int) -> None:
    protocol = HandleProtocol(node=BrokenNode(), clock=lambda: float(NOW))
    answer = protocol.answer(wire.encode_request("88.100/x", op_code, request_id=61))
    assert answer is not None
    response = wire.decode_response(answer.message)
    assert response.response_code in (wire.RC_ERROR, wire.RC_OPERATION_NOT_SUPPORTED)
    assert response.envelope.request_id == 61
    assert header_fields(answer.message)[6] > NOW


def test_a_failing_signer_still_gets_an_error_answer() -> None:
    node = FakeNode(None)
    node.signer = cast("RsaSigner", FailingSigner())
    protocol = HandleProtocol(node=node, clock=lambda: float(NOW))
    answer = protocol.answer(wire.encode_request("0.NA/88.100", flags=wire.FLAG_CERT))
    assert answer is not None
    response = wire.decode_response(answer.message)
    assert response.response_code == wire.RC_ERROR
    assert response.signature == b""


# ---- 4. signatures and request digests -----------------------------------------------------


def test_java_signed_bytes_verify_a_response_signed_by_handle_net(
    golden_rest: dict[str, Any],
) -> None:
    """The helper above is right: it verifies a response Handle.Net 9.2.0 signed."""
    site = golden_value(golden_rest, "HS_SITE")["data"]["value"]
    key = jwk_public_key(site["servers"][0]["publicKey"]["value"])
    message = (GOLDEN / "response-cert-rrdg.bin").read_bytes()
    assert verifies(message, key)
    tampered = bytearray(message)
    tampered[60] ^= 1
    assert not verifies(bytes(tampered), key)


def test_handle_net_request_digest_is_sha256_of_header_and_body() -> None:
    request = (GOLDEN / "request-cert-rrdg.bin").read_bytes()
    response = wire.decode_response((GOLDEN / "response-cert-rrdg.bin").read_bytes())
    assert response.body[:33] == b"\x03" + hashlib.sha256(request[20:-4]).digest()
    assert wire.decode_request(request).raw == request[20:-4]


@pytest.mark.parametrize("version", [(2, 11), (2, 10), (2, 8), (2, 7), (2, 6)])
def test_certified_response_verifies_as_java_checks_it(
    signer: RsaSigner, version: tuple[int, int], public_key: rsa.RSAPublicKey
) -> None:
    request = wire.decode_request(
        raw_request(
            text("88.100/x") + bytes(8),
            flags=wire.FLAG_CERT,
            request_id=0x01020304,
            version=version,
        )
    )
    message = wire.encode_response(request, wire.RC_SUCCESS, b"body", now=NOW, signer=signer)
    assert (message[0], message[1]) == version
    assert struct.unpack_from(">I", message, 8)[0] == 0x01020304
    fields = credential_fields(message)
    assert fields["type"] == b"HS_SIGNED"
    assert fields["section_ok"] and fields["trailing"] == 0
    assert (fields["version"], fields["reserved"], fields["flags"]) == (0, 0, 0)
    assert header_fields(message)[2] & wire.FLAG_CERT
    assert verifies(message, public_key)
    tampered = message[:44] + b"Body" + message[48:]
    assert not verifies(tampered, public_key)


def test_credential_layout_matches_handle_net(signer: RsaSigner) -> None:
    ours = wire.encode_response(
        wire.decode_request((GOLDEN / "request-cert-rrdg.bin").read_bytes()),
        wire.RC_SUCCESS,
        b"",
        now=NOW,
        signer=signer,
    )
    theirs = credential_fields((GOLDEN / "response-cert-rrdg.bin").read_bytes())
    mine = credential_fields(ours)
    for field in ("version", "reserved", "flags", "disused", "counter", "type", "hash"):
        assert mine[field] == theirs[field], field
    assert mine["section_ok"] and theirs["section_ok"]


def test_no_signature_without_cert(signer: RsaSigner) -> None:
    request = wire.decode_request(wire.encode_request("88.100/x", flags=wire.FLAG_AUTH))
    message = wire.encode_response(request, wire.RC_SUCCESS, b"body", now=NOW, signer=signer)
    assert credential_fields(message) == {}
    assert message.endswith(b"body" + bytes(4))
    assert not header_fields(message)[2] & wire.FLAG_CERT


def test_no_signature_without_a_signer() -> None:
    request = wire.decode_request(wire.encode_request("88.100/x", flags=wire.FLAG_CERT))
    message = wire.encode_response(request, wire.RC_SUCCESS, b"body", now=NOW)
    assert credential_fields(message) == {}


@pytest.mark.parametrize("flags", [wire.FLAG_RRDG, wire.FLAG_RRDG | wire.FLAG_CERT])
def test_request_digest(signer: RsaSigner, flags: int, public_key: rsa.RSAPublicKey) -> None:
    data = wire.encode_request("88.100/x", flags=flags, types=("URL",), request_id=8)
    message = wire.encode_response(
        wire.decode_request(data), wire.RC_SUCCESS, b"body", now=NOW, signer=signer
    )
    response = wire.decode_response(message)
    assert response.body == b"\x03" + hashlib.sha256(data[20:-4]).digest() + b"body"
    assert response.flags & wire.FLAG_RRDG
    assert header_fields(message)[7] == len(response.body)
    if flags & wire.FLAG_CERT:
        assert verifies(message, public_key)


def test_no_request_digest_unless_asked() -> None:
    request = wire.decode_request(wire.encode_request("88.100/x"))
    message = wire.encode_response(request, wire.RC_SUCCESS, b"body", now=NOW)
    assert wire.decode_response(message).body == b"body"


def test_dispatcher_signs_certified_site_resolution(
    signer: RsaSigner, public_key: rsa.RSAPublicKey
) -> None:
    protocol, _ = dispatcher(signer)
    data = wire.encode_request("0.NA/88.100", flags=wire.FLAG_CERT, request_id=31)
    answer = protocol.answer(data)
    assert answer is not None
    assert answer.response_code == wire.RC_SUCCESS
    assert verifies(answer.message, public_key)
    body = wire.decode_response(answer.message).body
    handle, offset = take(body, 0)
    (count,) = struct.unpack_from(">I", body, offset)
    assert (handle, count) == (b"0.NA/88.100", 1)
    value = parsed_value(body[offset + 4 :])
    site = node_site(SPEC, signer.public_key_bytes)
    assert (value["type"], value["data"]) == ("HS_SITE", site_to_bytes(site))


def test_dispatcher_answers_site_information(signer: RsaSigner) -> None:
    protocol, _ = dispatcher(signer)
    answer = protocol.answer(wire.encode_request("", wire.OC_GET_SITE_INFO, request_id=12))
    assert answer is not None and answer.response_code == wire.RC_SUCCESS
    response = wire.decode_response(answer.message)
    assert response.body == site_to_bytes(node_site(SPEC, signer.public_key_bytes))
    assert (response.op_code, response.envelope.request_id) == (wire.OC_GET_SITE_INFO, 12)
    assert response.signature == b""


def test_dispatcher_signs_an_operation_not_supported(
    signer: RsaSigner, public_key: rsa.RSAPublicKey
) -> None:
    protocol, _ = dispatcher(signer)
    answer = protocol.answer(
        raw_request(text("88.100/x") + bytes(8), op_code=999, flags=wire.FLAG_CERT)
    )
    assert answer is not None and answer.response_code == wire.RC_OPERATION_NOT_SUPPORTED
    assert verifies(answer.message, public_key)


# ---- 5. UDP packets ------------------------------------------------------------------------


def reassemble_as_java(packets: list[bytes]) -> bytes:
    """HandleResolver's UDP receive loop: each piece goes at messageId * 492."""
    total = struct.unpack_from(">I", packets[0], 16)[0]
    message = bytearray(total)
    seen = set()
    for packet in packets:
        number = struct.unpack_from(">I", packet, 12)[0]
        seen.add(number)
        piece = packet[20:]
        message[number * PIECE : number * PIECE + len(piece)] = piece
    assert seen == set(range(-(-total // PIECE)))
    return bytes(message)


@pytest.mark.parametrize("body_size", [2000, 465, 492 * 3 - 28, 492 * 3])
def test_large_response_is_split_into_udp_packets(body_size: int) -> None:
    request = wire.decode_request(wire.encode_request("88.100/x", request_id=0xABCDEF))
    response = wire.encode_response(
        request, wire.RC_SUCCESS, (bytes(range(256)) * 20)[:body_size], now=NOW
    )
    assert len(response) - 20 > PIECE
    packets = wire.udp_packets(response)
    assert len(packets) == -(-(len(response) - 20) // PIECE)
    assert all(len(p) <= PACKET for p in packets)
    assert all(len(p) == PACKET for p in packets[:-1])
    assert [struct.unpack_from(">I", p, 12)[0] for p in packets] == list(range(len(packets)))
    assert {struct.unpack_from(">I", p, 8)[0] for p in packets} == {0xABCDEF}
    assert {struct.unpack_from(">I", p, 16)[0] for p in packets} == {len(response) - 20}
    assert all(p[2] & wire.TRUNCATED for p in packets)
    assert {p[:2] + p[3:12] for p in packets} == {response[:2] + response[3:12]}
    assert b"".join(p[20:] for p in packets) == response[20:]
    assert reassemble_as_java(packets) == response[20:]


@pytest.mark.parametrize("body_size", [0, 100, 464])
def test_small_response_is_one_packet(body_size: int) -> None:
    request = wire.decode_request(wire.encode_request("88.100/x", request_id=3))
    response = wire.encode_response(request, wire.RC_SUCCESS, bytes(body_size), now=NOW)
    assert len(response) - 20 <= PIECE
    assert wire.udp_packets(response) == [response]


def test_signed_response_still_verifies_after_reassembly(
    signer: RsaSigner, public_key: rsa.RSAPublicKey
) -> None:
    request = wire.decode_request(wire.encode_request("88.100/x", flags=wire.FLAG_CERT))
    response = wire.encode_response(request, wire.RC_SUCCESS, bytes(1500), now=NOW, signer=signer)
    packets = wire.udp_packets(response)
    assert len(packets) > 1
    received = packets[-1][:20] + reassemble_as_java(packets)
    assert verifies(received, public_key)


# ---- 6. the node's site information --------------------------------------------------------


def test_node_site_groups_interfaces_by_address(signer: RsaSigner) -> None:
    site = node_site(SPEC, signer.public_key_bytes)
    assert site is not None
    assert [s["serverId"] for s in site["servers"]] == [1, 2]
    first, second = site["servers"]
    assert first["address"] == "127.0.0.1"
    assert [(i["protocol"], i["port"]) for i in first["interfaces"]] == [
        ("TCP", 2641),
        ("UDP", 2641),
        ("HTTP", 8000),
    ]
    assert [(i["protocol"], i["port"]) for i in second["interfaces"]] == [("TCP", 2641)]
    assert all(i["query"] and not i["admin"] for s in site["servers"] for i in s["interfaces"])
    assert {"name": "path", "value": "/hdl"} in site["attributes"]
    assert first["publicKey"] == second["publicKey"] == key_to_json(signer.public_key_bytes)
    assert site["primarySite"] is True and site["multiPrimary"] is False


@pytest.mark.parametrize(
    "spec",
    [
        SPEC,
        "tcp://127.0.0.1:2641,udp://[2001:db8::1]:2641,http://127.0.0.1:8000/hdl/",
        "tcp://[2001:db8:0:1::]:2641",
        "https://hdl.example.org:443/hdl,tcp://hdl.example.org:2641",
    ],
)
def test_node_site_round_trips_through_site_bytes(signer: RsaSigner, spec: str) -> None:
    for key in (signer.public_key_bytes, None):
        site = node_site(spec, key)
        assert site is not None
        back = site_from_bytes(site_to_bytes(site))
        assert json.dumps(back) == json.dumps(site)
        assert site_to_bytes(back) == site_to_bytes(site)


def test_node_site_names_a_host_as_the_domain() -> None:
    site = node_site("https://hdl.example.org:443/hdl,tcp://hdl.example.org:2641", None)
    assert site is not None
    assert {"name": "domain", "value": "hdl.example.org"} in site["attributes"]
    assert [s["address"] for s in site["servers"]] == [UNSPECIFIED_ADDRESS]


@pytest.mark.parametrize(
    "entry",
    [
        "ftp://x:1",
        "tcp://127.0.0.1",
        "udp://:2641",
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:2641/hdl",
        "127.0.0.1:2641",
        "tcp://[::1:2641",
        "tcp://[::1]:2641",
    ],
)
def test_node_site_refuses_a_bad_entry_by_naming_it(entry: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        node_site(f"tcp://127.0.0.1:2641, {entry}", None)
    assert entry in raised.value.message


def test_node_site_without_interfaces_is_none() -> None:
    assert node_site("", None) is None
    assert node_site(" , ", None) is None


def test_site_to_bytes_names_the_wrong_field() -> None:
    site = node_site(SPEC, None)
    assert site is not None
    broken = replace_in(site, ["servers", 1, "interfaces", 0, "protocol"], "FTP")
    with pytest.raises(InvalidValueError, match=r"servers\[1\]\.interfaces\[0\]\.protocol"):
        site_to_bytes(broken)
    broken = replace_in(site, ["servers", 0, "address"], "localhost")
    with pytest.raises(InvalidValueError, match=r"servers\[0\]\.address"):
        site_to_bytes(broken)


def replace_in(document: dict[str, Any], path: list[str | int], new: object) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    target: Any = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy
