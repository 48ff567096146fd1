"""The composition root: the node's services wired to their stores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from idnode.services.callers import CallerAuthenticator
from idnode.services.registry import RegistryService
from idnode.settings import Settings, get_settings
from idnode.store.credentials import CredentialRepository
from idnode.store.identifiers import IdentifierRepository, StaleRecordError
from idnode.store.models import CredentialModel, IdentifierModel, PrefixModel, bind
from idnode.store.prefixes import PrefixRepository


@dataclass(frozen=True)
class Node:
    settings: Settings
    registry: RegistryService
    callers: CallerAuthenticator
    prefixes: PrefixRepository
    credentials: CredentialRepository


def build_node(settings: Settings, *, accept_tokens: bool = True) -> Node:
    """Wire the node for `settings`. `accept_tokens` enables Cognito ID tokens (needs a pool)."""
    region, host = settings.region, settings.endpoint_url
    identifiers = IdentifierRepository(
        bind(IdentifierModel, settings.identifiers_table, region, host)
    )
    prefixes = PrefixRepository(bind(PrefixModel, settings.prefixes_table, region, host))
    credentials = CredentialRepository(
        bind(CredentialModel, settings.credentials_table, region, host)
    )
    tokens = None
    if accept_tokens and settings.user_pool_id and settings.user_pool_client_id:
        from idnode.adapters.tokens import TokenVerifier  # noqa: PLC0415 - only when a pool exists

        tokens = TokenVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.user_pool_client_id,
            jwks_url=settings.jwks_url,
        )
    return Node(
        settings=settings,
        registry=RegistryService(identifiers, prefixes, settings.node_prefix, StaleRecordError),
        callers=CallerAuthenticator(credentials, prefixes, tokens),
        prefixes=prefixes,
        credentials=credentials,
    )


@cache
def current_node() -> Node:
    """This process's node, built at first use from the environment."""
    return build_node(get_settings())
