"""Startup recovery and verification of files and index together, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from index import bulk, cameras, events, runs, segments
from index.db import Database
from index.records import EventRecord, SegmentRecord, SegmentRow
from segmenter.paths import PART_SUFFIX, QUARANTINE_DIR, segment_path
from segmenter.storage import SegmentFile
from surveil.archive import (
    VerifyReport,
    mark_segment_damaged,
    mark_segment_missing,
    recover_archive,
    verify_archive,
)
from surveil.checkpoints import Checkpointer
from surveil.clock import FakeClock, SystemClock
from surveil.coverage import SEGMENT_DAMAGED, SEGMENT_MISSING, compute_coverage
from surveil.log_key import open_log_key
from tests.media import US, MediaLibrary, Recording, record
from tests.rows import sealed_segment
from tests.test_cli import surveil

BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
NOW_US = BASE_US + 3600 * US


@pytest.fixture(scope="module")
def rec(media: MediaLibrary) -> Recording:
    return record(media.path("h264_aac.mkv"), segment_us=2 * US)


class Archive:
    """Builds archive states the way the recorder leaves them, with real files."""

    def __init__(
        self, db: Database, data_dir: Path, rec: Recording, base_us: int = BASE_US
    ) -> None:
        self.db = db
        self.data_dir = data_dir
        self.rec = rec
        self.base_us = base_us  # wall time of the run's first frame

    async def camera(self, name: str) -> int:
        cam = await self.db.write(
            lambda s: cameras.ensure_camera(s, name, "rtsp://h/x", ["A01"], True, BASE_US)
        )
        return cam.id

    async def run(self, camera_id: int) -> int:
        return await self.db.write(
            lambda s: runs.start_run(s, camera_id, self.base_us, "connected")
        )

    def start_us(self, seq: int) -> int:
        return self.base_us + self.rec.started[seq].start_media_us

    def end_us(self, seq: int, fragments: int | None = None) -> int:
        frags = self.rec.fragments[seq][:fragments]
        if fragments is None:
            return self.base_us + self.rec.finished[seq].end_media_us
        return max((self.base_us + f.end_media_us for f in frags), default=self.start_us(seq))

    def rel(self, camera: str, run_id: int, seq: int) -> str:
        return segment_path(camera, self.start_us(seq), run_id, seq)

    def write_file(
        self, camera: str, run_id: int, seq: int, *, seal: bool, fragments: int | None = None
    ) -> tuple[str, bytes]:
        rel = self.rel(camera, run_id, seq)
        f = SegmentFile(self.data_dir, rel)
        f.append(self.rec.started[seq].init)
        for frag in self.rec.fragments[seq][:fragments]:
            f.append(frag.data)
        data = self.rec.started[seq].init + b"".join(
            frag.data for frag in self.rec.fragments[seq][:fragments]
        )
        if seal:
            f.seal()
        else:
            f.sync()
            f.abandon()
        return rel, data

    async def row(
        self,
        camera_id: int,
        run_id: int,
        seq: int,
        rel: str,
        *,
        state: str,
        data: bytes | None = None,
        fragments: int = 1,
        audio_codec: str | None = "aac",
    ) -> int:
        end = self.end_us(seq, fragments)
        sealed = state == "sealed"
        row = SegmentRow(
            camera_id=camera_id,
            run_id=run_id,
            sequence=seq,
            path=rel,
            start_us=self.start_us(seq),
            end_us=end,
            duration_us=end - self.start_us(seq),
            bytes=len(data) if data is not None else 0,
            sha256=hashlib.sha256(data).hexdigest() if sealed and data is not None else None,
            state=state,
            video_codec="h264",
            audio_codec=audio_codec,
            fragments=fragments,
            clock_sync="synced",
            camera_clock_offset_us=None,
            created_us=self.start_us(seq),
            sealed_us=self.end_us(seq) if sealed else None,
        )
        if state == "open":
            return await self.db.write(lambda s: segments.open_segment(s, row))
        return await self.db.write(lambda s: segments.upsert_segment(s, row))

    async def sealed(self, camera: str, camera_id: int, run_id: int, seq: int) -> tuple[str, bytes]:
        """A segment as the recorder seals it: the whole file, and its row."""
        rel, data = self.write_file(camera, run_id, seq, seal=True)
        frags = len(self.rec.fragments[seq])
        await self.row(camera_id, run_id, seq, rel, state="sealed", data=data, fragments=frags)
        return rel, data

    def plant(self, rel: str, data: bytes) -> str:
        """Copy bytes into the archive under a name, as an intruder (or a mistake) would."""
        path = self.data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return rel

    async def segments(self) -> dict[str, SegmentRecord]:
        async with self.db.read() as s:
            return {seg.path: seg for seg in await segments.all_segments(s)}

    async def events(self, kind: str | None = None) -> list[EventRecord]:
        async with self.db.read() as s:
            return await events.list_events(s, kind=kind, limit=1000)


@pytest.fixture
def archive(db: Database, tmp_path: Path, rec: Recording) -> Archive:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Archive(db, data_dir, rec)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_recovery_after_a_crash(archive: Archive, rec: Recording) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    # seq 0: sealed on disk and in the index (untouched by recovery)
    rel0, data0 = a.write_file("cam-a", run_id, 0, seal=True)
    await a.row(cam, run_id, 0, rel0, state="sealed", data=data0, fragments=len(rec.fragments[0]))
    # seq 1: (a) open row, torn .part (crash mid-fragment)
    rel1, whole1 = a.write_file("cam-a", run_id, 1, seal=False)
    await a.row(cam, run_id, 1, rel1, state="open", data=whole1[:100], fragments=1)
    keep1 = len(rec.fragments[1]) - 1
    kept1 = rec.started[1].init + b"".join(f.data for f in rec.fragments[1][:keep1])
    os.truncate(a.data_dir / (rel1 + PART_SUFFIX), len(kept1) + 77)
    # seq 2: (c) open row, but the file was renamed (crash between rename and index seal)
    rel2, data2 = a.write_file("cam-a", run_id, 2, seal=True)
    await a.row(cam, run_id, 2, rel2, state="open", data=data2[:100], fragments=1)
    # seq 3: (b) a .part whose row never reached the index
    rel3, data3 = a.write_file("cam-a", run_id, 3, seal=False)

    clock = FakeClock(NOW_US)
    report = await recover_archive(a.db, a.data_dir, clock)
    assert sorted(report.recovered) == sorted([rel1, rel3])
    assert report.sealed_late == [rel2]
    assert report.quarantined == [] and report.missing == []
    assert report.runs_closed == 1

    segs = await a.segments()
    assert set(segs) == {rel0, rel1, rel2, rel3}
    assert (segs[rel0].state, segs[rel0].sha256) == ("sealed", _sha(data0))
    # (a) recovered: exactly the complete fragments, hashed
    s1 = segs[rel1]
    assert (s1.state, s1.bytes, s1.sha256) == ("recovered", len(kept1), _sha(kept1))
    assert s1.fragments == keep1 and s1.end_us == a.end_us(1, keep1)
    assert (a.data_dir / rel1).read_bytes() == kept1
    assert not (a.data_dir / (rel1 + PART_SUFFIX)).exists()
    # (b) a row was made for the unindexed file, in its run
    s3 = segs[rel3]
    assert (s3.state, s3.bytes, s3.sha256) == ("recovered", len(data3), _sha(data3))
    assert (s3.camera, s3.run_id, s3.sequence) == ("cam-a", run_id, 3)
    assert (s3.start_us, s3.end_us) == (a.start_us(3), a.end_us(3, len(rec.fragments[3])))
    # (c) sealed late with the file's real size and hash
    s2 = segs[rel2]
    assert (s2.state, s2.bytes, s2.sha256) == ("sealed", len(data2), _sha(data2))
    assert s2.fragments == len(rec.fragments[2]) and s2.end_us == a.end_us(2, None)

    recovered = await a.events("segment_recovered")
    assert {e.detail["path"] for e in recovered} == {rel1, rel3}
    e1 = next(e for e in recovered if e.detail["path"] == rel1)
    assert e1.segment_id == s1.id and e1.camera_id == cam and e1.at_us == NOW_US
    assert e1.detail["truncated_bytes"] == 77 and e1.detail["bytes"] == len(kept1)
    [late] = await a.events("segment_sealed_at_recovery")
    assert late.segment_id == s2.id

    # (e) the crashed run ends where its footage ends, and a gap opens there
    async with a.db.read() as s:
        [run] = await runs.runs_for_camera(s, cam)
        gaps = await runs.gaps_overlapping(s, cam, 0, 2**62)
    assert run.end_reason == "recorder down"
    assert run.end_us == max(seg.end_us for seg in segs.values())
    assert [(g.start_us, g.end_us, g.reason) for g in gaps] == [(run.end_us, None, "recorder down")]

    verified = await verify_archive(a.db, a.data_dir)
    assert verified.consistent, verified
    assert (verified.checked, verified.ok, verified.open) == (4, 4, 0)

    # Recovery is idempotent: a second start finds nothing to do and records nothing.
    n_events = len(await a.events())
    again = await recover_archive(a.db, a.data_dir, clock)
    assert (again.recovered, again.sealed_late, again.missing, again.runs_closed) == ([], [], [], 0)
    assert len(await a.events()) == n_events
    # The camera can record again: its run was closed.
    await a.run(cam)


JUNK = b"\x00\x00\x10\x00moof" + b"\xee" * 300  # a fragment torn mid-write


def _part_events(evs: list[EventRecord]) -> dict[str, EventRecord]:
    return {str(e.detail["path"]): e for e in evs}


async def test_planted_part_files_are_quarantined_not_adopted(archive: Archive) -> None:
    """A .part without an open row is adopted only when provably ours; a planted one makes
    no camera, no run and no row, and is quarantined with every byte, torn tail and all."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel0, data0 = await a.sealed("cam-a", cam, run_id, 0)
    planted: dict[str, tuple[bytes, str]] = {}
    # A camera the index does not know (it used to become camera 'evil', with a run).
    rel, data = a.write_file("evil", 999, 0, seal=False)
    planted[rel + PART_SUFFIX] = (data, "camera 'evil' is not in the index")
    # A known camera, but a run the index never had.
    rel, data = a.write_file("cam-a", run_id + 40, 1, seal=False)
    planted[rel + PART_SUFFIX] = (data, f"run {run_id + 40} is not one of this camera's runs")
    # The right place and time in the run, but a copy of the segment before it.
    rel = a.plant(a.rel("cam-a", run_id, 1) + PART_SUFFIX, data0)
    planted[rel] = (data0, "a copy of another segment of its run")
    # The run's segment 2 while 1 was never there.
    rel, data = a.write_file("cam-a", run_id, 2, seal=False)
    planted[rel + PART_SUFFIX] = (data, "does not follow on from its run")
    for rel, (data, why) in planted.items():
        with open(a.data_dir / rel, "ab") as f:
            f.write(JUNK)
        planted[rel] = (data + JUNK, why)

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.recovered == [] and report.reindexed == []
    assert sorted(report.quarantined) == sorted(f"{QUARANTINE_DIR}/{r}" for r in planted)
    quarantined = _part_events(await a.events("segment_quarantined"))
    assert set(quarantined) == set(planted)
    for rel, (data, why) in planted.items():
        assert not (a.data_dir / rel).exists()
        assert not (a.data_dir / rel.removesuffix(PART_SUFFIX)).exists()
        assert (a.data_dir / QUARANTINE_DIR / rel).read_bytes() == data, "nothing is cut off"
        ev = quarantined[rel]
        assert why in str(ev.detail["reason"]), (rel, ev.detail["reason"])
        assert (ev.detail["bytes"], ev.detail["sha256"]) == (len(data), _sha(data))
        assert ev.segment_id is None
    assert quarantined[a.rel("evil", 999, 0) + PART_SUFFIX].camera_id is None
    # The index gained nothing: no camera from a directory name, no run, no row.
    assert set(await a.segments()) == {rel0}
    async with a.db.read() as s:
        names = {c.name for c in await cameras.list_cameras(s, include_deleted=True)}
        cam_runs = await runs.runs_for_camera(s, cam)
    assert names == {"cam-a"}
    assert [r.id for r in cam_runs] == [run_id] and report.runs_closed == 1
    assert (await verify_archive(a.db, a.data_dir)).consistent
    again = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert (again.recovered, again.quarantined) == ([], [])


