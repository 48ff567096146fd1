"""The profile an enterprise submits: each item's rules, property tests for the validators, and
the states of applications and enterprises."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from idnode.domain.enterprises import (
    MAX_RESOURCES,
    Application,
    ApplicationKind,
    ApplicationStatus,
    Decision,
    Enterprise,
    EnterpriseStatus,
    Hosting,
    Profile,
    admin_handle,
    admin_identity_of,
    parse_address,
    parse_domain,
    parse_email,
    parse_legal_name,
    parse_phone,
    parse_profile,
    parse_reason,
    parse_uscc,
)
from idnode.domain.errors import InvalidStateError, InvalidValueError
from idnode.domain.protocol.encoding import rsa_public_key_bytes
from idnode.domain.routing import HdlType, NodeAddress, parse_nodes
from tests.unit.fakes_onboarding import profile_input

USCC = "91110000600037341L"  # python-stdnum's own example
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def refused(parse: Any, raw: object, says: str, field: str) -> None:
    with pytest.raises(InvalidValueError) as error:
        parse(raw)
    assert error.value.message.startswith(f"{field}: "), error.value.message
    assert says in error.value.message, error.value.message


# USCC


def test_uscc_is_normalised() -> None:
    assert parse_uscc(f"  {USCC.lower()} ") == USCC


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "18 characters"),
        ("91110000600037341", "18 characters"),
        ("91110000600037341L0", "18 characters"),
        ("91110000600037341M", "check character"),
        ("A1110000600037341L", "8 digits"),
        ("9111000060003734IL", "other than I, O, S, V and Z"),
        (18, "expected text"),
    ],
)
def test_uscc_refusals(raw: object, says: str) -> None:
    refused(parse_uscc, raw, says, "uscc")


uscc_bodies = st.tuples(
    st.text("0123456789", min_size=8, max_size=8),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
).map("".join)


@given(uscc_bodies)
def test_generated_usccs_round_trip(body: str) -> None:
    number = body + stdnum_uscc.calc_check_digit(body)
    assert parse_uscc(number) == number
    assert parse_uscc(f" {number.lower()} ") == number


@given(uscc_bodies, st.data())
def test_a_uscc_with_one_character_changed_is_refused(body: str, data: st.DataObject) -> None:
    number = body + stdnum_uscc.calc_check_digit(body)
    position = data.draw(st.integers(0, 17))
    replacement = data.draw(st.sampled_from(USCC_ALPHABET).filter(lambda c: c != number[position]))
    mutated = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(InvalidValueError, match=r"^uscc: "):
        parse_uscc(mutated)


# Legal name, contact


def test_legal_name() -> None:
    assert parse_legal_name("  中国航天科工集团有限公司 ") == "中国航天科工集团有限公司"
    refused(parse_legal_name, "A", "2-200 characters", "legalName")
    refused(parse_legal_name, "x" * 201, "2-200 characters", "legalName")
    refused(parse_legal_name, "Acme\nPumps", "U+000A", "legalName")
    refused(parse_legal_name, "Acme\u200bPumps", "U+200B", "legalName")
    refused(parse_legal_name, None, "expected text", "legalName")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("li.lei@acme.com.cn", "li.lei@acme.com.cn"),
        ("Li.Lei+ops@ACME.com.cn", "Li.Lei+ops@acme.com.cn"),
        ("ops@例子.中国", "ops@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_email(raw: str, expected: str) -> None:
    assert parse_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("li.lei", "not an email address"),
        ("@acme.cn", "not an email address"),
        ("li..lei@acme.cn", "not a valid mailbox name"),
        (".li@acme.cn", "not a valid mailbox name"),
        ("li lei@acme.cn", "not a valid mailbox name"),
        ("li@localhost", "not a domain name"),
        ("li@acme..cn", "empty label"),
        ("x" * 65 + "@acme.cn", "not a valid mailbox name"),
    ],
)
def test_email_refusals(raw: str, says: str) -> None:
    refused(parse_email, raw, says, "contact.email")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 10 6552 8888", "+86 10 6552 8888"),
        ("010-65528888", "010-65528888"),
        ("  12345 ", "12345"),
        ("+86  138 0000  0000", "+86 138 0000 0000"),
    ],
)
def test_phone(raw: str, expected: str) -> None:
    assert parse_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("1234", "5-20 digits"),
        ("1" * 21, "5-20 digits"),
        ("(010) 6552 8888", "digits, an optional leading +"),
        ("010 6552 8888 ext 1", "digits, an optional leading +"),
        ("86+10 6552 8888", "digits, an optional leading +"),
    ],
)
def test_phone_refusals(raw: str, says: str) -> None:
    refused(parse_phone, raw, says, "contact.phone")


@given(st.text("0123456789", min_size=5, max_size=20), st.booleans())
def test_phone_numbers_of_5_to_20_digits_pass(digits: str, plus: bool) -> None:
    raw = ("+" if plus else "") + "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    assert parse_phone(raw) == raw


# Network resources


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("114.114.114.114", "114.114.114.114"),
        ("114.114.114.0/24", "114.114.114.0/24"),
        ("2400:3200:0000::0001", "2400:3200::1"),
        ("2400:3200::/32", "2400:3200::/32"),
    ],
)
def test_public_addresses(raw: str, expected: str) -> None:
    assert parse_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a binding
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("192.168.0.0/16", "private"),
        ("fd00::1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("0.0.0.0/0", "unspecified"),
        ("114.114.114.1/24", "host bits set"),
        ("114.114.114", "not an IP address or network"),
        ("example.com", "not an IP address or network"),
    ],
)
def test_address_refusals(raw: str, says: str) -> None:
    refused(parse_address, raw, says, "addresses")


@given(st.ip_addresses())
def test_an_address_passes_exactly_when_it_is_globally_routable(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    public = address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_private
    )
    if public:
        assert parse_address(str(address)) == str(address)
    else:
        with pytest.raises(InvalidValueError, match=r"^addresses: "):
            parse_address(str(address))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com.cn", "acme.com.cn"),
        ("ACME.com.CN.", "acme.com.cn"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("例子。中国", "xn--fsqu00a.xn--fiqs8s"),
        ("xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
        ("a-b.c1.example", "a-b.c1.example"),
    ],
)
def test_domains(raw: str, expected: str) -> None:
    assert parse_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "empty"),
        (".", "empty"),
        ("localhost", "not a domain name"),
        ("acme..cn", "empty label"),
        (".acme.cn", "empty label"),
        ("acme.cn..", "empty label"),
        ("-acme.cn", "may not start or end with a hyphen"),
        ("acme-.cn", "may not start or end with a hyphen"),
        ("ac_me.cn", "only letters, digits and hyphens"),
        ("*.acme.cn", "only letters, digits and hyphens"),
        ("a" * 64 + ".cn", "1-63 characters"),
        (".".join(["a" * 63] * 4) + ".cn", "at most 253 characters"),
        ("1.2.3.4", "numeric label"),
        ("acme cn.com", "only letters, digits and hyphens"),
        ("xn--zz.cn", "not valid punycode"),
    ],
)
def test_domain_refusals(raw: str, says: str) -> None:
    refused(parse_domain, raw, says, "domains")


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda label: not label.startswith("xn--") and label[2:4] != "--"
)


@given(st.lists(labels, min_size=1, max_size=5), st.from_regex(r"[a-z]{2,10}", fullmatch=True))
def test_ldh_names_round_trip(names: list[str], tld: str) -> None:
    domain = ".".join([*names, tld])
    assert parse_domain(domain) == domain
    assert parse_domain(domain.upper() + ".") == domain


# Enterprise nodes, reason


NODE = {"hdlType": "HS_SITE", "ip": "114.114.114.7", "ipType": 4, "tcpPort": 2641}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (NODE, NodeAddress(HdlType.HS_SITE, "114.114.114.7", 4, tcp_port=2641)),
        (
            {"hdlType": "HS_SERV", "ip": "2400:3200:0::1", "ipType": 6, "udpPort": 2641},
            NodeAddress(HdlType.HS_SERV, "2400:3200::1", 6, udp_port=2641),
        ),
        (
            {**NODE, "httpPort": 8000, "entPrefix": "88.100.1234"},
            NodeAddress(
                HdlType.HS_SITE, "114.114.114.7", 4, 2641, None, 8000, ent_prefix="88.100.1234"
            ),
        ),
    ],
)
def test_enterprise_nodes(raw: dict[str, object], expected: NodeAddress) -> None:
    assert parse_nodes([raw]) == (expected,)
    assert NodeAddress.from_json(expected.to_json()) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ([], "at least one enterprise node"),
        ([{**NODE, "hdlType": "HS_NA"}], "serviceNodes[0].hdlType: either HS_SITE or HS_SERV"),
        ([{**NODE, "ipType": 5}], "serviceNodes[0].ipType: either 4 or 6"),
        ([{**NODE, "ip": "node.acme.cn"}], "serviceNodes[0].ip: 'node.acme.cn' is not an IP"),
        ([{**NODE, "ipType": 6}], "is not an IPv6 address"),
        ([{**NODE, "ip": "224.0.0.1"}], "cannot answer"),
        ([{**NODE, "tcpPort": 0}], "serviceNodes[0].tcpPort: a port is a number from 1"),
        ([{**NODE, "tcpPort": 70000}], "serviceNodes[0].tcpPort"),
        ([{"hdlType": "HS_SITE", "ip": "114.114.114.7", "ipType": 4}], "at least one of tcpPort"),
        ([NODE, NODE], "the same node is given twice"),
        ([NODE] * 9, "at most 8"),
    ],
)
def test_enterprise_node_refusals(raw: list[dict[str, object]], says: str) -> None:
    with pytest.raises(InvalidValueError) as refusal:
        parse_nodes(raw)
    assert says in refusal.value.message


def test_an_enterprise_node_may_name_its_public_key() -> None:
    key = rsa_public_key_bytes(modulus=(1 << 2047) + 159, exponent=65537)
    (node,) = parse_nodes([{**NODE, "publicKey": base64.b64encode(key).decode()}])
    published = node.site()["servers"][0]["publicKey"]
    assert published["format"] == "key" and published["value"]["kty"] == "RSA"
    assert NodeAddress.from_json(node.to_json()) == node
    with pytest.raises(InvalidValueError, match=r"serviceNodes\[0\]\.publicKey"):
        parse_nodes([{**NODE, "publicKey": "bm90IGEga2V5"}])


def test_an_enterprise_prefix_must_be_its_own() -> None:
    with pytest.raises(InvalidValueError, match="not a prefix of this enterprise"):
        parse_nodes([{**NODE, "entPrefix": "88.100.9"}], prefixes=["88.100.1234"])


def test_reason() -> None:
    assert parse_reason("  documents do not match  ", required=True) == "documents do not match"
    assert parse_reason("line one\nline two", required=True) == "line one\nline two"
    assert parse_reason(None, required=False) is None
    assert parse_reason("   ", required=False) is None
    for raw in (None, "", "  "):
        with pytest.raises(InvalidValueError, match=r"^reason: give a reason"):
            parse_reason(raw, required=True)
    with pytest.raises(InvalidValueError, match="at most 500"):
        parse_reason("x" * 501, required=True)
    with pytest.raises(InvalidValueError, match=r"U\+0007"):
        parse_reason("bell\x07", required=True)


# The whole profile


def test_profile_is_parsed_and_round_trips_through_json() -> None:
    profile = parse_profile(profile_input(domains=["acme.com.cn", "ACME.com.cn."]))
    assert profile.uscc == USCC
    assert profile.division == "C34"
    assert profile.domains == ("acme.com.cn",)  # duplicates kept once
    assert profile.addresses == ("114.114.114.0/24", "2400:3200::1")
    assert profile.hosting is Hosting.HOSTED
    assert Profile.from_json(profile.to_json()) == profile


def test_self_hosted_profile_needs_its_nodes() -> None:
    profile = parse_profile(profile_input(hosting="self-hosted", serviceNodes=[NODE]))
    assert profile.service_nodes == parse_nodes([NODE])
    assert Profile.from_json(profile.to_json()) == profile
    with pytest.raises(InvalidValueError, match="serviceNodes: a self-hosted enterprise gives"):
        parse_profile(profile_input(hosting="self-hosted"))
    with pytest.raises(InvalidValueError, match="serviceNodes: only a self-hosted"):
        parse_profile(profile_input(serviceNodes=[NODE]))
    with pytest.raises(InvalidValueError, match="hosting: either hosted or self-hosted"):
        parse_profile(profile_input(hosting="remote"))


def test_every_wrong_field_is_named_at_once() -> None:
    raw = profile_input(
        legalName="",
        uscc="91110000600037341M",
        industry="Z99",
        contact={"name": "", "email": "nobody", "phone": "12"},
        addresses=["10.0.0.1"],
        domains=["localhost"],
    )
    with pytest.raises(InvalidValueError) as error:
        parse_profile(raw)
    message = error.value.message
    for field in (
        "legalName:",
        "uscc:",
        "industry:",
        "contact.name:",
        "contact.email:",
        "contact.phone:",
        "addresses[0]:",
        "domains[0]:",
    ):
        assert field in message, field


def test_network_resources_are_required_and_bounded() -> None:
    with pytest.raises(InvalidValueError, match="at least one IP address"):
        parse_profile(profile_input(addresses=[], domains=[]))
    many = [f"n{i}.acme.com.cn" for i in range(MAX_RESOURCES)]
    assert len(parse_profile(profile_input(addresses=[], domains=many)).domains) == MAX_RESOURCES
    with pytest.raises(InvalidValueError, match=f"at most {MAX_RESOURCES} network resources"):
        parse_profile(profile_input(domains=many))
    with pytest.raises(InvalidValueError, match="domains: expected a list"):
        parse_profile(profile_input(domains="acme.com.cn"))
    with pytest.raises(InvalidValueError, match="contact: give a name"):
        parse_profile(profile_input(contact="Li Lei"))


# Applications and enterprises


def application() -> Application:
    return Application(
        id="a-1",
        kind=ApplicationKind.ONBOARDING,
        enterprise=USCC,
        applicant="applicant",
        profile=parse_profile(profile_input()),
        submitted=AT,
        version=1,
    )


def test_application_decisions() -> None:
    pending = application()
    decision = Decision("auditor", AT, "all checked")
    approved = pending.approved(decision, "88.100.1000")
    assert approved.status is ApplicationStatus.APPROVED
    assert approved.prefix == "88.100.1000"
    assert approved.decision == decision
    with pytest.raises(InvalidStateError, match="a-1 is approved already"):
        approved.rejected(decision)
    with pytest.raises(InvalidValueError, match="reason"):
        pending.rejected(Decision("auditor", AT))
    assert pending.withdrawn(Decision("applicant", AT)).status is ApplicationStatus.WITHDRAWN


def test_enterprise_rules() -> None:
    profile = parse_profile(profile_input())
    enterprise = Enterprise(USCC, profile, "88.100.1000", AT, AT)
    assert enterprise.name == "Acme Pumps Co., Ltd."
    assert enterprise.industry == "C34"
    with pytest.raises(InvalidStateError, match="active already"):
        enterprise.with_status(EnterpriseStatus.ACTIVE, AT)
    other = replace(profile, uscc="91350100M000100Y43")
    with pytest.raises(InvalidValueError, match=r"^uscc: "):
        enterprise.with_profile(other, AT)
    assert admin_handle("88.100.1000") == "88.100.1000/ADMIN"
    assert admin_identity_of("88.100.1000") == "300:88.100.1000/ADMIN"
