"""Startup recovery and verification of the archive: files and index together.

Invariants (checked at startup and by `surveil verify`): every sealed or
recovered row has a file with the recorded size and SHA-256; every segment
file has a row; an open row at startup belongs to a torn file, which is
recovered; a run left open by a crash is ended with reason 'recorder down'.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from index import cameras, events, runs, segments
from index.db import Database
from index.errors import CameraNotFound, Conflict
from index.records import SegmentRecord, SegmentRow
from segmenter.paths import PART_SUFFIX, QUARANTINE_DIR, parse_segment_path
from segmenter.recovery import (
    QuarantinedFile,
    RecoveredSegment,
    recover_data_dir,
    scan_path,
    segment_record,
    summarize_file,
)
from segmenter.storage import hash_file
from surveil.clock import Clock

logger = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    recovered: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    sealed_late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reindexed: list[str] = field(default_factory=list)
    runs_closed: int = 0


async def _camera_id(s: AsyncSession, name: str, now_us: int) -> int:
    try:
        return (await cameras.get_camera(s, name)).id
    except CameraNotFound:
        # Footage of a camera no longer configured is still evidence.
        return (await cameras.ensure_camera(s, name, "", [], False, now_us)).id


async def recover_archive(db: Database, data_dir: Path, clock: Clock) -> RecoveryReport:
    """Bring files and index back to a consistent state after any stop."""
    report = RecoveryReport()
    now = clock.now_us()
    for item in recover_data_dir(data_dir):
        if isinstance(item, RecoveredSegment):
            await db.write(lambda s, it=item: _index_recovered(s, it, now))  # type: ignore[misc]
            report.recovered.append(item.rel_path)
        else:
            await db.write(lambda s, it=item: _index_quarantined(s, it, now))  # type: ignore[misc]
            report.quarantined.append(item.moved_to)

    async with db.read() as s:
        still_open = await segments.segments_in_state(s, "open")
    for seg in still_open:
        path = data_dir / seg.path
        if path.exists():
            # Crashed between the rename and the index seal: the file is complete.
            await db.write(lambda s, sg=seg, p=path: _seal_late(s, sg, p, now))  # type: ignore[misc]
            report.sealed_late.append(seg.path)
        elif not (data_dir / (seg.path + PART_SUFFIX)).exists():
            await db.write(lambda s, sg=seg: _mark_missing(s, sg, now))  # type: ignore[misc]
            report.missing.append(seg.path)

    report.reindexed = await _reindex_orphans(db, data_dir, now, set(report.recovered))

    async with db.read() as s:
        open_runs = await runs.open_runs(s)
    for run in open_runs:
        await db.write(lambda s, r=run: _close_run(s, r.id, r.camera_id, r.start_us))  # type: ignore[misc]
        report.runs_closed += 1
    if (
        report.recovered
        or report.quarantined
        or report.sealed_late
        or report.missing
        or report.reindexed
    ):
        logger.warning(
            "recovery: %d recovered, %d quarantined, %d sealed late, %d missing, "
            "%d re-indexed, %d runs closed",
            len(report.recovered),
            len(report.quarantined),
            len(report.sealed_late),
            len(report.missing),
            len(report.reindexed),
            report.runs_closed,
        )
    return report


async def _run_of(s: AsyncSession, camera_id: int, it: RecoveredSegment) -> int | None:
    """The run to index a recovered file under; None if there is none to be had."""
    if any(r.id == it.run_id for r in await runs.runs_for_camera(s, camera_id)):
        return it.run_id
    # The index does not know the run named in the file (a camera new to this
    # index, or an index restored from an older copy): the row needs a real run,
    # so file the footage under a new one that is already over.
    try:
        run_id = await runs.start_run(s, camera_id, it.start_us, "recovered")
    except Conflict:
        return None  # the camera has an open run; it must not gain a second one
    await runs.end_run(s, run_id, it.start_us + it.media.duration_us, "recovered")
    return run_id


async def _index_recovered(
    s: AsyncSession,
    it: RecoveredSegment,
    now: int,
    *,
    state: str = "recovered",
    kind: str = "segment_recovered",
) -> None:
    camera_id = await _camera_id(s, it.camera, now)
    run_id = await _run_of(s, camera_id, it)
    if run_id is None:
        logger.error(
            "%s: recovered %s but cannot index it: run %d is unknown and the camera "
            "has an open run",
            it.camera,
            it.rel_path,
            it.run_id,
        )
        await events.add_event(
            s,
            "segment_unindexed",
            now,
            camera_id=camera_id,
            detail={"path": it.rel_path, "bytes": it.bytes, "sha256": it.sha256},
        )
        return
    row = SegmentRow(
        camera_id=camera_id,
        run_id=run_id,
        sequence=it.sequence,
        path=it.rel_path,
        start_us=it.start_us,
        end_us=it.start_us + it.media.duration_us,
        duration_us=it.media.duration_us,
        bytes=it.bytes,
        sha256=it.sha256,
        state=state,
        video_codec=it.media.video_codec,
        audio_codec=it.media.audio_codec,
        fragments=it.media.fragments,
        clock_sync="unknown",
        camera_clock_offset_us=None,
        created_us=now,
        sealed_us=now,
    )
    prior = await segments.segment_by_run_sequence(s, run_id, it.sequence)
    if prior is not None:
        # Keep the time provenance the recorder noted when the segment opened.
        row = dataclasses.replace(
            row,
            clock_sync=prior.clock_sync,
            camera_clock_offset_us=prior.camera_clock_offset_us,
            created_us=prior.created_us,
        )
    seg_id = await segments.upsert_segment(s, row)
    await events.add_event(
        s,
        kind,
        now,
        camera_id=camera_id,
        segment_id=seg_id,
        detail={
            "path": it.rel_path,
            "bytes": it.bytes,
            "truncated_bytes": it.truncated_bytes,
            "fragments": it.media.fragments,
        },
    )


def _recent_segment_files(data_dir: Path, days: int = 2) -> dict[str, list[Path]]:
    """Sealed segment files in each camera's newest day directories."""
    out: dict[str, list[Path]] = {}
    for cam_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        if cam_dir.name == QUARANTINE_DIR:
            continue
        day_dirs = sorted(p for p in cam_dir.glob("[0-9]*/[0-9]*/[0-9]*") if p.is_dir())
        files = [f for d in day_dirs[-days:] for f in sorted(d.glob("*.mp4"))]
        if files:
            out[cam_dir.name] = files
    return out


