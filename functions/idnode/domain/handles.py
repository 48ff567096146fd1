"""Handle identifier syntax: `prefix/suffix`.

Rules (documented in docs/data-model.md):
- the prefix is one or more dot-separated segments of ASCII letters, digits, `-` and `_`;
- the suffix is one or more printable characters: any Unicode except category C (control,
  format, surrogate, private-use and unassigned), without leading or trailing white space;
- the whole name is at most 512 characters and 1,024 bytes in UTF-8;
- matching is case-insensitive for ASCII letters, as in the Handle System: the storage key is
  the name with ASCII letters lower-cased; the name is kept as first registered for display,
  and responses echo the name exactly as the caller asked for it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from idnode.domain.errors import InvalidHandleError

MAX_HANDLE_LENGTH = 512
MAX_HANDLE_BYTES = 1024  # UTF-8; the byPrefix index's range key limit
MAX_PREFIX_LENGTH = 128
_SEGMENT = r"[0-9A-Za-z_-]+"
_PREFIX_RE = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_case(text: str) -> str:
    """Lower-case ASCII letters only: the Handle System's case-insensitive match."""
    return text.translate(_ASCII_UPPER)


def validate_prefix(prefix: str) -> str:
    """Return the prefix if it is a well-formed dotted prefix, else raise InvalidHandleError."""
    if not prefix:
        raise InvalidHandleError("the prefix is empty")
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise InvalidHandleError(f"the prefix is longer than {MAX_PREFIX_LENGTH} characters")
    if not _PREFIX_RE.fullmatch(prefix):
        raise InvalidHandleError(
            f"invalid prefix {prefix!r}: use dot-separated segments of letters, digits, '-' or '_'"
        )
    return prefix


def _check_suffix(suffix: str, name: str) -> None:
    if not suffix:
        raise InvalidHandleError(f"{name!r} has an empty suffix", handle=name)
    if suffix != suffix.strip():
        raise InvalidHandleError(
            f"{name!r}: the suffix has leading or trailing white space", handle=name
        )
    for char in suffix:
        if unicodedata.category(char).startswith("C"):
            raise InvalidHandleError(
                f"{name!r}: the suffix contains a non-printable character U+{ord(char):04X}",
                handle=name,
            )


@dataclass(frozen=True, slots=True)
class Handle:
    """A parsed identifier. `key` is the case-folded form used for storage and comparison."""

    name: str
    prefix: str
    suffix: str

    @property
    def key(self) -> str:
        return fold_case(self.name)

    @property
    def prefix_key(self) -> str:
        return fold_case(self.prefix)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> Handle:
        """Parse and validate `prefix/suffix`; raise InvalidHandleError naming the problem."""
        if not isinstance(name, str) or not name:
            raise InvalidHandleError("the identifier is empty")
        if len(name) > MAX_HANDLE_LENGTH:
            raise InvalidHandleError(
                f"the identifier is longer than {MAX_HANDLE_LENGTH} characters", handle=name
            )
        if len(name.encode("utf-8", "surrogatepass")) > MAX_HANDLE_BYTES:
            raise InvalidHandleError(
                f"the identifier is longer than {MAX_HANDLE_BYTES} bytes in UTF-8", handle=name
            )
        prefix, slash, suffix = name.partition("/")
        if not slash:
            raise InvalidHandleError(
                f"{name!r} is not of the form prefix/suffix (no '/')", handle=name
            )
        try:
            validate_prefix(prefix)
        except InvalidHandleError as exc:
            raise InvalidHandleError(f"{name!r}: {exc.message}", handle=name) from None
        _check_suffix(suffix, name)
        return cls(name=name, prefix=prefix, suffix=suffix)

    @classmethod
    def of(cls, prefix: str, suffix: str) -> Handle:
        return cls.parse(f"{prefix}/{suffix}")


def is_under(prefix: str, node_prefix: str) -> bool:
    """Whether `prefix` equals `node_prefix` or lies below it in the dotted hierarchy."""
    p, n = fold_case(prefix), fold_case(node_prefix)
    return p == n or p.startswith(n + ".")


PREFIX_NAMESPACE = "0.NA"


def prefix_of_handle(name: str) -> str | None:
    """The prefix a prefix handle names (`0.NA/88.100`, or bare `88.100` as Handle clients
    read a name without a slash), else None."""
    head, slash, tail = name.partition("/")
    if not slash:
        return head
    if head.upper() == PREFIX_NAMESPACE:
        return tail
    return None
