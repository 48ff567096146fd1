"""Handle protocol messages (RFC 3652, as Handle.Net 9.2 speaks it): envelope, header, body,
credential.

A message on the wire is a 20-byte envelope followed by the message proper: a 24-byte header,
the body, and a signature section (its length, then the credential). This module decodes the
requests a resolution server answers (resolution, site information) and encodes responses,
signed when the request asks for certification. Pure: the signature itself is made by the
caller's `Signer`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from idnode.domain.protocol.encoding import (
    INT,
    DecodeError,
    Reader,
    pack_bytes,
    pack_text,
)

ENVELOPE = struct.Struct(">BBBBIIII")
HEADER = struct.Struct(">IIIHBBII")
ENVELOPE_SIZE = ENVELOPE.size  # 20
HEADER_SIZE = HEADER.size  # 24
MAX_MESSAGE = 262_144
MAX_UDP_DATA = 512 - ENVELOPE_SIZE
MAJOR, MINOR = 2, 11
RESPONSE_LIFETIME = 43_200  # seconds a response is valid for, as Handle.Net sets it

# envelope flags
COMPRESSED, ENCRYPTED, TRUNCATED = 0x80, 0x40, 0x20

# operation codes
OC_RESOLUTION, OC_GET_SITE_INFO = 1, 2

# response codes
RC_SUCCESS = 1
RC_ERROR = 2
RC_PROTOCOL_ERROR = 4
RC_OPERATION_NOT_SUPPORTED = 5
RC_RECURSION_COUNT_TOO_HIGH = 6
RC_HANDLE_NOT_FOUND = 100
RC_INVALID_HANDLE = 102
RC_VALUES_NOT_FOUND = 200
RC_SERVER_NOT_RESPONSIBLE = 301
RC_PREFIX_REFERRAL = 303

# header flags
FLAG_AUTH = 0x80000000
FLAG_CERT = 0x40000000
FLAG_ENCR = 0x20000000
FLAG_RECU = 0x10000000
FLAG_CACR = 0x08000000
FLAG_CONT = 0x04000000
FLAG_KPAL = 0x02000000
FLAG_PUBL = 0x01000000
FLAG_RRDG = 0x00800000
FLAG_DNRF = 0x00100000
# what a response repeats of its request's flags
_ECHOED = FLAG_AUTH | FLAG_CERT | FLAG_RECU | FLAG_CACR | FLAG_PUBL | FLAG_RRDG | FLAG_DNRF

HASH_SHA256 = 3
SIGNED = b"HS_SIGNED"

Signer = Callable[[bytes], tuple[bytes, bytes]]
"""Signs bytes; returns (hash algorithm name as Handle writes it, e.g. b"SHA-256", signature)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    major: int
    minor: int
    suggest_major: int
    suggest_minor: int
    flags: int
    session_id: int
    request_id: int
    message_id: int
    length: int

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        if len(data) < ENVELOPE_SIZE:
            raise DecodeError("shorter than a message envelope")
        major, minor, flags, suggest_minor, session, request, message, length = (
            ENVELOPE.unpack_from(data)
        )
        return cls(
            major,
            minor,
            flags & 0x03,
            suggest_minor,
            flags & 0xFC,
            session,
            request,
            message,
            length,
        )

    def encode(self) -> bytes:
        return ENVELOPE.pack(
            self.major,
            self.minor,
            (self.flags & 0xFC) | (self.suggest_major & 0x03),
            self.suggest_minor,
            self.session_id,
            self.request_id,
            self.message_id,
            self.length,
        )

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request: what a resolution server needs of it."""

    envelope: Envelope
    op_code: int
    flags: int
    site_serial: int
    recursion_count: int
    handle: str
    indexes: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    raw: bytes = field(default=b"", repr=False)  # header + body, for the request digest

    @property
    def certify(self) -> bool:
        return bool(self.flags & FLAG_CERT)

    @property
    def public_only(self) -> bool:
        return bool(self.flags & FLAG_PUBL)

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & FLAG_AUTH)

    @property
    def recursive(self) -> bool:
        return bool(self.flags & FLAG_RECU)


class ProtocolError(DecodeError):
    """A request that cannot be answered as asked; `envelope` is known if it was readable."""

    def __init__(self, message: str, envelope: Envelope | None = None, op_code: int = 0) -> None:
        super().__init__(message)
        self.envelope = envelope
        self.op_code = op_code


def decode_request(data: bytes) -> Request:
    """Decode a whole request (envelope + message); ProtocolError names what is wrong."""
    try:
        envelope = Envelope.decode(data)
    except DecodeError as exc:
        raise ProtocolError(str(exc)) from None
    if envelope.flags & (ENCRYPTED | COMPRESSED):
        raise ProtocolError("encrypted or compressed messages need a session", envelope)
    if envelope.length > MAX_MESSAGE or envelope.length != len(data) - ENVELOPE_SIZE:
        raise ProtocolError(
            f"the envelope says {envelope.length} bytes, the message has "
            f"{len(data) - ENVELOPE_SIZE}",
            envelope,
        )
    if envelope.length < HEADER_SIZE:
        raise ProtocolError("the message is shorter than its header", envelope)
    op_code, response_code, flags, serial, recursion, _, _, body_length = HEADER.unpack_from(
        data, ENVELOPE_SIZE
    )
    body_start = ENVELOPE_SIZE + HEADER_SIZE
    if body_length > len(data) - body_start:
        raise ProtocolError("the body is longer than the message", envelope, op_code)
    if response_code != 0:
        raise ProtocolError("a response was sent where a request was expected", envelope, op_code)
    reader = Reader(data, body_start, body_start + body_length)
    try:
        handle = reader.text()
        indexes: tuple[int, ...] = ()
        types: tuple[str, ...] = ()
        if op_code == OC_RESOLUTION:
            indexes = tuple(reader.int4() for _ in range(reader.count()))
            types = tuple(reader.text() for _ in range(reader.count()))
    except DecodeError as exc:
        raise ProtocolError(str(exc), envelope, op_code) from None
    return Request(
        envelope=envelope,
        op_code=op_code,
        flags=flags,
        site_serial=serial,
        recursion_count=recursion,
        handle=handle,
        indexes=indexes,
        types=types,
        raw=data[ENVELOPE_SIZE : body_start + body_length],
    )


def encode_request(
    handle: str,
    op_code: int = OC_RESOLUTION,
    *,
    request_id: int = 1,
    flags: int = 0,
    types: Sequence[str] = (),
    indexes: Sequence[int] = (),
    now: int = 0,
) -> bytes:
    """A request as a client sends it (for tests, probes and the relay)."""
    body = pack_text(handle)
    if op_code == OC_RESOLUTION:
        body += INT.pack(len(indexes)) + b"".join(INT.pack(i) for i in indexes)
        body += INT.pack(len(types)) + b"".join(pack_text(t) for t in types)
    header = HEADER.pack(op_code, 0, flags, 0, 0, 0, now + RESPONSE_LIFETIME, len(body))
    message = header + body + INT.pack(0)
    envelope = Envelope(MAJOR, MINOR, MAJOR, MINOR, 0, 0, request_id, 0, len(message))
    return envelope.encode() + message


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded response (for clients and tests)."""

    envelope: Envelope
    op_code: int
    response_code: int
    flags: int
    body: bytes
    signature: bytes
    signed_part: bytes  # header + body, what the signature covers after the envelope fields


