"""Transfer to central storage against a real S3-compatible server (SeaweedFS on loopback)
and a mounted directory, on both backends: each sealed segment is uploaded with its SHA-256,
confirmed with a leaf in the log, resumed after the server dies mid-upload; wrong
credentials raise a clear alarm and keep footage from retention; an object altered on the
server is found by verify --central; footage deleted locally is fetched back, its hash
checked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from index import merkle, retention, segments, transfers
from index.cameras import ensure_camera
from index.db import Database
from index.records import SegmentRow
from index.runs import start_run
from surveil.central.directory import DirectoryTarget
from surveil.central.s3 import S3Target
from surveil.checkpoints import Checkpointer
from surveil.clock import FakeClock
from surveil.config import RetentionConfig, StorageConfig, TransferConfig
from surveil.log_verify import verify_integrity
from surveil.retention import DAY_US, Retention
from surveil.serving import NoFootage, plan_playable_clip
from surveil.transfer import Transferrer, load_credentials, object_key, save_credentials
from surveil.volumes import Volumes
from tests.media import Recording
from tests.rows import footage_files
from tests.s3server import REGION, SeaweedS3, seaweed
from tests.test_footage_serving import T0 as SERVE_T0
from tests.test_footage_serving import _rows as serving_rows
from tests.test_footage_serving import recording
from tests.test_index import add_camera
from tlog.note import Signer

__all__ = ["recording", "seaweed"]  # module-scoped fixtures
CACHE_DIR_NAME = "cache"

T0 = 1_790_000_000_000_000
MB = 1 << 20
SIGNER = Signer.generate("test.example/log")


async def _s3(server: SeaweedS3, bucket: str, *, secret: str | None = None) -> S3Target:
    return await S3Target.open(
        endpoint=server.endpoint,
        bucket=bucket,
        prefix="hall",
        region=REGION,
        access_key=server.access_key,
        secret_key=secret or server.secret_key,
        lock_days=None,
        timeout_s=3.0,
    )


@pytest.fixture
def bucket(seaweed: SeaweedS3, request: pytest.FixtureRequest) -> str:
    name = f"t{abs(hash(request.node.nodeid)) % 10**10}-{int(time.time() * 1000) % 10**6}"
    return seaweed.make_bucket(name)


@pytest.fixture
async def target(seaweed: SeaweedS3, bucket: str) -> AsyncIterator[S3Target]:
    t = await _s3(seaweed, bucket)
    try:
        yield t
    finally:
        await t.close()


def _transferrer(db: Database, data_dir: Path, clock: FakeClock, target: Any, **cfg: Any):
    settings = TransferConfig(target="directory", path=data_dir, **cfg)  # the kind is not used
    return Transferrer(
        db,
        Volumes.single(data_dir),
        clock,
        settings,
        target,
        checkpoints=lambda: _latest(db),
        cache_dir=data_dir / "cache",
    )


async def _latest(db: Database) -> Any:
    async with db.read() as s:
        return await merkle.latest_checkpoint(s)


async def _states(db: Database, ids: list[int]) -> dict[int, str | None]:
    async with db.read() as s:
        found = await transfers.transfers_by_ids(s, ids)
    return {i: (found[i].state if i in found else None) for i in ids}


async def _verify_log(db: Database, data_dir: Path, clock: FakeClock) -> list[str]:
    await Checkpointer(db, clock, SIGNER.name, [SIGNER]).issue()
    report = await verify_integrity(db, data_dir, [SIGNER.verifier()], clock=clock)
    return [f.kind for f in report.all_findings]


async def test_segments_are_confirmed_logged_and_verified_centrally(
    db: Database, tmp_path: Path, target: S3Target, seaweed: SeaweedS3, bucket: str
) -> None:
    cam = await add_camera(db)
    ids = await footage_files(db, tmp_path, cam, [T0, T0 + 60_000_000, T0 + 120_000_000], MB)
    clock = FakeClock(T0 + DAY_US)
    await Checkpointer(db, clock, SIGNER.name, [SIGNER]).issue()
    xfer = _transferrer(db, tmp_path, clock, target)
    assert await xfer.cycle() == 3
    assert set((await _states(db, ids)).values()) == {"confirmed"}
    async with db.read() as s:
        found = await transfers.transfers_by_ids(s, ids)
        segs = await segments.segments_by_ids(s, ids)
    assert all(t.leaf_index is not None for t in found.values())
    raw = seaweed.client()
    for i in ids:
        head = raw.head_object(Bucket=bucket, Key="hall/" + object_key(segs[i]))
        assert head["ContentLength"] == MB
    keys = {o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "hall/checkpoints/latest.note" in keys
    assert any(k.startswith("hall/manifests/") for k in keys)
    st = await xfer.status()
    assert (st.backlog_segments, st.confirmed_segments, st.level) == (0, 3, "ok")
    assert await xfer.cycle() == 0  # nothing due any more
    assert await xfer.verify_central() == []
    assert await _verify_log(db, tmp_path, clock) == []
    # Altered on the server, and removed: verify --central names both.
    raw.put_object(Bucket=bucket, Key="hall/" + object_key(segs[ids[0]]), Body=b"not it")
    raw.delete_object(Bucket=bucket, Key="hall/" + object_key(segs[ids[1]]))
    found_central = {f.segment_id: f.kind for f in await xfer.verify_central()}
    assert found_central == {ids[0]: "central_changed", ids[1]: "central_missing"}
    # A confirmation edited in the index is caught by the log.

    async def tamper(s: Any) -> None:
        await s.execute(text(f"UPDATE transfers SET object_key = 'x' WHERE segment_id = {ids[2]}"))

    await db.write(tamper)
    assert await _verify_log(db, tmp_path, clock) == ["transfer_row_edited"]


async def test_wrong_credentials_raise_a_clear_alarm_and_keep_the_footage(
    db: Database, tmp_path: Path, seaweed: SeaweedS3, bucket: str
) -> None:
    cam = await add_camera(db)
    ids = await footage_files(db, tmp_path, cam, [T0], 4096)
    clock = FakeClock(T0 + 400 * DAY_US)
    secret = "Wrong-Secret-Value-123456"
    bad = await _s3(seaweed, bucket, secret=secret)
    try:
        xfer = _transferrer(db, tmp_path, clock, bad)
        assert await xfer.cycle() == 0
    finally:
        await bad.close()
    assert xfer.alarm is not None and xfer.alarm.code == "central_auth"
    assert "refused the credentials" in xfer.alarm.message
    assert secret not in xfer.alarm.message
    async with db.read() as s:
        [row] = (await transfers.transfers_by_ids(s, ids)).values()
    assert (row.state, row.attempts) == ("failed", 1) and row.error
    assert row.next_attempt_us is not None and row.next_attempt_us > clock.now_us()
    # Not confirmed, so retention keeps it although it is 400 days old.
    ret = Retention(
        db, Volumes.single(tmp_path), clock, RetentionConfig(retain_days=10), require_central=True
    )
    plan = await ret.plan()
    assert plan.eligible == 0 and plan.cameras[0].kept == {"not_transferred": (1, 4096)}


async def test_a_server_killed_mid_upload_is_resumed(
    db: Database, tmp_path: Path, seaweed: SeaweedS3, bucket: str
) -> None:
    cam = await add_camera(db)
    ids = await footage_files(db, tmp_path, cam, [T0, T0 + 60_000_000], 6 * MB)
    clock = FakeClock(T0 + DAY_US)
    target = await _s3(seaweed, bucket)
    try:
        # 2 MB/s: each upload is in flight for about 3 s when the server dies.
        xfer = _transferrer(db, tmp_path, clock, target, max_mbit_s=16.0, concurrency=1)
        round_one = asyncio.create_task(xfer.cycle())
        await asyncio.sleep(1.0)
        seaweed.kill()
        started = time.monotonic()
        assert await asyncio.wait_for(round_one, 60) == 0
        assert time.monotonic() - started < 30  # unreachable is noticed, never a hang
        assert xfer.alarm is not None and xfer.alarm.code == "central_unreachable"
        assert set((await _states(db, ids)).values()) == {"failed"}
        await asyncio.to_thread(seaweed.start)
        assert await xfer.cycle() == 0  # backing off: not retried yet
        clock.advance(60_000_000)
        assert await xfer.cycle() == 2
        assert set((await _states(db, ids)).values()) == {"confirmed"}
        assert xfer.alarm is None
        assert await xfer.verify_central() == []
    finally:
        await target.close()
        if seaweed.pid is None:
            seaweed.start()


async def test_footage_deleted_locally_is_fetched_back_with_its_hash_checked(
    db: Database, tmp_path: Path, target: S3Target, seaweed: SeaweedS3, bucket: str
) -> None:
    cam = await add_camera(db)
    ids = await footage_files(db, tmp_path, cam, [T0], 2 * MB)
    clock = FakeClock(T0 + 30 * DAY_US)
    xfer = _transferrer(db, tmp_path, clock, target)
    assert await xfer.cycle() == 1
    ret = Retention(
        db, Volumes.single(tmp_path), clock, RetentionConfig(retain_days=10), require_central=True
    )
    assert (await ret.run_pass()).deleted == 1
    async with db.read() as s:
        seg = (await segments.segments_by_ids(s, ids))[ids[0]]
        [d] = (await retention.deletions_for_segments(s, ids)).values()
    assert seg.state == "deleted" and not (tmp_path / seg.path).exists()
    assert d.central is not None and d.central.endswith(object_key(seg))
    local = await xfer.fetch(seg)
    assert local is not None and local.stat().st_size == seg.bytes
    # An altered central copy is not served.
    seaweed.client().put_object(Bucket=bucket, Key="hall/" + object_key(seg), Body=b"forged")
    local.unlink()
    assert await xfer.fetch(seg) is None


async def test_a_mounted_directory_is_a_target_too(db: Database, tmp_path: Path) -> None:
    cam = await add_camera(db)
    data, central = tmp_path / "data", tmp_path / "central"
    central.mkdir()
    ids = await footage_files(db, data, cam, [T0, T0 + 60_000_000], 100_000)
    clock = FakeClock(T0 + DAY_US)
    target = DirectoryTarget(central)
    await target.check()
    xfer = _transferrer(db, data, clock, target)
    assert await xfer.cycle() == 2
    assert set((await _states(db, ids)).values()) == {"confirmed"}
    async with db.read() as s:
        segs = await segments.segments_by_ids(s, ids)
    copy = central / object_key(segs[ids[0]])
    assert copy.read_bytes() == (data / segs[ids[0]].path).read_bytes()
    copy.write_bytes(b"changed")
    assert [f.kind for f in await xfer.verify_central()] == ["central_changed"]


def test_credentials_are_stored_encrypted(tmp_path: Path) -> None:
    path = save_credentials(tmp_path, "AKIDEXAMPLE", "s3cr3t/value+x")
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"s3cr3t" not in path.read_bytes() and b"AKIDEXAMPLE" not in path.read_bytes()
    assert load_credentials(tmp_path) == ("AKIDEXAMPLE", "s3cr3t/value+x")
    assert StorageConfig()  # the storage defaults parse


async def test_a_clip_of_footage_deleted_locally_plays_from_central_storage(
    db: Database, tmp_path: Path, recording: Recording
) -> None:
    data, central = tmp_path / "data", tmp_path / "central"
    central.mkdir()

    async def seed(s: Any) -> tuple[list[SegmentRow], list[int]]:
        cam = await ensure_camera(s, "cam1", "rtsp://10.0.0.1/s", ("A1",), True, SERVE_T0)
        run_id = await start_run(s, cam.id, SERVE_T0, "connected")
        rows = serving_rows(recording, cam.id, run_id)
        return rows, [await segments.upsert_segment(s, row) for row in rows]

    rows, ids = await db.write(seed)
    for row in rows:
        (data / row.path).parent.mkdir(parents=True, exist_ok=True)
        (data / row.path).write_bytes(recording.file_bytes(row.sequence))
    start, end = rows[0].start_us, rows[-1].end_us
    clock = FakeClock(SERVE_T0 + 30 * DAY_US)
    vols = Volumes.single(data)
    before = await plan_playable_clip(db, vols, "cam1", start, end, clock.now_us())
    xfer = _transferrer(db, data, clock, DirectoryTarget(central))
    assert await xfer.cycle() == len(rows)
    ret = Retention(db, vols, clock, RetentionConfig(retain_days=10), require_central=True)
    assert (await ret.run_pass()).deleted == len(rows)
    assert not any((data / row.path).exists() for row in rows)
    with pytest.raises(NoFootage):
        await plan_playable_clip(db, vols, "cam1", start, end, clock.now_us())
    after = await plan_playable_clip(db, vols, "cam1", start, end, clock.now_us(), fetch=xfer.fetch)
    assert (after.start_us, after.plan.duration_us, after.plan.size) == (
        before.start_us,
        before.plan.duration_us,
        before.plan.size,
    )
    # One copy whose central object was altered is not served: the clip stops before it.
    async with db.read() as s:
        third = (await segments.segments_by_ids(s, [ids[2]]))[ids[2]]
    (central / object_key(third)).write_bytes(b"forged")
    (data / CACHE_DIR_NAME / third.path).unlink()
    cut = await plan_playable_clip(db, vols, "cam1", start, end, clock.now_us(), fetch=xfer.fetch)
    assert cut.plan.duration_us < before.plan.duration_us
