"""GS1 Digital Link links: what a registered GS1 key resolves to.

A key carries a set of typed links (GS1-Conformant Resolver standard): each has a link type
from the GS1 web vocabulary (``gs1:pip``, a product information page) or any absolute URI
as an extension type, a target, a title and optionally the languages and media type of the
target. Exactly one link of a non-empty set is the default link, where a request without a
link type goes.

This module validates links, chooses the link a request asks for (by type, then by the
languages the client accepts) and renders a key's links as an RFC 9264 linkset. Pure: the
resolver's HTTP edge and the link service call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from idnode.domain.errors import InvalidValueError

GS1_VOC = "https://gs1.org/voc/"
GS1_COMPACT = "gs1:"
DEFAULT_LINK = f"{GS1_VOC}defaultLink"
LINKSET_MEDIA_TYPE = "application/linkset+json"
# linkType values that ask for the linkset itself rather than a redirect.
LINKSET_REQUESTS = frozenset({"linkset", "all"})

MAX_LINKS = 100
MAX_TITLE = 200
MAX_HREF = 2048
MAX_LANGUAGES = 20
MAX_MEDIA_TYPE = 127
MAX_LINK_TYPE = 512

# Link types of the GS1 Web Vocabulary (https://gs1.org/voc/, subproperties of gs1:linkType).
GS1_LINK_TYPES = frozenset(
    {
        "activityIdeas",
        "allergenInfo",
        "appDownload",
        "brandHomepageClinical",
        "brandHomepagePatient",
        "careersInfo",
        "certificationInfo",
        "consumerHandlingStorageInfo",
        "dpp",
        "epcis",
        "epil",
        "eventsInfo",
        "faqs",
        "handledBy",
        "hasRetailers",
        "homepage",
        "ingredientsInfo",
        "instructions",
        "jws",
        "leaflet",
        "locationInfo",
        "logisticsInfo",
        "loyaltyProgram",
        "masterData",
        "menuInfo",
        "nutritionalInfo",
        "paymentLink",
        "pip",
        "productSustainabilityInfo",
        "promotion",
        "purchaseSuppliesOrAccessories",
        "quickStartGuide",
        "recallStatus",
        "recipeInfo",
        "registerProduct",
        "registryEntry",
        "relatedImage",
        "relatedVideo",
        "review",
        "safetyInfo",
        "scheduleTime",
        "serviceInfo",
        "smartLabel",
        "smpc",
        "socialMedia",
        "statisticInfo",
        "subscribe",
        "support",
        "sustainabilityInfo",
        "traceability",
        "tutorial",
        "userAgreement",
        "verificationService",
        "whatsInTheBox",
    }
)
# Older writings of the vocabulary's namespace that clients still send.
_GS1_NAMESPACES = (GS1_VOC, "http://gs1.org/voc/", "https://ref.gs1.org/voc/")
# The standard's own relations: the default link is a flag on a link, not a type of its own.
_RESERVED = frozenset({"defaultLink", "defaultLinkMulti", "linkType"})

# BCP 47 language tags in their common shape (RFC 5646 section 2.1, without checking the
# registry): a 2-3 letter language or 4-8 letter registered language, then subtags.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# RFC 6838 type/subtype with optional parameters.
_NAME_PART = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(
    rf"{_NAME_PART}/{_NAME_PART}(?:\s*;\s*{_NAME_PART}=(?:{_NAME_PART}|\"[^\"]*\"))*"
)
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a key. ``link_type`` is always the full URI."""

    link_type: str
    href: str
    title: str
    hreflang: tuple[str, ...] = ()
    type: str | None = None
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        """The stored form (the keys table keeps a key's links as a JSON list)."""
        document: dict[str, Any] = {
            "linkType": self.link_type,
            "href": self.href,
            "title": self.title,
        }
        if self.hreflang:
            document["hreflang"] = list(self.hreflang)
        if self.type:
            document["type"] = self.type
        if self.default:
            document["default"] = True
        return document

    def target(self) -> dict[str, Any]:
        """The link as an RFC 9264 target object."""
        target: dict[str, Any] = {"href": self.href, "title": self.title}
        if self.type:
            target["type"] = self.type
        if self.hreflang:
            target["hreflang"] = list(self.hreflang)
        return target

    @property
    def compact_type(self) -> str:
        return compact_link_type(self.link_type)


# Link types


