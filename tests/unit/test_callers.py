"""Who is calling: Basic admin identities (slow hash, verification cache) and Bearer ID tokens."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from idnode.domain.access import ANONYMOUS, PrincipalKind, Role
from idnode.domain.credentials import AdminCredential, hash_secret
from idnode.domain.credentials import verify_secret as real_verify_secret
from idnode.domain.errors import AuthenticationRequiredError
from idnode.domain.prefixes import Prefix, PrefixStatus
from idnode.services import callers
from idnode.services.callers import CallerAuthenticator
from idnode.services.operations import OperationLog
from tests.unit.fakes import (
    FakeTokens,
    InMemoryCredentials,
    InMemoryOperations,
    InMemoryPrefixes,
    ManualClock,
    claims,
)
from tests.unit.fakes_people import InMemoryUserPool, person

PREFIX = "88.100.1234"
IDENTITY = f"300:{PREFIX}/ADMIN"
DISABLED_IDENTITY = f"301:{PREFIX}/ADMIN"
SECRET = "correct-horse-battery"
BAD_CREDENTIALS = "the admin identity or its secret is not valid"


@pytest.fixture(scope="module")
def secret_hash() -> str:
    return hash_secret(SECRET)


class Verifications:
    """Counts the slow hash checks while still running them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, secret: str, stored: str) -> bool:
        self.calls.append(stored)
        return real_verify_secret(secret, stored)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Verifications:
    counter = Verifications()
    monkeypatch.setattr(callers, "verify_secret", counter)
    return counter


@pytest.fixture
def credentials(secret_hash: str) -> InMemoryCredentials:
    return InMemoryCredentials(
        AdminCredential(IDENTITY, secret_hash, (PREFIX,)),
        AdminCredential(DISABLED_IDENTITY, secret_hash, (PREFIX,), enabled=False),
    )


@pytest.fixture
def prefixes() -> InMemoryPrefixes:
    return InMemoryPrefixes(
        Prefix(PREFIX, "ent-1234"),
        Prefix("88.100.1235", "ent-1234"),
        Prefix("88.100.1236", "ent-1234", PrefixStatus.SUSPENDED),
        Prefix("88.100.5678", "ent-5678"),
    )


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens(
        admin_token=claims("ann", ["enterprise-admin", "not-a-group"], "ent-1234"),
        auditor_token=claims("aud", ["auditor"]),
        loner_token=claims("lon", ["enterprise-user"], "ent-without-prefixes"),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


Authenticator = Callable[..., CallerAuthenticator]


@pytest.fixture
def make(
    credentials: InMemoryCredentials,
    prefixes: InMemoryPrefixes,
    tokens: FakeTokens,
    clock: ManualClock,
) -> Authenticator:
    def build(*, with_tokens: bool = True, cache_seconds: float = 300.0) -> CallerAuthenticator:
        return CallerAuthenticator(
            credentials,
            prefixes,
            tokens if with_tokens else None,
            cache_seconds=cache_seconds,
            clock=clock,
        )

    return build


@pytest.fixture
def authenticator(make: Authenticator) -> CallerAuthenticator:
    return make()


def basic(user: str, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def encoded(identity: str) -> str:
    return identity.replace(":", "%3A", 1)


# No credentials and unknown schemes


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_is_anonymous(authenticator: CallerAuthenticator, header: str | None) -> None:
    assert authenticator.authenticate(header) == ANONYMOUS


@pytest.mark.parametrize("header", ["Digest abc", "Negotiate xyz", "Token t"])
def test_unsupported_schemes_are_refused_by_name(
    authenticator: CallerAuthenticator, header: str
) -> None:
    scheme = header.split(maxsplit=1)[0].lower()
    with pytest.raises(
        AuthenticationRequiredError, match=f"unsupported authorization scheme '{scheme}'"
    ):
        authenticator.authenticate(header)


# Basic: admin identities


@pytest.mark.parametrize("user", [encoded(IDENTITY), IDENTITY.replace(":", "%3a", 1)])
def test_a_url_encoded_admin_identity_authenticates(
    authenticator: CallerAuthenticator, user: str
) -> None:
    principal = authenticator.authenticate(basic(user))
    assert principal.kind is PrincipalKind.ADMIN_IDENTITY
    assert (principal.name, principal.admin_index, principal.admin_handle) == (
        IDENTITY,
        300,
        f"{PREFIX}/ADMIN",
    )
    assert principal.prefixes == frozenset({PREFIX})
    assert principal.roles == frozenset()


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "  Basic"])
def test_the_scheme_is_case_insensitive_and_white_space_tolerant(
    authenticator: CallerAuthenticator, scheme: str
) -> None:
    token = basic(encoded(IDENTITY)).split()[1]
    principal = authenticator.authenticate(f"{scheme}   {token}  ")
    assert principal.name == IDENTITY


