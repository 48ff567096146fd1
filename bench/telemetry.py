"""Per-message cost of processing telemetry, in a process of its own.

Three paths store the same reading (a pump sensor's four metrics) on the same DynamoDB
endpoint (moto's backend served over HTTP on loopback, `bench.endpoint`):

- `put_item`: a raw boto3 `PutItem` of the point, the item and condition exactly as the
  telemetry store writes them (`attribute_not_exists(device)`), the floor: storing a
  reading cannot cost less than this one write;
- `requests`: the three requests the function makes for such a message, as raw boto3 calls
  with the parameters it sends (a strongly consistent `GetItem` of the device, the
  conditional `PutItem` of the point, the conditional `UpdateItem` of the latest values):
  what the function costs with none of its own code, the floor its round trips set;
- `handler`: the telemetry event an IoT topic rule hands to the device-events Lambda
  function (`iot_rules/samples/telemetry.json`), through `idnode.handlers.device_events`.
  The device is active, its profile declares the four metrics and two alarm rules, and the
  values are within every limit and threshold, so the message takes the common path: read
  the device, check the reading against the profile (cached), store the point, evaluate the
  alarm rules (nothing changes, nothing is written), record the latest values.

Every message carries a new `ts`, so each is stored, as in a live stream; each raw path
writes for a device of its own, with the same timestamps and values, so that the series do
not collide. The paths take turns call by call as in `bench.resolution`, and each call is timed
in process CPU time and in wall time. Last, every message must have been stored and the
device's latest values must be the last message's: a handler that dropped messages would be
cheap for the wrong reason.

The suite runs this module as `python -m bench.telemetry OUTPUT` in the environment of
`bench.environment.measured_environment`, and reads the per-call durations from OUTPUT.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from unittest import mock

import boto3
import botocore.endpoint

from bench.endpoint import dynamodb_endpoint
from bench.resolution import BenchmarkSetupError, Call, RequestPath, measure, process_main
from idnode.cli.gateway import LocalLambdaContext, Route
from idnode.domain.devices import (
    AlarmRule,
    Comparison,
    Device,
    LifecycleState,
    Metric,
    MetricType,
    Severity,
    build_profile,
)
from idnode.handlers import device_events
from idnode.node import current_node, epoch_ms
from idnode.settings import Settings, get_settings
from idnode.store.devices import DeviceRepository
from idnode.store.profiles import ProfileRepository

ENTERPRISE = "ent-1234"
PREFIX = "88.100.1234"
PROFILE = "pump-sensor"
DEVICE = "d-benchtelemetry0001"
# The raw paths' devices: the same points, kept apart from the function's series.
RAW_DEVICE = "d-benchtelemetry0002"
REQUESTS_DEVICE = "d-benchtelemetry0003"
# As in iot_rules/samples/telemetry.json: within every limit, below both alarm thresholds.
VALUES: Mapping[str, float | bool] = {
    "temperature": 71.5,
    "pressure": 412.0,
    "running": True,
    "vibration": 3.2,
}
METRICS = (
    Metric("temperature", MetricType.NUMBER, "°C", -40.0, 150.0),
    Metric("pressure", MetricType.NUMBER, "kPa", 0.0, 1000.0),
    Metric("running", MetricType.BOOLEAN),
    Metric("vibration", MetricType.NUMBER, "mm/s", 0.0, 100.0),
)
ALARM_RULES = (
    AlarmRule("overheating", "temperature", Comparison.GT, 90.0, 5, Severity.MAJOR),
    AlarmRule("highVibration", "vibration", Comparison.GE, 20.0, 0, Severity.MINOR),
)
RECEIVED_AFTER_MS = 42  # the broker's receipt time, a little after the device's ts
# The first message's ts: a minute ago, so that hundreds of messages a millisecond apart
# stay well behind the node's clock (it refuses readings more than 5 minutes ahead).
START_BEHIND_MS = 60_000
DAY_SECONDS = 86_400
FUNCTION_NAME = "idnode-device-events"
REQUESTS = 3  # GetItem, PutItem, UpdateItem: what the `requests` path sends per message
COUNTED_MESSAGES = 5  # messages per path whose requests are counted, after the timing


def seed(node_settings: Settings, now: int) -> None:
    """Create the tables on the endpoint, define the profile and register the devices as
    active (provisioned and connected before)."""
    node = current_node()
    for model in node.tables.all():
        model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    ProfileRepository(node.tables.profiles).put(
        build_profile(
            ENTERPRISE,
            PROFILE,
            "Centrifugal pump sensor",
            METRICS,
            ALARM_RULES,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    devices = DeviceRepository(node.tables.devices)
    for device_id in (DEVICE, REQUESTS_DEVICE):
        devices.create(
            Device(
                id=device_id,
                enterprise=ENTERPRISE,
                prefix=PREFIX,
                identifier=f"{PREFIX}/PUMP-{device_id[-4:]}",
                profile=PROFILE,
                name="Feed pump",
                state=LifecycleState.ACTIVE,
                firmware="1.4.2",
                created_at=now,
                updated_at=now,
                version=1,
                certificate_id="0" * 64,
            )
        )


def telemetry_event(device: str, ts: int) -> dict[str, Any]:
    """The event the telemetry topic rule makes of one message (see iot_rules/telemetry.json)."""
    payload = json.dumps({"ts": ts, "values": dict(VALUES)}, separators=(",", ":"))
    return {
        "kind": "telemetry",
        "payload": base64.b64encode(payload.encode()).decode("ascii"),
        "device": device,
        "clientId": device,
        "receivedAt": ts + RECEIVED_AFTER_MS,
    }


def _attribute(value: float | bool) -> dict[str, Any]:
    return {"BOOL": value} if isinstance(value, bool) else {"N": json.dumps(value)}


def telemetry_item(device: str, ts: int, retention_days: int) -> dict[str, Any]:
    """The item the telemetry store writes for one message (TelemetryModel's shape)."""
    expires = ts // 1000 + retention_days * DAY_SECONDS
    return {
        "device": {"S": device},
        "at": {"N": str(ts)},
        "values": {"M": {metric: _attribute(value) for metric, value in VALUES.items()}},
        "expires": {"N": str(expires)},
    }


def put_point(table: str, device: str, ts: int, retention_days: int) -> dict[str, Any]:
    """The conditional PutItem of one point, as the telemetry store sends it."""
    return {
        "TableName": table,
        "Item": telemetry_item(device, ts, retention_days),
        "ConditionExpression": "attribute_not_exists (#0)",
        "ExpressionAttributeNames": {"#0": "device"},
    }


def update_latest(table: str, device: str, ts: int) -> dict[str, Any]:
    """The conditional UpdateItem of a device's latest values, as the device store sends it
    (pynamodb's `Model.update` asks for the whole item back)."""
    names = {"#0": "device", "#1": "latest_at", "#2": "latest"}
    values: dict[str, Any] = {":0": {"N": str(ts)}}
    assignments = []
    for number, (metric, value) in enumerate(VALUES.items(), start=1):
        names[f"#{number + 2}"] = metric
        values[f":{number}"] = {"M": {"v": _attribute(value), "at": {"N": str(ts)}}}
        assignments.append(f"#2.#{number + 2} = :{number}")
    latest = f":{len(VALUES) + 1}"
    values[latest] = {"N": str(ts)}
    assignments.append(f"#1 = {latest}")
    return {
        "TableName": table,
        "Key": {"device": {"S": device}},
        "ConditionExpression": "(attribute_exists (#0) AND (attribute_not_exists (#1) OR #1 < :0))",
        "UpdateExpression": "SET " + ", ".join(assignments),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnValues": "NONE",
    }


def _succeeded(response: object) -> bool:
    status = response.get("ResponseMetadata", {}) if isinstance(response, dict) else {}
    return bool(status.get("HTTPStatusCode") == 200)


def _dynamodb(node_settings: Settings) -> Any:
    return boto3.client(
        "dynamodb", region_name=node_settings.region, endpoint_url=node_settings.endpoint_url
    )


def put_item_path(node_settings: Settings, timestamps: Iterator[int]) -> RequestPath:
    client = _dynamodb(node_settings)
    table = node_settings.telemetry_table
    retention_days = current_node().parameters.current().telemetry_retention_days

    def prepare() -> Call:
        request = put_point(table, RAW_DEVICE, next(timestamps), retention_days)
        return lambda: client.put_item(**request)

    def check(response: object) -> None:
        if not _succeeded(response):
            raise BenchmarkSetupError(f"PutItem did not store the point: {response!r}")

    return RequestPath("put_item", prepare, check)


def requests_path(node_settings: Settings, timestamps: Iterator[int]) -> RequestPath:
    client = _dynamodb(node_settings)
    devices, telemetry = node_settings.devices_table, node_settings.telemetry_table
    retention_days = current_node().parameters.current().telemetry_retention_days
    key = {"device": {"S": REQUESTS_DEVICE}}

    def prepare() -> Call:
        ts = next(timestamps)
        point = put_point(telemetry, REQUESTS_DEVICE, ts, retention_days)
        latest = update_latest(devices, REQUESTS_DEVICE, ts)

        def call() -> object:
            client.get_item(TableName=devices, Key=key, ConsistentRead=True)
            client.put_item(**point)
            return client.update_item(**latest)

        return call

    def check(response: object) -> None:
        # A failed condition raises; a conditional update that answers 200 recorded it.
        if not _succeeded(response):
            raise BenchmarkSetupError(f"UpdateItem did not record the latest: {response!r}")

    return RequestPath("requests", prepare, check)


def handler_path(timestamps: Iterator[int]) -> RequestPath:
    route = Route("ANY", "/", device_events.handler, FUNCTION_NAME)
    handler = device_events.handler

    def prepare() -> Call:
        event = telemetry_event(DEVICE, next(timestamps))
        context = LocalLambdaContext.for_route(route)
        return lambda: handler(event, context)

    def check(response: object) -> None:
        if not (
            isinstance(response, dict)
            and response.get("outcome") == "stored"
            and not response.get("alarms")
        ):
            raise BenchmarkSetupError(f"the device-events function did not store it: {response!r}")

    return RequestPath("handler", prepare, check)


def stored_points(device: str) -> int:
    return sum(1 for _ in current_node().tables.telemetry.query(device, attributes_to_get=["at"]))


def check_stored(messages: int, last_ts: int) -> None:
    """Every message was stored, and the last one is the latest of the devices that record it."""
    for device_id in (DEVICE, RAW_DEVICE, REQUESTS_DEVICE):
        stored = stored_points(device_id)
        if stored != messages:
            raise BenchmarkSetupError(f"{device_id} has {stored} points stored for {messages} sent")
    for device_id in (DEVICE, REQUESTS_DEVICE):
        device = DeviceRepository(current_node().tables.devices).get(device_id)
        if device is None or device.latest_at != last_ts or device.rejected:
            raise BenchmarkSetupError(f"the latest values are not the last message's: {device}")
        if device.alarm_states or device.alarm_version:
            raise BenchmarkSetupError(f"readings within thresholds changed alarm states: {device}")


def requests_per_message(paths: Sequence[RequestPath], messages: int) -> dict[str, float]:
    """How many requests each path sends to the endpoint per message (counted apart from the
    timed calls, which counting would slow down)."""
    sent: Counter[str] = Counter()
    send = botocore.endpoint.Endpoint.make_request

    def counted(endpoint: Any, operation: Any, request: Any) -> Any:
        sent[current] += 1
        return send(endpoint, operation, request)

    with mock.patch.object(botocore.endpoint.Endpoint, "make_request", counted):
        for path in paths:
            current = path.name
            for _ in range(messages):
                path.prepare()()
    return {path.name: sent[path.name] / messages for path in paths}


def run(rounds: int, batch: int, warmup: int) -> dict[str, Any]:
    """Start the endpoint, seed it, measure the paths, check what was stored."""
    with dynamodb_endpoint() as endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        node_settings = get_settings()
        now = epoch_ms()
        seed(node_settings, now)
        first_ts = now - START_BEHIND_MS
        # One series of timestamps per path: the n-th call of each stores the same point.
        series = {name: itertools.count(first_ts) for name in ("put_item", "requests", "handler")}
        paths = [
            put_item_path(node_settings, series["put_item"]),
            requests_path(node_settings, series["requests"]),
            handler_path(series["handler"]),
        ]
        measured = measure(paths, rounds=rounds, batch=batch, warmup=warmup)
        requests = requests_per_message(paths, COUNTED_MESSAGES)
        if requests["put_item"] != 1 or requests["requests"] != REQUESTS:
            raise BenchmarkSetupError(f"the raw paths sent other requests: {requests}")
        messages = 1 + warmup + rounds * batch + COUNTED_MESSAGES
        last_ts = first_ts + messages - 1
        if any(next(timestamps) != last_ts + 1 for timestamps in series.values()):
            raise BenchmarkSetupError("the paths did not send one message per call")
        check_stored(messages, last_ts)
    return {
        "device": DEVICE,
        "metrics": len(METRICS),
        "alarm_rules": len(ALARM_RULES),
        "requests_per_message": requests,
        "messages": messages,
        "rounds": rounds,
        "batch": batch,
        "warmup": warmup,
        **measured,
    }


def main(argv: Sequence[str] | None = None) -> int:
    return process_main("python -m bench.telemetry", __doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
