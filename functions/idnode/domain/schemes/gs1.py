"""GS1 keys: GTIN, SSCC, GLN, GRAI and GIAI, with their qualifiers.

A key arrives in one of three written forms, and all three give the same ``SchemeKey``:

- element strings as printed under a barcode: ``(01)09506000134352(21)ABC``;
- a GS1 Digital Link URI on any host, with or without a path prefix:
  ``https://id.example.com/01/09506000134352/21/ABC?17=251231`` (the query string carries
  data attributes, never part of the key, so it is ignored);
- the node identifier suffix itself: ``01/09506000134352/21/ABC`` (also with ``gs1:``).

A bare key without its application identifier is ambiguous (13 digits may be a GTIN-13 or a
GLN), so it goes through ``parse_key`` with its kind.

Canonical form (the ``SchemeKey`` value and the node identifier suffix): the Digital Link
path without its leading slash, ``01/<gtin-14>[/22/<cpv>][/10/<lot>][/21/<serial>]``,
``00/<sscc-18>``, ``414/<gln-13>[/254/<ext>]``, ``8003/<grai>``, ``8004/<giai>``. GTIN-8,
-12 and -13 are zero-padded to 14 digits; qualifiers stand in the Digital Link order;
values are percent-encoded as Digital Link path segments (a ``/`` in a serial is ``%2F``).

Check digits are GS1's mod-10 (weights 3 and 1 from the right), computed by biip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gln import Gln
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.sscc import Sscc

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey

DIGITAL_LINK_HOST = "id.gs1.org"

_Parsed = TypeVar("_Parsed", Gtin, Sscc, Gln)

# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1): the
# characters a serial, lot, GIAI or GRAI serial component may use.
CHARACTER_SET_82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)

GTIN_LENGTHS = (8, 12, 13, 14)
SSCC_LENGTH = 18
GLN_LENGTH = 13
GRAI_FIXED_LENGTH = 14  # filler digit 0, company prefix and asset type, check digit
GRAI_MAX_SERIAL_LENGTH = 16
GIAI_MAX_LENGTH = 30
QUALIFIER_MAX_LENGTH = 20


class Gs1Key(StrEnum):
    """The GS1 primary keys the node accepts; the value is the application identifier."""

    GTIN = "01"
    SSCC = "00"
    GLN = "414"
    GRAI = "8003"
    GIAI = "8004"


# Qualifiers each key may carry, in the order the Digital Link path requires.
_QUALIFIERS: dict[Gs1Key, tuple[str, ...]] = {
    Gs1Key.GTIN: ("22", "10", "21"),
    Gs1Key.SSCC: (),
    Gs1Key.GLN: ("254",),
    Gs1Key.GRAI: (),
    Gs1Key.GIAI: (),
}

_QUALIFIER_NAMES = {
    "22": "consumer product variant",
    "10": "batch/lot",
    "21": "serial",
    "254": "GLN extension",
}

# Digital Link 1.1 short names ("convenience alphas"); only non-canonical URIs use them.
_ALPHAS = {
    "gtin": "01",
    "sscc": "00",
    "gln": "414",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
    "glnx": "254",
}

_HRI_ELEMENT = re.compile(r"\((\d{2,4})\)([^()]+)")
_HRI_WHOLE = re.compile(r"(?:\(\d{2,4}\)[^()]+)+")


@dataclass(frozen=True, slots=True)
class _Gs1Path:
    """A validated key: its kind, its canonical primary value and its qualifiers."""

    kind: Gs1Key
    primary: str
    qualifiers: tuple[tuple[str, str], ...] = ()

    def to_key(self) -> SchemeKey:
        segments = [self.kind.value, quote(self.primary, safe="")]
        for ai, value in self.qualifiers:
            segments += [ai, quote(value, safe="")]
        return SchemeKey(Scheme.GS1, "/".join(segments))


def parse_key(kind: Gs1Key, value: str) -> SchemeKey:
    """Validate a bare key of a known kind (a GTIN may be 8, 12, 13 or 14 digits)."""
    return _Gs1Path(kind, _canonical_primary(kind, value, short_gtin=True)).to_key()


def parse_gs1(text: str) -> SchemeKey:
    """Read a GS1 key from element strings, a Digital Link URI or its node suffix."""
    written = text.strip()
    if not written:
        raise InvalidHandleError("gs1: the key is empty")
    if written.lower().startswith("gs1:"):
        return _parse_path(written[4:], where="key")
    if written.startswith("("):
        return _parse_element_strings(written)
    if "://" in written:
        return _parse_digital_link(written)
    first = written.lstrip("/").split("/", 1)[0]
    if first in Gs1Key._value2member_map_ or first in _ALPHAS:
        return _parse_path(written, where="key")
    raise InvalidHandleError(
        f"gs1: cannot read {written!r}: expected element strings such as (01)09506000134352, "
        "a Digital Link URI, or a path such as 01/09506000134352; "
        "a bare key needs its kind (GTIN, SSCC, GLN, GRAI or GIAI)"
    )


def parse(text: str) -> SchemeKey:
    """The entry point every scheme module shares (``idnode.domain.schemes.parse``)."""
    return parse_gs1(text)


def digital_link_path(key: SchemeKey) -> str:
    """The key's canonical GS1 Digital Link path, with its leading slash."""
    return "/" + _path_of(key).to_key().value


