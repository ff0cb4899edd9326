"""Segment rows: opened at the first fragment, extended, sealed; range queries for playback."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from index import merkle
from index.errors import Conflict, SegmentNotFound
from index.models import Camera, LogLeaf, Segment
from index.records import (
    CLOCK_SYNC_STATES,
    SEGMENT_STATES,
    SegmentFileRef,
    SegmentRecord,
    SegmentRow,
)
from tlog import leaves

# Fields that update_segment may change; the rest identify the segment or were
# fixed when it was opened.
_PROGRESS_FIELDS = (
    "end_us",
    "duration_us",
    "bytes",
    "fragments",
    "sha256",
    "state",
    "sealed_us",
)
# Everything but the identity (run_id, sequence) and created_us, for recovery.
_UPSERT_FIELDS = (
    "camera_id",
    "path",
    "start_us",
    "video_codec",
    "audio_codec",
    "clock_sync",
    "camera_clock_offset_us",
    *_PROGRESS_FIELDS,
)


# Longer than any segment can be: segment_seconds is at most 3600 s, plus up to
# one GOP before the cut keyframe arrives.
MAX_SEGMENT_SPAN_US = 2 * 3600 * 1_000_000

_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(SegmentRow))


def _record(row: Segment, camera: str, leaf_index: int | None) -> SegmentRecord:
    return SegmentRecord(
        id=row.id,
        camera=camera,
        **{name: getattr(row, name) for name in _ROW_FIELDS},
        leaf_index=leaf_index,
    )


def _check_row(row: SegmentRow) -> None:
    if row.state not in SEGMENT_STATES:
        raise ValueError(f"segment state {row.state!r} is not one of {SEGMENT_STATES}")
    if row.clock_sync not in CLOCK_SYNC_STATES:
        raise ValueError(f"clock_sync {row.clock_sync!r} is not one of {CLOCK_SYNC_STATES}")


def _with_camera() -> Select[Segment, str, int | None]:
    """A segment with its camera's name and its leaf index in the log (None until sealed)."""
    return (
        select(Segment, Camera.name, LogLeaf.idx)
        .join(Camera, Camera.id == Segment.camera_id)
        .outerjoin(LogLeaf, (LogLeaf.kind == leaves.KIND_SEGMENT) & (LogLeaf.ref_id == Segment.id))
    )


async def _by_run_sequence(s: AsyncSession, run_id: int, sequence: int) -> Segment | None:
    stmt = select(Segment).where(Segment.run_id == run_id, Segment.sequence == sequence)
    return (await s.execute(stmt)).scalar_one_or_none()


def _apply(target: Segment, row: SegmentRow, fields: tuple[str, ...]) -> None:
    # A sealed segment's hash is evidence: it may change state (e.g. to
    # 'missing') but never its recorded bytes or hash.
    if target.sha256 is not None and (row.sha256 != target.sha256 or row.bytes != target.bytes):
        raise Conflict(
            f"segment {target.path} is sealed with sha256 {target.sha256} and {target.bytes} "
            f"bytes; refusing to change them to {row.sha256} and {row.bytes}"
        )
    for name in fields:
        setattr(target, name, getattr(row, name))


async def _insert(s: AsyncSession, row: SegmentRow) -> int:
    if await _by_run_sequence(s, row.run_id, row.sequence) is not None:
        raise Conflict(f"run {row.run_id} already has segment {row.sequence}")
    taken = (await s.execute(select(Segment.id).where(Segment.path == row.path))).first()
    if taken is not None:
        raise Conflict(f"segment path {row.path} is already indexed")
    segment = Segment(**{name: getattr(row, name) for name in _ROW_FIELDS})
    s.add(segment)
    await s.flush()
    return segment.id


async def open_segment(s: AsyncSession, row: SegmentRow) -> int:
    """Insert a new segment in state 'open'; returns its id.

    Raises Conflict if (run_id, sequence) or path is already taken.
    """
    _check_row(row)
    if row.state != "open":
        raise ValueError(f"open_segment needs state 'open', got {row.state!r}")
    return await _insert(s, row)


