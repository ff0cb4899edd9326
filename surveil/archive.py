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
import stat
from collections.abc import Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from index import cameras, events, runs, segments
from index.audit import add_audit
from index.db import Database
from index.errors import CameraNotFound
from index.records import (
    DEFAULT_VOLUME,
    DELETION_STATES,
    AuditIn,
    SegmentFileRef,
    SegmentRecord,
    SegmentRow,
)
from segmenter.boxes import FileLayout
from segmenter.paths import NOT_FOOTAGE_DIRS, PART_SUFFIX, parse_segment_path, segment_path
from segmenter.recovery import (
    QuarantinedFile,
    RecoveredSegment,
    TornFile,
    examine_part,
    find_part_files,
    quarantine_file,
    read_init,
    scan_path,
    seal_torn,
    segment_record,
    summarize,
    summarize_file,
)
from segmenter.storage import Sealed, hash_file
from surveil.clock import Clock, SystemClock
from surveil.findings import Finding
from surveil.volumes import Storage, Volumes, as_volumes

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
# File names looked up in the index at a time by verify.
_NAME_BATCH: Final = 500
# States whose end_us is the exact cut, not just what had been fsynced.
# The volume recovery is working on: rows it creates for files found there name it.
_VOLUME: ContextVar[str] = ContextVar("recovery_volume", default=DEFAULT_VOLUME)
_CUT_END_STATES: Final = frozenset({"sealed", "damaged"})


@dataclass
class RecoveryReport:
    recovered: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    sealed_late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rows whose file is gone
    damaged: list[str] = field(default_factory=list)  # rows whose file has another size
    reindexed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # files recovery could not deal with
    runs_closed: int = 0


async def recover_archive(db: Database, storage: Storage, clock: Clock) -> RecoveryReport:
    """Bring files and index back to a consistent state after any stop, on every volume."""
    report = RecoveryReport()
    now = clock.now_us()
    vols = as_volumes(storage)
    # Torn files the index has no open row for: adopted with the sealed orphans, by
    # the same rule, once the open rows are settled (their neighbours).
    rowless: dict[str, list[TornFile]] = {}
    for volume in vols.names():
        root = vols.root(volume)
        if not root.is_dir():
            logger.error("recovery: volume %s (%s) is not there; its files wait", volume, root)
            continue
        token = _VOLUME.set(volume)
        try:
            torn = rowless.setdefault(volume, [])
            for part in find_part_files(root):
                await _guarded(
                    db, root, part, now, report, _recover_part(db, root, part, now, report, torn)
                )
        finally:
            _VOLUME.reset(token)

    async with db.read() as s:
        still_open = await segments.segments_in_state(s, "open")
    for seg in still_open:
        if seg.volume not in rowless:
            continue  # a volume that is not configured or not there: left as it is
        root = vols.root(seg.volume)
        path = root / seg.path
        if path.exists():
            # Crashed between the rename and the index seal: the file is complete.
            await db.write(lambda s, sg=seg, p=path: _seal_late(s, sg, p, now))  # type: ignore[misc]
            report.sealed_late.append(seg.path)
        elif not (root / (seg.path + PART_SUFFIX)).exists():
            await db.write(lambda s, sg=seg: _mark_missing(s, sg, now))  # type: ignore[misc]
            report.missing.append(seg.path)

    for volume, torn in rowless.items():
        token = _VOLUME.set(volume)
        try:
            await _adopt_orphans(db, vols.root(volume), now, torn, report)
        finally:
            _VOLUME.reset(token)
    await _check_recent_files(db, vols, now, report, set(rowless))

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
        or report.failed
    ):
        logger.warning(
            "recovery: %d recovered, %d quarantined, %d sealed late, %d missing, "
            "%d damaged, %d re-indexed, %d failed, %d runs closed",
            len(report.recovered),
            len(report.quarantined),
            len(report.sealed_late),
            len(report.missing),
            len(report.damaged),
            len(report.reindexed),
            len(report.failed),
            report.runs_closed,
        )
    return report


