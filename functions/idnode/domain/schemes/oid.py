"""Object identifiers (ITU-T X.660 / ISO/IEC 9834-1): dotted non-negative integer arcs.

Rules:
- one or more arcs separated by single dots, each a non-negative decimal integer written
  without leading zeros (``0`` itself is fine); no empty arcs, signs or white space;
- the first arc is 0, 1 or 2 (itu-t, iso, joint-iso-itu-t);
- under first arcs 0 and 1 the second arc is 0-39 (the BER encoding folds the first two
  arcs into one number, 40 * first + second, so only arc 2 may have larger second arcs);
- an optional ``urn:oid:`` prefix (RFC 3061) is accepted, case-insensitively, and removed;
- at most ``MAX_ARCS`` arcs and ``MAX_OID_LENGTH`` characters, so a hostile value cannot
  cost unbounded work.

The canonical form is the dotted arcs as written, which the rules make unique (no leading
zeros, no prefix). Node identifier suffix: ``oid/<dotted arcs>``, e.g. ``oid/1.2.156.3001``.
China's arc is 1.2.156.
"""

from __future__ import annotations

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey

MAX_ARCS = 128
MAX_OID_LENGTH = 1024
URN_PREFIX = "urn:oid:"
_MAX_SECOND_ARC_UNDER_0_AND_1 = 39
_JOINT_ROOT_ARC = 2  # joint-iso-itu-t, the last root arc and the only one with open second arcs
_DIGITS = frozenset("0123456789")


def _fail(text: str, what: str) -> InvalidHandleError:
    return InvalidHandleError(f"oid: {text!r} {what}")


def _check_arc(text: str, position: int, arc: str) -> None:
    if not arc:
        raise _fail(text, f"has an empty arc at position {position}")
    # str.isdigit accepts non-ASCII digits such as '٣'; an OID arc is ASCII decimal only.
    if not set(arc) <= _DIGITS:
        raise _fail(text, f"arc {position} {arc!r} is not a non-negative decimal integer")
    if len(arc) > 1 and arc[0] == "0":
        raise _fail(text, f"arc {position} {arc!r} has a leading zero")


def parse(text: str) -> SchemeKey:
    """Validate an OID (optionally ``urn:oid:``-prefixed) and return its canonical key."""
    if not isinstance(text, str) or not text:
        raise InvalidHandleError("oid: the identifier is empty")
    if len(text) > MAX_OID_LENGTH:
        raise InvalidHandleError(f"oid: the identifier is longer than {MAX_OID_LENGTH} characters")
    dotted = text[len(URN_PREFIX) :] if text[: len(URN_PREFIX)].lower() == URN_PREFIX else text
    arcs = dotted.split(".")
    if len(arcs) > MAX_ARCS:
        raise _fail(text, f"has {len(arcs)} arcs, more than {MAX_ARCS}")
    for position, arc in enumerate(arcs, start=1):
        _check_arc(text, position, arc)
    first = int(arcs[0])
    if first > _JOINT_ROOT_ARC:
        raise _fail(text, f"first arc {first} is not 0, 1 or 2")
    if len(arcs) > 1 and first < _JOINT_ROOT_ARC and int(arcs[1]) > _MAX_SECOND_ARC_UNDER_0_AND_1:
        raise _fail(
            text,
            f"second arc {arcs[1]} is over {_MAX_SECOND_ARC_UNDER_0_AND_1} under first arc {first}",
        )
    return SchemeKey(Scheme.OID, dotted)


def arcs(key: SchemeKey) -> tuple[int, ...]:
    """The arcs of a parsed OID key as integers."""
    return tuple(int(arc) for arc in key.value.split("."))
