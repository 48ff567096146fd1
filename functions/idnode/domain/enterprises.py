"""Enterprises and their applications (SN-2): the profile an enterprise submits, the rules that
check it, and the states of applications and enterprises.

Profile rules:
- legal name: trimmed, 2-200 characters, no control or other invisible characters;
- USCC (GB 32100): 18 characters with its check character (python-stdnum), upper-cased;
- industry: a GB/T 4754 code (see `idnode.domain.industries`);
- contact: a name, an email address, a phone number (digits, `+`, `-`, spaces; 5-20 digits);
- network resources: 1-50 IPv4/IPv6 addresses or networks and domain names. A public node
  refuses addresses that are not globally routable (private, loopback, unspecified,
  multicast, link-local, shared, reserved and documentation ranges): nobody outside the
  enterprise could reach them. Domains are IDNA-encoded (the standard library's IDNA 2003
  codec) and kept in their ASCII form; one trailing dot is dropped;
- hosting: `hosted` (this node holds the records) or `self-hosted` with the service address
  of the enterprise node (an https URL or host:port).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from idnode.domain.credentials import AdminCredential
from idnode.domain.errors import InvalidStateError, InvalidValueError
from idnode.domain.industries import Industry, parse_industry
from idnode.domain.routing import NodeAddress, parse_nodes

MIN_NAME, MAX_NAME = 2, 200
MAX_CONTACT_NAME = 100
MAX_EMAIL = 254
MAX_MAILBOX = 64
MIN_LABELS = 2
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 5, 20
MAX_RESOURCES = 50
MAX_DOMAIN = 253
MAX_LABEL = 63
MAX_REASON = 500
ADMIN_INDEX = 300  # the index of an enterprise's admin identity: `300:<prefix>/ADMIN`
ADMIN_SUFFIX = "ADMIN"

_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)
_PHONE = re.compile(r"^\+?[0-9 -]+$")
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


class Hosting(StrEnum):
    HOSTED = "hosted"  # the node holds the enterprise's records
    SELF_HOSTED = "self-hosted"  # the enterprise runs its own node; this node refers to it


class ApplicationKind(StrEnum):
    ONBOARDING = "onboarding"
    CHANGE = "change"


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class EnterpriseStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: str
    phone: str


@dataclass(frozen=True, slots=True)
class Profile:
    """An enterprise's reviewed data, as submitted in an application (valid by construction
    when built by `parse_profile`)."""

    legal_name: str
    uscc: str
    industry: Industry
    contact: Contact
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    hosting: Hosting = Hosting.HOSTED
    # A self-hosted enterprise's node(s), where its identifiers are resolved.
    service_nodes: tuple[NodeAddress, ...] = ()

    @property
    def division(self) -> str:
        """The industry code counted in statistics: the division, else the section."""
        return self.industry.statistics_code

    def to_json(self) -> dict[str, Any]:
        return {
            "legalName": self.legal_name,
            "uscc": self.uscc,
            "industry": self.industry.code,
            "contact": {
                "name": self.contact.name,
                "email": self.contact.email,
                "phone": self.contact.phone,
            },
            "addresses": list(self.addresses),
            "domains": list(self.domains),
            "hosting": self.hosting.value,
            "serviceNodes": [node.to_json() for node in self.service_nodes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        """A stored profile (validated when it was submitted, so not checked again)."""
        code: str = data["industry"]
        contact = data["contact"]
        return cls(
            legal_name=data["legalName"],
            uscc=data["uscc"],
            industry=Industry(code[:1], code[1:]),
            contact=Contact(contact["name"], contact["email"], contact["phone"]),
            addresses=tuple(data.get("addresses") or ()),
            domains=tuple(data.get("domains") or ()),
            hosting=Hosting(data.get("hosting", Hosting.HOSTED.value)),
            service_nodes=tuple(NodeAddress.from_json(n) for n in data.get("serviceNodes") or ()),
        )


# Item by item rules. Each raises InvalidValueError whose message starts with the field name
# as the API spells it, so that a form can show it beside the field.


def _text(raw: object, field_name: str) -> str:
    if not isinstance(raw, str):
        raise InvalidValueError(f"{field_name}: expected text")
    return raw.strip()


def _invisible(text: str) -> str | None:
    """The first control, format, private-use or unassigned character, if any."""
    return next((c for c in text if unicodedata.category(c).startswith("C")), None)


def parse_legal_name(raw: object, field_name: str = "legalName") -> str:
    name = _text(raw, field_name)
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise InvalidValueError(
            f"{field_name}: the legal name must be {MIN_NAME}-{MAX_NAME} characters long"
        )
    bad = _invisible(name)
    if bad is not None:
        raise InvalidValueError(
            f"{field_name}: the legal name contains the invisible character U+{ord(bad):04X}"
        )
    return name


def parse_uscc(raw: object, field_name: str = "uscc") -> str:
    """The 18-character unified social credit code, upper-cased, with a valid check character."""
    number = _text(raw, field_name).upper()
    try:
        return str(stdnum_uscc.validate(number))
    except InvalidLength:
        raise InvalidValueError(
            f"{field_name}: a unified social credit code has 18 characters"
        ) from None
    except InvalidChecksum:
        raise InvalidValueError(
            f"{field_name}: the check character of {number} is wrong (mistyped code?)"
        ) from None
    except ValidationError:
        raise InvalidValueError(
            f"{field_name}: a unified social credit code is 8 digits, then 10 digits or "
            "capital letters other than I, O, S, V and Z"
        ) from None


def parse_contact_name(raw: object, field_name: str = "contact.name") -> str:
    name = _text(raw, field_name)
    if not 1 <= len(name) <= MAX_CONTACT_NAME:
        raise InvalidValueError(f"{field_name}: give a name of 1-{MAX_CONTACT_NAME} characters")
    bad = _invisible(name)
    if bad is not None:
        raise InvalidValueError(f"{field_name}: contains the invisible character U+{ord(bad):04X}")
    return name


def parse_email(raw: object, field_name: str = "contact.email") -> str:
    """`local@domain`: a dot-atom local part and a domain as for `parse_domain`."""
    text = _text(raw, field_name)
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidValueError(f"{field_name}: {text!r} is not an email address")
    if len(local) > MAX_MAILBOX or not _EMAIL_LOCAL.fullmatch(local):
        raise InvalidValueError(
            f"{field_name}: the part before @ of {text!r} is not a valid mailbox name"
        )
    domain = parse_domain(domain, field_name)
    email = f"{local}@{domain}"
    if len(email) > MAX_EMAIL:
        raise InvalidValueError(
            f"{field_name}: an email address has at most {MAX_EMAIL} characters"
        )
    return email


def parse_phone(raw: object, field_name: str = "contact.phone") -> str:
    """Digits with an optional leading `+`, `-` and spaces; 5-20 digits. Spaces are tidied."""
    text = " ".join(_text(raw, field_name).split())
    if not _PHONE.fullmatch(text):
        raise InvalidValueError(
            f"{field_name}: use digits, an optional leading +, hyphens and spaces only"
        )
    digits = sum(c.isdigit() for c in text)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        raise InvalidValueError(
            f"{field_name}: a phone number has {MIN_PHONE_DIGITS}-{MAX_PHONE_DIGITS} digits"
        )
    return text


def _not_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public one (None: it is)."""
    for test, why in (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_multicast, "multicast"),
        (address.is_link_local, "link-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
    ):
        if test:
            return why
    return None if address.is_global else "not globally routable"


