"""GraphQL queries and mutations of metadata templates and master data (SN-9, PL-2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from idnode.api.graphql.context import Info
from idnode.api.graphql.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    InvalidStateError,
    NotAuthorisedError,
    NotFoundError,
    PrefixNotServedError,
    typed_errors,
)
from idnode.api.graphql.types import Connection, connection, time_of
from idnode.domain import templates as domain
from idnode.domain.templates import FieldType, ObjectType, TemplateKind, TemplateRef
from idnode.services.templates import Imported, ImportOutcome, TemplateService

DEFAULT_PAGE = 50

strawberry.enum(
    TemplateKind,
    name="TemplateKind",
    description="CORE (every object), INDUSTRY (for GB/T 4754 industries), ENTERPRISE (an "
    "enterprise's extension of a core or industry template).",
)
strawberry.enum(
    FieldType,
    name="TemplateFieldType",
    description="What a field's value is; values are stored as strings and converted: "
    "STRING, NUMBER, INTEGER, BOOLEAN (true/false), DATE (2026-11-24), DATETIME "
    "(2026-11-24T08:00:00Z, with a zone).",
)
strawberry.enum(
    ObjectType,
    name="TemplateObjectType",
    description="What the identified object is; DEVICE also covers active identifier carriers.",
)
strawberry.enum(
    ImportOutcome,
    name="TemplateImportOutcome",
    description="CREATED, or UNCHANGED: this version was imported before with the same content.",
)


def _templates(info: Info) -> TemplateService:
    """The node's template service (`Node.templates`)."""
    return info.context.node.templates


@strawberry.type(description="A template version: a code and a version.")
class TemplateReference:
    code: str
    version: str

    @classmethod
    def of(cls, ref: TemplateRef) -> TemplateReference:
        return cls(code=ref.code, version=ref.version)


@strawberry.type(description="A field of master data, carried by the value at `idIndex`.")
class TemplateField:
    name: str
    alias: str
    id_type: str = strawberry.field(description="The type of the value carrying the field.")
    id_index: int = strawberry.field(description="The index of the value carrying the field.")
    required: bool
    type: FieldType
    min_length: int | None
    max_length: int | None
    inherited: bool = strawberry.field(description="Defined by the base template.")

    @classmethod
    def of(cls, item: domain.TemplateField, *, inherited: bool) -> TemplateField:
        return cls(
            name=item.name,
            alias=item.alias,
            id_type=item.id_type,
            id_index=item.id_index,
            required=item.required,
            type=item.type,
            min_length=item.min_length,
            max_length=item.max_length,
            inherited=inherited,
        )


@strawberry.type(
    description="One version of a metadata template (immutable once imported). A record "
    "names it at index 1001 as `<code>@<version>`."
)
class MetadataTemplate:
    code: str
    version: str
    name: str
    description: str
    kind: TemplateKind
    object_type: ObjectType
    industry_codes: list[str] = strawberry.field(description="GB/T 4754 codes.")
    owner: str | None = strawberry.field(description="The enterprise of an extension.")
    base: TemplateReference | None = strawberry.field(description="What an extension extends.")
    created_at: datetime
    created_by: str
    _template: strawberry.Private[domain.Template]

    @strawberry.field(description="Every field of its master data: inherited ones first.")
    def fields(self) -> list[TemplateField]:
        template = self._template
        return [
            *(TemplateField.of(f, inherited=True) for f in template.inherited),
            *(TemplateField.of(f, inherited=False) for f in template.items),
        ]

    @strawberry.field(description="The JSON Schema (Draft 2020-12) its master data must meet.")
    def json_schema(self) -> JSON:
        return cast(JSON, domain.json_schema(self._template))

    @strawberry.field(
        name="export",
        description="The template in the import format (importTemplates takes it back).",
    )
    def exported(self) -> JSON:
        return cast(JSON, domain.export(self._template))

    @classmethod
    def of(cls, template: domain.Template) -> MetadataTemplate:
        return cls(
            code=template.code,
            version=template.version,
            name=template.name,
            description=template.description,
            kind=template.kind,
            object_type=template.object_type,
            industry_codes=list(template.industry_codes),
            owner=template.owner,
            base=TemplateReference.of(template.base) if template.base else None,
            created_at=time_of(template.created_at),
            created_by=template.created_by,
            _template=template,
        )


@strawberry.type(description="A template of an import or extension, and what became of it.")
class ImportedTemplate:
    template: MetadataTemplate
    outcome: ImportOutcome

    @classmethod
    def of(cls, imported: Imported) -> ImportedTemplate:
        return cls(template=MetadataTemplate.of(imported.template), outcome=imported.outcome)


@strawberry.type(description="The templates of an import, in the order given.")
class TemplateImport:
    templates: list[ImportedTemplate]


@strawberry.type(description="An identifier's master data, as typed JSON.")
class MasterData:
    handle: str
    template: TemplateReference
    data: JSON = strawberry.field(description="Field name -> typed value.")
    version: int = strawberry.field(description="The identifier's version.")

    @classmethod
    def of(cls, found: domain.MasterData) -> MasterData:
        return cls(
            handle=found.handle,
            template=TemplateReference.of(found.template),
            data=cast(JSON, found.data),
            version=found.version,
        )


