"""Industrial devices (IOT-2, IOT-4, PL-1): device profiles with typed metrics and threshold
alarm rules, the device lifecycle, the MQTT topics a device uses, and the identifier values
that describe a device in the Handle registry.

A device id is its AWS IoT thing name and its MQTT client id, so it must be safe in both:
letters, digits, `_` and `-` (thing names also allow `:`, topics forbid `+ # /`).
"""

from __future__ import annotations

import base64
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from idnode.domain.errors import InvalidStateError, InvalidValueError
from idnode.domain.values import DataFormat, Value, ValueData

TOPIC_ROOT = "idnode/devices"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
METRIC_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"

MAX_DESCRIPTION = 500
MIN_METRICS, MAX_METRICS = 1, 50
MAX_ALARM_RULES = 20
MAX_UNIT = 32
MAX_DURATION_SECONDS = 86_400
MAX_DEVICE_NAME = 128
MAX_FIRMWARE = 64
# DynamoDB numbers span 1e-130..1e126; staying well inside keeps every limit, threshold and
# reading storable without surprises at write time.
MAX_MAGNITUDE = 1e100

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_PROFILE_NAME = re.compile(PROFILE_NAME_PATTERN)
_METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
_DEVICE_ID_CHARS = 20


class LifecycleState(StrEnum):
    REGISTERED = "registered"
    PROVISIONED = "provisioned"
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


TRANSITIONS: Mapping[LifecycleState, frozenset[LifecycleState]] = {
    LifecycleState.REGISTERED: frozenset({LifecycleState.PROVISIONED, LifecycleState.RETIRED}),
    # provisioned -> active happens on the device's first connection
    LifecycleState.PROVISIONED: frozenset(
        {LifecycleState.ACTIVE, LifecycleState.MAINTENANCE, LifecycleState.RETIRED}
    ),
    LifecycleState.ACTIVE: frozenset({LifecycleState.MAINTENANCE, LifecycleState.RETIRED}),
    LifecycleState.MAINTENANCE: frozenset({LifecycleState.ACTIVE, LifecycleState.RETIRED}),
    LifecycleState.RETIRED: frozenset(),
}


def check_transition(current: LifecycleState, target: LifecycleState) -> None:
    """Raise InvalidStateError unless a device in `current` may move to `target`."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise InvalidStateError(
            f"a device cannot go from {current.value} to {target.value} (allowed: {allowed})"
        )


class MetricType(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"


NUMERIC_TYPES = frozenset({MetricType.NUMBER, MetricType.INTEGER})


@dataclass(frozen=True, slots=True)
class Metric:
    """A value a device reports. A reading outside [minimum, maximum] is a sensor fault and the
    message carrying it is rejected."""

    name: str
    type: MetricType
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None


class Comparison(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, threshold: float) -> bool:
        """Whether `value <op> threshold` is true."""
        match self:
            case Comparison.GT:
                return value > threshold
            case Comparison.GE:
                return value >= threshold
            case Comparison.LT:
                return value < threshold
            case Comparison.LE:
                return value <= threshold
            case Comparison.EQ:
                return value == threshold
            case Comparison.NE:
                return value != threshold


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """Raised when `metric <comparison> threshold` has held continuously for
    `duration_seconds` (0: at the first reading that breaches)."""

    name: str
    metric: str
    comparison: Comparison
    threshold: float
    duration_seconds: int
    severity: Severity


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What a kind of device reports and when it raises alarms. Built through `build_profile`."""

    enterprise: str
    name: str
    description: str
    metrics: tuple[Metric, ...]
    alarm_rules: tuple[AlarmRule, ...]
    version: int
    created_at: int
    updated_at: int
    # Looked up for every value of every telemetry message, so indexed once.
    _by_name: Mapping[str, Metric] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {metric.name: metric for metric in self.metrics})

    def metric(self, name: str) -> Metric | None:
        return self._by_name.get(name)


def _is_storable(number: float) -> bool:
    """Finite and within what DynamoDB can hold (0 included)."""
    # ints are exact; isfinite would overflow converting a huge one to float.
    if isinstance(number, float) and not math.isfinite(number):
        return False
    size = abs(number)
    return size == 0 or 1 / MAX_MAGNITUDE <= size <= MAX_MAGNITUDE


def _check_number(where: str, number: object) -> None:
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InvalidValueError(f"{where}: {number!r} is not a number")
    if not _is_storable(number):
        raise InvalidValueError(
            f"{where}: {number!r} must be 0 or a finite number of magnitude "
            f"{1 / MAX_MAGNITUDE:g} to {MAX_MAGNITUDE:g}"
        )


