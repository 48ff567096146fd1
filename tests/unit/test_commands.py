"""Commands to devices: what may be sent, when it times out, and what a device may answer."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.commands import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_PARAMETERS_BYTES,
    Command,
    CommandResponse,
    CommandStatus,
    command_message,
    new_command,
    read_response,
)
from idnode.domain.errors import InvalidValueError
from idnode.domain.telemetry import RejectionReason, TelemetryRejected

NOW = 1_750_000_000_000


def command(
    name: str = "reboot",
    parameters: Any = None,
    timeout: Any = DEFAULT_TIMEOUT_SECONDS,
) -> Command:
    return new_command(
        "d-1",
        "ent-1",
        name,
        {"delay": 5} if parameters is None else parameters,
        timeout,
        sent_by="alice",
        now=NOW,
    )


def test_a_new_command_is_sent_with_its_deadline() -> None:
    sent = command()
    assert len(sent.id) == 32 and int(sent.id, 16) >= 0
    assert (sent.device, sent.enterprise, sent.name, sent.sent_by) == (
        "d-1",
        "ent-1",
        "reboot",
        "alice",
    )
    assert (sent.status, sent.sent_at, sent.deadline) == (
        CommandStatus.SENT,
        NOW,
        NOW + DEFAULT_TIMEOUT_SECONDS * 1000,
    )
    assert (sent.responded_at, sent.result, sent.error) == (None, None, None)
    assert command().id != sent.id


def test_the_command_keeps_its_own_copy_of_the_parameters() -> None:
    parameters: dict[str, Any] = {"set": {"rpm": 1200}}
    sent = command(parameters=parameters)
    parameters["set"]["rpm"] = 0
    assert sent.parameters == {"set": {"rpm": 1200}}


def test_the_limits_themselves_are_allowed() -> None:
    assert command(timeout=1).deadline == NOW + 1_000
    assert command(timeout=3600).deadline == NOW + 3_600_000
    assert command(name="a" + "B.-_9" * 12 + "xyz").name
    padding = MAX_PARAMETERS_BYTES - len('{"p":""}')
    assert command(parameters={"p": "x" * padding}).parameters["p"] == "x" * padding
    assert command(parameters={}).parameters == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": ""}, "name: ''"),
        ({"name": "1reboot"}, "name: '1reboot'"),
        ({"name": "re boot"}, "name: 're boot'"),
        ({"name": "reboot/now"}, "name: 'reboot/now'"),
        ({"name": "reboot+"}, "name: 'reboot+'"),
        ({"name": "reboot\n"}, "name: 'reboot\\n'"),
        ({"name": "r" * 65}, "name: 'rrr"),
        ({"parameters": [1, 2]}, "parameters: [1, 2] must be a JSON object"),
        ({"parameters": {"p": "x" * MAX_PARAMETERS_BYTES}}, "parameters: 8200 bytes as JSON"),
        ({"parameters": {"p": math.nan}}, "parameters: not representable as JSON"),
        ({"parameters": {"p": {1, 2}}}, "parameters: not representable as JSON"),
        ({"timeout": 0}, "timeout_seconds: 0 must be between 1 and 3600"),
        ({"timeout": 3601}, "timeout_seconds: 3601"),
        ({"timeout": 1.5}, "timeout_seconds: 1.5 is not a whole number"),
        ({"timeout": True}, "timeout_seconds: True is not a whole number"),
    ],
)
def test_unsound_commands_are_refused_naming_the_field(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidValueError) as raised:
        command(**arguments)
    assert raised.value.message.startswith(message)


def test_an_unanswered_command_times_out_after_its_deadline() -> None:
    sent = command()
    assert sent.effective(sent.deadline) is sent
    assert sent.effective(sent.deadline + 1).status is CommandStatus.TIMED_OUT
    assert sent.effective(sent.deadline + 1) == replace(sent, status=CommandStatus.TIMED_OUT)


@pytest.mark.parametrize("status", [CommandStatus.ACKNOWLEDGED, CommandStatus.FAILED])
def test_an_answered_command_keeps_its_status(status: CommandStatus) -> None:
    answered = replace(command(), status=status, responded_at=NOW + 1_000)
    assert answered.effective(answered.deadline + 10**9) is answered


def test_the_device_receives_id_name_parameters_and_deadline() -> None:
    sent = command(parameters={"delay": 5})
    message = command_message(sent)
    assert message == {
        "id": sent.id,
        "name": "reboot",
        "parameters": {"delay": 5},
        "deadline": NOW + 30_000,
    }
    assert json.loads(json.dumps(message)) == message


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"status": "ok"}, CommandResponse(CommandStatus.ACKNOWLEDGED, None, None)),
        (
            {"status": "ok", "result": {"uptime": 3}},
            CommandResponse(CommandStatus.ACKNOWLEDGED, {"uptime": 3}, None),
        ),
        (
            {"status": "failed", "error": "busy"},
            CommandResponse(CommandStatus.FAILED, None, "busy"),
        ),
        (
            {"status": "failed", "result": None, "error": None},
            CommandResponse(CommandStatus.FAILED, None, None),
        ),
    ],
)
def test_device_responses_are_read(document: dict[str, Any], expected: CommandResponse) -> None:
    assert read_response(document) == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "status: None must be 'ok' or 'failed'"),
        ({"status": "OK"}, "status: 'OK' must be 'ok' or 'failed'"),
        ({"status": "acknowledged"}, "status: 'acknowledged'"),
        ({"status": True}, "status: True"),
        ({"status": "ok", "result": [1]}, "result: [1] must be a JSON object"),
        ({"status": "ok", "result": "done"}, "result: 'done' must be a JSON object"),
        ({"status": "failed", "error": 500}, "error: 500 must be text"),
        ({"status": "failed", "error": "e" * 1001}, "error: 'eee"),
        ({"status": "ok", "id": "abc"}, "payload: unexpected fields ['id']"),
    ],
)
def test_malformed_responses_are_rejected(document: dict[str, Any], message: str) -> None:
    with pytest.raises(TelemetryRejected) as raised:
        read_response(document)
    assert raised.value.reason is RejectionReason.MALFORMED
    assert raised.value.message.startswith(message)


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
json_objects = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        json_leaves | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ),
    max_size=5,
)


@settings(max_examples=100)
@given(parameters=json_objects, timeout=st.integers(1, 3600))
def test_every_json_object_within_the_limit_is_sent_as_given(
    parameters: dict[str, Any], timeout: int
) -> None:
    sent = command(parameters=parameters, timeout=timeout)
    assert sent.parameters == parameters
    assert command_message(sent)["parameters"] == parameters
    assert sent.deadline - sent.sent_at == timeout * 1000


def test_refusals_show_a_short_excerpt_of_the_offending_value() -> None:
    with pytest.raises(TelemetryRejected) as raised:
        read_response({"status": "ok", "result": "r" * 10_000})
    assert raised.value.message.startswith("result: 'rrr") and len(raised.value.message) < 200
    with pytest.raises(InvalidValueError) as refused:
        command(name="n" * 10_000)
    assert len(refused.value.message) < 300