@strawberry.input(description="A template version.")
class TemplateReferenceInput:
    code: str
    version: str

    def to_domain(self) -> TemplateRef:
        return TemplateRef(self.code, self.version)


@strawberry.input(description="Templates matching every filter given.")
class TemplateFilter:
    industry_code: str | None = strawberry.field(
        default=None,
        description="Templates applying to this GB/T 4754 industry (naming it or a level above).",
    )
    object_type: ObjectType | None = None
    kind: TemplateKind | None = None
    owner: str | None = strawberry.field(default=None, description="An extension's enterprise.")


@strawberry.input(
    description="An enterprise's extension: a base template's fields plus its own items (in "
    "the import format), which must not reuse the base's names, indexes or types."
)
class ExtendTemplateInput:
    base: TemplateReferenceInput
    code: str = strawberry.field(
        description="One of your prefixes, '/', and a name: 88.100.1000/pump-ext."
    )
    version: str
    name: str
    items: JSON = strawberry.field(description="The extra fields, as in the import format.")
    description: str = ""


@strawberry.input(description="An identifier's whole master data.")
class SetMasterDataInput:
    handle: str
    data: JSON = strawberry.field(description="Field name -> typed value (JSON).")
    template: TemplateReferenceInput | None = strawberry.field(
        default=None, description="Omitted: the template the identifier names already."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Apply only to this version of the identifier."
    )


TemplateResult = Annotated[
    MetadataTemplate | InvalidInputError | NotFoundError | AuthenticationError,
    strawberry.union("TemplateResult"),
]
TemplatesResult = Annotated[
    Connection[MetadataTemplate] | InvalidInputError | AuthenticationError,
    strawberry.union("TemplatesResult"),
]
ImportTemplatesResult = Annotated[
    TemplateImport
    | InvalidInputError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("ImportTemplatesResult"),
]
ExtendTemplateResult = Annotated[
    ImportedTemplate
    | InvalidInputError
    | InvalidStateError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("ExtendTemplateResult"),
]
MasterDataResult = Annotated[
    MasterData
    | InvalidInputError
    | NotFoundError
    | InvalidStateError
    | ConflictError
    | PrefixNotServedError
    | AuthenticationError
    | NotAuthorisedError,
    strawberry.union("MasterDataResult"),
]


@strawberry.type
class TemplatesQuery:
    @strawberry.field(description="A template version; the latest when `version` is omitted.")
    @typed_errors
    async def template(self, info: Info, code: str, version: str | None = None) -> TemplateResult:
        found = _templates(info).template(info.context.principal, code, version)
        return MetadataTemplate.of(found)

    @strawberry.field(description="Templates, filtered; a page at a time (1 to 100).")
    @typed_errors
    async def templates(
        self,
        info: Info,
        filter: TemplateFilter | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> TemplatesResult:
        asked = filter or TemplateFilter()
        page = _templates(info).templates(
            info.context.principal,
            industry_code=asked.industry_code,
            object_type=asked.object_type.value if asked.object_type else None,
            kind=asked.kind.value if asked.kind else None,
            owner=asked.owner,
            first=first,
            cursor=after,
        )
        return connection(page, MetadataTemplate.of)

    @strawberry.field(description="An identifier's master data (the values you may see).")
    @typed_errors
    async def master_data(self, info: Info, handle: str) -> MasterDataResult:
        return MasterData.of(_templates(info).master_data(info.context.principal, handle))


@strawberry.type
class TemplatesMutation:
    @strawberry.mutation(
        description="Import templates in the top-level node's format, one object or a list "
        "(platform admins). A version imported again with the same content is UNCHANGED; "
        "with other content the import is refused and nothing is stored."
    )
    @typed_errors
    async def import_templates(self, info: Info, templates: JSON) -> ImportTemplatesResult:
        imported = _templates(info).import_templates(info.context.principal, templates)
        return TemplateImport(templates=[ImportedTemplate.of(i) for i in imported])

    @strawberry.mutation(
        description="Define your enterprise's extension of a core or industry template."
    )
    @typed_errors
    async def extend_template(self, info: Info, input: ExtendTemplateInput) -> ExtendTemplateResult:
        imported = _templates(info).extend(
            info.context.principal,
            input.base.to_domain(),
            input.code,
            input.version,
            input.name,
            input.items,
            input.description,
        )
        return ImportedTemplate.of(imported)

    @strawberry.mutation(
        description="Write an identifier's master data: each field as its value, and the "
        "template at index 1001. Fields left out of `data` are removed."
    )
    @typed_errors
    async def set_master_data(self, info: Info, input: SetMasterDataInput) -> MasterDataResult:
        written = _templates(info).set_master_data(
            info.context.principal,
            input.handle,
            cast(Mapping[str, Any], input.data),
            template=input.template.to_domain() if input.template else None,
            expected_version=input.expected_version,
        )
        return MasterData.of(written)

    @strawberry.mutation(
        description="Move an identifier to another version of its template, with `data` or "
        "else its current master data (fields the version lacks are dropped)."
    )
    @typed_errors
    async def upgrade_master_data(
        self,
        info: Info,
        handle: str,
        version: str,
        data: JSON | None = None,
        expected_version: int | None = None,
    ) -> MasterDataResult:
        upgraded = _templates(info).upgrade_master_data(
            info.context.principal,
            handle,
            version,
            data,
            expected_version=expected_version,
        )
        return MasterData.of(upgraded)