def test_the_identity_matches_case_insensitively(authenticator: CallerAuthenticator) -> None:
    principal = authenticator.authenticate(basic(encoded(IDENTITY.lower())))
    assert principal.prefixes == frozenset({PREFIX})


def test_a_secret_may_contain_colons(make: Authenticator, credentials: InMemoryCredentials) -> None:
    colon_secret = "a:b:c-secret-with-colons"
    credentials.put(AdminCredential(IDENTITY, hash_secret(colon_secret), (PREFIX,)))
    assert make().authenticate(basic(encoded(IDENTITY), colon_secret)).name == IDENTITY


@pytest.mark.parametrize(
    "credentials_part",
    [
        "not-base64!",
        "abc",  # wrong padding
        base64.b64encode(b"no colon here").decode(),
        base64.b64encode(b"\xff\xfe:secret").decode(),  # not UTF-8
        "",
    ],
)
def test_malformed_basic_credentials_are_refused(
    authenticator: CallerAuthenticator, credentials_part: str, verifications: Verifications
) -> None:
    with pytest.raises(AuthenticationRequiredError, match="malformed Basic credentials"):
        authenticator.authenticate(f"Basic {credentials_part}")
    assert verifications.calls == []


@pytest.mark.parametrize(
    "user",
    [
        IDENTITY,  # the colon unencoded: the user part ends at it
        f"{PREFIX}/ADMIN",
        "admin",
        f"x%3A{PREFIX}/ADMIN",
        "300%3AADMIN",
    ],
)
def test_a_user_that_is_not_an_admin_identity_is_refused(
    authenticator: CallerAuthenticator, user: str, verifications: Verifications
) -> None:
    with pytest.raises(AuthenticationRequiredError, match=r"index%3Aprefix/suffix"):
        authenticator.authenticate(basic(user))
    assert verifications.calls == []


@pytest.mark.parametrize(
    ("user", "secret"),
    [
        (encoded(IDENTITY), "wrong-secret-value"),
        (encoded(f"300:{PREFIX}/NOBODY"), SECRET),
        (encoded(DISABLED_IDENTITY), SECRET),
        (encoded("300:88.100.5678/ADMIN"), SECRET),
    ],
    ids=["wrong secret", "unknown identity", "disabled credential", "identity of another prefix"],
)
def test_every_bad_pair_gets_the_same_message_and_costs_one_slow_hash(
    authenticator: CallerAuthenticator, verifications: Verifications, user: str, secret: str
) -> None:
    with pytest.raises(AuthenticationRequiredError) as refused:
        authenticator.authenticate(basic(user, secret))
    assert refused.value.message == BAD_CREDENTIALS
    assert len(verifications.calls) == 1


def test_a_verified_pair_is_remembered_without_its_secret(
    authenticator: CallerAuthenticator,
    credentials: InMemoryCredentials,
    verifications: Verifications,
) -> None:
    header = basic(encoded(IDENTITY))
    first = authenticator.authenticate(header)
    for _ in range(5):
        assert authenticator.authenticate(header) == first
    assert len(verifications.calls) == 1
    assert credentials.lookups == 1
    assert SECRET not in repr(authenticator._verified._items)


def test_a_wrong_secret_is_not_accepted_from_the_cache(
    authenticator: CallerAuthenticator, verifications: Verifications
) -> None:
    authenticator.authenticate(basic(encoded(IDENTITY)))
    for _ in range(2):
        with pytest.raises(AuthenticationRequiredError, match=BAD_CREDENTIALS):
            authenticator.authenticate(basic(encoded(IDENTITY), SECRET + "!"))
    # The right secret once, the wrong one once: the repeated refusal is remembered.
    assert len(verifications.calls) == 2


