"""The GraphQL schema: each capability's queries and mutations, merged, with the limits and
masking every request goes through."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from idnode.api.graphql.batch import BatchMutation
from idnode.api.graphql.codes import CodesMutation, CodesQuery
from idnode.api.graphql.devices import DevicesMutation, DevicesQuery
from idnode.api.graphql.figures import FiguresQuery
from idnode.api.graphql.health import HealthQuery
from idnode.api.graphql.links import LinksMutation, LinksQuery
from idnode.api.graphql.onboarding import OnboardingMutation, OnboardingQuery
from idnode.api.graphql.oplog import OperationLogQuery
from idnode.api.graphql.parameters import ParametersMutation, ParametersQuery
from idnode.api.graphql.people import PeopleMutation, PeopleQuery
from idnode.api.graphql.registry import RegistryMutation, RegistryQuery
from idnode.api.graphql.schemes import SchemesMutation, SchemesQuery
from idnode.api.graphql.search import SearchQuery
from idnode.api.graphql.templates import TemplatesMutation, TemplatesQuery

MAX_DEPTH = 8
MAX_TOKENS = 2000
MAX_ALIASES = 30

Query = merge_types(
    "Query",
    (
        RegistryQuery,
        SchemesQuery,
        SearchQuery,
        OnboardingQuery,
        PeopleQuery,
        OperationLogQuery,
        FiguresQuery,
        ParametersQuery,
        DevicesQuery,
        CodesQuery,
        LinksQuery,
        TemplatesQuery,
        HealthQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        RegistryMutation,
        SchemesMutation,
        BatchMutation,
        OnboardingMutation,
        PeopleMutation,
        ParametersMutation,
        DevicesMutation,
        CodesMutation,
        LinksMutation,
        TemplatesMutation,
    ),
)


def _extensions(introspection: bool) -> list[Any]:
    # strawberry accepts configured extension instances, though its annotation names classes.
    extensions: list[SchemaExtension | type[SchemaExtension]] = [
        QueryDepthLimiter(max_depth=MAX_DEPTH),
        MaxTokensLimiter(max_token_count=MAX_TOKENS),
        MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        ParserCache(maxsize=256),
        ValidationCache(maxsize=256),
        # Mask only what resolvers raised unexpectedly; parse, validation and limit errors
        # are the client's own and say what is wrong with its document.
        MaskErrors(should_mask_error=lambda error: error.original_error is not None),
    ]
    if not introspection:
        extensions.append(AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return extensions


def build_schema(introspection: bool = True) -> strawberry.Schema:
    """The schema; production turns introspection off (local GraphiQL keeps it on)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=_extensions(introspection),
        # Without introspection, "did you mean" suggestions would leak the schema.
        config=StrawberryConfig(disable_field_suggestions=not introspection),
    )
