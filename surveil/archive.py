"""Startup recovery and verification of the archive: files and index together.

Invariants (checked at startup and by `surveil verify`; docs/design/recording.md):
every sealed or recovered row has a file with the recorded size and SHA-256, and
a row whose file is gone is 'missing', one whose file differs is 'damaged'; every
segment file has a row, and a file that is not provably ours is quarantined, never
indexed; an open row at startup belongs to a torn file, which is recovered; a run
left open by a crash is ended with reason 'recorder down'.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from index import cameras, events, runs, segments
from index.db import Database
from index.errors import CameraNotFound, Conflict
from index.records import SegmentFileRef, SegmentRecord, SegmentRow
from segmenter.boxes import FileLayout
from segmenter.paths import PART_SUFFIX, QUARANTINE_DIR, parse_segment_path, segment_path
from segmenter.recovery import (
    QuarantinedFile,
    RecoveredSegment,
    quarantine_file,
    read_init,
    recover_data_dir,
    scan_path,
    segment_record,
    summarize,
    summarize_file,
)
from segmenter.storage import Sealed, hash_file
from surveil.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

# Startup stats the files of each camera's rows of the last this many µs before
# its newest segment: what a crash, a full disk or a slip of the hand most likely
# hit, and what is most likely looked up next. About 11 µs a row (a 2-core VM,
# SQLite, warm cache): 2.5 s for 150 cameras at 60 s segments. Verify checks the rest.
STARTUP_CHECK_US: Final = 24 * 3600 * 1_000_000
# Segments of a run tile it exactly (docs/design/recording.md, cut rule 5); an
# orphan must meet its neighbours this closely to be taken for one of them.
FIT_TOLERANCE_US: Final = 1_000
_PAGE: Final = 1000
_CHECK_PAGE: Final = 5000
# States whose end_us is the exact cut, not just what had been fsynced.
_CUT_END_STATES: Final = frozenset({"sealed", "damaged"})


@dataclass
class RecoveryReport:
    recovered: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    sealed_late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rows whose file is gone
    damaged: list[str] = field(default_factory=list)  # rows whose file has another size
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

    await _adopt_orphans(db, data_dir, now, set(report.recovered), report)
    await _check_recent_files(db, data_dir, now, report)

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
        or report.damaged
        or report.reindexed
    ):
        logger.warning(
            "recovery: %d recovered, %d quarantined, %d sealed late, %d missing, "
            "%d damaged, %d re-indexed, %d runs closed",
            len(report.recovered),
            len(report.quarantined),
            len(report.sealed_late),
            len(report.missing),
            len(report.damaged),
            len(report.reindexed),
            report.runs_closed,
        )
    return report


# -- marking what the archive lost -----------------------------------------------

# States whose file is final and described by its hash: the ones that can go
# missing or be damaged. An open segment's file legitimately grows.
_FINAL_STATES = frozenset({"sealed", "recovered", "missing", "damaged"})


async def mark_segment_missing(db: Database, seg: SegmentRecord, now_us: int) -> None:
    """The segment's file is gone: state 'missing' and event 'segment_missing', in one
    transaction. Idempotent; an open segment is left to startup recovery."""

    async def apply(s: AsyncSession) -> bool:
        current = await segments.get_segment(s, seg.id)
        if current.state == "missing" or current.state not in _FINAL_STATES:
            return False
        await segments.set_segment_state(s, seg.id, "missing")
        await events.add_event(
            s,
            "segment_missing",
            now_us,
            camera_id=current.camera_id,
            segment_id=current.id,
            detail={"path": current.path, "bytes": current.bytes, "was": current.state},
        )
        return True

    if await db.write(apply):
        logger.error("%s: segment file %s is missing", seg.camera, seg.path)


async def mark_segment_damaged(
    db: Database, seg: SegmentRecord, actual_bytes: int | None, now_us: int, reason: str
) -> None:
    """The segment's file no longer has its recorded size or hash: state 'damaged' and
    event 'segment_damaged' (an alarm while the row stays damaged), in one transaction.
    Idempotent; an open segment is left to startup recovery."""

    async def apply(s: AsyncSession) -> bool:
        current = await segments.get_segment(s, seg.id)
        if current.state == "damaged" or current.state not in _FINAL_STATES:
            return False
        await segments.set_segment_state(s, seg.id, "damaged")
        await events.add_event(
            s,
            "segment_damaged",
            now_us,
            camera_id=current.camera_id,
            segment_id=current.id,
            detail={
                "path": current.path,
                "expected_bytes": current.bytes,
                "actual_bytes": actual_bytes,
                "sha256": current.sha256,
                "reason": reason,
                "was": current.state,
            },
        )
        return True

    if await db.write(apply):
        logger.error(
            "%s: segment file %s is damaged: %s (recorded %d bytes, found %s)",
            seg.camera,
            seg.path,
            reason,
            seg.bytes,
            actual_bytes,
        )


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


async def _adopt_orphans(
    db: Database, data_dir: Path, now: int, handled: set[str], report: RecoveryReport
) -> None:
    """Index sealed files that never got a row, if provably ours; quarantine the rest.

    A crash between the seal's rename and its index write leaves such a file; so
    does someone copying a file in. Only the newest day directories are scanned:
    an orphan can only be as old as the last crash, and a full scan would make
    startup grow with the archive. Older ones are reported by verify.
    """
    for camera, files in _recent_segment_files(data_dir).items():
        rels = [f.relative_to(data_dir).as_posix() for f in files]
        async with db.read() as s:
            known = await segments.known_paths(s, rels)
        for path, rel in zip(files, rels, strict=True):
            name = parse_segment_path(rel)
            if name is None or rel in known or rel in handled:
                continue  # a name that is not a segment's: verify reports it
            sealed = hash_file(path)
            layout, _ = scan_path(path)
            async with db.read() as s:
                why = await _not_ours(s, data_dir, path, rel, layout, sealed)
            if why is None:
                item = segment_record(rel, name, sealed, layout)
                await db.write(
                    lambda s, it=item: _index_recovered(  # type: ignore[misc]
                        s, it, now, state="sealed", kind="segment_reindexed"
                    )
                )
                logger.warning("%s: indexed %s, a sealed file that had no row", camera, rel)
                report.reindexed.append(rel)
                continue
            logger.error("%s: %s has no row and is not provably ours: %s", camera, rel, why)
            moved = quarantine_file(data_dir, path, sealed.bytes, why)
            await db.write(
                lambda s, q=moved, h=sealed.sha256: _index_quarantined(  # type: ignore[misc]
                    s, q, now, sha256=h
                )
            )
            report.quarantined.append(moved.moved_to)


async def _not_ours(
    s: AsyncSession, data_dir: Path, path: Path, rel: str, layout: FileLayout, sealed: Sealed
) -> str | None:
    """None if a sealed file without a row is provably a segment we wrote; else why not.

    The rule (docs/design/recording.md, "Files without a row"): its name is the
    one we would give it; it is a whole segment file; its run is one of its
    camera's and has no row at its sequence; it lies inside the run and meets
    its neighbours as segments of a run do; it has the codecs and the very
    init segment of its run; and it is not a copy of another of the run's segments.
    """
    name = parse_segment_path(rel)
    if name is None or segment_path(name.camera, name.start_us, name.run_id, name.sequence) != rel:
        return "its name is not the one its camera, day, run and sequence would give"
    if not layout.init_end or not layout.fragments or layout.trailing:
        return "not a whole segment file (ftyp, moov, complete fragments and nothing else)"
    try:
        camera = await cameras.get_camera(s, name.camera)
    except CameraNotFound:
        return f"camera {name.camera!r} is not in the index"
    run = next((r for r in await runs.runs_for_camera(s, camera.id) if r.id == name.run_id), None)
    if run is None:
        return f"run {name.run_id} is not one of this camera's runs"
    if await segments.segment_by_run_sequence(s, run.id, name.sequence) is not None:
        return f"run {run.id} already has segment {name.sequence}"
    if name.start_us < run.start_us or (run.end_us is not None and name.start_us >= run.end_us):
        return f"starts outside its run ({run.start_us} to {run.end_us} us)"
    media = summarize(layout)
    prev, nxt = await segments.run_neighbours(s, run.id, name.sequence)
    neighbour = prev or nxt
    if neighbour is not None:
        codecs = (media.video_codec, media.audio_codec)
        theirs = (neighbour.video_codec, neighbour.audio_codec)
        if codecs != theirs:
            return f"codecs {codecs} differ from its run's {theirs}"
        # Segments of one run share the init segment byte for byte (same muxer
        # settings, same stream parameters); a neighbour whose file is gone
        # leaves only the codec names to compare.
        their_init = read_init(data_dir / neighbour.path, layout.init_end)
        if their_init is not None and their_init != read_init(path, layout.init_end):
            return f"its init segment (ftyp+moov) differs from that of {neighbour.path}"
    end_us = name.start_us + media.duration_us
    if prev is None:
        if name.sequence != 0 or abs(name.start_us - run.start_us) > FIT_TOLERANCE_US:
            return (
                f"does not follow on from its run: segment {name.sequence} at {name.start_us} us, "
                f"but the run starts at {run.start_us} us with no segment before it"
            )
    elif prev.sequence != name.sequence - 1:
        return (
            f"does not follow on from its run: the run's previous segment is "
            f"{prev.sequence}, not {name.sequence - 1}"
        )
    elif (
        abs(prev.end_us - name.start_us) > FIT_TOLERANCE_US
        if prev.state in _CUT_END_STATES
        # An open, missing or recovered row ends where its fsynced bytes did.
        else prev.end_us > name.start_us + FIT_TOLERANCE_US
    ):
        return (
            f"does not follow on from its run: segment {prev.sequence} ends at "
            f"{prev.end_us} us, this one starts at {name.start_us} us"
        )
    if nxt is not None and (
        end_us > nxt.start_us + FIT_TOLERANCE_US
        or (nxt.sequence == name.sequence + 1 and abs(end_us - nxt.start_us) > FIT_TOLERANCE_US)
    ):
        return (
            f"does not meet its run's next segment {nxt.sequence} at {nxt.start_us} us "
            f"(it ends at {end_us} us)"
        )
    if sealed.sha256 and await segments.run_has_sha256(s, run.id, sealed.sha256):
        return "a copy of another segment of its run (same SHA-256)"
    return None


async def _check_recent_files(
    db: Database, data_dir: Path, now: int, report: RecoveryReport
) -> None:
    """Stat the files of each camera's final rows of the STARTUP_CHECK_US before its newest.

    A file that is gone makes its row 'missing', one whose size differs makes it
    'damaged'. Only sizes: hashing is verify's (it reads every byte).
    """
    async with db.read() as s:
        newest = await segments.newest_start_by_camera(s)
        names = {c.id: c.name for c in await cameras.list_cameras(s, include_deleted=True)}
    for camera_id, newest_us in sorted(newest.items()):
        since = newest_us - STARTUP_CHECK_US
        after: tuple[int, int] | None = None
        while True:
            async with db.read() as s:
                rows = await segments.camera_files_since(s, camera_id, since, after, _CHECK_PAGE)
            if not rows:
                break
            after = (rows[-1].start_us, rows[-1].id)
            page = [ref for ref in rows if ref.state in ("sealed", "recovered", "damaged")]
            sizes = await asyncio.to_thread(_sizes, data_dir, names[camera_id], page)
            for ref, size in zip(page, sizes, strict=True):
                lost = size is None
                if not lost and (size == -1 or size == ref.bytes or ref.state == "damaged"):
                    continue
                async with db.read() as s:
                    seg = await segments.get_segment(s, ref.id)
                if lost:
                    await mark_segment_missing(db, seg, now)
                    report.missing.append(seg.path)
                else:
                    await mark_segment_damaged(db, seg, size, now, "size differs")
                    report.damaged.append(seg.path)


def _sizes(data_dir: Path, camera: str, page: list[SegmentFileRef]) -> list[int | None]:
    """Each segment file's size; None if it is gone, -1 if it cannot be looked at."""
    out: list[int | None] = []
    root = str(data_dir)
    for ref in page:
        try:
            out.append(os.stat(f"{root}/{ref.path}").st_size)
        except (FileNotFoundError, NotADirectoryError):
            out.append(None)
        except OSError as exc:
            # Unreadable is not gone: say so, and leave the row to verify.
            logger.error("%s: cannot stat %s (segment %d): %s", camera, ref.path, ref.id, exc)
            out.append(-1)
    return out


