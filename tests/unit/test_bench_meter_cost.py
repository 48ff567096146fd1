"""The metering figures of the benchmark, from a made-up measurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.meter_cost import METERED_VS_UNMETERED, metering_entries, paired_ratio
from bench.report import render_table, write_results

REQUIRED_KEYS = {"name", "value", "of", "target", "met"}


def measurement(metered_us: float, unmetered_us: float) -> dict[str, Any]:
    """Two rounds of three calls per path, a flush of 12 ms and a count of 900 ns."""

    def rounds(us: float) -> list[list[int]]:
        per_call = round(us * 1000)
        return [[per_call, per_call - 1000, per_call + 1000]] * 2

    return {
        "flush_seconds": 10.0,
        "resolutions_counted": 2_000,
        "cpu_ns": {"metered": rounds(metered_us), "unmetered": rounds(unmetered_us)},
        "wall_ns": {"metered": rounds(metered_us * 1.1), "unmetered": rounds(unmetered_us * 1.1)},
        "flush_cpu_ns": [11_000_000, 12_000_000, 13_000_000],
        "flush_wall_ns": [14_000_000, 15_000_000, 16_000_000],
        "count_cpu_ns": [850.0, 900.0, 1_200.0],
        "count_calls": 100_000,
    }


def test_the_ratio_of_metered_over_unmetered_resolution_has_its_target() -> None:
    ratio_entry, count, flush = metering_entries(measurement(4_040, 4_000))
    assert ratio_entry.name == "resolve_metered_vs_unmetered"
    assert ratio_entry.target == METERED_VS_UNMETERED
    assert ratio_entry.value == pytest.approx(1.01)
    assert ratio_entry.met is True
    details = ratio_entry.details
    assert (details["numerator_us"], details["denominator_us"]) == (4040.0, 4000.0)
    assert details["wall_ratio"] == pytest.approx(1.01, abs=1e-3)
    assert details["samples"] == 6
    assert details["resolutions_counted"] == 2_000
    assert details["flush_interval_s"] == 10.0
    # 10 s of calls taking 4,444 us (wall) each: 2,250 calls share a 12 ms flush.
    assert details["busy_calls_per_flush"] == 2250
    assert details["ratio_with_flush_when_busy"] == pytest.approx(
        (4040 + 12_000 / 2250) / 4000, abs=1e-4
    )
    assert count.name == "meter_count_us"
    assert count.value == pytest.approx(0.9)
    assert count.target is None and count.met is None
    assert count.details["difference_of_medians_us"] == 40.0
    assert "100,000 calls" in count.of
    assert flush.name == "meter_flush_us"
    assert flush.value == pytest.approx(12_000)
    assert flush.details == {"wall_us": 15_000.0, "samples": 3}


def test_a_meter_that_costs_more_than_five_percent_misses_the_target() -> None:
    ratio_entry = metering_entries(measurement(4_300, 4_000))[0]
    assert ratio_entry.value == pytest.approx(1.075)
    assert ratio_entry.met is False


def test_the_paired_ratio_compares_calls_made_moments_apart() -> None:
    # A load spike in the middle of a round hits both paths' calls alike.
    metered = [[100, 1_000, 100], [100, 100, 110]]
    unmetered = [[100, 1_000, 100], [100, 100, 100]]
    assert paired_ratio(metered, unmetered) == pytest.approx(1.0)
    assert paired_ratio([[3, 6]], [[2, 4]]) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        paired_ratio([[1, 2]], [[1]])


def test_the_metering_rows_go_into_the_table_and_the_results_file(tmp_path: Path) -> None:
    entries = metering_entries(measurement(4_040, 4_000))
    table = render_table(entries)
    assert "resolve_metered_vs_unmetered" in table
    assert "<= 1.05x" in table
    output = tmp_path / "results.json"
    write_results(output, entries)
    rows = json.loads(output.read_text())
    assert [row["name"] for row in rows] == [
        "resolve_metered_vs_unmetered",
        "meter_count_us",
        "meter_flush_us",
    ]
    assert all(set(row) >= REQUIRED_KEYS for row in rows)
    assert rows[0]["paired_ratio_median"] == pytest.approx(1.01, abs=1e-3)
