"""The scheme dispatcher and the shared key: string form and node identifier suffix."""

from __future__ import annotations

import dataclasses

import pytest

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey, parse

VAA_ID = "2Z6jFm8sQwcvMaEHqDn5KbXhRyTuPLs"


@pytest.mark.parametrize(
    ("scheme", "text", "value", "suffix"),
    [
        (Scheme.OID, "urn:oid:1.2.156.3001", "1.2.156.3001", "oid/1.2.156.3001"),
        ("oid", "2.999", "2.999", "oid/2.999"),
        (Scheme.ECODE, "212345678pump01", "212345678PUMP01", "ecode/212345678PUMP01"),
        ("vaa", f"did:vaa:{VAA_ID}", f"did:vaa:{VAA_ID}", f"vaa/{VAA_ID}"),
        (Scheme.HANDLE, "88.100.1234/PUMP-0001", "88.100.1234/PUMP-0001", "PUMP-0001"),
    ],
)
def test_parse_dispatches_to_the_scheme(
    scheme: Scheme | str, text: str, value: str, suffix: str
) -> None:
    key = parse(scheme, text)
    assert key == SchemeKey(Scheme(scheme), value)
    assert str(key) == f"{Scheme(scheme).value}:{value}"
    assert key.suffix() == suffix


@pytest.mark.parametrize(
    ("scheme", "text", "begins"),
    [
        (Scheme.OID, "1.40", "oid: "),
        (Scheme.ECODE, "9123", "ecode: "),
        (Scheme.VAA, "did:vaa:short", "vaa: "),
        (Scheme.HANDLE, "no-slash", "'no-slash'"),
    ],
)
def test_parse_raises_the_schemes_error(scheme: Scheme, text: str, begins: str) -> None:
    with pytest.raises(InvalidHandleError) as caught:
        parse(scheme, text)
    assert caught.value.message.startswith(begins)
    assert caught.value.response_code == 102


def test_unknown_scheme_is_rejected_listing_the_known_ones() -> None:
    with pytest.raises(InvalidHandleError, match=r"unknown identifier scheme 'isbn'.*gs1, oid"):
        parse("isbn", "978-3-16-148410-0")


def test_key_string_and_gs1_suffix_use_the_digital_link_path() -> None:
    key = SchemeKey(Scheme.GS1, "01/09506000134352/21/ABC")
    assert str(key) == "gs1:01/09506000134352/21/ABC"
    assert key.suffix() == "01/09506000134352/21/ABC"


def test_key_is_immutable_and_hashable() -> None:
    key = SchemeKey(Scheme.OID, "1.2.156")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.value = "1.2.157"  # type: ignore[misc]
    assert {key, SchemeKey(Scheme.OID, "1.2.156")} == {key}


def test_scheme_names_are_the_published_ones() -> None:
    assert [scheme.value for scheme in Scheme] == ["handle", "gs1", "oid", "ecode", "vaa"]


def test_parse_dispatches_gs1() -> None:
    key = parse(Scheme.GS1, "https://id.gs1.org/01/09506000134352/10/AB-123/21/12345")
    assert key.scheme is Scheme.GS1
    assert key.value.startswith("01/09506000134352")
