"""What a device publishes: decoding, and checking against its profile with a reason per refusal."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.devices import DeviceProfile, Metric, MetricType, build_profile
from idnode.domain.errors import InvalidValueError
from idnode.domain.telemetry import (
    DAY_MS,
    MAX_FUTURE_SKEW_MS,
    MAX_PAYLOAD_BYTES,
    RejectionReason,
    TelemetryMessage,
    TelemetryRejected,
    decode_payload,
    read_message,
)

NOW = 1_750_000_000_000
RETENTION = 30
PROFILE = build_profile(
    "ent-1",
    "pump",
    "",
    [
        Metric("temperature", MetricType.NUMBER, "°C", -50.0, 150.0),
        Metric("rpm", MetricType.INTEGER, "1/min", 0, 6000),
        Metric("running", MetricType.BOOLEAN),
        Metric("vibration", MetricType.NUMBER),
    ],
    [],
    version=1,
    created_at=0,
    updated_at=0,
)


def read(document: dict[str, Any], profile: DeviceProfile = PROFILE) -> TelemetryMessage:
    return read_message(
        document,
        device="d-1",
        received_at=NOW - 200,
        profile=profile,
        now=NOW,
        retention_days=RETENTION,
    )


def test_the_reasons_are_the_published_strings() -> None:
    assert {reason.value for reason in RejectionReason} == {
        "not-json",
        "malformed",
        "oversized",
        "unknown-device",
        "device-retired",
        "client-mismatch",
        "unknown-metric",
        "wrong-type",
        "out-of-range",
        "timestamp-out-of-range",
    }


def test_a_rejection_is_an_invalid_value_with_its_reason() -> None:
    rejected = TelemetryRejected(RejectionReason.UNKNOWN_DEVICE, "device: 'd-9' is unknown")
    assert isinstance(rejected, InvalidValueError)
    assert (rejected.reason, rejected.message) == (
        RejectionReason.UNKNOWN_DEVICE,
        "device: 'd-9' is unknown",
    )


def test_a_payload_is_decoded_to_its_object() -> None:
    raw = json.dumps({"ts": NOW, "values": {"temperature": 21.5}}).encode()
    assert decode_payload(raw) == {"ts": NOW, "values": {"temperature": 21.5}}


def test_the_largest_payload_is_decoded() -> None:
    padding = MAX_PAYLOAD_BYTES - len(b'{"pad":""}')
    assert decode_payload(b'{"pad":"' + b"x" * padding + b'"}')["pad"] == "x" * padding


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        (b" " * (MAX_PAYLOAD_BYTES + 1), RejectionReason.OVERSIZED, "payload: 16385 bytes"),
        (
            b'{"values":{}}' + b" " * MAX_PAYLOAD_BYTES,
            RejectionReason.OVERSIZED,
            "payload: 16397 bytes",
        ),
        (b"\xff\xfe{}", RejectionReason.NOT_JSON, "payload: not UTF-8 JSON"),
        (b"temperature=21.5", RejectionReason.NOT_JSON, "payload: not UTF-8 JSON"),
        (b"", RejectionReason.NOT_JSON, "payload: not UTF-8 JSON"),
        (b'{"values": {', RejectionReason.NOT_JSON, "payload: not UTF-8 JSON"),
        (b"[1, 2]", RejectionReason.MALFORMED, "payload: a JSON object is expected, not list"),
        (b"21.5", RejectionReason.MALFORMED, "payload: a JSON object is expected, not float"),
        (b"[" * 8000 + b"]" * 8000, RejectionReason.MALFORMED, "payload: nested too deeply"),
    ],
)
def test_payloads_that_are_not_a_json_object_are_rejected(
    raw: bytes, reason: RejectionReason, message: str
) -> None:
    with pytest.raises(TelemetryRejected) as raised:
        decode_payload(raw)
    assert raised.value.reason is reason
    assert raised.value.message.startswith(message)


def test_a_message_carries_its_readings_and_time() -> None:
    message = read({"ts": NOW - 5_000, "values": {"temperature": 21.5, "running": True}})
    assert message == TelemetryMessage("d-1", NOW - 5_000, {"temperature": 21.5, "running": True})


def test_without_ts_the_message_takes_the_time_the_broker_received_it() -> None:
    assert read({"values": {"rpm": 1200}}).at == NOW - 200


def test_integer_metrics_take_integral_floats_as_integers() -> None:
    value = read({"values": {"rpm": 1200.0}}).values["rpm"]
    assert value == 1200 and type(value) is int


def test_the_range_and_time_limits_themselves_are_accepted() -> None:
    assert read({"ts": NOW + MAX_FUTURE_SKEW_MS, "values": {"temperature": 150.0}})
    assert read({"ts": NOW - RETENTION * DAY_MS, "values": {"temperature": -50}})
    assert read({"values": {"rpm": 0, "vibration": 0.0}})
    assert read({"values": {"vibration": -1e100}})


# One golden example per reason read_message gives (the others are the decoder's or the
# service's), each with the message it carries.
GOLDEN = [
    ({"values": {"pressure": 2.0}}, "unknown-metric", "values.pressure: profile 'pump' has no"),
    (
        {"values": {"temperature": "21.5"}},
        "wrong-type",
        "values.temperature: '21.5' is not a number",
    ),
    ({"values": {"temperature": True}}, "wrong-type", "values.temperature: True is not a number"),
    ({"values": {"temperature": None}}, "wrong-type", "values.temperature: None is not a number"),
    ({"values": {"temperature": math.nan}}, "wrong-type", "values.temperature: nan is not a"),
    ({"values": {"vibration": math.inf}}, "wrong-type", "values.vibration: inf is not a finite"),
    ({"values": {"rpm": 1200.5}}, "wrong-type", "values.rpm: 1200.5 is not an integer"),
    ({"values": {"rpm": False}}, "wrong-type", "values.rpm: False is not an integer"),
    ({"values": {"running": 1}}, "wrong-type", "values.running: 1 is not a boolean"),
    ({"values": {"running": "true"}}, "wrong-type", "values.running: 'true' is not a boolean"),
    (
        {"values": {"temperature": 912.0}},
        "out-of-range",
        "values.temperature: 912.0 is above the maximum 150.0",
    ),
    (
        {"values": {"temperature": -50.5}},
        "out-of-range",
        "values.temperature: -50.5 is below the minimum -50.0",
    ),
    ({"values": {"rpm": 6001}}, "out-of-range", "values.rpm: 6001 is above the maximum 6000"),
    ({"values": {"vibration": 1e101}}, "out-of-range", "values.vibration: 1e+101 is neither 0"),
    ({"values": {"vibration": 1e-200}}, "out-of-range", "values.vibration: 1e-200 is neither"),
    ({"values": {"rpm": 10**400}}, "out-of-range", "values.rpm: 1000"),
    (
        {"ts": NOW + MAX_FUTURE_SKEW_MS + 1, "values": {"rpm": 1}},
        "timestamp-out-of-range",
        f"ts: {NOW + MAX_FUTURE_SKEW_MS + 1} is more than 300 s ahead",
    ),
    (
        {"ts": NOW - RETENTION * DAY_MS - 1, "values": {"rpm": 1}},
        "timestamp-out-of-range",
        f"ts: {NOW - RETENTION * DAY_MS - 1} is older than the 30-day retention",
    ),
    ({"ts": -1, "values": {"rpm": 1}}, "timestamp-out-of-range", "ts: -1 is older"),
    ({"ts": float(NOW), "values": {"rpm": 1}}, "malformed", "ts: 1750000000000.0 is not epoch"),
    ({"ts": str(NOW), "values": {"rpm": 1}}, "malformed", "ts: '1750000000000' is not epoch"),
    ({"ts": True, "values": {"rpm": 1}}, "malformed", "ts: True is not epoch milliseconds"),
    ({"ts": None, "values": {"rpm": 1}}, "malformed", "ts: None is not epoch milliseconds"),
    ({}, "malformed", "values: None must be a non-empty object"),
    ({"values": {}}, "malformed", "values: {} must be a non-empty object"),
    ({"values": [21.5]}, "malformed", "values: [21.5] must be a non-empty object"),
    (
        {"values": {"rpm": 1}, "temperature": 21.5},
        "malformed",
        "payload: unexpected fields ['temperature']",
    ),
]


@pytest.mark.parametrize(("document", "reason", "message"), GOLDEN)
def test_each_rejection_reason_with_its_message(
    document: dict[str, Any], reason: str, message: str
) -> None:
    with pytest.raises(TelemetryRejected) as raised:
        read(document)
    assert raised.value.reason is RejectionReason(reason)
    assert raised.value.message.startswith(message)


# Property tests: generated profiles and messages that fit them.

metric_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).filter(
    lambda x: x == 0 or abs(x) >= 1e-100
)


@st.composite
def metrics(draw: st.DrawFn) -> Metric:
    kind = draw(st.sampled_from(MetricType))
    name = draw(metric_names)
    if kind is MetricType.BOOLEAN:
        return Metric(name, kind)
    low, high = sorted(draw(st.tuples(finite, finite)))
    if kind is MetricType.INTEGER:
        low, high = math.floor(low), math.ceil(high)
    return Metric(
        name,
        kind,
        minimum=draw(st.sampled_from([None, low])),
        maximum=draw(st.sampled_from([None, high])),
    )


def reading(metric: Metric) -> st.SearchStrategy[Any]:
    if metric.type is MetricType.BOOLEAN:
        return st.booleans()
    low = -1e9 if metric.minimum is None else metric.minimum
    high = 1e9 if metric.maximum is None else metric.maximum
    if metric.type is MetricType.INTEGER:
        return st.integers(math.ceil(low), math.floor(high))
    return st.floats(low, high).filter(lambda x: x == 0 or abs(x) >= 1e-100)


@st.composite
def profiles_and_documents(draw: st.DrawFn) -> tuple[DeviceProfile, dict[str, Any]]:
    listed = draw(st.lists(metrics(), min_size=1, max_size=6, unique_by=lambda m: m.name))
    profile = build_profile("ent-1", "gen", "", listed, [], version=1, created_at=0, updated_at=0)
    chosen = draw(st.lists(st.sampled_from(listed), min_size=1, unique_by=lambda m: m.name))
    document: dict[str, Any] = {"values": {m.name: draw(reading(m)) for m in chosen}}
    if draw(st.booleans()):
        document["ts"] = draw(st.integers(NOW - RETENTION * DAY_MS, NOW + MAX_FUTURE_SKEW_MS))
    return profile, document


@settings(max_examples=200)
@given(profiles_and_documents())
def test_every_valid_generated_message_is_accepted_as_sent(
    generated: tuple[DeviceProfile, dict[str, Any]],
) -> None:
    profile, document = generated
    # Through the wire form, as the broker delivers it.
    decoded = decode_payload(json.dumps(document).encode())
    message = read(decoded, profile)
    assert message.values == document["values"]
    assert message.at == document.get("ts", NOW - 200)


def _mutations(profile: DeviceProfile, document: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(what to change, how, the reason expected) for one field of the message."""
    name = next(iter(document["values"]))
    metric = profile.metric(name)
    assert metric is not None
    found: list[tuple[str, Any, str]] = [
        ("ts", NOW + MAX_FUTURE_SKEW_MS + 1, "timestamp-out-of-range"),
        ("ts", NOW - RETENTION * DAY_MS - 1, "timestamp-out-of-range"),
        ("ts", "soon", "malformed"),
        ("ts", 1.5, "malformed"),
        ("values", [], "malformed"),
        ("values", {}, "malformed"),
        ("extra", 1, "malformed"),
        ("values.NotAMetric", 1, "unknown-metric"),
        (f"values.{name}", "text", "wrong-type"),
        (f"values.{name}", None, "wrong-type"),
        (f"values.{name}", {"v": 1}, "wrong-type"),
    ]
    if metric.type is MetricType.BOOLEAN:
        found.append((f"values.{name}", 0, "wrong-type"))
    else:
        found.append((f"values.{name}", True, "wrong-type"))
        found.append((f"values.{name}", math.inf, "wrong-type"))
    if metric.type is MetricType.INTEGER:
        found.append((f"values.{name}", 0.5, "wrong-type"))
    if metric.maximum is not None:
        found.append((f"values.{name}", metric.maximum + 1, "out-of-range"))
    if metric.minimum is not None:
        found.append((f"values.{name}", metric.minimum - 1, "out-of-range"))
    return found