def digital_link_uri(key: SchemeKey, host: str = DIGITAL_LINK_HOST) -> str:
    """The key as a Digital Link URI on the given host (GS1's resolver by default)."""
    return f"https://{host}{digital_link_path(key)}"


def key_kind(key: SchemeKey) -> Gs1Key:
    """Which GS1 key this is (a GTIN with a serial is still a GTIN)."""
    return _path_of(key).kind


def primary_key(key: SchemeKey) -> SchemeKey:
    """The key without its qualifiers: a serialised item's GTIN, a GLN without extension."""
    path = _path_of(key)
    return _Gs1Path(path.kind, path.primary).to_key()


def parent_key(key: SchemeKey) -> SchemeKey | None:
    """The key with its last qualifier dropped, or None for a primary key.

    Resolution walks up this chain (GTIN+lot+serial, GTIN+lot, GTIN) so that data kept
    for a batch or a product answers for an item that has none of its own.
    """
    path = _path_of(key)
    if not path.qualifiers:
        return None
    return _Gs1Path(path.kind, path.primary, path.qualifiers[:-1]).to_key()


def _path_of(key: SchemeKey) -> _Gs1Path:
    if key.scheme is not Scheme.GS1:
        raise InvalidHandleError(f"gs1: {key} is not a GS1 key")
    return _read_path(key.value, where="key")


def _parse_path(path: str, *, where: str) -> SchemeKey:
    return _read_path(path, where=where).to_key()


def _read_path(path: str, *, where: str) -> _Gs1Path:
    """Read ``<ai>/<value>[/<ai>/<value>]...``, the Digital Link path after any prefix."""
    segments = path.strip("/").split("/")
    if len(segments) % 2:
        raise InvalidHandleError(
            f"gs1: the {where} path {path!r} has an odd number of segments; "
            "expected pairs of application identifier and value"
        )
    pairs = [
        (_ALPHAS.get(segments[i], segments[i]), unquote(segments[i + 1]))
        for i in range(0, len(segments), 2)
    ]
    (primary_ai, primary_value), *qualifiers = pairs
    kind = _kind_of(primary_ai, where=where)
    allowed = list(_QUALIFIERS[kind])
    for ai, _ in qualifiers:
        # Each qualifier at most once and in order, as the Digital Link path grammar says.
        if ai not in allowed:
            raise InvalidHandleError(_qualifier_error(kind, ai, where=where))
        del allowed[: allowed.index(ai) + 1]
    return _validated(kind, primary_value, qualifiers, short_gtin=True)


def _parse_digital_link(uri: str) -> SchemeKey:
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidHandleError(
            f"gs1: Digital Link URI {uri!r} has scheme {parts.scheme!r}, expected https or http"
        )
    segments = parts.path.split("/")
    # Anything before the first primary key is the resolver's own path prefix.
    for start, segment in enumerate(segments):
        ai = _ALPHAS.get(segment, segment)
        if ai in Gs1Key._value2member_map_:
            return _parse_path("/".join(segments[start:]), where="Digital Link URI")
    raise InvalidHandleError(
        f"gs1: Digital Link URI {uri!r} has no primary key in its path; "
        "expected one of 01, 00, 414, 8003, 8004"
    )


def _parse_element_strings(text: str) -> SchemeKey:
    compact = "".join(text.split())
    if not _HRI_WHOLE.fullmatch(compact):
        raise InvalidHandleError(
            f"gs1: element strings {text!r} are not of the form (AI)value(AI)value"
        )
    elements = _HRI_ELEMENT.findall(compact)
    seen: set[str] = set()
    for ai, _ in elements:
        if ai in seen:
            raise InvalidHandleError(f"gs1: element strings repeat application identifier ({ai})")
        seen.add(ai)
    primaries = [(ai, value) for ai, value in elements if ai in Gs1Key._value2member_map_]
    if len(primaries) != 1:
        found = ", ".join(f"({ai})" for ai, _ in primaries) or "none"
        raise InvalidHandleError(
            "gs1: element strings need exactly one primary key "
            f"((01), (00), (414), (8003) or (8004)); found {found}"
        )
    kind = Gs1Key(primaries[0][0])
    qualifier_ais = _QUALIFIERS[kind]
    # Other element strings (dates, weights) describe the item; they are not part of its key.
    qualifiers = sorted(
        ((ai, value) for ai, value in elements if ai in qualifier_ais),
        key=lambda pair: qualifier_ais.index(pair[0]),
    )
    for ai, _ in elements:
        if ai in _QUALIFIER_NAMES and ai not in qualifier_ais:
            raise InvalidHandleError(_qualifier_error(kind, ai, where="element strings"))
    path = _validated(kind, primaries[0][1], qualifiers, short_gtin=False)
    try:
        # biip checks the element strings that are not part of the key (dates, measures).
        GS1Message.parse_hri(compact)
    except ParseError as error:
        raise InvalidHandleError(f"gs1: element strings {text!r}: {error}") from error
    return path.to_key()


