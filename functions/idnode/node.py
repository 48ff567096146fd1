"""The composition root: the node's services wired to their stores, built once per process."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from aws_lambda_powertools.metrics import MetricUnit

from idnode.adapters.people import UserPool
from idnode.domain.operations import OperationEntry
from idnode.observability import logger, metrics
from idnode.services.billing import BillingService
from idnode.services.caching import TtlCache
from idnode.services.callers import CallerAuthenticator, Tokens
from idnode.services.metering import BufferedMeter
from idnode.services.onboarding import OnboardingService
from idnode.services.operations import OperationLog
from idnode.services.parameters import ParameterService
from idnode.services.people import PeopleService
from idnode.services.registry import RegistryService
from idnode.services.search import SearchService
from idnode.services.statistics import StatisticsService
from idnode.settings import Settings, get_settings
from idnode.store.allocation import PrefixAllocator
from idnode.store.applications import ApplicationRepository
from idnode.store.credentials import CredentialRepository
from idnode.store.enterprises import EnterpriseRepository
from idnode.store.identifiers import IdentifierRepository, StaleRecordError
from idnode.store.members import MemberRepository
from idnode.store.models import Tables, bind_tables
from idnode.store.operations import OperationRepository
from idnode.store.parameters import ParameterRepository
from idnode.store.prefixes import PrefixRepository
from idnode.store.search import EnterpriseDirectory, IdentifierSearch
from idnode.store.statistics import CounterRepository

# How long a warm function trusts what it read about a prefix (status, owner).
PREFIX_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Node:
    settings: Settings
    tables: Tables
    registry: RegistryService
    callers: CallerAuthenticator
    prefixes: PrefixRepository
    credentials: CredentialRepository
    enterprises: EnterpriseRepository
    log: OperationLog
    meter: BufferedMeter
    parameters: ParameterService
    onboarding: OnboardingService
    people: PeopleService
    statistics: StatisticsService
    billing: BillingService
    search: SearchService


def build_node(settings: Settings, tokens: Tokens | None = None) -> Node:
    """Wire the node for `settings`. Without `tokens`, Cognito ID tokens of the configured
    user pool are accepted (none when no pool is configured)."""
    tables = bind_tables(settings)
    prefixes = PrefixRepository(tables.prefixes)
    credentials = CredentialRepository(tables.credentials)
    enterprises = EnterpriseRepository(tables.enterprises, tables.prefixes)
    applications = ApplicationRepository(tables.applications)
    counters = CounterRepository(tables.statistics)
    identifiers = IdentifierRepository(tables.identifiers)
    if tokens is None and settings.user_pool_id and settings.user_pool_client_id:
        # Imported here: PyJWT and cryptography cost import time that a process without a
        # user pool (or a benchmark of the Handle read path) should not pay.
        from idnode.adapters.tokens import TokenVerifier  # noqa: PLC0415

        tokens = TokenVerifier.for_settings(settings)

    # The log and the parameters need each other: entries expire after a retention period
    # that is a parameter, and changing parameters is logged. The lambdas run only later.
    log = OperationLog(
        OperationRepository(
            tables.operations,
            retention_days=lambda: parameters.retention_days(),  # noqa: PLW0108 - not bound yet
        ),
        fallback=_log_unrecorded,
        max_page_size=lambda: parameters.current().max_page_size,
    )
    parameters = ParameterService(
        ParameterRepository(
            tables.parameters, region=settings.region, endpoint_url=settings.endpoint_url
        ),
        log,
        settings.node_prefix,
    )

    known = TtlCache[tuple[bool, str | None]](PREFIX_CACHE_SECONDS, 4096, time.monotonic)
    industries = TtlCache[str](PREFIX_CACHE_SECONDS, 4096, time.monotonic)

    def prefix_facts(prefix: str) -> tuple[bool, str | None]:
        """(resolvable, enterprise) of a prefix, cached: read on the resolution path."""

        def load() -> tuple[bool, str | None]:
            found = prefixes.get(prefix)
            if found is None:
                return True, None
            return found.active or found.resolvable, found.enterprise

        return known.get_or_load(prefix.lower(), load)

    def industry_of(enterprise: str) -> str:
        def load() -> str:
            found = enterprises.get(enterprise)
            return found.industry if found is not None else ""

        return industries.get_or_load(enterprise, load)

    def scopes_of(prefix: str) -> Iterable[str]:
        """Every series a count under `prefix` adds to (read only when counts are flushed)."""
        yield "node"
        yield f"prefix#{prefix}"
        enterprise = prefix_facts(prefix)[1]
        if enterprise:
            yield f"enterprise#{enterprise}"
            if industry := industry_of(enterprise):
                yield f"industry#{industry}"

    meter = BufferedMeter(counters, scopes_of, settings.meter_flush_seconds, on_error=_meter_failed)
    user_pool = UserPool.for_settings(settings)
    people = PeopleService(
        user_pool,
        MemberRepository(tables.members),
        credentials,
        prefixes,
        log=log,
        known_enterprise=lambda enterprise: enterprises.get(enterprise) is not None,
        prefixes_of=enterprises.prefixes_of,
    )
    onboarding = OnboardingService(
        enterprises=enterprises,
        applications=applications,
        allocation=PrefixAllocator(
            sequences=tables.sequences,
            prefixes=tables.prefixes,
            credentials=tables.credentials,
            applications=applications,
            enterprises=enterprises,
            node_prefix=settings.node_prefix,
            first_number=lambda: parameters.current().first_enterprise_number,
        ),
        admin_handles=identifiers,
        directory=people,
        counters=counters,
        log=log,
        parameters=parameters.current,
        on_incomplete=_onboarding_incomplete,
    )
    return Node(
        settings=settings,
        tables=tables,
        registry=RegistryService(
            identifiers,
            prefixes,
            settings.node_prefix,
            log=log,
            meter=meter,
            stale_error=StaleRecordError,
            resolvable=lambda prefix: prefix_facts(prefix)[0],
        ),
        callers=CallerAuthenticator(
            credentials,
            prefixes,
            tokens,
            log=log,
            second_factors=user_pool,
            require_mfa=settings.require_mfa,
        ),
        prefixes=prefixes,
        credentials=credentials,
        enterprises=enterprises,
        log=log,
        meter=meter,
        parameters=parameters,
        onboarding=onboarding,
        people=people,
        statistics=StatisticsService(counters),
        billing=BillingService(counters, parameters.current),
        search=SearchService(
            IdentifierSearch(tables.identifiers),
            EnterpriseDirectory(tables.enterprises, tables.prefixes),
            settings.node_prefix,
        ),
    )


def _onboarding_incomplete(step: str, error: Exception) -> None:
    # The approval stands; the log entry's details name the step, for an operator to finish.
    logger.error("approved onboarding step not done", extra={"step": step}, exc_info=error)
    metrics.add_metric(name="OnboardingStepsIncomplete", unit=MetricUnit.Count, value=1)


def _log_unrecorded(entry: OperationEntry, error: Exception) -> None:
    # The entry survives in CloudWatch Logs, from where it can be replayed into the table.
    logger.error(
        "operation log entry not stored",
        extra={"operation_entry": asdict(entry), "error": repr(error)},
    )
    metrics.add_metric(name="OperationLogFailures", unit=MetricUnit.Count, value=1)


def _meter_failed(error: Exception) -> None:
    logger.warning("metering counts not stored; kept for the next flush", exc_info=error)
    metrics.add_metric(name="MeteringFlushFailures", unit=MetricUnit.Count, value=1)


def _meter_dropped(events: int) -> None:
    logger.warning("metering buffer full while the store refuses writes", extra={"events": events})
    metrics.add_metric(name="MeteringCountsDropped", unit=MetricUnit.Count, value=events)


_current: Node | None = None


def current_node() -> Node:
    """This process's node, built at first use from the environment."""
    global _current  # noqa: PLW0603 - the one process-wide composition root
    if _current is None:
        _current = build_node(get_settings())
    return _current


def use_node(node: Node | None) -> None:
    """Make `node` this process's node (tests and the local gateway); None rebuilds lazily."""
    global _current  # noqa: PLW0603
    _current = node
