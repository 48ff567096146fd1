"""Aggregating readings into time buckets for charts and queries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.errors import InvalidValueError
from idnode.domain.telemetry import MAX_BUCKETS, Bucket, aggregate, check_range

MINUTE = 60_000


def test_readings_fall_into_their_buckets_and_empty_buckets_are_kept() -> None:
    points = [(0, 10.0), (30_000, 20.0), (59_999, 30.0), (150_000, 5.0)]
    assert aggregate(points, start=0, end=3 * MINUTE, interval_ms=MINUTE) == [
        Bucket(0, 3, 10.0, 30.0, 20.0),
        Bucket(MINUTE, 0, None, None, None),
        Bucket(2 * MINUTE, 1, 5.0, 5.0, 5.0),
    ]


def test_points_outside_the_range_are_left_out() -> None:
    points = [(999, 1.0), (1_000, 2.0), (2_999, 3.0), (3_000, 4.0)]
    assert aggregate(points, start=1_000, end=3_000, interval_ms=1_000) == [
        Bucket(1_000, 1, 2.0, 2.0, 2.0),
        Bucket(2_000, 1, 3.0, 3.0, 3.0),
    ]


def test_the_last_bucket_may_reach_past_the_end() -> None:
    buckets = aggregate([(2_500, 7)], start=0, end=2_500 + 1, interval_ms=1_000)
    assert [b.start for b in buckets] == [0, 1_000, 2_000]
    assert buckets[-1] == Bucket(2_000, 1, 7.0, 7.0, 7.0)


def test_booleans_count_as_zero_and_one() -> None:
    points = [(0, True), (1, False), (2, True), (3, True)]
    assert aggregate(points, start=0, end=1_000, interval_ms=1_000) == [
        Bucket(0, 4, 0.0, 1.0, 0.75)
    ]


def test_no_points_gives_empty_buckets() -> None:
    assert aggregate([], start=0, end=2_000, interval_ms=1_000) == [
        Bucket(0, 0, None, None, None),
        Bucket(1_000, 0, None, None, None),
    ]


def test_the_most_buckets_allowed() -> None:
    assert len(aggregate([], start=0, end=MAX_BUCKETS * 1_000, interval_ms=1_000)) == MAX_BUCKETS


@pytest.mark.parametrize(
    ("start", "end", "interval", "message"),
    [
        (1_000, 1_000, 1_000, "from: 1000 must be before to (1000)"),
        (2_000, 1_000, 1_000, "from: 2000 must be before to"),
        (0, 10_000, 999, "interval: 999 ms, at least 1000 ms"),
        (0, 10_000, 0, "interval: 0 ms"),
        (0, MAX_BUCKETS * 1_000 + 1, 1_000, "interval: 1000 ms makes 1001 buckets"),
    ],
)
def test_unusable_ranges_are_refused(start: int, end: int, interval: int, message: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        check_range(start, end, interval)
    assert raised.value.message.startswith(message)
    with pytest.raises(InvalidValueError):
        aggregate([(start, 1.0)], start=start, end=end, interval_ms=interval)


values = st.one_of(
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    st.integers(-(10**9), 10**9),
    st.booleans(),
)


@st.composite
def queries(draw: st.DrawFn) -> tuple[list[tuple[int, float]], int, int, int]:
    interval = draw(st.integers(1_000, 120_000))
    start = draw(st.integers(0, 10**13))
    end = start + draw(st.integers(1, interval * 60))
    times = st.integers(start - 2 * interval, end + 2 * interval)
    points = draw(st.lists(st.tuples(times, values), max_size=80))
    return points, start, end, interval


@settings(max_examples=300)
@given(queries())
def test_buckets_account_for_every_point_in_range(
    query: tuple[list[tuple[int, float]], int, int, int],
) -> None:
    points, start, end, interval = query
    buckets = aggregate(points, start=start, end=end, interval_ms=interval)

    assert [b.start for b in buckets] == list(range(start, end, interval))
    in_range = [(at, float(v)) for at, v in points if start <= at < end]
    assert sum(b.count for b in buckets) == len(in_range)
    for bucket in buckets:
        mine = [v for at, v in in_range if bucket.start <= at < bucket.start + interval]
        assert bucket.count == len(mine)
        if not mine:
            assert (bucket.minimum, bucket.maximum, bucket.average) == (None, None, None)
            continue
        assert bucket.minimum == min(mine)
        assert bucket.maximum == max(mine)
        assert bucket.average is not None
        assert bucket.minimum <= bucket.average <= bucket.maximum


@settings(max_examples=100)
@given(value=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), n=st.integers(1, 50))
def test_the_average_of_equal_readings_is_the_reading(value: float, n: int) -> None:
    [bucket] = aggregate([(i, value) for i in range(n)], start=0, end=1_000, interval_ms=1_000)
    assert bucket.average == value
