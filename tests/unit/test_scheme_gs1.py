"""GS1 keys: check digits, character sets, the three written forms and their canonical key.

biip serves as the independent reference: what we accept, it accepts, and the Digital Link
URI we render is the one it calls canonical.
"""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey
from idnode.domain.schemes.gs1 import (
    CHARACTER_SET_82,
    Gs1Key,
    digital_link_path,
    digital_link_uri,
    key_kind,
    parent_key,
    parse_gs1,
    parse_key,
    primary_key,
)

SET_82 = "".join(sorted(CHARACTER_SET_82))


def with_check_digit(payload: str) -> str:
    return payload + str(gs1_standard_check_digit(payload))


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=size, max_size=size)


gtin_14s = digits(13).map(with_check_digit)
set_82_texts = st.text(alphabet=SET_82, min_size=1, max_size=20)
ascii_texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=24)


# --- golden examples (GS1 General Specifications and Digital Link standard) ---


@pytest.mark.parametrize(
    ("kind", "written", "canonical"),
    [
        (Gs1Key.GTIN, "09506000134352", "01/09506000134352"),
        (Gs1Key.GTIN, "9506000134352", "01/09506000134352"),  # GTIN-13
        (Gs1Key.GTIN, "614141123452", "01/00614141123452"),  # GTIN-12
        (Gs1Key.GTIN, "95012346", "01/00000095012346"),  # GTIN-8
        (Gs1Key.SSCC, "106141412345678908", "00/106141412345678908"),
        (Gs1Key.GLN, "9506000134352", "414/9506000134352"),
        (Gs1Key.GLN, "0614141000005", "414/0614141000005"),
        (Gs1Key.GRAI, "00614141000418", "8003/00614141000418"),
        (Gs1Key.GRAI, "00614141000418AB-12", "8003/00614141000418AB-12"),
        (Gs1Key.GIAI, "0614141ABC123", "8004/0614141ABC123"),
    ],
)
def test_bare_keys_of_a_known_kind(kind: Gs1Key, written: str, canonical: str) -> None:
    key = parse_key(kind, written)
    assert key == SchemeKey(Scheme.GS1, canonical)
    assert key.suffix() == canonical
    assert key_kind(key) is kind


def test_the_standard_digital_link_example() -> None:
    key = parse_gs1("https://id.gs1.org/01/09506000134352/10/AB-123/21/12345")
    assert str(key) == "gs1:01/09506000134352/10/AB-123/21/12345"
    assert digital_link_path(key) == "/01/09506000134352/10/AB-123/21/12345"
    assert primary_key(key) == parse_key(Gs1Key.GTIN, "09506000134352")


@pytest.mark.parametrize(
    "written",
    [
        "(01)09506000134352(21)ABC",
        "(01) 09506000134352 (21) ABC",
        "(21)ABC(01)09506000134352(17)251231",  # order free; the expiry date is not key
        "https://id.gs1.org/01/09506000134352/21/ABC",
        "https://resolver.example.com/some/prefix/01/9506000134352/21/ABC?17=251231&x=1",
        "http://example.com/gtin/09506000134352/ser/ABC#top",  # Digital Link 1.1 short names
        "01/09506000134352/21/ABC",
        "/01/09506000134352/21/ABC",
        "gs1:01/09506000134352/21/ABC",
    ],
)
def test_every_written_form_gives_the_same_key(written: str) -> None:
    assert parse_gs1(written) == SchemeKey(Scheme.GS1, "01/09506000134352/21/ABC")


def test_qualifiers_are_put_in_digital_link_order() -> None:
    key = parse_gs1("(21)S1(10)L1(01)09506000134352(22)V1")
    assert key.value == "01/09506000134352/22/V1/10/L1/21/S1"


def test_gln_with_extension_and_sscc_from_a_uri() -> None:
    assert parse_gs1("(414)0614141000005(254)DOCK-3").value == "414/0614141000005/254/DOCK-3"
    sscc = parse_gs1("https://id.gs1.org/00/106141412345678908?02=00614141123452&37=25")
    assert sscc.value == "00/106141412345678908"


def test_reserved_characters_are_percent_encoded_in_the_path() -> None:
    key = parse_gs1("(01)09506000134352(21)A/B?C")
    assert key.value == "01/09506000134352/21/A%2FB%3FC"
    assert parse_gs1(digital_link_uri(key)) == key
    assert parse_gs1(key.value) == key