async def _index_quarantined(
    s: AsyncSession, it: QuarantinedFile, now: int, *, sha256: str | None = None
) -> None:
    name = parse_segment_path(it.rel_path)
    camera_id: int | None = None
    if name is not None:
        # Only a camera the index knows: a planted directory name must not make one.
        with contextlib.suppress(CameraNotFound):
            camera_id = (await cameras.get_camera(s, name.camera)).id
    detail: dict[str, object] = {
        "path": it.rel_path,
        "moved_to": it.moved_to,
        "bytes": it.bytes,
        "reason": it.reason,
    }
    if sha256 is not None:
        detail["sha256"] = sha256
    await events.add_event(s, "segment_quarantined", now, camera_id=camera_id, detail=detail)


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
    mismatched: list[str] = field(default_factory=list)  # hash or size differs: damaged
    missing_files: list[str] = field(default_factory=list)  # row without file: missing
    extra_files: list[str] = field(default_factory=list)  # file without row
    restored: list[str] = field(default_factory=list)  # damaged/missing, now intact again
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (self.mismatched or self.missing_files or self.extra_files or self.problems)


async def verify_archive(db: Database, data_dir: Path, clock: Clock | None = None) -> VerifyReport:
    """Re-hash every final segment, mark what is missing or damaged, list files without rows.

    A row whose file is gone becomes 'missing', one whose size or SHA-256 differs
    'damaged' (each once, with its event); a damaged or missing row whose file has
    the recorded size and SHA-256 again (put back from a copy) returns to its
    state before, with event 'segment_restored'. Rows are read in pages, so the
    archive is never held in memory whole.
    """
    now = (clock or SystemClock()).now_us()
    report = VerifyReport()
    known: set[str] = set()
    after = 0
    while True:
        async with db.read() as s:
            page = await segments.segments_page(s, after, _PAGE)
        if not page:
            break
        after = page[-1].id
        for seg in page:
            known.add(seg.path)
            await _verify_segment(db, data_dir, seg, now, report, known)
    report.extra_files = await asyncio.to_thread(_extra_files, data_dir, known)
    return report


