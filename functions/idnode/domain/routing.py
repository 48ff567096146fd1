"""Where a self-hosted enterprise's identifiers are resolved: its enterprise node(s).

An enterprise that runs its own node records the node's service addresses with the fields the
national system uses (`entPrefixConfig`): `entPrefix`, `hdlType` (`HS_SITE` or `HS_SERV`),
`ip`, `ipType` (4 or 6), `tcpPort`, `udpPort`, `httpPort` (at least one port). An entry
without `entPrefix` applies to every prefix of the enterprise (an applicant has no prefix yet).

The prefix handle `0.NA/<entPrefix>` then carries:
- per `HS_SITE` entry, the site information of that node (one server with the given
  interfaces, in the v9 JSON form) twice: as `HS_SITE`, where Handle clients look for the
  site of `entPrefix/...`, and as `HS_SITE.PREFIX`, for the prefixes derived from it;
- for `HS_SERV` entries, `HS_SERV` and `HS_SERV.PREFIX` values naming the service handle
  `<node prefix>/0.SERV.<entPrefix>`, which the node answers with one `HS_SITE` per entry.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from idnode.domain.errors import InvalidValueError
from idnode.domain.protocol.encoding import address_bytes, address_text, key_to_json, rsa_numbers
from idnode.domain.values import DataFormat, Value, ValueData

MAX_NODES = 8
MAX_PORT = 65_535
SITE_TTL = 86_400
SERVICE_PREFIX = "0.SERV."
# The first index of the values generated for a prefix handle (HS_SITE.PREFIX, HS_SERV.PREFIX).
FIRST_INDEX = 1


class HdlType(StrEnum):
    HS_SITE = "HS_SITE"
    HS_SERV = "HS_SERV"


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """One enterprise node's service address (valid by construction via `parse_node`)."""

    hdl_type: HdlType
    ip: str
    ip_type: int
    tcp_port: int | None = None
    udp_port: int | None = None
    http_port: int | None = None
    ent_prefix: str | None = None
    # The node's RSA public key in Handle's encoding, base64 (its `pubkey.bin`): when given,
    # its answers must be signed with it.
    public_key: str | None = None

    def applies_to(self, prefix: str) -> bool:
        return self.ent_prefix is None or self.ent_prefix.lower() == prefix.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "entPrefix": self.ent_prefix,
            "hdlType": self.hdl_type.value,
            "ip": self.ip,
            "ipType": self.ip_type,
            "tcpPort": self.tcp_port,
            "udpPort": self.udp_port,
            "httpPort": self.http_port,
            "publicKey": self.public_key,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> NodeAddress:
        """A stored entry (validated when it was submitted)."""
        return cls(
            hdl_type=HdlType(raw["hdlType"]),
            ip=raw["ip"],
            ip_type=int(raw["ipType"]),
            tcp_port=raw.get("tcpPort"),
            udp_port=raw.get("udpPort"),
            http_port=raw.get("httpPort"),
            ent_prefix=raw.get("entPrefix"),
            public_key=raw.get("publicKey"),
        )

    def site(self) -> dict[str, Any]:
        """The site information (v9 JSON form) of this node."""
        interfaces = [
            {"query": True, "admin": False, "protocol": protocol, "port": port}
            for protocol, port in (
                ("TCP", self.tcp_port),
                ("UDP", self.udp_port),
                ("HTTP", self.http_port),
            )
            if port is not None
        ]
        return {
            "version": 1,
            "protocolVersion": "2.10",
            "serialNumber": 1,
            "primarySite": True,
            "multiPrimary": False,
            "attributes": [{"name": "desc", "value": "enterprise node"}],
            "servers": [
                {
                    "serverId": 1,
                    "address": self.ip,
                    "publicKey": key_to_json(base64.b64decode(self.public_key))
                    if self.public_key
                    else {"format": "base64", "value": ""},
                    "interfaces": interfaces,
                }
            ],
        }


