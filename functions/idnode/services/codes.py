"""Private codes (SN-7): enterprises map their own codes to public identifiers in bulk, resolve
them, look them up from an identifier, and let other enterprises resolve them.

Who may do what (docs/private-codes.md):
- mapping, unmapping and grants: `manage-codes` on the owning enterprise;
- resolving a code and the codes of an identifier: `resolve-codes` on the owner (its people,
  staff), or a person with an enterprise role whose enterprise the owner granted;
- listing the whole code book: `resolve-codes` on the owner only (a grant is not a listing).
A caller who may not read the owner's codes is refused before any code is looked up, so a
refusal says nothing about whether a code exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from idnode.domain.access import Operation, Principal, Scope, authorise, scopes
from idnode.domain.codes import (
    CodeGrant,
    CodeMapping,
    CodeOutcome,
    CodeStatus,
    check_batch_size,
    check_code,
    check_enterprise_id,
    plan_mappings,
    same_or_conflict,
)
from idnode.domain.errors import (
    AuthenticationRequiredError,
    InvalidHandleError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.handles import Handle
from idnode.domain.prefixes import Prefix
from idnode.domain.records import Record
from idnode.services.operations import OperationLog
from idnode.services.registry import Resolution
from idnode.store.pages import Page

MAX_PAGE_SIZE = 1000


class CodeStore(Protocol):
    def get(self, enterprise: str, code: str) -> CodeMapping | None: ...
    def get_many(self, enterprise: str, codes: Iterable[str]) -> dict[str, CodeMapping]: ...
    def add_many(self, mappings: Sequence[CodeMapping]) -> set[str]: ...
    def remove_many(self, enterprise: str, codes: Iterable[str]) -> None: ...
    def of_identifier(self, enterprise: str, identifier_key: str) -> list[CodeMapping]: ...
    def code_book(
        self, enterprise: str, *, first: int, cursor: str | None
    ) -> Page[CodeMapping]: ...
    def grant(self, grant: CodeGrant) -> CodeGrant: ...
    def get_grant(self, enterprise: str, grantee: str) -> CodeGrant | None: ...
    def revoke(self, grant: CodeGrant) -> bool: ...
    def grants(self, enterprise: str) -> list[CodeGrant]: ...


class Registry(Protocol):
    """The identifier registry (`RegistryService`): its resolution rules apply."""

    def find_many(self, names: Sequence[str]) -> list[Record | None]: ...
    def resolve(self, name: str, principal: Principal) -> Resolution: ...


class Prefixes(Protocol):
    def get(self, prefix: str) -> Prefix | None: ...


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Each code's outcome, in request order."""

    enterprise: str
    outcomes: list[CodeOutcome]

    def count(self, *statuses: CodeStatus) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)


@dataclass(frozen=True, slots=True)
class ResolvedCode:
    mapping: CodeMapping
    resolution: Resolution