def test_a_remembered_pair_is_checked_again_after_the_cache_period(
    make: Authenticator, clock: ManualClock, verifications: Verifications
) -> None:
    authenticator = make(cache_seconds=60.0)
    header = basic(encoded(IDENTITY))
    authenticator.authenticate(header)
    clock.advance(59)
    authenticator.authenticate(header)
    assert len(verifications.calls) == 1
    clock.advance(2)
    authenticator.authenticate(header)
    assert len(verifications.calls) == 2


def test_failures_are_remembered_briefly_and_never_block_the_right_secret(
    make: Authenticator, clock: ManualClock, verifications: Verifications
) -> None:
    authenticator = make(cache_seconds=60.0)
    unknown = basic(encoded(f"300:{PREFIX}/NOBODY"))
    for _ in range(3):
        with pytest.raises(AuthenticationRequiredError, match=BAD_CREDENTIALS):
            authenticator.authenticate(unknown)
    assert len(verifications.calls) == 1  # one slow hash for three refusals
    clock.advance(31)
    with pytest.raises(AuthenticationRequiredError, match=BAD_CREDENTIALS):
        authenticator.authenticate(unknown)
    assert len(verifications.calls) == 2  # remembered for 30 seconds only
    with pytest.raises(AuthenticationRequiredError):
        authenticator.authenticate(basic(encoded(IDENTITY), SECRET + "!"))
    assert authenticator.authenticate(basic(encoded(IDENTITY))).name == IDENTITY


# Bearer: people


def test_a_bearer_token_names_a_person_with_roles_and_enterprise_prefixes(
    authenticator: CallerAuthenticator,
) -> None:
    principal = authenticator.authenticate("Bearer admin_token")
    assert principal.kind is PrincipalKind.USER
    assert principal.name == "ann"
    assert principal.roles == frozenset({Role.ENTERPRISE_ADMIN})
    assert principal.enterprise == "ent-1234"
    # Suspended prefixes are not administered.
    assert principal.prefixes == frozenset({PREFIX, "88.100.1235"})


def test_a_person_without_enterprise_has_no_prefixes(
    authenticator: CallerAuthenticator, prefixes: InMemoryPrefixes
) -> None:
    principal = authenticator.authenticate("bearer auditor_token")
    assert principal.roles == frozenset({Role.AUDITOR})
    assert principal.prefixes == frozenset()
    assert prefixes.calls["prefixes_of"] == 0


def test_an_enterprise_without_prefixes_administers_nothing(
    authenticator: CallerAuthenticator,
) -> None:
    assert authenticator.authenticate("Bearer loner_token").prefixes == frozenset()


def test_enterprise_prefixes_are_remembered_for_half_a_minute(
    authenticator: CallerAuthenticator, prefixes: InMemoryPrefixes, clock: ManualClock
) -> None:
    for _ in range(3):
        authenticator.authenticate("Bearer admin_token")
    assert prefixes.calls["prefixes_of"] == 1
    prefixes.add(Prefix("88.100.1237", "ent-1234"))
    clock.advance(31)
    principal = authenticator.authenticate("Bearer admin_token")
    assert prefixes.calls["prefixes_of"] == 2
    assert "88.100.1237" in principal.prefixes


def test_a_refused_token_is_refused_with_the_reason(
    authenticator: CallerAuthenticator, tokens: FakeTokens
) -> None:
    with pytest.raises(AuthenticationRequiredError) as refused:
        authenticator.authenticate("Bearer forged")
    assert refused.value.message == f"the bearer token was refused: {FakeTokens.REFUSAL}"
    assert "forged" not in refused.value.message
    assert tokens.verified == 1


def test_a_node_without_a_user_pool_refuses_bearer_tokens(make: Authenticator) -> None:
    with pytest.raises(AuthenticationRequiredError, match="accepts no bearer tokens"):
        make(with_tokens=False).authenticate("Bearer admin_token")


# Second factor: platform admins and auditors need TOTP enrolled to act in those roles

STAFF_TOKENS = {
    "pat_token": claims("pat", ["platform-admin", "enterprise-admin"], "ent-1234"),
    "aud_token": claims("aud", ["auditor"]),
    "new_token": claims("new", ["platform-admin"]),
    "ann_token": claims("ann", ["enterprise-admin"], "ent-1234"),
}


