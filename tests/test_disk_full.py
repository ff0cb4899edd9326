"""A full disk: recording stops cleanly, says why, and resumes by itself when space returns.

Every test mounts a real small filesystem (tmpfs) under tmp_path, fills it with a file until
the kernel answers ENOSPC, and unmounts it at teardown, whatever happened. Recording is of a
real RTSP camera by the real service. Checked: the open segment is sealed at its last durable
fragment and no row claims more; the run ends with 'disk full' (retried until the index has
it, when the index is on the full disk too); no reconnect storm while the disk is full; the
alarm shows in camera status, on the dashboard and in /api/v1/health; a request whose denial
cannot be audited is 503, never 500; recording resumes when the file is deleted, and the gap
between the runs says 'disk full'.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from index import audit, events, segments, tokens
from index import retention as retention_q
from index import runs as runs_q
from index.records import RunRecord
from segmenter.storage import DISK_FULL, SegmentFile, StorageError
from surveil.accounts import new_token
from surveil.service import Service
from tests.harness import (
    all_segments,
    camera_gaps,
    camera_runs,
    make_config,
    sha256_file,
    wait_for,
)
from tests.rows import sealed_segment

US = 1_000_000
SMALL_FS = "48m"
# These tests fill the disk at once, so a write meets ENOSPC: the space monitor reads the
# volume at start only (the floor is below what the filesystem has then).
ENOSPC_STORAGE = {"storage": {"min_free_mb": 4, "check_seconds": 3600}}


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {out.stderr.strip()}")


def _unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        # Still busy (a file held open by a thread that has not let go): detach it.
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of SMALL_FS mounted at tmp_path/small; unmounted at teardown."""
    where = tmp_path / "small"
    _mount_tmpfs(where, SMALL_FS)
    try:
        yield where
    finally:
        _unmount(where)


def fill(directory: Path) -> Path:
    """Write a file in directory until the filesystem is full; returns the file."""
    filler = directory / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in (1 << 20, 4096, 1):
            block = bytes(chunk)
            while True:
                try:
                    os.write(fd, block)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    finally:
        os.close(fd)
    return filler


# -- the segment file -----------------------------------------------------------------


