"""Ecode (GB/T 31866): version, NSI and MD by version; canonical upper case."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey, ecode

ALPHANUMERIC = string.digits + string.ascii_letters


@st.composite
def ecodes(draw: st.DrawFn) -> str:
    version = draw(st.sampled_from(sorted(ecode.VERSIONS)))
    rules = ecode.VERSIONS[version]
    nsi = draw(st.text(string.digits, min_size=rules.nsi_length, max_size=rules.nsi_length))
    md_chars = string.digits if rules.md_digits_only else ALPHANUMERIC
    md = draw(st.text(md_chars, min_size=1, max_size=rules.md_max_length))
    return version + nsi + md


def rejected(text: str) -> str:
    with pytest.raises(InvalidHandleError) as caught:
        ecode.parse(text)
    assert caught.value.message.startswith("ecode: ")
    return caught.value.message


def test_v1_code_splits_into_its_parts() -> None:
    code = "1" + "1001" + "00000000000000000042"
    parts = ecode.split(code)
    assert (parts.version, parts.nsi, parts.md) == ("1", "1001", "00000000000000000042")
    assert len(code) == 25
    key = ecode.parse(code)
    assert key == SchemeKey(Scheme.ECODE, code)
    assert str(key) == f"ecode:{code}"
    assert key.suffix() == f"ecode/{code}"


def test_letters_are_written_upper_case() -> None:
    assert ecode.parse("212345678pump0001").value == "212345678PUMP0001"
    assert ecode.parse("312345Ab9").value == "312345AB9"


def test_v0_is_accepted_for_gs1_compatible_codes() -> None:
    parts = ecode.split("006901234567892")
    assert (parts.version, parts.nsi, parts.md) == ("0", "", "06901234567892")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("0", "no code after it"),
        ("5123412345", "version V5 is not defined"),
        ("9", "version V9 is not defined"),
        ("A1234", "version VA is not defined"),
        ("1100", "NSI '100' is not 4 digits"),
        ("1AB011234", "NSI 'AB01' is not 4 digits as V1 requires"),
        ("2123456", "NSI '123456' is not 8 digits as V2 requires"),
        ("31234X5", "NSI '1234X' is not 5 digits"),
        ("11001", "no master data code"),
        ("11001" + "1" * 21, "MD has 21 characters, more than 20 for V1"),
        ("212345678" + "A" * 26, "more than 25 for V2"),
        ("312345" + "A" * 40, "more than 39 for V3"),
        ("11001123A", "MD '123A' must be digits only in V1"),
        ("11001 123", "contains ' '"),
        ("2123456781-2", "contains '-'"),
        ("2123456781\u0131", "contains '\u0131'"),  # dotless i upper-cases to ASCII 'I'
        ("21234567812\u00df", "contains"),
        ("0" + "1" * 64, "longer than 64"),
    ],
)
def test_invalid_ecodes_are_rejected_naming_the_problem(text: str, says: str) -> None:
    assert says in rejected(text)


@given(ecodes())
def test_canonical_round_trip(text: str) -> None:
    key = ecode.parse(text)
    assert key.value == text.upper()
    assert ecode.parse(key.value) == key
    assert ecode.parse(text.lower()) == key
    parts = ecode.split(text)
    assert parts.code == key.value


@given(ecodes(), st.data(), st.characters(exclude_characters=ALPHANUMERIC))
def test_any_other_character_is_rejected(text: str, data: st.DataObject, intruder: str) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert "contains" in rejected(text[:position] + intruder + text[position:])


@given(ecodes())
def test_shortened_nsi_is_rejected(text: str) -> None:
    rules = ecode.VERSIONS[text[0]]
    # Cutting the code inside the NSI leaves too few NSI digits, or no MD at all.
    cut = text[: 1 + rules.nsi_length - 1]
    message = rejected(cut)
    assert "NSI" in message


@given(ecodes(), st.sampled_from(string.ascii_uppercase))
def test_letter_in_nsi_is_rejected(text: str, letter: str) -> None:
    assert "NSI" in rejected(text[0] + letter + text[2:])


@given(st.sampled_from("56789"), st.text(ALPHANUMERIC, max_size=30))
def test_undefined_versions_are_rejected(version: str, rest: str) -> None:
    assert f"version V{version} is not defined" in rejected(version + rest)
