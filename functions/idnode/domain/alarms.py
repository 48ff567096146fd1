"""Threshold alarms (IOT-6): raised when a rule's condition has held long enough, acknowledged
by a person, cleared when the condition stops holding.

Telemetry may be delivered more than once and out of order, so evaluation is deterministic:
an alarm's id is derived from the device, the rule and the time the breach began, and a
redelivered reading raises nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from idnode.domain.devices import AlarmRule, Comparison, RuleState, Severity
from idnode.domain.errors import InvalidStateError


class AlarmStatus(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    enterprise: str
    device: str
    rule: str
    metric: str
    severity: Severity
    comparison: Comparison
    threshold: float
    status: AlarmStatus
    raised_at: int
    raised_value: float
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    cleared_at: int | None = None
    cleared_value: float | None = None


class Transition(Enum):
    RAISE = "raise"
    CLEAR = "clear"


def alarm_id(device: str, rule: str, since: int) -> str:
    """The id of the alarm for the breach of `rule` on `device` that began at `since`."""
    return f"{device}:{rule}:{since}"


def evaluate(
    rule: AlarmRule, value: float, at: int, state: RuleState, *, device: str
) -> tuple[RuleState, Transition | None]:
    """The rule's next state after a reading, and whether an alarm is raised or cleared."""
    if state.pending_since is not None and at < state.pending_since:
        # Older than the breach under way: late delivery says nothing about it.
        return state, None
    if rule.comparison.holds(value, rule.threshold):
        if state.alarm is not None:
            return state, None
        since = at if state.pending_since is None else state.pending_since
        if at - since >= rule.duration_seconds * 1000:
            return RuleState(pending_since=since, alarm=alarm_id(device, rule.name, since)), (
                Transition.RAISE
            )
        return RuleState(pending_since=since), None
    if state.alarm is not None:
        return RuleState(), Transition.CLEAR
    return RuleState(), None


def new_alarm(
    rule: AlarmRule, state: RuleState, *, enterprise: str, device: str, value: float, at: int
) -> Alarm:
    """The alarm `evaluate` raised: `state` is the state it returned with the RAISE."""
    if state.alarm is None:
        raise InvalidStateError(f"rule {rule.name!r} of device {device!r} has no open alarm")
    return Alarm(
        id=state.alarm,
        enterprise=enterprise,
        device=device,
        rule=rule.name,
        metric=rule.metric,
        severity=rule.severity,
        comparison=rule.comparison,
        threshold=rule.threshold,
        status=AlarmStatus.ACTIVE,
        raised_at=at,
        raised_value=value,
    )


def acknowledge(alarm: Alarm, by: str, at: int) -> Alarm:
    """Someone has seen the alarm. Only an active alarm can be acknowledged."""
    if alarm.status is not AlarmStatus.ACTIVE:
        raise InvalidStateError(
            f"alarm {alarm.id} is {alarm.status.value}; only an active alarm can be acknowledged"
        )
    return replace(alarm, status=AlarmStatus.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by)


def clear(alarm: Alarm, value: float, at: int) -> Alarm:
    """The condition stopped holding. Who acknowledged it, and when, stays on record."""
    if alarm.status is AlarmStatus.CLEARED:
        raise InvalidStateError(f"alarm {alarm.id} is cleared already")
    return replace(alarm, status=AlarmStatus.CLEARED, cleared_at=at, cleared_value=value)