def test_a_segment_that_meets_a_full_disk_is_sealed_at_its_last_whole_fragment(
    tmp_path: Path,
) -> None:
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "1m")
    try:
        file = SegmentFile(where, "cam/2026/01/01/0000000000000000_r1_s0.mp4")
        init, fragment = b"I" * 1000, bytes(range(256)) * 200  # 51 200 bytes each
        file.append(init)
        file.sync()
        kept = [init]
        with pytest.raises(StorageError) as caught:
            for i in range(100):
                file.append(fragment)
                kept.append(fragment)
                if i == 3:
                    file.sync()
        assert caught.value.reason == DISK_FULL
        assert "cannot write" in str(caught.value)
        assert file.durable_bytes < file.bytes  # fragments after the last fsync...
        file.salvage()  # ...are made durable (no fsync failed), the torn one is cut off
        assert file.durable_bytes == file.bytes == sum(len(b) for b in kept)
        sealed = file.seal_durable()
        assert not file.part_path.exists()
        data = file.final_path.read_bytes()
        assert data == b"".join(kept)
        assert (sealed.bytes, sealed.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    finally:
        _unmount(where)


# -- the service ----------------------------------------------------------------------


async def _admin_token(service: Service) -> str:
    assert service.db is not None
    token, digest = new_token()
    now = time.time_ns() // 1000
    await service.db.write(lambda s: tokens.create_token(s, "ops", "admin", digest, now))
    return token


def _status(service: Service, name: str) -> Any:
    assert service.supervisor is not None
    return service.supervisor.recorders[name].status()


async def _ended_run(service: Service, camera_id: int) -> RunRecord | None:
    ended = [r for r in await camera_runs(service, camera_id) if r.end_us is not None]
    return ended[0] if ended else None


async def _check_rows_match_files(service: Service, camera: str, *, resumed: bool) -> None:
    """No row claims bytes the file does not hold (sealed: exactly its size and hash).

    resumed: also, every file of the camera is a row's, but the one being written (a
    .part that never got a whole fragment is moved to quarantine, with an event, once the
    disk takes writes again)."""
    data_dir = service.cfg.data_dir
    rows = [seg for seg in await all_segments(service) if seg.camera == camera]
    if resumed:
        known = {seg.path for seg in rows} | {seg.path + ".part" for seg in rows}
        current = _status(service, camera).current_segment
        files = {p.relative_to(data_dir).as_posix() for p in (data_dir / camera).rglob("*.mp4*")}
        assert files - {f"{current}.part"} <= known, sorted(files - known)
        quarantined = sorted(p for p in (data_dir / "quarantine").rglob("*") if p.is_file())
        assert service.db is not None
        async with service.db.read() as s:
            moved = await events.list_events(s, kind="segment_quarantined")
        assert len(moved) == len(quarantined), (moved, quarantined)
    for seg in rows:
        if seg.state == "open":
            # Its seal may not have reached a full index: then the file has its final
            # name already (startup recovery seals the row); either way it holds the bytes.
            part = data_dir / (seg.path + ".part")
            file = part if part.exists() else data_dir / seg.path
            assert file.stat().st_size >= seg.bytes, seg
            continue
        path = data_dir / seg.path
        assert seg.state == "sealed", seg
        assert path.stat().st_size == seg.bytes, seg
        assert sha256_file(path) == seg.sha256, seg


async def _record_until_disk_full(service: Service, camera: str) -> tuple[int, Path, RunRecord]:
    """Record into a long segment, fill the disk in the middle of it, and wait for the run
    to end; returns (camera id, the filler file, the ended run)."""
    assert service.supervisor is not None
    rec = service.supervisor.recorders[camera]

    async def indexed() -> bool:
        return any(s.state == "open" and s.fragments >= 2 for s in await all_segments(service))

    await wait_for(indexed, 40, "an open segment with durable fragments")
    filler = fill(service.cfg.data_dir)

    async def ended() -> bool:
        return await _ended_run(service, rec.camera_id) is not None

    await wait_for(ended, 20, "the run to end at the full disk")
    run = await _ended_run(service, rec.camera_id)
    assert run is not None
    return rec.camera_id, filler, run


async def _check_resumes_with_a_disk_full_gap(
    service: Service, camera_id: int, filler: Path
) -> list[RunRecord]:
    """Free the space; recording resumes by itself, the gap between the runs says why."""
    filler.unlink()
    freed = time.monotonic()

    async def second_run() -> bool:
        return len(await camera_runs(service, camera_id)) >= 2

    await wait_for(second_run, 30, "recording to resume once space is free")
    assert time.monotonic() - freed < 15
    runs = await camera_runs(service, camera_id)
    assert len(runs) == 2
    assert runs[0].end_reason == "disk full"  # not 'recorder down'
    gaps = await camera_gaps(service, camera_id)
    assert [(g.start_us, g.end_us, g.reason) for g in gaps] == [
        (runs[0].end_us, runs[1].start_us, "disk full")
    ]

    async def indexed_in_second() -> bool:
        segs = await all_segments(service)
        return any(s.run_id == runs[1].id and s.fragments >= 1 for s in segs)

    await wait_for(indexed_in_second, 30, "footage of the new run in the index")
    st = _status(service, "a01")
    assert (st.state, st.storage_error, st.alarms) == ("recording", None, ())
    return runs


async def test_recording_survives_a_full_data_disk(
    small_fs: Path,
    rtsp_camera: Any,
    service_factory: Any,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The index is elsewhere: its writes work, only the segment files fail.
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        small_fs / "data",
        database_url,
        [{"name": "a01", "url": cam.url}],
        segment_seconds=60,
        reconnect_initial_seconds=0.05,
        reconnect_max_seconds=0.25,
        sections=ENOSPC_STORAGE,
    )
    service: Service = await service_factory(cfg)
    token = await _admin_token(service)
    camera_id, filler, first = await _record_until_disk_full(service, "a01")
    assert first.end_reason == "disk full"

    # The segment being written was sealed at its last durable fragment, and the run ends
    # where that footage does.
    run_segs = [s for s in await all_segments(service) if s.run_id == first.id]
    assert [(s.sequence, s.state) for s in run_segs] == [(0, "sealed")]
    assert run_segs[0].end_us == first.end_us and run_segs[0].fragments >= 2
    await _check_rows_match_files(service, "a01", resumed=False)
    assert service.db is not None
    async with service.db.read() as s:
        failed = await events.list_events(s, camera_id=camera_id, kind="write_failed")
    assert len(failed) == 1, failed
    detail = failed[0].detail
    assert (detail["reason"], detail["segment"]) == ("disk full", run_segs[0].path)
    assert (detail["kept_bytes"], detail["kept_fragments"]) == (
        run_segs[0].bytes,
        run_segs[0].fragments,
    )

    # While the disk is full: the camera is offline with an alarm, health is degraded,
    # the dashboard shows a disk alarm, and nothing reconnects over and over.
    st = _status(service, "a01")
    assert (st.state, st.error, st.storage_error) == ("offline", "disk full", "disk full")
    caplog.clear()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(service.url + "api/v1/cameras") as resp:
            cams = {c["name"]: c for c in (await resp.json())["cameras"]}
        assert cams["a01"]["state"] == "offline"
        assert any(a.startswith("disk full") for a in cams["a01"]["alarms"]), cams["a01"]
        async with http.get(service.url + "api/v1/health") as resp:
            health = await resp.json()
            assert resp.status == 200
        assert (health["status"], health["storage"]) == ("degraded", "disk full")
        assert health["reason"].startswith("disk full: 1 camera cannot write")
        async with http.get(service.url + "dashboard?lang=en") as resp:
            page = await resp.text()
            assert resp.status == 200
        assert '<li class="alarm disk">Data disk full' in page
        async with http.get(service.url + "dashboard?lang=zh") as resp:
            assert "数据盘已满" in await resp.text()
    await asyncio.sleep(3.0)
    assert len(await camera_runs(service, camera_id)) == 1, "no run started on a full disk"
    noisy = [r for r in caplog.records if r.name.startswith("surveil") and r.levelno >= 30]
    assert len(noisy) <= 2, [r.getMessage() for r in noisy]

    runs = await _check_resumes_with_a_disk_full_gap(service, camera_id, filler)
    assert runs[0] == first
    async with aiohttp.ClientSession() as http, http.get(service.url + "api/v1/health") as resp:
        health = await resp.json()
    assert (health["status"], health["storage"], health["reason"]) == ("ok", "ok", None)
    await _check_rows_match_files(service, "a01", resumed=True)


async def test_recording_survives_a_full_disk_that_also_holds_the_index(
    small_fs: Path,
    rtsp_camera: Any,
    service_factory: Any,
) -> None:
    # The default placement (as `surveil demo`): the SQLite index inside data_dir, so
    # at ENOSPC the index cannot be written either, not even the run's end.
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        small_fs / "data",
        None,
        [{"name": "a01", "url": cam.url}],
        reconnect_initial_seconds=0.05,
        reconnect_max_seconds=0.25,
        sections=ENOSPC_STORAGE,
    )
    assert str(cfg.effective_database_url).endswith(f"{small_fs}/data/index.sqlite3")
    service: Service = await service_factory(cfg)
    assert service.supervisor is not None
    rec = service.supervisor.recorders["a01"]

    async def sealed() -> bool:
        return any(s.state == "sealed" for s in await all_segments(service))

    await wait_for(sealed, 40, "a sealed segment")
    filler = fill(cfg.data_dir)

    async def stuck() -> bool:
        return rec.status().state == "offline"

    await wait_for(stuck, 20, "the recorder to stop at the full disk")
    async with aiohttp.ClientSession() as http:
        # Strangers are refused; when the refusal cannot be audited, that is a clear 503.
        statuses: list[int] = []
        body: dict[str, Any] = {}
        for _ in range(2000):
            async with http.get(service.url + "api/v1/cameras") as resp:
                statuses.append(resp.status)
                if resp.status == 503:
                    body = await resp.json()
                    break
        assert set(statuses) <= {401, 503}, sorted(set(statuses))
        assert statuses[-1] == 503, "a denial that cannot be audited must fail closed"
        assert body["error"]["code"] == "audit_unavailable"
        async with http.get(service.url + "api/v1/health") as resp:
            health = await resp.json()
            assert resp.status == 200
        assert (health["status"], health["storage"]) == ("degraded", "disk full")
    await asyncio.sleep(2.0)
    assert rec.status().storage_error == "disk full"

    # Space returns: the run's end is written at last, with its reason (not 'recorder
    # down'), and recording resumes by itself.
    runs = await _check_resumes_with_a_disk_full_gap(service, rec.camera_id, filler)
    run_segs = [s for s in await all_segments(service) if s.run_id == runs[0].id]
    assert run_segs and max(s.end_us for s in run_segs) <= (runs[0].end_us or 0)
    await _check_rows_match_files(service, "a01", resumed=True)