def test_walking_up_from_qualifiers() -> None:
    item = parse_gs1("(01)09506000134352(10)L1(21)S1")
    lot = parent_key(item)
    assert lot is not None
    assert lot.value == "01/09506000134352/10/L1"
    assert parent_key(lot) == primary_key(item) == parse_key(Gs1Key.GTIN, "9506000134352")
    assert parent_key(primary_key(item)) is None


# --- errors name the scheme, the part and what is wrong ---


@pytest.mark.parametrize(
    ("kind", "written", "message"),
    [
        (Gs1Key.GTIN, "09506000134353", "gs1: GTIN 09506000134353 has check digit 3, expected 2"),
        (Gs1Key.GTIN, "950600013435", "GTIN 950600013435 has check digit 5, expected"),
        (Gs1Key.GTIN, "0950600013435", "GTIN 0950600013435 has check digit 5, expected"),
        (Gs1Key.GTIN, "123456789", "GTIN 123456789 has 9 digits, expected 8 or 12 or 13 or 14"),
        (Gs1Key.GTIN, "0950600013435X", "GTIN '0950600013435X' must be digits only"),
        (Gs1Key.SSCC, "106141412345678909", "SSCC 106141412345678909 has check digit 9"),
        (Gs1Key.SSCC, "10614141234567890", "SSCC 10614141234567890 has 17 digits, expected 18"),
        (Gs1Key.GLN, "0614141000006", "GLN 0614141000006 has check digit 6, expected 5"),
        (Gs1Key.GRAI, "00614141000419", "GRAI 00614141000419 has check digit 9, expected 8"),
        (Gs1Key.GRAI, "10614141000418", "expected the filler digit 0"),
        (Gs1Key.GRAI, "0061414100041", "must start with 14 digits"),
        (Gs1Key.GRAI, "00614141000418" + "A" * 17, "GRAI serial has 17 characters, at most 16"),
        (Gs1Key.GRAI, "00614141000418A B", "outside GS1 character set 82: ' '"),
        (Gs1Key.GIAI, "0614141" + "9" * 24, "GIAI has 31 characters, at most 30"),
        (Gs1Key.GIAI, "0614141#1", "GIAI '0614141#1' has characters outside GS1 character set 82"),
        (Gs1Key.GIAI, "", "GIAI is empty"),
    ],
)
def test_bare_key_errors(kind: Gs1Key, written: str, message: str) -> None:
    with pytest.raises(InvalidHandleError, match=r"^gs1: ") as raised:
        parse_key(kind, written)
    assert message in raised.value.message
    assert raised.value.response_code == 102


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("", "the key is empty"),
        ("09506000134352", "a bare key needs its kind"),
        ("(01)9506000134352", "GTIN 9506000134352 has 13 digits, expected 14"),
        ("(01)09506000134352(21)" + "S" * 21, "serial has 21 characters, at most 20"),
        ("(01)09506000134352(21)é", "outside GS1 character set 82"),
        ("(10)L1(17)251231", "exactly one primary key"),
        ("(01)09506000134352(00)106141412345678908", "found (01), (00)"),
        ("(01)09506000134352(21)A(21)B", "repeat application identifier (21)"),
        ("(01)09506000134352(254)X", "'254' is not a qualifier of a GTIN"),
        ("(01)09506000134352(17)251399", "(17)"),  # biip checks the data attributes
        ("(01)09506000134352 trailing", "GTIN '09506000134352trailing' must be digits only"),
        ("(01)", "not of the form (AI)value"),
        ("ftp://id.gs1.org/01/09506000134352", "has scheme 'ftp', expected https or http"),
        ("https://id.gs1.org/products/123", "has no primary key in its path"),
        ("https://id.gs1.org/01/09506000134352/21", "odd number of segments"),
        ("https://id.gs1.org/01/09506000134352/21/S/10/L", "'10' is not a qualifier of a GTIN"),
        ("https://id.gs1.org/00/106141412345678908/21/S", "'21' is not a qualifier of a SSCC"),
        ("https://id.gs1.org/01/09506000134352/21/S/21/T", "'21' is not a qualifier"),
        ("01//21/A", "GTIN '' must be digits only"),
        ("gs1:02/09506000134352", "starts with '02', expected a primary key"),
    ],
)
def test_written_form_errors(written: str, message: str) -> None:
    with pytest.raises(InvalidHandleError, match=r"^gs1: ") as raised:
        parse_gs1(written)
    assert message in raised.value.message


