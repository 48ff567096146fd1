"""The device lifecycle, device ids and topics, device fields and the identifier values."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.devices import (
    DEVICE_ID_PATTERN,
    TOPIC_ROOT,
    TRANSITIONS,
    Device,
    LatestValue,
    LifecycleState,
    check_device_id,
    check_transition,
    command_subscription,
    command_topic,
    identifier_values,
    is_device_id,
    lifecycle_value,
    new_device_id,
    response_topic,
    telemetry_topic,
    validate_device_fields,
)
from idnode.domain.errors import InvalidStateError, InvalidValueError
from idnode.domain.values import DataFormat

S = LifecycleState
ALLOWED = {
    (S.REGISTERED, S.PROVISIONED),
    (S.REGISTERED, S.RETIRED),
    (S.PROVISIONED, S.ACTIVE),
    (S.PROVISIONED, S.MAINTENANCE),
    (S.PROVISIONED, S.RETIRED),
    (S.ACTIVE, S.MAINTENANCE),
    (S.ACTIVE, S.RETIRED),
    (S.MAINTENANCE, S.ACTIVE),
    (S.MAINTENANCE, S.RETIRED),
}


def device(state: LifecycleState = S.REGISTERED) -> Device:
    return Device(
        id="d-abcdefghijklmnopqrst",
        enterprise="ent-1",
        prefix="88.100.1000",
        identifier="88.100.1000/PUMP-0001",
        profile="pump",
        name="Pump 1",
        state=state,
        firmware="1.0.0",
        created_at=1_000,
        updated_at=1_000,
        version=1,
    )


def test_the_transition_table_is_the_lifecycle() -> None:
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(TRANSITIONS) == set(LifecycleState)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_check_transition_allows_exactly_the_lifecycle(
    current: LifecycleState, target: LifecycleState
) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
        return
    with pytest.raises(InvalidStateError) as raised:
        check_transition(current, target)
    assert f"from {current.value} to {target.value}" in raised.value.message


def test_retired_is_final_and_every_state_is_reachable_from_registered() -> None:
    assert TRANSITIONS[S.RETIRED] == frozenset()
    reached, frontier = {S.REGISTERED}, [S.REGISTERED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(LifecycleState)


def test_new_device_ids_are_thing_names_and_unique() -> None:
    ids = {new_device_id() for _ in range(500)}
    assert len(ids) == 500
    for found in ids:
        assert re.fullmatch(r"d-[a-z2-7]{20}", found)
        assert re.fullmatch(DEVICE_ID_PATTERN, found)
        assert is_device_id(found)
        assert check_device_id(found) == found


@pytest.mark.parametrize(
    "text", ["", "a/b", "a+b", "a#b", "a b", "a:b", "x" * 65, "pümpe", "a\nb", "pump\n"]
)
def test_ids_unsafe_as_thing_names_or_topic_levels_are_refused(text: str) -> None:
    assert not is_device_id(text)
    with pytest.raises(InvalidValueError) as raised:
        check_device_id(text)
    assert raised.value.message.startswith(f"device: {text!r}")


@settings(max_examples=100)
@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.text(min_size=1, max_size=8))
def test_topics_put_the_device_at_the_third_level(device_id: str, command: str) -> None:
    assert TOPIC_ROOT == "idnode/devices"
    assert telemetry_topic(device_id).split("/") == ["idnode", "devices", device_id, "telemetry"]
    assert command_topic(device_id, "reboot") == f"idnode/devices/{device_id}/commands/reboot"
    assert response_topic(device_id, command) == f"idnode/devices/{device_id}/responses/{command}"
    assert command_subscription(device_id) == f"idnode/devices/{device_id}/commands/+"


@pytest.mark.parametrize(
    ("name", "firmware"),
    [("P", ""), ("x" * 128, "f" * 64), ("Kühlpumpe Halle 3 (Nord)", "v2.1.0-rc1")],
)
def test_sound_device_fields_pass(name: str, firmware: str) -> None:
    validate_device_fields(name, firmware)


@pytest.mark.parametrize(
    ("name", "firmware", "message"),
    [
        ("", "1.0", "name: ''"),
        ("   ", "1.0", "name: '   '"),
        ("x" * 129, "1.0", "name: 'xxx"),
        ("Pump\x00", "1.0", "name: 'Pump\\x00'"),
        ("Pump", "f" * 65, "firmware: 'fff"),
        ("Pump", "1.0\n", "firmware: '1.0\\n'"),
    ],
)
def test_unsound_device_fields_are_refused(name: str, firmware: str, message: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        validate_device_fields(name, firmware)
    assert raised.value.message.startswith(message)


def test_identifier_values_describe_the_device() -> None:
    values = identifier_values(device(S.PROVISIONED))
    found = {(v.index, v.type, v.data.value) for v in values}
    assert found == {
        (2, "IDNODE_DEVICE_ID", "d-abcdefghijklmnopqrst"),
        (3, "IDNODE_DEVICE_TYPE", "pump"),
        (4, "IDNODE_ENTERPRISE", "ent-1"),
        (5, "IDNODE_LIFECYCLE", "provisioned"),
    }
    assert all(v.data.format is DataFormat.STRING and v.ttl == 86_400 for v in values)
    assert all(not v.restricted for v in values)


@pytest.mark.parametrize("state", list(S))
def test_the_lifecycle_value_is_the_state(state: LifecycleState) -> None:
    value = lifecycle_value(state)
    assert (value.index, value.type, value.data.value) == (5, "IDNODE_LIFECYCLE", state.value)
    assert value in identifier_values(device(state))


def test_a_new_device_has_no_readings_and_instances_share_nothing() -> None:
    first, second = device(), device()
    assert first.latest == {} and first.alarm_states == {}
    assert (first.connected, first.rejected, first.certificate_id) == (False, 0, None)
    assert first.latest is not second.latest
    assert LatestValue(True, 5).value is True
