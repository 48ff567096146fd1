"""Metadata templates and master data (SN-9, PL-2).

A template (the top-level node's T4 dataset, the SNMS template shape) lists the fields of an
object type's master data: each field is carried by one Handle value, of type `idType` at
index `idIndex`, whose string data is the field's value. A record names its template with
the value at index 1001 (`<code>@<version>`); its master data is the object built from the
values at the template's field indexes, checked against the JSON Schema generated from that
exact template version.

Versions are immutable, so a record keeps validating against the version it names however
many versions follow; it moves to another only when it is upgraded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

# jsonschema ships no type information (and types-jsonschema is not a dependency).
from idnode.domain.errors import InvalidHandleError, InvalidValueError
from idnode.domain.handles import validate_prefix
from idnode.domain.industries import parse_industry
from idnode.domain.records import TEMPLATE_INDEX, Record
from idnode.domain.values import MAX_INDEX, DataFormat, Value, ValueData

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

# The type the node writes at index 1001; a value of any type there names a template.
TEMPLATE_TYPE = "IDNODE_TEMPLATE"
# HS_ADMIN's conventional index: a field there would fight the record's administrators.
ADMIN_INDEX = 100
RESERVED_INDEXES = frozenset({ADMIN_INDEX, TEMPLATE_INDEX})
# Field values are string data of at most this many characters (the SNMS limit).
MAX_FIELD_LENGTH = 255
MAX_FIELDS = 200  # a record holds at most 256 values; leave room for the others
MAX_NAME = 128
MAX_ALIAS = 64
MAX_INDUSTRY_CODES = 50
MAX_IMPORT = 100

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
VERSION_PATTERN = r"^(0|[1-9][0-9]{0,3})(\.(0|[1-9][0-9]{0,3})){1,2}$"
FIELD_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_CODE = re.compile(CODE_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_FIELD_NAME = re.compile(FIELD_NAME_PATTERN)
_ID_TYPE = re.compile(r"^[\x21-\x7e]{1,255}$")
_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

_TEMPLATE_KEYS = frozenset(
    {
        "code",
        "name",
        "version",
        "kind",
        "industryCodes",
        "objectType",
        "items",
        "description",
    }
)
_ITEM_KEYS = frozenset({"name", "alias", "idType", "idIndex", "required", "metadata"})
_METADATA_KEYS = frozenset({"type", "minLength", "maxLength"})


class TemplateKind(StrEnum):
    CORE = "core"  # fields every object has, whatever its industry
    INDUSTRY = "industry"  # an industry's template, for one or more GB/T 4754 codes
    ENTERPRISE = "enterprise"  # an enterprise's extension of a core or industry template


class ObjectType(StrEnum):
    """What the identified object is. `device` also covers active identifier carriers
    (modules, chips and gateways that hold their own identifier)."""

    PRODUCT = "product"
    DEVICE = "device"
    BATCH = "batch"
    COMPONENT = "component"
    MATERIAL = "material"
    EQUIPMENT = "equipment"
    PACKAGE = "package"
    ASSET = "asset"
    OTHER = "other"


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"  # ISO 8601 calendar date, 2026-11-24
    DATETIME = "datetime"  # ISO 8601 with a zone, 2026-11-24T08:00:00Z


@dataclass(frozen=True, slots=True)
class TemplateRef:
    code: str
    version: str

    def __str__(self) -> str:
        return f"{self.code}@{self.version}"


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    id_type: str
    id_index: int
    type: FieldType
    required: bool = False
    alias: str = ""
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """One version of a template. `items` are its own fields; an extension's `inherited`
    fields are its base's (copied when it was defined: the base version cannot change)."""

    code: str
    version: str
    name: str
    kind: TemplateKind
    object_type: ObjectType
    items: tuple[TemplateField, ...]
    industry_codes: tuple[str, ...] = ()
    description: str = ""
    owner: str | None = None
    base: TemplateRef | None = None
    inherited: tuple[TemplateField, ...] = ()
    created_at: int = 0
    created_by: str = ""

    @property
    def ref(self) -> TemplateRef:
        return TemplateRef(self.code, self.version)

    @property
    def fields(self) -> tuple[TemplateField, ...]:
        """Every field a record of this template has: inherited ones first."""
        return (*self.inherited, *self.items)

    def field_named(self, name: str) -> TemplateField | None:
        return next((f for f in self.fields if f.name == name), None)


