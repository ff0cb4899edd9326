"""Lookup: for a set of cameras and a time window, the footage and the gaps.

The answer to "show me the acceptance at counter A01 from 10:02 to 10:09":
per camera, the segments to play, the recorded share and every gap with its
reason. Receipts use the same function with their hold window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index import runs, segments
from index.db import Database
from surveil.coverage import Coverage, compute_coverage

# Longest window one lookup may cover; a receipt is hours at most, and an
# unbounded window would let one request read the whole index.
MAX_WINDOW_US = 31 * 24 * 3600 * 1_000_000


@dataclass(frozen=True)
class CameraRef:
    id: int
    name: str


@dataclass(frozen=True)
class CameraLookup:
    camera: str
    camera_id: int
    coverage: Coverage


async def lookup_window(
    db: Database, cameras: Sequence[CameraRef], start_us: int, end_us: int
) -> list[CameraLookup]:
    """Coverage of [start_us, end_us) for each camera, in the cameras' order."""
    if end_us <= start_us:
        raise ValueError("the end of the window must be after its start")
    if end_us - start_us > MAX_WINDOW_US:
        raise ValueError("a lookup window may be at most 31 days long")
    out: list[CameraLookup] = []
    async with db.read() as s:
        for cam in cameras:
            segs = await segments.segments_overlapping(s, cam.name, start_us, end_us)
            gaps = await runs.gaps_overlapping(s, cam.id, start_us, end_us)
            out.append(
                CameraLookup(cam.name, cam.id, compute_coverage(start_us, end_us, segs, gaps))
            )
    return out
