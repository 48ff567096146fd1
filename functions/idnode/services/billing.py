"""Billing (SN-8): monthly statements from the enterprise's daily counters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from idnode.domain.access import Operation, Principal, authorise
from idnode.domain.billing import Statement, month_days, parse_month, statement
from idnode.domain.errors import InvalidValueError
from idnode.domain.parameters import Parameters
from idnode.domain.statistics import enterprise_scope
from idnode.services.statistics import DailyCounters


class BillingService:
    def __init__(
        self,
        counters: DailyCounters,
        parameters: Callable[[], Parameters],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._counters = counters
        self._parameters = parameters
        self._clock = clock

    def statement(self, principal: Principal, enterprise: str, month: str) -> Statement:
        """Staff see any enterprise's statement; an enterprise admin its own."""
        enterprise = enterprise.strip()
        authorise(principal, Operation.VIEW_BILLING, enterprise=enterprise)
        if not enterprise:
            raise InvalidValueError(
                "enterprise: name the enterprise (its unified social credit code)"
            )
        month = parse_month(month)
        first, last = month_days(month)
        days = self._counters.days(
            enterprise_scope(enterprise), last.isoformat(), first.isoformat()
        )
        return statement(
            enterprise,
            month,
            registrations=sum(counts.get("registrations", 0) for counts in days.values()),
            resolutions=sum(counts.get("resolutions", 0) for counts in days.values()),
            prices=self._parameters().prices,
            # Days are UTC days, as the meter counts them.
            final=self._clock().astimezone(UTC).date() > last,
        )