def version_order(version: str) -> tuple[int, int, int]:
    """Sort key of a version: `1.10` follows `1.9`, `1.0` and `1.0.0` sort together."""
    parts = [int(p) for p in version.split(".")]
    return (parts[0], parts[1], parts[2] if len(parts) > 2 else 0)  # noqa: PLR2004 - major.minor.patch


def check_version(raw: object, where: str = "version") -> str:
    if not isinstance(raw, str) or not _VERSION.fullmatch(raw):
        raise InvalidValueError(
            f"{where}: {raw!r} is not a version: MAJOR.MINOR or MAJOR.MINOR.PATCH, whole "
            "numbers without leading zeros (e.g. 1.0, 2.3.1)"
        )
    return raw


def check_code(raw: object, where: str = "code") -> str:
    if not isinstance(raw, str) or not _CODE.fullmatch(raw):
        raise InvalidValueError(
            f"{where}: {raw!r} is not a template code: a letter or digit, then up to 63 "
            "letters, digits, '.', '_' or '-'"
        )
    return raw


def check_extension_code(raw: object, where: str = "code") -> tuple[str, str]:
    """An extension's code is `<enterprise prefix>/<name>`: (prefix, code)."""
    if not isinstance(raw, str) or raw.count("/") != 1:
        raise InvalidValueError(
            f"{where}: {raw!r}: an extension's code is your prefix, '/', and a name "
            "(e.g. 88.100.1000/pump-ext)"
        )
    prefix, name = raw.split("/")
    try:
        validate_prefix(prefix)
    except InvalidHandleError as error:
        raise InvalidValueError(f"{where}: {error.message}") from None
    check_code(name, where)
    return prefix, raw


def parse_ref(text: str, where: str = "template") -> TemplateRef:
    """`<code>@<version>`, as the value at index 1001 holds it."""
    code, at, version = text.strip().rpartition("@")
    if not at or not code:
        raise InvalidValueError(f"{where}: {text!r} is not <code>@<version>")
    check_version(version, where)
    return TemplateRef(code, version)


# Parsing the import format


def _fail(where: str, message: str) -> InvalidValueError:
    return InvalidValueError(f"{where}: {message}")


def _unknown_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise _fail(
            f"{prefix}{unknown[0]}", f"not a template attribute ({', '.join(sorted(known))})"
        )


def _text(raw: Mapping[str, Any], key: str, where: str, *, limit: int, required: bool) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "a non-empty string is required")
    if len(value) > limit:
        raise _fail(where, f"at most {limit} characters, not {len(value)}")
    return value.strip()


def _length(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"a whole number from 0 to {MAX_FIELD_LENGTH} is expected")
    if not 0 <= value <= MAX_FIELD_LENGTH:
        raise _fail(
            where,
            f"{value} is outside 0..{MAX_FIELD_LENGTH} (field values are strings of at most "
            f"{MAX_FIELD_LENGTH} characters)",
        )
    return value