async def test_part_without_a_row_is_recovered_when_provably_ours(
    archive: Archive, rec: Recording
) -> None:
    """The recorder creates NAME.part before it writes the segment's row (at the first durable
    fragment, or at the seal with fsync = "segment"), so a crash can leave a genuine .part with
    no row: it is cut to its last complete fragment and recovered, being provably ours."""
    a = archive
    # fsync = "fragment", killed before the row of segment 1 was written.
    cam_a = await a.camera("cam-a")
    run_a = await a.run(cam_a)
    await a.sealed("cam-a", cam_a, run_a, 0)
    rel_a, data_a = a.write_file("cam-a", run_a, 1, seal=False)
    # fsync = "segment", killed after segment 0's rename but before its row, with
    # segment 1 already begun: neither has a row.
    cam_b = await a.camera("cam-b")
    run_b = await a.run(cam_b)
    rel_b0, data_b0 = a.write_file("cam-b", run_b, 0, seal=True)
    rel_b1, data_b1 = a.write_file("cam-b", run_b, 1, seal=False, fragments=1)
    # The first segment of a run, killed before its first row.
    cam_c = await a.camera("cam-c")
    run_c = await a.run(cam_c)
    rel_c, data_c = a.write_file("cam-c", run_c, 0, seal=False)
    for rel in (rel_a, rel_b1, rel_c):
        with open(a.data_dir / (rel + PART_SUFFIX), "ab") as f:
            f.write(JUNK)

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert sorted(report.recovered) == sorted([rel_a, rel_b1, rel_c])
    assert report.reindexed == [rel_b0] and report.quarantined == []
    rows = await a.segments()
    for rel, data, run_id, seq in (
        (rel_a, data_a, run_a, 1),
        (rel_b1, data_b1, run_b, 1),
        (rel_c, data_c, run_c, 0),
    ):
        assert (a.data_dir / rel).read_bytes() == data, "the torn tail is cut off"
        assert not (a.data_dir / (rel + PART_SUFFIX)).exists()
        row = rows[rel]
        assert (row.state, row.bytes, row.sha256) == ("recovered", len(data), _sha(data))
        assert (row.run_id, row.sequence, row.start_us) == (run_id, seq, a.start_us(seq))
    assert (rows[rel_b0].state, rows[rel_b0].sha256) == ("sealed", _sha(data_b0))
    recovered = _part_events(await a.events("segment_recovered"))
    assert recovered[rel_a].detail["truncated_bytes"] == len(JUNK)
    assert (await verify_archive(a.db, a.data_dir)).consistent


