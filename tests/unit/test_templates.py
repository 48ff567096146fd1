"""Templates in the import format, their JSON Schema, and master data built from values."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.errors import InvalidValueError
from idnode.domain.handles import Handle
from idnode.domain.records import TEMPLATE_INDEX, new_record
from idnode.domain.templates import (
    FieldType,
    compile_validator,
    export,
    extension,
    field_values,
    json_schema,
    master_data,
    parse_ref,
    parse_template,
    parse_templates,
    template_ref_of,
    validate,
    version_order,
)
from idnode.domain.values import DataFormat, Value, ValueData
from tests.support.templates import PUMP as SAMPLE

AT = datetime(2026, 11, 24, tzinfo=UTC)
# The shared sample, with a field of every other type.
PUMP: dict[str, Any] = {
    **SAMPLE,
    "name": "Pump",
    "items": [
        *SAMPLE["items"],
        {
            "name": "stages",
            "idType": "STAGES",
            "idIndex": 2002,
            "required": False,
            "metadata": {"type": "integer"},
        },
        {
            "name": "atex",
            "idType": "ATEX",
            "idIndex": 2003,
            "required": False,
            "metadata": {"type": "boolean"},
        },
        {
            "name": "made",
            "idType": "MADE",
            "idIndex": 2004,
            "required": False,
            "metadata": {"type": "date"},
        },
        {
            "name": "tested",
            "idType": "TESTED",
            "idIndex": 2005,
            "required": False,
            "metadata": {"type": "datetime"},
        },
    ],
}


def pump(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(PUMP)
    raw.update(changes)
    return raw


def with_item(index: int, **changes: Any) -> dict[str, Any]:
    raw = pump()
    raw["items"][index].update(changes)
    return raw


def value(index: int, kind: str, text: str) -> Value:
    return Value(index=index, type=kind, data=ValueData(DataFormat.STRING, text))


def test_a_template_round_trips_through_its_export() -> None:
    template = parse_template(PUMP)
    assert export(template) == PUMP
    assert parse_template(export(template)) == template
    assert parse_template({**PUMP, "industryCodes": ["c3441"]}).industry_codes == ("C3441",)
    assert template.industry_codes == ("C3441",)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (pump(code="bad code"), "code: "),
        (pump(version="1"), "version: "),
        (pump(version="01.0"), "version: "),
        (pump(kind="enterprise"), "kind: "),
        (pump(objectType="spaceship"), "objectType: "),
        (pump(industryCodes=[]), "industryCodes: an industry template"),
        (pump(industryCodes=["C3441", "Z99"]), "industryCodes[1]: "),
        (pump(industryCodes=["C34", "c34"]), "industryCodes[1]: C34 appears more than once"),
        (pump(items=[]), "items: "),
        (pump(extra=1), "extra: not a template attribute"),
        (pump(name=""), "name: "),
        (with_item(2, idIndex=2001), "items[2].idIndex: 2001 is used by items[1] (ratedFlow)"),
        (with_item(2, name="ratedFlow"), "items[2].name: ratedFlow is used by items[1]"),
        (with_item(2, idType="MODEL"), "items[2].idType: MODEL is used by items[0]"),
        (with_item(2, idIndex=1001), "items[2].idIndex: 1001 is reserved"),
        (with_item(2, idIndex=100), "items[2].idIndex: 100 is reserved for HS_ADMIN"),
        (with_item(2, idIndex=0), "items[2].idIndex: 0 is outside"),
        (with_item(2, idIndex=2**31), "items[2].idIndex: "),
        (with_item(2, idIndex="7"), "items[2].idIndex: "),
        (with_item(2, idType="HS_ADMIN"), "items[2].idType: HS_ADMIN is reserved"),
        (with_item(2, idType="has space"), "items[2].idType: "),
        (with_item(2, name="9lives"), "items[2].name: "),
        (with_item(2, required="yes"), "items[2].required: "),
        (with_item(2, metadata={"type": "text"}), "items[2].metadata.type: "),
        (with_item(2, metadata=None), "items[2].metadata: "),
        (
            with_item(0, metadata={"type": "string", "maxLength": 300}),
            "items[0].metadata.maxLength",
        ),
        (
            with_item(0, metadata={"type": "string", "minLength": 9, "maxLength": 3}),
            "items[0].metadata.minLength: 9 exceeds maxLength 3",
        ),
        (with_item(0, metadata={"type": "string", "pattern": "x"}), "items[0].metadata.pattern"),
        (with_item(0, colour="red"), "items[0].colour: not a template attribute"),
    ],
)
def test_every_wrong_attribute_is_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        parse_template(raw)
    assert caught.value.message.startswith(message), caught.value.message


def test_a_list_names_the_template_at_fault() -> None:
    with pytest.raises(InvalidValueError, match=r"^templates\[1\]\.items\[2\]\.idIndex"):
        parse_templates([pump(), with_item(2, idIndex=1001)])
    with pytest.raises(InvalidValueError, match=r"templates\[1\]: C34-pump@1.0 is templates\[0\]"):
        parse_templates([pump(), pump()])
    assert len(parse_templates(pump())) == 1


def test_core_templates_need_no_industry() -> None:
    assert parse_template(pump(kind="core", industryCodes=[])).industry_codes == ()


def test_versions_sort_as_numbers() -> None:
    assert version_order("1.10") > version_order("1.9")
    assert version_order("1.0") == version_order("1.0.0")
    assert parse_ref("88.100.1/x@2.1").code == "88.100.1/x"
    with pytest.raises(InvalidValueError):
        parse_ref("no-version")


def test_the_schema_follows_the_fields() -> None:
    schema = json_schema(parse_template(PUMP))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["model", "ratedFlow"]
    props = schema["properties"]
    assert props["model"]["type"] == "string"
    assert (props["model"]["minLength"], props["model"]["maxLength"]) == (1, 64)
    assert props["ratedFlow"]["type"] == "number"
    assert props["stages"]["type"] == "integer"
    assert props["atex"]["type"] == "boolean"
    assert props["made"] == {
        "title": "made",
        "type": "string",
        "format": "date",
        "x-idType": "MADE",
        "x-idIndex": 2004,
    }
    assert props["tested"]["format"] == "date-time"


def test_master_data_is_converted_from_values() -> None:
    template = parse_template(PUMP)
    values = [
        value(2000, "MODEL", "CP-100"),
        value(2001, "RATED_FLOW", "12.5"),
        value(2002, "STAGES", "3"),
        value(2003, "ATEX", "true"),
        value(2004, "MADE", "2026-11-01"),
        value(2005, "TESTED", "2026-11-02T08:00:00Z"),
        value(1, "URL", "https://example.com"),
    ]
    data = master_data(template, values)
    assert data == {
        "model": "CP-100",
        "ratedFlow": 12.5,
        "stages": 3,
        "atex": True,
        "made": "2026-11-01",
        "tested": "2026-11-02T08:00:00Z",
    }
    validate(compile_validator(template), template, data)
    written = field_values(template, data)
    assert master_data(template, written) == data
    assert written[0].index == TEMPLATE_INDEX
    assert written[0].data.value == "C34-pump@1.0"


@pytest.mark.parametrize(
    ("index", "kind", "text", "message"),
    [
        (2001, "RATED_FLOW", "fast", "master data: ratedFlow: 'fast' is not a number"),
        (2002, "STAGES", "3.5", "master data: stages: '3.5' is not an integer"),
        (2003, "ATEX", "yes", "master data: atex: 'yes' is not true or false"),
        (2004, "MADE", "2026-02-30", "master data: made: "),
        (2004, "MADE", "01/11/2026", "master data: made: "),
        (2005, "TESTED", "2026-11-02T08:00:00", "master data: tested: "),
        (2001, "FLOW", "1", "master data: ratedFlow: the value at index 2001 has type FLOW"),
        (2000, "MODEL", "x" * 256, "master data: model: at most 255"),
    ],
)
def test_a_wrong_value_names_its_field(index: int, kind: str, text: str, message: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        master_data(parse_template(PUMP), [value(index, kind, text)])
    assert caught.value.message.startswith(message), caught.value.message


def test_schema_errors_name_the_field() -> None:
    template = parse_template(PUMP)
    validator = compile_validator(template)
    with pytest.raises(InvalidValueError, match=r"^master data: ratedFlow: required"):
        validate(validator, template, {"model": "CP-100"})
    with pytest.raises(InvalidValueError, match=r"^master data: model: "):
        validate(validator, template, {"model": "", "ratedFlow": 1})
    with pytest.raises(InvalidValueError, match=r"^master data: colour: not a field"):
        validate(validator, template, {"model": "a", "ratedFlow": 1, "colour": "red"})
    with pytest.raises(InvalidValueError, match=r"^master data: stages: "):
        validate(validator, template, {"model": "a", "ratedFlow": 1, "stages": "3"})


def test_extensions_add_fields_that_do_not_clash() -> None:
    base = parse_template(PUMP)
    own = [{"name": "colour", "idType": "COLOUR", "idIndex": 3000, "metadata": {"type": "string"}}]
    ext = extension(base, "88.100.1000/pump-ext", "1.0", "Our pump", own, "ent-1")
    assert [f.name for f in ext.fields][-1] == "colour"
    assert len(ext.fields) == len(base.fields) + 1
    assert json_schema(ext)["required"] == ["model", "ratedFlow"]
    clash = [{**own[0], "idIndex": 2001}]
    with pytest.raises(InvalidValueError, match=r"items\[0\]\.idIndex: 2001 is used by base field"):
        extension(base, "88.100.1000/pump-ext", "1.0", "Our pump", clash, "ent-1")
    with pytest.raises(InvalidValueError, match=r"^code: "):
        extension(base, "pump-ext", "1.0", "Our pump", own, "ent-1")
    with pytest.raises(InvalidValueError, match=r"^base: "):
        extension(ext, "88.100.1000/pump-ext2", "1.0", "x", own, "ent-1")


def test_the_record_names_its_template_at_1001() -> None:
    record = new_record(Handle.parse("88.100.1/P"), [value(1001, "IDNODE_TEMPLATE", "a@1.0")], AT)
    ref = template_ref_of(record)
    assert ref is not None
    assert str(ref) == "a@1.0"
    assert template_ref_of(new_record(Handle.parse("88.100.1/P"), [], AT)) is None


# Generated templates and data

_names = st.lists(
    st.from_regex(r"[a-z][a-zA-Z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=8, unique=True
)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(_names)
    items = []
    for i, name in enumerate(names):
        kind = draw(st.sampled_from([t.value for t in FieldType]))
        metadata: dict[str, Any] = {"type": kind}
        if kind == "string" and draw(st.booleans()):
            metadata["minLength"] = draw(st.integers(0, 5))
            metadata["maxLength"] = draw(st.integers(5, 255))
        item: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            item["alias"] = draw(st.text(min_size=1, max_size=10).filter(str.strip)).strip()
        item.update(
            idType=f"T_{name.upper()}",
            idIndex=2000 + i,
            required=draw(st.booleans()),
            metadata=metadata,
        )
        items.append(item)
    return {
        "code": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)),
        "name": "Generated",
        "version": f"{draw(st.integers(0, 99))}.{draw(st.integers(0, 99))}",
        "kind": "industry",
        "industryCodes": ["C34"],
        "objectType": draw(st.sampled_from(["product", "device", "batch", "component"])),
        "items": items,
    }


def _valid(kind: str, draw: st.DrawFn, low: int, high: int) -> Any:
    if kind == "string":
        return draw(st.text(alphabet="abcXYZ01 中", min_size=low, max_size=min(high, 20)))
    if kind == "number":
        return draw(st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-1000, 1000))
    if kind == "integer":
        return draw(st.integers(-(10**12), 10**12))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "date":
        return draw(st.dates()).isoformat()
    moment = draw(st.datetimes(timezones=st.just(UTC)))
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@settings(max_examples=60, deadline=None)
@given(templates())
def test_generated_templates_round_trip(raw: dict[str, Any]) -> None:
    template = parse_template(raw)
    assert parse_template(export(template)) == template


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_generated_data_passes_and_a_broken_required_field_fails(data: st.DataObject) -> None:
    raw = data.draw(templates())
    template = parse_template(raw)
    validator = compile_validator(template)
    master: dict[str, Any] = {}
    for item in template.fields:
        if item.required or data.draw(st.booleans()):
            low = item.min_length or 0
            high = item.max_length if item.max_length is not None else 255
            master[item.name] = _valid(item.type.value, data.draw, low, high)
    validate(validator, template, master)
    # Stored as values and read back, the data is the same.
    assert master_data(template, field_values(template, master)) == {
        k: (float(v) if isinstance(v, float) else v) for k, v in master.items()
    }
    required = [f for f in template.fields if f.required]
    if required:
        target = data.draw(st.sampled_from(required))
        broken = dict(master)
        if data.draw(st.booleans()):
            del broken[target.name]
        else:
            broken[target.name] = [] if target.type is not FieldType.STRING else 5
        with pytest.raises(InvalidValueError, match=rf"^master data: {target.name}: "):
            validate(validator, template, broken)