def parse_field(raw: object, where: str) -> TemplateField:
    if not isinstance(raw, Mapping):
        raise _fail(where, "an object with name, idType, idIndex, required and metadata")
    _unknown_keys(raw, _ITEM_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise _fail(
            f"{where}.name",
            f"{name!r} is not a field name: a letter, then up to 63 letters, digits or _",
        )
    alias = _text(raw, "alias", f"{where}.alias", limit=MAX_ALIAS, required=False)
    id_type = raw.get("idType")
    if not isinstance(id_type, str) or not _ID_TYPE.fullmatch(id_type):
        raise _fail(f"{where}.idType", f"{id_type!r}: 1-255 printable ASCII characters, no spaces")
    if id_type.upper().startswith("HS_") or id_type == TEMPLATE_TYPE:
        raise _fail(f"{where}.idType", f"{id_type} is reserved for the Handle system and the node")
    index = raw.get("idIndex")
    if isinstance(index, bool) or not isinstance(index, int):
        raise _fail(f"{where}.idIndex", f"{index!r} is not a whole number")
    if not 1 <= index <= MAX_INDEX:
        raise _fail(f"{where}.idIndex", f"{index} is outside the Handle index range 1..{MAX_INDEX}")
    if index in RESERVED_INDEXES:
        what = "HS_ADMIN" if index == ADMIN_INDEX else "the template reference"
        raise _fail(f"{where}.idIndex", f"{index} is reserved for {what}")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise _fail(f"{where}.required", "true or false")
    metadata = raw.get("metadata")
    if not isinstance(metadata, Mapping):
        raise _fail(f"{where}.metadata", "an object with the field's type is required")
    _unknown_keys(metadata, _METADATA_KEYS, f"{where}.metadata")
    kind = metadata.get("type")
    try:
        field_type = FieldType(str(kind) if isinstance(kind, str) else "")
    except ValueError:
        kinds = ", ".join(t.value for t in FieldType)
        raise _fail(f"{where}.metadata.type", f"{kind!r} is not one of {kinds}") from None
    minimum = _length(metadata, "minLength", f"{where}.metadata.minLength")
    maximum = _length(metadata, "maxLength", f"{where}.metadata.maxLength")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise _fail(f"{where}.metadata.minLength", f"{minimum} exceeds maxLength {maximum}")
    return TemplateField(
        name=name,
        id_type=id_type,
        id_index=index,
        type=field_type,
        required=required,
        alias=alias,
        min_length=minimum,
        max_length=maximum,
    )


def parse_fields(
    raw: object, where: str = "items", *, beside: Sequence[TemplateField] = ()
) -> tuple[TemplateField, ...]:
    """A template's own fields; names, indexes and types must be unique among themselves and
    differ from those of `beside` (an extension's base fields)."""
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "a non-empty list of fields is required")
    if len(raw) + len(beside) > MAX_FIELDS:
        raise _fail(where, f"a template has at most {MAX_FIELDS} fields")
    fields = [parse_field(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    taken: dict[tuple[str, object], str] = {}
    for base_field in beside:
        owner = f"base field {base_field.name}"
        taken[("name", base_field.name)] = owner
        taken[("idIndex", base_field.id_index)] = owner
        taken[("idType", base_field.id_type)] = owner
    for i, item in enumerate(fields):
        here = f"{where}[{i}]"
        for attribute, key in (
            ("name", item.name),
            ("idIndex", item.id_index),
            ("idType", item.id_type),
        ):
            holder = taken.get((attribute, key))
            if holder is not None:
                raise _fail(f"{here}.{attribute}", f"{key} is used by {holder} already")
            taken[(attribute, key)] = f"{where}[{i}] ({item.name})"
    return tuple(fields)


def _industry_codes(raw: object, kind: TemplateKind) -> tuple[str, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _fail("industryCodes", "a list of GB/T 4754 codes")
    if len(raw) > MAX_INDUSTRY_CODES:
        raise _fail("industryCodes", f"at most {MAX_INDUSTRY_CODES} codes")
    codes = [parse_industry(code, f"industryCodes[{i}]").code for i, code in enumerate(raw)]
    for i, code in enumerate(codes):
        if code in codes[:i]:
            raise _fail(f"industryCodes[{i}]", f"{code} appears more than once")
    if kind is TemplateKind.INDUSTRY and not codes:
        raise _fail("industryCodes", "an industry template names at least one GB/T 4754 code")
    return tuple(codes)


def parse_template(raw: object) -> Template:
    """A core or industry template in the top-level node's JSON format; every error names
    the attribute at fault (`items[2].idIndex: ...`)."""
    if not isinstance(raw, Mapping):
        raise InvalidValueError("a template is a JSON object")
    _unknown_keys(raw, _TEMPLATE_KEYS, "")
    code = check_code(raw.get("code"))
    version = check_version(raw.get("version"))
    name = _text(raw, "name", "name", limit=MAX_NAME, required=True)
    description = _text(raw, "description", "description", limit=500, required=False)
    kind_raw = raw.get("kind")
    if kind_raw not in {TemplateKind.CORE.value, TemplateKind.INDUSTRY.value}:
        raise _fail(
            "kind",
            f"{kind_raw!r}: core or industry (an enterprise's template extends one with "
            "extendTemplate)",
        )
    kind = TemplateKind(kind_raw)
    object_type = parse_object_type(raw.get("objectType"))
    return Template(
        code=code,
        version=version,
        name=name,
        kind=kind,
        object_type=object_type,
        industry_codes=_industry_codes(raw.get("industryCodes"), kind),
        items=parse_fields(raw.get("items")),
        description=description,
    )


def parse_object_type(raw: object, where: str = "objectType") -> ObjectType:
    try:
        return ObjectType(raw if isinstance(raw, str) else "")
    except ValueError:
        kinds = ", ".join(t.value for t in ObjectType)
        raise _fail(where, f"{raw!r} is not one of {kinds}") from None


def parse_templates(raw: object) -> list[Template]:
    """One template or a list of them; in a list, errors are prefixed `templates[i].`."""
    if isinstance(raw, Mapping):
        return [parse_template(raw)]
    if not isinstance(raw, list) or not raw:
        raise InvalidValueError("templates: a template object or a non-empty list of them")
    if len(raw) > MAX_IMPORT:
        raise InvalidValueError(f"templates: at most {MAX_IMPORT} in one import")
    parsed: list[Template] = []
    for i, item in enumerate(raw):
        try:
            template = parse_template(item)
        except InvalidValueError as error:
            raise InvalidValueError(f"templates[{i}].{error.message}") from None
        for j, earlier in enumerate(parsed):
            if earlier.ref == template.ref:
                raise InvalidValueError(f"templates[{i}]: {template.ref} is templates[{j}] already")
        parsed.append(template)
    return parsed


def extension(  # noqa: PLR0917 - an extension's parts, as extendTemplate gives them
    base: Template,
    code: str,
    version: str,
    name: str,
    items: object,
    owner: str,
    description: str = "",
) -> Template:
    """An enterprise's extension of `base`: the base's fields plus its own, which must not
    clash with them."""
    if base.kind is TemplateKind.ENTERPRISE:
        raise _fail("base", f"{base.ref} is an extension itself; extend a core or industry one")
    check_extension_code(code)
    check_version(version)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise _fail("name", f"a non-empty string of at most {MAX_NAME} characters")
    if len(description) > 500:  # noqa: PLR2004 - the import format's limit
        raise _fail("description", "at most 500 characters")
    return Template(
        code=code,
        version=version,
        name=name.strip(),
        kind=TemplateKind.ENTERPRISE,
        object_type=base.object_type,
        industry_codes=base.industry_codes,
        items=parse_fields(items, beside=base.fields),
        description=description.strip(),
        owner=owner,
        base=base.ref,
        inherited=base.fields,
    )


# The export format (also what is stored)


def field_document(item: TemplateField) -> dict[str, Any]:
    metadata: dict[str, Any] = {"type": item.type.value}
    if item.min_length is not None:
        metadata["minLength"] = item.min_length
    if item.max_length is not None:
        metadata["maxLength"] = item.max_length
    document: dict[str, Any] = {"name": item.name}
    if item.alias:
        document["alias"] = item.alias
    document.update(
        idType=item.id_type, idIndex=item.id_index, required=item.required, metadata=metadata
    )
    return document


def export(template: Template) -> dict[str, Any]:
    """The template in the import format (an extension adds `base` and `owner`): importing
    the export of a core or industry template gives the same template back."""
    document: dict[str, Any] = {
        "code": template.code,
        "name": template.name,
        "version": template.version,
        "kind": template.kind.value,
        "industryCodes": list(template.industry_codes),
        "objectType": template.object_type.value,
    }
    if template.description:
        document["description"] = template.description
    if template.base is not None:
        document["base"] = {"code": template.base.code, "version": template.base.version}
        document["owner"] = template.owner
    document["items"] = [field_document(item) for item in template.items]
    return document


def to_storage(template: Template) -> dict[str, Any]:
    document = export(template)
    if template.inherited:
        document["inheritedItems"] = [field_document(item) for item in template.inherited]
    return document


def from_storage(document: Mapping[str, Any], created_at: int, created_by: str) -> Template:
    """Rebuild a template this node stored (validated when written)."""
    base = document.get("base")
    return Template(
        code=document["code"],
        version=document["version"],
        name=document["name"],
        kind=TemplateKind(document["kind"]),
        object_type=ObjectType(document["objectType"]),
        industry_codes=tuple(document.get("industryCodes", ())),
        items=tuple(_stored_field(item) for item in document["items"]),
        description=document.get("description", ""),
        owner=document.get("owner"),
        base=TemplateRef(base["code"], base["version"]) if base else None,
        inherited=tuple(_stored_field(item) for item in document.get("inheritedItems", ())),
        created_at=created_at,
        created_by=created_by,
    )


def _stored_field(item: Mapping[str, Any]) -> TemplateField:
    metadata = item["metadata"]
    return TemplateField(
        name=item["name"],
        id_type=item["idType"],
        id_index=int(item["idIndex"]),
        type=FieldType(metadata["type"]),
        required=bool(item.get("required", False)),
        alias=item.get("alias", ""),
        min_length=metadata.get("minLength"),
        max_length=metadata.get("maxLength"),
    )


def same_content(one: Template, other: Template) -> bool:
    """Whether two definitions of a version are the same (who stored it, and when, aside)."""
    return to_storage(one) == to_storage(other)


# JSON Schema


def _property(item: TemplateField) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": item.alias or item.name}
    if item.type is FieldType.STRING:
        schema["type"] = "string"
        if item.min_length is not None:
            schema["minLength"] = item.min_length
        schema["maxLength"] = MAX_FIELD_LENGTH if item.max_length is None else item.max_length
    elif item.type is FieldType.DATE:
        schema.update(type="string", format="date")
    elif item.type is FieldType.DATETIME:
        schema.update(type="string", format="date-time")
    else:
        schema["type"] = item.type.value
    schema["x-idType"] = item.id_type
    schema["x-idIndex"] = item.id_index
    return schema


def json_schema(template: Template) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of the template's master data object."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:idnode:template:{template.ref}",
        "title": template.name,
        "type": "object",
        "properties": {item.name: _property(item) for item in template.fields},
        "required": [item.name for item in template.fields if item.required],
        "additionalProperties": False,
    }


def compile_validator(template: Template) -> Draft202012Validator:
    # Imported here: the GraphQL schema imports this module for its enums, and jsonschema
    # costs its cold start tens of milliseconds that only a master data check needs.
    from jsonschema import Draft202012Validator, FormatChecker  # noqa: PLC0415

    schema = json_schema(template)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(validator: Draft202012Validator, template: Template, data: object) -> None:
    """Raise, naming the field, unless `data` is valid master data of `template`."""
    errors = sorted(validator.iter_errors(data), key=_error_order)
    if not errors:
        return
    error = errors[0]
    raise InvalidValueError(f"master data: {_describe(error, template, data)}")


def _error_order(error: ValidationError) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))


