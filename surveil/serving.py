"""Serving footage: which files may be sent, checked against the index before a byte is.

One home for the policy both footage downloads follow (docs/design/lookup.md,
"Playback"): a segment's path must stay inside the data directory; a file must be the
regular file its row describes (a sealed one exactly its recorded size, an open one at
least its durable size); a file found gone is marked 'missing', one found otherwise
'damaged' (surveil/archive.py: the event and the alarm), and a clip is planned again
around it. The web handlers only map the errors below to HTTP and send the bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, ClassVar

from index.db import Database
from index.records import DELETION_STATES, SegmentRecord
from index.segments import segments_overlapping
from index.transfers import confirmed_ids
from segmenter.clip import ClipError, ClipPlan, ClipSource, SegmentFileError, open_source, plan_clip
from surveil.archive import mark_segment_damaged, mark_segment_missing
from surveil.lookup import playable_runs
from surveil.volumes import Storage, as_volumes

logger = logging.getLogger(__name__)

# Segments whose bytes are final and described by their sha256: the ones downloaded whole.
HASHED_STATES = frozenset({"sealed", "recovered"})
# A local copy of a segment deleted under retention, fetched back from central storage and
# checked (Transferrer.fetch); None when there is none.
Fetch = Callable[[SegmentRecord], Awaitable[Path | None]]
# Appended to what was wrong with a file in the reason of its 'segment_damaged' event.
WHEN_SERVED = "when served"


class ServingError(Exception):
    """Footage that cannot be served; code is stable (the API's error code)."""

    code: ClassVar[str]


class SegmentOpen(ServingError):
    """The segment is still being written: no whole file to download yet."""

    code = "segment_open"


class SegmentGone(ServingError):
    """The segment's file is no longer on disk (the row is, or now is, 'missing')."""

    code = "segment_gone"


class SegmentDamaged(ServingError):
    """The segment's file is not the one sealed (the row is, or now is, 'damaged')."""

    code = "segment_damaged"


class InvalidSegmentPath(ServingError):
    """The index row's path leads outside the data directory: a defect, never served."""

    code = "internal_error"


class NoFootage(ServingError):
    """Nothing playable in the window."""

    code = "no_footage"


class ClipUnavailable(ServingError):
    """The window's footage cannot be stitched into one clip (e.g. codec parameters differ)."""

    code = "clip_unavailable"


@dataclass(frozen=True)
class SealedFile:
    """A sealed segment's file, open and checked; the caller sends and closes it."""

    file: BinaryIO
    size: int


@dataclass(frozen=True)
class PlayableClip:
    """A clip's plan; its offsets count from origin_us, the start of its first segment."""

    plan: ClipPlan
    origin_us: int

    @property
    def start_us(self) -> int:
        """Wall time of the clip's first frame."""
        return self.origin_us + self.plan.start_offset_us


def segment_file_path(data_dir: Path, relative: str, segment_id: int) -> Path:
    """Where a segment's file is; raises InvalidSegmentPath for a path leaving data_dir."""
    rel = PurePosixPath(relative)
    # The index is trusted, but a corrupt row must not turn into a read outside data_dir.
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        logger.error("segment %d: path %r is not inside the data directory", segment_id, relative)
        raise InvalidSegmentPath(f"segment {segment_id} has an invalid path in the index")
    return data_dir.joinpath(*rel.parts)


async def open_sealed_segment(
    db: Database, seg: SegmentRecord, storage: Storage, now_us: int, fetch: Fetch | None = None
) -> SealedFile:
    """seg's whole file, open, once checked to be what was sealed.

    Raises SegmentOpen, SegmentGone, SegmentDamaged (marking the row when the file is
    found gone or not as sealed) or InvalidSegmentPath.
    """
    if seg.state == "open":
        raise SegmentOpen(
            f"segment {seg.id} is still being written; "
            "it can be fetched once it is sealed (within one segment length); "
            "its clip plays the durable part now"
        )
    if seg.state in DELETION_STATES:
        local = None if fetch is None else await fetch(seg)
        if local is None:
            raise SegmentGone(f"segment {seg.id} was deleted under the retention policy")
        file, size, _ = await asyncio.to_thread(open_source, ClipSource(local, 0, seg.bytes))
        return SealedFile(file, size)
    if seg.state == "missing":
        raise _gone(seg)
    vols = as_volumes(storage)
    if seg.volume not in vols:
        raise SegmentGone(f"segment {seg.id} is on volume {seg.volume!r}, which is not configured")
    path = segment_file_path(vols.root(seg.volume), seg.path, seg.id)
    if seg.state not in HASHED_STATES:  # 'damaged'
        raise _damaged(seg, "it is marked damaged")
    try:
        # Checked on the open file, which is what is sent even if the path changes meanwhile.
        file, size, _ = await asyncio.to_thread(open_source, ClipSource(path, 0, seg.bytes))
    except SegmentFileError as e:
        await _mark(db, seg, e, now_us)
        if e.gone:
            raise _gone(seg) from None
        if e.actual_bytes is not None:
            raise _damaged(
                seg, f"its file has {e.actual_bytes} bytes, {seg.bytes} were sealed"
            ) from None
        raise _damaged(seg, f"its file: {e.problem}") from None
    return SealedFile(file, size)


async def plan_playable_clip(
    db: Database,
    storage: Storage,
    camera: str,
    start_us: int,
    end_us: int,
    now_us: int,
    fetch: Fetch | None = None,
) -> PlayableClip:
    """The first unbroken stretch of the camera's playable footage in [start_us, end_us)
    whose files are all as indexed, planned as one clip.

    A file found gone or not as indexed is marked and the clip planned again without it,
    as around any hole. With fetch, footage deleted locally under retention whose central
    copy is confirmed plays too: fetched back, its hash checked (surveil/transfer.py).
    Raises NoFootage, ClipUnavailable or InvalidSegmentPath.
    """
    bad: set[int] = set()  # segments found gone or damaged by this call
    fetched: dict[int, Path] = {}
    vols = as_volumes(storage)
    while True:
        async with db.read() as s:
            segs = await segments_overlapping(s, camera, start_us, end_us)
            central = (
                await confirmed_ids(s, [seg.id for seg in segs if seg.state in DELETION_STATES])
                if fetch is not None
                else set()
            )
        usable = [
            dataclasses.replace(seg, state="sealed") if seg.id in central else seg
            for seg in segs
            if seg.id not in bad and (seg.volume in vols or seg.id in central)
        ]
        runs = playable_runs(usable)
        if not runs:
            raise NoFootage(f"camera {camera!r} has no playable footage between the given times")
        run = runs[0]
        first = run[0]
        missing = False
        for seg in run:
            if seg.id in central and seg.id not in fetched:
                assert fetch is not None
                local = await fetch(seg)
                if local is None:
                    bad.add(seg.id)
                    missing = True
                else:
                    fetched[seg.id] = local
        if missing:
            continue
        sources = [
            ClipSource(
                fetched[seg.id]
                if seg.id in fetched
                else segment_file_path(vols.root(seg.volume), seg.path, seg.id),
                seg.start_us - first.start_us,
                seg.bytes,
                growing=seg.state == "open",
            )
            for seg in run
        ]
        try:
            plan = await asyncio.to_thread(
                plan_clip, sources, start_us - first.start_us, end_us - first.start_us
            )
        except SegmentFileError as e:
            seg = run[e.index]
            bad.add(seg.id)
            await _mark(db, seg, e, now_us)
            continue
        except ClipError as e:
            raise ClipUnavailable(str(e)) from None
        return PlayableClip(plan, first.start_us)


async def _mark(db: Database, seg: SegmentRecord, problem: SegmentFileError, now_us: int) -> None:
    """Tell the index (and the alarms) what was found; an open segment is left to recovery."""
    if problem.gone:
        await mark_segment_missing(db, seg, now_us)
    else:
        reason = f"{problem.problem} {WHEN_SERVED}"
        await mark_segment_damaged(db, seg, problem.actual_bytes, now_us, reason)


def _gone(seg: SegmentRecord) -> SegmentGone:
    return SegmentGone(f"the file of segment {seg.id} is no longer on disk")


def _damaged(seg: SegmentRecord, why: str) -> SegmentDamaged:
    return SegmentDamaged(
        f"segment {seg.id} is not served: {why}; `surveil verify` reports the archive"
    )
