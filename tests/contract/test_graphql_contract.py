"""The published GraphQL contract: graphql/schema.graphql matches the code, and every
example operation in graphql/operations/ is valid and exercised by a test."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from idnode.api.graphql.schema import build_schema
from idnode.cli.schema import schema_sdl
from tests.support.operations import all_operation_names, operation

ROOT = Path(__file__).resolve().parents[2]


def test_published_schema_matches_the_code() -> None:
    published = (ROOT / "graphql" / "schema.graphql").read_text()
    assert published == schema_sdl(), "run `make schema` and commit graphql/schema.graphql"


@pytest.mark.parametrize("name", all_operation_names())
def test_operation_is_valid_against_the_schema(name: str) -> None:
    schema = build_schema()._schema
    errors = validate(schema, parse(operation(name)))
    assert errors == []


@pytest.mark.parametrize("name", all_operation_names())
def test_operation_is_run_by_a_test(name: str) -> None:
    tests = "".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name
    )
    assert f'operation("{name}")' in tests, f"no test runs graphql/operations/{name}.graphql"


def test_production_schema_refuses_introspection() -> None:
    result = build_schema(introspection=False).execute_sync("{ __schema { types { name } } }")
    assert result.errors