def _check_metric(where: str, metric: Metric) -> None:
    if not isinstance(metric.name, str) or not _METRIC_NAME.fullmatch(metric.name):
        raise InvalidValueError(
            f"{where}.name: {metric.name!r} must start with a letter and hold up to 64 "
            "letters, digits and underscores"
        )
    if not isinstance(metric.type, MetricType):
        raise InvalidValueError(f"{where}.type: {metric.type!r} is not a metric type")
    if len(metric.unit) > MAX_UNIT or not metric.unit.isprintable():
        raise InvalidValueError(
            f"{where}.unit: {metric.unit!r} must be up to {MAX_UNIT} printable characters"
        )
    if metric.type is MetricType.BOOLEAN and (
        metric.minimum is not None or metric.maximum is not None
    ):
        raise InvalidValueError(f"{where}: a boolean metric has no minimum or maximum")
    if metric.minimum is not None:
        _check_number(f"{where}.minimum", metric.minimum)
    if metric.maximum is not None:
        _check_number(f"{where}.maximum", metric.maximum)
    if (
        metric.minimum is not None
        and metric.maximum is not None
        and metric.minimum > metric.maximum
    ):
        raise InvalidValueError(
            f"{where}.minimum: {metric.minimum!r} is above the maximum {metric.maximum!r}"
        )


def _check_rule(where: str, rule: AlarmRule, metrics: Mapping[str, Metric]) -> None:
    if not isinstance(rule.name, str) or not _METRIC_NAME.fullmatch(rule.name):
        raise InvalidValueError(
            f"{where}.name: {rule.name!r} must start with a letter and hold up to 64 "
            "letters, digits and underscores"
        )
    metric = metrics.get(rule.metric)
    if metric is None:
        raise InvalidValueError(f"{where}.metric: {rule.metric!r} is not a metric of the profile")
    if metric.type not in NUMERIC_TYPES:
        raise InvalidValueError(
            f"{where}.metric: {rule.metric!r} is a {metric.type.value} metric; alarm rules "
            "compare numbers"
        )
    if not isinstance(rule.comparison, Comparison):
        raise InvalidValueError(f"{where}.comparison: {rule.comparison!r} is not a comparison")
    if not isinstance(rule.severity, Severity):
        raise InvalidValueError(f"{where}.severity: {rule.severity!r} is not a severity")
    _check_number(f"{where}.threshold", rule.threshold)
    duration = rule.duration_seconds
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise InvalidValueError(f"{where}.durationSeconds: {duration!r} is not a whole number")
    if not 0 <= duration <= MAX_DURATION_SECONDS:
        raise InvalidValueError(
            f"{where}.durationSeconds: {duration} must be between 0 and {MAX_DURATION_SECONDS}"
        )


def build_profile(
    enterprise: str,
    name: str,
    description: str,
    metrics: Sequence[Metric],
    alarm_rules: Sequence[AlarmRule],
    *,
    version: int,
    created_at: int,
    updated_at: int,
) -> DeviceProfile:
    """Check a profile's fields and build it; InvalidValueError names the first bad field."""
    if not isinstance(name, str) or not _PROFILE_NAME.fullmatch(name):
        raise InvalidValueError(
            f"name: {name!r} must be 1-63 lowercase letters, digits and hyphens, starting with "
            "a letter or digit"
        )
    if len(description) > MAX_DESCRIPTION:
        raise InvalidValueError(
            f"description: {len(description)} characters, at most {MAX_DESCRIPTION} allowed"
        )
    if not MIN_METRICS <= len(metrics) <= MAX_METRICS:
        raise InvalidValueError(
            f"metrics: {len(metrics)} given, a profile has {MIN_METRICS} to {MAX_METRICS}"
        )
    by_name: dict[str, Metric] = {}
    for position, metric in enumerate(metrics):
        where = f"metrics[{position}]"
        _check_metric(where, metric)
        if metric.name in by_name:
            raise InvalidValueError(f"{where}.name: {metric.name!r} is defined twice")
        by_name[metric.name] = metric
    if len(alarm_rules) > MAX_ALARM_RULES:
        raise InvalidValueError(
            f"alarmRules: {len(alarm_rules)} given, a profile has at most {MAX_ALARM_RULES}"
        )
    rule_names: set[str] = set()
    for position, rule in enumerate(alarm_rules):
        where = f"alarmRules[{position}]"
        _check_rule(where, rule, by_name)
        if rule.name in rule_names:
            raise InvalidValueError(f"{where}.name: {rule.name!r} is defined twice")
        rule_names.add(rule.name)
    return DeviceProfile(
        enterprise=enterprise,
        name=name,
        description=description,
        metrics=tuple(metrics),
        alarm_rules=tuple(alarm_rules),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )


