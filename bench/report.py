"""The benchmark's figures: medians, ratios, the result entries, the table and the JSON file.

Nothing here measures anything, so all of it is unit-tested without running the benchmark.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NANOSECONDS_PER_MICROSECOND = 1_000


def median(samples: Iterable[float]) -> float:
    """The median of the samples; raise ValueError when there are none."""
    values = list(samples)
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def percentile(samples: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in (0, 1]) of the samples."""
    values = sorted(samples)
    if not values:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    # Rounded first so that float error (0.7 * 10 = 7.000000000000001) does not add a rank.
    rank = max(1, math.ceil(round(len(values) * fraction, 9)))
    return float(values[rank - 1])


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; a non-positive denominator is a broken measurement."""
    if denominator <= 0:
        raise ValueError(f"cannot take a ratio to {denominator!r}")
    return numerator / denominator


@dataclass(frozen=True)
class Entry:
    """One row of the results: a ratio with its target, or an informational figure."""

    name: str
    value: float
    of: str
    target: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """Whether the value is within its target; None for figures without one."""
        return None if self.target is None else self.value <= self.target

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "value": round(self.value, 4),
            "of": self.of,
            "target": self.target,
            "met": self.met,
        }
        for key, extra in self.details.items():
            if key in document:
                raise ValueError(f"detail {key!r} would hide a required field")
            document[key] = extra
        return document


def ratio_entry(
    name: str,
    numerator_us: float,
    denominator_us: float,
    *,
    of: str,
    target: float,
    **details: Any,
) -> Entry:
    """A ratio of two costs in microseconds, keeping both costs beside it."""
    return Entry(
        name=name,
        value=ratio(numerator_us, denominator_us),
        of=of,
        target=target,
        details={
            "numerator_us": round(numerator_us, 1),
            "denominator_us": round(denominator_us, 1),
            **details,
        },
    )


def cost_entry(name: str, microseconds: float, *, of: str, **details: Any) -> Entry:
    """An absolute cost in microseconds, for information (no target)."""
    return Entry(name=name, value=microseconds, of=of, details=details)


def to_microseconds(nanoseconds: Iterable[int]) -> list[float]:
    return [ns / NANOSECONDS_PER_MICROSECOND for ns in nanoseconds]


@dataclass(frozen=True)
class PathCost:
    """Per-call costs of one request path, measured in rounds."""

    median_us: float
    p90_us: float
    samples: int
    round_medians_us: tuple[float, ...]

    @classmethod
    def of(cls, rounds: Sequence[Sequence[int]]) -> PathCost:
        """From per-round lists of per-call durations in nanoseconds."""
        every = [us for batch in rounds for us in to_microseconds(batch)]
        return cls(
            median_us=median(every),
            p90_us=percentile(every, 0.9),
            samples=len(every),
            round_medians_us=tuple(median(to_microseconds(batch)) for batch in rounds if batch),
        )

    def round_ratios(self, other: PathCost) -> list[float]:
        """This path's cost over the other's, round by round: the spread of the ratio."""
        return [
            round(ratio(mine, theirs), 3)
            for mine, theirs in zip(self.round_medians_us, other.round_medians_us, strict=True)
        ]


def path_ratio_entry(
    name: str,
    path: PathCost,
    baseline: PathCost,
    *,
    of: str,
    target: float,
    wall: tuple[PathCost, PathCost] | None = None,
) -> Entry:
    """A ratio of two request paths' median per-call costs, with the per-round spread and,
    when given, the same ratio in wall time."""
    rounds = path.round_ratios(baseline)
    details: dict[str, Any] = {
        "samples": min(path.samples, baseline.samples),
        "round_ratio_min": min(rounds),
        "round_ratio_max": max(rounds),
    }
    if wall is not None:
        details.update(wall_details(wall[0].median_us, wall[1].median_us))
    return ratio_entry(name, path.median_us, baseline.median_us, of=of, target=target, **details)


def wall_details(numerator_us: float, denominator_us: float) -> dict[str, float]:
    """The wall-time view of a ratio, kept beside the CPU-time value."""
    return {
        "wall_numerator_us": round(numerator_us, 1),
        "wall_denominator_us": round(denominator_us, 1),
        "wall_ratio": round(ratio(numerator_us, denominator_us), 4),
    }


# Import profiles (`python -X importtime`)

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


@dataclass(frozen=True)
class ImportTiming:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


def parse_importtime(text: str) -> list[ImportTiming]:
    """The modules in `-X importtime` output, in the order reported (innermost first)."""
    timings = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            # The interpreter indents each nesting level by two spaces after one separator.
            depth = max(0, (len(indent) - 1) // 2)
            timings.append(ImportTiming(module, int(self_us), int(cumulative_us), depth))
    return timings


def heaviest_modules(timings: Iterable[ImportTiming], top: int = 5) -> list[tuple[str, int]]:
    """The modules whose own bodies took longest to import."""
    ranked = sorted(timings, key=lambda t: (-t.self_us, t.module))
    return [(t.module, t.self_us) for t in ranked[:top]]


def heaviest_packages(timings: Iterable[ImportTiming], top: int = 5) -> list[tuple[str, int]]:
    """Top-level packages ranked by the summed import time of all their modules."""
    totals: dict[str, int] = defaultdict(int)
    for timing in timings:
        totals[timing.module.split(".", 1)[0]] += timing.self_us
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:top]


def median_profile(profiles: Sequence[Sequence[ImportTiming]]) -> list[ImportTiming]:
    """Per-module medians over several import profiles of the same statement."""
    by_module: dict[str, list[ImportTiming]] = defaultdict(list)
    for profile in profiles:
        for timing in profile:
            by_module[timing.module].append(timing)
    return [
        ImportTiming(
            module,
            round(median(t.self_us for t in seen)),
            round(median(t.cumulative_us for t in seen)),
            seen[0].depth,
        )
        for module, seen in by_module.items()
    ]


# Output


def format_value(entry: Entry) -> str:
    if entry.target is None:
        unit = entry.details.get("unit")
        # Millisecond figures are converted to microseconds for the table (in_table_units).
        return f"{entry.value:,.0f} {unit if unit not in (None, 'ms') else 'us'}"
    return f"{entry.value:.2f}x"


def format_wall(entry: Entry) -> str:
    """The wall-time view of the entry, when it has one."""
    if "wall_ratio" in entry.details:
        return f"{entry.details['wall_ratio']:.2f}x"
    if "wall_us" in entry.details:
        return f"{entry.details['wall_us']:,.0f} us"
    return ""


def verdict(entry: Entry) -> str:
    if entry.met is None:
        return ""
    return "met" if entry.met else "MISSED"


def render_table(entries: Sequence[Entry]) -> str:
    """A plain-text table: name, value (CPU time), wall time, target, verdict, and what the
    value is of."""
    header = ("figure", "value", "wall", "target", "", "of")
    rows = [
        (
            entry.name,
            format_value(entry),
            format_wall(entry),
            "" if entry.target is None else f"<= {entry.target:.2f}x",
            verdict(entry),
            entry.of,
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    right_aligned = {1, 2, 3}

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        return "  ".join([*cells, row[-1]]).rstrip()

    rule = "  ".join("-" * width for width in widths) + "  " + "-" * len(header[-1])
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def missed(entries: Iterable[Entry]) -> list[Entry]:
    return [entry for entry in entries if entry.met is False]


def results_document(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [entry.to_json() for entry in entries]


def write_results(path: Path, entries: Iterable[Entry]) -> None:
    """Write the entries as the JSON list described in bench/README.md."""
    path.write_text(json.dumps(results_document(entries), indent=2) + "\n", encoding="utf-8")


def render_import_profile(statement: str, timings: Sequence[ImportTiming], top: int = 5) -> str:
    """The heaviest packages and modules of one import, as text."""
    total = sum(t.cumulative_us for t in timings if t.depth == 0)
    lines = [f"{statement}  ({total:,} us under -X importtime, which inflates it)"]
    lines.append(f"  heaviest packages (summed own time of their modules), top {top}:")
    lines += [f"    {us:>9,} us  {name}" for name, us in heaviest_packages(timings, top)]
    lines.append(f"  heaviest modules (own time), top {top}:")
    lines += [f"    {us:>9,} us  {name}" for name, us in heaviest_modules(timings, top)]
    return "\n".join(lines)
