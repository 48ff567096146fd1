"""The GS1-Conformant resolver's public routes: Digital Link URIs of registered GS1 keys
(``/01/{gtin}[/22/..][/10/{lot}][/21/{serial}]``, ``/00``, ``/414``, ``/8003``, ``/8004``)
and the resolver description at ``/.well-known/gs1resolver``.

Part of the Handle REST function (the same lean hot path): it imports the link domain and
service, nothing of GraphQL. See docs/digital-link.md.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from idnode.domain import links as domain
from idnode.domain.errors import IdnodeError
from idnode.domain.schemes import GS1_PRIMARY_AIS
from idnode.node import current_node

# Powertools leaves this constructor unannotated; the router types the v2 event for us.
router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

_PRIMARY = "|".join(sorted(GS1_PRIMARY_AIS))
PROBLEM = "application/problem+json"
RESOLVER_NAME = "idnode GS1-Conformant resolver"
# Resolvers answer for clients on any origin (the standard asks for CORS); the links they
# hand out are public.
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Link, Location, Content-Type",
}
_VARY = "Accept, Accept-Language"


def _root() -> str:
    """This resolver's root URI, as the client addressed it."""
    headers = router.current_event.headers
    host = headers.get("host") or router.current_event.request_context.domain_name
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}"


def _query() -> list[tuple[str, str]]:
    # The raw query keeps repeats and order; queryStringParameters joins repeats with commas.
    return parse_qsl(router.current_event.raw_query_string or "", keep_blank_values=True)


def _wants_linkset(accept: str | None) -> bool:
    for part in (accept or "").split(","):
        media, *parameters = (field.strip() for field in part.split(";"))
        if media.lower() != domain.LINKSET_MEDIA_TYPE:
            continue
        quality = next((p.split("=", 1)[1] for p in parameters if p.lower().startswith("q=")), "1")
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def _head() -> bool:
    return router.current_event.request_context.http.method.upper() == "HEAD"


def _answer(
    status: int, body: str, content_type: str | None, headers: dict[str, str]
) -> Response[str]:
    # HEAD: the same status and headers, without the body.
    return Response(
        status_code=status,
        content_type=content_type,
        body="" if _head() else body,
        headers={**_CORS, **headers},
    )


def _problem(error: IdnodeError) -> Response[str]:
    status = HTTPStatus(error.http_status)
    body = {"type": "about:blank", "title": status.phrase, "status": status.value}
    body["detail"] = error.message
    return _answer(
        status.value, json.dumps(body, ensure_ascii=False), PROBLEM, {"Cache-Control": "no-store"}
    )


@router.route(rf"/(?:{_PRIMARY})/.+", method=["GET", "HEAD"])
def resolve() -> Response[str]:
    event = router.current_event
    query = _query()
    link_types = [value for name, value in query if name == "linkType"]
    root = _root()
    # Deferred: the GS1 rules import biip (a quarter of a second), which the Handle API's
    # own routes in the same function should not pay for at a cold start.
    from idnode.services.digital_links import LinksetReply  # noqa: PLC0415

    try:
        resolved = current_node().digital_links.resolve(
            event.raw_path or event.path,
            root=root,
            link_type=link_types[-1] if link_types else None,
            languages=domain.accepted_languages(event.headers.get("accept-language")),
            wants_linkset=_wants_linkset(event.headers.get("accept")),
            query=query,
        )
    except IdnodeError as error:
        return _problem(error)
    linkset_uri = f"{resolved.anchor}?linkType=linkset"
    headers = {
        "Link": f'<{linkset_uri}>; rel="linkset"; type="{domain.LINKSET_MEDIA_TYPE}"',
        "Vary": _VARY,
        "Cache-Control": "no-store",
    }
    if isinstance(resolved, LinksetReply):
        body = json.dumps(resolved.document, ensure_ascii=False)
        return _answer(HTTPStatus.OK, body, domain.LINKSET_MEDIA_TYPE, headers)
    headers["Location"] = resolved.location
    return _answer(HTTPStatus.TEMPORARY_REDIRECT, "", None, headers)


@router.route("/.well-known/gs1resolver", method=["GET", "HEAD"])
def describe() -> Response[str]:
    description: dict[str, Any] = {
        "name": RESOLVER_NAME,
        "resolverRoot": _root(),
        "supportedPrimaryKeys": sorted(GS1_PRIMARY_AIS, key=int),
        "supportedLinkType": [
            {"namespace": domain.GS1_VOC, "prefix": domain.GS1_COMPACT},
        ],
        "linkTypes": sorted(domain.GS1_LINK_TYPES),
        "linkTypeDefaultCanBeLinkset": False,
        "linkTypeDefaultCanBeAll": False,
        "supportedContextValuesEnumerated": [],
    }
    return _answer(
        HTTPStatus.OK,
        json.dumps(description),
        "application/json",
        {"Cache-Control": "public, max-age=3600"},
    )