def _port(raw: Mapping[str, Any], name: str, where: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PORT:
        raise InvalidValueError(f"{where}.{name}: a port is a number from 1 to {MAX_PORT}")
    return value


def parse_node(raw: object, where: str, prefixes: Sequence[str] | None = None) -> NodeAddress:
    """One entry, checked field by field; `prefixes` (if known) are the enterprise's own."""
    if not isinstance(raw, Mapping):
        raise InvalidValueError(f"{where}: give hdlType, ip, ipType and at least one port")
    try:
        hdl_type = HdlType(raw.get("hdlType", HdlType.HS_SITE.value))
    except ValueError:
        raise InvalidValueError(f"{where}.hdlType: either HS_SITE or HS_SERV") from None
    ip_type = raw.get("ipType")
    if ip_type not in (4, 6) or isinstance(ip_type, bool):
        raise InvalidValueError(f"{where}.ipType: either 4 or 6")
    text = raw.get("ip")
    try:
        address = ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise InvalidValueError(f"{where}.ip: {text!r} is not an IP address") from None
    if address.version != ip_type:
        raise InvalidValueError(f"{where}.ip: {address} is not an IPv{ip_type} address")
    if address.is_unspecified or address.is_multicast:
        raise InvalidValueError(f"{where}.ip: {address} cannot answer resolution requests")
    ip = address_text(address_bytes(address, where))  # as Handle.Net writes it
    tcp, udp, http = (_port(raw, name, where) for name in ("tcpPort", "udpPort", "httpPort"))
    if tcp is None and udp is None and http is None:
        raise InvalidValueError(f"{where}: give at least one of tcpPort, udpPort, httpPort")
    ent_prefix = raw.get("entPrefix")
    if ent_prefix in (None, ""):
        ent_prefix = None
    elif not isinstance(ent_prefix, str):
        raise InvalidValueError(f"{where}.entPrefix: a prefix such as 88.100.1234")
    elif prefixes is not None and ent_prefix.lower() not in {p.lower() for p in prefixes}:
        raise InvalidValueError(
            f"{where}.entPrefix: {ent_prefix} is not a prefix of this enterprise"
        )
    return NodeAddress(
        hdl_type, ip, ip_type, tcp, udp, http, ent_prefix, _public_key(raw.get("publicKey"), where)
    )


def _public_key(raw: object, where: str) -> str | None:
    if raw in (None, ""):
        return None
    try:
        data = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if rsa_numbers(data) is None:
        raise InvalidValueError(
            f"{where}.publicKey: the node's RSA public key in Handle's encoding, base64 "
            "(its pubkey.bin)"
        )
    return base64.b64encode(data).decode("ascii")


def parse_nodes(
    raw: object, field_name: str = "serviceNodes", prefixes: Sequence[str] | None = None
) -> tuple[NodeAddress, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise InvalidValueError(f"{field_name}: give at least one enterprise node")
    if len(raw) > MAX_NODES:
        raise InvalidValueError(f"{field_name}: at most {MAX_NODES} enterprise nodes")
    nodes = tuple(parse_node(item, f"{field_name}[{n}]", prefixes) for n, item in enumerate(raw))
    if len(set(nodes)) != len(nodes):
        raise InvalidValueError(f"{field_name}: the same node is given twice")
    return nodes


def service_handle(node_prefix: str, prefix: str) -> str:
    """The service handle an HS_SERV.PREFIX value of `prefix` names (answered by this node)."""
    return f"{node_prefix}/{SERVICE_PREFIX}{prefix}"


def prefix_values(
    nodes: Iterable[NodeAddress], prefix: str, node_prefix: str, at: datetime
) -> tuple[Value, ...]:
    """The values of `0.NA/<prefix>` for a self-hosted prefix: per HS_SITE node its site as
    HS_SITE (for `prefix/...`) and HS_SITE.PREFIX (for prefixes derived from it); for HS_SERV
    nodes one HS_SERV and one HS_SERV.PREFIX naming the service handle."""
    mine = [n for n in nodes if n.applies_to(prefix)]
    sites = [n.site() for n in mine if n.hdl_type is HdlType.HS_SITE]
    typed: list[tuple[str, ValueData]] = [
        *(("HS_SITE", ValueData(DataFormat.SITE, site)) for site in sites),
        *(("HS_SITE.PREFIX", ValueData(DataFormat.SITE, site)) for site in sites),
    ]
    if any(n.hdl_type is HdlType.HS_SERV for n in mine):
        service = ValueData(DataFormat.STRING, service_handle(node_prefix, prefix))
        typed += [("HS_SERV", service), ("HS_SERV.PREFIX", service)]
    return tuple(
        Value(FIRST_INDEX + i, value_type, data, SITE_TTL, at)
        for i, (value_type, data) in enumerate(typed)
    )


def service_values(nodes: Iterable[NodeAddress], prefix: str, at: datetime) -> tuple[Value, ...]:
    """The values of the service handle of `prefix`: one HS_SITE per HS_SERV node."""
    return tuple(
        Value(FIRST_INDEX + i, "HS_SITE", ValueData(DataFormat.SITE, n.site()), SITE_TTL, at)
        for i, n in enumerate(
            n for n in nodes if n.applies_to(prefix) and n.hdl_type is HdlType.HS_SERV
        )
    )


def referral_sites(values: Iterable[Value]) -> list[dict[str, Any]]:
    """The sites of a prefix handle's HS_SITE.PREFIX values (what a resolver walks to)."""
    return [v.data.value for v in values if v.type in ("HS_SITE.PREFIX", "HS_SITE")]