def _describe(error: ValidationError, template: Template, data: object) -> str:
    if error.absolute_path:
        return f"{error.absolute_path[0]}: {error.message!s}"
    if error.validator == "required" and isinstance(data, Mapping):
        missing = [f.name for f in template.fields if f.required and f.name not in data]
        if missing:
            return f"{missing[0]}: required by {template.ref} but missing"
    if error.validator == "additionalProperties" and isinstance(data, Mapping):
        extra = sorted(str(k) for k in data if template.field_named(str(k)) is None)
        if extra:
            return f"{extra[0]}: not a field of {template.ref}"
    return str(error.message)


# Master data: record values <-> the typed object


def _check_length(item: TemplateField, text: str, what: str) -> None:
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidValueError(f"{what}: at most {MAX_FIELD_LENGTH} characters")
    if item.type is FieldType.STRING:
        return  # the schema checks a string's bounds
    # Lengths of other types bound their written form (the string stored in the value).
    if item.min_length is not None and len(text) < item.min_length:
        raise InvalidValueError(f"{what}: {text!r} is shorter than {item.min_length}")
    if item.max_length is not None and len(text) > item.max_length:
        raise InvalidValueError(f"{what}: {text!r} is longer than {item.max_length}")


def _integer(text: str, what: str) -> object:
    if not _INTEGER.fullmatch(text):
        raise InvalidValueError(f"{what}: {text!r} is not an integer")
    return int(text)