async def _guarded(
    db: Database,
    data_dir: Path,
    path: Path,
    now: int,
    report: RecoveryReport,
    work: Coroutine[object, object, None],
) -> None:
    """Run one file's recovery; whatever goes wrong with it, go on with the next.

    One bad file must not keep the service from starting (and recording): it is left
    where it is, logged, and recorded with an event 'recovery_failed'.
    """
    rel = path.relative_to(data_dir).as_posix()
    try:
        await work
    except Exception as exc:
        logger.exception("recovery: cannot recover %s; left where it is", rel)
        report.failed.append(rel)
        detail = {"path": rel, "error": f"{type(exc).__name__}: {exc}"}
        try:
            await db.write(lambda s: events.add_event(s, "recovery_failed", now, detail=detail))
        except Exception:
            logger.exception("recovery: cannot record that %s was not recovered", rel)


async def _recover_part(
    db: Database,
    data_dir: Path,
    part: Path,
    now: int,
    report: RecoveryReport,
    rowless: list[TornFile],
) -> None:
    """Seal a torn file whose open row names it; set aside one without such a row."""
    found = await asyncio.to_thread(examine_part, data_dir, part)
    if isinstance(found, QuarantinedFile):
        await _record_quarantined(db, found, now, report)
        return
    async with db.read() as s:
        row = await segments.segment_by_path(s, found.rel_path)
    named = (found.name.run_id, found.name.sequence)
    if row is None or row.state != "open" or (row.run_id, row.sequence) != named:
        # Not the normal crash case: ours only if provably so (_adopt_orphans).
        rowless.append(found)
        return
    await _adopt_torn(db, data_dir, found, row.camera_id, now, report)


async def _adopt_torn(
    db: Database, data_dir: Path, torn: TornFile, camera_id: int, now: int, report: RecoveryReport
) -> bool:
    """Seal a torn file that is ours and index it as recovered; False if its final name
    was taken (then it is quarantined)."""
    item = await asyncio.to_thread(seal_torn, data_dir, torn)
    if isinstance(item, QuarantinedFile):
        await _record_quarantined(db, item, now, report, sha256=torn.whole.sha256)
        return False
    await db.write(lambda s: _index_recovered(s, item, camera_id, now))
    report.recovered.append(item.rel_path)
    return True


async def _record_quarantined(
    db: Database,
    item: QuarantinedFile,
    now: int,
    report: RecoveryReport,
    *,
    sha256: str | None = None,
) -> None:
    await db.write(lambda s: _index_quarantined(s, item, now, sha256=sha256))
    report.quarantined.append(item.moved_to)


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
        await _missing_event(s, current, now_us)
        return True

    if await db.write(apply):
        logger.error("%s: segment file %s is missing", seg.camera, seg.path)


async def _missing_event(s: AsyncSession, seg: SegmentRecord, now_us: int) -> None:
    """Event 'segment_missing', the one shape whoever marks it: path, recorded bytes, and
    the state before (verify restores a sealed or recovered one if the file comes back)."""
    await events.add_event(
        s,
        "segment_missing",
        now_us,
        camera_id=seg.camera_id,
        segment_id=seg.id,
        detail={"path": seg.path, "bytes": seg.bytes, "was": seg.state},
    )


async def mark_segment_damaged(
    db: Database,
    seg: SegmentRecord,
    actual_bytes: int | None,
    now_us: int,
    reason: str,
    entry: AuditIn | None = None,
) -> bool:
    """The segment's file no longer has its recorded size or hash: state 'damaged' and
    event 'segment_damaged' (an alarm while the row stays damaged), and entry if given, in
    one transaction. Idempotent (False if it was damaged already); an open segment is left
    to startup recovery."""

    async def apply(s: AsyncSession) -> bool:
        current = await segments.get_segment(s, seg.id)
        if current.state == "damaged" or current.state not in _FINAL_STATES:
            return False
        await segments.set_segment_state(s, seg.id, "damaged")
        if entry is not None:
            await add_audit(s, entry, now_us)
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

    if not await db.write(apply):
        return False
    logger.error(
        "%s: segment file %s is damaged: %s (recorded %d bytes, found %s)",
        seg.camera,
        seg.path,
        reason,
        seg.bytes,
        actual_bytes,
    )
    return True