# -- the space monitor: watermarks, evidence protected, deletion at the critical mark --------

# Marks low enough for a 48 MB filesystem: warn at 50 %, critical at 60 %, and recording stops
# below 12 MB free when nothing may be deleted.
WATERMARKS = {
    "storage": {
        "warn_percent": 50,
        "critical_percent": 60,
        "min_free_mb": 12,
        "check_seconds": 0.25,
    }
}


def fill_until_free(directory: Path, free_bytes: int, name: str = "filler.bin") -> Path:
    """Write a file in directory until the filesystem has about free_bytes free."""
    filler = directory / name
    with open(filler, "wb") as f:
        while (left := shutil.disk_usage(directory).free) > free_bytes:
            f.write(bytes(min(1 << 20, max(4096, left - free_bytes))))
            f.flush()
            os.fsync(f.fileno())
    return filler


async def test_a_full_volume_with_nothing_deletable_stops_cleanly_and_says_why(
    small_fs: Path, rtsp_camera: Any, service_factory: Any, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        small_fs / "data",
        database_url,
        [{"name": "a01", "url": cam.url}],
        segment_seconds=60,
        reconnect_initial_seconds=0.05,
        reconnect_max_seconds=0.25,
        sections=WATERMARKS,
    )
    service: Service = await service_factory(cfg)
    assert service.supervisor is not None and service.lifecycle is not None
    rec = service.supervisor.recorders["a01"]

    async def indexed() -> bool:
        return any(s.state == "open" and s.fragments >= 2 for s in await all_segments(service))

    await wait_for(indexed, 40, "an open segment with durable fragments")
    # Below the floor but not out of space: the monitor stops recording before any write
    # fails, since all footage is young (nothing is past its 180 days).
    filler = fill_until_free(cfg.data_dir, 6 * 1024 * 1024)

    async def ended() -> bool:
        return await _ended_run(service, rec.camera_id) is not None

    await wait_for(ended, 20, "the run to end on the full volume")
    first = await _ended_run(service, rec.camera_id)
    assert first is not None and first.end_reason == "disk full"
    # Cleanly: the segment was sealed whole, no write failed.
    run_segs = [s for s in await all_segments(service) if s.run_id == first.id]
    assert run_segs and all(s.state == "sealed" for s in run_segs)
    assert service.db is not None
    async with service.db.read() as s:
        assert await events.list_events(s, kind="write_failed") == []
        passes = await audit.list_audit(s, action="retention.pass")
    assert any(p.detail["trigger"] == "disk" and p.detail["deleted"] == 0 for p in passes)
    alarms = service.lifecycle.alarms()
    assert any(a.startswith("disk full — evidence protected: volume main") for a in alarms), alarms
    [st] = [c for c in service.supervisor.camera_status() if c.name == "a01"]
    assert st.storage_error == "disk full"
    assert any("evidence protected" in a for a in st.alarms), st.alarms
    async with aiohttp.ClientSession() as http, http.get(service.url + "api/v1/health") as resp:
        health = await resp.json()
    assert (health["status"], health["storage"]) == ("degraded", "disk full")
    await _check_rows_match_files(service, "a01", resumed=False)

    runs = await _check_resumes_with_a_disk_full_gap(service, rec.camera_id, filler)
    assert runs[0] == first
    assert not [a for a in service.lifecycle.alarms() if "evidence protected" in a]


