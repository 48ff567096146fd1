"""End to end against the deployed stack in the local cloud: a GTIN registered through GraphQL
is found as a GTIN and as its node identifier, answers GS1 Digital Link requests on the public
API once it has links, and a batch registered through the Handle REST bulk path is idempotent
when retried."""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
import requests

from tests.support.local_cloud import TIMEOUT, graphql, sign_in
from tests.support.templates import PUMP

pytestmark = pytest.mark.localcloud


def _gtin() -> str:
    """A fresh GTIN-14 with its GS1 check digit (mod 10, weights 3 and 1 from the right)."""
    body = "0" + "".join(random.choices("0123456789", k=12))
    total = sum(int(d) * (3 if n % 2 == 0 else 1) for n, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _basic(stack: dict[str, Any]) -> dict[str, str]:
    demo = stack["demo"]
    user = demo["adminIdentity"].replace(":", "%3A", 1)
    encoded = base64.b64encode(f"{user}:{demo['adminSecret']}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_gtin_digital_link_resolution(local_stack: dict[str, Any]) -> None:
    stack = local_stack
    prefix = stack["demo"]["enterprisePrefix"]
    token = sign_in(stack, stack["demo"]["username"], stack["demo"]["password"])
    gtin = _gtin()
    api = stack["handleApiUrl"]

    created = graphql(
        stack,
        "RegisterSchemeIdentifier",
        {"input": {"prefix": prefix, "scheme": "GS1", "key": f"(01){gtin}", "values": []}},
        token,
    )
    assert created["__typename"] == "Identifier", created
    assert created["handle"] == f"{prefix}/01/{gtin}"
    found = graphql(
        stack, "ResolveKey", {"scheme": "GS1", "key": f"https://id.gs1.org/01/{gtin}"}, None
    )
    assert found["handle"] == f"{prefix}/01/{gtin}"

    # Registered, but nothing to redirect to yet.
    assert (
        requests.get(f"{api}/01/{gtin}", allow_redirects=False, timeout=TIMEOUT).status_code == 404
    )

    links = graphql(
        stack,
        "SetDigitalLinks",
        {
            "input": {
                "key": f"01/{gtin}",
                "links": [
                    {
                        "linkType": "gs1:pip",
                        "href": "https://example.com/p",
                        "title": "Product",
                        "hreflang": ["en"],
                        "default": True,
                    },
                    {
                        "linkType": "gs1:instructions",
                        "href": "https://example.com/manual.pdf",
                        "title": "Manual",
                        "type": "application/pdf",
                    },
                ],
            }
        },
        token,
    )
    assert links["__typename"] == "DigitalLinks", links

    # A serial of the GTIN has no links of its own: the resolver walks up to the GTIN's.
    default = requests.get(
        f"{api}/01/{gtin}/21/SN-1", params={"src": "e2e"}, allow_redirects=False, timeout=TIMEOUT
    )
    assert default.status_code == 307, default.text
    assert default.headers["Location"] == "https://example.com/p?src=e2e"
    assert "linkset" in default.headers.get("Link", "")

    manual = requests.get(
        f"{api}/01/{gtin}",
        params={"linkType": "gs1:instructions"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert (manual.status_code, manual.headers["Location"]) == (
        307,
        "https://example.com/manual.pdf",
    )

    linkset = requests.get(
        f"{api}/01/{gtin}", headers={"Accept": "application/linkset+json"}, timeout=TIMEOUT
    )
    assert linkset.status_code == 200, linkset.text
    assert linkset.headers["Content-Type"].startswith("application/linkset+json")
    (anchor,) = linkset.json()["linkset"]
    assert anchor["anchor"].endswith(f"/01/{gtin}")
    assert anchor["https://gs1.org/voc/pip"][0]["href"] == "https://example.com/p"

    malformed = requests.get(f"{api}/01/{gtin[:-1]}{(int(gtin[-1]) + 1) % 10}", timeout=TIMEOUT)
    assert malformed.status_code == 400
    unknown = requests.get(f"{api}/01/{_gtin()}", allow_redirects=False, timeout=TIMEOUT)
    assert unknown.status_code == 404

    description = requests.get(f"{api}/.well-known/gs1resolver", timeout=TIMEOUT)
    assert description.status_code == 200, description.text
    assert "01" in description.json()["supportedPrimaryKeys"]

    deleted = graphql(stack, "DeleteIdentifier", {"handle": f"{prefix}/01/{gtin}"}, token)
    assert deleted["__typename"] == "DeletedIdentifier"
    gone = requests.get(f"{api}/01/{gtin}", allow_redirects=False, timeout=TIMEOUT)
    assert gone.status_code == 404


def test_bulk_registration_is_idempotent(local_stack: dict[str, Any]) -> None:
    stack = local_stack
    prefix = stack["demo"]["enterprisePrefix"]
    run = "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=6))
    items = [
        {
            "handle": f"{prefix}/BULK-{run}-{n}",
            "values": [{"index": 1, "type": "URL", "data": f"https://example.com/{n}"}],
        }
        for n in range(5)
    ]
    items.append({"handle": "no-slash", "values": []})
    url = f"{stack['handleApiUrl']}/api/handles"

    first = requests.post(url, json={"handles": items}, headers=_basic(stack), timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["existed"], body["failed"]) == (5, 0, 1), body

    retry = requests.post(url, json={"handles": items}, headers=_basic(stack), timeout=TIMEOUT)
    assert (retry.json()["created"], retry.json()["existed"]) == (0, 5), retry.text

    resolved = requests.get(f"{url}/{prefix}/BULK-{run}-3", timeout=TIMEOUT)
    assert resolved.json()["values"][0]["data"]["value"] == "https://example.com/3"


def test_master_data_and_private_codes(local_stack: dict[str, Any]) -> None:
    stack = local_stack
    demo = stack["demo"]
    prefix = demo["enterprisePrefix"]
    admin = demo["platformAdmin"]
    staff = sign_in(stack, admin["username"], admin["password"])
    token = sign_in(stack, demo["username"], demo["password"])
    run = "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=6))
    code = f"E2E-PUMP-{run}"
    template = {**PUMP, "code": code}
    imported = graphql(stack, "ImportTemplates", {"templates": template}, staff)
    assert imported["__typename"] == "TemplateImport", imported
    again = graphql(stack, "ImportTemplates", {"templates": template}, staff)
    assert again["templates"][0]["outcome"] == "UNCHANGED"

    handle = f"{prefix}/PUMP-{run}"
    created = graphql(
        stack, "RegisterIdentifier", {"input": {"handle": handle, "values": []}}, token
    )
    assert created["__typename"] == "Identifier", created
    written = graphql(
        stack,
        "SetMasterData",
        {
            "input": {
                "handle": handle,
                "template": {"code": code, "version": "1.0"},
                "data": {"model": "CP-200", "ratedFlow": 12.5},
            }
        },
        token,
    )
    assert written["__typename"] == "MasterData", written
    refused = graphql(
        stack, "SetMasterData", {"input": {"handle": handle, "data": {"model": "CP-200"}}}, token
    )
    assert refused["__typename"] == "InvalidInputError"
    assert "ratedFlow" in refused["message"]
    # The Handle REST path is held to the template too.
    bad = requests.put(
        f"{stack['handleApiUrl']}/api/handles/{handle}",
        params={"overwrite": "true", "index": "2001"},
        json={"values": [{"index": 2001, "type": "RATED_FLOW", "data": "fast"}]},
        headers=_basic(stack),
        timeout=TIMEOUT,
    )
    assert bad.status_code == 400, bad.text

    mapped = graphql(
        stack,
        "MapPrivateCodes",
        {
            "enterprise": demo["enterprise"],
            "mappings": [{"code": f"ERP-{run}", "identifier": handle}],
        },
        token,
    )
    assert mapped["changed"] == 1, mapped
    resolved = graphql(
        stack, "ResolvePrivateCode", {"enterprise": demo["enterprise"], "code": f"ERP-{run}"}, token
    )
    assert resolved["identifier"]["handle"] == handle
    values = {v["index"]: v["data"]["value"] for v in resolved["identifier"]["values"]}
    assert values[1001] == f"{code}@1.0"
    assert values[2000] == "CP-200"
