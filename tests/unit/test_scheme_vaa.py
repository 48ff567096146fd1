"""VAA identifiers: did:vaa: plus 27-31 base58 characters, case-sensitive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey, vaa

method_ids = st.text(vaa.BASE58_ALPHABET, min_size=27, max_size=31)
SAMPLE_ID = "2Z6jFm8sQwcvMaEHqDn5KbXhRyTuPLs"  # 31 base58 characters


def rejected(text: str) -> str:
    with pytest.raises(InvalidHandleError) as caught:
        vaa.parse(text)
    assert caught.value.message.startswith("vaa: ")
    return caught.value.message


def test_base58_alphabet_is_bitcoins() -> None:
    assert len(vaa.BASE58_ALPHABET) == 58
    assert not set("0OIl") & set(vaa.BASE58_ALPHABET)


def test_key_string_and_node_suffix() -> None:
    key = vaa.parse(f"did:vaa:{SAMPLE_ID}")
    assert key == SchemeKey(Scheme.VAA, f"did:vaa:{SAMPLE_ID}")
    assert str(key) == f"vaa:did:vaa:{SAMPLE_ID}"
    assert key.suffix() == f"vaa/{SAMPLE_ID}"


def test_prefix_is_written_lower_case_and_the_id_kept_as_written() -> None:
    assert vaa.parse(f"DID:VAA:{SAMPLE_ID}").value == f"did:vaa:{SAMPLE_ID}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        (SAMPLE_ID, "does not start with 'did:vaa:'"),
        (f"did:example:{SAMPLE_ID}", "does not start with"),
        (f"vaa:{SAMPLE_ID}", "does not start with"),
        ("did:vaa:", "has 0 characters, expected 27 to 31"),
        (f"did:vaa:{SAMPLE_ID[:26]}", "has 26 characters"),
        (f"did:vaa:{SAMPLE_ID}A", "has 32 characters"),
        (f"did:vaa:0{SAMPLE_ID[1:]}", "contains '0'"),
        (f"did:vaa:O{SAMPLE_ID[1:]}", "contains 'O'"),
        (f"did:vaa:I{SAMPLE_ID[1:]}", "contains 'I'"),
        (f"did:vaa:l{SAMPLE_ID[1:]}", "contains 'l'"),
        (f"did:vaa: {SAMPLE_ID[1:]}", "contains ' '"),
    ],
)
def test_invalid_identifiers_are_rejected_naming_the_problem(text: str, says: str) -> None:
    assert says in rejected(text)


@given(method_ids)
def test_canonical_round_trip(method_id: str) -> None:
    key = vaa.parse(f"did:vaa:{method_id}")
    assert key.value == f"did:vaa:{method_id}"
    assert vaa.parse(key.value) == key
    assert key.suffix() == f"vaa/{method_id}"


@given(method_ids, st.data(), st.characters().filter(lambda c: c not in vaa.BASE58_ALPHABET))
def test_any_non_base58_character_is_rejected(
    method_id: str, data: st.DataObject, intruder: str
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(method_id) - 1))
    mutated = method_id[:position] + intruder + method_id[position + 1 :]
    assert "not a base58 character" in rejected(f"did:vaa:{mutated}")


@given(st.text(vaa.BASE58_ALPHABET, max_size=26) | st.text(vaa.BASE58_ALPHABET, min_size=32))
def test_wrong_lengths_are_rejected(method_id: str) -> None:
    assert "expected 27 to 31" in rejected(f"did:vaa:{method_id}")


@given(method_ids)
def test_case_matters_in_the_id(method_id: str) -> None:
    swapped = method_id.swapcase()
    if swapped != method_id and all(char in vaa.BASE58_ALPHABET for char in swapped):
        assert vaa.parse(f"did:vaa:{swapped}") != vaa.parse(f"did:vaa:{method_id}")