def decode_response(data: bytes) -> Response:
    envelope = Envelope.decode(data)
    op_code, code, flags, _, _, _, _, body_length = HEADER.unpack_from(data, ENVELOPE_SIZE)
    start = ENVELOPE_SIZE + HEADER_SIZE
    reader = Reader(data, start + body_length)
    signature = reader.bytes() if reader.remaining >= INT.size else b""
    return Response(
        envelope,
        op_code,
        code,
        flags,
        data[start : start + body_length],
        signature,
        data[ENVELOPE_SIZE : start + body_length],
    )


def _signed_prefix(envelope: Envelope, counter: int) -> bytes:
    """What a signature covers before the message (protocol 2.6 and later)."""
    if not envelope.at_least(2, 6):
        return b""
    versions = bytes((envelope.major, envelope.minor))
    if envelope.at_least(2, 8):
        versions += bytes((envelope.suggest_major, envelope.suggest_minor))
    if envelope.at_least(2, 7):
        return versions + struct.pack(">III", envelope.session_id, envelope.request_id, counter)
    # Protocol 2.6 wrote each field over the one before; these are the bytes it signed.
    signed = bytearray(len(versions) + 12)
    signed[: len(versions)] = versions
    signed[2:6] = INT.pack(envelope.session_id)
    signed[4:8] = INT.pack(envelope.request_id)
    signed[4:8] = INT.pack(counter)
    return bytes(signed)