def _number(text: str, what: str) -> object:
    if not _NUMBER.fullmatch(text):
        raise InvalidValueError(f"{what}: {text!r} is not a number")
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        raise InvalidValueError(f"{what}: {text!r} is out of range")
    return number


def _boolean(text: str, what: str) -> object:
    if text not in {"true", "false"}:
        raise InvalidValueError(f"{what}: {text!r} is not true or false")
    return text == "true"


def _date(text: str, what: str) -> object:
    if not _DATE.fullmatch(text) or not _parses(date.fromisoformat, text):
        raise InvalidValueError(f"{what}: {text!r} is not a date (YYYY-MM-DD)")
    return text


def _datetime(text: str, what: str) -> object:
    if not _DATETIME.fullmatch(text) or not _parses(datetime.fromisoformat, text):
        raise InvalidValueError(
            f"{what}: {text!r} is not a date and time with a zone (2026-11-24T08:00:00Z)"
        )
    return text


_CONVERTERS: dict[FieldType, Callable[[str, str], object]] = {
    FieldType.STRING: lambda text, _what: text,
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
}


def _convert(item: TemplateField, text: str) -> object:
    """A field's typed value from the string its value holds."""
    what = f"master data: {item.name}"
    _check_length(item, text, what)
    return _CONVERTERS[item.type](text, what)


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _field_text(item: TemplateField, value: Value) -> str:
    what = f"master data: {item.name}"
    if value.type != item.id_type:
        raise InvalidValueError(
            f"{what}: the value at index {item.id_index} has type {value.type}, the template "
            f"expects {item.id_type}"
        )
    if value.data.format is not DataFormat.STRING or not isinstance(value.data.value, str):
        raise InvalidValueError(f"{what}: the value at index {item.id_index} must be string data")
    return value.data.value


