"""Threshold alarms: when a rule raises and clears, and the life of an alarm after that."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.alarms import (
    Alarm,
    AlarmStatus,
    Transition,
    acknowledge,
    alarm_id,
    clear,
    evaluate,
    new_alarm,
)
from idnode.domain.devices import AlarmRule, Comparison, RuleState, Severity
from idnode.domain.errors import InvalidStateError

DEVICE = "d-pump1"
AT_ONCE = AlarmRule("overheat", "temperature", Comparison.GT, 90.0, 0, Severity.CRITICAL)
SUSTAINED = AlarmRule("overheat", "temperature", Comparison.GT, 90.0, 60, Severity.MAJOR)
T = 1_750_000_000_000


def run(
    rule: AlarmRule, points: list[tuple[int, float]], state: RuleState | None = None
) -> tuple[RuleState, list[tuple[int, Transition, str | None]]]:
    """Feed readings through the rule; (final state, [(at, transition, alarm id)])."""
    current = state or RuleState()
    seen: list[tuple[int, Transition, str | None]] = []
    for at, value in points:
        before = current
        current, transition = evaluate(rule, value, at, current, device=DEVICE)
        if transition is Transition.RAISE:
            seen.append((at, transition, current.alarm))
        elif transition is Transition.CLEAR:
            seen.append((at, transition, before.alarm))
    return current, seen


def test_a_rule_without_duration_raises_at_the_first_breach() -> None:
    state, transition = evaluate(AT_ONCE, 95.0, T, RuleState(), device=DEVICE)
    assert transition is Transition.RAISE
    assert state == RuleState(pending_since=T, alarm=f"{DEVICE}:overheat:{T}")


def test_a_sustained_rule_raises_once_the_breach_has_lasted_long_enough() -> None:
    state, seen = run(SUSTAINED, [(T, 95.0), (T + 30_000, 96.0), (T + 59_999, 97.0)])
    assert (state, seen) == (RuleState(pending_since=T), [])
    state, transition = evaluate(SUSTAINED, 92.0, T + 60_000, state, device=DEVICE)
    assert transition is Transition.RAISE
    assert state.alarm == alarm_id(DEVICE, "overheat", T)


def test_a_breach_that_stops_early_raises_nothing_and_restarts_the_clock() -> None:
    _, seen = run(SUSTAINED, [(T, 95.0), (T + 50_000, 80.0), (T + 70_000, 95.0)])
    assert seen == []
    state, seen = run(SUSTAINED, [(T + 129_999, 95.0)], RuleState(pending_since=T + 70_000))
    assert seen == []
    _, seen = run(SUSTAINED, [(T + 130_000, 95.0)], state)
    assert seen == [(T + 130_000, Transition.RAISE, f"{DEVICE}:overheat:{T + 70_000}")]


def test_an_open_alarm_stays_until_the_condition_stops_holding() -> None:
    state, seen = run(AT_ONCE, [(T, 95.0), (T + 1_000, 99.0), (T + 2_000, 120.0)])
    assert [s[1] for s in seen] == [Transition.RAISE]
    state, transition = evaluate(AT_ONCE, 90.0, T + 3_000, state, device=DEVICE)
    assert (state, transition) == (RuleState(), Transition.CLEAR)


def test_a_redelivered_reading_raises_nothing_new() -> None:
    state, _ = run(AT_ONCE, [(T, 95.0)])
    assert evaluate(AT_ONCE, 95.0, T, state, device=DEVICE) == (state, None)


def test_a_reading_older_than_the_breach_neither_raises_nor_clears() -> None:
    pending = RuleState(pending_since=T)
    assert evaluate(SUSTAINED, 80.0, T - 1, pending, device=DEVICE) == (pending, None)
    assert evaluate(SUSTAINED, 99.0, T + 120_000 - 1, pending, device=DEVICE)[1] is (
        Transition.RAISE
    )
    open_ = RuleState(pending_since=T, alarm=alarm_id(DEVICE, "overheat", T))
    assert evaluate(AT_ONCE, 10.0, T - 1, open_, device=DEVICE) == (open_, None)


def test_alarm_ids_are_derived_from_device_rule_and_start() -> None:
    assert alarm_id("d-1", "overheat", 42) == "d-1:overheat:42"


def raised() -> Alarm:
    state, _ = evaluate(SUSTAINED, 95.0, T, RuleState(), device=DEVICE)
    state, _ = evaluate(SUSTAINED, 97.0, T + 60_000, state, device=DEVICE)
    return new_alarm(SUSTAINED, state, enterprise="ent-1", device=DEVICE, value=97.0, at=T + 60_000)


def test_a_raised_alarm_carries_its_rule() -> None:
    assert raised() == Alarm(
        id=f"{DEVICE}:overheat:{T}",
        enterprise="ent-1",
        device=DEVICE,
        rule="overheat",
        metric="temperature",
        severity=Severity.MAJOR,
        comparison=Comparison.GT,
        threshold=90.0,
        status=AlarmStatus.ACTIVE,
        raised_at=T + 60_000,
        raised_value=97.0,
    )


def test_an_alarm_is_only_made_from_a_state_with_one() -> None:
    with pytest.raises(InvalidStateError):
        new_alarm(SUSTAINED, RuleState(T), enterprise="e", device=DEVICE, value=1.0, at=T)


def test_acknowledge_then_clear_keeps_who_acknowledged() -> None:
    seen = acknowledge(raised(), "alice", T + 70_000)
    assert (seen.status, seen.acknowledged_by, seen.acknowledged_at) == (
        AlarmStatus.ACKNOWLEDGED,
        "alice",
        T + 70_000,
    )
    done = clear(seen, 85.0, T + 80_000)
    assert (done.status, done.cleared_at, done.cleared_value) == (
        AlarmStatus.CLEARED,
        T + 80_000,
        85.0,
    )
    assert (done.acknowledged_by, done.acknowledged_at) == ("alice", T + 70_000)


def test_an_active_alarm_clears_without_acknowledgement() -> None:
    done = clear(raised(), 80.0, T + 90_000)
    assert done.status is AlarmStatus.CLEARED and done.acknowledged_by is None


def test_only_an_active_alarm_can_be_acknowledged() -> None:
    seen = acknowledge(raised(), "alice", T + 70_000)
    with pytest.raises(InvalidStateError) as again:
        acknowledge(seen, "bob", T + 71_000)
    assert "is acknowledged" in again.value.message
    with pytest.raises(InvalidStateError):
        acknowledge(clear(raised(), 80.0, T + 90_000), "bob", T + 91_000)


def test_a_cleared_alarm_does_not_clear_again() -> None:
    with pytest.raises(InvalidStateError) as raised_error:
        clear(clear(raised(), 80.0, T + 90_000), 70.0, T + 95_000)
    assert "cleared already" in raised_error.value.message


# Property tests against a direct model: a breach is a run of consecutive readings for which
# the condition holds; it raises one alarm at its first reading `duration` after its start,
# and the first reading after it that does not hold clears that alarm.

rules = st.builds(
    AlarmRule,
    name=st.just("r"),
    metric=st.just("m"),
    comparison=st.sampled_from(Comparison),
    threshold=st.sampled_from([0.0, 5.0, 10.0]),
    duration_seconds=st.sampled_from([0, 1, 5, 30]),
    severity=st.sampled_from(Severity),
)
readings = st.lists(
    st.tuples(st.integers(1, 20_000), st.sampled_from([0.0, 4.0, 5.0, 6.0, 10.0, 11.0])),
    max_size=60,
)


def timeline(gaps_and_values: list[tuple[int, float]]) -> list[tuple[int, float]]:
    at, points = T, []
    for gap, value in gaps_and_values:
        at += gap
        points.append((at, value))
    return points


def model(rule: AlarmRule, points: list[tuple[int, float]]) -> list[tuple[int, Transition, str]]:
    expected: list[tuple[int, Transition, str]] = []
    since: int | None = None
    open_: str | None = None
    for at, value in points:
        if not rule.comparison.holds(value, rule.threshold):
            if open_ is not None:
                expected.append((at, Transition.CLEAR, open_))
            since, open_ = None, None
            continue
        since = at if since is None else since
        if open_ is None and at - since >= rule.duration_seconds * 1000:
            open_ = alarm_id(DEVICE, rule.name, since)
            expected.append((at, Transition.RAISE, open_))
    return expected


@settings(max_examples=300)
@given(rule=rules, gaps=readings)
def test_evaluation_follows_the_breaches(rule: AlarmRule, gaps: list[tuple[int, float]]) -> None:
    points = timeline(gaps)
    _, seen = run(rule, points)
    assert seen == model(rule, points)
    kinds = [transition for _, transition, _ in seen]
    # Clear follows raise: raises and clears alternate, starting with a raise.
    assert kinds == [Transition.RAISE, Transition.CLEAR] * (len(kinds) // 2) + (
        [Transition.RAISE] if len(kinds) % 2 else []
    )
    raised_ids = [alarm for _, transition, alarm in seen if transition is Transition.RAISE]
    assert len(raised_ids) == len(set(raised_ids))
    cleared_ids = [alarm for _, transition, alarm in seen if transition is Transition.CLEAR]
    assert cleared_ids == raised_ids[: len(cleared_ids)]


@settings(max_examples=200)
@given(rule=rules, gaps=readings, data=st.data())
def test_redelivered_readings_change_nothing(
    rule: AlarmRule, gaps: list[tuple[int, float]], data: st.DataObject
) -> None:
    points = timeline(gaps)
    repeats = data.draw(st.lists(st.booleans(), min_size=len(points), max_size=len(points)))
    delivered = []
    for point, again in zip(points, repeats, strict=True):
        delivered.append(point)
        if again:
            delivered.append(point)
    assert run(rule, delivered) == run(rule, points)
