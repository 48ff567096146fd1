"""The onboarding service built on a test node's tables, a people directory that records whom
it binds, and a GraphQL schema of the onboarding queries and mutations to run documents on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.tools import merge_types

from idnode.api.graphql.context import build_context
from idnode.api.graphql.onboarding import OnboardingMutation, OnboardingQuery
from idnode.domain.access import Role
from idnode.domain.parameters import Parameters
from idnode.node import Node
from idnode.services.onboarding import OnboardingService
from idnode.store.allocation import PrefixAllocator
from idnode.store.applications import ApplicationRepository
from idnode.store.enterprises import EnterpriseRepository
from idnode.store.identifiers import IdentifierRepository
from idnode.store.keys import KeyRepository
from idnode.store.statistics import CounterRepository


class RecordingDirectory:
    """Stands in for the Cognito user pool."""

    def __init__(self) -> None:
        self.bound: list[tuple[str, str, Role]] = []

    def bind(self, username: str, enterprise: str, role: Role) -> None:
        self.bound.append((username, enterprise, role))


def onboarding_service(
    node: Node,
    directory: RecordingDirectory,
    parameters: Callable[[], Parameters] = Parameters,
) -> OnboardingService:
    """The service as node.py wires it, on the test node's tables."""
    tables = node.tables
    applications = ApplicationRepository(tables.applications)
    enterprises = EnterpriseRepository(tables.enterprises, tables.prefixes)
    allocation = PrefixAllocator(
        sequences=tables.sequences,
        prefixes=tables.prefixes,
        credentials=tables.credentials,
        applications=applications,
        enterprises=enterprises,
        node_prefix=node.settings.node_prefix,
        first_number=lambda: parameters().first_enterprise_number,
    )
    return OnboardingService(
        enterprises=enterprises,
        applications=applications,
        allocation=allocation,
        admin_handles=IdentifierRepository(tables.identifiers, KeyRepository(tables.keys)),
        directory=directory,
        counters=CounterRepository(tables.statistics),
        log=node.log,
        parameters=parameters,
    )


class NodeWithOnboarding:
    """The node as the GraphQL layer sees it once `Node.onboarding` is wired."""

    def __init__(self, node: Node, onboarding: OnboardingService) -> None:
        self._node = node
        self.onboarding = onboarding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


class OnboardingGraphQL:
    """Runs documents against a schema of the onboarding queries and mutations."""

    def __init__(self, node: Node, onboarding: OnboardingService) -> None:
        self._node = NodeWithOnboarding(node, onboarding)
        self._schema = strawberry.Schema(
            query=merge_types("Query", (OnboardingQuery,)),
            mutation=merge_types("Mutation", (OnboardingMutation,)),
        )

    def run(
        self, document: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        context = build_context(
            self._node,  # type: ignore[arg-type]  # a Node with its onboarding service
            f"Bearer {token}" if token else None,
            "198.51.100.7",
        )
        result = asyncio.run(
            self._schema.execute(document, variable_values=variables, context_value=context)
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data