async def update_segment(s: AsyncSession, row: SegmentRow) -> None:
    """Record progress or the seal of the segment (run_id, sequence).

    Changes end_us, duration_us, bytes, fragments, sha256, state and sealed_us.
    Raises SegmentNotFound, or Conflict if a sealed hash or size would change.
    """
    _check_row(row)
    target = await _by_run_sequence(s, row.run_id, row.sequence)
    if target is None:
        raise SegmentNotFound(f"no segment {row.sequence} in run {row.run_id}")
    _apply(target, row, _PROGRESS_FIELDS)
    await s.flush()
    await _log_seal(s, target)


async def upsert_segment(s: AsyncSession, row: SegmentRow) -> int:
    """Insert or fully update the segment (run_id, sequence), for recovery; returns its id.

    Raises Conflict if the path belongs to another segment or a sealed hash or size would change.
    """
    _check_row(row)
    target = await _by_run_sequence(s, row.run_id, row.sequence)
    if target is None:
        segment_id = await _insert(s, row)
        inserted = await s.get(Segment, segment_id)
        assert inserted is not None  # inserted in this transaction
        await _log_seal(s, inserted)
        return segment_id
    if row.path != target.path:
        taken = (await s.execute(select(Segment.id).where(Segment.path == row.path))).first()
        if taken is not None:
            raise Conflict(f"segment path {row.path} is already indexed")
    _apply(target, row, _UPSERT_FIELDS)
    await s.flush()
    await _log_seal(s, target)
    return target.id


def segment_leaf(seg: Segment | SegmentRecord, camera: str) -> bytes:
    """The log's leaf for a sealed or recovered segment (tlog/leaves.py)."""
    assert seg.sha256 is not None, "only a sealed segment has a leaf"
    return leaves.segment_leaf(
        segment_id=seg.id,
        camera=camera,
        run=seg.run_id,
        seq=seg.sequence,
        path=seg.path,
        start_us=seg.start_us,
        end_us=seg.end_us,
        duration_us=seg.duration_us,
        size=seg.bytes,
        sha256=seg.sha256,
        video_codec=seg.video_codec,
        audio_codec=seg.audio_codec,
        fragments=seg.fragments,
        state=seg.state,
        sealed_us=seg.sealed_us,
    )


async def _log_seal(s: AsyncSession, target: Segment) -> None:
    """Append the segment's leaf when it has just become sealed or recovered: once, in the
    transaction of the seal (docs/design/integrity.md)."""
    if target.state not in leaves.LOGGED_SEGMENT_STATES:
        return
    stmt = select(LogLeaf.idx).where(
        LogLeaf.kind == leaves.KIND_SEGMENT, LogLeaf.ref_id == target.id
    )
    if (await s.execute(stmt)).first() is not None:
        return  # logged when it was sealed; a restore after 'missing' is not a new entry
    camera = (
        await s.execute(select(Camera.name).where(Camera.id == target.camera_id))
    ).scalar_one()
    now_us = target.sealed_us if target.sealed_us is not None else target.created_us
    leaf = segment_leaf(target, camera)
    await merkle.append_leaf(s, leaves.KIND_SEGMENT, target.id, leaf, now_us)


async def segments_overlapping(
    s: AsyncSession,
    camera: str | None,
    start_us: int,
    end_us: int,
    limit: int = 10000,
) -> list[SegmentRecord]:
    """Segments with start_us < end_us and end_us > start_us, by camera name then time.

    Touching ranges do not overlap. Every state is returned (an open segment up
    to its current end_us; 'missing' ones so callers can show the hole); an
    unknown camera name yields an empty list.
    """
    stmt = _with_camera().where(
        Segment.start_us < end_us,
        Segment.end_us > start_us,
        # No segment is longer than MAX_SEGMENT_SPAN_US, so this bound is
        # redundant for the result but turns the (camera_id, start_us) index
        # scan into a short range instead of everything before end_us.
        Segment.start_us > start_us - MAX_SEGMENT_SPAN_US,
    )
    if camera is not None:
        stmt = stmt.where(Camera.name == camera)
    stmt = stmt.order_by(Camera.name, Segment.start_us, Segment.id).limit(limit)
    return [_record(*found) for found in await s.execute(stmt)]


