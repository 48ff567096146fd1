"""Metadata templates and master data: importing the top-level node's templates,
enterprises' extensions, and checking every record that names a template (SN-9, PL-2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from idnode.domain.access import Operation, Principal, authorise
from idnode.domain.errors import (
    HandleNotFoundError,
    InvalidStateError,
    InvalidValueError,
    NotFoundError,
)
from idnode.domain.industries import parse_industry
from idnode.domain.records import TEMPLATE_INDEX, Record
from idnode.domain.templates import (
    MasterData,
    Template,
    TemplateKind,
    TemplateRef,
    check_code,
    check_extension_code,
    check_version,
    compile_validator,
    extension,
    field_values,
    master_data,
    parse_object_type,
    parse_templates,
    same_content,
    template_ref_of,
    validate,
)
from idnode.domain.values import Value
from idnode.services.operations import OperationLog
from idnode.services.registry import Resolution
from idnode.store.pages import Page

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_PAGE = 100


class TemplateStore(Protocol):
    def create(self, template: Template) -> bool: ...
    def get(self, code: str, version: str) -> Template | None: ...
    def latest(self, code: str) -> Template | None: ...
    def list(
        self,
        *,
        industry_codes: Sequence[str] = (),
        object_type: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        first: int,
        cursor: str | None,
    ) -> Page[Template]: ...


class Registry(Protocol):
    def find_many(self, names: Sequence[str]) -> list[Record | None]: ...
    def resolve(self, name: str, principal: Principal) -> Resolution: ...
    def update(
        self,
        name: str,
        principal: Principal,
        *,
        replace: Sequence[Value] | None = None,
        upsert: Sequence[Value] = (),
        remove: Sequence[int] = (),
        expected_version: int | None = None,
    ) -> Record: ...


class ImportOutcome(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"  # the same content was imported before: nothing to do


@dataclass(frozen=True, slots=True)
class Imported:
    template: Template
    outcome: ImportOutcome


class TemplateService:
    def __init__(
        self,
        templates: TemplateStore,
        log: OperationLog,
        *,
        registry: Registry,
        enterprise_of: Callable[[str], str | None],
        clock: Callable[[], int],
    ) -> None:
        self._templates = templates
        self._log = log
        # The registry calls back into this service to check records; the node builds this
        # service on first use, after the registry.
        self._registry = registry
        self._enterprise_of = enterprise_of
        self._clock = clock
        # Versions never change once stored, so neither do their validators: kept per process.
        self._known: dict[TemplateRef, Template] = {}
        self._validators: dict[TemplateRef, Draft202012Validator] = {}

    # Templates

    def import_templates(self, principal: Principal, raw: object) -> list[Imported]:
        """Store new versions of core and industry templates. A version imported again with
        the same content is reported unchanged; with other content it is refused."""
        with self._log.recording(principal, "import-templates", "templates") as op:
            authorise(principal, Operation.MANAGE_TEMPLATES)
            parsed = parse_templates(raw)
            op.target = ", ".join(str(t.ref) for t in parsed)[:200]
            # Conflicts are found before anything is written, so a refused import adds nothing.
            existing = [self._templates.get(t.code, t.version) for t in parsed]
            for template, stored in zip(parsed, existing, strict=True):
                if stored is not None and not same_content(template, stored):
                    raise _changed(template.ref)
            now = self._clock()
            results = []
            for template, stored in zip(parsed, existing, strict=True):
                if stored is not None:
                    results.append(Imported(stored, ImportOutcome.UNCHANGED))
                    continue
                new = replace(template, created_at=now, created_by=principal.name)
                results.append(self._store(new))
            op.details.update(
                created=sum(r.outcome is ImportOutcome.CREATED for r in results),
                unchanged=sum(r.outcome is ImportOutcome.UNCHANGED for r in results),
            )
            return results

    def extend(  # noqa: PLR0917 - an extension's parts, as extendTemplate gives them
        self,
        principal: Principal,
        base: TemplateRef,
        code: str,
        version: str,
        name: str,
        items: object,
        description: str = "",
    ) -> Imported:
        """An enterprise's own template: a core or industry template plus its own fields,
        under a code that starts with one of its prefixes."""
        with self._log.recording(principal, "extend-template", f"{code}@{version}") as op:
            authorise(principal, Operation.EXTEND_TEMPLATES)
            prefix, code = check_extension_code(code)
            owner = self._enterprise_of(prefix)
            if owner is None:
                raise InvalidValueError(f"code: {prefix} is not a prefix of an enterprise")
            op.enterprise = owner
            authorise(principal, Operation.EXTEND_TEMPLATES, enterprise=owner)
            base_template = self._require(base, "base")
            template = extension(base_template, code, version, name, items, owner, description)
            stored = self._templates.get(code, version)
            if stored is not None:
                if not same_content(template, stored):
                    raise _changed(template.ref)
                return Imported(stored, ImportOutcome.UNCHANGED)
            return self._store(
                replace(template, created_at=self._clock(), created_by=principal.name)
            )

    def template(self, principal: Principal, code: str, version: str | None = None) -> Template:
        """A version of a template; without one, the latest."""
        authorise(principal, Operation.VIEW_TEMPLATES)
        if version is None:
            found = self._templates.latest(code)
            if found is None:
                raise NotFoundError(f"template {code} does not exist")
            return found
        return self._require(TemplateRef(code, check_version(version)), "template")

    def templates(
        self,
        principal: Principal,
        *,
        industry_code: str | None = None,
        object_type: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        first: int,
        cursor: str | None,
    ) -> Page[Template]:
        """Templates matching the filters. An industry code selects the templates that apply
        to an enterprise of that industry: those naming it or a level above it (C3441 also
        selects templates for C344, C34 and C)."""
        authorise(principal, Operation.VIEW_TEMPLATES)
        codes: list[str] = []
        if industry_code is not None:
            industry = parse_industry(industry_code, "filter.industryCode")
            codes = [industry.section + industry.digits[:n] for n in (0, 2, 3, 4)]
            codes = list(dict.fromkeys(c for c in codes if len(c) <= len(industry.code)))
        if object_type is not None:
            object_type = parse_object_type(object_type, "filter.objectType").value
        if kind is not None and kind not in {k.value for k in TemplateKind}:
            raise InvalidValueError(f"filter.kind: {kind!r} is not core, industry or enterprise")
        if not 1 <= first <= MAX_PAGE:
            raise InvalidValueError(f"first: between 1 and {MAX_PAGE}")
        return self._templates.list(
            industry_codes=codes,
            object_type=object_type,
            kind=kind,
            owner=owner,
            first=first,
            cursor=cursor,
        )

    # Master data

    def check_record(self, record: Record) -> None:
        """Raise InvalidValueError, naming the field, unless the record's master data is
        valid for the template version it names (records naming none pass)."""
        ref = template_ref_of(record)
        if ref is None:
            return
        template = self._for_record(ref, record)
        data = master_data(template, record.values)
        validate(self._validator(template), template, data)

    def master_data(self, principal: Principal, handle: str) -> MasterData:
        """A record's master data, from the values this reader may see."""
        resolution = self._registry.resolve(handle, principal)
        record = resolution.record
        ref = template_ref_of(record)
        if ref is None:
            raise NotFoundError(f"{record.handle.name} has no master data", handle=handle)
        template = self._require(ref, "template")
        data = master_data(template, resolution.values)
        return MasterData(record.handle.name, ref, data, record.version)

    def set_master_data(
        self,
        principal: Principal,
        handle: str,
        data: object,
        *,
        template: TemplateRef | None = None,
        expected_version: int | None = None,
    ) -> MasterData:
        """Write a record's master data: the template's fields as values and the template
        reference at 1001. The record then holds exactly `data` at the template's fields.
        Without `template`, the record keeps the one it names."""
        with self._log.recording(principal, "set-master-data", handle) as op:
            record = self._current(handle)
            current = template_ref_of(record)
            target = template if template is not None else current
            if target is None:
                raise InvalidValueError(
                    f"template: {record.handle.name} names no template yet; give one"
                )
            op.details["template"] = str(target)
            return self._write(principal, record, current, target, data, expected_version)

    def upgrade_master_data(
        self,
        principal: Principal,
        handle: str,
        version: str,
        data: object = None,
        *,
        expected_version: int | None = None,
    ) -> MasterData:
        """Move a record to another version of its template, with `data` or else its
        current master data (the fields the new version no longer has are dropped)."""
        with self._log.recording(principal, "upgrade-master-data", handle) as op:
            record = self._current(handle)
            current = template_ref_of(record)
            if current is None:
                raise InvalidStateError(f"{record.handle.name} has no master data to upgrade")
            target = TemplateRef(current.code, check_version(version))
            op.details.update(template=str(target), previous=str(current))
            if data is None:
                before = master_data(self._require(current, "template"), record.values)
                new = self._require(target, "version")
                data = {k: v for k, v in before.items() if new.field_named(k) is not None}
            return self._write(principal, record, current, target, data, expected_version)

    # Internals

    def _write(  # noqa: PLR0917 - the write's parts, named by its two callers
        self,
        principal: Principal,
        record: Record,
        current: TemplateRef | None,
        target: TemplateRef,
        data: object,
        expected_version: int | None,
    ) -> MasterData:
        template = self._for_record(target, record)
        if not isinstance(data, Mapping):
            raise InvalidValueError("data: a JSON object of the template's fields")
        validate(self._validator(template), template, data)
        values = field_values(template, data, record.values)
        written = {v.index for v in values}
        stale = {i.id_index for i in template.fields}
        if current is not None and current != target:
            previous = self._templates.get(current.code, current.version)
            if previous is not None:
                stale |= {i.id_index for i in previous.fields}
        present = {v.index for v in record.values}
        remove = sorted((stale - written) & present - {TEMPLATE_INDEX})
        updated = self._registry.update(
            record.handle.name,
            principal,
            upsert=values,
            remove=remove,
            # The removals were decided on this version: a change in between is a conflict.
            expected_version=record.version if expected_version is None else expected_version,
        )
        return MasterData(updated.handle.name, target, dict(data), updated.version)

    def _current(self, handle: str) -> Record:
        (record,) = self._registry.find_many([handle])
        if record is None:
            raise HandleNotFoundError(f"{handle} is not registered", handle=handle)
        return record

    def _for_record(self, ref: TemplateRef, record: Record) -> Template:
        """The template a record may name: an enterprise's extension only under its prefixes."""
        template = self._require(ref, f"value {TEMPLATE_INDEX}")
        if template.kind is TemplateKind.ENTERPRISE:
            holder = self._enterprise_of(record.handle.prefix)
            if holder != template.owner:
                raise InvalidValueError(
                    f"value {TEMPLATE_INDEX}: {ref} is enterprise {template.owner}'s template; "
                    f"{record.handle.prefix} is not its prefix",
                    handle=record.handle.name,
                )
        return template

    def _require(self, ref: TemplateRef, where: str) -> Template:
        known = self._known.get(ref)
        if known is not None:
            return known
        try:
            code = ref.code if "/" in ref.code else check_code(ref.code)
        except InvalidValueError:
            code = None
        found = self._templates.get(ref.code, ref.version) if code else None
        if found is None:
            raise InvalidValueError(f"{where}: template {ref} does not exist")
        self._known[ref] = found
        return found

    def _validator(self, template: Template) -> Draft202012Validator:
        validator = self._validators.get(template.ref)
        if validator is None:
            validator = self._validators[template.ref] = compile_validator(template)
        return validator

    def _store(self, template: Template) -> Imported:
        if self._templates.create(template):
            self._known[template.ref] = template
            return Imported(template, ImportOutcome.CREATED)
        # Another import stored this version in between: the same outcome rules apply.
        stored = self._templates.get(template.code, template.version)
        if stored is None or not same_content(template, stored):
            raise _changed(template.ref)
        return Imported(stored, ImportOutcome.UNCHANGED)


def _changed(ref: TemplateRef) -> InvalidStateError:
    return InvalidStateError(
        f"template {ref} exists with other content; versions never change: import a new version"
    )
