"""Telemetry (IOT-5): decoding and checking what a device publishes, and aggregating stored
readings into time buckets.

A device publishes `{"ts": <epoch ms, optional>, "values": {"<metric>": <value>, ...}}` on its
telemetry topic. Every check here runs once per message, so they are plain comparisons.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from idnode.domain.devices import MAX_MAGNITUDE, DeviceProfile, Metric, MetricType
from idnode.domain.errors import InvalidValueError

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000
MAX_BUCKETS = 1000
MIN_INTERVAL_MS = 1000
DAY_MS = 86_400_000
MESSAGE_FIELDS = frozenset({"ts", "values"})


class RejectionReason(StrEnum):
    NOT_JSON = "not-json"
    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNKNOWN_DEVICE = "unknown-device"
    DEVICE_RETIRED = "device-retired"
    CLIENT_MISMATCH = "client-mismatch"
    UNKNOWN_METRIC = "unknown-metric"
    WRONG_TYPE = "wrong-type"
    OUT_OF_RANGE = "out-of-range"
    TIMESTAMP_OUT_OF_RANGE = "timestamp-out-of-range"


class TelemetryRejected(InvalidValueError):  # noqa: N818 - the name services and handlers catch
    """A device message that is not accepted, with the reason kept for the dead letters."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TelemetryMessage:
    device: str
    at: int  # epoch ms the readings were taken
    values: Mapping[str, float | int | bool]


def decode_payload(raw: bytes) -> dict[str, Any]:
    """The JSON object a device published. Size is checked before anything is parsed."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise TelemetryRejected(
            RejectionReason.OVERSIZED,
            f"payload: {len(raw)} bytes, at most {MAX_PAYLOAD_BYTES} allowed",
        )
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise TelemetryRejected(
            RejectionReason.NOT_JSON, f"payload: not UTF-8 JSON ({error})"
        ) from None
    except RecursionError:
        raise TelemetryRejected(RejectionReason.MALFORMED, "payload: nested too deeply") from None
    if not isinstance(document, dict):
        raise TelemetryRejected(
            RejectionReason.MALFORMED,
            f"payload: a JSON object is expected, not {type(document).__name__}",
        )
    return document


MAX_EXCERPT = 80


def excerpt(value: object) -> str:
    """`repr(value)`, shortened: rejection messages are stored and a device controls the value."""
    text = repr(value)
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 3] + "..."


_KIND = {MetricType.NUMBER: "a number", MetricType.INTEGER: "an integer"}


def _reading(name: str, metric: Metric, raw: object) -> float | int | bool:
    """One checked reading; integer metrics keep integral floats as ints."""
    where = f"values.{name}"
    if metric.type is MetricType.BOOLEAN:
        if not isinstance(raw, bool):
            raise TelemetryRejected(
                RejectionReason.WRONG_TYPE, f"{where}: {excerpt(raw)} is not a boolean"
            )
        return raw
    # bool is an int in Python but never a reading of a numeric metric.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TelemetryRejected(
            RejectionReason.WRONG_TYPE, f"{where}: {excerpt(raw)} is not {_KIND[metric.type]}"
        )
    number: float | int = raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise TelemetryRejected(
                RejectionReason.WRONG_TYPE, f"{where}: {excerpt(raw)} is not a finite number"
            )
        if metric.type is MetricType.INTEGER:
            if not raw.is_integer():
                raise TelemetryRejected(
                    RejectionReason.WRONG_TYPE, f"{where}: {excerpt(raw)} is not an integer"
                )
            number = int(raw)
    size = abs(number)
    if size > MAX_MAGNITUDE or (0 < size < 1 / MAX_MAGNITUDE):
        raise TelemetryRejected(
            RejectionReason.OUT_OF_RANGE,
            f"{where}: {excerpt(raw)} is neither 0 nor of a storable magnitude "
            f"({1 / MAX_MAGNITUDE:g} to {MAX_MAGNITUDE:g})",
        )
    if metric.minimum is not None and number < metric.minimum:
        raise TelemetryRejected(
            RejectionReason.OUT_OF_RANGE,
            f"{where}: {excerpt(raw)} is below the minimum {metric.minimum!r}",
        )
    if metric.maximum is not None and number > metric.maximum:
        raise TelemetryRejected(
            RejectionReason.OUT_OF_RANGE,
            f"{where}: {excerpt(raw)} is above the maximum {metric.maximum!r}",
        )
    return number


def _timestamp(document: Mapping[str, Any], received_at: int) -> int:
    if "ts" not in document:
        return received_at
    ts = document["ts"]
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise TelemetryRejected(
            RejectionReason.MALFORMED, f"ts: {excerpt(ts)} is not epoch milliseconds (an integer)"
        )
    return ts


def read_message(
    document: Mapping[str, Any],
    *,
    device: str,
    received_at: int,
    profile: DeviceProfile,
    now: int,
    retention_days: int,
) -> TelemetryMessage:
    """The readings of a decoded payload, checked against the device's profile."""
    unexpected = document.keys() - MESSAGE_FIELDS
    if unexpected:
        raise TelemetryRejected(
            RejectionReason.MALFORMED,
            f"payload: unexpected fields {excerpt(sorted(unexpected))}; a message has ts and "
            "values",
        )
    at = _timestamp(document, received_at)
    values = document.get("values")
    if not isinstance(values, dict) or not values:
        raise TelemetryRejected(
            RejectionReason.MALFORMED,
            f"values: {excerpt(values)} must be a non-empty object of metric readings",
        )
    readings: dict[str, float | int | bool] = {}
    for name, raw in values.items():
        metric = profile.metric(name)
        if metric is None:
            label = name if len(name) <= MAX_EXCERPT and name.isprintable() else excerpt(name)
            raise TelemetryRejected(
                RejectionReason.UNKNOWN_METRIC,
                f"values.{label}: profile {profile.name!r} has no metric {excerpt(name)}",
            )
        readings[name] = _reading(name, metric, raw)
    oldest = now - retention_days * DAY_MS
    if at < oldest:
        raise TelemetryRejected(
            RejectionReason.TIMESTAMP_OUT_OF_RANGE,
            f"ts: {at} is older than the {retention_days}-day retention (oldest {oldest})",
        )
    if at > now + MAX_FUTURE_SKEW_MS:
        raise TelemetryRejected(
            RejectionReason.TIMESTAMP_OUT_OF_RANGE,
            f"ts: {at} is more than {MAX_FUTURE_SKEW_MS // 1000} s ahead of the node's clock "
            f"({now})",
        )
    return TelemetryMessage(device=device, at=at, values=readings)