async def _passes(service: Service) -> list[Any]:
    assert service.db is not None
    async with service.db.read() as s:
        return await retention_q.latest_passes(s, 100)


async def test_at_the_critical_mark_footage_past_its_retention_is_deleted(
    small_fs: Path, rtsp_camera: Any, service_factory: Any, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        small_fs / "data",
        database_url,
        [{"name": "a01", "url": cam.url}],
        sections=WATERMARKS,
    )
    service: Service = await service_factory(cfg)
    assert service.supervisor is not None and service.db is not None
    rec = service.supervisor.recorders["a01"]

    async def startup_pass() -> bool:
        async with service.db.read() as s:  # type: ignore[union-attr]
            return bool(await audit.list_audit(s, action="retention.pass"))

    # The pass at start is over: what follows is the critical mark's doing.
    await wait_for(startup_pass, 20, "the retention pass at start")
    # Old footage of this camera (a run 200 days ago), 3 files of 4 MB, indexed and logged.
    old = time.time_ns() // 1000 - 200 * 86_400 * US
    run_id = await service.db.write(lambda s: runs_q.start_run(s, rec.camera_id, old, "test"))
    old_ids = []
    for i in range(3):
        rel = f"a01/old/{i}.mp4"
        body = os.urandom(4 * 1024 * 1024)
        (cfg.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (cfg.data_dir / rel).write_bytes(body)
        row = replace(
            sealed_segment(
                rec.camera_id, run_id, i, rel, old + i * 60 * US, old + (i + 1) * 60 * US
            ),
            bytes=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
        )
        old_ids.append(await service.db.write(lambda s, r=row: segments.upsert_segment(s, r)))
    await service.db.write(lambda s: runs_q.end_run(s, run_id, old + 180 * US, "test"))
    # Past the critical mark (60 %), with room above the floor: retention frees the old files.
    filler = fill_until_free(cfg.data_dir, 16 * 1024 * 1024)

    async def deleted() -> bool:
        async with service.db.read() as s:  # type: ignore[union-attr]
            found = await segments.segments_by_ids(s, old_ids)
        # The files go before the pass ends (and writes its audit entry): wait for both.
        done = [p for p in await _passes(service) if p.finished_us is not None]
        return all(found[i].state == "deleted" for i in old_ids) and any(
            p.trigger == "disk" and p.deleted for p in done
        )

    await wait_for(deleted, 20, "the old footage to be deleted at the critical mark")
    assert not any((cfg.data_dir / f"a01/old/{i}.mp4").exists() for i in range(3))
    async with service.db.read() as s:
        dels = await retention_q.deletions_for_segments(s, old_ids)
        passes = await audit.list_audit(s, action="retention.pass")
    assert {d.policy for d in dels.values()} == {"retain_days"}
    by_id = {p.id: p for p in (await _passes(service))}
    triggers = {by_id[d.pass_id].trigger for d in dels.values()}
    assert triggers == {"disk"}, [
        (p.id, p.trigger, p.started_us, p.deleted) for p in by_id.values()
    ]
    assert sum(int(p.detail["deleted"]) for p in passes if p.detail["trigger"] == "disk") == 3
    # Recording went on throughout: one run, no disk alarm.
    assert len(await camera_runs(service, rec.camera_id)) == 1
    assert _status(service, "a01").storage_error is None
    filler.unlink()


async def test_a_full_volume_stops_only_its_cameras_and_spread_ones_move(
    small_fs: Path, tmp_path: Path, rtsp_camera: Any, service_factory: Any, database_url: str
) -> None:
    """Volumes: a01 is pinned to `small` (a 48 MB tmpfs), b01 to `other` (the test's disk),
    c01 spread over `big` (64 MB) and `spare` (48 MB, the same tmpfs as small). Filling the
    small tmpfs stops a01 only; filling big moves c01 to spare at its next run."""
    big = tmp_path / "big"
    _mount_tmpfs(big, "64m")
    try:
        cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
        storage = {
            **WATERMARKS["storage"],
            "volumes": [
                {"name": "small", "path": str(small_fs / "small"), "cameras": ["a01"]},
                {"name": "other", "path": str(tmp_path / "other"), "cameras": ["b01"]},
                {"name": "big", "path": str(big)},
                {"name": "spare", "path": str(small_fs / "spare")},
            ],
        }
        for name in ("small", "spare"):
            (small_fs / name).mkdir()
        (tmp_path / "other").mkdir()
        cfg = make_config(
            tmp_path / "data",
            database_url,
            [{"name": n, "url": cam.url} for n in ("a01", "b01", "c01")],
            segment_seconds=60,
            reconnect_initial_seconds=0.05,
            reconnect_max_seconds=0.25,
            sections={"storage": storage},
        )
        service: Service = await service_factory(cfg)
        assert service.supervisor is not None
        recs = service.supervisor.recorders

        async def all_recording() -> bool:
            segs = await all_segments(service)
            return {s.camera for s in segs if s.fragments >= 1} == {"a01", "b01", "c01"}

        await wait_for(all_recording, 40, "every camera's first fragments")
        where = {s.camera: s.volume for s in await all_segments(service)}
        assert where == {"a01": "small", "b01": "other", "c01": "big"}

        # The small tmpfs below its floor: a01 stops, b01 and c01 record on.
        filler = fill_until_free(small_fs, 6 * 1024 * 1024)

        async def a01_stopped() -> bool:
            return await _ended_run(service, recs["a01"].camera_id) is not None

        await wait_for(a01_stopped, 20, "a01 to stop on its full volume")
        assert (await _ended_run(service, recs["a01"].camera_id)).end_reason == "disk full"  # type: ignore[union-attr]
        for other in ("b01", "c01"):
            assert await _ended_run(service, recs[other].camera_id) is None, other
            assert _status(service, other).state == "recording"
        filler.unlink()

        # big below its floor: c01 ends its run and goes on on spare.
        big_filler = fill_until_free(big, 6 * 1024 * 1024)

        async def c01_moved() -> bool:
            segs = [s for s in await all_segments(service) if s.camera == "c01"]
            return any(s.volume == "spare" and s.fragments >= 1 for s in segs)

        await wait_for(c01_moved, 30, "c01 to record on the spare volume")
        runs = await camera_runs(service, recs["c01"].camera_id)
        assert runs[0].end_reason == "disk full"
        assert await _ended_run(service, recs["b01"].camera_id) is None
        big_filler.unlink()
        await service.stop()
    finally:
        _unmount(big)