async def _reindex_orphans(db: Database, data_dir: Path, now: int, handled: set[str]) -> list[str]:
    """Index sealed files that never got a row (a crash between rename and index write).

    Only the newest day directories are scanned: an orphan can only be as old as
    the last crash, and a full scan would make startup grow with the archive.
    """
    found: list[str] = []
    for camera, files in _recent_segment_files(data_dir).items():
        rels = [f.relative_to(data_dir).as_posix() for f in files]
        async with db.read() as s:
            known = await segments.known_paths(s, rels)
        names = [(f, parse_segment_path(rel)) for f, rel in zip(files, rels, strict=True)]
        for path, name in names:
            rel = path.relative_to(data_dir).as_posix()
            if name is None or rel in known or rel in handled:
                continue
            layout, _ = scan_path(path)
            if not layout.fragments:
                continue  # not a segment we wrote; verify reports it
            item = segment_record(rel, name, hash_file(path), layout)
            await db.write(
                lambda s, it=item: _index_recovered(  # type: ignore[misc]
                    s, it, now, state="sealed", kind="segment_reindexed"
                )
            )
            logger.warning("%s: indexed %s, a sealed file that had no row", camera, rel)
            found.append(rel)
    return found


async def _index_quarantined(s: AsyncSession, it: QuarantinedFile, now: int) -> None:
    name = parse_segment_path(it.rel_path)
    camera_id = await _camera_id(s, name.camera, now) if name else None
    await events.add_event(
        s,
        "segment_quarantined",
        now,
        camera_id=camera_id,
        detail={
            "path": it.rel_path,
            "moved_to": it.moved_to,
            "bytes": it.bytes,
            "reason": it.reason,
        },
    )


async def _seal_late(s: AsyncSession, seg: SegmentRecord, path: Path, now: int) -> None:
    sealed = hash_file(path)
    media = summarize_file(path)
    row = _row_of(
        seg,
        state="sealed",
        sha256=sealed.sha256,
        size=sealed.bytes,
        duration_us=media.duration_us,
        fragments=media.fragments,
        now=now,
    )
    await _restate(s, seg, row, "segment_sealed_at_recovery", now)


