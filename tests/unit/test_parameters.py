"""System parameters: their JSON form, and validation that names every bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from idnode.domain.errors import InvalidValueError
from idnode.domain.parameters import (
    NodeType,
    Parameters,
    PriceList,
    is_division,
    parse_parameters,
)

PRICE = {"effective_from": "2025-01", "registration": "0.02", "resolution": "0.0002"}


def refused(document: Any) -> str:
    with pytest.raises(InvalidValueError) as caught:
        parse_parameters(document)
    return caught.value.message


def test_the_defaults_are_valid_and_survive_their_json_form() -> None:
    assert parse_parameters(Parameters().to_json()) == Parameters()
    assert parse_parameters({}) == Parameters()


def test_a_full_document_round_trips() -> None:
    parameters = parse_parameters(
        {
            "node_name": "Pumps and valves node",
            "node_type": "industry",
            "industries": ["C34"],
            "first_enterprise_number": 20000,
            "prices": [
                {**PRICE, "effective_from": "2024-01", "currency": "CNY"},
                {**PRICE, "free_resolutions": 0},
            ],
            "operation_log_retention_days": 180,
            "telemetry_retention_days": 3650,
            "max_page_size": 10,
            "max_pending_applications": 20,
            "identifier_quota": 0,
            "suspension_stops_resolution": True,
        }
    )
    assert parameters.node_type is NodeType.INDUSTRY
    assert parameters.prices[1] == PriceList(
        "2025-01", "CNY", Decimal("0.02"), Decimal("0.0002"), 0
    )
    assert parse_parameters(parameters.to_json()) == parameters


def test_a_comprehensive_node_lists_no_industry_or_two_or_more() -> None:
    assert parse_parameters({"industries": []}).industries == ()
    assert parse_parameters({"industries": ["C34", "I65"]}).industries == ("C34", "I65")


def test_fields_left_out_keep_the_base_values() -> None:
    base = parse_parameters({"node_type": "industry", "industries": ["C34"]})
    changed = parse_parameters({"max_page_size": 50}, base=base)
    assert (changed.node_type, changed.industries, changed.max_page_size) == (
        NodeType.INDUSTRY,
        ("C34",),
        50,
    )


def test_decimals_are_kept_exact_and_written_as_plain_strings() -> None:
    parameters = parse_parameters(
        {"prices": [{**PRICE, "registration": "0.010", "resolution": "0.000001"}]}
    )
    assert parameters.prices[0].registration == Decimal("0.01")
    written = parameters.to_json()["prices"][0]
    assert (written["registration"], written["resolution"]) == ("0.01", "0.000001")
    hundred = parse_parameters({"prices": [{**PRICE, "registration": "1E+2"}]})
    assert hundred.to_json()["prices"][0]["registration"] == "100"
    assert parse_parameters({"prices": [{**PRICE, "registration": 2}]}).prices[0].registration == 2


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"node_type": "industry"}, "industries: an industry node serves exactly one"),
        (
            {"node_type": "industry", "industries": ["C34", "C35"]},
            "industries: an industry node serves exactly one GB/T 4754 division (2 given)",
        ),
        ({"industries": ["C34"]}, "industries: a comprehensive node serves any industry"),
        ({"node_type": "regional"}, "node_type: must be industry or comprehensive"),
        ({"industries": ["C99", "C34"]}, "industries: item 1 ('C99') is not a GB/T 4754 division"),
        ({"industries": ["A06", "B06"]}, "industries: item 1 ('A06')"),  # A covers 01-05
        ({"industries": ["c34", "C35"]}, "industries: item 1 ('c34')"),
        ({"industries": ["C3", "C35"]}, "industries: item 1 ('C3')"),
        ({"industries": ["C341", "C35"]}, "industries: item 1 ('C341')"),
        ({"industries": ["U01", "C35"]}, "industries: item 1 ('U01')"),
        ({"industries": ["C34", 34]}, "industries: item 2 (34)"),
        ({"industries": ["C34", "C34", "C35"]}, "industries: C34 is listed twice"),
        ({"industries": "C34"}, "industries: must be a list"),
        ({"prices": []}, "prices: must be a non-empty list"),
        ({"prices": "free"}, "prices: must be a non-empty list"),
        ({"prices": [7]}, "prices: price list 1: must be an object"),
        ({"prices": [{"registration": "1"}]}, "price list 1: effective_from: is required"),
        ({"prices": [{**PRICE, "discount": "1"}]}, "price list 1: unknown fields: discount"),
        ({"prices": [{**PRICE, "effective_from": "2025-13"}]}, "effective_from: '2025-13' is not"),
        ({"prices": [{**PRICE, "effective_from": "2025-1"}]}, "effective_from: '2025-1' is not"),
        ({"prices": [{**PRICE, "effective_from": "25-01"}]}, "effective_from: '25-01' is not"),
        (
            {"prices": [PRICE, {**PRICE, "effective_from": "2024-12"}]},
            "prices: months must be unique and in increasing order (2024-12 follows 2025-01)",
        ),
        (
            {"prices": [PRICE, PRICE]},
            "prices: months must be unique and in increasing order (2025-01 follows 2025-01)",
        ),
        ({"prices": [{**PRICE, "registration": "-0.01"}]}, "registration: must not be negative"),
        (
            {"prices": [{**PRICE, "resolution": "0.0000001"}]},
            "resolution: at most 6 decimal places",
        ),
        ({"prices": [{**PRICE, "registration": "cheap"}]}, "registration: 'cheap' is not a deci"),
        ({"prices": [{**PRICE, "registration": 0.01}]}, "registration: must be a decimal string"),
        ({"prices": [{**PRICE, "registration": True}]}, "registration: must be a decimal string"),
        ({"prices": [{**PRICE, "registration": None}]}, "registration: must be a decimal string"),
        ({"prices": [{**PRICE, "registration": "NaN"}]}, "registration: must be a finite number"),
        ({"prices": [{**PRICE, "resolution": "Infinity"}]}, "resolution: must be a finite number"),
        ({"prices": [{**PRICE, "registration": "1000001"}]}, "registration: must not exceed"),
        ({"prices": [{**PRICE, "currency": "cny"}]}, "currency: 'cny' is not a three-letter"),
        ({"prices": [{**PRICE, "currency": "CN"}]}, "currency: 'CN' is not a three-letter"),
        ({"prices": [{**PRICE, "currency": "CNYY"}]}, "currency: 'CNYY'"),
        ({"prices": [{**PRICE, "currency": 156}]}, "currency: 156"),
        ({"prices": [{**PRICE, "free_resolutions": -1}]}, "free_resolutions: must be at least 0"),
        (
            {"operation_log_retention_days": 179},
            "operation_log_retention_days: must be between 180 and 3650 (the law requires",
        ),
        ({"operation_log_retention_days": 3651}, "operation_log_retention_days: must be between"),
        ({"telemetry_retention_days": 0}, "telemetry_retention_days: must be between 1 and 3650"),
        ({"telemetry_retention_days": 3651}, "telemetry_retention_days: must be between 1 and"),
        ({"max_page_size": 9}, "max_page_size: must be between 10 and 1000"),
        ({"max_page_size": 1001}, "max_page_size: must be between 10 and 1000"),
        ({"max_page_size": True}, "max_page_size: must be a whole number"),
        ({"max_page_size": 50.0}, "max_page_size: must be a whole number"),
        ({"max_page_size": "50"}, "max_page_size: must be a whole number"),
        ({"max_pending_applications": 0}, "max_pending_applications: must be between 1 and 20"),
        ({"max_pending_applications": 21}, "max_pending_applications: must be between 1 and 20"),
        ({"identifier_quota": -1}, "identifier_quota: must be at least 0 (0: unlimited)"),
        ({"first_enterprise_number": 0}, "first_enterprise_number: must be between 1 and 99999999"),
        ({"first_enterprise_number": 100_000_000}, "first_enterprise_number: must be between"),
        ({"node_name": ""}, "node_name: must not be empty"),
        ({"node_name": "   "}, "node_name: must not be empty"),
        ({"node_name": "x" * 201}, "node_name: at most 200 characters"),
        ({"node_name": "a\nb"}, "node_name: must not contain control characters"),
        ({"node_name": 7}, "node_name: must be a string"),
        ({"suspension_stops_resolution": "yes"}, "suspension_stops_resolution: must be true or"),
        ({"colour": "blue", "size": 1}, "unknown parameters: colour, size"),
    ],
)
def test_each_bad_input_is_named(document: dict[str, Any], named: str) -> None:
    assert named in refused(document)


def test_every_bad_input_is_named_at_once() -> None:
    message = refused(
        {
            "max_page_size": 5,
            "telemetry_retention_days": 0,
            "prices": [PRICE, {**PRICE, "effective_from": "2025-02", "currency": "yen"}],
            "colour": "blue",
        }
    )
    assert message.startswith("invalid parameters: ")
    for named in (
        "max_page_size:",
        "telemetry_retention_days:",
        "price list 2: currency:",
        "unknown parameters: colour",
    ):
        assert named in message


def test_a_document_must_be_an_object() -> None:
    assert refused(["node_name"]) == "parameters must be a JSON object"


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("A01", True),
        ("A05", True),
        ("C13", True),
        ("C34", True),
        ("C43", True),
        ("K70", True),
        ("S96", True),
        ("T97", True),
        ("A00", False),
        ("B05", False),
        ("C44", False),
        ("T98", False),
        ("C", False),
        ("C3401", False),
        ("", False),
    ],
)
def test_gb_t_4754_divisions(code: str, valid: bool) -> None:
    assert is_division(code) is valid


def test_the_price_list_in_force_is_the_latest_started() -> None:
    parameters = parse_parameters(
        {"prices": [{**PRICE, "effective_from": "2024-01"}, {**PRICE, "effective_from": "2025-01"}]}
    )
    assert parameters.price_on("2023-12") is None
    assert parameters.price_on("2024-06") == parameters.prices[0]
    assert parameters.price_on("2025-01") == parameters.prices[1]
