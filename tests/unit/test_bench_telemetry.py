"""The telemetry figures of the benchmark, from made-up measurements, and the latency run's
logic with a fake clock, broker and GraphQL API."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench import suite
from bench.latency import (
    CHECK_PAUSE_SECONDS,
    MESSAGE_TIMEOUT_SECONDS,
    UNAVAILABLE_EXIT,
    VALUES,
    LocalCloudUnavailable,
    epoch_ms,
    latency_entries,
    measure,
    measure_latency,
    shows,
    summary,
    telemetry_document,
)
from bench.report import render_table, write_results
from bench.suite import TELEMETRY_HANDLER_VS_PUT_ITEM, in_table_units, telemetry_entries

REQUIRED_KEYS = {"name", "value", "of", "target", "met"}
SAMPLE_EVENT = Path(__file__).resolve().parents[2] / "iot_rules" / "samples" / "telemetry.json"


def rounds(us: float) -> list[list[int]]:
    """Two rounds of three calls around `us` microseconds."""
    per_call = round(us * 1000)
    return [[per_call, per_call - 1000, per_call + 1000]] * 2


def telemetry_measurement(
    handler_us: float, requests_us: float, put_item_us: float
) -> dict[str, Any]:
    costs = {"handler": handler_us, "requests": requests_us, "put_item": put_item_us}
    return {
        "messages": 12,
        "requests_per_message": {"handler": 3.0, "requests": 3.0, "put_item": 1.0},
        "cpu_ns": {path: rounds(us) for path, us in costs.items()},
        "wall_ns": {path: rounds(us * 1.1) for path, us in costs.items()},
        "first_call_ns": {path: round(us * 5000) for path, us in costs.items()},
    }


def test_the_handler_over_put_item_ratio_has_its_target_and_the_floor_beside_it() -> None:
    entries = telemetry_entries(telemetry_measurement(12_600, 11_000, 2_000))
    ratio_row = entries[0]
    assert ratio_row.name == "telemetry_handler_vs_put_item"
    assert ratio_row.target == TELEMETRY_HANDLER_VS_PUT_ITEM
    assert ratio_row.value == pytest.approx(6.3)
    assert ratio_row.met is True
    details = ratio_row.details
    assert details["numerator_us"] == 12_600.0
    assert details["denominator_us"] == 2_000.0
    assert details["requests_per_message"] == 3.0
    assert details["requests_vs_put_item"] == pytest.approx(5.5)
    assert details["handler_vs_requests"] == pytest.approx(12_600 / 11_000, abs=1e-4)
    assert details["wall_ratio"] == pytest.approx(6.3, abs=1e-3)
    assert details["samples"] == 6


def test_a_handler_costing_more_than_the_target_misses_it() -> None:
    ratio_row = telemetry_entries(telemetry_measurement(14_000, 11_000, 2_000))[0]
    assert ratio_row.value == pytest.approx(7.0)
    assert ratio_row.met is False


def test_each_path_has_its_cost_and_the_handler_its_overhead() -> None:
    entries = {e.name: e for e in telemetry_entries(telemetry_measurement(12_600, 11_000, 2_000))}
    assert entries["telemetry_put_item_us"].value == 2_000.0
    assert entries["telemetry_requests_us"].value == 11_000.0
    handler = entries["telemetry_handler_us"]
    assert handler.value == 12_600.0
    assert handler.target is None
    assert handler.details["requests_per_message"] == 3.0
    assert handler.details["first_call_wall_us"] == 63_000.0
    assert handler.details["wall_us"] == pytest.approx(13_860.0)
    overhead = entries["telemetry_handler_overhead_us"]
    assert overhead.value == pytest.approx(10_600.0)
    assert overhead.details["over_its_requests_us"] == pytest.approx(1_600.0)


def latency_measurement(samples: list[float], lost: int = 0) -> dict[str, Any]:
    return {
        "samples_ms": samples,
        "warmup_ms": [4_000.0, 150.0],
        "ack_ms": [1.0, 2.0, 3.0],
        "check_ms": [40.0, 50.0, 60.0],
        "lost": lost,
    }


def test_latency_percentiles_are_nearest_rank_in_milliseconds() -> None:
    samples = [float(ms) for ms in range(100, 0, -5)]  # 20 samples, 5 .. 100 ms
    p50, p95 = latency_entries(latency_measurement(samples, lost=1))
    assert p50.name == "telemetry_publish_to_queryable_p50_ms"
    assert p95.name == "telemetry_publish_to_queryable_p95_ms"
    assert p50.value == 50.0  # 10th of 20
    assert p95.value == 95.0  # 19th of 20
    assert p50.target is None and p95.target is None
    assert p50.details["unit"] == "ms"
    assert p50.details["max_ms"] == 100.0
    assert p50.details["min_ms"] == 5.0
    assert p50.details["lost"] == 1
    assert p50.details["ack_p50_ms"] == 2.0
    assert p50.details["poll_p50_ms"] == 50.0
    assert p50.details["samples_ms"] == samples
    assert p95.details["samples"] == 20


def test_no_visible_message_is_no_figure() -> None:
    with pytest.raises(ValueError, match="no message"):
        latency_entries(latency_measurement([], lost=30))


def test_the_table_shows_milliseconds_as_microseconds_and_the_results_keep_them(
    tmp_path: Path,
) -> None:
    p50, _p95 = latency_entries(latency_measurement([80.0, 90.0, 100.0]))
    ratio_row = telemetry_entries(telemetry_measurement(12_600, 11_000, 2_000))[0]
    assert in_table_units(p50).value == 90_000.0
    assert in_table_units(ratio_row) is ratio_row
    table = render_table([in_table_units(p50)])
    assert "90,000 us" in table
    output = tmp_path / "results.json"
    write_results(output, [p50, ratio_row])
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document[0]["value"] == 90.0
    assert all(set(entry) >= REQUIRED_KEYS for entry in document)


def test_the_summary_names_p50_p95_max_and_every_sample() -> None:
    text = summary(latency_measurement([80.0, 90.0, 100.0]))
    assert "p50 90 ms, p95 100 ms, max 100 ms" in text
    assert "samples (ms): 80, 90, 100" in text
    assert summary(latency_measurement([], lost=3)) == "no message became visible (3 lost)"


def test_times_from_graphql_are_read_as_epoch_milliseconds() -> None:
    assert epoch_ms("2026-11-18T11:06:40.123000+00:00") == 1_795_000_000_123
    assert epoch_ms("2026-11-18T11:06:40.123+00:00") == 1_795_000_000_123
    assert epoch_ms("2026-11-18T11:06:40.123") == 1_795_000_000_123
    assert epoch_ms("2026-11-18T12:06:40.001+01:00") == 1_795_000_000_001


def device_view(*ats: str) -> dict[str, Any]:
    return {
        "__typename": "Device",
        "latest": [
            {"metric": "temperature", "value": 71.5, "boolean": None, "at": at} for at in ats
        ],
    }


def test_a_reading_is_visible_when_the_latest_values_carry_its_ts() -> None:
    ts = 1_795_000_000_123
    assert shows(device_view("2026-11-18T11:06:40.123000+00:00"), ts)
    assert not shows(device_view("2026-11-18T11:06:40.122000+00:00"), ts)
    assert not shows(device_view(), ts)
    assert not shows({"__typename": "NotFoundError", "message": "no such device"}, ts)
    assert not shows(None, ts)


def test_the_published_message_is_a_reading_of_every_metric() -> None:
    assert json.loads(telemetry_document(1_795_000_000_000)) == {
        "ts": 1_795_000_000_000,
        "values": dict(VALUES),
    }
    sample = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))["event"]
    sent = json.loads(base64.b64decode(sample["payload"]))
    assert set(json.loads(telemetry_document(1))["values"]) == set(sent["values"])


class FakeCloud:
    """A broker and a GraphQL API on a fake clock: a reading becomes visible `delay` seconds
    after its publish; every check takes `check` seconds."""

    def __init__(self, delays: list[float], check: float = 0.05) -> None:
        self.now = 100.0
        self.delays = delays
        self.check = check
        self.published: list[tuple[str, int, float]] = []  # topic, ts, when

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def wall_ms(self) -> int:
        return 1_795_000_000_000  # frozen: timestamps must still increase

    def publish(self, topic: str, payload: bytes) -> None:
        self.now += 0.001  # the acknowledgement
        self.published.append((topic, json.loads(payload)["ts"], self.now))

    def view(self) -> dict[str, Any]:
        self.now += self.check
        visible = [
            ts
            for number, (_topic, ts, at) in enumerate(self.published)
            if self.now >= at + self.delays[number]
        ]
        if not visible:
            return device_view()
        latest = max(visible)
        return {
            "__typename": "Device",
            "latest": [{"at": _iso(latest)}],
        }


def _iso(ts: int) -> str:
    seconds, millis = divmod(ts, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000).isoformat()


def run_fake(cloud: FakeCloud, messages: int, warmup: int) -> Any:
    publish: Callable[[str, bytes], None] = cloud.publish
    return measure(
        publish,
        cloud.view,
        "idnode/devices/d-1/telemetry",
        messages=messages,
        warmup=warmup,
        clock=cloud.clock,
        wall_ms=cloud.wall_ms,
        sleep=cloud.sleep,
    )


def test_each_message_is_timed_until_a_check_sees_it_and_warm_up_is_kept_apart() -> None:
    # Visible 0.03 s after the publish: the first check (0.05 s) already sees it. Visible
    # 0.06 s and a pause after it: the first check misses it, the second sees it.
    cloud = FakeCloud(delays=[5.0, 0.03, 0.06 + CHECK_PAUSE_SECONDS])
    timings = run_fake(cloud, messages=2, warmup=1)
    assert len(timings.warmup) == 1 and len(timings.samples) == 2
    assert timings.samples[0] == pytest.approx(1 + 50, abs=0.01)
    assert timings.samples[1] == pytest.approx(1 + 50 + 1000 * CHECK_PAUSE_SECONDS + 50, abs=0.01)
    assert timings.lost == 0
    assert [ts for _topic, ts, _at in cloud.published] == [
        1_795_000_000_000,
        1_795_000_000_001,
        1_795_000_000_002,
    ]
    assert timings.acks == pytest.approx([1.0, 1.0, 1.0])


def test_a_message_never_visible_is_lost_and_the_next_one_still_sent() -> None:
    cloud = FakeCloud(delays=[0.01, MESSAGE_TIMEOUT_SECONDS * 2, 0.01])
    timings = run_fake(cloud, messages=3, warmup=0)
    assert timings.lost == 1
    assert len(timings.samples) == 2
    assert len(cloud.published) == 3
    # The lost message was checked until its time was up, then given up.
    assert cloud.now - 100.0 >= MESSAGE_TIMEOUT_SECONDS


def test_a_local_cloud_that_cannot_be_brought_up_is_reported_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(command: list[str], **_options: Any) -> subprocess.CompletedProcess[bytes]:
        Path(command[3]).write_text(json.dumps({"unavailable": "ministack is missing"}))
        return subprocess.CompletedProcess(command, UNAVAILABLE_EXIT)

    monkeypatch.setattr(subprocess, "run", unavailable)
    with pytest.raises(LocalCloudUnavailable, match="ministack is missing"):
        measure_latency({}, 30, tmp_path)


def test_the_suite_names_the_latency_it_could_not_measure_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable(*_args: Any, **_options: Any) -> dict[str, Any]:
        raise LocalCloudUnavailable("port 4566 is taken by something else")

    monkeypatch.setattr(suite, "measure_latency", unavailable)
    failures: list[str] = []
    args = suite._parser().parse_args([])
    assert suite._measure_latency(args, failures) == []
    assert failures == [
        "publish-to-queryable latency: no local cloud: port 4566 is taken by something else"
    ]
    assert suite._parser().parse_args(["--no-local-cloud"]).no_local_cloud is True
