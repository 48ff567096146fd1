"""Ecode, the entity code of the Internet of Things identification system (GB/T 31866).

Structure: version ``V`` (one digit) + numbering-system identifier ``NSI`` + master data
code ``MD``, written as one string without separators. The version fixes the length of the
NSI and the length and character set of the MD:

======  =========  ==========================  =========================================
V       NSI        MD                          note
======  =========  ==========================  =========================================
0       -          -                           reserved for codes compatible with GS1 and
                                               other existing systems
1       4 digits   up to 20 digits             V1 codes are at most 25 digits
2       8 digits   up to 25 letters or digits
3       5 digits   up to 39 letters or digits
4       5 digits   up to 39 letters or digits  (structure of V4 not verified; see below)
5-9     -          -                           not defined: rejected
======  =========  ==========================  =========================================

What is verified and what is not: the three-part structure (V + NSI + MD) and V0 being
reserved for GS1 compatibility come from the project's interop notes; the table's lengths
are the commonly published ones and could not be checked against the text of the standard
(GB/T 31866-2015, superseded by GB/T 31866-2023). Validation is therefore lenient where a
fact is unverified: MD lengths are upper bounds (a shorter MD is accepted), V0 codes are
checked only for characters and overall length, and V4 uses the V3 rules. Tighten once the
lengths have been read from the standard.

Canonical form: the code upper-cased (letters in an MD are case-insensitive), with white
space rejected rather than stripped. Node identifier suffix: ``ecode/<code>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey

MAX_ECODE_LENGTH = 64  # longest defined version is 1 + 5 + 39 = 45; V0 gets some headroom
_DIGITS = frozenset("0123456789")
_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class EcodeVersion:
    """The field lengths and MD character set that one Ecode version fixes."""

    nsi_length: int
    md_max_length: int
    md_digits_only: bool


VERSIONS: dict[str, EcodeVersion] = {
    "1": EcodeVersion(nsi_length=4, md_max_length=20, md_digits_only=True),
    "2": EcodeVersion(nsi_length=8, md_max_length=25, md_digits_only=False),
    "3": EcodeVersion(nsi_length=5, md_max_length=39, md_digits_only=False),
    "4": EcodeVersion(nsi_length=5, md_max_length=39, md_digits_only=False),
}
GS1_COMPATIBLE_VERSION = "0"


@dataclass(frozen=True, slots=True)
class Ecode:
    """A parsed Ecode split into its parts; ``nsi`` is empty for V0 codes."""

    version: str
    nsi: str
    md: str

    @property
    def code(self) -> str:
        return f"{self.version}{self.nsi}{self.md}"


def _fail(text: str, what: str) -> InvalidHandleError:
    return InvalidHandleError(f"ecode: {text!r} {what}")


def split(text: str) -> Ecode:
    """Validate an Ecode and split it into version, NSI and MD."""
    if not isinstance(text, str) or not text:
        raise InvalidHandleError("ecode: the identifier is empty")
    if len(text) > MAX_ECODE_LENGTH:
        raise InvalidHandleError(
            f"ecode: the identifier is longer than {MAX_ECODE_LENGTH} characters"
        )
    # Checked before upper-casing: str.upper maps some non-ASCII letters (dotless i) to ASCII.
    bad = next(
        (char for char in text if not char.isascii() or char.upper() not in _ALPHANUMERIC), None
    )
    if bad is not None:
        raise _fail(text, f"contains {bad!r}: an Ecode has only ASCII letters and digits")
    code = text.upper()
    version = code[0]
    if version == GS1_COMPATIBLE_VERSION:
        if len(code) == 1:
            raise _fail(text, "has a version but no code after it")
        return Ecode(version=version, nsi="", md=code[1:])
    rules = VERSIONS.get(version)
    if rules is None:
        raise _fail(text, f"version V{version} is not defined (expected 0 to 4)")
    nsi = code[1 : 1 + rules.nsi_length]
    md = code[1 + rules.nsi_length :]
    if len(nsi) < rules.nsi_length or not set(nsi) <= _DIGITS:
        raise _fail(text, f"NSI {nsi!r} is not {rules.nsi_length} digits as V{version} requires")
    if not md:
        raise _fail(text, "has no master data code (MD)")
    if len(md) > rules.md_max_length:
        raise _fail(
            text,
            f"MD has {len(md)} characters, more than {rules.md_max_length} for V{version}",
        )
    if rules.md_digits_only and not set(md) <= _DIGITS:
        raise _fail(text, f"MD {md!r} must be digits only in V{version}")
    return Ecode(version=version, nsi=nsi, md=md)


def parse(text: str) -> SchemeKey:
    """Validate an Ecode and return its canonical (upper-case) key."""
    return SchemeKey(Scheme.ECODE, split(text).code)