def template_ref_of(record: Record) -> TemplateRef | None:
    """The template a record names at index 1001 (None: it has no master data)."""
    value = record.value_at(TEMPLATE_INDEX)
    if value is None:
        return None
    if value.data.format is not DataFormat.STRING or not isinstance(value.data.value, str):
        raise InvalidValueError(
            f"value {TEMPLATE_INDEX}: the template reference is string data <code>@<version>"
        )
    return parse_ref(value.data.value, f"value {TEMPLATE_INDEX}")


def master_data(template: Template, values: Sequence[Value]) -> dict[str, Any]:
    """The typed object of the values at the template's field indexes; a value of the wrong
    type or format there is an error naming the field."""
    by_index = {value.index: value for value in values}
    data: dict[str, Any] = {}
    for item in template.fields:
        value = by_index.get(item.id_index)
        if value is not None:
            data[item.name] = _convert(item, _field_text(item, value))
    return data


def field_text(item: TemplateField, raw: object) -> str:
    """The string a field's JSON value is stored as (checked against the schema first)."""
    if item.type is FieldType.BOOLEAN:
        return "true" if raw else "false"
    if item.type in {FieldType.NUMBER, FieldType.INTEGER}:
        return json.dumps(raw)
    return str(raw)


def field_values(
    template: Template, data: Mapping[str, Any], current: Sequence[Value] = ()
) -> list[Value]:
    """The values carrying `data` (valid master data of `template`), and the template
    reference. A value already at a field's index keeps its TTL and permissions."""
    existing = {value.index: value for value in current}
    written = [(TEMPLATE_INDEX, TEMPLATE_TYPE, str(template.ref))]
    written.extend(
        (item.id_index, item.id_type, field_text(item, data[item.name]))
        for item in template.fields
        if item.name in data
    )
    values = []
    for index, kind, text in written:
        before = existing.get(index)
        data_value = ValueData(DataFormat.STRING, text)
        if before is None:
            values.append(Value(index=index, type=kind, data=data_value))
        else:
            values.append(Value(index, kind, data_value, before.ttl, None, before.permissions))
    return values


@dataclass(frozen=True, slots=True)
class MasterData:
    handle: str
    template: TemplateRef
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0


def iter_field_indexes(template: Template) -> Iterator[int]:
    return (item.id_index for item in template.fields)
