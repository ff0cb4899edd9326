"""surveil.coverage: recorded coverage and explained gaps of a window, without a database."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from index.records import GapRecord, SegmentRecord
from surveil.coverage import (
    NOTHING_RECORDED,
    SEGMENT_DAMAGED,
    SEGMENT_MISSING,
    Coverage,
    CoverageGap,
    compute_coverage,
)

S = 1_000_000  # one second in microseconds
T0 = 1_780_000_000 * S  # an arbitrary epoch-microsecond origin
_ids = itertools.count(1)


def seg(start_s: float, end_s: float, state: str = "sealed", camera_id: int = 1) -> SegmentRecord:
    start_us, end_us = T0 + int(start_s * S), T0 + int(end_s * S)
    n = next(_ids)
    return SegmentRecord(
        id=n,
        camera="cam1",
        camera_id=camera_id,
        run_id=1,
        sequence=n,
        path=f"cam1/{n}.mp4",
        start_us=start_us,
        end_us=end_us,
        duration_us=end_us - start_us,
        bytes=1000,
        sha256=None if state == "open" else "0" * 64,
        state=state,
        video_codec="h264",
        audio_codec=None,
        fragments=1,
        clock_sync="synced",
        camera_clock_offset_us=None,
        created_us=start_us,
        sealed_us=None if state == "open" else end_us,
    )


def gap(start_s: float, end_s: float | None, reason: str, camera_id: int = 1) -> GapRecord:
    return GapRecord(
        id=next(_ids),
        camera_id=camera_id,
        start_us=T0 + int(start_s * S),
        end_us=None if end_s is None else T0 + int(end_s * S),
        reason=reason,
    )


def cov(
    start_s: float,
    end_s: float,
    segments: list[SegmentRecord],
    gaps: list[GapRecord] | None = None,
    **kw: int,
) -> Coverage:
    return compute_coverage(T0 + int(start_s * S), T0 + int(end_s * S), segments, gaps or [], **kw)


def g(start_s: float, end_s: float, reason: str) -> CoverageGap:
    return CoverageGap(T0 + int(start_s * S), T0 + int(end_s * S), reason)


def check_invariants(c: Coverage) -> None:
    assert c.recorded_us + sum(x.duration_us for x in c.gaps) == c.window_us
    for x in c.gaps:
        assert c.window_start_us <= x.start_us < x.end_us <= c.window_end_us
    for a, b in itertools.pairwise(c.gaps):
        assert a.end_us <= b.start_us
        # Adjacent gaps always differ in reason (otherwise they would have been one gap).
        assert a.end_us < b.start_us or a.reason != b.reason
    assert [s.start_us for s in c.segments] == sorted(s.start_us for s in c.segments)
    assert 0.0 <= c.coverage_pct <= 100.0
    assert (c.coverage_pct == 100.0) == (c.recorded_us == c.window_us)
    assert (c.coverage_pct == 0.0) == (c.recorded_us == 0)


def test_full_coverage_across_segment_boundaries() -> None:
    segments = [seg(0, 10), seg(10, 20), seg(20, 30)]
    c = cov(5, 25, segments)
    check_invariants(c)
    assert c.recorded_us == 20 * S
    assert c.coverage_pct == 100.0
    assert c.gaps == ()
    assert c.segments == tuple(segments)
    assert (c.clip_start_us, c.clip_end_us) == (T0 + 5 * S, T0 + 25 * S)


def test_camera_killed_mid_window_reports_the_gap_reason() -> None:
    # Run ends at 40 s (camera dropped), a new run starts at 70 s.
    segments = [seg(0, 20), seg(20, 40), seg(70, 90), seg(90, 110)]
    gaps = [gap(40, 70, "camera offline: rtsp read timeout")]
    c = cov(10, 100, segments, gaps)
    check_invariants(c)
    assert c.gaps == (g(40, 70, "camera offline: rtsp read timeout"),)
    assert c.recorded_us == 60 * S
    assert c.coverage_pct == 66.67
    assert (c.clip_start_us, c.clip_end_us) == (T0 + 10 * S, T0 + 100 * S)


def test_recorder_down_gap_keeps_its_reason() -> None:
    c = cov(0, 30, [seg(0, 10), seg(20, 30)], [gap(10, 20, "recorder down")])
    assert c.gaps == (g(10, 20, "recorder down"),)
    assert c.coverage_pct == 66.67


def test_hole_without_a_gap_record_is_nothing_recorded() -> None:
    c = cov(0, 30, [seg(0, 10), seg(20, 30)])
    check_invariants(c)
    assert c.gaps == (g(10, 20, NOTHING_RECORDED),)


def test_hole_partly_explained_is_split() -> None:
    # The gap record only starts at 15 s; 10..15 is unexplained.
    c = cov(0, 30, [seg(0, 10), seg(25, 30)], [gap(15, 20, "recorder stopped")])
    check_invariants(c)
    assert c.gaps == (
        g(10, 15, NOTHING_RECORDED),
        g(15, 20, "recorder stopped"),
        g(20, 25, NOTHING_RECORDED),
    )


def test_unexplained_sliver_next_to_a_gap_record_is_attributed_to_it() -> None:
    # The run's end was written 30 ms after the last segment ended: rounding, not a second hole.
    c = cov(0, 30, [seg(0, 10), seg(20, 30)], [gap(10.03, 20, "camera offline: eof")])
    check_invariants(c)
    assert c.gaps == (g(10, 20, "camera offline: eof"),)


def test_open_gap_runs_to_the_end_of_the_window() -> None:
    # Open receipt: the window ends now, the camera has been offline since 50 s.
    c = cov(0, 80, [seg(0, 25), seg(25, 50)], [gap(50, None, "camera offline: connection refused")])
    check_invariants(c)
    assert c.gaps == (g(50, 80, "camera offline: connection refused"),)
    assert c.coverage_pct == 62.5
    assert c.clip_end_us == T0 + 50 * S


def test_open_segment_counts_as_recorded() -> None:
    c = cov(0, 30, [seg(0, 20), seg(20, 30, state="open")])
    assert c.coverage_pct == 100.0
    assert c.segments[-1].state == "open"


def test_missing_segment_is_not_recorded_and_is_named() -> None:
    missing = seg(10, 20, state="missing")
    c = cov(0, 30, [seg(0, 10), missing, seg(20, 30, state="recovered")])
    check_invariants(c)
    assert c.gaps == (g(10, 20, SEGMENT_MISSING),)
    assert c.recorded_us == 20 * S
    assert missing in c.segments


def test_missing_segment_outranks_a_gap_record() -> None:
    c = cov(
        0,
        30,
        [seg(0, 10), seg(12, 20, state="missing"), seg(20, 30)],
        [gap(10, 20, "recorder down")],
    )
    check_invariants(c)
    assert c.gaps == (g(10, 12, "recorder down"), g(12, 20, SEGMENT_MISSING))


def test_damaged_segment_is_not_recorded_and_is_named() -> None:
    """A file that no longer has its recorded size or hash is not played: a gap, with why."""
    damaged = seg(10, 20, state="damaged")
    c = cov(0, 40, [seg(0, 10), damaged, seg(20, 30, state="missing"), seg(30, 40)])
    check_invariants(c)
    assert c.gaps == (g(10, 20, SEGMENT_DAMAGED), g(20, 30, SEGMENT_MISSING))
    assert c.recorded_us == 20 * S and c.coverage_pct == 50.0
    assert damaged in c.segments


def test_damaged_segment_outranks_a_gap_record() -> None:
    c = cov(0, 30, [seg(0, 10), seg(12, 20, state="damaged")], [gap(10, 30, "recorder down")])
    check_invariants(c)
    assert c.gaps == (
        g(10, 12, "recorder down"),
        g(12, 20, SEGMENT_DAMAGED),
        g(20, 30, "recorder down"),
    )


def test_overlapping_segments_are_merged_in_any_order() -> None:
    segments = [seg(15, 30), seg(0, 20), seg(5, 10), seg(40, 50)]
    c = cov(0, 50, segments)
    check_invariants(c)
    assert c.recorded_us == 40 * S
    assert c.gaps == (g(30, 40, NOTHING_RECORDED),)
    assert [s.start_us for s in c.segments] == [T0, T0 + 5 * S, T0 + 15 * S, T0 + 40 * S]


def test_tiny_rounding_holes_between_segments_are_not_gaps() -> None:
    c = cov(0, 30, [seg(0, 10), seg(10.04, 20), seg(20.099, 30)])
    check_invariants(c)
    assert c.gaps == ()
    assert c.coverage_pct == 100.0
    # With a stricter tolerance the same holes are reported.
    strict = cov(0, 30, [seg(0, 10), seg(10.04, 20), seg(20.099, 30)], tolerance_us=0)
    check_invariants(strict)
    assert [x.duration_us for x in strict.gaps] == [40_000, 99_000]
    assert strict.coverage_pct == 99.54


def test_hole_at_the_tolerance_is_a_gap() -> None:
    c = cov(0, 30, [seg(0, 10), seg(10.1, 30)])
    assert c.gaps == (g(10, 10.1, NOTHING_RECORDED),)


def test_holes_at_the_window_edges_are_reported_even_if_tiny() -> None:
    c = cov(0, 30, [seg(0.05, 29.95)])
    check_invariants(c)
    assert c.gaps == (g(0, 0.05, NOTHING_RECORDED), g(29.95, 30, NOTHING_RECORDED))
    assert c.coverage_pct == 99.67


def test_window_entirely_before_the_first_segment() -> None:
    c = cov(0, 60, [seg(100, 110)])
    check_invariants(c)
    assert c.gaps == (g(0, 60, NOTHING_RECORDED),)
    assert c.segments == ()
    assert c.recorded_us == 0
    assert c.coverage_pct == 0.0
    assert (c.clip_start_us, c.clip_end_us) == (None, None)


def test_empty_inputs() -> None:
    c = cov(0, 10, [], [])
    check_invariants(c)
    assert c.gaps == (g(0, 10, NOTHING_RECORDED),)
    assert c.coverage_pct == 0.0


def test_segments_touching_the_window_edge_are_not_included() -> None:
    c = cov(10, 20, [seg(0, 10), seg(10, 20), seg(20, 30)])
    assert [s.start_us for s in c.segments] == [T0 + 10 * S]


def test_zero_length_open_segment_does_not_bridge_a_hole() -> None:
    c = cov(0, 30, [seg(0, 10), seg(10.06, 10.06, state="open"), seg(10.12, 30)])
    check_invariants(c)
    assert c.gaps == (g(10, 10.12, NOTHING_RECORDED),)


def test_percentage_never_rounds_to_a_false_full_or_empty() -> None:
    window_us = 1_000_000 * S
    full_but_one = compute_coverage(0, window_us, [_raw(0, window_us - 1)], [], tolerance_us=0)
    assert full_but_one.coverage_pct == 99.99
    one = compute_coverage(0, window_us, [_raw(0, 1)], [], tolerance_us=0)
    assert one.coverage_pct == 0.01


def _raw(start_us: int, end_us: int) -> SegmentRecord:
    return replace(seg(0, 1), start_us=start_us, end_us=end_us, duration_us=end_us - start_us)


def test_invalid_window_raises() -> None:
    with pytest.raises(ValueError, match="must be after its start"):
        compute_coverage(T0, T0, [], [])
    with pytest.raises(ValueError, match="must be after its start"):
        compute_coverage(T0 + 1, T0, [], [])
    with pytest.raises(ValueError, match="tolerance"):
        compute_coverage(T0, T0 + 1, [], [], tolerance_us=-1)


def test_mixed_cameras_raise() -> None:
    with pytest.raises(ValueError, match="one camera"):
        cov(0, 10, [seg(0, 5)], [gap(5, 10, "x", camera_id=2)])


def test_random_segment_sets_keep_the_invariants() -> None:
    rng = random.Random(20261126)
    reasons = ["recorder down", "camera offline: eof", "recorder stopped"]
    states = ["sealed", "sealed", "sealed", "recovered", "open", "missing"]
    for _ in range(2000):
        segments = []
        for _ in range(rng.randint(0, 12)):
            start_s = rng.uniform(-20, 120)
            segments.append(seg(start_s, start_s + rng.uniform(0, 20), rng.choice(states)))
        gaps = []
        for _ in range(rng.randint(0, 4)):
            start_s = rng.uniform(-20, 120)
            end_s = None if rng.random() < 0.2 else start_s + rng.uniform(0, 30)
            gaps.append(gap(start_s, end_s, rng.choice(reasons)))
        start = rng.uniform(-10, 90)
        end = start + rng.uniform(0.001, 60)
        tolerance_us = rng.choice([0, 100_000, 2 * S])
        c = cov(start, end, segments, gaps, tolerance_us=tolerance_us)
        check_invariants(c)
        # A reported gap never overlaps footage that counts as recorded.
        recorded = [
            (s.start_us, s.end_us)
            for s in segments
            if s.state != "missing" and s.end_us > s.start_us
        ]
        for x in c.gaps:
            assert not any(a < x.end_us and b > x.start_us for a, b in recorded)
        # Every segment overlapping the window is returned, and no other.
        expected = {
            s.id for s in segments if s.start_us < c.window_end_us and s.end_us > c.window_start_us
        }
        assert {s.id for s in c.segments} == expected
        # With zero tolerance, recorded_us is exactly the union of recorded segments in the window.
        if tolerance_us == 0:
            points = sorted(
                {c.window_start_us, c.window_end_us}
                | {
                    t
                    for a, b in recorded
                    for t in (a, b)
                    if c.window_start_us < t < c.window_end_us
                }
            )
            union = sum(
                b - a
                for a, b in itertools.pairwise(points)
                if any(sa <= a and sb >= b for sa, sb in recorded)
            )
            assert c.recorded_us == union