async def get_segment(s: AsyncSession, segment_id: int) -> SegmentRecord:
    """The segment with this id; raises SegmentNotFound."""
    found = (await s.execute(_with_camera().where(Segment.id == segment_id))).first()
    if found is None:
        raise SegmentNotFound(f"no segment with id {segment_id}")
    return _record(*found)


async def all_segments(s: AsyncSession) -> list[SegmentRecord]:
    """Every segment, by camera name then time (for verify and recovery scans)."""
    stmt = _with_camera().order_by(Camera.name, Segment.start_us, Segment.id)
    return [_record(*found) for found in await s.execute(stmt)]


async def segments_in_state(s: AsyncSession, state: str) -> list[SegmentRecord]:
    """Every segment in one state, by camera name then time."""
    if state not in SEGMENT_STATES:
        raise ValueError(f"segment state {state!r} is not one of {SEGMENT_STATES}")
    stmt = (
        _with_camera()
        .where(Segment.state == state)
        .order_by(Camera.name, Segment.start_us, Segment.id)
    )
    return [_record(*found) for found in await s.execute(stmt)]


async def latest_segment(s: AsyncSession, camera_id: int) -> SegmentRecord | None:
    """The camera's segment with the latest start, or None if it has none."""
    stmt = (
        _with_camera()
        .where(Segment.camera_id == camera_id)
        .order_by(Segment.start_us.desc(), Segment.id.desc())
        .limit(1)
    )
    found = (await s.execute(stmt)).first()
    return None if found is None else _record(*found)


async def known_paths(
    s: AsyncSession, paths: Sequence[str], states: Collection[str] | None = None
) -> set[str]:
    """Which of these segment paths have a row (in one of states, if given)."""
    found: set[str] = set()
    for i in range(0, len(paths), 500):  # stay under bind-parameter limits
        chunk = list(paths[i : i + 500])
        stmt = select(Segment.path).where(Segment.path.in_(chunk))
        if states is not None:
            stmt = stmt.where(Segment.state.in_(list(states)))
        found.update((await s.execute(stmt)).scalars())
    return found


async def segment_by_path(s: AsyncSession, path: str) -> SegmentRecord | None:
    """The segment whose file is path (relative to data_dir), or None."""
    found = (await s.execute(_with_camera().where(Segment.path == path))).first()
    return None if found is None else _record(*found)


async def segment_by_run_sequence(
    s: AsyncSession, run_id: int, sequence: int
) -> SegmentRecord | None:
    stmt = _with_camera().where(Segment.run_id == run_id, Segment.sequence == sequence)
    found = (await s.execute(stmt)).first()
    return None if found is None else _record(*found)


async def set_segment_state(s: AsyncSession, segment_id: int, state: str) -> SegmentRecord:
    """Change only the state of a segment (its bytes and hash stay as recorded).

    Returns the record as it was before the change; raises SegmentNotFound.
    """
    if state not in SEGMENT_STATES:
        raise ValueError(f"segment state {state!r} is not one of {SEGMENT_STATES}")
    before = await get_segment(s, segment_id)
    target = await s.get(Segment, segment_id)
    assert target is not None  # get_segment found it in this transaction
    target.state = state
    await s.flush()
    return before


async def segments_page(
    s: AsyncSession, after_id: int = 0, limit: int = 1000
) -> list[SegmentRecord]:
    """Up to limit segments with id > after_id, by id, in every state.

    Scans of the whole archive page through it (after_id = the last id seen) on
    the primary key, never loading it whole.
    """
    stmt = _with_camera().where(Segment.id > after_id).order_by(Segment.id).limit(limit)
    return [_record(*found) for found in await s.execute(stmt)]