class CodeService:
    def __init__(
        self,
        codes: CodeStore,
        registry: Registry,
        prefixes: Prefixes,
        log: OperationLog,
        *,
        known_enterprise: Callable[[str], bool],
        clock: Callable[[], int],
    ) -> None:
        self._codes = codes
        self._registry = registry
        self._prefixes = prefixes
        self._log = log
        self._known_enterprise = known_enterprise
        self._clock = clock

    # Mapping

    def map(
        self, principal: Principal, enterprise: str, mappings: Sequence[tuple[str, str]]
    ) -> BulkResult:
        """Map codes to identifiers; each code gets its own outcome. A retry of the same
        request answers UNCHANGED for what the first attempt wrote."""
        with self._log.recording(
            principal, "map-private-codes", enterprise, enterprise=enterprise
        ) as op:
            check_enterprise_id(enterprise)
            authorise(principal, Operation.MANAGE_CODES, enterprise=enterprise)
            check_batch_size(len(mappings), "mappings")
            handles = _well_formed_handles(mappings)
            owned = self._owned_by(enterprise, handles)
            records = self._registry.find_many([h.name for h in handles if h.key in owned])
            registered = {r.handle.key for r in records if r is not None}
            plan = plan_mappings(
                enterprise,
                mappings,
                owns=lambda handle: handle.key in owned,
                registered=lambda handle: handle.key in registered,
                existing=self._codes.get_many(enterprise, (code for code, _ in mappings)),
                at=self._clock(),
                by=principal.name,
            )
            taken = self._codes.add_many(plan.to_write) if plan.to_write else set()
            outcomes = plan.outcomes
            if taken:
                outcomes = self._settle(enterprise, outcomes, taken)
            result = BulkResult(enterprise, outcomes)
            op.details.update(
                mapped=result.count(CodeStatus.MAPPED),
                unchanged=result.count(CodeStatus.UNCHANGED),
                failed=result.count(CodeStatus.FAILED),
            )
            return result

    def _owned_by(self, enterprise: str, handles: Sequence[Handle]) -> set[str]:
        """Keys of the identifiers under prefixes the enterprise holds (one read a prefix)."""
        owners: dict[str, str | None] = {}
        for handle in handles:
            if handle.prefix_key not in owners:
                found = self._prefixes.get(handle.prefix)
                owners[handle.prefix_key] = found.enterprise if found is not None else None
        return {h.key for h in handles if owners[h.prefix_key] == enterprise}

    def _settle(
        self, enterprise: str, outcomes: list[CodeOutcome], taken: set[str]
    ) -> list[CodeOutcome]:
        """Codes another writer mapped between our read and our write: re-read them."""
        now = self._codes.get_many(enterprise, taken)
        settled: list[CodeOutcome] = []
        for outcome in outcomes:
            current = now.get(outcome.code)
            # Repeats of a taken code within the request (UNCHANGED) follow its fate.
            if outcome.status is not CodeStatus.FAILED and current and outcome.identifier:
                settled.append(same_or_conflict(current, Handle.parse(outcome.identifier)))
            else:
                settled.append(outcome)
        return settled

    def unmap(self, principal: Principal, enterprise: str, codes: Sequence[str]) -> BulkResult:
        """Remove mappings; a code that was not mapped answers NOT_MAPPED (so a retry is safe)."""
        with self._log.recording(
            principal, "unmap-private-codes", enterprise, enterprise=enterprise
        ) as op:
            check_enterprise_id(enterprise)
            authorise(principal, Operation.MANAGE_CODES, enterprise=enterprise)
            check_batch_size(len(codes), "codes")
            valid: list[str] = []
            invalid: dict[int, str] = {}
            for position, code in enumerate(codes):
                try:
                    valid.append(check_code(code, f"codes[{position}]"))
                except InvalidValueError as error:
                    invalid[position] = error.message
            existing = self._codes.get_many(enterprise, valid)
            if existing:
                self._codes.remove_many(enterprise, existing)
            outcomes: list[CodeOutcome] = []
            removed: set[str] = set()
            for position, code in enumerate(codes):
                if position in invalid:
                    outcomes.append(CodeOutcome(code, None, CodeStatus.FAILED, invalid[position]))
                elif code in existing and code not in removed:
                    removed.add(code)
                    mapping = existing[code]
                    outcomes.append(CodeOutcome(code, mapping.identifier, CodeStatus.UNMAPPED))
                else:
                    outcomes.append(CodeOutcome(code, None, CodeStatus.NOT_MAPPED))
            result = BulkResult(enterprise, outcomes)
            op.details.update(
                unmapped=result.count(CodeStatus.UNMAPPED),
                not_mapped=result.count(CodeStatus.NOT_MAPPED),
                failed=result.count(CodeStatus.FAILED),
            )
            return result

    # Reading

    def resolve(self, principal: Principal, enterprise: str, code: str) -> ResolvedCode:
        """The identifier a code stands for, resolved as the registry resolves it for this
        caller (restricted values only for those who may see them)."""
        check_enterprise_id(enterprise)
        self._authorise_reader(principal, enterprise)
        check_code(code)
        mapping = self._codes.get(enterprise, code)
        if mapping is None:
            raise NotFoundError(f"code {code!r} of enterprise {enterprise} is not mapped")
        return ResolvedCode(mapping, self._registry.resolve(mapping.identifier, principal))

    def codes_of(self, principal: Principal, identifier: str) -> list[CodeMapping]:
        """The private codes that map to an identifier, for those who may read its owner's."""
        handle = Handle.parse(identifier)
        prefix = self._prefixes.get(handle.prefix)
        if prefix is None:
            raise NotFoundError(f"{handle.prefix} is not a prefix of this node")
        self._authorise_reader(principal, prefix.enterprise)
        return self._codes.of_identifier(prefix.enterprise, handle.key)

    def code_book(
        self, principal: Principal, enterprise: str, first: int, after: str | None
    ) -> Page[CodeMapping]:
        """The enterprise's code book, page by page (its people and staff only)."""
        check_enterprise_id(enterprise)
        authorise(principal, Operation.RESOLVE_CODES, enterprise=enterprise)
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise InvalidValueError(f"first must be between 1 and {MAX_PAGE_SIZE}")
        return self._codes.code_book(enterprise, first=first, cursor=after)

    def _authorise_reader(self, principal: Principal, enterprise: str) -> None:
        """Allow `resolve-codes` on the owner, or a person acting for an enterprise the owner
        granted; refuse everyone else alike."""
        try:
            authorise(principal, Operation.RESOLVE_CODES, enterprise=enterprise)
        except AuthenticationRequiredError:
            raise
        except NotAuthorisedError:
            grantee = principal.enterprise
            acts_for_enterprise = Scope.ENTERPRISE in scopes(principal, Operation.RESOLVE_CODES)
            if not (
                acts_for_enterprise
                and grantee is not None
                and self._codes.get_grant(enterprise, grantee) is not None
            ):
                raise NotAuthorisedError(
                    f"{principal.name} may not resolve the private codes of {enterprise}"
                ) from None

    # Grants

    def grant(self, principal: Principal, enterprise: str, grantee: str) -> CodeGrant:
        """Let `grantee`'s people resolve `enterprise`'s codes (granting twice is harmless)."""
        with self._log.recording(
            principal, "grant-code-access", grantee, enterprise=enterprise
        ) as op:
            check_enterprise_id(enterprise)
            authorise(principal, Operation.MANAGE_CODES, enterprise=enterprise)
            check_enterprise_id(grantee, "grantee")
            if grantee == enterprise:
                raise InvalidValueError("grantee: an enterprise resolves its own codes already")
            if not self._known_enterprise(grantee):
                raise NotFoundError(f"grantee: {grantee} is not an enterprise of this node")
            grant = self._codes.grant(CodeGrant(enterprise, grantee, self._clock(), principal.name))
            op.details["grantee"] = grantee
            return grant

    def revoke(self, principal: Principal, enterprise: str, grantee: str) -> CodeGrant:
        """Withdraw a grant; the grantee's people are refused from their next request."""
        with self._log.recording(
            principal, "revoke-code-access", grantee, enterprise=enterprise
        ) as op:
            check_enterprise_id(enterprise)
            authorise(principal, Operation.MANAGE_CODES, enterprise=enterprise)
            check_enterprise_id(grantee, "grantee")
            grant = self._codes.get_grant(enterprise, grantee)
            if grant is None or not self._codes.revoke(grant):
                raise NotFoundError(f"{enterprise} has given {grantee} no access to its codes")
            op.details["grantee"] = grantee
            return grant

    def grants(self, principal: Principal, enterprise: str) -> list[CodeGrant]:
        check_enterprise_id(enterprise)
        authorise(principal, Operation.MANAGE_CODES, enterprise=enterprise)
        return self._codes.grants(enterprise)


def _well_formed_handles(mappings: Sequence[tuple[str, str]]) -> list[Handle]:
    """The distinct identifiers of the request that parse (the others fail in the plan)."""
    handles: dict[str, Handle] = {}
    for _, identifier in mappings:
        try:
            handle = Handle.parse(identifier)
        except InvalidHandleError:
            continue  # reported with its item by plan_mappings
        handles.setdefault(handle.key, handle)
    return list(handles.values())
