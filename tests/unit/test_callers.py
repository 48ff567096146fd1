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
from tests.unit.fakes import (
    FakeTokens,
    InMemoryCredentials,
    InMemoryPrefixes,
    ManualClock,
    claims,
)

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