def expand_link_type(text: str, *, where: str = "linkType") -> str:
    """The full URI of a link type written compactly (``gs1:pip``) or in full.

    A GS1 vocabulary term must be one of its link types; any other absolute URI is accepted
    as an extension type, as the standard allows.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidValueError(f"{where} is empty: give a GS1 link type such as gs1:pip")
    written = text.strip()
    if len(written) > MAX_LINK_TYPE:
        raise InvalidValueError(f"{where} is longer than {MAX_LINK_TYPE} characters")
    term = _gs1_term(written)
    if term is not None:
        if term in _RESERVED:
            raise InvalidValueError(
                f"{where} {written!r} is not a link type: mark the default link with "
                "default: true and give it its own type (e.g. gs1:pip)"
            )
        if term not in GS1_LINK_TYPES:
            raise InvalidValueError(
                f"{where} {written!r} is not a link type of the GS1 web vocabulary "
                "(e.g. gs1:pip, gs1:certificationInfo, gs1:instructions, gs1:safetyInfo)"
            )
        return GS1_VOC + term
    if not _ABSOLUTE_URI.fullmatch(written):
        raise InvalidValueError(
            f"{where} {written!r} is neither a GS1 link type (gs1:pip) nor an absolute URI"
        )
    return written


def compact_link_type(uri: str) -> str:
    """``https://gs1.org/voc/pip`` -> ``gs1:pip``; extension types stay as they are."""
    return GS1_COMPACT + uri[len(GS1_VOC) :] if uri.startswith(GS1_VOC) else uri


def _gs1_term(written: str) -> str | None:
    if written[: len(GS1_COMPACT)].lower() == GS1_COMPACT:
        return written[len(GS1_COMPACT) :]
    for namespace in _GS1_NAMESPACES:
        if written.startswith(namespace):
            return written[len(namespace) :]
    return None


# Validation


def build_links(raw: Sequence[Mapping[str, Any]]) -> tuple[Link, ...]:
    """Validate a key's new set of links (as a client wrote them).

    Errors name the link by position (``links[2].href``) and say what is wrong. A set that
    is not empty has exactly one default link; a set of one link makes that one the default.
    """
    if len(raw) > MAX_LINKS:
        raise InvalidValueError(f"links: {len(raw)} links, at most {MAX_LINKS} per key")
    links = [_build_link(item, f"links[{n}]") for n, item in enumerate(raw)]
    defaults = [n for n, link in enumerate(links) if link.default]
    if len(links) == 1 and not defaults:
        links[0] = _with_default(links[0])
    elif links and len(defaults) != 1:
        found = ", ".join(f"links[{n}]" for n in defaults) or "none"
        raise InvalidValueError(
            f"links: exactly one link must be the default link (default: true); found {found}"
        )
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for n, link in enumerate(links):
        identity = (link.link_type, link.href, link.hreflang)
        if identity in seen:
            raise InvalidValueError(
                f"links[{n}] repeats an earlier link (same linkType, href and hreflang)"
            )
        seen.add(identity)
    return tuple(links)


def _with_default(link: Link) -> Link:
    return Link(link.link_type, link.href, link.title, link.hreflang, link.type, True)


def _build_link(item: Mapping[str, Any], where: str) -> Link:
    if not isinstance(item, Mapping):
        raise InvalidValueError(f"{where} is not an object")
    unknown = sorted(set(item) - {"linkType", "href", "title", "hreflang", "type", "default"})
    if unknown:
        raise InvalidValueError(f"{where} has unknown fields: {', '.join(unknown)}")
    link_type = expand_link_type(item.get("linkType", ""), where=f"{where}.linkType")
    default = item.get("default", False)
    if not isinstance(default, bool):
        raise InvalidValueError(f"{where}.default must be true or false")
    return Link(
        link_type=link_type,
        href=validate_href(item.get("href"), f"{where}.href"),
        title=_title(item.get("title"), f"{where}.title"),
        hreflang=_languages(item.get("hreflang"), f"{where}.hreflang"),
        type=_media_type(item.get("type"), f"{where}.type"),
        default=default,
    )


