"""The latency histogram: buckets in order, percentiles within one bucket's width."""

from __future__ import annotations

import datetime as dt
import random

from domain.cutover import (
    LATENCY_BOUNDS_MS,
    SideMetrics,
    empty_histogram,
    latency_bucket,
    percentile_ms,
)


def test_each_latency_falls_in_the_first_bucket_that_holds_it() -> None:
    assert latency_bucket(0.0) == 0
    assert latency_bucket(LATENCY_BOUNDS_MS[0]) == 0
    assert latency_bucket(LATENCY_BOUNDS_MS[0] + 0.001) == 1
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        assert latency_bucket(bound) == index
    assert latency_bucket(10**9) == len(LATENCY_BOUNDS_MS)  # slower than every bound


def test_percentiles_are_within_a_bucket_of_the_exact_value() -> None:
    chooser = random.Random(7)
    latencies = [chooser.lognormvariate(3, 1) for _ in range(10_000)]
    histogram = empty_histogram()
    for latency in latencies:
        histogram[latency_bucket(latency)] += 1
    ordered = sorted(latencies)
    for fraction in (0.5, 0.95, 0.99):
        exact = ordered[int(fraction * len(ordered)) - 1]
        estimate = percentile_ms(histogram, fraction)
        assert estimate is not None
        assert exact <= estimate <= exact * 1.25 + 0.001


def test_no_requests_no_percentile_and_sides_add_up() -> None:
    assert percentile_ms(empty_histogram(), 0.95) is None
    one = SideMetrics(requests=2, errors=1, latency_histogram=[1] + [0] * len(LATENCY_BOUNDS_MS))
    both = one.add(one)
    assert (both.requests, both.errors, both.latency_histogram[0]) == (4, 2, 2)
    assert both.error_rate == 0.5


def test_the_change_stream_lag_a_catch_up_shows() -> None:
    from domain.migration import CatchUpResult, StreamLag

    at = dt.datetime(2026, 12, 3, 15, 30, 21, tzinfo=dt.UTC)
    by_updated_at = CatchUpResult(rows=5, by_updated_at=True)
    assert StreamLag.of(by_updated_at, at) is None
    streamed = CatchUpResult(rows=12, by_updated_at=False, by_stream=True,
                             position="binlog.000042:1234", seconds_behind=1.3)  # fmt: skip
    lag = StreamLag.of(streamed, at)
    assert lag is not None
    assert lag.line() == "12 changes applied, 1.3 s behind, at binlog.000042:1234 (15:30:21 UTC)"