async def _verify_segment(
    db: Database,
    data_dir: Path,
    seg: SegmentRecord,
    now: int,
    report: VerifyReport,
    known: set[str],
) -> None:
    path = data_dir / seg.path
    if seg.state == "open":
        report.open += 1
        known.add(seg.path + PART_SUFFIX)
        if not path.exists() and not (data_dir / (seg.path + PART_SUFFIX)).exists():
            report.missing_files.append(f"{seg.path} (open segment {seg.id})")
        return
    report.checked += 1
    try:
        actual = await asyncio.to_thread(hash_file, path)
    except (FileNotFoundError, NotADirectoryError):
        if seg.state != "missing":
            await mark_segment_missing(db, seg, now)
        report.missing_files.append(f"{seg.path} (segment {seg.id}, missing)")
        return
    except OSError as exc:
        report.problems.append(f"{seg.path} (segment {seg.id}): cannot read: {exc}")
        return
    if seg.sha256 is None:
        # A missing row that was never sealed: nothing to compare the file with.
        report.problems.append(f"{seg.path} (segment {seg.id}, {seg.state}) has no recorded hash")
        return
    if actual.sha256 != seg.sha256 or actual.bytes != seg.bytes:
        reason = "size differs" if actual.bytes != seg.bytes else "sha256 differs"
        if seg.state != "damaged":
            await mark_segment_damaged(db, seg, actual.bytes, now, reason)
        report.mismatched.append(
            f"{seg.path} (segment {seg.id}, {reason}): index {seg.bytes} bytes "
            f"sha256 {seg.sha256}, file {actual.bytes} bytes sha256 {actual.sha256}"
        )
        return
    if seg.state in ("damaged", "missing") and await db.write(lambda s: _restore(s, seg, now)):
        report.restored.append(seg.path)
    report.ok += 1


