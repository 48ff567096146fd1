"""The node's own site information: which servers and interfaces answer the Handle protocol.

Configured as a comma-separated list of interface URIs, one per interface actually deployed:

    tcp://127.0.0.1:2641, udp://127.0.0.1:2641, http://127.0.0.1:8000/hdl, tcp://[::1]:2641

Interfaces at the same address make one server (server ids 1, 2, ... in order of first
appearance), so an IPv4 and an IPv6 address are two servers of the one site. An HTTP
interface's path becomes the site's `path` attribute (Handle.Net clients POST to
`<path>/<handle>`); a host name instead of an address becomes the `domain` attribute, with
the server's address left as zeros for clients to look up.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from idnode.domain.errors import InvalidValueError
from idnode.domain.protocol.encoding import PROTOCOLS, address_bytes, address_text, key_to_json

SITE_SERIAL = 1
UNSPECIFIED_ADDRESS = "0.0.0.0"  # noqa: S104 - written into site information, never bound
PROTOCOL_VERSION = "2.10"


def parse_interfaces(spec: str) -> list[tuple[str, str, int, str]]:
    """(protocol, host, port, path) per interface URI; refuses a bad entry by naming it."""
    found = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise InvalidValueError(f"handle interface {raw!r} is not a URI") from None
        protocol = parts.scheme.upper()
        if protocol not in PROTOCOLS:
            raise InvalidValueError(
                f"handle interface {raw!r}: the scheme must be tcp, udp, http or https"
            )
        if not parts.hostname or port is None:
            raise InvalidValueError(f"handle interface {raw!r} needs a host and a port")
        if protocol in ("TCP", "UDP") and parts.path not in ("", "/"):
            raise InvalidValueError(f"handle interface {raw!r}: only HTTP interfaces have a path")
        if _is_address(parts.hostname):
            address_bytes(parts.hostname, f"handle interface {raw!r}")  # writable, or refused
        found.append((protocol, parts.hostname, port, parts.path.rstrip("/")))
    return found


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(host: str) -> tuple[str, bool]:
    """(address as the site writes it, whether host was a name rather than an address)."""
    if not _is_address(host):
        return UNSPECIFIED_ADDRESS, True
    return address_text(address_bytes(host, f"handle interface {host}")), False


def node_site(spec: str, public_key: bytes | None) -> dict[str, Any] | None:
    """The v9 JSON site information for the configured interfaces (None: none configured)."""
    interfaces = parse_interfaces(spec)
    if not interfaces:
        return None
    servers: dict[str, dict[str, Any]] = {}
    paths = {path for protocol, _, _, path in interfaces if protocol.startswith("HTTP") and path}
    domains = set()
    for protocol, host, port, _ in interfaces:
        address, named = _address(host)
        if named:
            domains.add(host)
        server = servers.setdefault(
            address,
            {
                "serverId": len(servers) + 1,
                "address": address,
                "publicKey": key_to_json(public_key)
                if public_key
                else {"format": "base64", "value": ""},
                "interfaces": [],
            },
        )
        server["interfaces"].append(
            {"query": True, "admin": False, "protocol": protocol, "port": port}
        )
    if len(paths) > 1 or len(domains) > 1:
        raise InvalidValueError("all HTTP interfaces of the node must share one path and host")
    attributes = [{"name": "desc", "value": "idnode resolution site"}]
    attributes += [{"name": "path", "value": path} for path in paths]
    attributes += [{"name": "domain", "value": domain} for domain in domains]
    return {
        "version": 1,
        "protocolVersion": PROTOCOL_VERSION,
        "serialNumber": SITE_SERIAL,
        "primarySite": True,
        "multiPrimary": False,
        "attributes": attributes,
        "servers": list(servers.values()),
    }
