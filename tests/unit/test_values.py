"""Typed values: validation of client JSON, and the JSON and storage round trips."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.errors import InvalidValueError
from idnode.domain.values import (
    DEFAULT_TTL,
    MAX_INDEX,
    MAX_STRING_DATA,
    MAX_TTL,
    DataFormat,
    Permissions,
    Value,
    ValueData,
    format_timestamp,
    parse_value,
    parse_values,
    value_from_storage,
    value_to_json,
    value_to_storage,
)

HEX_DIGITS = "0123456789abcdefABCDEF"

permissions = st.builds(Permissions, st.booleans(), st.booleans(), st.booleans(), st.booleans())
value_types = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24
)
handles = st.tuples(
    st.from_regex(r"[0-9A-Za-z]{1,4}(\.[0-9A-Za-z]{1,4}){0,2}", fullmatch=True),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1),
).map("/".join)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))
opaque = st.one_of(
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=5), json_leaves, max_size=3),
    st.lists(json_leaves, max_size=3),
)
data = st.one_of(
    st.builds(ValueData, st.just(DataFormat.STRING), st.text(max_size=60)),
    st.builds(
        ValueData,
        st.just(DataFormat.BASE64),
        st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    ),
    st.builds(ValueData, st.just(DataFormat.HEX), st.binary(max_size=30).map(bytes.hex)),
    st.builds(
        ValueData,
        st.just(DataFormat.ADMIN),
        st.fixed_dictionaries(
            {
                "handle": handles,
                "index": st.integers(min_value=0, max_value=MAX_INDEX),
                "permissions": st.text(alphabet="01", min_size=12, max_size=12),
            }
        ),
    ),
    st.builds(
        ValueData,
        st.just(DataFormat.VLIST),
        st.lists(
            st.fixed_dictionaries(
                {"handle": handles, "index": st.integers(min_value=0, max_value=MAX_INDEX)}
            ),
            max_size=3,
        ),
    ),
    st.builds(ValueData, st.sampled_from([DataFormat.SITE, DataFormat.KEY]), opaque),
)
timestamps = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
values = st.builds(
    Value,
    index=st.integers(min_value=1, max_value=MAX_INDEX),
    type=value_types,
    data=data,
    ttl=st.integers(min_value=0, max_value=MAX_TTL),
    timestamp=timestamps,
    permissions=permissions,
)


@settings(max_examples=200)
@given(value=values)
def test_json_round_trip_keeps_everything_but_the_server_timestamp(value: Value) -> None:
    wire = json.loads(json.dumps(value_to_json(value)))
    parsed = parse_value(wire)
    assert parsed == replace(value, timestamp=None)
    assert wire["timestamp"] == format_timestamp(value.timestamp or datetime.now(UTC))


@settings(max_examples=200)
@given(value=values)
def test_storage_round_trip_keeps_every_field(value: Value) -> None:
    stored = json.loads(json.dumps(value_to_storage(value)))
    assert value_from_storage(stored) == value


@settings(max_examples=50)
@given(bits=permissions)
def test_permission_bits_round_trip(bits: Permissions) -> None:
    assert Permissions.from_bits(bits.bits) == bits
    assert len(bits.bits) == 4


def raw(**fields: Any) -> dict[str, Any]:
    return {"index": 1, "type": "URL", "data": "https://example.com", **fields}


def test_defaults_a_bare_string_and_json_shape() -> None:
    value = parse_value(raw())
    assert value == Value(1, "URL", ValueData(DataFormat.STRING, "https://example.com"))
    assert (value.ttl, value.permissions.bits, value.restricted) == (DEFAULT_TTL, "1110", False)
    at = datetime(2025, 3, 4, 5, 6, 7, 890, tzinfo=timezone(timedelta(hours=8)))
    assert value_to_json(value.stamped(at)) == {
        "index": 1,
        "type": "URL",
        "data": {"format": "string", "value": "https://example.com"},
        "ttl": DEFAULT_TTL,
        "timestamp": "2025-03-03T21:06:07Z",
    }


def test_non_default_permissions_are_written_as_bits() -> None:
    value = parse_value(raw(permissions="1100"))
    assert value.restricted
    assert value_to_json(value)["permissions"] == "1100"


def test_storage_without_permissions_reads_as_the_default() -> None:
    stored = value_to_storage(parse_value(raw()).stamped(datetime(2025, 1, 1, tzinfo=UTC)))
    del stored["permissions"]
    assert value_from_storage(stored).permissions == Permissions()


def test_the_client_timestamp_is_ignored() -> None:
    assert parse_value(raw(timestamp="1999-01-01T00:00:00Z")).timestamp is None


@pytest.mark.parametrize(
    ("given_index", "index"), [(7, 7), ("7", 7), (" 42 ", 42), (MAX_INDEX, MAX_INDEX)]
)
def test_index_as_number_or_numeric_string(given_index: object, index: int) -> None:
    assert parse_value(raw(index=given_index)).index == index


@pytest.mark.parametrize(
    "bad", [0, -1, MAX_INDEX + 1, True, False, 1.0, "1.5", "", "one", None, [1]]
)
def test_bad_indexes_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="index"):
        parse_value(raw(index=bad))


# str.isdigit() accepts superscript and circled digits, which int() then rejects with ValueError.
@pytest.mark.parametrize("digits", ["\u00b2", "\u2460"])
def test_an_index_of_unicode_digits_is_refused_as_invalid(digits: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_value(raw(index=digits))


@pytest.mark.parametrize("digits", ["\u00b2", "\u2460"])
def test_a_ttl_of_unicode_digits_is_refused_as_invalid(digits: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_value(raw(ttl=digits))


@pytest.mark.parametrize("bad", ["", "UR L", "URL\u00e9", "x" * 256, 5, None])
def test_bad_types_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="type"):
        parse_value(raw(type=bad))


def test_a_trailing_newline_does_not_make_a_valid_type() -> None:
    with pytest.raises(InvalidValueError, match="type"):
        parse_value(raw(type="URL\n"))


@pytest.mark.parametrize(("given_ttl", "ttl"), [(0, 0), (MAX_TTL, MAX_TTL), ("600", 600)])
def test_ttl_forms(given_ttl: object, ttl: int) -> None:
    assert parse_value(raw(ttl=given_ttl)).ttl == ttl


@pytest.mark.parametrize("bad", [-1, MAX_TTL + 1, True, 1.5, "-5", "soon", None])
def test_bad_ttls_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError, match="ttl"):
        parse_value(raw(ttl=bad))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (5, "data must be a string or an object"),
        (None, "data must be a string or an object"),
        ({"format": "png", "value": "x"}, "unknown data format 'png'"),
        ({"format": "string", "value": 5}, "string data must be a string"),
        ({"format": "string", "value": "x" * (MAX_STRING_DATA + 1)}, "longer than"),
        ({"format": "base64", "value": "not base64!"}, "not valid base64"),
        ({"format": "hex", "value": "abc"}, "not valid hex"),
        ({"format": "hex", "value": "zz"}, "not valid hex"),
        ({"format": "admin", "value": "300:88.100/A"}, "admin data must be an object"),
        ({"format": "admin", "value": {"handle": "ADMIN", "permissions": "1" * 12}}, "handle"),
        (
            {"format": "admin", "value": {"handle": "a/b", "index": "x", "permissions": "1" * 12}},
            "index must be an integer",
        ),
        (
            {"format": "admin", "value": {"handle": "a/b", "index": -1, "permissions": "1" * 12}},
            "out of range",
        ),
        ({"format": "admin", "value": {"handle": "a/b", "permissions": "1" * 11}}, "12 characters"),
        ({"format": "admin", "value": {"handle": "a/b", "permissions": "2" * 12}}, "12 characters"),
        ({"format": "vlist", "value": {"handle": "a/b"}}, "vlist data must be a list"),
        ({"format": "vlist", "value": [{"index": 1}]}, "needs a handle"),
        ({"format": "vlist", "value": [{"handle": "a/b", "index": "x"}]}, "must be an integer"),
        ({"format": "site", "value": 5}, "site data must be"),
        ({"format": "key", "value": None}, "key data must be"),
    ],
)
def test_bad_data_is_refused_with_the_reason(data: object, fragment: str) -> None:
    with pytest.raises(InvalidValueError, match=fragment):
        parse_value(raw(data=data))


def test_the_unknown_format_message_lists_the_known_ones() -> None:
    with pytest.raises(InvalidValueError) as refused:
        parse_value(raw(data={"format": "png", "value": "x"}))
    assert all(f.value in refused.value.message for f in DataFormat)


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("hex", "abc\n"),
        ("admin", {"handle": "88.100/ADMIN", "index": 300, "permissions": "1" * 12 + "\n"}),
    ],
)
def test_a_trailing_newline_does_not_make_valid_data(fmt: str, value: object) -> None:
    with pytest.raises(InvalidValueError):
        parse_value(raw(data={"format": fmt, "value": value}))


def test_admin_data_is_normalised() -> None:
    value = parse_value(
        raw(
            type="HS_ADMIN",
            data={
                "format": "admin",
                "value": {
                    "handle": "88.100/A",
                    "index": "300",
                    "permissions": "011111110011",
                    "extra": 1,
                },
            },
        )
    )
    assert value.data == ValueData(
        DataFormat.ADMIN, {"handle": "88.100/A", "index": 300, "permissions": "011111110011"}
    )
    no_index = parse_value(
        raw(data={"format": "admin", "value": {"handle": "a/b", "permissions": "1" * 12}})
    )
    assert no_index.data.value["index"] == 0


def test_an_hs_admin_value_needs_admin_data() -> None:
    # An HS_ADMIN that names nobody would still count as the record's admin list and lock
    # every admin identity out of the record.
    with pytest.raises(InvalidValueError, match="admin"):
        parse_value(raw(index=100, type="HS_ADMIN", data="anyone"))


def test_vlist_entries_default_their_index() -> None:
    value = parse_value(raw(data={"format": "vlist", "value": [{"handle": "a/b"}]}))
    assert value.data.value == [{"handle": "a/b", "index": 0}]


@pytest.mark.parametrize(
    ("fields", "bits"),
    [
        ({}, "1110"),
        ({"restricted": True}, "1100"),
        ({"restricted": False}, "1110"),
        ({"permissions": "1011"}, "1011"),
        ({"permissions": {"publicRead": False}}, "1100"),
        ({"permissions": {"adminWrite": False, "publicWrite": True}}, "1011"),
        ({"permissions": "1100", "restricted": False}, "1100"),
    ],
)
def test_permission_forms(fields: dict[str, Any], bits: str) -> None:
    assert parse_value(raw(**fields)).permissions.bits == bits


@pytest.mark.parametrize(
    "fields",
    [
        {"restricted": "yes"},
        {"permissions": "11"},
        {"permissions": "11a0"},
        {"permissions": {"publicRead": "no"}},
        {"permissions": 1110},
    ],
)
def test_bad_permissions_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueError):
        parse_value(raw(**fields))


def test_parse_values_checks_the_list() -> None:
    assert [v.index for v in parse_values([raw(index=2), raw(index=1)], max_values=2)] == [2, 1]
    with pytest.raises(InvalidValueError, match="must be a list"):
        parse_values({"index": 1}, max_values=5)
    with pytest.raises(InvalidValueError, match="too many values: 3"):
        parse_values([raw(index=i) for i in (1, 2, 3)], max_values=2)
    with pytest.raises(InvalidValueError, match="index 1 appears more than once"):
        parse_values([raw(index=1), raw(index="1")], max_values=5)
    with pytest.raises(InvalidValueError, match="must be an object"):
        parse_values(["URL"], max_values=5)


@pytest.mark.parametrize(
    ("types", "indexes", "selected"),
    [
        ((), (), True),
        (("URL",), (), True),
        (("URL.mobile",), (), False),
        (("URLX",), (), False),
        (("EMAIL",), (1,), True),
        (("EMAIL",), (2,), False),
    ],
)
def test_type_and_index_filters(
    types: tuple[str, ...], indexes: tuple[int, ...], selected: bool
) -> None:
    value = parse_value(raw(index=1, type="URL"))
    assert value.matches(frozenset(types), frozenset(indexes)) is selected


def test_a_parent_type_selects_its_subtypes() -> None:
    mobile = parse_value(raw(type="URL.mobile"))
    assert mobile.matches(frozenset({"URL"}), frozenset())
    assert not parse_value(raw(type="URLmobile")).matches(frozenset({"URL"}), frozenset())
