"""Who may do what: roles, prefixes, and the HS_ADMIN rights of admin identities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.access import (
    ANONYMOUS,
    HS_ADMIN,
    PrincipalKind,
    Right,
    Role,
    admin_identity,
    authorise_list,
    authorise_write,
    may_see_restricted,
    rights_for_change,
    user,
)
from idnode.domain.errors import AuthenticationRequiredError, NotAuthorisedError
from idnode.domain.handles import Handle
from idnode.domain.records import Record, new_record
from idnode.domain.values import DataFormat, Permissions, Value, ValueData

PREFIX = "88.100.1234"
OTHER_PREFIX = "88.100.5678"
HANDLE = Handle.parse(f"{PREFIX}/PUMP-0001")
ADMIN_HANDLE = f"{PREFIX}/ADMIN"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)

PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
AUDITOR = user("aud", ["auditor"], None, [])
ENTERPRISE_ADMIN = user("ena", ["enterprise-admin"], "ent-1234", [PREFIX])
ENTERPRISE_USER = user("enu", ["enterprise-user"], "ent-1234", [PREFIX])
FOREIGN_ENTERPRISE_ADMIN = user("fea", ["enterprise-admin"], "ent-5678", [OTHER_PREFIX])
FOREIGN_ENTERPRISE_USER = user("feu", ["enterprise-user"], "ent-5678", [OTHER_PREFIX])
ROLELESS_MEMBER = user("rm", ["operators"], "ent-1234", [PREFIX])
IDENTITY = admin_identity(300, ADMIN_HANDLE, [PREFIX])
FOREIGN_IDENTITY = admin_identity(300, f"{OTHER_PREFIX}/ADMIN", [OTHER_PREFIX])


def bits(*rights: Right) -> str:
    """The permission string granting `rights`: the Handle mask, most significant bit first."""
    mask = sum(1 << r for r in set(rights))
    return format(mask, "012b")


ALL_RIGHTS = bits(*Right)


def plain(index: int, text: str = "x", vtype: str = "URL", *, restricted: bool = False) -> Value:
    return Value(
        index,
        vtype,
        ValueData(DataFormat.STRING, text),
        permissions=Permissions(public_read=not restricted),
    )


def hs_admin(
    index: int, handle: str = ADMIN_HANDLE, admin_index: int = 300, grants: str = ALL_RIGHTS
) -> Value:
    return Value(
        index,
        HS_ADMIN,
        ValueData(
            DataFormat.ADMIN, {"handle": handle, "index": admin_index, "permissions": grants}
        ),
    )


def record(*values: Value) -> Record:
    return new_record(HANDLE, values, T0)


BASE = record(plain(1), plain(2, restricted=True))


def changes(before: Record) -> dict[str, Record | None]:
    """One change of each kind a writer can make."""
    return {
        "add": before.upserted([plain(7)], T1),
        "modify": before.upserted([plain(1, "changed")], T1),
        "remove": before.removed([1], T1),
        "delete": None,
    }


# Roles and prefixes


ALLOWED = "allowed"
MAY_WRITE = {
    "platform admin": (PLATFORM_ADMIN, ALLOWED),
    "enterprise admin": (ENTERPRISE_ADMIN, ALLOWED),
    "enterprise user": (ENTERPRISE_USER, ALLOWED),
    "admin identity": (IDENTITY, ALLOWED),
    "anonymous": (ANONYMOUS, "changing identifiers needs authentication"),
    "auditor": (AUDITOR, "aud has no role that may change identifiers"),
    "member without a role": (ROLELESS_MEMBER, "rm has no role that may change identifiers"),
    "foreign enterprise admin": (
        FOREIGN_ENTERPRISE_ADMIN,
        f"fea may not change identifiers under prefix {PREFIX}",
    ),
    "foreign enterprise user": (
        FOREIGN_ENTERPRISE_USER,
        f"feu may not change identifiers under prefix {PREFIX}",
    ),
    "foreign admin identity": (
        FOREIGN_IDENTITY,
        f"300:{OTHER_PREFIX}/ADMIN may not change identifiers under prefix {PREFIX}",
    ),
}


@pytest.mark.parametrize("kind", ["create", "add", "modify", "remove", "delete"])
@pytest.mark.parametrize("who", list(MAY_WRITE))
def test_who_may_write_a_record_without_hs_admin(who: str, kind: str) -> None:
    principal, outcome = MAY_WRITE[who]
    before, after = (None, BASE) if kind == "create" else (BASE, changes(BASE)[kind])
    if outcome == ALLOWED:
        authorise_write(principal, HANDLE, before, after)
        return
    expected = AuthenticationRequiredError if principal is ANONYMOUS else NotAuthorisedError
    with pytest.raises(expected) as refused:
        authorise_write(principal, HANDLE, before, after)
    assert refused.value.message == outcome
    assert refused.value.handle == HANDLE.name


def test_prefixes_and_names_match_case_insensitively() -> None:
    mixed = admin_identity(1, "AbC.1/ADMIN", ["AbC.1"])
    authorise_write(mixed, Handle.parse("aBc.1/x"), None, BASE)
    lower = Handle.parse(f"{PREFIX}/pump-0001")
    before = new_record(lower, [plain(1), hs_admin(100, handle=ADMIN_HANDLE.lower())], T0)
    authorise_write(IDENTITY, lower, before, before.upserted([plain(2)], T1))


def test_sub_prefixes_are_not_administered_by_their_parent() -> None:
    child = Handle.parse(f"{PREFIX}.7/PUMP")
    with pytest.raises(NotAuthorisedError, match=f"under prefix {PREFIX}.7"):
        authorise_write(ENTERPRISE_ADMIN, child, None, BASE)


READERS = {
    "anonymous": (ANONYMOUS, False),
    "platform admin": (PLATFORM_ADMIN, True),
    "auditor": (AUDITOR, True),
    "enterprise admin": (ENTERPRISE_ADMIN, True),
    "enterprise user": (ENTERPRISE_USER, True),
    "admin identity": (IDENTITY, True),
    "member without a role": (ROLELESS_MEMBER, False),
    "foreign enterprise admin": (FOREIGN_ENTERPRISE_ADMIN, False),
    "foreign enterprise user": (FOREIGN_ENTERPRISE_USER, False),
    "foreign admin identity": (FOREIGN_IDENTITY, False),
}


@pytest.mark.parametrize("who", list(READERS))
def test_who_sees_restricted_values(who: str) -> None:
    principal, sees = READERS[who]
    assert may_see_restricted(principal, HANDLE) is sees


@pytest.mark.parametrize("who", list(READERS))
def test_who_may_list_a_prefix(who: str) -> None:
    principal, may = READERS[who]
    if may:
        authorise_list(principal, PREFIX)
        authorise_list(principal, PREFIX.upper())
    elif principal is ANONYMOUS:
        with pytest.raises(AuthenticationRequiredError, match="listing identifiers needs"):
            authorise_list(principal, PREFIX)
    else:
        with pytest.raises(
            NotAuthorisedError, match=f"may not list identifiers under prefix {PREFIX}"
        ):
            authorise_list(principal, PREFIX)


def test_principals() -> None:
    person = user("ann", ["enterprise-user", "not-a-role", "auditor"], "ent-1", ["AB.Cd"])
    assert person.roles == frozenset({Role.ENTERPRISE_USER, Role.AUDITOR})
    assert person.prefixes == frozenset({"ab.cd"})
    assert person.authenticated and person.kind is PrincipalKind.USER
    assert person.administers("Ab.cD") and not person.administers("ab")
    assert not ANONYMOUS.authenticated and not ANONYMOUS.administers(PREFIX)
    assert PLATFORM_ADMIN.administers("any.prefix")
    assert (IDENTITY.name, IDENTITY.admin_handle, IDENTITY.admin_index) == (
        f"300:{ADMIN_HANDLE}",
        ADMIN_HANDLE,
        300,
    )


# HS_ADMIN


GRANTS = {
    "the identity by handle and index": (hs_admin(100), True),
    "the identity with index 0 (any index)": (hs_admin(100, admin_index=0), True),
    "the identity in another letter case": (hs_admin(100, handle=ADMIN_HANDLE.lower()), True),
    "the prefix's admin group": (hs_admin(100, handle=f"0.NA/{PREFIX}", admin_index=200), True),
    "the admin group in lower case": (hs_admin(100, handle=f"0.na/{PREFIX}"), True),
    "the identity at another index": (hs_admin(100, admin_index=301), False),
    "another identity": (hs_admin(100, handle=f"{PREFIX}/OPERATOR"), False),
    "another prefix's admin group": (hs_admin(100, handle=f"0.NA/{OTHER_PREFIX}"), False),
    "the parent prefix's admin group": (hs_admin(100, handle="0.NA/88.100"), False),
}


@pytest.mark.parametrize("kind", ["add", "modify", "remove", "delete"])
@pytest.mark.parametrize("naming", list(GRANTS))
def test_an_admin_identity_is_bound_by_whom_hs_admin_names(naming: str, kind: str) -> None:
    grant, allowed = GRANTS[naming]
    before = record(plain(1), grant)
    after = changes(before)[kind]
    if allowed:
        authorise_write(IDENTITY, HANDLE, before, after)
        return
    with pytest.raises(NotAuthorisedError) as refused:
        authorise_write(IDENTITY, HANDLE, before, after)
    needed = {"add": "add value", "modify": "modify value", "remove": "remove value"}
    assert refused.value.message == (
        f"the HS_ADMIN values of {HANDLE.name} do not grant 300:{ADMIN_HANDLE}: "
        f"{needed.get(kind, 'delete handle')}"
    )


@pytest.mark.parametrize("who", ["platform admin", "enterprise admin", "enterprise user"])
def test_hs_admin_binds_admin_identities_only(who: str) -> None:
    principal = MAY_WRITE[who][0]
    before = record(plain(1), hs_admin(100, handle=f"{PREFIX}/SOMEONE-ELSE"))
    for after in changes(before).values():
        authorise_write(principal, HANDLE, before, after)


def test_hs_admin_does_not_widen_an_identity_beyond_its_prefixes() -> None:
    before = record(plain(1), hs_admin(100, handle=f"{OTHER_PREFIX}/ADMIN"))
    with pytest.raises(NotAuthorisedError, match=f"under prefix {PREFIX}"):
        authorise_write(FOREIGN_IDENTITY, HANDLE, before, changes(before)["add"])


@pytest.mark.parametrize(
    ("kind", "right", "label"),
    [
        ("add", Right.ADD_VALUE, "add value"),
        ("modify", Right.MODIFY_VALUE, "modify value"),
        ("remove", Right.REMOVE_VALUE, "remove value"),
        ("delete", Right.DELETE_HANDLE, "delete handle"),
    ],
)
def test_each_change_needs_its_own_right(kind: str, right: Right, label: str) -> None:
    everything_else = bits(*(r for r in Right if r is not right))
    denied = record(plain(1), hs_admin(100, grants=everything_else))
    with pytest.raises(NotAuthorisedError, match=f": {label}$"):
        authorise_write(IDENTITY, HANDLE, denied, changes(denied)[kind])
    granted = record(plain(1), hs_admin(100, grants=bits(right)))
    authorise_write(IDENTITY, HANDLE, granted, changes(granted)[kind])


@pytest.mark.parametrize(
    ("change", "right"),
    [
        (lambda r: r.upserted([hs_admin(101, handle=f"{PREFIX}/OPS")], T1), Right.ADD_ADMIN),
        (
            lambda r: r.upserted([hs_admin(100, grants=bits(Right.READ_VALUE))], T1),
            Right.MODIFY_ADMIN,
        ),
        (lambda r: r.removed([100], T1), Right.REMOVE_ADMIN),
    ],
)
def test_changing_hs_admin_values_needs_the_admin_rights(
    change: Callable[[Record], Record], right: Right
) -> None:
    value_rights = bits(Right.ADD_VALUE, Right.MODIFY_VALUE, Right.REMOVE_VALUE)
    denied = record(plain(1), hs_admin(100, grants=value_rights))
    with pytest.raises(NotAuthorisedError, match=right.name.lower().replace("_", " ")):
        authorise_write(IDENTITY, HANDLE, denied, change(denied))
    granted = record(plain(1), hs_admin(100, grants=bits(right)))
    authorise_write(IDENTITY, HANDLE, granted, change(granted))


def test_one_hs_admin_value_must_grant_every_right_the_change_needs() -> None:
    before = record(
        plain(1),
        hs_admin(100, grants=bits(Right.ADD_VALUE)),
        hs_admin(101, grants=bits(Right.REMOVE_VALUE)),
    )
    after = before.removed([1], T1).upserted([plain(2)], T1)
    with pytest.raises(NotAuthorisedError, match=r": add value, remove value$"):
        authorise_write(IDENTITY, HANDLE, before, after)
    authorise_write(IDENTITY, HANDLE, before, before.upserted([plain(2)], T1))
    authorise_write(IDENTITY, HANDLE, before, before.removed([1], T1))


def test_any_one_naming_value_suffices() -> None:
    before = record(plain(1), hs_admin(100, handle=f"{PREFIX}/OPS"), hs_admin(101, admin_index=0))
    authorise_write(IDENTITY, HANDLE, before, changes(before)["modify"])


def test_creating_is_bound_by_the_prefix_only() -> None:
    authorise_write(IDENTITY, HANDLE, None, record(hs_admin(100, handle=f"{PREFIX}/OPS")))


def test_turning_an_hs_admin_into_a_plain_value_needs_an_admin_right() -> None:
    # With only "modify value", changing the type of the record's HS_ADMIN values would strip
    # them, and a record without HS_ADMIN binds no admin identity of the prefix at all.
    owner = hs_admin(100, handle=f"{PREFIX}/OWNER")
    before = record(plain(1), owner, hs_admin(101, grants=bits(Right.MODIFY_VALUE)))
    demoted = before.upserted([replace(owner, type="URL")], T1)
    assert Right.MODIFY_ADMIN in rights_for_change(before, demoted)
    with pytest.raises(NotAuthorisedError):
        authorise_write(IDENTITY, HANDLE, before, demoted)


# rights_for_change as a property


def any_value(index: int, admin: bool, text: str) -> Value:
    # Generated HS_ADMIN values name someone else, so that only the grant under test applies.
    return (
        hs_admin(index, handle=f"{PREFIX}/OPS", grants=ALL_RIGHTS) if admin else plain(index, text)
    )


@st.composite
def change_cases(draw: st.DrawFn) -> tuple[Record, Record, set[Right]]:
    """A record, a change made of removals, modifications, additions and no-op rewrites, and the
    rights that each part calls for."""
    kinds = draw(st.dictionaries(st.integers(1, 30), st.booleans(), max_size=10))
    before = record(*(any_value(i, admin, "old") for i, admin in kinds.items()))
    present = sorted(kinds)
    roles = draw(
        st.lists(
            st.sampled_from(["keep", "rewrite", "modify", "remove"]),
            min_size=len(present),
            max_size=len(present),
        )
    )
    added = draw(st.dictionaries(st.integers(31, 45), st.booleans(), max_size=4))
    expected: set[Right] = set()
    removed = [i for i, role in zip(present, roles, strict=True) if role == "remove"]
    upserts: list[Value] = []
    for index, role in zip(present, roles, strict=True):
        old = before.value_at(index)
        assert old is not None
        if role == "rewrite":
            upserts.append(old)  # same content, restamped
        elif role == "modify":
            upserts.append(replace(old, ttl=old.ttl + 1))
            expected.add(Right.MODIFY_ADMIN if kinds[index] else Right.MODIFY_VALUE)
        elif role == "remove":
            expected.add(Right.REMOVE_ADMIN if kinds[index] else Right.REMOVE_VALUE)
    for index, admin in added.items():
        upserts.append(any_value(index, admin, "new"))
        expected.add(Right.ADD_ADMIN if admin else Right.ADD_VALUE)
    after = before.removed(removed, T1).upserted(upserts, T1)
    return before, after, expected


@settings(max_examples=200)
@given(case=change_cases())
def test_rights_for_change_is_the_union_of_its_parts(
    case: tuple[Record, Record, set[Right]],
) -> None:
    before, after, expected = case
    assert rights_for_change(before, after) == expected
    assert rights_for_change(None, after) == {Right.ADD_HANDLE}
    assert rights_for_change(before, None) == {Right.DELETE_HANDLE}
    assert rights_for_change(before, before) == set()


@settings(max_examples=150)
@given(case=change_cases(), granted=st.sets(st.sampled_from(list(Right))))
def test_an_identity_may_make_a_change_iff_its_grant_covers_the_rights(
    case: tuple[Record, Record, set[Right]], granted: set[Right]
) -> None:
    before, after, needed = case
    grant = hs_admin(1000, grants=bits(*granted))
    before, after = before.upserted([grant], T0), after.upserted([grant], T1)
    try:
        authorise_write(IDENTITY, HANDLE, before, after)
    except NotAuthorisedError:
        allowed = False
    else:
        allowed = True
    assert allowed == (needed <= granted)


def test_the_handle_default_admin_string_grants_the_handle_default_rights() -> None:
    # pyhandle's and the Handle admin tool's default, 0x7F3 in Handle.Net's mask.
    granted = {r for r in Right if r.granted_by("011111110011")}
    assert granted == set(Right) - {Right.ADD_NA, Right.DELETE_NA, Right.LIST_HANDLES}
    assert Right.ADD_HANDLE.granted_by("000000000001")
    assert Right.LIST_HANDLES.granted_by("100000000000")
    assert Right.READ_VALUE.granted_by("010000000000")