def parse_address(raw: object, field_name: str = "addresses") -> str:
    """A public IPv4/IPv6 address or network (`203.0.113.0/24` style), in canonical form."""
    text = _text(raw, field_name)
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=True)
            canonical = str(network)
            reason = _not_public(network.network_address) or _not_public(network.broadcast_address)
        else:
            address = ipaddress.ip_address(text)
            canonical = str(address)
            reason = _not_public(address)
    except ValueError as error:
        hint = (
            "has host bits set" if "host bits" in str(error) else "is not an IP address or network"
        )
        raise InvalidValueError(f"{field_name}: {text!r} {hint}") from None
    if reason is not None:
        raise InvalidValueError(
            f"{field_name}: {canonical} is a {reason} address; a public node registers only "
            "globally routable addresses"
        )
    return canonical


def parse_domain(raw: object, field_name: str = "domains") -> str:
    """A domain name of two or more LDH labels (Unicode labels IDNA-encoded), lower-cased,
    without the trailing root dot."""
    text = _text(raw, field_name)
    # IDNA's other full stops (ideographic, fullwidth, halfwidth) separate labels too.
    name = text.translate(_FULL_STOPS)
    name = name[:-1] if name.endswith(".") else name
    if not name:
        raise InvalidValueError(f"{field_name}: the domain name is empty")
    labels = name.split(".")
    encoded: list[str] = []
    for label in labels:
        if not label:
            raise InvalidValueError(f"{field_name}: {text!r} has an empty label")
        try:
            ascii_label = label.encode("idna").decode("ascii").lower()
        except UnicodeError:
            if label.isascii() and len(label) > MAX_LABEL:
                ascii_label = label  # reported as too long below
            else:
                raise InvalidValueError(
                    f"{field_name}: the label {label!r} of {text!r} cannot be IDNA-encoded"
                ) from None
        if not 1 <= len(ascii_label) <= MAX_LABEL:
            raise InvalidValueError(
                f"{field_name}: each label of {text!r} has 1-{MAX_LABEL} characters once encoded"
            )
        if not _LDH_LABEL.fullmatch(ascii_label):
            raise InvalidValueError(
                f"{field_name}: the label {label!r} of {text!r} may hold only letters, digits "
                "and hyphens, and may not start or end with a hyphen"
            )
        if ascii_label.startswith("xn--") and not _is_a_label(ascii_label):
            raise InvalidValueError(
                f"{field_name}: the label {label!r} of {text!r} is not valid punycode"
            )
        encoded.append(ascii_label)
    if len(encoded) < MIN_LABELS:
        raise InvalidValueError(f"{field_name}: {text!r} is not a domain name (example.com)")
    if encoded[-1].isdigit():
        raise InvalidValueError(f"{field_name}: {text!r} ends in a numeric label: not a domain")
    domain = ".".join(encoded)
    if len(domain) > MAX_DOMAIN:
        raise InvalidValueError(f"{field_name}: a domain name has at most {MAX_DOMAIN} characters")
    return domain


