"""Private codes (SN-7): an enterprise's own codes (part numbers, material codes, asset tags)
mapped to public identifiers under its prefixes, and the enterprises it lets resolve them.

A code is kept exactly as the owner wrote it and matched exactly (case included): private
coding systems differ in whether `a-100` and `A-100` are the same part, and only the owner
knows. See docs/private-codes.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from idnode.domain.errors import InvalidHandleError, InvalidValueError
from idnode.domain.handles import Handle

MAX_CODE_LENGTH = 128
MAX_MAPPINGS = 1000  # per request: one Lambda invocation writes them well within its time
ENTERPRISE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ENTERPRISE_ID = re.compile(ENTERPRISE_ID_PATTERN)


class CodeStatus(StrEnum):
    """What a bulk request did with one code."""

    MAPPED = "mapped"  # the mapping was written
    UNCHANGED = "unchanged"  # the same mapping existed already (a retry, or a repeat)
    UNMAPPED = "unmapped"  # the mapping was removed
    NOT_MAPPED = "not-mapped"  # nothing to remove: the code was not mapped
    FAILED = "failed"  # nothing written for this code; `reason` says why


@dataclass(frozen=True, slots=True)
class CodeMapping:
    """A private code of `enterprise` and the identifier it stands for."""

    enterprise: str
    code: str
    identifier: str  # the identifier's name as the owner gave it when mapping
    created_at: int  # epoch ms
    created_by: str

    @property
    def identifier_key(self) -> str:
        return Handle.parse(self.identifier).key


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """`grantee`'s people may resolve `enterprise`'s private codes."""

    enterprise: str
    grantee: str
    created_at: int
    created_by: str


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    code: str
    identifier: str | None
    status: CodeStatus
    reason: str | None = None


def check_code(code: object, field: str = "code") -> str:
    """The code if it is 1-128 printable characters without leading or trailing white space,
    else InvalidValueError naming the field and the fault."""
    if not isinstance(code, str) or not code:
        raise InvalidValueError(f"{field}: a private code must not be empty")
    if len(code) > MAX_CODE_LENGTH:
        raise InvalidValueError(
            f"{field}: a private code has at most {MAX_CODE_LENGTH} characters ({len(code)} given)"
        )
    if code != code.strip():
        raise InvalidValueError(f"{field}: {code!r} has leading or trailing white space")
    for char in code:
        # Category C: control, format, surrogate, private-use and unassigned characters,
        # none of which a person can read off a label or type reliably.
        if unicodedata.category(char).startswith("C"):
            raise InvalidValueError(
                f"{field}: {code!r} contains a non-printable character U+{ord(char):04X}"
            )
    return code


def check_enterprise_id(enterprise: object, field: str = "enterprise") -> str:
    """An enterprise id (its USCC): letters, digits, `_` and `-`, 64 at most. It becomes part
    of a storage key, so nothing else may get in."""
    if not isinstance(enterprise, str) or not _ENTERPRISE_ID.fullmatch(enterprise):
        raise InvalidValueError(
            f"{field}: {enterprise!r} is not an enterprise id (letters, digits, _ or -, 64 at most)"
        )
    return enterprise


def check_batch_size(count: int, what: str) -> None:
    if not 1 <= count <= MAX_MAPPINGS:
        raise InvalidValueError(f"{what}: give 1 to {MAX_MAPPINGS} per request ({count} given)")


@dataclass(frozen=True, slots=True)
class MappingPlan:
    """The outcome of each requested mapping, in request order, and the mappings to write.
    An outcome of MAPPED is provisional until the write succeeds."""

    outcomes: list[CodeOutcome]
    to_write: list[CodeMapping]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A requested mapping whose code and identifier are well-formed."""

    position: int
    code: str
    handle: Handle


def check_requests(
    requests: Sequence[tuple[str, str]],
) -> tuple[list[CodeOutcome | None], list[Candidate], dict[int, int]]:
    """Per request: a FAILED outcome when the code or the identifier is malformed or the code
    was asked for earlier in the request with another identifier; else None, and either a
    candidate to check against the store or, for a repeat of an earlier request, the
    position of that first request (a repeat shares its fate)."""
    outcomes: list[CodeOutcome | None] = []
    candidates: list[Candidate] = []
    repeats: dict[int, int] = {}
    seen: dict[str, tuple[int, Handle]] = {}
    for position, (code, identifier) in enumerate(requests):
        field = f"mappings[{position}]"
        try:
            check_code(code, f"{field}.code")
            handle = Handle.parse(identifier)
        except (InvalidValueError, InvalidHandleError) as error:
            outcomes.append(CodeOutcome(code, identifier, CodeStatus.FAILED, error.message))
            continue
        earlier = seen.get(code)
        if earlier is None:
            seen[code] = (position, handle)
            candidates.append(Candidate(position, code, handle))
        elif earlier[1].key == handle.key:
            repeats[position] = earlier[0]
        else:
            outcomes.append(
                CodeOutcome(
                    code,
                    identifier,
                    CodeStatus.FAILED,
                    f"{field}: code {code!r} is asked for {earlier[1].name} earlier in this "
                    "request",
                )
            )
            continue
        outcomes.append(None)
    return outcomes, candidates, repeats


def plan_mappings(
    enterprise: str,
    requests: Sequence[tuple[str, str]],
    *,
    owns: Callable[[Handle], bool],
    registered: Callable[[Handle], bool],
    existing: Mapping[str, CodeMapping],
    at: int,
    by: str,
) -> MappingPlan:
    """Decide each requested (code, identifier): the identifier must be under one of the
    enterprise's prefixes (`owns`) and registered; a code mapped already stays as it is
    (UNCHANGED when to the same identifier, FAILED when to another)."""
    outcomes, candidates, repeats = check_requests(requests)
    to_write: list[CodeMapping] = []
    for candidate in candidates:
        code, handle = candidate.code, candidate.handle
        outcome: CodeOutcome
        if not owns(handle):
            outcome = CodeOutcome(
                code,
                handle.name,
                CodeStatus.FAILED,
                f"{handle.name} is not under a prefix of enterprise {enterprise}",
            )
        elif not registered(handle):
            outcome = CodeOutcome(
                code, handle.name, CodeStatus.FAILED, f"{handle.name} is not registered"
            )
        elif (current := existing.get(code)) is not None:
            outcome = same_or_conflict(current, handle)
        else:
            outcome = CodeOutcome(code, handle.name, CodeStatus.MAPPED)
            to_write.append(CodeMapping(enterprise, code, handle.name, at, by))
        outcomes[candidate.position] = outcome
    for position, first in repeats.items():
        decided = outcomes[first]
        assert decided is not None  # every candidate was decided above
        identifier = requests[position][1]
        if decided.status is CodeStatus.FAILED:
            outcomes[position] = replace(decided, identifier=identifier)
        else:
            # Mapped by its first request (or before): this one finds it done.
            outcomes[position] = CodeOutcome(decided.code, identifier, CodeStatus.UNCHANGED)
    return MappingPlan(outcomes=[o for o in outcomes if o is not None], to_write=to_write)


def same_or_conflict(current: CodeMapping, handle: Handle) -> CodeOutcome:
    """The outcome of asking for a mapping when `current` is stored for its code."""
    if current.identifier_key == handle.key:
        return CodeOutcome(current.code, handle.name, CodeStatus.UNCHANGED)
    return CodeOutcome(
        current.code,
        handle.name,
        CodeStatus.FAILED,
        f"code {current.code!r} is already mapped to {current.identifier}",
    )