@dataclass(frozen=True, slots=True)
class LatestValue:
    value: float | int | bool
    at: int


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where one alarm rule stands for one device: since when its condition has held (while
    it has), and the id of the alarm it raised while that alarm is open."""

    pending_since: int | None = None
    alarm: str | None = None

    @property
    def empty(self) -> bool:
        return self.pending_since is None and self.alarm is None


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    enterprise: str
    prefix: str
    identifier: str  # the device's handle, e.g. "88.100.1000/PUMP-0001"
    profile: str
    name: str
    state: LifecycleState
    firmware: str
    created_at: int
    updated_at: int
    version: int  # optimistic lock, 1 on create
    certificate_id: str | None = None
    connected: bool = False
    connectivity_at: int | None = None
    last_seen: int | None = None
    latest: Mapping[str, LatestValue] = field(default_factory=dict)
    latest_at: int | None = None
    alarm_states: Mapping[str, RuleState] = field(default_factory=dict)  # by alarm rule name
    alarm_version: int = 0  # changes with every change of alarm_states
    rejected: int = 0  # messages rejected so far
    last_rejection: str | None = None  # reason of the last rejected message


def new_device_id() -> str:
    """A fresh device id: `d-` and 20 lowercase base32 characters (100 random bits)."""
    encoded = base64.b32encode(secrets.token_bytes(13)).decode("ascii")
    return "d-" + encoded[:_DEVICE_ID_CHARS].lower()


def is_device_id(text: str) -> bool:
    return _DEVICE_ID.fullmatch(text) is not None


def check_device_id(text: str) -> str:
    """The device id itself, or InvalidValueError when it cannot be a thing name and topic level."""
    if not isinstance(text, str) or _DEVICE_ID.fullmatch(text) is None:
        raise InvalidValueError(
            f"device: {text!r} must be 1-64 letters, digits, underscores and hyphens"
        )
    return text


def command_subscription(device: str) -> str:
    """What the device subscribes to for its commands."""
    return f"{TOPIC_ROOT}/{device}/commands/+"


# The reason IoT Core gives when a client connects with the id of a session that is still
# open: the old session is dropped, and its disconnection may be reported after, and stamped
# later than, the new connection. It says nothing about the device's connectivity.
SUPERSEDED_SESSION = "DUPLICATE_CLIENTID"


def telemetry_topic(device: str) -> str:
    return f"{TOPIC_ROOT}/{device}/telemetry"


def command_topic(device: str, command: str) -> str:
    return f"{TOPIC_ROOT}/{device}/commands/{command}"


def response_topic(device: str, command: str) -> str:
    return f"{TOPIC_ROOT}/{device}/responses/{command}"


def validate_device_fields(name: str, firmware: str) -> None:
    """A device name is 1-128 printable characters, a firmware version 0-64."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_DEVICE_NAME:
        raise InvalidValueError(f"name: {name!r} must be 1-{MAX_DEVICE_NAME} characters")
    if not name.isprintable():
        raise InvalidValueError(f"name: {name!r} holds characters that cannot be shown")
    if not isinstance(firmware, str) or len(firmware) > MAX_FIRMWARE:
        raise InvalidValueError(f"firmware: {firmware!r} must be up to {MAX_FIRMWARE} characters")
    if not firmware.isprintable():
        raise InvalidValueError(f"firmware: {firmware!r} holds characters that cannot be shown")


# The identifier values describing a device; Handle REST clients resolve them.
DEVICE_ID_INDEX, DEVICE_TYPE_INDEX, ENTERPRISE_INDEX, LIFECYCLE_INDEX = 2, 3, 4, 5
DEVICE_VALUE_TYPES: Mapping[int, str] = {
    DEVICE_ID_INDEX: "IDNODE_DEVICE_ID",
    DEVICE_TYPE_INDEX: "IDNODE_DEVICE_TYPE",  # the profile name
    ENTERPRISE_INDEX: "IDNODE_ENTERPRISE",
    LIFECYCLE_INDEX: "IDNODE_LIFECYCLE",
}
DEVICE_VALUE_TTL = 86_400


def _string_value(index: int, text: str) -> Value:
    return Value(
        index=index,
        type=DEVICE_VALUE_TYPES[index],
        data=ValueData(DataFormat.STRING, text),
        ttl=DEVICE_VALUE_TTL,
    )


def identifier_values(device: Device) -> list[Value]:
    """The four values the device's identifier holds: id, type (profile), enterprise, state."""
    return [
        _string_value(DEVICE_ID_INDEX, device.id),
        _string_value(DEVICE_TYPE_INDEX, device.profile),
        _string_value(ENTERPRISE_INDEX, device.enterprise),
        lifecycle_value(device.state),
    ]


def lifecycle_value(state: LifecycleState) -> Value:
    """The lifecycle value alone, upserted on every state change."""
    return _string_value(LIFECYCLE_INDEX, state.value)