def test_keys_of_other_schemes_are_refused() -> None:
    with pytest.raises(InvalidHandleError, match=r"gs1: oid:1\.2\.156 is not a GS1 key"):
        digital_link_path(SchemeKey(Scheme.OID, "1.2.156"))


def test_character_set_82_is_the_standard_one() -> None:
    assert len(CHARACTER_SET_82) == 82


# --- properties ---


@given(gtin_14s)
def test_a_gtin_round_trips_through_every_form(gtin: str) -> None:
    key = parse_key(Gs1Key.GTIN, gtin)
    assert key.value == f"01/{gtin}"
    assert parse_gs1(str(key)) == key
    assert parse_gs1(key.suffix()) == key
    assert parse_gs1(digital_link_uri(key, host="id.example.com")) == key
    assert parse_gs1(f"(01){gtin}") == key
    if gtin.startswith("0"):  # a GTIN-13 or shorter written without its padding
        digits = gtin.lstrip("0")
        short = next(length for length in (8, 12, 13, 14) if length >= len(digits))
        assert parse_key(Gs1Key.GTIN, digits.rjust(short, "0")) == key


@given(gtin_14s, st.integers(min_value=1, max_value=9))
def test_a_wrong_check_digit_is_refused(gtin: str, shift: int) -> None:
    wrong = gtin[:-1] + str((int(gtin[-1]) + shift) % 10)
    with pytest.raises(InvalidHandleError, match=f"has check digit {wrong[-1]}, expected"):
        parse_key(Gs1Key.GTIN, wrong)


@given(
    gtin_14s,
    st.fixed_dictionaries(
        {}, optional={"22": set_82_texts, "10": set_82_texts, "21": set_82_texts}
    ),
)
def test_qualified_gtins_agree_with_biip(gtin: str, qualifiers: dict[str, str]) -> None:
    hri = f"(01){gtin}" + "".join(f"({ai}){value}" for ai, value in qualifiers.items())
    if "(" in "".join(qualifiers.values()) or ")" in "".join(qualifiers.values()):
        # The printed form cannot carry parentheses in values; the URI form can.
        return
    key = parse_gs1(hri)
    uri = digital_link_uri(key)
    assert GS1DigitalLinkURI.parse(uri).as_canonical_uri() == uri
    assert parse_gs1(uri) == key
    assert parse_gs1(key.value) == key
    assert primary_key(key) == parse_key(Gs1Key.GTIN, gtin)


@given(set_82_texts.filter(lambda text: "(" not in text and ")" not in text))
def test_serials_survive_the_uri_form(serial: str) -> None:
    key = parse_gs1(f"(01)09506000134352(21){serial}")
    parsed = GS1DigitalLinkURI.parse(digital_link_uri(key))
    serials = [element.value for element in parsed.element_strings if element.ai.ai == "21"]
    assert serials == [serial]


def biip_accepts(element_string: str) -> bool:
    try:
        GS1ElementString.parse(element_string)
    except ParseError:
        return False
    return True


def we_accept(kind: Gs1Key, value: str) -> bool:
    try:
        parse_key(kind, value)
    except InvalidHandleError:
        return False
    return True


@given(ascii_texts)
def test_giai_validation_matches_biip(value: str) -> None:
    assert we_accept(Gs1Key.GIAI, value) == biip_accepts(f"8004{value}")


@given(digits(12), st.one_of(ascii_texts, st.text(alphabet=SET_82, max_size=18)))
def test_grai_validation_matches_biip_and_the_check_digit(payload: str, serial: str) -> None:
    value = "0" + with_check_digit(payload) + serial
    assert we_accept(Gs1Key.GRAI, value) == biip_accepts(f"8003{value}")


@given(ascii_texts)
def test_serial_validation_matches_biip(serial: str) -> None:
    ours = True
    try:
        parse_gs1(f"01/09506000134352/21/{quote(serial, safe='')}")
    except InvalidHandleError:
        ours = False
    assert ours == biip_accepts(f"21{serial}")
