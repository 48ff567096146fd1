"""OID syntax: dotted arcs, root arcs, second-arc limit, canonical form and bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey, oid

arc_numbers = st.integers(min_value=0, max_value=10**30)


@st.composite
def oids(draw: st.DrawFn) -> str:
    first = draw(st.integers(min_value=0, max_value=2))
    second = draw(st.integers(min_value=0, max_value=39 if first < 2 else 10**30))
    rest = draw(st.lists(arc_numbers, max_size=12))
    return ".".join(str(arc) for arc in (first, second, *rest))


def rejected(text: str) -> str:
    with pytest.raises(InvalidHandleError) as caught:
        oid.parse(text)
    assert caught.value.message.startswith("oid: ")
    return caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "1.2.156",
        "2.999",
        "1.2.156.3001",
        "0.0",
        "2.25.329800735698586629295641978511506172918",
        "1",
    ],
)
def test_published_examples_are_valid(text: str) -> None:
    key = oid.parse(text)
    assert key == SchemeKey(Scheme.OID, text)


def test_key_string_and_node_suffix() -> None:
    key = oid.parse("1.2.156.3001")
    assert str(key) == "oid:1.2.156.3001"
    assert key.suffix() == "oid/1.2.156.3001"
    assert oid.arcs(key) == (1, 2, 156, 3001)


@pytest.mark.parametrize("prefix", ["urn:oid:", "URN:OID:", "urn:OID:"])
def test_urn_prefix_is_accepted_and_removed(prefix: str) -> None:
    assert oid.parse(prefix + "1.2.156").value == "1.2.156"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("1..2", "empty arc at position 2"),
        (".1.2", "empty arc at position 1"),
        ("1.2.", "empty arc at position 3"),
        ("urn:oid:", "empty arc at position 1"),
        ("01.2", "leading zero"),
        ("1.02", "leading zero"),
        ("1.2.0156", "arc 3 '0156' has a leading zero"),
        ("3.1", "first arc 3 is not 0, 1 or 2"),
        ("1.40", "second arc 40 is over 39 under first arc 1"),
        ("0.40", "under first arc 0"),
        ("1.-2", "not a non-negative decimal integer"),
        ("1.+2", "not a non-negative decimal integer"),
        ("1. 2", "not a non-negative decimal integer"),
        ("1.2 ", "not a non-negative decimal integer"),
        ("1.\u0663", "not a non-negative decimal integer"),  # Arabic-Indic digit three
        ("1,2", "not a non-negative decimal integer"),
        ("oid:1.2", "not a non-negative decimal integer"),
        ("1.2." + ".".join(["1"] * 127), "more than 128"),
        ("1." + "1" * 1100, "longer than 1024"),
    ],
)
def test_invalid_oids_are_rejected_naming_the_problem(text: str, says: str) -> None:
    assert says in rejected(text)


@given(oids())
def test_canonical_round_trip(text: str) -> None:
    key = oid.parse(text)
    assert key.value == text
    assert oid.parse(key.value) == key
    assert oid.parse("urn:oid:" + text) == key
    assert ".".join(str(arc) for arc in oid.arcs(key)) == text
    assert key.suffix() == f"oid/{text}"


@given(oids(), st.data())
def test_leading_zero_in_any_arc_is_rejected(text: str, data: st.DataObject) -> None:
    arcs = text.split(".")
    position = data.draw(st.integers(min_value=0, max_value=len(arcs) - 1))
    arcs[position] = "0" + arcs[position]
    assert "leading zero" in rejected(".".join(arcs))


@given(oids(), st.data())
def test_empty_arc_anywhere_is_rejected(text: str, data: st.DataObject) -> None:
    arcs = text.split(".")
    position = data.draw(st.integers(min_value=0, max_value=len(arcs)))
    arcs.insert(position, "")
    assert "empty arc" in rejected(".".join(arcs))


@given(oids(), st.data(), st.characters(exclude_characters="0123456789."))
def test_any_non_digit_character_is_rejected(text: str, data: st.DataObject, intruder: str) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    mutated = text[:position] + intruder + text[position:]
    message = rejected(mutated)
    assert "not a non-negative decimal integer" in message or "empty arc" in message


@given(st.integers(min_value=3, max_value=10**6), st.lists(arc_numbers, max_size=4))
def test_first_arc_above_two_is_rejected(first: int, rest: list[int]) -> None:
    assert "first arc" in rejected(".".join(str(arc) for arc in (first, *rest)))


@given(st.integers(min_value=0, max_value=1), st.integers(min_value=40, max_value=10**9))
def test_second_arc_over_39_under_roots_0_and_1_is_rejected(first: int, second: int) -> None:
    assert "second arc" in rejected(f"{first}.{second}")
