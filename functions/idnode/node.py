"""The composition root: the node's services wired to their stores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from idnode.services.callers import CallerAuthenticator, Tokens
from idnode.services.registry import RegistryService
from idnode.settings import Settings, get_settings
from idnode.store.credentials import CredentialRepository
from idnode.store.identifiers import IdentifierRepository, StaleRecordError
from idnode.store.models import Tables, bind_tables
from idnode.store.prefixes import PrefixRepository


@dataclass(frozen=True)
class Node:
    settings: Settings
    tables: Tables
    registry: RegistryService
    callers: CallerAuthenticator
    prefixes: PrefixRepository
    credentials: CredentialRepository


def build_node(settings: Settings, tokens: Tokens | None = None) -> Node:
    """Wire the node for `settings`. Without `tokens`, Cognito ID tokens of the configured
    user pool are accepted (none when no pool is configured)."""
    tables = bind_tables(
        settings.identifiers_table,
        settings.prefixes_table,
        settings.credentials_table,
        settings.region,
        settings.endpoint_url,
    )
    prefixes = PrefixRepository(tables.prefixes)
    credentials = CredentialRepository(tables.credentials)
    if tokens is None and settings.user_pool_id and settings.user_pool_client_id:
        # Imported here: PyJWT and cryptography cost import time that a process without a
        # user pool (or a benchmark of the Handle read path) should not pay.
        from idnode.adapters.tokens import TokenVerifier  # noqa: PLC0415

        tokens = TokenVerifier.for_settings(settings)
    return Node(
        settings=settings,
        tables=tables,
        registry=RegistryService(
            IdentifierRepository(tables.identifiers),
            prefixes,
            settings.node_prefix,
            stale_error=StaleRecordError,
        ),
        callers=CallerAuthenticator(credentials, prefixes, tokens),
        prefixes=prefixes,
        credentials=credentials,
    )


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