async def test_part_beside_its_sealed_file_never_replaces_it(
    archive: Archive, rec: Recording
) -> None:
    """A .part next to a file of its final name is quarantined: the rename would have
    replaced the sealed file (a deletion without a record) and recovery then aborted."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel0, data0 = await a.sealed("cam-a", cam, run_id, 0)
    other = rec.started[1].init + rec.fragments[1][0].data
    planted = a.plant(rel0 + PART_SUFFIX, other)
    # An open row whose file was renamed (a crash before the seal's row write), and a
    # .part of the same name beside it: the sealed file is the one sealed late.
    rel1, data1 = a.write_file("cam-a", run_id, 1, seal=True)
    await a.row(cam, run_id, 1, rel1, state="open", data=data1[:100], fragments=1)
    beside = a.plant(rel1 + PART_SUFFIX, other)

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert (a.data_dir / rel0).read_bytes() == data0
    assert (a.data_dir / rel1).read_bytes() == data1
    assert sorted(report.quarantined) == sorted(f"{QUARANTINE_DIR}/{r}" for r in (planted, beside))
    assert report.recovered == [] and report.sealed_late == [rel1]
    quarantined = _part_events(await a.events("segment_quarantined"))
    for rel in (planted, beside):
        assert (a.data_dir / QUARANTINE_DIR / rel).read_bytes() == other
        assert quarantined[rel].camera_id == cam
    assert f"run {run_id} already has segment 0" in str(quarantined[planted].detail["reason"])
    assert "already exists" in str(quarantined[beside].detail["reason"])
    rows = await a.segments()
    assert (rows[rel0].state, rows[rel0].sha256) == ("sealed", _sha(data0))
    assert (rows[rel1].state, rows[rel1].sha256) == ("sealed", _sha(data1))
    assert (await verify_archive(a.db, a.data_dir)).consistent


async def test_part_that_is_not_a_regular_file_is_quarantined(
    archive: Archive, rec: Recording, tmp_path: Path
) -> None:
    """A symlink is never followed (recovery would cut the file it points to) and a
    directory never stops the start: each is moved to quarantine, as it is."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(rec.file_bytes(0) + JUNK)
    link = a.data_dir / (a.rel("cam-a", run_id, 0) + PART_SUFFIX)
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    folder = a.data_dir / (a.rel("cam-a", run_id, 1) + PART_SUFFIX)
    folder.mkdir()
    (folder / "inside.txt").write_bytes(b"kept")

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    moved = {f"{QUARANTINE_DIR}/{p.relative_to(a.data_dir).as_posix()}" for p in (link, folder)}
    assert set(report.quarantined) == moved
    assert outside.read_bytes() == rec.file_bytes(0) + JUNK, "the link's target is untouched"
    assert (a.data_dir / QUARANTINE_DIR / link.relative_to(a.data_dir)).is_symlink()
    assert (a.data_dir / QUARANTINE_DIR / folder.relative_to(a.data_dir) / "inside.txt").is_file()
    reasons = {e.detail["reason"] for e in await a.events("segment_quarantined")}
    assert reasons == {"not a regular file"}
    assert await a.segments() == {}
    assert (await verify_archive(a.db, a.data_dir)).consistent


