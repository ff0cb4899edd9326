"""Lookup: for a set of cameras and a time window, the footage and the gaps.

The answer to "show me the acceptance at counter A01 from 10:02 to 10:09":
per camera, the segments to play, the recorded share and every gap with its
reason. Receipts use the same function with their hold window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from index import counters as counter_queries
from index import receipts as receipt_queries
from index import runs, segments
from index.db import Database
from index.holds import holds_for_receipt
from index.receipts import ReceiptSettings, hold_end_us
from index.records import CounterRecord, HoldRecord, ReceiptRecord, SegmentRecord
from surveil.coverage import Coverage, compute_coverage

# Footage a clip may be made of. An open segment plays up to the durable fragments its
# row describes (extended as each lands), so footage is playable about as soon as it is
# searchable, not only once its segment is sealed. 'missing' and 'damaged' never play.
PLAYABLE_STATES = ("sealed", "recovered", "open")

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


@dataclass(frozen=True)
class ReceiptFootage:
    """A receipt, the holds it placed, and per held camera its footage up to now."""

    receipt: ReceiptRecord
    holds: tuple[HoldRecord, ...]
    cameras: tuple[CameraLookup, ...]


async def receipt_footage(
    db: Database, receipt_no: str, now_us: int, settings: ReceiptSettings
) -> ReceiptFootage:
    """The receipt's footage per camera over its hold window; raises ReceiptNotFound.

    An open receipt's window runs to now (capped by the open-hold maximum); footage cannot
    exist beyond now, whatever the post-roll says.
    """
    async with db.read() as s:
        record = await receipt_queries.get_receipt(s, receipt_no)
        holds = await holds_for_receipt(s, record.id)
    cameras: list[CameraLookup] = []
    for h in holds:
        end_us = min(hold_end_us(h.end_us, record, now_us, settings), now_us)
        if end_us > h.start_us:
            cameras += await lookup_window(
                db, [CameraRef(h.camera_id, h.camera)], h.start_us, end_us
            )
    return ReceiptFootage(record, tuple(holds), tuple(cameras))


async def counter_footage(
    db: Database, code: str, start_us: int, end_us: int
) -> tuple[CounterRecord, list[CameraLookup]]:
    """Per camera of the counter, coverage of [start_us, end_us); raises CounterNotFound."""
    async with db.read() as s:
        counter = await counter_queries.get_counter(s, code)
        cams = await counter_queries.cameras_for_counter(s, counter.id)
    return counter, await lookup_window(db, [CameraRef(i, n) for i, n in cams], start_us, end_us)


@dataclass(frozen=True)
class Stretch:
    """An unbroken stretch of playable footage (one run) inside a window: one clip."""

    start_us: int
    end_us: int
    video_codec: str


def playable_runs(segs: Iterable[SegmentRecord]) -> list[list[SegmentRecord]]:
    """Segments (ordered by start) grouped into what one clip may stitch.

    A group is consecutive playable segments of one run: it ends at a segment that is
    not playable (missing, damaged), at a sequence number that skips one (a segment
    without a row) and at another run. A clip never bridges any of these.
    """
    out: list[list[SegmentRecord]] = []
    prev: SegmentRecord | None = None
    for seg in segs:
        if seg.state not in PLAYABLE_STATES or seg.end_us <= seg.start_us:
            prev = None
            continue
        if prev is not None and seg.run_id == prev.run_id and seg.sequence == prev.sequence + 1:
            out[-1].append(seg)
        else:
            out.append([seg])
        prev = seg
    return out


def playable_stretches(cov: Coverage) -> list[Stretch]:
    """The window's footage as clips: one per group of playable_runs, clipped to it."""
    out: list[Stretch] = []
    for group in playable_runs(cov.segments):
        start = max(group[0].start_us, cov.window_start_us)
        end = min(group[-1].end_us, cov.window_end_us)
        if end > start:
            out.append(Stretch(start, end, group[0].video_codec))
    return out


def still_writing(cov: Coverage) -> bool:
    """The window reaches past the durable end of a segment still being written: its
    last second or so is not playable yet (it will be once the next fragment lands)."""
    return any(s.state == "open" and s.end_us < cov.window_end_us for s in cov.segments)