def _validated(
    kind: Gs1Key, primary: str, qualifiers: list[tuple[str, str]], *, short_gtin: bool
) -> _Gs1Path:
    canonical = _canonical_primary(kind, primary, short_gtin=short_gtin)
    for ai, value in qualifiers:
        _check_characters(_QUALIFIER_NAMES[ai], value, max_length=QUALIFIER_MAX_LENGTH)
    return _Gs1Path(kind, canonical, tuple(qualifiers))


def _kind_of(ai: str, *, where: str) -> Gs1Key:
    if ai not in Gs1Key._value2member_map_:
        raise InvalidHandleError(
            f"gs1: the {where} starts with {ai!r}, expected a primary key "
            "application identifier: 01 (GTIN), 00 (SSCC), 414 (GLN), 8003 (GRAI), 8004 (GIAI)"
        )
    return Gs1Key(ai)


def _qualifier_error(kind: Gs1Key, ai: str, *, where: str) -> str:
    allowed = ", ".join(_QUALIFIERS[kind]) or "none"
    return (
        f"gs1: {where}: {ai!r} is not a qualifier of a {kind.name} here "
        f"(allowed, once each and in this order: {allowed})"
    )


def _canonical_primary(kind: Gs1Key, value: str, *, short_gtin: bool) -> str:
    match kind:
        case Gs1Key.GTIN:
            return _canonical_gtin(value, short_gtin=short_gtin)
        case Gs1Key.SSCC:
            _check_digits("SSCC", value, (SSCC_LENGTH,))
            _check_with_biip("SSCC", value, Sscc.parse)
            return value
        case Gs1Key.GLN:
            _check_digits("GLN", value, (GLN_LENGTH,))
            _check_with_biip("GLN", value, Gln.parse)
            return value
        case Gs1Key.GRAI:
            _check_grai(value)
            return value
        case Gs1Key.GIAI:
            _check_characters("GIAI", value, max_length=GIAI_MAX_LENGTH)
            return value


def _canonical_gtin(value: str, *, short_gtin: bool) -> str:
    # Element string (01) is always 14 digits; Digital Link and bare keys may be shorter.
    _check_digits("GTIN", value, GTIN_LENGTHS if short_gtin else (14,))
    gtin = _check_with_biip("GTIN", value, Gtin.parse)
    return gtin.as_gtin_14()


def _check_grai(value: str) -> None:
    fixed, serial = value[:GRAI_FIXED_LENGTH], value[GRAI_FIXED_LENGTH:]
    if len(fixed) < GRAI_FIXED_LENGTH or not (fixed.isascii() and fixed.isdigit()):
        raise InvalidHandleError(
            f"gs1: GRAI {value!r} must start with {GRAI_FIXED_LENGTH} digits "
            "(filler 0, company prefix and asset type, check digit)"
        )
    if fixed[0] != "0":
        raise InvalidHandleError(
            f"gs1: GRAI {value!r} starts with {fixed[0]}, expected the filler digit 0"
        )
    expected = gs1_standard_check_digit(fixed[:-1])
    if int(fixed[-1]) != expected:
        raise InvalidHandleError(
            f"gs1: GRAI {fixed} has check digit {fixed[-1]}, expected {expected}"
        )
    if serial:
        _check_characters("GRAI serial", serial, max_length=GRAI_MAX_SERIAL_LENGTH)


def _check_digits(name: str, value: str, lengths: tuple[int, ...]) -> None:
    if not (value.isascii() and value.isdigit()):
        raise InvalidHandleError(f"gs1: {name} {value!r} must be digits only")
    if len(value) not in lengths:
        expected = " or ".join(str(length) for length in lengths)
        raise InvalidHandleError(
            f"gs1: {name} {value} has {len(value)} digits, expected {expected}"
        )


def _check_with_biip(name: str, value: str, parse: Callable[[str], _Parsed]) -> _Parsed:
    try:
        return parse(value)
    except ParseError as error:
        # Length and digits are checked before, so biip can only object to the check digit.
        expected = gs1_standard_check_digit(value[:-1])
        if int(value[-1]) != expected:
            raise InvalidHandleError(
                f"gs1: {name} {value} has check digit {value[-1]}, expected {expected}"
            ) from error
        raise InvalidHandleError(f"gs1: {name} {value}: {error}") from error


def _check_characters(name: str, value: str, *, max_length: int) -> None:
    if not value:
        raise InvalidHandleError(f"gs1: {name} is empty")
    if len(value) > max_length:
        raise InvalidHandleError(
            f"gs1: {name} has {len(value)} characters, at most {max_length} allowed"
        )
    outside = sorted(set(value) - CHARACTER_SET_82)
    if outside:
        shown = ", ".join(repr(char) for char in outside)
        raise InvalidHandleError(
            f"gs1: {name} {value!r} has characters outside GS1 character set 82: {shown}"
        )