def _is_a_label(label: str) -> bool:
    """Whether an `xn--` label decodes to Unicode and encodes back to itself."""
    try:
        return label.encode("ascii").decode("idna").encode("idna").decode("ascii") == label
    except UnicodeError:
        return False


def parse_reason(raw: object, *, required: bool, field_name: str = "reason") -> str | None:
    """A decision's reason: 1-500 characters; line breaks allowed, other control characters not."""
    if raw is None:
        if required:
            raise InvalidValueError(f"{field_name}: give a reason")
        return None
    text = _text(raw, field_name)
    if not text:
        if required:
            raise InvalidValueError(f"{field_name}: give a reason")
        return None
    if len(text) > MAX_REASON:
        raise InvalidValueError(f"{field_name}: a reason has at most {MAX_REASON} characters")
    bad = _invisible(text.replace("\n", "").replace("\r", ""))
    if bad is not None:
        raise InvalidValueError(f"{field_name}: contains the invisible character U+{ord(bad):04X}")
    return text


T = TypeVar("T")


def _items(raw: object, field_name: str) -> list[object]:
    if raw is None:
        return []
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise InvalidValueError(f"{field_name}: expected a list")
    return list(raw)


def _each(
    items: list[object], parse: Callable[[object, str], str], field_name: str, problems: list[str]
) -> tuple[str, ...]:
    """Parse every item, collecting problems; duplicates (after normalising) are kept once."""
    seen: dict[str, None] = {}
    for position, item in enumerate(items):
        try:
            seen.setdefault(parse(item, f"{field_name}[{position}]"))
        except InvalidValueError as error:
            problems.append(error.message)
    return tuple(seen)


def _collect(problems: list[str], parse: Callable[[], T]) -> T | None:
    try:
        return parse()
    except InvalidValueError as error:
        problems.append(error.message)
        return None


def parse_profile(raw: Mapping[str, Any]) -> Profile:
    """Check every item of a submitted profile (keys as in the API: legalName, uscc, industry,
    contact{name,email,phone}, addresses, domains, hosting, serviceNodes). Raises one
    InvalidValueError naming every field that is wrong."""
    problems: list[str] = []
    legal_name = _collect(problems, lambda: parse_legal_name(raw.get("legalName")))
    uscc = _collect(problems, lambda: parse_uscc(raw.get("uscc")))
    industry = _collect(problems, lambda: parse_industry(raw.get("industry")))
    contact_raw = raw.get("contact")
    if not isinstance(contact_raw, Mapping):
        problems.append("contact: give a name, an email address and a phone number")
        contact_raw = {}
    contact_name = _collect(problems, lambda: parse_contact_name(contact_raw.get("name")))
    email = _collect(problems, lambda: parse_email(contact_raw.get("email")))
    phone = _collect(problems, lambda: parse_phone(contact_raw.get("phone")))
    addresses_raw = _collect(problems, lambda: _items(raw.get("addresses"), "addresses")) or []
    domains_raw = _collect(problems, lambda: _items(raw.get("domains"), "domains")) or []
    addresses = _each(addresses_raw, parse_address, "addresses", problems)
    domains = _each(domains_raw, parse_domain, "domains", problems)
    if not addresses_raw and not domains_raw:
        problems.append("addresses, domains: give at least one IP address, network or domain")
    elif len(addresses) + len(domains) > MAX_RESOURCES:
        problems.append(f"addresses, domains: at most {MAX_RESOURCES} network resources in all")
    hosting, service_nodes = _hosting(raw, problems)
    if (
        problems
        or legal_name is None
        or uscc is None
        or industry is None
        or contact_name is None
        or email is None
        or phone is None
        or hosting is None
    ):
        raise InvalidValueError("; ".join(problems))
    return Profile(
        legal_name=legal_name,
        uscc=uscc,
        industry=industry,
        contact=Contact(contact_name, email, phone),
        addresses=addresses,
        domains=domains,
        hosting=hosting,
        service_nodes=service_nodes,
    )