@dataclass(frozen=True, slots=True)
class Bucket:
    """Readings in [start, start + interval); no readings: count 0 and no statistics."""

    start: int
    count: int
    minimum: float | None
    maximum: float | None
    average: float | None


def check_range(start: int, end: int, interval_ms: int) -> None:
    """A query range: start before end, interval of at least a second, at most MAX_BUCKETS."""
    if start >= end:
        raise InvalidValueError(f"from: {start} must be before to ({end})")
    if interval_ms < MIN_INTERVAL_MS:
        raise InvalidValueError(
            f"interval: {interval_ms} ms, at least {MIN_INTERVAL_MS} ms (one second)"
        )
    buckets = -(-(end - start) // interval_ms)
    if buckets > MAX_BUCKETS:
        raise InvalidValueError(
            f"interval: {interval_ms} ms makes {buckets} buckets over the range, at most "
            f"{MAX_BUCKETS}; widen the interval or shorten the range"
        )


def aggregate(
    points: Iterable[tuple[int, float]], *, start: int, end: int, interval_ms: int
) -> list[Bucket]:
    """Count, minimum, maximum and average per bucket over [start, end), empty buckets included.
    Points outside the range are ignored; booleans count as 0 and 1."""
    check_range(start, end, interval_ms)
    size = -(-(end - start) // interval_ms)
    groups: list[list[float]] = [[] for _ in range(size)]
    for at, value in points:
        if start <= at < end:
            groups[(at - start) // interval_ms].append(float(value))
    buckets = []
    for position, group in enumerate(groups):
        bucket_start = start + position * interval_ms
        if not group:
            buckets.append(Bucket(bucket_start, 0, None, None, None))
            continue
        low, high = min(group), max(group)
        # fsum and the clamp keep rounding from putting the average outside [min, max].
        average = min(max(math.fsum(group) / len(group), low), high)
        buckets.append(Bucket(bucket_start, len(group), low, high, average))
    return buckets
