"""kill -9 in the middle of a deletion pass and of a transfer: on restart each is finished
correctly, and `surveil verify` (with --central) passes. Real processes (`surveil retention
run`, `surveil serve`), a real S3-compatible server, both backends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from index import cameras, retention, segments, transfers
from index.db import Database
from index.models import Deletion, Transfer
from surveil.clock import SystemClock
from surveil.config import load_config
from surveil.lifecycle import Lifecycle
from surveil.retention import DAY_US
from surveil.transfer import save_credentials
from tests.rows import footage_files
from tests.s3server import REGION, SeaweedS3, seaweed

__all__ = ["seaweed"]

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20


def _config(path: Path, data_dir: Path, database_url: str, extra: str = "") -> Path:
    path.write_text(
        f'data_dir = "{data_dir}"\ndatabase_url = "{database_url}"\n'
        '[web]\nlisten = "127.0.0.1:0"\n[retention]\nretain_days = 10\n' + extra,
        encoding="utf-8",
    )
    return path


def _surveil(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "surveil", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _verify(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surveil", "verify", "--config", str(cfg), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _count(db: Database, stmt: object) -> int:
    async with db.read() as s:
        return int((await s.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def _kill_when(
    db: Database, proc: subprocess.Popen[bytes], stmt: object, log: Path, at_least: int = 1
) -> int:
    """SIGKILL proc as soon as stmt counts at_least rows; the count then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        n = await _count(db, stmt)
        if n >= at_least:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return n
        assert proc.poll() is None, log.read_text()[-3000:]
        await asyncio.sleep(0.005)
    raise AssertionError("the work never started: " + log.read_text()[-3000:])


async def _camera(db: Database) -> int:
    cam = await db.write(
        lambda s: cameras.ensure_camera(s, "a01", "rtsp://127.0.0.1/x", ("A01",), True, 0)
    )
    return cam.id


async def test_kill_9_in_a_deletion_pass(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = _config(tmp_path / "surveil.toml", data, database_url)
    db = await Database.open(database_url)
    try:
        cam = await _camera(db)
        old = SystemClock().now_us() - 100 * DAY_US
        ids = await footage_files(db, data, cam, [old + i * 60_000_000 for i in range(1500)], 512)
        # The checkpoint verify needs is issued by the CLI (below); a pass over 1500 files.
        log = tmp_path / "pass.log"
        proc = _surveil("retention", "run", "--config", str(cfg), log=log)
        marked = await _kill_when(db, proc, select(func.count(Deletion.id)), log)
        assert proc.returncode == -signal.SIGKILL
        async with db.read() as s:
            states = [seg.state for seg in (await segments.segments_by_ids(s, ids)).values()]
        assert marked < len(ids), "killed while the pass was under way"
        assert "sealed" in states, "killed before the pass was done"
    finally:
        await db.close()
    # The next start finishes the deletions the kill cut short, and the pass goes on.
    done = subprocess.run(
        [sys.executable, "-m", "surveil", "retention", "run", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    db = await Database.open(database_url)
    try:
        async with db.read() as s:
            found = await segments.segments_by_ids(s, ids)
            dels = await retention.deletions_for_segments(s, ids)
        assert {seg.state for seg in found.values()} == {"deleted"}
        assert all(d.finished_us is not None for d in dels.values()) and len(dels) == len(ids)
        assert not any((data / seg.path).exists() for seg in found.values())
    finally:
        await db.close()
    await _checkpoint(cfg)
    verify = _verify(cfg)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "deleted under retention: 1500" in verify.stdout


async def _checkpoint(cfg: Path) -> None:
    """Issue a checkpoint with the installation's key (as the service does at start)."""
    config = load_config(cfg)
    from surveil.checkpoints import Checkpointer
    from surveil.log_key import open_log_key

    signer = open_log_key(config.data_dir, config.integrity.origin)
    db = await Database.open(config.effective_database_url)
    try:
        await Checkpointer(db, SystemClock(), signer.name, [signer]).issue()
    finally:
        await db.close()


async def test_kill_9_in_a_transfer(tmp_path: Path, database_url: str, seaweed: SeaweedS3) -> None:
    bucket = seaweed.make_bucket(f"crash{os.getpid()}{int(time.time()) % 100000}")
    data = tmp_path / "data"
    data.mkdir()
    transfer = (
        f'[transfer]\ntarget = "s3"\nendpoint = "{seaweed.endpoint}"\nbucket = "{bucket}"\n'
        f'region = "{REGION}"\nmax_mbit_s = 24\nconcurrency = 1\ntimeout_seconds = 5\n'
    )
    cfg = _config(tmp_path / "surveil.toml", data, database_url, transfer)
    save_credentials(data, seaweed.access_key, seaweed.secret_key)
    db = await Database.open(database_url)
    try:
        cam = await _camera(db)
        now = SystemClock().now_us()
        ids = await footage_files(db, data, cam, [now - i * 60_000_000 for i in range(6)], 3 * MB)
        log = tmp_path / "serve.log"
        proc = _surveil("serve", "--config", str(cfg), log=log)
        confirmed = select(func.count(Transfer.segment_id)).where(Transfer.state == "confirmed")
        first = await _kill_when(db, proc, confirmed, log)
        assert proc.returncode == -signal.SIGKILL
        assert first < len(ids), "killed while uploads were under way"
    finally:
        await db.close()
    # Restarted, the transfer resumes where the index says and completes.
    db = await Database.open(database_url)
    lifecycle = Lifecycle.configured(db, load_config(cfg), SystemClock())
    try:
        await lifecycle.start()
        assert lifecycle.transfer is not None and lifecycle.transfer_error is None
        deadline = time.monotonic() + 120
        while await _count(db, confirmed) < len(ids):
            assert time.monotonic() < deadline, (await lifecycle.transfer.status(), log)
            await asyncio.sleep(0.2)
        async with db.read() as s:
            rows = await transfers.transfers_by_ids(s, ids)
        assert all(r.leaf_index is not None for r in rows.values())
    finally:
        await lifecycle.stop()
        await db.close()
    await _checkpoint(cfg)
    verify = _verify(cfg, "--central")
    assert verify.returncode == 0, verify.stdout + verify.stderr
