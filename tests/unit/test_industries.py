"""GB/T 4754-2017 industry codes: sections, divisions, groups and classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.errors import InvalidValueError
from idnode.domain.industries import SECTIONS, Industry, parse_industry, section_of


@pytest.mark.parametrize(
    ("raw", "code", "division"),
    [
        ("C", "C", None),
        ("C34", "C34", "C34"),
        ("C341", "C341", "C34"),
        ("C3411", "C3411", "C34"),
        (" c3411 ", "C3411", "C34"),
        ("3411", "C3411", "C34"),
        ("01", "A01", "A01"),
        ("I65", "I65", "I65"),
        ("K7010", "K7010", "K70"),
        ("T9700", "T9700", "T97"),
        ("0610", "B0610", "B06"),
    ],
)
def test_valid_codes(raw: str, code: str, division: str | None) -> None:
    industry = parse_industry(raw)
    assert industry.code == code
    assert industry.division == division
    assert industry.statistics_code == (division or code)


def test_sections_cover_divisions_01_to_97_without_gaps_or_overlaps() -> None:
    covered = [d for first, last in SECTIONS.values() for d in range(first, last + 1)]
    assert covered == list(range(1, 98))
    assert len(SECTIONS) == 20
    assert section_of(0) is None
    assert section_of(98) is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "not a GB/T 4754 code"),
        ("U", "no GB/T 4754 section U"),
        ("Z34", "no GB/T 4754 section Z"),
        ("A34", "division 34 belongs to section C, not A (whose divisions are 01-05)"),
        ("C05", "belongs to section A, not C"),
        ("C00", "no GB/T 4754 division 00"),
        ("98", "no GB/T 4754 division 98"),
        ("C3", "not a GB/T 4754 code"),
        ("C34111", "not a GB/T 4754 code"),
        ("CC34", "not a GB/T 4754 code"),
        ("C-34", "not a GB/T 4754 code"),
        ("\uff13\uff14", "not a GB/T 4754 code"),  # full-width digits
        ("T9701", "group 970 is not subdivided, so its only class is 9700"),
    ],
)
def test_invalid_codes_are_refused_with_the_field_named(raw: str, says: str) -> None:
    with pytest.raises(InvalidValueError, match=r"^industry: ") as refused:
        parse_industry(raw)
    assert says in refused.value.message


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidValueError, match=r"^key: a GB/T 4754 code is text"):
        parse_industry(34, "key")


def test_within() -> None:
    industry = parse_industry("C3411")
    assert industry.within("C")
    assert industry.within("C34")
    assert industry.within("c341")
    assert not industry.within("C35")
    assert not parse_industry("C").within("C34")


divisions = st.sampled_from(
    [(letter, d) for letter, (first, last) in SECTIONS.items() for d in range(first, last + 1)]
)


@given(divisions, st.integers(1, 9), st.integers(0, 9), st.booleans())
def test_every_structurally_valid_code_round_trips(
    division: tuple[str, int], group: int, klass: int, with_letter: bool
) -> None:
    letter, number = division
    digits = f"{number:02d}{group}{klass}"
    raw = (letter if with_letter else "") + digits
    industry = parse_industry(raw)
    assert industry == Industry(letter, digits)
    assert parse_industry(industry.code) == industry
    assert industry.division == f"{letter}{number:02d}"


@given(divisions, st.sampled_from(sorted(SECTIONS)))
def test_a_division_under_another_section_is_refused(division: tuple[str, int], other: str) -> None:
    letter, number = division
    if other == letter:
        assert parse_industry(f"{other}{number:02d}").section == letter
    else:
        with pytest.raises(InvalidValueError, match=f"belongs to section {letter}"):
            parse_industry(f"{other}{number:02d}")
