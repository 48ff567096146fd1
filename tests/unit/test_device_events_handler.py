"""The device-events function: each rule's events reach their use case, outcomes are counted
as metrics, bad input is dead-lettered without raising, and infrastructure failures raise so
that Lambda retries."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, cast

import pytest

from idnode.domain.devices import LifecycleState
from idnode.handlers.device_events import handler
from idnode.node import Node, use_node
from idnode.observability import metrics
from tests.unit.test_telemetry_service import DEVICE, World, presence, sent_command

# Events that count nothing (presence) make Powertools warn that no metrics were published.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass
class Context:
    function_name: str = "idnode-device-events"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:000000000000:function:idnode-device-events"
    )
    aws_request_id: str = "request-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@pytest.fixture
def world() -> Iterator[World]:
    built = World()
    use_node(cast(Node, SimpleNamespace(telemetry=built.service)))
    metrics.clear_metrics()
    yield built
    use_node(None)


def call(event: Any, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """The handler's reply and the metrics it published (name -> value)."""
    capsys.readouterr()
    reply = handler(event, cast(Any, Context()))
    published: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    published[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return reply, published


def telemetry(world: World, **values: Any) -> dict[str, Any]:
    document = {"ts": world.clock.now, "values": values}
    return {
        "kind": "telemetry",
        "payload": base64.b64encode(json.dumps(document).encode()).decode(),
        "device": DEVICE,
        "clientId": DEVICE,
        "receivedAt": world.clock.now,
    }


def test_telemetry_is_stored_and_counted(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    reply, published = call(telemetry(world, temperature=20.0), capsys)
    assert reply == {"kind": "telemetry", "outcome": "stored", "reason": None, "alarms": []}
    assert published == {"TelemetryStored": 1.0}
    assert len(world.telemetry.items) == 1


def test_duplicates_and_alarms_are_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    event = telemetry(world, temperature=120.0)
    reply, published = call(event, capsys)
    assert len(reply["alarms"]) == 1
    assert published == {"TelemetryStored": 1.0, "AlarmsRaised": 1.0}
    reply, published = call(event, capsys)
    assert (reply["outcome"], published) == ("duplicate", {"TelemetryDuplicates": 1.0})


def test_a_bad_message_is_rejected_without_raising(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    reply, published = call(telemetry(world, temperature=912.0), capsys)
    assert (reply["outcome"], reply["reason"]) == ("rejected", "out-of-range")
    assert published == {"TelemetryRejected": 1.0}
    assert world.dead_letters.reasons == ["out-of-range"]


def test_responses_reach_their_command(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    sent_command(world)
    event = {
        "kind": "response",
        "payload": base64.b64encode(b'{"status": "ok"}').decode(),
        "device": DEVICE,
        "command": "c1",
        "clientId": DEVICE,
        "receivedAt": world.clock.now,
    }
    reply, published = call(event, capsys)
    assert (reply["outcome"], published) == ("stored", {"CommandResponses": 1.0})
    assert world.commands.items["c1"].status.value == "acknowledged"


def test_presence_reaches_the_device(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.devices.seed(replace(world.device, state=LifecycleState.PROVISIONED))
    reply, published = call(presence("connected", 1000), capsys)
    assert reply["outcome"] == "stored"
    assert published == {}
    assert world.device.connected is True
    assert world.connected == [(DEVICE, 1000)]


@pytest.mark.parametrize("event", [{"kind": "firmware"}, {"payload": "e30="}, {"kind": 7}])
def test_an_event_of_no_known_kind_is_dead_lettered(
    world: World, capsys: pytest.CaptureFixture[str], event: dict[str, Any]
) -> None:
    reply, published = call(event, capsys)
    assert (reply["outcome"], reply["reason"]) == ("rejected", "unknown-kind")
    assert published == {"TelemetryRejected": 1.0}
    assert [(d.kind, d.event) for d in world.dead_letters.sent] == [("unknown", event)]


def test_an_infrastructure_failure_raises_for_lambda_to_retry(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.devices.fail_get = RuntimeError("table unavailable")
    with pytest.raises(RuntimeError, match="table unavailable"):
        call(telemetry(world, temperature=20.0), capsys)
    assert world.dead_letters.sent == []