async def _index_recovered(
    s: AsyncSession,
    it: RecoveredSegment,
    camera_id: int,
    now: int,
    *,
    state: str = "recovered",
    kind: str = "segment_recovered",
) -> None:
    """The row of a file recovery sealed or found sealed, in its (existing) run."""
    row = SegmentRow(
        camera_id=camera_id,
        run_id=it.run_id,
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
        volume=_VOLUME.get(),
    )
    prior = await segments.segment_by_run_sequence(s, it.run_id, it.sequence)
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
        if cam_dir.name in NOT_FOOTAGE_DIRS:
            continue
        day_dirs = sorted(p for p in cam_dir.glob("[0-9]*/[0-9]*/[0-9]*") if p.is_dir())
        files = [f for d in day_dirs[-days:] for f in sorted(d.glob("*.mp4"))]
        if files:
            out[cam_dir.name] = files
    return out


async def _adopt_orphans(
    db: Database, data_dir: Path, now: int, torn: list[TornFile], report: RecoveryReport
) -> None:
    """Index files without a row if provably ours; quarantine the rest.

    Sealed ones: a crash between the seal's rename and its index write leaves one;
    torn ones (.part): a crash before a segment's first row write (at its first
    durable fragment, or at the seal with fsync = "segment") leaves one. So does
    someone copying a file in. Only the newest day directories are scanned for sealed
    ones: an orphan can only be as old as the last crash, and a full scan would make
    startup grow with the archive. Older ones are reported by verify. Each camera's
    are taken in name (start time) order, so consecutive orphans of a run are
    adopted in turn.
    """
    sealed_files = _recent_segment_files(data_dir)
    torn_files: dict[str, list[TornFile]] = {}
    for t in torn:
        torn_files.setdefault(t.rel_path.split("/", 1)[0], []).append(t)
    for camera in sorted(sealed_files.keys() | torn_files.keys()):
        files = sealed_files.get(camera, [])
        rels = [f.relative_to(data_dir).as_posix() for f in files]
        async with db.read() as s:
            known = await segments.known_paths(s, rels)
        # A torn file before a sealed one of its name: if both are the very same file
        # (a recovery cut short between link and unlink), sealing the torn one ends it.
        queue: list[tuple[str, int, Path | TornFile]] = [
            (t.rel_path, 0, t) for t in torn_files.get(camera, [])
        ]
        queue += [(rel, 1, f) for rel, f in zip(rels, files, strict=True) if rel not in known]
        queue.sort(key=lambda c: (c[0], c[1]))
        adopted: set[str] = set()
        for rel, _, item in queue:
            if rel in adopted:
                continue  # sealed just now, from its .part
            path = item.path if isinstance(item, TornFile) else item
            await _guarded(
                db,
                data_dir,
                path,
                now,
                report,
                _adopt_orphan(db, data_dir, rel, item, now, report, adopted),
            )


async def _adopt_orphan(
    db: Database,
    data_dir: Path,
    rel: str,
    item: Path | TornFile,
    now: int,
    report: RecoveryReport,
    adopted: set[str],
) -> None:
    """Index one file without a row if it is provably ours, else quarantine it."""
    path = item.path if isinstance(item, TornFile) else item
    name = parse_segment_path(rel)
    if name is None:
        return  # a name that is not a segment's: verify reports it
    whole: Sealed | None = None
    if isinstance(item, TornFile):
        layout, kept, whole = item.layout, item.kept, item.whole
        async with db.read() as s:
            why = await _not_ours(s, data_dir, path, rel, layout, kept.sha256, torn_ok=True)
    else:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            why = "not a regular file"  # never hash what a symlink points to
        else:
            whole = kept = await asyncio.to_thread(hash_file, path)
            layout, _ = await asyncio.to_thread(scan_path, path)
            async with db.read() as s:
                why = await _not_ours(s, data_dir, path, rel, layout, kept.sha256)
    if why is not None:
        logger.error("%s: %s has no row and is not provably ours: %s", name.camera, rel, why)
        size = whole.bytes if whole else 0
        moved = await asyncio.to_thread(quarantine_file, data_dir, path, size, why)
        await _record_quarantined(db, moved, now, report, sha256=whole.sha256 if whole else None)
        return
    async with db.read() as s:
        camera_id = (await cameras.get_camera(s, name.camera)).id
    if isinstance(item, TornFile):
        if await _adopt_torn(db, data_dir, item, camera_id, now, report):
            adopted.add(rel)
        return
    found = segment_record(rel, name, kept, layout)
    await db.write(
        lambda s: _index_recovered(
            s, found, camera_id, now, state="sealed", kind="segment_reindexed"
        )
    )
    logger.warning("%s: indexed %s, a sealed file that had no row", name.camera, rel)
    report.reindexed.append(rel)