def _hosting(
    raw: Mapping[str, Any], problems: list[str]
) -> tuple[Hosting | None, tuple[NodeAddress, ...]]:
    mode = raw.get("hosting", Hosting.HOSTED.value)
    try:
        hosting = Hosting(mode)
    except ValueError:
        problems.append("hosting: either hosted or self-hosted")
        return None, ()
    nodes = raw.get("serviceNodes")
    if hosting is Hosting.HOSTED:
        if nodes not in (None, []):
            problems.append("serviceNodes: only a self-hosted enterprise has its own nodes")
        return hosting, ()
    if not nodes:
        problems.append("serviceNodes: a self-hosted enterprise gives its node's service addresses")
        return hosting, ()
    return hosting, _collect(problems, lambda: parse_nodes(nodes)) or ()


# Applications and enterprises


@dataclass(frozen=True, slots=True)
class Decision:
    """Who decided an application (or withdrew it), when, and why."""

    by: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Application:
    """An application to onboard an enterprise, or to change an onboarded one's profile.
    Applications are never deleted: a withdrawn or rejected one stays as it was decided."""

    id: str
    kind: ApplicationKind
    enterprise: str  # the USCC: the id of the enterprise (to be)
    applicant: str
    profile: Profile
    submitted: datetime
    status: ApplicationStatus = ApplicationStatus.PENDING
    decision: Decision | None = None
    prefix: str | None = None  # allocated on approval of an onboarding
    version: int = 0

    @property
    def pending(self) -> bool:
        return self.status is ApplicationStatus.PENDING

    def require_pending(self) -> None:
        if not self.pending:
            raise InvalidStateError(f"application {self.id} is {self.status.value} already")

    def approved(self, decision: Decision, prefix: str | None = None) -> Application:
        self.require_pending()
        return replace(self, status=ApplicationStatus.APPROVED, decision=decision, prefix=prefix)

    def rejected(self, decision: Decision) -> Application:
        self.require_pending()
        if not decision.reason:
            raise InvalidValueError("reason: a rejection needs a reason")
        return replace(self, status=ApplicationStatus.REJECTED, decision=decision)

    def withdrawn(self, decision: Decision) -> Application:
        self.require_pending()
        return replace(self, status=ApplicationStatus.WITHDRAWN, decision=decision)


@dataclass(frozen=True, slots=True)
class Enterprise:
    """An onboarded enterprise (an enterprise node of this secondary node)."""

    id: str  # its USCC
    profile: Profile
    prefix: str
    created: datetime
    updated: datetime
    status: EnterpriseStatus = EnterpriseStatus.ACTIVE
    version: int = 0

    @property
    def name(self) -> str:
        return self.profile.legal_name

    @property
    def industry(self) -> str:
        """The division (or section) its statistics are counted under."""
        return self.profile.division

    @property
    def active(self) -> bool:
        return self.status is EnterpriseStatus.ACTIVE

    def with_profile(self, profile: Profile, at: datetime) -> Enterprise:
        if profile.uscc != self.id:
            raise InvalidValueError(
                "uscc: the unified social credit code of an enterprise is fixed"
            )
        return replace(self, profile=profile, updated=at)

    def with_status(self, status: EnterpriseStatus, at: datetime) -> Enterprise:
        if status is self.status:
            raise InvalidStateError(f"enterprise {self.id} is {status.value} already")
        return replace(self, status=status, updated=at)


def admin_handle(prefix: str) -> str:
    """The handle of an enterprise's admin identity (`88.100.1234/ADMIN`)."""
    return f"{prefix}/{ADMIN_SUFFIX}"


def admin_identity_of(prefix: str) -> str:
    """The enterprise's admin identity, `300:88.100.1234/ADMIN`."""
    return f"{ADMIN_INDEX}:{admin_handle(prefix)}"


@dataclass(frozen=True, slots=True)
class Onboarding:
    """What approving an onboarding application creates, all in one transaction: the decided
    application, the enterprise and its admin identity (whose first secret nobody knows)."""

    application: Application
    enterprise: Enterprise
    credential: AdminCredential