async def _restore(s: AsyncSession, seg: SegmentRecord, now: int) -> bool:
    """Back to the state the row had before it was marked (sealed or recovered)."""
    if (await segments.get_segment(s, seg.id)).state != seg.state:
        return False  # someone else changed it meanwhile; the next verify looks again
    marks = await events.segment_events(s, seg.id, ("segment_damaged", "segment_missing"))
    before = next(
        (str(e.detail["was"]) for e in marks if e.detail.get("was") in ("sealed", "recovered")),
        "sealed",
    )
    await segments.set_segment_state(s, seg.id, before)
    await events.add_event(
        s,
        "segment_restored",
        now,
        camera_id=seg.camera_id,
        segment_id=seg.id,
        detail={"path": seg.path, "was": seg.state, "now": before},
    )
    logger.warning("%s: segment file %s is intact again (%s)", seg.camera, seg.path, before)
    return True


def _extra_files(data_dir: Path, known: set[str]) -> list[str]:
    """Files in the archive's directories that no row accounts for.

    Every directory of data_dir but quarantine/ holds footage; any file in one
    (a segment name or not: notes.txt, a stray .mp4) that is not an indexed
    segment, or the .part of an open one, is extra. Files directly in data_dir
    are the service's own (the SQLite index and its journals, secret.key, markers).
    """
    extra: list[str] = []
    for top in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        if top.name == QUARANTINE_DIR:
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(data_dir).as_posix()
            for f in sorted(filenames):
                rel = f"{rel_dir}/{f}"
                if rel not in known:
                    extra.append(rel)
    return extra