async def _mark_missing(s: AsyncSession, seg: SegmentRecord, now: int) -> None:
    row = _row_of(
        seg,
        state="missing",
        sha256=None,
        size=seg.bytes,
        duration_us=seg.duration_us,
        fragments=seg.fragments,
        now=None,
    )
    await _restate(s, seg, row, "segment_missing", now)


async def _restate(
    s: AsyncSession, seg: SegmentRecord, row: SegmentRow, kind: str, now: int
) -> None:
    await segments.update_segment(s, row)
    await events.add_event(
        s, kind, now, camera_id=seg.camera_id, segment_id=seg.id, detail={"path": seg.path}
    )


async def _close_run(s: AsyncSession, run_id: int, camera_id: int, start_us: int) -> None:
    # The open run is the camera's newest, so its last segment is usually the
    # camera's latest; a range scan alone is capped by its row limit, which a
    # week-long run or a large archive exceeds, ending the run far too early.
    newest = await segments.latest_segment(s, camera_id)
    if newest is not None and newest.run_id == run_id:
        end_us = newest.end_us
    else:
        latest = [
            seg
            for seg in await segments.segments_overlapping(s, None, start_us, 2**62)
            if seg.run_id == run_id
        ]
        end_us = max((seg.end_us for seg in latest), default=start_us)
    await runs.end_run(s, run_id, end_us, "recorder down")


def _row_of(
    seg: SegmentRecord,
    *,
    state: str,
    sha256: str | None,
    size: int,
    duration_us: int,
    fragments: int,
    now: int | None,
) -> SegmentRow:
    return SegmentRow(
        camera_id=seg.camera_id,
        run_id=seg.run_id,
        sequence=seg.sequence,
        path=seg.path,
        start_us=seg.start_us,
        end_us=seg.start_us + duration_us,
        duration_us=duration_us,
        bytes=size,
        sha256=sha256,
        state=state,
        video_codec=seg.video_codec,
        audio_codec=seg.audio_codec,
        fragments=fragments,
        clock_sync=seg.clock_sync,
        camera_clock_offset_us=seg.camera_clock_offset_us,
        created_us=seg.created_us,
        sealed_us=now,
    )


# -- verification -----------------------------------------------------------


@dataclass
class VerifyReport:
    checked: int = 0
    ok: int = 0
    open: int = 0
    mismatched: list[str] = field(default_factory=list)  # hash or size differs
    missing_files: list[str] = field(default_factory=list)  # row without file
    extra_files: list[str] = field(default_factory=list)  # file without row
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (self.mismatched or self.missing_files or self.extra_files or self.problems)


async def verify_archive(db: Database, data_dir: Path) -> VerifyReport:
    """Re-hash every sealed segment and compare files with index rows."""
    report = VerifyReport()
    async with db.read() as s:
        rows = await segments.all_segments(s)
    known: set[str] = set()
    for seg in rows:
        known.add(seg.path)
        path = data_dir / seg.path
        if seg.state == "open":
            report.open += 1
            known.add(seg.path + PART_SUFFIX)
            if not path.exists() and not (data_dir / (seg.path + PART_SUFFIX)).exists():
                report.missing_files.append(f"{seg.path} (open segment {seg.id})")
            continue
        report.checked += 1
        if seg.state == "missing" or not path.exists():
            report.missing_files.append(f"{seg.path} (segment {seg.id}, {seg.state})")
            continue
        actual = hash_file(path)
        if actual.sha256 != seg.sha256 or actual.bytes != seg.bytes:
            report.mismatched.append(
                f"{seg.path} (segment {seg.id}): index {seg.bytes} bytes sha256 {seg.sha256}, "
                f"file {actual.bytes} bytes sha256 {actual.sha256}"
            )
            continue
        report.ok += 1
    quarantine = data_dir / QUARANTINE_DIR
    for f in sorted(data_dir.rglob("*.mp4*")):
        if quarantine in f.parents or not f.is_file():
            continue
        rel = f.relative_to(data_dir).as_posix()
        if rel not in known and parse_segment_path(rel) is not None:
            report.extra_files.append(rel)
    return report
