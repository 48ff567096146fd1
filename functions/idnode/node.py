"""The composition root: the node's services wired to their stores, built once per process."""
# ruff: noqa: PLC0415 - the business services' imports are deferred to their first use

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict
from functools import cached_property
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from idnode.adapters.people import UserPool
from idnode.domain.operations import OperationEntry
from idnode.domain.records import TEMPLATE_INDEX, Record
from idnode.observability import logger, metrics
from idnode.services.caching import TtlCache
from idnode.services.callers import CallerAuthenticator, Tokens
from idnode.services.metering import BufferedMeter
from idnode.services.operations import OperationLog
from idnode.services.parameters import ParameterService
from idnode.services.registry import RegistryService
from idnode.settings import Settings, get_settings
from idnode.store.credentials import CredentialRepository
from idnode.store.identifiers import IdentifierRepository, StaleRecordError
from idnode.store.keys import KeyRepository
from idnode.store.models import bind_tables
from idnode.store.operations import OperationRepository
from idnode.store.parameters import ParameterRepository
from idnode.store.prefixes import PrefixRepository
from idnode.store.statistics import CounterRepository

if TYPE_CHECKING:
    from idnode.adapters.iot import IotCore
    from idnode.adapters.signing import RsaSigner
    from idnode.domain.routing import NodeAddress
    from idnode.services.billing import BillingService
    from idnode.services.codes import CodeService
    from idnode.services.devices import DeviceService
    from idnode.services.digital_links import DigitalLinkService
    from idnode.services.health import HealthService
    from idnode.services.onboarding import OnboardingService
    from idnode.services.people import PeopleService
    from idnode.services.recursion import RecursiveResolver
    from idnode.services.search import SearchService
    from idnode.services.sites import SiteService
    from idnode.services.statistics import StatisticsService
    from idnode.services.telemetry import TelemetryService
    from idnode.services.templates import TemplateService
    from idnode.store.alarms import AlarmRepository
    from idnode.store.commands import CommandRepository
    from idnode.store.devices import DeviceRepository
    from idnode.store.enterprises import EnterpriseRepository
    from idnode.store.profiles import ProfileRepository

# How long a warm function trusts what it read about a prefix (status, owner).
PREFIX_CACHE_SECONDS = 30.0