async def _not_ours(
    s: AsyncSession,
    data_dir: Path,
    path: Path,
    rel: str,
    layout: FileLayout,
    sha256: str,
    *,
    torn_ok: bool = False,
) -> str | None:
    """None if a file without a row is provably a segment we wrote; else why not.

    The rule (docs/design/recording.md, "Files without a row"): its name is the
    one we would give it; it is a whole segment file (a torn one, .part, may end in
    a torn fragment, which sealing cuts off); its run is one of its camera's and has
    no row at its sequence; it lies inside the run and meets its neighbours as
    segments of a run do; it has the codecs and the very init segment of its run;
    and it is not a copy of another of the run's segments.
    """
    name = parse_segment_path(rel)
    if name is None or segment_path(name.camera, name.start_us, name.run_id, name.sequence) != rel:
        return "its name is not the one its camera, day, run and sequence would give"
    if not layout.init_end or not layout.fragments or (layout.trailing and not torn_ok):
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
    if await segments.run_has_sha256(s, run.id, sha256):
        return "a copy of another segment of its run (same SHA-256)"
    return None


async def _check_recent_files(
    db: Database, vols: Volumes, now: int, report: RecoveryReport, present: set[str]
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
            page = [
                ref
                for ref in rows
                if ref.state in ("sealed", "recovered", "damaged") and ref.volume in present
            ]
            sizes = await asyncio.to_thread(_sizes, vols, names[camera_id], page)
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


def _sizes(vols: Volumes, camera: str, page: list[SegmentFileRef]) -> list[int | None]:
    """Each segment file's size; None if it is gone, -1 if it cannot be looked at."""
    out: list[int | None] = []
    roots = {name: str(vols.root(name)) for name in vols.names()}
    for ref in page:
        try:
            out.append(os.stat(f"{roots[ref.volume]}/{ref.path}").st_size)
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
    detail = it.detail()
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
    await segments.update_segment(s, row)
    await events.add_event(
        s,
        "segment_sealed_at_recovery",
        now,
        camera_id=seg.camera_id,
        segment_id=seg.id,
        detail={"path": seg.path},
    )


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
    await segments.update_segment(s, row)
    await _missing_event(s, seg, now)


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
        volume=seg.volume,
    )


# -- verification -----------------------------------------------------------


@dataclass
class VerifyReport:
    checked: int = 0
    ok: int = 0
    open: int = 0
    deleted: int = 0  # garbage or deleted under a retention policy: not re-hashed
    mismatched: list[str] = field(default_factory=list)  # hash or size differs: damaged
    missing_files: list[str] = field(default_factory=list)  # row without file: missing
    extra_files: list[str] = field(default_factory=list)  # file without row
    restored: list[str] = field(default_factory=list)  # damaged/missing, now intact again
    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # the same, one per item
    bytes_read: int = 0

    @property
    def consistent(self) -> bool:
        return not (self.mismatched or self.missing_files or self.extra_files or self.problems)


