"""GS1 Digital Link links: validation, selection by type and language, the RFC 9264
linkset and passing the query string on."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.domain import links as domain
from idnode.domain.errors import InvalidValueError

PIP = "https://gs1.org/voc/pip"


def raw(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "linkType": "gs1:pip",
        "href": "https://brand.example.com/p",
        "title": "Product page",
    }
    return {**base, **overrides}


def link(link_type: str = PIP, href: str = "https://x.example/", **kw: Any) -> domain.Link:
    return domain.Link(link_type, href, kw.pop("title", "t"), **kw)


# Validation


def test_a_single_link_becomes_the_default() -> None:
    (only,) = domain.build_links([raw()])
    assert only == domain.Link(PIP, "https://brand.example.com/p", "Product page", default=True)


def test_link_types_expand_from_compact_and_older_namespaces() -> None:
    for written in ("gs1:pip", PIP, "http://gs1.org/voc/pip", "https://ref.gs1.org/voc/pip"):
        assert domain.expand_link_type(written) == PIP
    assert domain.expand_link_type("https://vocab.example.com/warranty") == (
        "https://vocab.example.com/warranty"
    )
    assert domain.compact_link_type(PIP) == "gs1:pip"
    assert domain.compact_link_type("urn:x:y") == "urn:x:y"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("gs1:nope", "not a link type of the GS1 web vocabulary"),
        ("gs1:defaultLink", "mark the default link with default: true"),
        ("pip", "neither a GS1 link type"),
        ("", "empty"),
    ],
)
def test_bad_link_types_are_refused(written: str, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        domain.expand_link_type(written)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ([raw(href="ftp://x.example/")], r"links\[0\]\.href .* not an absolute http"),
        ([raw(href="/relative")], r"links\[0\]\.href"),
        ([raw(href="https://x.example/\r\nSet-Cookie: a")], "white space or control"),
        ([raw(title="")], r"links\[0\]\.title is missing"),
        ([raw(title="x" * 201)], "at most 200"),
        ([raw(hreflang="en")], "must be a list"),
        ([raw(hreflang=["en_GB"])], "not a BCP 47 language tag"),
        ([raw(type="html")], "not a media type"),
        ([raw(default="yes")], "true or false"),
        ([raw(colour="red")], "unknown fields: colour"),
        ([raw(), raw(href="https://y.example/")], "exactly one link must be the default"),
        ([raw(default=True), raw(default=True, href="https://y.example/")], "found links"),
        ([raw(default=True), raw()], r"links\[1\] repeats"),
        ([raw(default=True)] * 101, "at most 100"),
    ],
)
def test_bad_links_are_refused_naming_the_link(links: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        domain.build_links(links)


def test_full_links_keep_their_attributes_and_round_trip() -> None:
    built = domain.build_links(
        [
            raw(default=True, hreflang=["en", "EN", "zh-Hans-CN"], type="text/html; charset=utf-8"),
            raw(linkType="urn:example:manual", href="http://x.example/m", title=" Manual "),
        ]
    )
    assert built[0].hreflang == ("en", "zh-Hans-CN")
    assert built[0].type == "text/html; charset=utf-8"
    assert built[1].title == "Manual"
    assert domain.stored_links([link.to_json() for link in built]) == built


def test_no_links_is_a_valid_set() -> None:
    assert domain.build_links([]) == ()


# Selection


def test_accept_language_is_ordered_by_quality() -> None:
    header = "fr;q=0.2, zh-CN, en;q=0.8, de;q=0, *;q=0.1"
    assert domain.accepted_languages(header) == ("zh-cn", "en", "fr")
    assert domain.accepted_languages(None) == ()
    assert domain.accepted_languages("en;q=x") == ()


def test_selection_prefers_type_then_language_then_order() -> None:
    default = link(href="https://d.example/", default=True, hreflang=("en",))
    zh = link(href="https://zh.example/", hreflang=("zh",))
    de = link(href="https://de.example/", hreflang=("de-AT",))
    safety = link("https://gs1.org/voc/safetyInfo", "https://s.example/")
    links = [default, zh, de, safety]
    assert domain.select(links, None, ("zh",)) == default
    assert domain.select(links, PIP, ("zh-cn",)) == zh  # a general tag serves a variant
    assert domain.select(links, PIP, ("de",)) == de  # a range matches its variants
    assert domain.select(links, PIP, ("fr", "de", "zh")) == de
    assert domain.select(links, PIP, ()) == default
    assert domain.select(links, "https://gs1.org/voc/safetyInfo", ("zh",)) == safety
    assert domain.select(links, "https://gs1.org/voc/recipeInfo", ()) == default


def test_selecting_from_no_links_is_a_bug() -> None:
    with pytest.raises(ValueError, match="nothing to select"):
        domain.select([], None)


_TYPES = st.sampled_from([PIP, "https://gs1.org/voc/safetyInfo", "urn:x:manual"])
_LANGS = st.sampled_from(["en", "en-GB", "zh", "zh-CN", "de"])
_LINKS = st.lists(
    st.builds(
        lambda t, n, langs: link(t, f"https://{n}.example/", hreflang=tuple(langs)),
        _TYPES,
        st.integers(0, 50),
        st.lists(_LANGS, max_size=2, unique=True),
    ),
    min_size=1,
    max_size=8,
)


@given(_LINKS, st.integers(0, 7), st.one_of(st.none(), _TYPES), st.lists(_LANGS, max_size=3))
def test_selection_invariants(
    links: list[domain.Link], default_at: int, wanted: str | None, languages: list[str]
) -> None:
    at = default_at % len(links)
    links[at] = domain.Link(
        links[at].link_type, links[at].href, links[at].title, links[at].hreflang, default=True
    )
    chosen = domain.select(links, wanted, languages)
    assert chosen in links
    of_type = [candidate for candidate in links if candidate.link_type == wanted]
    if wanted is None or not of_type:
        assert chosen == links[at]  # the default link
    else:
        assert chosen.link_type == wanted
        # Nothing of the type serves a more wanted language than the chosen one.
        assert all(
            domain._language_rank(chosen, languages) <= domain._language_rank(other, languages)
            for other in of_type
        )


# Rendering


def test_the_linkset_has_one_context_with_full_relation_types() -> None:
    links = domain.build_links(
        [
            raw(default=True, hreflang=["en"], type="text/html"),
            raw(href="https://brand.example.com/zh", hreflang=["zh"]),
            raw(linkType="gs1:certificationInfo", href="https://cert.example/"),
        ]
    )
    document = domain.linkset("https://id.example.com/01/09506000134352", links)
    assert document == {
        "linkset": [
            {
                "anchor": "https://id.example.com/01/09506000134352",
                "https://gs1.org/voc/defaultLink": [
                    {
                        "href": "https://brand.example.com/p",
                        "title": "Product page",
                        "type": "text/html",
                        "hreflang": ["en"],
                    }
                ],
                PIP: [
                    {
                        "href": "https://brand.example.com/p",
                        "title": "Product page",
                        "type": "text/html",
                        "hreflang": ["en"],
                    },
                    {
                        "href": "https://brand.example.com/zh",
                        "title": "Product page",
                        "hreflang": ["zh"],
                    },
                ],
                "https://gs1.org/voc/certificationInfo": [
                    {"href": "https://cert.example/", "title": "Product page"}
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("target", "query", "expected"),
    [
        ("https://x.example/p", [], "https://x.example/p"),
        ("https://x.example/p", [("linkType", "gs1:pip")], "https://x.example/p"),
        ("https://x.example/p", [("17", "251231")], "https://x.example/p?17=251231"),
        ("https://x.example/p?a=1#top", [("b", "2 3")], "https://x.example/p?a=1&b=2+3#top"),
        ("https://x.example/p", [("a", ""), ("a", "&")], "https://x.example/p?a=&a=%26"),
    ],
)
def test_the_query_string_is_passed_on(
    target: str, query: list[tuple[str, str]], expected: str
) -> None:
    assert domain.with_query(target, query) == expected
