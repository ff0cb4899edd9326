"""ENOSPC and EIO at write and at fsync, from a failing file object swapped into the storage
layer (segmenter.storage.SegmentFile.ops), under the real recorder, index and service: the
segment is sealed at its last durable fragment, a fragment whose fsync failed is recorded as
lost and never trusted, no row claims bytes that are not durable, the service stays up and
resumes, and `surveil verify` passes. Both backends, a real RTSP camera."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from index import events
from segmenter.storage import DISK_ERROR, DISK_FULL, FileOps, SegmentFile
from surveil.log_key import open_log_key
from surveil.log_verify import verify_integrity
from surveil.service import Service
from tests.harness import all_segments, camera_gaps, camera_runs, make_config, wait_for
from tests.test_disk_full import _check_rows_match_files


class FailingOps(FileOps):
    """Fails the first `op` ('write' or 'fsync') on a file under `under` once armed, with
    `code`, once; every other call goes to the OS."""

    def __init__(self, under: str, op: str, code: int) -> None:
        self.under, self.op, self.code = under, op, code
        self.armed = False
        self.fired = 0

    def _hit(self, fd: int, op: str) -> bool:
        if not self.armed or op != self.op:
            return False
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return False
        if self.under not in path:
            return False
        self.armed = False
        self.fired += 1
        return True

    def write(self, fd: int, data: memoryview) -> int:
        if self._hit(fd, "write"):
            # Part of the data may reach the file before the error, as with a real disk.
            os.write(fd, data[: len(data) // 2])
            raise OSError(self.code, os.strerror(self.code))
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self._hit(fd, "fsync"):
            raise OSError(self.code, os.strerror(self.code))
        super().fsync(fd)


@pytest.mark.parametrize(
    ("op", "code"),
    [("write", errno.ENOSPC), ("fsync", errno.ENOSPC), ("write", errno.EIO), ("fsync", errno.EIO)],
)
async def test_a_failed_write_or_fsync_loses_only_what_was_not_durable(
    op: str,
    code: int,
    tmp_path: Path,
    rtsp_camera: Any,
    service_factory: Any,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = FailingOps("/a01/", op, code)
    monkeypatch.setattr(SegmentFile, "ops", failing)
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [{"name": "a01", "url": cam.url}],
        segment_seconds=30,
        reconnect_initial_seconds=0.05,
        reconnect_max_seconds=0.25,
    )
    service: Service = await service_factory(cfg)
    assert service.supervisor is not None and service.db is not None
    rec = service.supervisor.recorders["a01"]

    async def durable() -> bool:
        return any(s.state == "open" and s.fragments >= 2 for s in await all_segments(service))

    await wait_for(durable, 40, "an open segment with durable fragments")
    failing.armed = True

    async def two_runs() -> bool:
        runs = await camera_runs(service, rec.camera_id)
        return len(runs) >= 2 and runs[0].end_us is not None

    await wait_for(two_runs, 40, "the run to end at the failure and a new one to start")
    assert failing.fired == 1
    reason = DISK_FULL if code == errno.ENOSPC else DISK_ERROR
    runs = await camera_runs(service, rec.camera_id)
    assert runs[0].end_reason == reason
    gaps = await camera_gaps(service, rec.camera_id)
    assert gaps[0].reason == reason
    async with service.db.read() as s:
        [failed] = await events.list_events(s, camera_id=rec.camera_id, kind="write_failed")
    first = [seg for seg in await all_segments(service) if seg.run_id == runs[0].id]
    assert first and all(seg.state == "sealed" for seg in first), first
    last = max(first, key=lambda seg: seg.sequence)
    assert failed.detail["reason"] == reason
    assert (failed.detail["kept_bytes"], failed.detail["kept_fragments"]) == (
        last.bytes,
        last.fragments,
    )
    if op == "fsync":
        # Written but not provably on disk: not kept, and said so.
        assert int(failed.detail["dropped_fragments"]) >= 1  # type: ignore[call-overload]
    assert last.end_us == runs[0].end_us
    await _check_rows_match_files(service, "a01", resumed=False)

    async def recording_again() -> bool:
        segs = await all_segments(service)
        return any(seg.run_id == runs[1].id and seg.fragments >= 1 for seg in segs)

    await wait_for(recording_again, 40, "footage of the new run")
    assert service.integrity is not None
    await service.integrity.checkpoint_now()
    report = await verify_integrity(
        service.db, service.cfg.data_dir, [open_log_key(service.cfg.data_dir).verifier()]
    )
    assert report.ok, [f"{f.kind}: {f.detail}" for f in report.all_findings]