def validate_href(value: object, where: str = "href") -> str:
    """An absolute http(s) URI, as a redirect's Location may carry it."""
    if not isinstance(value, str) or not value:
        raise InvalidValueError(f"{where} is missing: give the absolute https URI to link to")
    if len(value) > MAX_HREF:
        raise InvalidValueError(f"{where} is longer than {MAX_HREF} characters")
    # A Location header cannot carry white space or control characters (header injection).
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in value):  # noqa: PLR2004 - C0 controls and DEL
        raise InvalidValueError(f"{where} contains white space or control characters")
    try:
        parts = urlsplit(value)
    except ValueError as error:
        raise InvalidValueError(f"{where} {value!r} is not a URI: {error}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidValueError(f"{where} {value!r} is not an absolute http or https URI")
    return value


def _title(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValueError(f"{where} is missing: every link needs a title")
    if len(value) > MAX_TITLE:
        raise InvalidValueError(f"{where} has {len(value)} characters, at most {MAX_TITLE}")
    if any(ord(char) < 0x20 for char in value):  # noqa: PLR2004 - C0 controls
        raise InvalidValueError(f"{where} contains control characters")
    return value.strip()


def _languages(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidValueError(f"{where} must be a list of language tags such as ['en', 'zh-CN']")
    if len(value) > MAX_LANGUAGES:
        raise InvalidValueError(f"{where} has {len(value)} tags, at most {MAX_LANGUAGES}")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not _LANGUAGE_TAG.fullmatch(tag) or len(tag) > 35:  # noqa: PLR2004 - RFC 5646's recommended tag length
            raise InvalidValueError(f"{where}: {tag!r} is not a BCP 47 language tag (e.g. en-GB)")
        if tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    return tuple(tags)


def _media_type(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_MEDIA_TYPE:
        raise InvalidValueError(f"{where} must be a media type such as text/html")
    if not _MEDIA_TYPE.fullmatch(value.strip()):
        raise InvalidValueError(f"{where} {value!r} is not a media type (type/subtype)")
    return value.strip()


def stored_links(stored: Iterable[Mapping[str, Any]]) -> tuple[Link, ...]:
    """Links as the keys table holds them (written by `Link.to_json`, so trusted)."""
    links: list[Link] = []
    for item in stored:
        if not isinstance(item, Mapping) or not item.get("href") or not item.get("linkType"):
            continue
        links.append(
            Link(
                link_type=str(item["linkType"]),
                href=str(item["href"]),
                title=str(item.get("title", "")),
                hreflang=tuple(str(tag) for tag in item.get("hreflang") or ()),
                type=item.get("type") or None,
                default=bool(item.get("default", False)),
            )
        )
    return tuple(links)


# Selection


def default_link(links: Sequence[Link]) -> Link | None:
    return next((link for link in links if link.default), links[0] if links else None)


def accepted_languages(header: str | None) -> tuple[str, ...]:
    """The language ranges of an Accept-Language header, most wanted first (q=0 dropped)."""
    if not header:
        return ()
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        fields = [field.strip() for field in part.split(";")]
        tag = fields[0]
        if not tag or tag == "*":
            continue
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, tag.lower()))
    return tuple(tag for _, _, tag in sorted(ranked))


def _language_rank(link: Link, languages: Sequence[str]) -> int:
    """Lower is better: the position of the first accepted range the link serves; a range
    matches a tag that equals it or starts with it and a hyphen (RFC 4647 basic filtering),
    and a link in a more general language (en) serves a range asking for a variant (en-GB)."""
    tags = [tag.lower() for tag in link.hreflang]
    for rank, wanted in enumerate(languages):
        for tag in tags:
            if tag == wanted or tag.startswith(wanted + "-") or wanted.startswith(tag + "-"):
                return rank
    return len(languages)


def select(links: Sequence[Link], link_type: str | None, languages: Sequence[str] = ()) -> Link:
    """The link a request goes to: of ``link_type`` (a full URI; None: the default link),
    in the best accepted language, else the first of that type. Without a link of the type,
    the default link (GS1-Conformant Resolver: an unavailable type falls back to it)."""
    if not links:
        raise ValueError("a key without links has nothing to select")
    fallback = next((link for link in links if link.default), links[0])
    if link_type is None:
        return fallback
    candidates = [link for link in links if link.link_type == link_type]
    if not candidates:
        return fallback
    # min keeps the first of equal rank: the order the owner gave the links in.
    return min(candidates, key=lambda link: _language_rank(link, languages))


# Rendering


def linkset(anchor: str, links: Sequence[Link]) -> dict[str, Any]:
    """The links as an RFC 9264 JSON linkset with one context (the key's URI on this
    resolver): relation types as full URIs, the default link under gs1:defaultLink too."""
    context: dict[str, Any] = {"anchor": anchor}
    chosen = default_link(links)
    if chosen is not None:
        context[DEFAULT_LINK] = [chosen.target()]
    for link in links:
        context.setdefault(link.link_type, []).append(link.target())
    return {"linkset": [context]}


def with_query(target: str, parameters: Sequence[tuple[str, str]]) -> str:
    """The target with the request's query parameters appended after its own (linkType,
    the resolver's own parameter, is not passed on)."""
    passed = [(name, value) for name, value in parameters if name != "linkType"]
    if not passed:
        return target
    parts = urlsplit(target)
    extra = urlencode(passed)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
