"""The benchmark's arithmetic and output, without running the benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.environment import measured_environment
from bench.imports import ImportDurations
from bench.report import (
    Entry,
    ImportTiming,
    PathCost,
    cost_entry,
    heaviest_modules,
    heaviest_packages,
    median,
    median_profile,
    missed,
    parse_importtime,
    path_ratio_entry,
    percentile,
    ratio,
    ratio_entry,
    render_import_profile,
    render_table,
    write_results,
)
from bench.suite import import_entries, request_entries

REQUIRED_KEYS = {"name", "value", "of", "target", "met"}

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:      3000 |       3000 |       botocore.compat
import time:      5000 |       8000 |     botocore.client
import time:       400 |       8400 |   botocore
import time:      9000 |       9000 |   aws_xray_sdk.core
import time:       100 |      17500 | idnode.observability
not a timing line
"""


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5
    assert median(x for x in (7,)) == 7.0


def test_median_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        median([])


def test_percentile_is_nearest_rank() -> None:
    samples = list(range(1, 11))
    assert percentile(samples, 0.9) == 9.0
    assert percentile(samples, 1.0) == 10.0
    assert percentile(samples, 0.01) == 1.0
    assert percentile(samples, 0.7) == 7.0
    with pytest.raises(ValueError):
        percentile(samples, 0)


def test_ratio_refuses_a_non_positive_denominator() -> None:
    assert ratio(3.0, 2.0) == 1.5
    with pytest.raises(ValueError):
        ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        ratio(1.0, -2.0)


@pytest.mark.parametrize(("numerator", "met"), [(140.0, True), (150.0, True), (151.0, False)])
def test_ratio_entry_is_met_up_to_its_target(numerator: float, met: bool) -> None:
    entry = ratio_entry("x_vs_y", numerator, 100.0, of="x over y", target=1.5)
    assert entry.value == pytest.approx(numerator / 100.0)
    assert entry.met is met
    assert missed([entry]) == ([] if met else [entry])


def test_cost_entry_has_no_target_and_no_verdict() -> None:
    entry = cost_entry("x_us", 1234.5, of="x per call", wall_us=1300.0)
    assert entry.target is None
    assert entry.met is None
    assert entry.to_json()["met"] is None
    assert missed([entry]) == []


def test_entry_json_keeps_required_fields_and_details() -> None:
    document = ratio_entry("a_vs_b", 300.0, 200.0, of="a over b", target=2.0, runs=5).to_json()
    assert document.keys() >= REQUIRED_KEYS
    assert document == {
        "name": "a_vs_b",
        "value": 1.5,
        "of": "a over b",
        "target": 2.0,
        "met": True,
        "numerator_us": 300.0,
        "denominator_us": 200.0,
        "runs": 5,
    }


def test_a_detail_may_not_hide_a_required_field() -> None:
    with pytest.raises(ValueError, match="target"):
        Entry("x", 1.0, "x", details={"target": 9}).to_json()


def test_path_cost_from_rounds_of_nanoseconds() -> None:
    cost = PathCost.of([[1000, 3000, 2000], [4000, 6000, 5000]])
    assert cost.median_us == 3.5
    assert cost.samples == 6
    assert cost.round_medians_us == (2.0, 5.0)
    assert cost.p90_us == 6.0


def test_path_ratio_entry_reports_the_spread_and_the_wall_view() -> None:
    handler = PathCost.of([[3000, 3000], [6000, 6000]])
    floor = PathCost.of([[2000, 2000], [5000, 5000]])
    entry = path_ratio_entry(
        "handler_vs_floor", handler, floor, of="h over f", target=1.5, wall=(handler, floor)
    )
    assert entry.value == pytest.approx(4.5 / 3.5)
    assert entry.details["round_ratio_min"] == 1.2
    assert entry.details["round_ratio_max"] == 1.5
    assert entry.details["wall_ratio"] == pytest.approx(4.5 / 3.5, abs=1e-4)
    assert entry.details["samples"] == 4


def test_write_results_is_a_json_list_of_entries(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(
        path,
        [
            ratio_entry("a_vs_b", 2.0, 1.0, of="a over b", target=1.2),
            cost_entry("a_us", 2.0, of="a"),
        ],
    )
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, list)
    assert [entry["name"] for entry in document] == ["a_vs_b", "a_us"]
    for entry in document:
        assert entry.keys() >= REQUIRED_KEYS
        assert isinstance(entry["value"], float)
        assert isinstance(entry["of"], str)
    assert document[0]["met"] is False
    assert document[0]["target"] == 1.2
    assert document[1]["target"] is None


