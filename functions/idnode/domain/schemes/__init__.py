"""Identifier schemes the node validates besides plain Handle names.

Each scheme has its own rules and its own canonical form (a ``SchemeKey``), and each
key maps to a node identifier suffix, so an enterprise registers ``<its prefix>/<suffix>``:

- GS1: the GS1 Digital Link path of the key with its qualifiers (``01/<gtin-14>/21/<serial>``).
- OID: ``oid/<dotted arcs>``.
- Ecode: ``ecode/<code>``.
- VAA: ``vaa/<the DID's method-specific id>``.
- Handle: the suffix of the Handle name itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idnode.domain.errors import InvalidHandleError
from idnode.domain.handles import Handle


class Scheme(StrEnum):
    HANDLE = "handle"
    GS1 = "gs1"
    OID = "oid"
    ECODE = "ecode"
    VAA = "vaa"


@dataclass(frozen=True, slots=True)
class SchemeKey:
    """A validated identifier in its scheme's canonical form."""

    scheme: Scheme
    value: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"

    def suffix(self) -> str:
        """The node identifier suffix under an enterprise prefix."""
        match self.scheme:
            case Scheme.GS1:
                # The canonical GS1 value already is the Digital Link path.
                return self.value
            case Scheme.VAA:
                return f"vaa/{self.value.removeprefix('did:vaa:')}"
            case Scheme.HANDLE:
                _, _, suffix = self.value.partition("/")
                return suffix
            case _:
                return f"{self.scheme}/{self.value}"


def parse(scheme: Scheme | str, text: str) -> SchemeKey:
    """Validate ``text`` by the rules of ``scheme`` and return its canonical key.

    Raises InvalidHandleError naming the scheme, the part and what is wrong.
    """
    try:
        chosen = Scheme(scheme)
    except ValueError:
        known = ", ".join(member.value for member in Scheme)
        raise InvalidHandleError(
            f"unknown identifier scheme {scheme!r} (expected one of {known})"
        ) from None
    # The scheme modules are imported here, not at the top, because they import Scheme and
    # SchemeKey from this package (a cycle), and importing one scheme needs no other.
    match chosen:
        case Scheme.HANDLE:
            return SchemeKey(Scheme.HANDLE, Handle.parse(text).name)
        case Scheme.GS1:
            from idnode.domain.schemes import gs1  # noqa: PLC0415 - cycle, see above

            return gs1.parse(text)
        case Scheme.OID:
            from idnode.domain.schemes import oid  # noqa: PLC0415 - cycle, see above

            return oid.parse(text)
        case Scheme.ECODE:
            from idnode.domain.schemes import ecode  # noqa: PLC0415 - cycle, see above

            return ecode.parse(text)
        case Scheme.VAA:
            from idnode.domain.schemes import vaa  # noqa: PLC0415 - cycle, see above

            return vaa.parse(text)


# The first suffix segment that places a node identifier in a scheme's namespace. GS1's are
# the primary keys' application identifiers; the others are words, matched ignoring ASCII case
# as the whole Handle name is.
GS1_PRIMARY_AIS = frozenset({"01", "00", "414", "8003", "8004"})
_NAMESPACES = {"oid": Scheme.OID, "ecode": Scheme.ECODE, "vaa": Scheme.VAA}


def key_of(handle: Handle) -> SchemeKey | None:
    """The scheme key a node identifier stands for, or None for a plain Handle name.

    A suffix whose first segment is a GS1 primary key's AI (``01``, ``00``, ``414``, ``8003``,
    ``8004``) or ``oid``, ``ecode`` or ``vaa`` is in that scheme's namespace: the rest must be a
    valid key of the scheme, written in its canonical form (one written form per key, so a
    key maps to exactly one identifier). Raises InvalidHandleError naming what is wrong.
    """
    first, slash, rest = handle.suffix.partition("/")
    if not slash:
        return None
    if first in GS1_PRIMARY_AIS:
        key = parse(Scheme.GS1, handle.suffix)
    else:
        scheme = _NAMESPACES.get(first.lower())
        if scheme is None:
            return None
        key = parse(scheme, f"did:vaa:{rest}" if scheme is Scheme.VAA else rest)
    canonical = key.suffix()
    if fold_suffix(canonical) != fold_suffix(handle.suffix) or (
        key.scheme is Scheme.GS1 and canonical != handle.suffix
    ):
        raise InvalidHandleError(
            f"{handle.name!r} names the {key.scheme} key {key} in a non-canonical form: "
            f"register it as {handle.prefix}/{canonical}",
            handle=handle.name,
        )
    return key


def fold_suffix(suffix: str) -> str:
    """A suffix as the node compares it: the scheme word's case does not matter."""
    first, slash, rest = suffix.partition("/")
    return f"{first.lower()}{slash}{rest}"