async def camera_files_since(
    s: AsyncSession,
    camera_id: int,
    since_us: int,
    after: tuple[int, int] | None = None,
    limit: int = 1000,
) -> list[SegmentFileRef]:
    """One camera's segments starting at or after since_us, by (start_us, id), every state.

    after is the (start_us, id) of the last row of the previous page. The order is
    that of the (camera_id, start_us) index, so no page needs a sort; only the
    columns a file check needs are read (a fraction of the cost of full records).
    """
    stmt = select(
        Segment.id,
        Segment.camera_id,
        Segment.path,
        Segment.start_us,
        Segment.bytes,
        Segment.state,
        Segment.volume,
    ).where(Segment.camera_id == camera_id)
    if after is None:
        stmt = stmt.where(Segment.start_us >= since_us)
    else:
        start_us, seg_id = after
        stmt = stmt.where(
            # One plain lower bound, so the index scan starts at this page (SQLite
            # uses only one of two, and not the one inside the OR).
            Segment.start_us >= max(start_us, since_us),
            or_(Segment.start_us > start_us, Segment.id > seg_id),
        )
    stmt = stmt.order_by(Segment.start_us, Segment.id).limit(limit)
    return [SegmentFileRef(*row) for row in (await s.execute(stmt)).all()]


async def newest_start_by_camera(s: AsyncSession) -> dict[int, int]:
    """Each camera's latest segment start (cameras without segments are left out)."""
    # One max() per camera rides the (camera_id, start_us) index on both backends;
    # a GROUP BY over the segments table would read all of it.
    newest = (
        select(func.max(Segment.start_us)).where(Segment.camera_id == Camera.id).scalar_subquery()
    )
    rows = (await s.execute(select(Camera.id, newest))).all()
    return {camera_id: start for camera_id, start in rows if start is not None}


async def run_neighbours(
    s: AsyncSession, run_id: int, sequence: int
) -> tuple[SegmentRecord | None, SegmentRecord | None]:
    """The run's segments just before and just after this sequence number (None: none)."""
    base = _with_camera().where(Segment.run_id == run_id)
    before = (
        await s.execute(
            base.where(Segment.sequence < sequence).order_by(Segment.sequence.desc()).limit(1)
        )
    ).first()
    after = (
        await s.execute(base.where(Segment.sequence > sequence).order_by(Segment.sequence).limit(1))
    ).first()
    return (
        None if before is None else _record(*before),
        None if after is None else _record(*after),
    )


async def run_has_sha256(s: AsyncSession, run_id: int, sha256: str) -> bool:
    """Whether a segment of this run was sealed with this SHA-256."""
    stmt = select(Segment.id).where(Segment.run_id == run_id, Segment.sha256 == sha256).limit(1)
    return (await s.execute(stmt)).first() is not None


async def count_in_state_by_camera(s: AsyncSession, state: str) -> dict[str, int]:
    """How many segments each camera has in this state (cameras with none are left out)."""
    if state not in SEGMENT_STATES:
        raise ValueError(f"segment state {state!r} is not one of {SEGMENT_STATES}")
    stmt = (
        select(Camera.name, func.count(Segment.id))
        .join(Camera, Camera.id == Segment.camera_id)
        .where(Segment.state == state)
        .group_by(Camera.name)
        .order_by(Camera.name)
    )
    return {name: int(n) for name, n in (await s.execute(stmt)).all()}


async def count_in_state(s: AsyncSession, state: str) -> int:
    """How many segments are in this state (a count on the state index)."""
    if state not in SEGMENT_STATES:
        raise ValueError(f"segment state {state!r} is not one of {SEGMENT_STATES}")
    stmt = select(func.count(Segment.id)).where(Segment.state == state)
    return int((await s.execute(stmt)).scalar_one())


async def segments_by_ids(s: AsyncSession, ids: Collection[int]) -> dict[int, SegmentRecord]:
    """The segments of ids that exist, by id."""
    out: dict[int, SegmentRecord] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        stmt = _with_camera().where(Segment.id.in_(wanted[start : start + 500]))
        for found in await s.execute(stmt):
            out[found[0].id] = _record(*found)
    return out