async def test_open_row_without_file_becomes_missing(archive: Archive) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel = a.rel("cam-a", run_id, 0)
    seg_id = await a.row(cam, run_id, 0, rel, state="open", data=b"x" * 5000, fragments=2)

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.missing == [rel] and report.runs_closed == 1
    seg = (await a.segments())[rel]
    assert (seg.state, seg.sha256) == ("missing", None)
    [ev] = await a.events("segment_missing")
    assert (ev.segment_id, ev.camera_id, ev.detail["path"]) == (seg_id, cam, rel)
    async with a.db.read() as s:
        [run] = await runs.runs_for_camera(s, cam)
    assert run.end_us == seg.end_us and run.end_reason == "recorder down"
    # The loss stays visible to verify: the row has no file.
    verified = await verify_archive(a.db, a.data_dir)
    assert [m.split(" ")[0] for m in verified.missing_files] == [rel]


async def test_a_file_recovery_cannot_handle_does_not_stop_the_start(
    archive: Archive, rec: Recording
) -> None:
    """One bad file must not keep the service from starting: it is left where it is,
    with an event, and the other files are recovered."""
    a = archive
    cam = await a.camera("cam-a")
    run_a = await a.run(cam)
    stuck, _ = a.write_file("cam-a", run_a, 0, seal=False)
    await a.row(cam, run_a, 0, stuck, state="open", data=b"", fragments=0)
    part = a.data_dir / (stuck + PART_SUFFIX)
    with open(part, "ab") as f:
        f.write(JUNK)  # sealing must cut it off, which an immutable file refuses
    cam_b = await a.camera("cam-b")
    run_b = await a.run(cam_b)
    rel_b, data_b = a.write_file("cam-b", run_b, 0, seal=False)
    await a.row(cam_b, run_b, 0, rel_b, state="open", data=b"", fragments=0)
    if subprocess.run(["chattr", "+i", str(part)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
        assert part.is_file()
    finally:
        subprocess.run(["chattr", "-i", str(part)], check=True)
    assert report.failed == [stuck + PART_SUFFIX]
    assert report.recovered == [rel_b] and report.runs_closed == 2
    [ev] = await a.events("recovery_failed")
    assert ev.detail["path"] == stuck + PART_SUFFIX
    assert "PermissionError" in str(ev.detail["error"])
    assert (await a.segments())[rel_b].sha256 == _sha(data_b)


async def test_segment_missing_events_have_one_shape(archive: Archive) -> None:
    """Startup (an open row whose files are gone) and mark_segment_missing (a sealed row
    whose file is gone) write the same event: path, recorded bytes, the state before."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel0, data0 = await a.sealed("cam-a", cam, run_id, 0)
    rel1 = a.rel("cam-a", run_id, 1)
    await a.row(cam, run_id, 1, rel1, state="open", data=b"x" * 5000, fragments=2)
    (a.data_dir / rel0).unlink()

    await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    details = {e.detail["path"]: e.detail for e in await a.events("segment_missing")}
    assert details == {
        rel0: {"path": rel0, "bytes": len(data0), "was": "sealed"},
        rel1: {"path": rel1, "bytes": 5000, "was": "open"},
    }


async def test_torn_file_without_fragments_is_quarantined_and_reported(
    archive: Archive,
) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel, init_only = a.write_file("cam-a", run_id, 0, seal=False, fragments=0)
    await a.row(cam, run_id, 0, rel, state="open", data=b"", fragments=0)

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    moved = f"{QUARANTINE_DIR}/{rel}{PART_SUFFIX}"
    assert report.quarantined == [moved]
    assert (a.data_dir / moved).read_bytes() == init_only
    [ev] = await a.events("segment_quarantined")
    assert ev.camera_id == cam
    assert ev.detail == {
        "path": rel + PART_SUFFIX,
        "moved_to": moved,
        "bytes": len(init_only),
        "reason": "no complete fragment",
    }
    # Its open row now says what happened to the footage.
    assert (await a.segments())[rel].state == "missing"
    assert report.missing == [rel]


async def test_crashed_run_ends_at_its_last_segment_in_a_large_archive(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's end must not depend on how many rows a range query may return."""
    a = archive
    other = await a.camera("aaa-first-by-name")
    other_run = await a.run(other)
    for seq in range(3):
        rel, data = a.write_file("aaa-first-by-name", other_run, seq, seal=True)
        await a.row(other, other_run, seq, rel, state="sealed", data=data)
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    for seq in range(3):
        rel, data = a.write_file("cam-a", run_id, seq, seal=True)
        await a.row(cam, run_id, seq, rel, state="sealed", data=data)
    # Stand-in for an archive larger than the query's row limit.
    real = segments.segments_overlapping

    async def capped(*args: object, **kwargs: object) -> list[SegmentRecord]:
        kwargs["limit"] = 2
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(segments, "segments_overlapping", capped)
    await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    async with a.db.read() as s:
        [run] = await runs.runs_for_camera(s, cam)
    assert run.end_us == a.end_us(2, 1)


async def test_run_without_segments_ends_at_its_start(archive: Archive) -> None:
    a = archive
    cam = await a.camera("cam-a")
    await a.run(cam)
    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.runs_closed == 1
    async with a.db.read() as s:
        [run] = await runs.runs_for_camera(s, cam)
    assert (run.end_us, run.end_reason) == (BASE_US, "recorder down")


async def test_verify_finds_every_kind_of_damage(archive: Archive, rec: Recording) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rels = []
    for seq in range(4):
        rel, data = a.write_file("cam-a", run_id, seq, seal=True)
        await a.row(cam, run_id, seq, rel, state="sealed", data=data, fragments=1)
        rels.append(rel)
    # an open segment being written, with its .part: not an error
    rel_open, _ = a.write_file("cam-a", run_id, 4, seal=False)
    await a.row(cam, run_id, 4, rel_open, state="open", data=b"", fragments=0)
    # files that are not segments, and quarantined ones, are not verify's business
    (a.data_dir / "notes.mp4").write_bytes(b"not a segment")
    q = a.data_dir / QUARANTINE_DIR / rels[0]
    q.parent.mkdir(parents=True)
    q.write_bytes(b"quarantined")

    clean = await verify_archive(a.db, a.data_dir)
    assert clean.consistent, clean
    assert (clean.checked, clean.ok, clean.open) == (4, 4, 1)

    # flip one byte in the middle of segment 0
    p0 = a.data_dir / rels[0]
    data = bytearray(p0.read_bytes())
    data[len(data) // 2] ^= 0x01
    p0.write_bytes(bytes(data))
    # delete segment 1
    (a.data_dir / rels[1]).unlink()
    # truncate segment 2 (size differs)
    os.truncate(a.data_dir / rels[2], 1000)
    # an extra file with a segment name, and an extra .part, neither indexed
    extra = a.rel("cam-a", run_id + 5, 5)
    shutil.copy(a.data_dir / rels[3], a.data_dir / extra)
    extra_part = a.rel("cam-a", run_id + 1, 0) + PART_SUFFIX
    shutil.copy(a.data_dir / rels[3], a.data_dir / extra_part)
    # files that match no segment name, inside the archive's directories
    day_dir = rels[0].rsplit("/", 1)[0]
    strays = [a.plant(f"{day_dir}/notes.txt", b"x"), a.plant("cam-a/clip.mp4", b"x")]
    strays.append(a.plant("unknown/2026/01/01/copy.mp4", b"x"))

    report = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert not report.consistent
    assert (report.checked, report.ok, report.open) == (4, 1, 1)
    assert sorted(m.split(" ")[0] for m in report.mismatched) == sorted([rels[0], rels[2]])
    assert [m.split(" ")[0] for m in report.missing_files] == [rels[1]]
    assert sorted(report.extra_files) == sorted([extra, extra_part, *strays])
    # What verify found is now in the index, with an event for each.
    rows = await a.segments()
    assert [rows[r].state for r in rels] == ["damaged", "missing", "damaged", "sealed"]
    damaged = {e.detail["path"]: e.detail for e in await a.events("segment_damaged")}
    assert damaged[rels[0]]["reason"] == "sha256 differs"
    assert (damaged[rels[2]]["reason"], damaged[rels[2]]["actual_bytes"]) == ("size differs", 1000)
    assert [e.detail["path"] for e in await a.events("segment_missing")] == [rels[1]]
    # Verify keeps reporting them, and marks nothing twice.
    n_events = len(await a.events())
    again = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert (again.mismatched, again.missing_files) == (report.mismatched, report.missing_files)
    assert len(await a.events()) == n_events


async def test_verify_open_row_whose_files_vanished(archive: Archive) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel = a.rel("cam-a", run_id, 0)
    await a.row(cam, run_id, 0, rel, state="open", data=b"", fragments=0)
    report = await verify_archive(a.db, a.data_dir)
    assert not report.consistent and report.open == 1
    assert [m.split(" ")[0] for m in report.missing_files] == [rel]


async def _open_rows_with_parts(
    a: Archive, camera_id: int, run_id: int, first: int, n: int
) -> None:
    """n open rows from sequence first on, each with its (empty) .part, all in one directory."""
    rows = []
    for seq in range(first, first + n):
        start = BASE_US + seq * 1000
        rel = segment_path("cam-a", start, run_id, seq)
        rows.append(
            dataclasses.asdict(
                dataclasses.replace(
                    sealed_segment(camera_id, run_id, seq, rel, start, start + 1000),
                    state="open",
                    sha256=None,
                    bytes=0,
                    sealed_us=None,
                )
            )
        )
        part = a.data_dir / (rel + PART_SUFFIX)
        part.parent.mkdir(parents=True, exist_ok=True)
        part.touch()
    await bulk.insert_segments(a.db, rows)


async def _verify_peak(a: Archive) -> tuple[VerifyReport, int]:
    """verify's report and the peak of the memory it allocated."""
    # The test process's own objects out of the collector's way: otherwise a full
    # collection waits until the heap grew by a quarter, and the cyclic garbage of
    # each page (SQLAlchemy's) piles up in between as if verify kept it.
    gc.collect()
    gc.freeze()
    tracemalloc.start()
    try:
        report = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    return report, peak


async def test_verify_memory_does_not_grow_with_the_archive(archive: Archive) -> None:
    """verify holds a page of rows and a batch of file names, never a set of every path:
    at 20 M rows that set alone would be gigabytes."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    small, large = 2500, 7000  # both past the first two pages of rows: the peak of a page
    await _open_rows_with_parts(a, cam, run_id, 0, small)
    report, peak_small = await _verify_peak(a)
    assert report.consistent and report.open == small
    await _open_rows_with_parts(a, cam, run_id, small, large - small)
    report, peak_large = await _verify_peak(a)
    assert report.consistent and report.open == large
    # Holding each path (two, with its .part) costs about 300 bytes a row.
    per_row = (peak_large - peak_small) / (large - small)
    assert per_row < 60, f"verify's peak grew by {per_row:.0f} bytes a row"


async def test_verify_does_not_report_files_created_while_it_runs(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify runs while the service records: a file whose row lands while verify looks, or
    that appears after verify read the rows, is not a file without a row."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    await a.sealed("cam-a", cam, run_id, 0)
    # Sealed and renamed, its row write still queued when verify lists the directory.
    rel1, data1 = a.write_file("cam-a", run_id, 1, seal=True)
    notes = a.plant(rel1.rsplit("/", 1)[0] + "/notes.txt", b"not footage")
    cam_b = await a.camera("cam-b")
    run_b = await a.run(cam_b)
    frags = len(a.rec.fragments[1])
    late: dict[str, str] = {}
    real_page = segments.segments_page
    real_known = segments.known_paths

    async def page_then_record(*args: Any, **kwargs: Any) -> list[SegmentRecord]:
        page = await real_page(*args, **kwargs)
        if not page and "part" not in late:
            # verify has read every row; meanwhile cam-a begins segment 2 (its row opens
            # at the first durable fragment) and cam-b, with fsync = "segment", begins
            # segment 0 (no row until its seal).
            rel2, _ = a.write_file("cam-a", run_id, 2, seal=False)
            await a.row(cam, run_id, 2, rel2, state="open", data=b"", fragments=0)
            late["part"], _ = a.write_file("cam-b", run_b, 0, seal=False)
        return page

    async def look_then_seal(s: Any, paths: Any, *args: Any, **kwargs: Any) -> set[str]:
        found = await real_known(s, paths, *args, **kwargs)
        if rel1 in paths and "row" not in late:
            late["row"] = rel1  # the queued seal of segment 1 lands just after the look
            await a.row(cam, run_id, 1, rel1, state="sealed", data=data1, fragments=frags)
        return found

    monkeypatch.setattr(segments, "segments_page", page_then_record)
    monkeypatch.setattr(segments, "known_paths", look_then_seal)
    report = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.extra_files == [notes], report
    assert set(late) == {"part", "row"}, "verify looked at the files after reading the rows"
    monkeypatch.undo()
    again = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert again.extra_files == [notes] and (again.ok, again.open) == (2, 1)


async def test_sealed_file_without_a_row_is_indexed_at_startup(archive: Archive) -> None:
    """A crash between the seal's rename and its index write leaves a file with no row."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    await a.sealed("cam-a", cam, run_id, 0)
    rel1, data1 = a.write_file("cam-a", run_id, 1, seal=True)  # no row: the orphan
    await a.sealed("cam-a", cam, run_id, 2)  # its successor's row did reach the index
    rel3, data3 = a.write_file("cam-a", run_id, 3, seal=True)  # the run's last, no row
    # The first segment of a run that has no rows yet (fsync = "segment").
    cam_b = await a.camera("cam-b")
    run_b = await a.run(cam_b)
    rel_b, data_b = a.write_file("cam-b", run_b, 0, seal=True)

    before = await verify_archive(a.db, a.data_dir)
    assert sorted(before.extra_files) == sorted([rel1, rel3, rel_b])

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert sorted(report.reindexed) == sorted([rel1, rel3, rel_b])
    assert report.quarantined == []
    rows = await a.segments()
    for rel, data, run, seq in (
        (rel1, data1, run_id, 1),
        (rel3, data3, run_id, 3),
        (rel_b, data_b, run_b, 0),
    ):
        assert rows[rel].state == "sealed"
        assert rows[rel].sha256 == _sha(data) and rows[rel].bytes == len(data)
        assert rows[rel].run_id == run and rows[rel].sequence == seq
    reindexed = await a.events("segment_reindexed")
    assert sorted(e.detail["path"] for e in reindexed) == sorted([rel1, rel3, rel_b])
    assert (await verify_archive(a.db, a.data_dir)).consistent
    again = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert again.reindexed == [] and again.quarantined == []


async def test_recovered_row_keeps_the_time_provenance_of_its_open_row(
    archive: Archive,
) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel, data = a.write_file("cam-a", run_id, 0, seal=False, fragments=2)
    await a.row(cam, run_id, 0, rel, state="open", data=data, fragments=1)
    before = (await a.segments())[rel]
    assert before.clock_sync == "synced"

    await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    after = (await a.segments())[rel]
    assert after.state == "recovered"
    assert after.clock_sync == "synced"
    assert after.created_us == before.created_us


# -- planted, deleted and damaged files (docs/design/recording.md) ----------


async def test_planted_files_are_quarantined_not_indexed(
    archive: Archive, rec: Recording, media: MediaLibrary
) -> None:
    """A file copied in under a segment name is not evidence: only what is provably ours is."""
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel0, data0 = await a.sealed("cam-a", cam, run_id, 0)
    rel1, data1 = await a.sealed("cam-a", cam, run_id, 1)
    # cam-b's run ended (recorder stopped) where its only segment ends.
    cam_b = await a.camera("cam-b")
    run_b = await a.run(cam_b)
    rel_b, _ = await a.sealed("cam-b", cam_b, run_b, 0)
    await a.db.write(lambda s: runs.end_run(s, run_b, a.end_us(0), "recorder stopped"))
    # cam-c records without audio: a file with audio does not belong to its run.
    cam_c = await a.camera("cam-c")
    run_c = await a.run(cam_c)
    silent = Archive(a.db, a.data_dir, record(media.path("h264_noaudio.mkv"), segment_us=2 * US))
    rel_c, data_c = silent.write_file("cam-c", run_c, 0, seal=True)
    frags_c = len(silent.rec.fragments[0])
    await silent.row(
        cam_c, run_c, 0, rel_c, state="sealed", data=data_c, fragments=frags_c, audio_codec=None
    )

    day = a.rel("cam-a", run_id, 0).rsplit("/", 1)[0]
    planted = {
        # a run the index never had
        a.plant(a.rel("cam-a", run_id + 40, 2), data1): "run",
        # cam-b's run, filed under cam-a
        a.plant(segment_path("cam-a", a.start_us(1), run_b, 1), data1): "run",
        # a camera the index does not know
        a.plant(segment_path("intruder", a.start_us(2), run_id, 2), data1): "camera",
        # the right run, but segments 2 and 3 were never there
        a.plant(a.rel("cam-a", run_id, 4), data1): "follow",
        # the right place and time, but a copy of a segment the run already has
        a.plant(a.rel("cam-a", run_id, 2), data0): "copy",
        # the next sequence number, at a time that does not meet its predecessor
        a.plant(segment_path("cam-a", a.start_us(2) + 5 * US, run_id, 2), data1): "follow",
        # after the end of its run
        a.plant(a.rel("cam-b", run_b, 1), data1): "outside",
        # codecs the run was not recorded with
        a.plant(a.rel("cam-c", run_c, 1), data1): "codec",
        # not a segment at all, under a segment name
        a.plant(segment_path("cam-a", a.start_us(5), run_id, 5), b"not a video"): "whole",
        # a name whose day directory is not its start's
        a.plant(f"{day[:-2]}02/{a.rel('cam-a', run_id, 2).rsplit('/', 1)[1]}", data1): "name",
    }

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.reindexed == []
    assert sorted(report.quarantined) == sorted(f"{QUARANTINE_DIR}/{r}" for r in planted)
    for rel in planted:
        assert not (a.data_dir / rel).exists(), rel
        assert (a.data_dir / QUARANTINE_DIR / rel).is_file(), rel
    quarantined = {e.detail["path"]: e for e in await a.events("segment_quarantined")}
    assert set(quarantined) == set(planted)
    for rel, why in planted.items():
        ev = quarantined[rel]
        data = (a.data_dir / QUARANTINE_DIR / rel).read_bytes()
        assert ev.detail["moved_to"] == f"{QUARANTINE_DIR}/{rel}"
        assert (ev.detail["bytes"], ev.detail["sha256"]) == (len(data), _sha(data))
        assert why in str(ev.detail["reason"]), (rel, ev.detail["reason"])
        assert ev.segment_id is None
    # Nothing was indexed, and a planted camera directory made no camera.
    assert set(await a.segments()) == {rel0, rel1, rel_b, rel_c}
    async with a.db.read() as s:
        assert "intruder" not in {
            c.name for c in await cameras.list_cameras(s, include_deleted=True)
        }
    assert (await verify_archive(a.db, a.data_dir)).consistent
    # A second start finds nothing more to do.
    again = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert (again.reindexed, again.quarantined) == ([], [])


DAY_US = 86_400 * US


async def test_deleted_and_cut_short_files_are_marked_at_startup(
    archive: Archive, rec: Recording
) -> None:
    """Startup stats the files of each camera's rows of the 24 hours before its newest
    segment; verify does all."""
    a = archive
    cam = await a.camera("cam-a")
    # A week-old run, outside the startup check.
    old = Archive(a.db, a.data_dir, rec, base_us=BASE_US - 7 * DAY_US)
    old_run = await old.run(cam)
    old_rel, old_data = await old.sealed("cam-a", cam, old_run, 0)
    await a.db.write(lambda s: runs.end_run(s, old_run, old.end_us(0), "recorder stopped"))
    run_id = await a.run(cam)
    made = [await a.sealed("cam-a", cam, run_id, seq) for seq in range(4)]
    rels = [rel for rel, _ in made]
    (a.data_dir / rels[1]).unlink()  # deleted
    os.truncate(a.data_dir / rels[2], 1000)  # cut short
    flipped = bytearray((a.data_dir / rels[3]).read_bytes())  # same size, other bytes
    flipped[len(flipped) // 2] ^= 0x01
    (a.data_dir / rels[3]).write_bytes(bytes(flipped))
    (a.data_dir / old_rel).unlink()
    recorded = await a.segments()

    report = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert report.missing == [rels[1]]
    assert report.damaged == [rels[2]]
    rows = await a.segments()
    assert [rows[r].state for r in rels] == ["sealed", "missing", "damaged", "sealed"]
    # The recorded size and hash stay: they say what the evidence was.
    for r in rels:
        assert (rows[r].bytes, rows[r].sha256) == (recorded[r].bytes, recorded[r].sha256)
    [gone] = await a.events("segment_missing")
    assert (gone.segment_id, gone.camera_id, gone.at_us) == (rows[rels[1]].id, cam, NOW_US)
    assert gone.detail == {"path": rels[1], "bytes": recorded[rels[1]].bytes, "was": "sealed"}
    [cut] = await a.events("segment_damaged")
    assert (cut.segment_id, cut.camera_id) == (rows[rels[2]].id, cam)
    assert cut.detail == {
        "path": rels[2],
        "expected_bytes": recorded[rels[2]].bytes,
        "actual_bytes": 1000,
        "sha256": recorded[rels[2]].sha256,
        "reason": "size differs",
        "was": "sealed",
    }
    # Hashing is verify's job; the week-old file is beyond what startup stats.
    assert rows[old_rel].state == "sealed"

    # Coverage shows both holes with their reasons.
    async with a.db.read() as s:
        segs = await segments.segments_overlapping(s, "cam-a", BASE_US, a.end_us(3))
    c = compute_coverage(BASE_US, a.end_us(3), segs, [])
    assert [(g.start_us, g.end_us, g.reason) for g in c.gaps] == [
        (a.start_us(1), a.end_us(1), SEGMENT_MISSING),
        (a.start_us(2), a.end_us(2), SEGMENT_DAMAGED),
    ]

    # A second start records nothing new.
    n_events = len(await a.events())
    again = await recover_archive(a.db, a.data_dir, FakeClock(NOW_US))
    assert (again.missing, again.damaged) == ([], [])
    assert len(await a.events()) == n_events

    verified = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US + US))
    assert not verified.consistent
    rows = await a.segments()
    assert (rows[old_rel].state, rows[rels[3]].state) == ("missing", "damaged")
    assert sorted(m.split(" ")[0] for m in verified.missing_files) == sorted([old_rel, rels[1]])
    assert sorted(m.split(" ")[0] for m in verified.mismatched) == sorted([rels[2], rels[3]])
    flipped_ev = next(e for e in await a.events("segment_damaged") if e.detail["path"] == rels[3])
    assert flipped_ev.detail["reason"] == "sha256 differs"
    assert flipped_ev.detail["actual_bytes"] == recorded[rels[3]].bytes

    # Put back from a copy, the files are intact again: verify clears the marks.
    for rel, data in [*made[1:], (old_rel, old_data)]:
        (a.data_dir / rel).write_bytes(data)
    restored = await verify_archive(a.db, a.data_dir, FakeClock(NOW_US + 2 * US))
    assert restored.consistent, restored
    assert sorted(restored.restored) == sorted([*rels[1:], old_rel])
    rows = await a.segments()
    assert {rows[r].state for r in [*rels, old_rel]} == {"sealed"}
    back = {e.detail["path"]: e.detail for e in await a.events("segment_restored")}
    assert back[rels[1]] == {"path": rels[1], "was": "missing", "now": "sealed"}
    assert back[rels[2]]["was"] == "damaged"
    assert (await verify_archive(a.db, a.data_dir)).restored == []


async def test_marking_is_idempotent_and_leaves_open_segments_alone(archive: Archive) -> None:
    a = archive
    cam = await a.camera("cam-a")
    run_id = await a.run(cam)
    rel0, _ = await a.sealed("cam-a", cam, run_id, 0)
    rel1, _ = await a.sealed("cam-a", cam, run_id, 1)
    rel_open, _ = a.write_file("cam-a", run_id, 2, seal=False)
    await a.row(cam, run_id, 2, rel_open, state="open", data=b"", fragments=0)
    rows = await a.segments()

    for _ in range(2):
        await mark_segment_damaged(a.db, rows[rel0], 10, NOW_US, "size differs")
        await mark_segment_missing(a.db, rows[rel1], NOW_US)
        await mark_segment_damaged(a.db, rows[rel_open], 10, NOW_US, "size differs")
        await mark_segment_missing(a.db, rows[rel_open], NOW_US)
    after = await a.segments()
    assert [after[r].state for r in (rel0, rel1, rel_open)] == ["damaged", "missing", "open"]
    assert len(await a.events("segment_damaged")) == 1
    assert len(await a.events("segment_missing")) == 1
    # A damaged file that then disappears is missing.
    await mark_segment_missing(a.db, after[rel0], NOW_US)
    assert (await a.segments())[rel0].state == "missing"
    assert [e.detail["was"] for e in await a.events("segment_missing")] == ["damaged", "sealed"]


def test_cli_verify_reports_marks_and_clears(tmp_path: Path, rec: Recording) -> None:
    """`surveil verify`: damaged, missing and extra are named and fail; put back, they clear."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    async def build() -> tuple[list[str], list[bytes]]:
        db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
        try:
            a = Archive(db, data_dir, rec)
            cam = await a.camera("cam-a")
            run_id = await a.run(cam)
            made = [await a.sealed("cam-a", cam, run_id, seq) for seq in range(3)]
            # What the service does at start: sign a checkpoint of the log.
            signer = open_log_key(data_dir)
            await Checkpointer(db, SystemClock(), signer.name, [signer]).issue()
            return [rel for rel, _ in made], [data for _, data in made]
        finally:
            await db.close()

    rels, datas = asyncio.run(build())
    (data_dir / rels[0]).unlink()
    os.truncate(data_dir / rels[1], 1000)
    notes = rels[2].rsplit("/", 1)[0] + "/notes.txt"
    (data_dir / notes).write_text("not footage")

    for _ in range(2):  # the second run reports the same: the rows stay marked
        done = surveil("verify", "--data", str(data_dir))
        out = done.stdout
        assert done.returncode == 1, out + done.stderr
        assert f"file_missing: segment 1, {rels[0]}: " in out
        assert f"file_changed: segment 2, {rels[1]}: size differs" in out
        assert f"file_extra: {notes}: " in out
        assert out.strip().endswith("ARCHIVE IS NOT CONSISTENT")
        assert rels[2] not in out

    async def states() -> list[str]:
        db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
        try:
            async with db.read() as s:
                return [seg.state for seg in await segments.all_segments(s)]
        finally:
            await db.close()

    assert asyncio.run(states()) == ["missing", "damaged", "sealed"]
    # Put back from a copy: verify finds the files intact again and clears the marks.
    for rel, data in zip(rels[:2], datas[:2], strict=True):
        (data_dir / rel).write_bytes(data)
    (data_dir / notes).unlink()
    done = surveil("verify", "--data", str(data_dir))
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"intact again: {rels[0]}\n" in out and f"intact again: {rels[1]}\n" in out
    assert out.strip().endswith("archive is consistent")
    assert asyncio.run(states()) == ["sealed", "sealed", "sealed"]