def credential(envelope: Envelope, signed_part: bytes, signer: Signer) -> bytes:
    """The signature section (HS_SIGNED) of a response."""
    hash_name, signature = signer(_signed_prefix(envelope, 0) + signed_part)
    section = pack_bytes(hash_name) + pack_bytes(signature)
    return (
        bytes((0, 0))
        + struct.pack(">H", 0)
        + pack_bytes(b"")
        + INT.pack(0)  # session counter
        + pack_bytes(SIGNED)
        + INT.pack(len(section))
        + section
    )


@dataclass(frozen=True, slots=True)
class Signed:
    """What a response's HS_SIGNED credential says: the bytes it signs, and how."""

    data: bytes
    hash_name: bytes
    signature: bytes


def signed_content(response: Response) -> Signed:
    """The bytes a response's signature covers, its hash algorithm and the signature itself
    (DecodeError when the response is unsigned or its credential is malformed)."""
    reader = Reader(response.signature)
    reader.byte(), reader.byte(), reader.int2()  # version, reserved, flags
    reader.bytes()  # signer handle (empty for server signatures)
    counter = reader.int4()
    if reader.bytes() != SIGNED:
        raise DecodeError("the response is not signed (no HS_SIGNED credential)")
    reader.int4()  # section length
    hash_name, signature = reader.bytes(), reader.bytes()
    return Signed(
        _signed_prefix(response.envelope, counter) + response.signed_part, hash_name, signature
    )


def response_envelope(request: Request | None, length: int, message_id: int = 0) -> Envelope:
    """The envelope of a response: the client's suggested version, at most ours."""
    if request is None:
        major, minor, request_id, session = MAJOR, MINOR, 0, 0
    else:
        e = request.envelope
        major, minor = min((e.suggest_major, e.suggest_minor), (MAJOR, MINOR))
        if major < MAJOR:  # very old clients, or garbage: answer in the version they used
            major, minor = e.major, e.minor
        request_id, session = e.request_id, e.session_id
    return Envelope(major, minor, MAJOR, MINOR, 0, session, request_id, message_id, length)


def encode_response(
    request: Request | None,
    response_code: int,
    body: bytes,
    *,
    now: int,
    signer: Signer | None = None,
    site_serial: int = 0,
    op_code: int | None = None,
) -> bytes:
    """Envelope + header + body + signature section: one whole response.

    Signed when the request asks for certification and a signer is given; carries the
    digest of the request when the request asks for one."""
    flags = (request.flags & _ECHOED) if request is not None else 0
    if request is not None and request.flags & FLAG_RRDG:
        body = bytes((HASH_SHA256,)) + hashlib.sha256(request.raw).digest() + body
    code = op_code if op_code is not None else (request.op_code if request else 0)
    header = HEADER.pack(
        code, response_code, flags, site_serial, 0, 0, now + RESPONSE_LIFETIME, len(body)
    )
    length = HEADER_SIZE + len(body) + 4
    signature = b""
    envelope = response_envelope(request, length)
    if signer is not None and request is not None and request.certify:
        signature = credential(envelope, header + body, signer)
        length += len(signature)
        envelope = response_envelope(request, length)
    return envelope.encode() + header + body + pack_bytes(signature)


def udp_packets(response: bytes) -> list[bytes]:
    """A response split into UDP packets of at most 512 bytes, each with its envelope."""
    envelope = Envelope.decode(response)
    message = response[ENVELOPE_SIZE:]
    if len(message) <= MAX_UDP_DATA:
        return [response]
    chunks = [message[i : i + MAX_UDP_DATA] for i in range(0, len(message), MAX_UDP_DATA)]
    packets = []
    for number, chunk in enumerate(chunks):
        head = Envelope(
            envelope.major,
            envelope.minor,
            envelope.suggest_major,
            envelope.suggest_minor,
            envelope.flags | TRUNCATED,
            envelope.session_id,
            envelope.request_id,
            number,
            envelope.length,
        )
        packets.append(head.encode() + chunk)
    return packets
