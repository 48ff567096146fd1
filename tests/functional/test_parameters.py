"""System parameters on DynamoDB (moto): versioned updates, the read cache, and the
operation log's record of every change."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from moto import mock_aws

from idnode.api.graphql.context import Context
from idnode.api.graphql.parameters import ParametersMutation, ParametersQuery
from idnode.domain.access import Principal, user
from idnode.domain.errors import (
    ConcurrentUpdateError,
    InvalidValueError,
    NotAuthorisedError,
)
from idnode.domain.operations import OperationEntry
from idnode.domain.parameters import MAX_RETENTION_DAYS, NodeType, Parameters
from idnode.services.operations import OperationFilter, OperationLog
from idnode.services.parameters import ParameterService
from idnode.store.models import OperationModel, ParameterModel, bind
from idnode.store.operations import OperationRepository
from idnode.store.parameters import ParameterRepository
from tests.support.identity import REGION
from tests.support.operations import operation

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
NODE_PREFIX = "88.100"
PLATFORM_ADMIN = replace(user("pat", ["platform-admin"], None, []), source="192.0.2.1")
AUDITOR = user("audrey", ["auditor"], None, [])
ENTERPRISE_ADMIN = user("erin", ["enterprise-admin"], "ent-1234", ["88.100.1234"])
INDUSTRY = {"node_type": "industry", "industries": ["C34"]}


class Tables:
    def __init__(self) -> None:
        self.parameters = bind(ParameterModel, "idnode-parameters", REGION, None)
        self.operations = bind(OperationModel, "idnode-operations", REGION, None)
        for model in (self.parameters, self.operations):
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)

    def store(self, max_age: int = 60) -> ParameterRepository:
        return ParameterRepository(self.parameters, region=REGION, max_age=max_age)


@pytest.fixture
def tables() -> Iterator[Tables]:
    with mock_aws():
        yield Tables()


@pytest.fixture
def log(tables: Tables) -> OperationLog:
    def refuse(entry: OperationEntry, error: Exception) -> None:
        raise AssertionError(f"not stored: {entry} ({error!r})")

    ticks = iter(range(1000))  # entries a second apart, so that their order is known

    def clock() -> datetime:
        return NOW + timedelta(seconds=next(ticks))

    repository = OperationRepository(tables.operations, retention_days=lambda: 365)
    return OperationLog(repository, refuse, clock=clock)


@pytest.fixture
def service(tables: Tables, log: OperationLog) -> ParameterService:
    return ParameterService(tables.store(), log, NODE_PREFIX, clock=lambda: NOW)


def logged(log: OperationLog) -> list[OperationEntry]:
    since = OperationFilter(start=datetime(2025, 1, 1, tzinfo=UTC), end=NOW.replace(hour=13))
    return log.query(AUDITOR, since, 100, None).items


# Reading


def test_without_a_stored_item_the_defaults_apply(service: ParameterService) -> None:
    assert service.current() == Parameters()
    view = service.view(AUDITOR)
    assert (view.parameters, view.version, view.node_prefix) == (Parameters(), 0, NODE_PREFIX)
    assert (view.updated, view.updated_by) == (None, None)


def test_only_platform_admins_and_auditors_see_the_parameters(service: ParameterService) -> None:
    service.view(PLATFORM_ADMIN)
    with pytest.raises(NotAuthorisedError):
        service.view(ENTERPRISE_ADMIN)


# Updating


def test_an_update_is_stored_versioned_and_seen_at_once_by_this_process(
    service: ParameterService, tables: Tables
) -> None:
    assert service.current() == Parameters()  # cached from here on
    view = service.update(PLATFORM_ADMIN, {**INDUSTRY, "max_page_size": 200}, 0)
    assert (view.version, view.updated, view.updated_by) == (1, NOW, "pat")
    assert view.parameters.node_type is NodeType.INDUSTRY
    assert service.current().max_page_size == 200
    assert service.view(AUDITOR).version == 1
    again = service.update(PLATFORM_ADMIN, {"max_page_size": 300}, 1)
    assert again.version == 2
    assert again.parameters.industries == ("C34",)  # fields not named keep their values
    assert tables.store().current().max_page_size == 300  # another process, uncached


def test_an_update_from_a_stale_version_is_refused(service: ParameterService) -> None:
    service.update(PLATFORM_ADMIN, {"max_page_size": 200}, 0)
    with pytest.raises(ConcurrentUpdateError, match="at version 1, not 0"):
        service.update(PLATFORM_ADMIN, {"max_page_size": 300}, 0)
    assert service.view(AUDITOR).parameters.max_page_size == 200


def test_of_two_writers_from_one_version_only_one_wins(tables: Tables) -> None:
    # Both read version 1; the table's condition on the version stops the second write.
    first, second = tables.store(), tables.store()
    first.write(Parameters(max_page_size=100), 0, "pat", NOW)
    first.write(Parameters(max_page_size=200), 1, "pat", NOW)
    with pytest.raises(ConcurrentUpdateError):
        second.write(Parameters(max_page_size=300), 1, "sam", NOW)
    assert tables.store().read().parameters.max_page_size == 200
    with pytest.raises(ConcurrentUpdateError):
        second.write(Parameters(), 0, "sam", NOW)  # 0: only if never saved


def test_an_invalid_change_is_refused_and_nothing_is_stored(service: ParameterService) -> None:
    with pytest.raises(InvalidValueError, match="industries: an industry node serves exactly"):
        service.update(PLATFORM_ADMIN, {"node_type": "industry"}, 0)
    with pytest.raises(InvalidValueError, match="nothing to change"):
        service.update(PLATFORM_ADMIN, {}, 0)
    assert service.view(AUDITOR).version == 0


@pytest.mark.parametrize("who", [AUDITOR, ENTERPRISE_ADMIN], ids=["auditor", "enterprise-admin"])
def test_only_platform_admins_change_parameters(
    service: ParameterService, log: OperationLog, who: Principal
) -> None:
    with pytest.raises(NotAuthorisedError):
        service.update(who, {"max_page_size": 200}, 0)
    assert service.view(AUDITOR).version == 0
    [entry] = logged(log)
    assert (entry.actor, entry.action, entry.result) == (
        who.name,
        "update-parameters",
        "not-authorised",
    )


# The cache


def test_a_warm_process_rereads_at_most_once_per_max_age(tables: Tables) -> None:
    warm, fresh = tables.store(max_age=60), tables.store(max_age=0)
    assert warm.current() == Parameters()
    tables.store().write(Parameters(max_page_size=100), 0, "pat", NOW)  # another process
    assert warm.current() == Parameters()  # still within the minute
    assert fresh.current().max_page_size == 100  # no cache: read every time


def test_a_missing_item_is_cached_too(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    warm = tables.store()
    assert warm.current() == Parameters()
    provider: Any = warm._documents()
    reads: list[str] = []
    original = provider._get
    monkeypatch.setattr(provider, "_get", lambda name, **o: reads.append(name) or original(name))
    for _ in range(3):
        assert warm.current() == Parameters()
    assert reads == []


def test_retention_days_follow_the_parameter_and_survive_a_failed_read(
    service: ParameterService, tables: Tables
) -> None:
    assert service.retention_days() == 365
    service.update(PLATFORM_ADMIN, {"operation_log_retention_days": 180}, 0)
    assert service.retention_days() == 180

    class Unreadable:
        def current(self) -> Parameters:
            raise RuntimeError("throttled")

    broken = ParameterService(Unreadable(), service._log, NODE_PREFIX)  # type: ignore[arg-type]
    assert broken.retention_days() == MAX_RETENTION_DAYS


# The audit trail


def test_every_change_is_logged_with_old_and_new_values(
    service: ParameterService, log: OperationLog
) -> None:
    prices = [{"effective_from": "2025-04", "registration": "0.02", "resolution": "0.0002"}]
    service.update(PLATFORM_ADMIN, {**INDUSTRY, "prices": prices}, 0)
    with pytest.raises(ConcurrentUpdateError):
        service.update(PLATFORM_ADMIN, {"max_page_size": 300}, 0)
    failed, changed = logged(log)
    assert (changed.action, changed.target, changed.result) == (
        "update-parameters",
        "parameters",
        "ok",
    )
    assert (changed.actor, changed.source) == ("pat", "192.0.2.1")
    assert changed.details["version"] == 1
    assert changed.details["changes"] == {
        "node_type": {"old": "comprehensive", "new": "industry"},
        "industries": {"old": [], "new": ["C34"]},
        "prices": {
            "old": [
                {
                    "effective_from": "2020-01",
                    "currency": "CNY",
                    "registration": "0.01",
                    "resolution": "0.0001",
                    "free_resolutions": 100000,
                }
            ],
            "new": [
                {
                    "effective_from": "2025-04",
                    "currency": "CNY",
                    "registration": "0.02",
                    "resolution": "0.0002",
                    "free_resolutions": 100000,
                }
            ],
        },
    }
    assert failed.result == "concurrent-update"
    assert "changes" not in failed.details  # refused before anything was compared


def test_a_change_to_the_same_values_writes_nothing(
    service: ParameterService, log: OperationLog
) -> None:
    service.update(PLATFORM_ADMIN, {"max_page_size": 1000}, 0)  # the default already
    assert service.view(AUDITOR).version == 0
    [entry] = logged(log)
    assert entry.details == {"changes": {}}


# GraphQL


@pytest.fixture
def run(service: ParameterService) -> Iterator[Any]:
    schema = strawberry.Schema(query=ParametersQuery, mutation=ParametersMutation)
    # The node as the GraphQL context reaches it: only what these fields use.
    wired = SimpleNamespace(registry=None, parameters=service)

    def execute(
        document: str, principal: Principal, variables: dict[str, Any] | None = None
    ) -> Any:
        context = Context(node=wired, _principal=principal)  # type: ignore[arg-type]
        result = asyncio.run(schema.execute(document, variables or {}, context_value=context))
        assert result.errors is None, result.errors
        assert result.data is not None
        return next(iter(result.data.values()))

    yield execute


def test_the_example_operations_read_and_change_the_parameters(run: Any) -> None:
    read = run(operation("Parameters"), AUDITOR)
    assert read["__typename"] == "SystemParameters"
    assert (read["nodePrefix"], read["version"], read["nodeType"]) == ("88.100", 0, "COMPREHENSIVE")
    assert read["prices"] == [
        {
            "effectiveFrom": "2020-01",
            "currency": "CNY",
            "registration": "0.01",
            "resolution": "0.0001",
            "freeResolutions": 100000,
        }
    ]
    change = {
        "expectedVersion": read["version"],
        "nodeType": "INDUSTRY",
        "industries": ["C34"],
        "prices": [
            {"effectiveFrom": "2020-01", "registration": "0.01", "resolution": "0.0001"},
            {"effectiveFrom": "2025-04", "registration": "0.015", "resolution": "0.00005"},
        ],
        "operationLogRetentionDays": 730,
    }
    changed = run(operation("UpdateParameters"), PLATFORM_ADMIN, {"input": change})
    assert changed["__typename"] == "SystemParameters"
    assert (changed["version"], changed["nodeType"], changed["industries"]) == (
        1,
        "INDUSTRY",
        ["C34"],
    )
    assert changed["prices"][1]["registration"] == "0.015"
    assert (changed["operationLogRetentionDays"], changed["updatedBy"]) == (730, "pat")
    assert run(operation("Parameters"), PLATFORM_ADMIN)["version"] == 1


def test_the_example_operations_answer_typed_errors(run: Any) -> None:
    assert run(operation("Parameters"), ENTERPRISE_ADMIN)["__typename"] == "NotAuthorisedError"
    stale = run(
        operation("UpdateParameters"),
        PLATFORM_ADMIN,
        {"input": {"expectedVersion": 3, "maxPageSize": 50}},
    )
    assert stale["__typename"] == "ConflictError"
    bad = run(
        operation("UpdateParameters"),
        PLATFORM_ADMIN,
        {"input": {"expectedVersion": 0, "maxPageSize": 5, "operationLogRetentionDays": 90}},
    )
    assert bad["__typename"] == "InvalidInputError"
    assert "max_page_size" in bad["message"]
    assert "operation_log_retention_days" in bad["message"]
    denied = run(
        operation("UpdateParameters"), AUDITOR, {"input": {"expectedVersion": 0, "maxPageSize": 50}}
    )
    assert denied["__typename"] == "NotAuthorisedError"