def test_table_shows_every_entry_and_flags_misses() -> None:
    table = render_table(
        [
            ratio_entry("fast_vs_floor", 1.0, 1.0, of="fast over floor", target=1.5),
            ratio_entry("slow_vs_floor", 2.0, 1.0, of="slow over floor", target=1.5),
            cost_entry("floor_us", 1500.0, of="the floor", wall_us=1600.0),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "value", "wall", "target", "of"]
    assert "met" in lines[2] and "1.00x" in lines[2] and "<= 1.50x" in lines[2]
    assert "MISSED" in lines[3] and "2.00x" in lines[3]
    assert "1,500 us" in lines[4] and "1,600 us" in lines[4]
    assert lines[4].endswith("the floor")


def test_parse_importtime_reads_modules_and_nesting() -> None:
    timings = parse_importtime(IMPORTTIME)
    assert [t.module for t in timings] == [
        "_io",
        "botocore.compat",
        "botocore.client",
        "botocore",
        "aws_xray_sdk.core",
        "idnode.observability",
    ]
    assert timings[1] == ImportTiming("botocore.compat", 3000, 3000, 3)
    assert timings[-1].depth == 0
    assert timings[3].depth == 1


def test_heaviest_modules_and_packages() -> None:
    timings = parse_importtime(IMPORTTIME)
    assert heaviest_modules(timings, top=2) == [
        ("aws_xray_sdk.core", 9000),
        ("botocore.client", 5000),
    ]
    assert heaviest_packages(timings, top=3) == [
        ("aws_xray_sdk", 9000),
        ("botocore", 8400),
        ("_io", 120),
    ]


def test_median_profile_takes_per_module_medians() -> None:
    one = [ImportTiming("a", 10, 10, 0), ImportTiming("b", 100, 100, 0)]
    two = [ImportTiming("a", 30, 30, 0), ImportTiming("b", 300, 300, 0)]
    three = [ImportTiming("a", 20, 20, 0)]
    merged = {t.module: t for t in median_profile([one, two, three])}
    assert merged["a"].self_us == 20
    assert merged["b"].self_us == 200


def test_import_profile_text_names_the_heaviest() -> None:
    text = render_import_profile("import idnode.observability", parse_importtime(IMPORTTIME))
    assert text.startswith("import idnode.observability")
    assert "aws_xray_sdk.core" in text
    assert "17,500 us" in text


def test_request_entries_from_the_resolution_output() -> None:
    def rounds(us: int) -> list[list[int]]:
        return [[us * 1000] * 3, [us * 1000] * 3]

    document = {
        "cpu_ns": {
            "get_item": rounds(2000),
            "handles": rounds(2500),
            "graphql": rounds(5000),
            "digital_link": rounds(3500),
            "handle_protocol": rounds(2400),
        },
        "wall_ns": {
            "get_item": rounds(2200),
            "handles": rounds(2750),
            "graphql": rounds(6050),
            "digital_link": rounds(3300),
            "handle_protocol": rounds(2860),
        },
        "first_call_ns": {"graphql": 40_000_000},
    }
    entries = {entry.name: entry for entry in request_entries(document)}
    first = entries["resolve_handles_handler_vs_get_item"]
    assert first.value == pytest.approx(1.25)
    assert first.target == 1.5
    assert first.met is True
    assert first.details["wall_ratio"] == pytest.approx(1.25)
    second = entries["resolve_graphql_vs_handles_handler"]
    assert second.value == pytest.approx(2.0)
    assert second.details["wall_ratio"] == pytest.approx(2.2)
    assert entries["resolve_graphql_handler_us"].details["first_call_wall_us"] == 40_000.0
    third = entries["resolve_digital_link_vs_handles_handler"]
    assert (third.value, third.target, third.met) == (pytest.approx(1.4), 1.3, False)
    assert third.details["wall_ratio"] == pytest.approx(1.2)
    assert entries["resolve_digital_link_us"].value == pytest.approx(3500.0)
    assert entries["resolve_handles_handler_overhead_us"].value == pytest.approx(500.0)
    protocol = entries["resolve_handle_protocol_vs_rest"]
    assert (protocol.value, protocol.target, protocol.met) == (pytest.approx(0.96), 1.0, True)
    assert protocol.details["wall_ratio"] == pytest.approx(1.04)
    assert entries["resolve_handle_protocol_us"].value == pytest.approx(2400.0)
    for entry in entries.values():
        assert entry.to_json().keys() >= REQUIRED_KEYS


def test_import_entries_subtract_the_bare_interpreter() -> None:
    def runs(ms: int) -> list[int]:
        return [ms * 1_000_000, ms * 1_000_000 + 2_000_000, ms * 1_000_000 - 1_000_000]

    durations = ImportDurations(
        cpu_ns={"bare": runs(10), "boto3": runs(110), "handles": runs(130), "graphql": runs(260)},
        wall_ns={"bare": runs(12), "boto3": runs(112), "handles": runs(142), "graphql": runs(262)},
    )
    profiles = {"handles": parse_importtime(IMPORTTIME)}
    entries = {entry.name: entry for entry in import_entries(durations, profiles)}
    handles = entries["import_handles_handler_vs_boto3"]
    assert handles.value == pytest.approx(120 / 100)
    assert handles.met is True
    assert handles.details["wall_ratio"] == pytest.approx(1.3)
    assert handles.details["heaviest_modules_us"]["aws_xray_sdk.core"] == 9000
    graphql = entries["import_graphql_handler_vs_boto3"]
    assert graphql.value == pytest.approx(2.5)
    assert "heaviest_modules_us" not in graphql.details
    assert entries["import_boto3_us"].value == pytest.approx(100_000)
    assert entries["interpreter_start_us"].value == pytest.approx(10_000)


def test_measured_environment_is_a_function_s_and_reaches_no_real_account() -> None:
    base = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "production",
        "AWS_SESSION_TOKEN": "secret",
        "AWS_ENDPOINT_URL": "https://elsewhere.example",
        "AWS_ENDPOINT_URL_DYNAMODB": "https://elsewhere.example",
        "IDNODE_IDENTIFIERS_TABLE": "real-table",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    env = measured_environment(base, endpoint_url="http://127.0.0.1:9")
    assert env["PATH"] == "/usr/bin"
    assert "AWS_PROFILE" not in env
    assert "AWS_SESSION_TOKEN" not in env
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in env
    assert "POWERTOOLS_METRICS_DISABLED" not in env
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["IDNODE_IDENTIFIERS_TABLE"] == "bench-identifiers"
    assert env["IDNODE_NODE_PREFIX"] == "88.100"
    assert env["AWS_ACCESS_KEY_ID"] == "bench"
    assert "AWS_ENDPOINT_URL" not in measured_environment(base)
