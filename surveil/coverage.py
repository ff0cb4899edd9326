"""How much of a time window a camera recorded, and why the rest is missing.

Pure: no I/O, no SQL. The caller fetches the camera's segments and gap records
overlapping the window (index.segments.segments_overlapping,
index.runs.gaps_overlapping) and passes them in; for an open receipt it passes
the current time as window_end_us.

Rules:
- Segments in any state but 'missing', 'damaged', 'garbage' and 'deleted' count as
  recorded (damaged footage is not played; deleted footage went under a retention
  policy); overlapping and adjacent ones are merged.
  A hole shorter than tolerance_us *between* two recorded stretches is
  frame-boundary rounding, counts as recorded and is not reported. Holes at
  the window's edges are always reported: nothing on the other side vouches
  for them.
- Every hole is split by what explains it, in this order of precedence:
  'segment missing', 'segment damaged' or 'deleted under retention' (a segment in that
  state covered it:
  footage existed and is gone or no longer intact, which matters more than any
  other reason; where both overlap, the earlier-starting one), then the reason of
  the gap record covering it (verbatim, e.g. 'recorder down'; when gap records
  overlap, the earliest-starting one), then 'nothing recorded'.
  An unexplained sliver shorter than tolerance_us next to an explained part is
  attributed to that part, for the same rounding reason.
- recorded_us + the sum of gap durations == the window length, always.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from index.records import GapRecord, SegmentRecord

DEFAULT_TOLERANCE_US: Final = 100_000
NOTHING_RECORDED: Final = "nothing recorded"
SEGMENT_MISSING: Final = "segment missing"
SEGMENT_DAMAGED: Final = "segment damaged"
SEGMENT_DELETED: Final = "deleted under retention"
# Segments whose footage existed but cannot be played, and the gap reason each gives.
_LOST: Final = {
    "missing": SEGMENT_MISSING,
    "damaged": SEGMENT_DAMAGED,
    "garbage": SEGMENT_DELETED,
    "deleted": SEGMENT_DELETED,
}


@dataclass(frozen=True)
class CoverageGap:
    """A stretch of the window with no footage, and why."""

    start_us: int
    end_us: int
    reason: str

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us


@dataclass(frozen=True)
class Coverage:
    """Recorded coverage of [window_start_us, window_end_us) for one camera.

    clip_start_us/clip_end_us bound the recorded footage inside the window
    (None when nothing was recorded); segments are those overlapping the
    window in any state, ordered by start_us.
    """

    window_start_us: int
    window_end_us: int
    recorded_us: int
    coverage_pct: float
    gaps: tuple[CoverageGap, ...]
    segments: tuple[SegmentRecord, ...]
    clip_start_us: int | None
    clip_end_us: int | None

    @property
    def window_us(self) -> int:
        return self.window_end_us - self.window_start_us


# (start_us, end_us, rank, reason): lower rank wins where explanations overlap.
_Explanation = tuple[int, int, tuple[int, int, int], str]


def compute_coverage(
    window_start_us: int,
    window_end_us: int,
    segments: Iterable[SegmentRecord],
    gaps: Iterable[GapRecord],
    *,
    tolerance_us: int = DEFAULT_TOLERANCE_US,
) -> Coverage:
    """Merge segments, find the holes in the window and explain each one."""
    if window_end_us <= window_start_us:
        raise ValueError(
            f"window end ({window_end_us} us) must be after its start ({window_start_us} us)"
        )
    if tolerance_us < 0:
        raise ValueError(f"tolerance_us must not be negative, got {tolerance_us}")
    segs = sorted(
        (s for s in segments if s.start_us < window_end_us and s.end_us > window_start_us),
        key=lambda s: (s.start_us, s.end_us, s.id),
    )
    gap_list = list(gaps)
    camera_ids = {s.camera_id for s in segs} | {g.camera_id for g in gap_list}
    if len(camera_ids) > 1:
        raise ValueError(f"segments and gaps must be for one camera, got ids {sorted(camera_ids)}")

    recorded = _merge(
        [
            (max(s.start_us, window_start_us), min(s.end_us, window_end_us))
            for s in segs
            if s.state not in _LOST
        ],
        tolerance_us,
    )
    recorded_us = sum(end - start for start, end in recorded)

    explanations = _explanations(segs, gap_list, window_end_us)
    holes: list[CoverageGap] = []
    cursor = window_start_us
    for start, end in [*recorded, (window_end_us, window_end_us)]:
        if start > cursor:
            holes.extend(_explain(cursor, start, explanations, tolerance_us))
        cursor = max(cursor, end)

    return Coverage(
        window_start_us=window_start_us,
        window_end_us=window_end_us,
        recorded_us=recorded_us,
        coverage_pct=_percent(recorded_us, window_end_us - window_start_us),
        gaps=tuple(holes),
        segments=tuple(segs),
        clip_start_us=recorded[0][0] if recorded else None,
        clip_end_us=recorded[-1][1] if recorded else None,
    )


def _merge(intervals: list[tuple[int, int]], tolerance_us: int) -> list[tuple[int, int]]:
    """Merge overlapping intervals and those closer than tolerance_us; drop empty ones."""
    # Empty intervals are skipped so a zero-length open segment cannot bridge a real hole.
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start - merged[-1][1] < tolerance_us:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _explanations(
    segs: list[SegmentRecord], gaps: list[GapRecord], window_end_us: int
) -> list[_Explanation]:
    out: list[_Explanation] = [
        (s.start_us, s.end_us, (0, s.start_us, s.id), _LOST[s.state])
        for s in segs
        if s.state in _LOST
    ]
    for g in gaps:
        # An ongoing gap lasts at least to the end of the window.
        end_us = window_end_us if g.end_us is None else g.end_us
        out.append((g.start_us, end_us, (1, g.start_us, g.id), g.reason))
    return [e for e in out if e[1] > e[0]]


def _explain(
    start_us: int, end_us: int, explanations: list[_Explanation], tolerance_us: int
) -> list[CoverageGap]:
    """Split the hole [start_us, end_us) into pieces by the reason that covers each."""
    relevant = [e for e in explanations if e[0] < end_us and e[1] > start_us]
    cuts = sorted(
        {start_us, end_us} | {t for e in relevant for t in (e[0], e[1]) if start_us < t < end_us}
    )
    pieces: list[CoverageGap] = []
    for a, b in itertools.pairwise(cuts):
        covering = [e for e in relevant if e[0] <= a and e[1] >= b]
        reason = min(covering, key=lambda e: e[2])[3] if covering else NOTHING_RECORDED
        if pieces and pieces[-1].reason == reason:
            pieces[-1] = CoverageGap(pieces[-1].start_us, b, reason)
        else:
            pieces.append(CoverageGap(a, b, reason))
    return _absorb_slivers(pieces, tolerance_us)


def _absorb_slivers(pieces: list[CoverageGap], tolerance_us: int) -> list[CoverageGap]:
    """Give unexplained slivers shorter than tolerance_us to an explained neighbour."""
    out: list[CoverageGap] = []
    i = 0
    while i < len(pieces):
        p = pieces[i]
        if p.reason == NOTHING_RECORDED and p.duration_us < tolerance_us:
            if out and out[-1].reason != NOTHING_RECORDED:
                out[-1] = CoverageGap(out[-1].start_us, p.end_us, out[-1].reason)
                i += 1
                continue
            if i + 1 < len(pieces):
                nxt = pieces[i + 1]
                out.append(CoverageGap(p.start_us, nxt.end_us, nxt.reason))
                i += 2
                continue
        if out and out[-1].reason == p.reason:
            out[-1] = CoverageGap(out[-1].start_us, p.end_us, p.reason)
        else:
            out.append(p)
        i += 1
    return out


def _percent(recorded_us: int, window_us: int) -> float:
    """recorded/window as a percentage with 2 decimals that never rounds to a false 0 or 100."""
    pct = round(recorded_us * 100 / window_us, 2)
    # Evidence must not claim full (or no) coverage because of rounding.
    if recorded_us < window_us and pct >= 100.0:
        return 99.99
    if recorded_us > 0 and pct <= 0.0:
        return 0.01
    return pct