@settings(max_examples=150)
@given(generated=profiles_and_documents(), data=st.data())
def test_every_mutated_field_is_rejected_with_its_reason(
    generated: tuple[DeviceProfile, dict[str, Any]], data: st.DataObject
) -> None:
    profile, document = generated
    where, replacement, reason = data.draw(st.sampled_from(_mutations(profile, document)))
    mutated = {**document, "values": dict(document["values"])}
    if where.startswith("values."):
        mutated["values"][where.removeprefix("values.")] = replacement
    else:
        mutated[where] = replacement
    with pytest.raises(TelemetryRejected) as raised:
        read(mutated, profile)
    assert raised.value.reason is RejectionReason(reason)
    assert raised.value.message.startswith("payload" if where == "extra" else where)


def test_rejection_messages_show_a_short_excerpt_of_what_the_device_sent() -> None:
    long_name = "x" * 5_000
    with pytest.raises(TelemetryRejected) as unknown:
        read({"values": {long_name: 1}})
    with pytest.raises(TelemetryRejected) as wrong:
        read({"values": {"temperature": "y" * 5_000}})
    with pytest.raises(TelemetryRejected) as control:
        read({"values": {"temp\nerature": 1}})
    assert len(unknown.value.message) < 300 and unknown.value.message.startswith("values.'xxx")
    assert len(wrong.value.message) < 200
    assert wrong.value.message.startswith("values.temperature: 'yyy")
    assert "..." in wrong.value.message
    assert control.value.message.startswith("values.'temp\\nerature'")
