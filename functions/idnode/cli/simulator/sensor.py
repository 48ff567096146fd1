"""The pump sensor the simulator imitates: the metrics and alarm rules of its profile, and
the readings it takes."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# About one message in 50 carries a value beyond an alarm threshold, in runs long enough for
# the temperature rule's 5 s hold; about one in 500 carries a value outside its valid range.
EXCURSION_SHARE = 1 / 50
FAULT_SHARE = 1 / 500
EXCURSION_SECONDS = (6.0, 20.0)
HIGH_FAULT_SHARE = 0.5  # faults read above the valid range as often as below it


# The profile the simulated sensors follow


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of the simulated sensor, as the profile declares it."""

    name: str
    type: str  # GraphQL MetricType
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None

    def valid(self, value: float | bool) -> bool:
        """Whether the platform accepts `value` for this metric."""
        if self.type == "BOOLEAN":
            return isinstance(value, bool)
        if isinstance(value, bool) or not math.isfinite(value):
            return False
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """One alarm rule of the simulated sensor's profile."""

    name: str
    metric: str
    comparison: str  # GraphQL Comparison: GT or GE
    threshold: float
    duration_seconds: int
    severity: str  # GraphQL AlarmSeverity

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison == "GT" else value >= self.threshold


SENSOR_METRICS = (
    MetricSpec("temperature", "NUMBER", "°C", -40.0, 150.0),
    MetricSpec("pressure", "NUMBER", "kPa", 0.0, 1000.0),
    MetricSpec("running", "BOOLEAN"),
    MetricSpec("vibration", "NUMBER", "mm/s", 0.0, 100.0),
)
SENSOR_ALARMS = (
    AlarmSpec("overheating", "temperature", "GT", 90.0, 5, "MAJOR"),
    AlarmSpec("highVibration", "vibration", "GE", 20.0, 0, "MINOR"),
)
_METRICS = {metric.name: metric for metric in SENSOR_METRICS}
NUMERIC_METRICS = tuple(metric.name for metric in SENSOR_METRICS if metric.type != "BOOLEAN")


# Readings


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Where a metric settles, how much it wanders, how fast it returns, and the band it is
    kept in (inside the alarm thresholds: only excursions cross them)."""

    mean: float
    spread: float
    settle_seconds: float
    low: float
    high: float


RUNNING_POINTS = {
    "temperature": OperatingPoint(68.0, 4.0, 60.0, 20.0, 85.0),
    "pressure": OperatingPoint(420.0, 15.0, 20.0, 150.0, 650.0),
    "vibration": OperatingPoint(4.5, 1.2, 10.0, 0.5, 15.0),
}
# A stopped pump cools down to ambient, loses pressure and stops vibrating.
STOPPED_POINTS = {
    "temperature": OperatingPoint(28.0, 1.5, 300.0, 15.0, 85.0),
    "pressure": OperatingPoint(101.3, 0.8, 30.0, 95.0, 650.0),
    "vibration": OperatingPoint(0.2, 0.05, 5.0, 0.0, 15.0),
}
# Values an excursion takes: beyond the alarm threshold, inside the valid range.
EXCURSION_LEVELS = {"temperature": (92.0, 118.0), "vibration": (21.0, 38.0)}


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry message, with what was injected into it."""

    ts: int
    values: Mapping[str, float | bool]
    excursion: str | None = None  # the metric held beyond its alarm threshold
    fault: str | None = None  # the metric carrying an out-of-range value

    def document(self) -> dict[str, Any]:
        return {"ts": self.ts, "values": dict(self.values)}


class TelemetryGenerator:
    """Readings of one pump sensor: mean-reverting random walks around its operating point,
    with injected excursions and faults. Deterministic for a given random generator."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self._rng = rng
        self.rate = rate
        self.running = True
        self._values = {
            name: _clamp(point.mean + rng.gauss(0.0, point.spread), point)
            for name, point in RUNNING_POINTS.items()
        }
        self._last_ts: int | None = None
        self._excursion: tuple[str, int] | None = None  # metric, until (epoch ms)

    def next(self, now_ms: int) -> Reading:
        """The reading taken at `now_ms` (timestamps strictly increase: each is a point)."""
        if self._last_ts is None:
            ts, elapsed = now_ms, 1.0 / self.rate
        else:
            ts = max(now_ms, self._last_ts + 1)
            elapsed = (ts - self._last_ts) / 1000.0
        self._last_ts = ts
        self._walk(elapsed)
        values: dict[str, float | bool] = {
            "temperature": round(self._values["temperature"], 2),
            "pressure": round(self._values["pressure"], 2),
            "running": self.running,
            "vibration": round(self._values["vibration"], 2),
        }
        excursion = self._excursion_at(ts)
        if excursion is not None:
            low, high = EXCURSION_LEVELS[excursion]
            values[excursion] = round(self._rng.uniform(low, high), 2)
        fault = None
        if self._rng.random() < FAULT_SHARE:
            fault = self._rng.choice(NUMERIC_METRICS)
            values[fault] = self._fault_value(_METRICS[fault])
        return Reading(ts, values, excursion, fault)

    def _walk(self, elapsed: float) -> None:
        points = RUNNING_POINTS if self.running else STOPPED_POINTS
        for name, point in points.items():
            # Exact Ornstein-Uhlenbeck step: the spread stays the same whatever the rate.
            keep = math.exp(-elapsed / point.settle_seconds)
            noise = point.spread * math.sqrt(1.0 - keep * keep) * self._rng.gauss(0.0, 1.0)
            value = point.mean + (self._values[name] - point.mean) * keep + noise
            self._values[name] = _clamp(value, point)

    def _excursion_at(self, ts: int) -> str | None:
        if self._excursion is not None and ts < self._excursion[1]:
            return self._excursion[0]
        self._excursion = None
        if self._rng.random() < self._excursion_start_probability():
            metric = self._rng.choice(tuple(EXCURSION_LEVELS))
            seconds = self._rng.uniform(*EXCURSION_SECONDS)
            self._excursion = (metric, ts + round(seconds * 1000))
            return metric
        return None

    def _excursion_start_probability(self) -> float:
        # Starts are rarer at higher rates so that the share of messages beyond a threshold
        # stays about EXCURSION_SHARE whatever the rate.
        # (an excursion of d seconds spans d * rate messages, plus the one that starts it)
        mean_messages = sum(EXCURSION_SECONDS) / 2 * self.rate + 0.5
        return EXCURSION_SHARE / ((1.0 - EXCURSION_SHARE) * mean_messages)

    def _fault_value(self, metric: MetricSpec) -> float:
        assert metric.minimum is not None and metric.maximum is not None
        span = metric.maximum - metric.minimum
        offset = self._rng.uniform(0.05, 0.5) * span
        if self._rng.random() < HIGH_FAULT_SHARE:
            return round(metric.maximum + offset, 1)
        return round(metric.minimum - offset, 1)

    def latest(self) -> dict[str, float | bool]:
        """The current operating values, as a command answer reports them."""
        values: dict[str, float | bool] = {
            name: round(value, 2) for name, value in self._values.items()
        }
        values["running"] = self.running
        return values


def _clamp(value: float, point: OperatingPoint) -> float:
    return min(point.high, max(point.low, value))