@pytest.fixture
def staff_pool() -> InMemoryUserPool:
    return InMemoryUserPool(
        person("pat", [Role.PLATFORM_ADMIN, Role.ENTERPRISE_ADMIN], "ent-1234", mfa=True),
        person("aud", [Role.AUDITOR], mfa=True),
        person("new", [Role.PLATFORM_ADMIN], mfa=False),
        person("ann", [Role.ENTERPRISE_ADMIN], "ent-1234", mfa=False),
    )


@pytest.fixture
def guarded(
    credentials: InMemoryCredentials,
    prefixes: InMemoryPrefixes,
    clock: ManualClock,
    staff_pool: InMemoryUserPool,
) -> Callable[..., CallerAuthenticator]:
    def build(*, require_mfa: bool = True, with_pool: bool = True) -> CallerAuthenticator:
        return CallerAuthenticator(
            credentials,
            prefixes,
            FakeTokens(**STAFF_TOKENS),
            clock=clock,
            second_factors=staff_pool if with_pool else None,
            require_mfa=require_mfa,
        )

    return build


def test_enrolled_staff_keep_their_roles(guarded: Callable[..., CallerAuthenticator]) -> None:
    authenticator = guarded()
    pat = authenticator.authenticate("Bearer pat_token")
    assert pat.roles == {Role.PLATFORM_ADMIN, Role.ENTERPRISE_ADMIN}
    assert pat.withheld == frozenset()
    assert authenticator.authenticate("Bearer aud_token").roles == {Role.AUDITOR}


def test_staff_without_a_second_factor_act_without_their_staff_roles(
    guarded: Callable[..., CallerAuthenticator], staff_pool: InMemoryUserPool
) -> None:
    staff_pool.add(person("pat", [Role.PLATFORM_ADMIN], "ent-1234", mfa=False))
    authenticator = guarded()
    pat = authenticator.authenticate("Bearer pat_token")
    assert pat.roles == {Role.ENTERPRISE_ADMIN}  # the other role stays
    assert pat.withheld == {Role.PLATFORM_ADMIN}
    new = authenticator.authenticate("Bearer new_token")
    assert (new.roles, new.withheld) == (frozenset(), {Role.PLATFORM_ADMIN})


def test_enterprise_roles_need_no_second_factor_and_cost_no_lookup(
    guarded: Callable[..., CallerAuthenticator], staff_pool: InMemoryUserPool
) -> None:
    ann = guarded().authenticate("Bearer ann_token")
    assert (ann.roles, ann.withheld) == ({Role.ENTERPRISE_ADMIN}, frozenset())
    assert staff_pool.calls["mfa_enrolled"] == 0


def test_without_the_requirement_nothing_is_withheld_or_asked(
    guarded: Callable[..., CallerAuthenticator], staff_pool: InMemoryUserPool
) -> None:
    new = guarded(require_mfa=False).authenticate("Bearer new_token")
    assert (new.roles, new.withheld) == ({Role.PLATFORM_ADMIN}, frozenset())
    assert staff_pool.calls["mfa_enrolled"] == 0


def test_enrolment_is_remembered_per_person_for_a_few_minutes(
    guarded: Callable[..., CallerAuthenticator], staff_pool: InMemoryUserPool, clock: ManualClock
) -> None:
    authenticator = guarded()
    for _ in range(3):
        assert authenticator.authenticate("Bearer new_token").withheld == {Role.PLATFORM_ADMIN}
        authenticator.authenticate("Bearer aud_token")
    assert staff_pool.calls["mfa_enrolled"] == 2  # one per person
    staff_pool.add(person("new", [Role.PLATFORM_ADMIN], mfa=True))  # enrols
    clock.advance(179)
    assert authenticator.authenticate("Bearer new_token").withheld == {Role.PLATFORM_ADMIN}
    clock.advance(2)
    assert authenticator.authenticate("Bearer new_token").roles == {Role.PLATFORM_ADMIN}
    assert staff_pool.calls["mfa_enrolled"] == 3


