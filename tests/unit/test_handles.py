"""Identifier syntax and the Handle System's ASCII-only case rule."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.errors import InvalidHandleError
from idnode.domain.handles import (
    MAX_HANDLE_LENGTH,
    MAX_PREFIX_LENGTH,
    Handle,
    fold_case,
    is_under,
    validate_prefix,
)

SEGMENT_CHARS = string.ascii_letters + string.digits + "-_"
# Every category but C (control, format, surrogate, private use, unassigned).
PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn"))
CONTROL = st.characters(categories=("Cc", "Cf"))

segments = st.text(alphabet=SEGMENT_CHARS, min_size=1, max_size=8)
prefixes = st.lists(segments, min_size=1, max_size=6).map(".".join)
suffixes = st.text(alphabet=PRINTABLE, min_size=1, max_size=40).filter(lambda s: s == s.strip())


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


@settings(max_examples=200)
@given(prefix=prefixes, suffix=suffixes)
def test_any_valid_name_parses_and_its_key_is_the_ascii_folded_name(
    prefix: str, suffix: str
) -> None:
    name = f"{prefix}/{suffix}"
    handle = Handle.parse(name)
    assert (handle.name, handle.prefix, handle.suffix) == (name, prefix, suffix)
    assert handle.key == ascii_lower(name)
    assert handle.prefix_key == ascii_lower(prefix)
    assert str(handle) == name
    assert Handle.parse(str(handle)) == handle
    assert Handle.of(prefix, suffix) == handle


@settings(max_examples=100)
@given(prefix=prefixes, suffix=suffixes)
def test_names_differing_only_in_ascii_case_share_a_key(prefix: str, suffix: str) -> None:
    swapped = f"{prefix.swapcase()}/{_swap_ascii(suffix)}"
    assert Handle.parse(swapped).key == Handle.parse(f"{prefix}/{suffix}").key


def _swap_ascii(text: str) -> str:
    return "".join(c.swapcase() if c.isascii() else c for c in text)


@settings(max_examples=200)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_fold_case_changes_ascii_capitals_only(text: str) -> None:
    folded = fold_case(text)
    assert len(folded) == len(text)
    for before, after in zip(text, folded, strict=True):
        if "A" <= before <= "Z":
            assert after == before.lower()
        else:
            assert after == before


@pytest.mark.parametrize(
    ("capital", "small"),
    [("\u00c9", "\u00e9"), ("\u0414", "\u0434"), ("\u03a3", "\u03c3"), ("\u00d6", "\u00f6")],
)
def test_non_ascii_letters_are_compared_exactly(capital: str, small: str) -> None:
    upper = Handle.parse(f"88.100.1234/PUMP-{capital}")
    lower = Handle.parse(f"88.100.1234/pump-{small}")
    assert upper.key == f"88.100.1234/pump-{capital}"
    assert upper.key != lower.key


@pytest.mark.parametrize("letter", ["\u0130", "\u212a"])
def test_letters_whose_lower_case_changes_length_or_script_are_kept(letter: str) -> None:
    # str.lower() would turn U+0130 into two characters and the Kelvin sign into ASCII "k".
    assert Handle.parse(f"88.100/{letter}1").key == f"88.100/{letter}1"


def test_kelvin_sign_does_not_collide_with_ascii_k() -> None:
    assert Handle.parse("88.100/\u212a1").key != Handle.parse("88.100/k1").key


@settings(max_examples=150)
@given(
    prefix=prefixes,
    suffix=suffixes,
    control=CONTROL,
    position=st.integers(min_value=0, max_value=40),
)
def test_control_and_format_characters_in_the_suffix_are_refused(
    prefix: str, suffix: str, control: str, position: int
) -> None:
    at = min(position, len(suffix))
    bad = f"{prefix}/{suffix[:at]}{control}{suffix[at:]}"
    with pytest.raises(InvalidHandleError) as refused:
        Handle.parse(bad)
    assert refused.value.handle == bad
    if bad.split("/", 1)[1] == bad.split("/", 1)[1].strip():
        # Not refused for white space first: the message names the code point.
        assert f"U+{ord(control):04X}" in refused.value.message


@pytest.mark.parametrize(
    "char", ["\x00", "\x1f", "\x7f", "\u200b", "\u200e", "\ud800", "\ue000", "\U000e0001"]
)
def test_named_control_surrogate_private_and_tag_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidHandleError, match=f"U\\+{ord(char):04X}"):
        Handle.parse(f"88.100/a{char}b")


def test_the_suffix_may_hold_slashes_spaces_and_any_script() -> None:
    handle = Handle.parse("88.100.1234/line 3/泵-0001/ü")
    assert (handle.prefix, handle.suffix) == ("88.100.1234", "line 3/泵-0001/ü")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("88.100.1234", "no '/'"),
        ("/PUMP", "the prefix is empty"),
        ("88.100.1234/", "empty suffix"),
        ("88..100/PUMP", "invalid prefix"),
        (".88/PUMP", "invalid prefix"),
        ("88./PUMP", "invalid prefix"),
        ("88.100 /PUMP", "invalid prefix"),
        ("88.1ü0/PUMP", "invalid prefix"),
        ("88:100/PUMP", "invalid prefix"),
        ("88.100/ PUMP", "white space"),
        ("88.100/PUMP\t", "white space"),
        ("88.100/\u3000PUMP", "white space"),
    ],
)
def test_malformed_names_are_refused_with_the_reason(name: str, fragment: str) -> None:
    with pytest.raises(InvalidHandleError, match=fragment):
        Handle.parse(name)


def test_a_non_string_is_refused_as_empty() -> None:
    with pytest.raises(InvalidHandleError, match="empty"):
        Handle.parse(None)  # type: ignore[arg-type]


def test_length_limits() -> None:
    longest = "8/" + "x" * (MAX_HANDLE_LENGTH - 2)
    assert Handle.parse(longest).name == longest
    with pytest.raises(InvalidHandleError, match=f"longer than {MAX_HANDLE_LENGTH}"):
        Handle.parse(longest + "x")
    widest = "8" * MAX_PREFIX_LENGTH
    assert validate_prefix(widest) == widest
    with pytest.raises(InvalidHandleError, match=f"longer than {MAX_PREFIX_LENGTH}"):
        Handle.parse(f"{widest}8/x")


@pytest.mark.parametrize("prefix", ["88.100\n", "88.100.1234\n"])
def test_a_trailing_newline_does_not_make_a_valid_prefix(prefix: str) -> None:
    # `$` in the prefix pattern also matches just before a final newline.
    with pytest.raises(InvalidHandleError):
        validate_prefix(prefix)
    with pytest.raises(InvalidHandleError):
        Handle.parse(f"{prefix}/PUMP")


@pytest.mark.parametrize(
    ("prefix", "node", "under"),
    [
        ("88.100", "88.100", True),
        ("88.100.1234", "88.100", True),
        ("88.100.1234.7", "88.100", True),
        ("88.100.ABC", "88.100", True),
        ("88.100.abc", "88.100", True),
        ("AB.cd", "ab.CD", True),
        ("88.1000", "88.100", False),
        ("88.10", "88.100", False),
        ("88", "88.100", False),
        ("89.100.1", "88.100", False),
    ],
)
def test_is_under_follows_the_dotted_hierarchy(prefix: str, node: str, under: bool) -> None:
    assert is_under(prefix, node) is under