class Node:
    """The node's parts. The registry's (what the Handle API needs on every request) are
    built at once; the secondary node's business services on first use, so that the Handle
    API's cold start does not import them (measured by `make bench`)."""

    def __init__(self, settings: Settings, tokens: Tokens | None = None) -> None:
        self.settings = settings
        self.tables = tables = bind_tables(settings)
        self.prefixes = PrefixRepository(tables.prefixes)
        self.credentials = CredentialRepository(tables.credentials)
        self.counters = CounterRepository(tables.statistics)
        self.keys = KeyRepository(tables.keys)
        self.identifiers = IdentifierRepository(tables.identifiers, self.keys)
        if tokens is None and settings.user_pool_id and settings.user_pool_client_id:
            # Imported here: PyJWT and cryptography cost import time that a process without a
            # user pool (or a benchmark of the Handle read path) should not pay.
            from idnode.adapters.tokens import TokenVerifier

            tokens = TokenVerifier.for_settings(settings)

        # The log and the parameters need each other: entries expire after a retention period
        # that is a parameter, and changing parameters is logged.
        self.log = OperationLog(
            OperationRepository(tables.operations, retention_days=self._retention_days),
            fallback=_log_unrecorded,
            max_page_size=lambda: self.parameters.current().max_page_size,
        )
        self.parameters = ParameterService(
            ParameterRepository(
                tables.parameters, region=settings.region, endpoint_url=settings.endpoint_url
            ),
            self.log,
            settings.node_prefix,
        )
        self._prefix_facts = TtlCache[tuple[bool, str | None]](
            PREFIX_CACHE_SECONDS, 4096, time.monotonic
        )
        self._enterprise_facts = TtlCache[tuple[str, tuple["NodeAddress", ...]]](
            PREFIX_CACHE_SECONDS, 4096, time.monotonic
        )
        self.meter = BufferedMeter(
            self.counters,
            self._scopes_of,
            settings.meter_flush_seconds,
            on_error=_meter_failed,
            on_drop=_meter_dropped,
        )
        self.user_pool = UserPool.for_settings(settings)
        self.registry = RegistryService(
            self.identifiers,
            self.prefixes,
            settings.node_prefix,
            log=self.log,
            meter=self.meter,
            stale_error=StaleRecordError,
            keys=self.keys,
            check=self._check_master_data,
            resolvable=lambda prefix: self._facts(prefix)[0],
        )
        self.callers = CallerAuthenticator(
            self.credentials,
            self.prefixes,
            tokens,
            log=self.log,
            second_factors=self.user_pool,
            require_mfa=settings.require_mfa,
        )

    def _check_master_data(self, record: Record) -> None:
        # Only records naming a template pay for the template service (and jsonschema).
        if record.value_at(TEMPLATE_INDEX) is not None:
            self.templates.check_record(record)

    def _retention_days(self) -> int:
        return self.parameters.retention_days()

    def _facts(self, prefix: str) -> tuple[bool, str | None]:
        """(resolvable, enterprise) of a prefix, cached: read on the resolution path."""

        def load() -> tuple[bool, str | None]:
            found = self.prefixes.get(prefix)
            if found is None:
                return True, None
            return found.active or found.resolvable, found.enterprise

        return self._prefix_facts.get_or_load(prefix.lower(), load)

    def _enterprise(self, enterprise: str) -> tuple[str, tuple[NodeAddress, ...]]:
        """(industry, its own nodes when self-hosted) of an enterprise, cached: read on the
        resolution path (where its names are answered) and when counts are flushed."""

        def load() -> tuple[str, tuple[NodeAddress, ...]]:
            from idnode.domain.enterprises import Hosting

            found = self.enterprises.get(enterprise)
            if found is None:
                return "", ()
            profile = found.profile
            nodes = profile.service_nodes if profile.hosting is Hosting.SELF_HOSTED else ()
            return found.industry, nodes

        return self._enterprise_facts.get_or_load(enterprise, load)

    def _industry_of(self, enterprise: str) -> str:
        return self._enterprise(enterprise)[0]

    def _scopes_of(self, prefix: str) -> Iterable[str]:
        """Every series a count under `prefix` adds to (read only when counts are flushed)."""
        yield "node"
        yield f"prefix#{prefix}"
        enterprise = self._facts(prefix)[1]
        if enterprise:
            yield f"enterprise#{enterprise}"
            if industry := self._industry_of(enterprise):
                yield f"industry#{industry}"

    # Built on first use, their imports deferred with them (PLC0415 is off for this file).

    @cached_property
    def signer(self) -> RsaSigner | None:
        """The Handle protocol signing key (None: the node has none configured)."""
        from idnode.adapters.signing import load_signer

        settings = self.settings
        return load_signer(
            settings.handle_key_file,
            settings.handle_key_secret,
            settings.region,
            settings.endpoint_url,
        )

    @cached_property
    def sites(self) -> SiteService:
        from idnode.services.sites import SiteService

        def hosted(prefix: str) -> bool:
            resolvable, enterprise = self._facts(prefix)
            return resolvable and enterprise is not None

        return SiteService(
            self.settings.node_prefix,
            self.settings.handle_interfaces,
            lambda: self.signer.public_key_bytes if self.signer is not None else None,
            hosted,
            self._routes_of,
        )

    def _routes_of(self, prefix: str) -> tuple[NodeAddress, ...]:
        """A self-hosted prefix's enterprise nodes (none: hosted here, or not allocated)."""
        enterprise = self._facts(prefix)[1]
        if enterprise is None:
            return ()
        return tuple(n for n in self._enterprise(enterprise)[1] if n.applies_to(prefix))

    @cached_property
    def health(self) -> HealthService:
        """The health of self-hosted enterprise nodes, probed on a schedule."""
        from idnode.adapters.handle_client import HandleClient
        from idnode.services.health import HealthService
        from idnode.store.health import HealthRepository

        return HealthService(
            self.enterprises, HealthRepository(self.tables.health), HandleClient().query
        )

    @cached_property
    def resolver(self) -> RecursiveResolver:
        """Recursive resolution at self-hosted enterprise nodes, cached in this process."""
        from idnode.adapters.handle_client import HandleClient
        from idnode.services.recursion import RecursiveResolver

        return RecursiveResolver(HandleClient().query)

    @cached_property
    def enterprises(self) -> EnterpriseRepository:
        from idnode.store.enterprises import EnterpriseRepository

        return EnterpriseRepository(self.tables.enterprises, self.tables.prefixes)

    @cached_property
    def people(self) -> PeopleService:
        from idnode.services.people import PeopleService
        from idnode.store.members import MemberRepository

        return PeopleService(
            self.user_pool,
            MemberRepository(self.tables.members),
            self.credentials,
            self.prefixes,
            log=self.log,
            known_enterprise=lambda enterprise: self.enterprises.get(enterprise) is not None,
            prefixes_of=self.enterprises.prefixes_of,
        )

    @cached_property
    def onboarding(self) -> OnboardingService:
        from idnode.services.onboarding import OnboardingService
        from idnode.store.allocation import PrefixAllocator
        from idnode.store.applications import ApplicationRepository

        applications = ApplicationRepository(self.tables.applications)
        return OnboardingService(
            enterprises=self.enterprises,
            applications=applications,
            allocation=PrefixAllocator(
                sequences=self.tables.sequences,
                prefixes=self.tables.prefixes,
                credentials=self.tables.credentials,
                applications=applications,
                enterprises=self.enterprises,
                node_prefix=self.settings.node_prefix,
                first_number=lambda: self.parameters.current().first_enterprise_number,
            ),
            admin_handles=self.identifiers,
            directory=self.people,
            counters=self.counters,
            log=self.log,
            parameters=self.parameters.current,
            on_incomplete=_onboarding_incomplete,
        )

    @cached_property
    def digital_links(self) -> DigitalLinkService:
        """GS1 Digital Link links and the resolver. Built for the Handle REST function's
        resolver routes too: it needs only the keys table, the prefixes and the meter."""
        from idnode.services.digital_links import DigitalLinkService

        def enterprise_of(prefix: str) -> str | None:
            # Read fresh, not from the resolution cache: it decides who may change links.
            found = self.prefixes.get(prefix)
            return found.enterprise if found is not None else None

        return DigitalLinkService(
            self.keys,
            check_resolvable=self.registry.check_resolvable,
            meter=self.meter,
            log=self.log,
            enterprise_of=enterprise_of,
            clock=epoch_ms,
        )

    @cached_property
    def statistics(self) -> StatisticsService:
        from idnode.services.statistics import StatisticsService

        return StatisticsService(self.counters)

    @cached_property
    def billing(self) -> BillingService:
        from idnode.services.billing import BillingService

        return BillingService(self.counters, self.parameters.current)

    @cached_property
    def search(self) -> SearchService:
        from idnode.services.search import SearchService
        from idnode.store.search import EnterpriseDirectory, IdentifierSearch

        return SearchService(
            IdentifierSearch(self.tables.identifiers),
            EnterpriseDirectory(self.tables.enterprises, self.tables.prefixes),
            self.settings.node_prefix,
        )

    @cached_property
    def codes(self) -> CodeService:
        from idnode.services.codes import CodeService
        from idnode.store.codes import CodeRepository

        return CodeService(
            CodeRepository(self.tables.codes),
            self.registry,
            self.prefixes,
            self.log,
            # An enterprise of this node holds at least one prefix, whatever its status.
            known_enterprise=lambda enterprise: bool(self.enterprises.prefixes_of(enterprise)),
            clock=epoch_ms,
        )

    @cached_property
    def templates(self) -> TemplateService:
        from idnode.services.templates import TemplateService
        from idnode.store.templates import TemplateRepository

        return TemplateService(
            TemplateRepository(self.tables.templates),
            self.log,
            registry=self.registry,
            enterprise_of=lambda prefix: self._facts(prefix)[1],
            clock=epoch_ms,
        )

    # The IoT management system: people manage devices through GraphQL (`devices`); the
    # device-events function processes what devices send (`telemetry`).

    @cached_property
    def iot(self) -> IotCore:
        from idnode.adapters.iot import IotCore

        return IotCore.for_settings(self.settings)

    @cached_property
    def device_records(self) -> DeviceRepository:
        from idnode.store.devices import DeviceRepository

        return DeviceRepository(self.tables.devices)

    @cached_property
    def device_profiles(self) -> ProfileRepository:
        from idnode.store.profiles import ProfileRepository

        return ProfileRepository(self.tables.profiles)

    @cached_property
    def alarm_records(self) -> AlarmRepository:
        from idnode.store.alarms import AlarmRepository

        return AlarmRepository(self.tables.alarms)

    @cached_property
    def command_records(self) -> CommandRepository:
        from idnode.store.commands import CommandRepository

        return CommandRepository(self.tables.commands)

    @cached_property
    def devices(self) -> DeviceService:
        from idnode.services.devices import DeviceService

        return DeviceService(
            self.device_records,
            self.device_profiles,
            self.iot,
            self.registry,
            self.log,
            commands=self.command_records,
            alarms=self.alarm_records,
            prefixes_of=self.enterprises.prefixes_of,
            parameters=self.parameters.current,
            clock=epoch_ms,
        )

    @cached_property
    def telemetry(self) -> TelemetryService:
        from idnode.adapters.dead_letters import DeadLetters
        from idnode.services.telemetry import TelemetryService
        from idnode.store.telemetry import TelemetryRepository

        return TelemetryService(
            self.device_records,
            self.device_profiles,
            TelemetryRepository(self.tables.telemetry),
            self.alarm_records,
            self.command_records,
            dead_letters=DeadLetters.for_settings(self.settings),
            parameters=self.parameters.current,
            # Deferred: the device service (and its IoT clients) is built on a first connection.
            on_connect=lambda device, at: self.devices.activate_on_connect(device, at),  # noqa: PLW0108
            clock=epoch_ms,
        )


def epoch_ms() -> int:
    """Now, in epoch milliseconds: the IoT management system's unit of time."""
    return time.time_ns() // 1_000_000


def build_node(settings: Settings, tokens: Tokens | None = None) -> Node:
    """Wire the node for `settings`. Without `tokens`, Cognito ID tokens of the configured
    user pool are accepted (none when no pool is configured)."""
    return Node(settings, tokens)


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
