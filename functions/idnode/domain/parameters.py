"""System parameters (IOT-1): what platform admins tune without redeploying.

The node prefix is not among them: it is fixed at deployment (every prefix and identifier is
keyed under it) and shown beside them read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class NodeType(StrEnum):
    """SN-1: an industry node serves one GB/T 4754 division; a comprehensive node several."""

    INDUSTRY = "industry"
    COMPREHENSIVE = "comprehensive"


@dataclass(frozen=True, slots=True)
class PriceList:
    """Unit prices from a month on (until a later price list takes over)."""

    effective_from: str  # YYYY-MM
    currency: str = "CNY"
    registration: Decimal = Decimal("0.01")
    resolution: Decimal = Decimal("0.0001")
    free_resolutions: int = 100_000  # per enterprise and month


@dataclass(frozen=True, slots=True)
class Parameters:
    node_name: str = "idnode secondary node"
    node_type: NodeType = NodeType.COMPREHENSIVE
    # GB/T 4754 divisions (e.g. "C34") enterprises may come from; empty: any.
    industries: tuple[str, ...] = ()
    first_enterprise_number: int = 1000  # the first number allocated under the node prefix
    prices: tuple[PriceList, ...] = field(default_factory=lambda: (PriceList("2020-01"),))
    operation_log_retention_days: int = 365
    telemetry_retention_days: int = 90
    max_page_size: int = 1000
    max_pending_applications: int = 3  # per applicant
    identifier_quota: int = 0  # per enterprise; 0: unlimited
    suspension_stops_resolution: bool = False  # the default when suspending an enterprise
