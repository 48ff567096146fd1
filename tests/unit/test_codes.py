"""Private codes' rules: which codes and enterprise ids are valid, and how a bulk request is
decided item by item."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain.codes import (
    MAX_CODE_LENGTH,
    CodeMapping,
    CodeStatus,
    check_batch_size,
    check_code,
    check_enterprise_id,
    plan_mappings,
)
from idnode.domain.errors import InvalidValueError
from idnode.domain.handles import Handle

PRINTABLE = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn"))
CODES = st.text(PRINTABLE, min_size=1, max_size=MAX_CODE_LENGTH).filter(
    lambda text: text == text.strip()
)


@given(CODES)
def test_printable_codes_without_outer_space_are_kept_exactly(code: str) -> None:
    assert check_code(code) == code


@given(CODES, st.sampled_from([" ", "\t", "\u3000", "\n"]), st.booleans())
def test_outer_white_space_is_refused(code: str, space: str, leading: bool) -> None:
    padded = space + code if leading else code + space
    with pytest.raises(InvalidValueError, match="leading or trailing white space"):
        check_code(padded)


@given(CODES, st.characters(whitelist_categories=("Cc", "Cf", "Co")), st.integers(0, 200))
def test_non_printable_characters_are_refused(code: str, bad: str, at: int) -> None:
    position = at % (len(code) + 1)
    text = code[:position] + bad + code[position:]
    if text != text.strip():
        return  # refused for its white space; covered above
    with pytest.raises(InvalidValueError, match=f"U\\+{ord(bad):04X}"):
        check_code(text[:MAX_CODE_LENGTH] if bad in text[:MAX_CODE_LENGTH] else text)
    assert unicodedata.category(bad).startswith("C")


@given(st.text(PRINTABLE, min_size=MAX_CODE_LENGTH + 1, max_size=MAX_CODE_LENGTH + 50))
def test_long_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidValueError, match="at most 128 characters"):
        check_code(code)


@pytest.mark.parametrize("code", ["", None, 7])
def test_empty_or_missing_codes_are_refused(code: object) -> None:
    with pytest.raises(InvalidValueError, match="code: a private code must not be empty"):
        check_code(code)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True))
def test_enterprise_ids(enterprise: str) -> None:
    assert check_enterprise_id(enterprise) == enterprise


@pytest.mark.parametrize("enterprise", ["", "-x", "a#b", "a/b", "x" * 65, None])
def test_enterprise_ids_that_could_not_be_keys_are_refused(enterprise: object) -> None:
    with pytest.raises(InvalidValueError, match=r"grantee: .* is not an enterprise id"):
        check_enterprise_id(enterprise, "grantee")


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_sizes(count: int) -> None:
    with pytest.raises(InvalidValueError, match=f"codes: give 1 to 1000 per request \\({count}"):
        check_batch_size(count, "codes")


OWN = "88.100.1"
THEIRS = "88.100.2"


def plan(
    requests: list[tuple[str, str]], existing: dict[str, CodeMapping] | None = None
) -> list[tuple[CodeStatus, str | None]]:
    result = plan_mappings(
        "ent-1",
        requests,
        owns=lambda handle: handle.prefix == OWN,
        registered=lambda handle: not handle.suffix.startswith("GONE"),
        existing=existing or {},
        at=5,
        by="alice",
    )
    mapped = [o.code for o in result.outcomes if o.status is CodeStatus.MAPPED]
    assert mapped == [m.code for m in result.to_write]
    return [(o.status, o.reason) for o in result.outcomes]


def test_a_plan_decides_each_item_in_order() -> None:
    stored = {"OLD": CodeMapping("ent-1", "OLD", f"{OWN}/A", 1, "bob")}
    decided = plan(
        [
            ("C1", f"{OWN}/A"),
            ("C2", f"{THEIRS}/A"),
            ("C3", f"{OWN}/GONE"),
            ("OLD", f"{OWN}/a"),  # identifiers match without ASCII case
            ("OLD", f"{OWN}/B"),
            ("C1", f"{OWN}/B"),
            ("", f"{OWN}/A"),
            ("C4", "nope"),
            ("C1", f"{OWN}/A"),  # a repeat shares the fate of the first request
            ("C2", f"{THEIRS}/A"),
        ],
        stored,
    )
    assert [status for status, _ in decided] == [
        CodeStatus.MAPPED,
        CodeStatus.FAILED,
        CodeStatus.FAILED,
        CodeStatus.UNCHANGED,
        CodeStatus.FAILED,
        CodeStatus.FAILED,
        CodeStatus.FAILED,
        CodeStatus.FAILED,
        CodeStatus.UNCHANGED,
        CodeStatus.FAILED,
    ]
    reasons = [reason or "" for _, reason in decided]
    assert "not under a prefix of enterprise ent-1" in reasons[1]
    assert "88.100.1/GONE is not registered" in reasons[2]
    assert "earlier in this request" in reasons[4]  # OLD repeated with another identifier
    assert "earlier in this request" in reasons[5]
    assert "mappings[6].code" in reasons[6]
    assert "'nope'" in reasons[7]
    assert reasons[9] == reasons[1]


@given(st.lists(st.tuples(CODES, st.sampled_from(["A", "B", "GONE"])), max_size=30))
def test_a_plan_writes_each_code_at_most_once(items: list[tuple[str, str]]) -> None:
    requests = [(code, f"{OWN}/{suffix}") for code, suffix in items]
    result = plan_mappings(
        "ent-1",
        requests,
        owns=lambda _handle: True,
        registered=lambda handle: handle.suffix != "GONE",
        existing={},
        at=1,
        by="alice",
    )
    assert len(result.outcomes) == len(requests)
    codes = [m.code for m in result.to_write]
    assert len(codes) == len(set(codes))
    for mapping in result.to_write:
        assert Handle.parse(mapping.identifier).suffix != "GONE"