def test_when_the_pool_cannot_be_asked_the_roles_are_withheld_and_asked_again(
    guarded: Callable[..., CallerAuthenticator], staff_pool: InMemoryUserPool
) -> None:
    authenticator = guarded()
    staff_pool.fail_mfa_with = RuntimeError("throttled")
    assert authenticator.authenticate("Bearer pat_token").withheld == {Role.PLATFORM_ADMIN}
    staff_pool.fail_mfa_with = None
    assert authenticator.authenticate("Bearer pat_token").withheld == frozenset()


def test_required_but_unknowable_enrolment_withholds(
    guarded: Callable[..., CallerAuthenticator],
) -> None:
    aud = guarded(with_pool=False).authenticate("Bearer aud_token")
    assert (aud.roles, aud.withheld) == (frozenset(), {Role.AUDITOR})


# The operation log: refusals and verifications


@pytest.fixture
def entries() -> InMemoryOperations:
    return InMemoryOperations()


@pytest.fixture
def logged(
    credentials: InMemoryCredentials,
    prefixes: InMemoryPrefixes,
    tokens: FakeTokens,
    clock: ManualClock,
    entries: InMemoryOperations,
) -> CallerAuthenticator:
    return CallerAuthenticator(
        credentials,
        prefixes,
        tokens,
        clock=clock,
        log=OperationLog(entries, fallback=lambda entry, error: None),
    )


SOURCE = "203.0.113.7"


def test_a_refused_secret_is_recorded_with_the_identity_and_source_but_not_the_secret(
    logged: CallerAuthenticator, entries: InMemoryOperations
) -> None:
    for _ in range(2):  # the second refusal comes from the cache, and is recorded too
        with pytest.raises(AuthenticationRequiredError):
            logged.authenticate(basic(encoded(IDENTITY), "wrong-secret-value"), SOURCE)
    assert len(entries.entries) == 2
    for entry in entries.entries:
        assert (entry.actor, entry.action, entry.target, entry.result) == (
            "anonymous",
            "authentication-refused",
            IDENTITY,
            "authentication-required",
        )
        assert (entry.source, entry.enterprise, entry.message) == (
            SOURCE,
            "ent-1234",
            BAD_CREDENTIALS,
        )
    assert "wrong-secret-value" not in repr(entries.entries)


@pytest.mark.parametrize(
    ("header", "target"),
    [
        (basic(encoded(f"300:{PREFIX}/NOBODY")), f"300:{PREFIX}/NOBODY"),
        (basic(encoded(DISABLED_IDENTITY)), DISABLED_IDENTITY),
        ("Basic not-base64!", "basic credentials"),
        (basic("admin"), "basic credentials"),
        ("Bearer forged-token-text", "bearer token"),
        ("Digest abc", "authorization header"),
    ],
)
def test_every_refusal_is_recorded_without_the_credentials(
    logged: CallerAuthenticator, entries: InMemoryOperations, header: str, target: str
) -> None:
    with pytest.raises(AuthenticationRequiredError) as refused:
        logged.authenticate(header, SOURCE)
    [entry] = entries.entries
    assert (entry.action, entry.target, entry.source) == ("authentication-refused", target, SOURCE)
    assert entry.message == refused.value.message
    assert SECRET not in repr(entry)
    assert "forged-token-text" not in repr(entry)


def test_a_verified_secret_is_recorded_once_per_cache_period(
    logged: CallerAuthenticator, entries: InMemoryOperations, clock: ManualClock
) -> None:
    for _ in range(3):
        logged.authenticate(basic(encoded(IDENTITY)), SOURCE)
    [entry] = entries.entries
    assert (entry.actor, entry.actor_kind, entry.action, entry.target, entry.result) == (
        IDENTITY,
        "admin-identity",
        "admin-identity-verified",
        IDENTITY,
        "ok",
    )
    assert (entry.enterprise, entry.source) == ("ent-1234", SOURCE)
    assert SECRET not in repr(entry)
    clock.advance(301)
    logged.authenticate(basic(encoded(IDENTITY)), SOURCE)
    assert len(entries.entries) == 2


def test_anonymous_and_accepted_tokens_record_nothing(
    logged: CallerAuthenticator, entries: InMemoryOperations
) -> None:
    logged.authenticate(None, SOURCE)
    logged.authenticate("Bearer admin_token", SOURCE)
    assert entries.entries == []