async def verify_archive(
    db: Database, storage: Storage, clock: Clock | None = None
) -> VerifyReport:
    """Re-hash every final segment, mark what is missing or damaged, list files without rows.

    A row whose file is gone becomes 'missing', one whose size or SHA-256 differs
    'damaged' (each once, with its event); a damaged or missing row whose file has
    the recorded size and SHA-256 again (put back from a copy) returns to its
    state before, with event 'segment_restored'. Rows are read in pages, and file
    names are checked against the index in batches as the directories are walked,
    so neither the rows nor the names are ever held in memory whole.

    verify may run while the service records: the walk comes after the rows, so a
    file whose row was written meanwhile is found with it, and a file found without
    a row is looked up again just before it is reported.
    """
    now = (clock or SystemClock()).now_us()
    report = VerifyReport()
    vols = as_volumes(storage)
    after = 0
    while True:
        async with db.read() as s:
            page = await segments.segments_page(s, after, _PAGE)
        if not page:
            break
        after = page[-1].id
        for seg in page:
            if seg.volume not in vols:
                report.problems.append(f"{seg.path} (segment {seg.id}): volume {seg.volume!r}")
                report.findings.append(
                    Finding(
                        "volume_unknown",
                        f"the segment is on volume {seg.volume!r}, which is not configured",
                        seg.id,
                        seg.path,
                    )
                )
                continue
            await _verify_segment(db, vols.root(seg.volume), seg, now, report)
    listing: list[str] = []
    for volume in vols.names():
        root = vols.root(volume)
        if not root.is_dir():
            listing.append(f"volume {volume}: {root} is not there")
            continue
        candidates: list[str] = []
        batches = _file_batches(root, _NAME_BATCH, listing)
        done: list[str] = []
        while batch := await asyncio.to_thread(next, batches, done):
            candidates.extend(await _without_row(db, batch))
        report.extra_files.extend(await _still_extra(db, root, candidates))
    report.findings.extend(
        Finding("file_extra", "a file in the archive that no row accounts for", path=rel)
        for rel in report.extra_files
    )
    report.problems.extend(listing)
    report.findings.extend(Finding("archive_unreadable", problem) for problem in listing)
    return report


