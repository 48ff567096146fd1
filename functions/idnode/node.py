"""The composition root: the node's services wired to their stores, built once per process."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from aws_lambda_powertools.metrics import MetricUnit

from idnode.domain.operations import OperationEntry
from idnode.observability import logger, metrics
from idnode.services.caching import TtlCache
from idnode.services.callers import CallerAuthenticator, Tokens
from idnode.services.metering import BufferedMeter
from idnode.services.operations import OperationLog
from idnode.services.registry import RegistryService
from idnode.settings import Settings, get_settings
from idnode.store.credentials import CredentialRepository
from idnode.store.identifiers import IdentifierRepository, StaleRecordError
from idnode.store.models import Tables, bind_tables
from idnode.store.operations import OperationRepository
from idnode.store.prefixes import PrefixRepository
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
    log: OperationLog
    meter: BufferedMeter


def build_node(settings: Settings, tokens: Tokens | None = None) -> Node:
    """Wire the node for `settings`. Without `tokens`, Cognito ID tokens of the configured
    user pool are accepted (none when no pool is configured)."""
    tables = bind_tables(settings)
    prefixes = PrefixRepository(tables.prefixes)
    credentials = CredentialRepository(tables.credentials)
    if tokens is None and settings.user_pool_id and settings.user_pool_client_id:
        # Imported here: PyJWT and cryptography cost import time that a process without a
        # user pool (or a benchmark of the Handle read path) should not pay.
        from idnode.adapters.tokens import TokenVerifier  # noqa: PLC0415

        tokens = TokenVerifier.for_settings(settings)
    log = OperationLog(
        OperationRepository(tables.operations, retention_days=lambda: 365),
        fallback=_log_unrecorded,
    )
    known = TtlCache[tuple[bool, str | None]](PREFIX_CACHE_SECONDS, 4096, time.monotonic)

    def prefix_facts(prefix: str) -> tuple[bool, str | None]:
        """(resolvable, enterprise) of a prefix, cached: read on the resolution path."""

        def load() -> tuple[bool, str | None]:
            found = prefixes.get(prefix)
            if found is None:
                return True, None
            return found.active or found.resolvable, found.enterprise

        return known.get_or_load(prefix.lower(), load)

    def scopes_of(prefix: str) -> Iterable[str]:
        yield "node"
        yield f"prefix#{prefix}"
        enterprise = prefix_facts(prefix)[1]
        if enterprise:
            yield f"enterprise#{enterprise}"

    meter = BufferedMeter(
        CounterRepository(tables.statistics),
        scopes_of,
        settings.meter_flush_seconds,
        on_error=_meter_failed,
    )
    return Node(
        settings=settings,
        tables=tables,
        registry=RegistryService(
            IdentifierRepository(tables.identifiers),
            prefixes,
            settings.node_prefix,
            log=log,
            meter=meter,
            stale_error=StaleRecordError,
            resolvable=lambda prefix: prefix_facts(prefix)[0],
        ),
        callers=CallerAuthenticator(credentials, prefixes, tokens),
        prefixes=prefixes,
        credentials=credentials,
        log=log,
        meter=meter,
    )


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