async def _verify_segment(
    db: Database, data_dir: Path, seg: SegmentRecord, now: int, report: VerifyReport
) -> None:
    if seg.state in DELETION_STATES:
        # Deleted under a policy: the log says so (surveil/log_verify.py checks the entry).
        # 'garbage' is a deletion in progress (finished by the next pass or startup).
        report.deleted += 1
        if seg.state == "deleted" and os.path.lexists(f"{data_dir}/{seg.path}"):
            report.problems.append(f"{seg.path} (segment {seg.id}, deleted) is still there")
            report.findings.append(
                Finding(
                    "deleted_file_present",
                    "the segment is recorded as deleted but its file is there",
                    seg.id,
                    seg.path,
                )
            )
        return
    if seg.state == "open":
        report.open += 1
        # The .part first: its seal renames it, so the final name exists by the time
        # the .part is gone. Plain strings: a Path per row interns its parts.
        where = f"{data_dir}/{seg.path}"
        if not os.path.exists(where + PART_SUFFIX) and not os.path.exists(where):
            report.missing_files.append(f"{seg.path} (open segment {seg.id})")
            report.findings.append(
                Finding("file_missing", "open segment without its file", seg.id, seg.path)
            )
        return
    path = data_dir / seg.path
    report.checked += 1
    try:
        actual = await asyncio.to_thread(hash_file, path)
    except (FileNotFoundError, NotADirectoryError):
        if seg.state != "missing":
            await mark_segment_missing(db, seg, now)
        report.missing_files.append(f"{seg.path} (segment {seg.id}, missing)")
        report.findings.append(Finding("file_missing", "the file is gone", seg.id, seg.path))
        return
    except OSError as exc:
        report.problems.append(f"{seg.path} (segment {seg.id}): cannot read: {exc}")
        report.findings.append(Finding("file_unreadable", f"cannot read: {exc}", seg.id, seg.path))
        return
    report.bytes_read += actual.bytes
    if seg.sha256 is None:
        # A missing row that was never sealed: nothing to compare the file with.
        report.problems.append(f"{seg.path} (segment {seg.id}, {seg.state}) has no recorded hash")
        report.findings.append(
            Finding("segment_row_unsealed", f"{seg.state} without a hash", seg.id, seg.path)
        )
        return
    if actual.sha256 != seg.sha256 or actual.bytes != seg.bytes:
        reason = "size differs" if actual.bytes != seg.bytes else "sha256 differs"
        if seg.state != "damaged":
            await mark_segment_damaged(db, seg, actual.bytes, now, reason)
        report.mismatched.append(
            f"{seg.path} (segment {seg.id}, {reason}): index {seg.bytes} bytes "
            f"sha256 {seg.sha256}, file {actual.bytes} bytes sha256 {actual.sha256}"
        )
        report.findings.append(
            Finding(
                "file_changed",
                f"{reason}: the index has {seg.bytes} bytes sha256 {seg.sha256}, the file "
                f"{actual.bytes} bytes sha256 {actual.sha256}",
                seg.id,
                seg.path,
            )
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


def _file_batches(data_dir: Path, size: int, problems: list[str]) -> Iterator[list[str]]:
    """The files of the archive's directories, as relative paths, size at a time.

    Every directory of data_dir but quarantine/ holds footage; files directly in
    data_dir are the service's own (the SQLite index and its journals, secret.key,
    markers). Like os.walk: a symlinked directory at the top is followed, one deeper
    is neither followed nor listed. A directory is read entry by entry (scandir), so
    even a huge one is never held whole. A directory that cannot be read is a problem:
    its files are not checked.
    """
    batch: list[str] = []
    pending = [
        top.name
        for top in sorted(data_dir.iterdir())
        if top.name not in NOT_FOOTAGE_DIRS and top.is_dir()
    ]
    pending.reverse()
    while pending:
        rel_dir = pending.pop()
        subdirs: list[str] = []
        try:
            with os.scandir(data_dir / rel_dir) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            subdirs.append(f"{rel_dir}/{entry.name}")
                        continue
                    batch.append(f"{rel_dir}/{entry.name}")
                    if len(batch) >= size:
                        yield batch
                        batch = []
        except OSError as exc:
            problems.append(f"{rel_dir}/: cannot list: {exc}")
            continue
        pending.extend(sorted(subdirs, reverse=True))
    if batch:
        yield batch


async def _without_row(db: Database, rels: list[str]) -> list[str]:
    """The files of rels that no row accounts for: not an indexed segment, nor the .part
    of an open one."""
    parts = {rel.removesuffix(PART_SUFFIX): rel for rel in rels if rel.endswith(PART_SUFFIX)}
    others = [rel for rel in rels if not rel.endswith(PART_SUFFIX)]
    async with db.read() as s:
        known = await segments.known_paths(s, others)
        open_ = await segments.known_paths(s, list(parts), states=("open",))
    return [rel for rel in others if rel not in known] + [
        part for final, part in parts.items() if final not in open_
    ]


async def _still_extra(db: Database, data_dir: Path, candidates: list[str]) -> list[str]:
    """Of the files found without a row, those still there and still without one, and not
    the .part of a segment being written: the extra files, sorted."""
    present = [rel for rel in candidates if os.path.lexists(data_dir / rel)]
    left: list[str] = []
    for i in range(0, len(present), _NAME_BATCH):
        left.extend(await _without_row(db, present[i : i + _NAME_BATCH]))
    async with db.read() as s:
        writing = {rel for rel in left if await _being_written(s, rel)}
    return sorted(rel for rel in left if rel not in writing)


async def _being_written(s: AsyncSession, rel: str) -> bool:
    """Whether rel is the .part of the next segment of an open run of its camera.

    A recorder creates it before the segment's row: the row comes at its first
    durable fragment, or only at the seal with fsync = "segment". After a crash,
    until the next start, it is also what startup recovery will deal with.
    """
    name = parse_segment_path(rel)
    if (
        name is None
        or not rel.endswith(PART_SUFFIX)
        or segment_path(name.camera, name.start_us, name.run_id, name.sequence) + PART_SUFFIX != rel
    ):
        return False
    run = next((r for r in await runs.open_runs(s) if r.id == name.run_id), None)
    if run is None or name.start_us < run.start_us:
        return False
    try:
        if (await cameras.get_camera(s, name.camera)).id != run.camera_id:
            return False
    except CameraNotFound:
        return False
    if await segments.segment_by_run_sequence(s, run.id, name.sequence) is not None:
        return False
    _, later = await segments.run_neighbours(s, run.id, name.sequence)
    return later is None
