"""The index against real SQLite and PostgreSQL databases (fixtures in tests/conftest_db.py)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from index import (
    CameraNotFound,
    Conflict,
    Database,
    RecordNotFound,
    SegmentNotFound,
    SegmentRow,
    add_event,
    all_segments,
    create_token,
    end_run,
    ensure_camera,
    gaps_overlapping,
    get_camera,
    get_segment,
    latest_segment,
    list_cameras,
    list_events,
    list_tokens,
    open_runs,
    open_segment,
    revoke_token,
    runs_for_camera,
    segments_in_state,
    segments_overlapping,
    start_run,
    token_by_hash,
    touch_token,
    update_segment,
    upsert_segment,
)
from index.models import ApiToken, Base, Camera, Event

T0 = 1_700_000_000_000_000  # µs since epoch: far beyond 32 bits on purpose
SECOND = 1_000_000
TABLES = {
    "cameras",
    "runs",
    "gaps",
    "segments",
    "events",
    "api_tokens",
    "counters",
    "camera_counters",
    "receipts",
    "holds",
    "users",
    "user_counters",
    "sessions",
    "audit_log",
    "log_leaves",
    "log_hashes",
    "log_state",
    "checkpoints",
    "integrity_runs",
    "retention_rules",
    "retention_passes",
    "deletions",
    "user_permissions",
    "export_requests",
    "export_cameras",
    "export_steps",
    "transfers",
    "transfer_batches",
}


async def add_camera(
    db: Database, name: str = "hall-1", counters: tuple[str, ...] = ("A1",)
) -> int:
    async def fn(s: AsyncSession) -> int:
        cam = await ensure_camera(s, name, "rtsp://cam.local/stream", counters, True, T0)
        return cam.id

    return await db.write(fn)


async def add_run(db: Database, camera_id: int, start_us: int = T0) -> int:
    return await db.write(lambda s: start_run(s, camera_id, start_us, "startup"))


def seg(
    camera_id: int, run_id: int, sequence: int, start_us: int, end_us: int, **kw: object
) -> SegmentRow:
    row = SegmentRow(
        camera_id=camera_id,
        run_id=run_id,
        sequence=sequence,
        path=f"cam{camera_id}/run{run_id}/{sequence:06d}.mp4",
        start_us=start_us,
        end_us=end_us,
        duration_us=end_us - start_us,
        bytes=1000,
        sha256=None,
        state="open",
        video_codec="h264",
        audio_codec=None,
        fragments=1,
        clock_sync="synced",
        camera_clock_offset_us=None,
        created_us=start_us,
        sealed_us=None,
    )
    return replace(row, **kw)  # type: ignore[arg-type]


async def count(db: Database, model: type[Base]) -> int:
    async with db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


# --- schema and migrations ---------------------------------------------------


def test_every_column_and_table_is_commented() -> None:
    assert set(Base.metadata.tables) == TABLES
    for table in Base.metadata.tables.values():
        assert table.comment, table.name
        for column in table.columns:
            assert column.comment, f"{table.name}.{column.name}"
            if column.name.endswith("_us") or column.name == "bytes":
                assert "BIGINT" in str(column.type).upper(), f"{table.name}.{column.name}"


async def test_migration_matches_models(db: Database) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        tables = set(inspect(conn).get_table_names())
        return compare_metadata(ctx, Base.metadata), tables, ctx.get_current_revision()

    async with db.read() as s:
        conn = await s.connection()
        diffs, tables, revision = await conn.run_sync(diff)
    assert diffs == []
    assert tables == TABLES | {"alembic_version"}
    assert revision == "0007"


async def test_migration_is_idempotent(database_url: str) -> None:
    first = await Database.open(database_url)
    try:
        await add_camera(first)
    finally:
        await first.close()
    second = await Database.open(database_url)
    try:
        async with second.read() as s:
            assert [c.name for c in await list_cameras(s)] == ["hall-1"]
            version = (await s.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert version == [("0007",)]
        assert second.dialect == database_url.split(":")[0].split("+")[0]
        assert make_url(second.url_redacted).database == make_url(database_url).database
    finally:
        await second.close()


async def test_schema_enforces_checks_and_foreign_keys(db: Database) -> None:
    async def bad_role(s: AsyncSession) -> None:
        s.add(ApiToken(name="x", role="root", token_hash="h", created_us=T0))
        await s.flush()

    with pytest.raises(IntegrityError):
        await db.write(bad_role)

    # On SQLite this fails only if PRAGMA foreign_keys=ON took effect.
    with pytest.raises(IntegrityError):
        await db.write(lambda s: start_run(s, 424242, T0, "startup"))
    assert await count(db, ApiToken) == 0


# --- SQLite connection setup --------------------------------------------------


async def test_sqlite_pragmas_in_effect(tmp_path: Path) -> None:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/index.sqlite3")
    try:

        async def pragmas(s: AsyncSession) -> dict[str, object]:
            out: dict[str, object] = {}
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"):
                out[name] = (await s.execute(text(f"PRAGMA {name}"))).scalar_one()
            return out

        expected = {
            "journal_mode": "wal",
            "synchronous": 2,
            "foreign_keys": 1,
            "busy_timeout": 10000,
        }
        assert await db.write(pragmas) == expected
        # Several read sessions at once force several pooled connections.
        sessions = [db.read() for _ in range(3)]
        try:
            for s in sessions:
                assert await pragmas(s) == expected
        finally:
            for s in sessions:
                await s.close()
        assert (tmp_path / "index.sqlite3-wal").exists()
    finally:
        await db.close()


async def test_sqlite_read_session_is_a_snapshot(tmp_path: Path) -> None:
    # pysqlite's legacy mode never BEGINs before a SELECT, so each query would
    # see the newest data; with our own BEGIN the session reads one snapshot.
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/index.sqlite3")
    try:
        await add_camera(db, "first")
        async with db.read() as s:
            assert len(await list_cameras(s)) == 1
            await add_camera(db, "second")
            assert len(await list_cameras(s)) == 1
        async with db.read() as s:
            assert len(await list_cameras(s)) == 2
    finally:
        await db.close()


# --- the writer ----------------------------------------------------------------


async def test_write_rolls_back_everything_on_error(db: Database) -> None:
    async def half(s: AsyncSession) -> None:
        # DDL first: pysqlite's legacy mode would run it outside any transaction.
        await s.execute(text("CREATE TABLE scratch (x INTEGER)"))
        cam = await ensure_camera(s, "hall-1", "rtsp://x/", ["A1"], True, T0)
        await add_event(s, "camera.added", T0, camera_id=cam.id)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await db.write(half)
    assert await count(db, Camera) == 0
    assert await count(db, Event) == 0
    async with db.read() as s:
        conn = await s.connection()
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert "scratch" not in tables
    # The writer survives the failure.
    assert await add_camera(db) > 0


async def test_write_returns_result(db: Database) -> None:
    cam_id = await add_camera(db)
    async with db.read() as s:
        assert (await get_camera(s, "hall-1")).id == cam_id


async def test_submit_is_ordered_with_write(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    async def failing(s: AsyncSession) -> None:
        await add_event(s, "never", T0)
        raise RuntimeError("submitted write failed")

    for i in range(5):
        db.submit(lambda s, i=i: add_event(s, "tick", T0 + i, detail={"i": i}))
        if i == 2:
            db.submit(failing)
    with caplog.at_level(logging.ERROR, logger="index.db"):
        events = await db.write(lambda s: list_events(s, kind=None))
    # write() ran after every submit() queued before it
    assert [e.detail["i"] for e in events] == [4, 3, 2, 1, 0]
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)
    assert all(e.kind == "tick" for e in events)
    assert "submitted write failed" in caplog.text
    assert "failing" in caplog.text


async def test_close_drains_queue_then_refuses(database_url: str) -> None:
    db = await Database.open(database_url)
    cam_id = await add_camera(db)
    for i in range(50):
        db.submit(lambda s, i=i: add_event(s, "tick", T0 + i, camera_id=cam_id))
    await asyncio.wait_for(db.close(), 30)
    with pytest.raises(RuntimeError):
        await db.write(lambda s: list_events(s))
    with pytest.raises(RuntimeError):
        db.submit(lambda s: list_events(s))
    db = await Database.open(database_url)
    try:
        assert await count(db, Event) == 50
    finally:
        await db.close()


async def test_submit_from_another_thread_is_refused(db: Database) -> None:
    with pytest.raises(RuntimeError, match="event loop thread"):
        await asyncio.to_thread(db.submit, lambda s: list_events(s))


async def test_writer_death_fails_waiting_callers(db: Database) -> None:
    started = asyncio.Event()

    async def stuck(s: AsyncSession) -> None:
        started.set()
        await asyncio.Event().wait()

    in_flight = asyncio.ensure_future(db.write(stuck))
    queued = asyncio.ensure_future(db.write(lambda s: list_events(s)))
    await started.wait()
    db._task.cancel()  # stands in for a bug that kills the writer task
    for waiting in (in_flight, queued):
        with pytest.raises(RuntimeError, match="writer task has stopped"):
            await asyncio.wait_for(waiting, 10)
    with pytest.raises(RuntimeError):
        await db.write(lambda s: list_events(s))


async def test_concurrent_writes_are_serialised(db: Database) -> None:
    cam_id = await add_camera(db)

    async def bump(s: AsyncSession) -> int:
        # A read-modify-write that would lose updates if two ran at once.
        events = await list_events(s, kind="counter", limit=1)
        n = int(events[0].detail["n"]) + 1 if events else 0  # type: ignore[call-overload]
        await asyncio.sleep(0)
        await add_event(s, "counter", T0 + n, camera_id=cam_id, detail={"n": n})
        return n

    results = await asyncio.gather(*(db.write(bump) for _ in range(20)))
    assert sorted(results) == list(range(20))


# --- cameras ----------------------------------------------------------------------


async def test_ensure_camera_inserts_then_updates(db: Database) -> None:
    created = await db.write(
        lambda s: ensure_camera(
            s, "hall-1", "rtsp://admin:s3cret@10.0.0.5/main", ["A1", "A2"], True, T0
        )
    )
    assert created.name == "hall-1"
    assert created.counters == ("A1", "A2")
    assert created.enabled is True
    assert created.created_us == T0
    assert "s3cret" not in created.source_url
    assert created.source_url == "rtsp://***@10.0.0.5/main"

    updated = await db.write(
        lambda s: ensure_camera(s, "hall-1", "rtsp://10.0.0.6/main", ("B1",), False, T0 + SECOND)
    )
    assert updated.id == created.id
    assert updated.created_us == T0
    assert (updated.source_url, updated.counters, updated.enabled) == (
        "rtsp://10.0.0.6/main",
        ("B1",),
        False,
    )

    await add_camera(db, "entrance", ())
    async with db.read() as s:
        assert [c.name for c in await list_cameras(s)] == ["entrance", "hall-1"]
        assert await get_camera(s, "hall-1") == updated
        assert (await get_camera(s, "entrance")).counters == ()
        with pytest.raises(CameraNotFound):
            await get_camera(s, "nope")
    with pytest.raises(TypeError):
        await db.write(lambda s: ensure_camera(s, "x", "rtsp://x/", "A1", True, T0))


# --- runs and gaps ------------------------------------------------------------------


async def test_run_and_gap_lifecycle(db: Database) -> None:
    cam = await add_camera(db)
    other = await add_camera(db, "other")
    run1 = await add_run(db, cam, T0)
    await add_run(db, other, T0)
    with pytest.raises(Conflict):
        await add_run(db, cam, T0 + SECOND)

    async with db.read() as s:
        assert {r.camera_id for r in await open_runs(s)} == {cam, other}
        assert await gaps_overlapping(s, cam, 0, 2**62) == []

    await db.write(lambda s: end_run(s, run1, T0 + 60 * SECOND, "stream lost"))
    with pytest.raises(Conflict):
        await db.write(lambda s: end_run(s, run1, T0 + 61 * SECOND, "again"))
    with pytest.raises(RecordNotFound):
        await db.write(lambda s: end_run(s, 987654, T0, "nope"))

    async with db.read() as s:
        assert [r.camera_id for r in await open_runs(s)] == [other]
        (gap,) = await gaps_overlapping(s, cam, T0, T0 + 3600 * SECOND)
        assert (gap.start_us, gap.end_us, gap.reason) == (T0 + 60 * SECOND, None, "stream lost")
        # an open gap extends to +inf
        assert len(await gaps_overlapping(s, cam, 2**61, 2**61 + 1)) == 1
        # touching at its start does not overlap
        assert await gaps_overlapping(s, cam, T0, T0 + 60 * SECOND) == []
        assert await gaps_overlapping(s, other, T0, T0 + 3600 * SECOND) == []

    run2 = await add_run(db, cam, T0 + 90 * SECOND)
    assert run2 != run1
    async with db.read() as s:
        (gap,) = await gaps_overlapping(s, cam, 0, 2**62)
        assert (gap.start_us, gap.end_us) == (T0 + 60 * SECOND, T0 + 90 * SECOND)
        assert await gaps_overlapping(s, cam, T0 + 90 * SECOND, T0 + 100 * SECOND) == []
        runs = await runs_for_camera(s, cam)
    assert [(r.id, r.start_us, r.end_us, r.start_reason, r.end_reason) for r in runs] == [
        (run1, T0, T0 + 60 * SECOND, "startup", "stream lost"),
        (run2, T0 + 90 * SECOND, None, "startup", None),
    ]


# --- segments --------------------------------------------------------------------------


async def test_segment_open_update_seal(db: Database) -> None:
    cam = await add_camera(db)
    run = await add_run(db, cam)
    row = seg(cam, run, 0, T0, T0 + SECOND, audio_codec="aac", camera_clock_offset_us=-1500)
    seg_id = await db.write(lambda s: open_segment(s, row))

    async with db.read() as s:
        got = await get_segment(s, seg_id)
    assert got.id == seg_id
    assert got.camera == "hall-1"
    fields = {k: v for k, v in vars(got).items() if k not in ("id", "camera", "leaf_index")}
    assert SegmentRow(**fields) == row

    grown = replace(row, end_us=T0 + 5 * SECOND, duration_us=5 * SECOND, bytes=5000, fragments=5)
    await db.write(lambda s: update_segment(s, grown))
    sealed = replace(
        grown,
        end_us=T0 + 6 * SECOND,
        duration_us=6 * SECOND,
        bytes=6 * 2**30,  # > 32 bits
        fragments=6,
        sha256="ab" * 32,
        state="sealed",
        sealed_us=T0 + 7 * SECOND,
    )
    await db.write(lambda s: update_segment(s, sealed))

    async with db.read() as s:
        got = await get_segment(s, seg_id)
        assert (got.end_us, got.bytes, got.sha256, got.state, got.sealed_us, got.fragments) == (
            T0 + 6 * SECOND,
            6 * 2**30,
            "ab" * 32,
            "sealed",
            T0 + 7 * SECOND,
            6,
        )
        assert (got.start_us, got.created_us, got.path) == (row.start_us, row.created_us, row.path)
        assert await segments_in_state(s, "sealed") == [got]
        assert await segments_in_state(s, "open") == []
        assert await latest_segment(s, cam) == got
        with pytest.raises(ValueError):
            await segments_in_state(s, "bogus")

    # a sealed hash is evidence and cannot be rewritten
    with pytest.raises(Conflict):
        await db.write(lambda s: update_segment(s, replace(sealed, sha256="cd" * 32)))
    # but its state can change, e.g. when the file is found missing
    await db.write(lambda s: update_segment(s, replace(sealed, state="missing")))
    with pytest.raises(SegmentNotFound):
        await db.write(lambda s: update_segment(s, replace(row, sequence=99)))
    with pytest.raises(Conflict):
        await db.write(lambda s: open_segment(s, replace(row, path="other.mp4")))
    with pytest.raises(Conflict):
        await db.write(lambda s: open_segment(s, replace(row, sequence=1)))
    with pytest.raises(ValueError):
        await db.write(
            lambda s: open_segment(s, replace(row, sequence=1, path="x.mp4", state="sealed"))
        )
    with pytest.raises(ValueError):
        await db.write(
            lambda s: open_segment(s, replace(row, sequence=1, path="x.mp4", clock_sync="maybe"))
        )


async def test_upsert_segment_for_recovery(db: Database) -> None:
    cam = await add_camera(db)
    run = await add_run(db, cam)
    row = seg(cam, run, 0, T0, T0 + 10 * SECOND, fragments=10, bytes=10_000)
    first_id = await db.write(lambda s: open_segment(s, row))
    # recovery truncates a torn segment and seals it
    recovered = replace(
        row,
        end_us=T0 + 8 * SECOND,
        bytes=8_000,
        fragments=8,
        sha256="0" * 64,
        state="recovered",
        sealed_us=T0,
    )
    assert await db.write(lambda s: upsert_segment(s, recovered)) == first_id
    # a file found on disk with no row at all
    orphan = seg(
        cam,
        run,
        1,
        T0 + 10 * SECOND,
        T0 + 20 * SECOND,
        sha256="1" * 64,
        state="recovered",
        sealed_us=T0,
    )
    orphan_id = await db.write(lambda s: upsert_segment(s, orphan))
    assert orphan_id != first_id
    async with db.read() as s:
        rows = await all_segments(s)
        assert [(r.id, r.state, r.bytes, r.sha256) for r in rows] == [
            (first_id, "recovered", 8_000, "0" * 64),
            (orphan_id, "recovered", 1000, "1" * 64),
        ]
        assert (await latest_segment(s, cam)).id == orphan_id  # type: ignore[union-attr]
        assert await latest_segment(s, cam + 1000) is None


async def test_segments_overlapping_boundaries(db: Database) -> None:
    a = await add_camera(db, "a-cam")
    b = await add_camera(db, "b-cam")
    run_a = await add_run(db, a)
    run_b = await add_run(db, b)
    s10 = 10 * SECOND
    rows = [
        seg(a, run_a, 0, T0, T0 + s10, state="sealed", sha256="0" * 64),
        seg(a, run_a, 1, T0 + s10, T0 + 2 * s10, state="sealed", sha256="1" * 64),
        seg(a, run_a, 2, T0 + 2 * s10, T0 + 3 * s10, state="sealed", sha256="2" * 64),
        seg(a, run_a, 3, T0 + 3 * s10, T0 + 3 * s10 + SECOND),  # still open
        seg(b, run_b, 0, T0 + s10 // 2, T0 + s10 + s10 // 2, state="sealed", sha256="3" * 64),
    ]

    async def insert_all(s: AsyncSession) -> None:
        for row in rows:
            await upsert_segment(s, row)

    await db.write(insert_all)

    async def query(
        camera: str | None, start_us: int, end_us: int, limit: int = 10000
    ) -> list[tuple[str, int]]:
        async with db.read() as s:
            found = await segments_overlapping(s, camera, start_us, end_us, limit)
        return [(r.camera, r.sequence) for r in found]

    # exactly one segment: its neighbours only touch it
    assert await query("a-cam", T0 + s10, T0 + 2 * s10) == [("a-cam", 1)]
    # straddling a boundary
    assert await query("a-cam", T0 + s10 - 1, T0 + s10 + 1) == [("a-cam", 0), ("a-cam", 1)]
    # the open segment is included
    assert await query("a-cam", T0 + 3 * s10, T0 + 100 * s10) == [("a-cam", 3)]
    # past everything, before everything
    assert await query("a-cam", T0 + 3 * s10 + SECOND, T0 + 100 * s10) == []
    assert await query(None, 0, T0) == []
    # all cameras: by camera name, then time
    assert await query(None, T0, T0 + 100 * s10) == [
        ("a-cam", 0),
        ("a-cam", 1),
        ("a-cam", 2),
        ("a-cam", 3),
        ("b-cam", 0),
    ]
    assert await query("b-cam", T0, T0 + 100 * s10) == [("b-cam", 0)]
    assert await query(None, T0 + s10, T0 + s10 + 1) == [("a-cam", 1), ("b-cam", 0)]
    assert await query(None, T0, T0 + 100 * s10, limit=2) == [("a-cam", 0), ("a-cam", 1)]
    assert await query("no-such-camera", T0, T0 + 100 * s10) == []


async def test_get_segment_not_found(db: Database) -> None:
    async with db.read() as s:
        with pytest.raises(SegmentNotFound) as info:
            await get_segment(s, 123456)
    assert isinstance(info.value, RecordNotFound)
    assert isinstance(info.value, LookupError)


# --- events ------------------------------------------------------------------------------


async def test_event_detail_round_trips(db: Database) -> None:
    cam = await add_camera(db)
    other = await add_camera(db, "other")
    detail = {
        "reason": "reconnect — 重新连接",
        "attempt": 3,
        "offset_us": -(2**40),
        "ratio": 0.25,
        "ok": False,
        "none": None,
        "nested": {"list": [1, "two", {"three": 3}]},
    }
    first = await db.write(
        lambda s: add_event(s, "camera.reconnect", T0, camera_id=cam, detail=detail)
    )
    await db.write(lambda s: add_event(s, "system.start", T0 + 1))
    await db.write(lambda s: add_event(s, "camera.reconnect", T0 + 2, camera_id=other))
    with pytest.raises(ValueError):
        await db.write(lambda s: add_event(s, "bad", T0, detail={"x": float("nan")}))

    async with db.read() as s:
        everything = await list_events(s)
        assert [(e.kind, e.at_us) for e in everything] == [
            ("camera.reconnect", T0 + 2),
            ("system.start", T0 + 1),
            ("camera.reconnect", T0),
        ]
        (mine,) = await list_events(s, camera_id=cam)
        assert mine.id == first
        assert mine.detail == detail
        assert mine.segment_id is None
        assert everything[1].detail == {}
        assert [e.camera_id for e in await list_events(s, kind="camera.reconnect")] == [other, cam]
        assert len(await list_events(s, limit=1)) == 1


# --- tokens ---------------------------------------------------------------------------------


async def test_token_create_lookup_revoke(db: Database) -> None:
    admin = await db.write(lambda s: create_token(s, "ops laptop", "admin", "hash-admin", T0))
    staff = await db.write(lambda s: create_token(s, "counter A1", "staff", "hash-staff", T0 + 1))
    assert (admin.name, admin.role, admin.created_us, admin.revoked_us, admin.last_used_us) == (
        "ops laptop",
        "admin",
        T0,
        None,
        None,
    )
    with pytest.raises(Conflict):
        await db.write(lambda s: create_token(s, "dup", "staff", "hash-admin", T0))
    with pytest.raises(ValueError):
        await db.write(lambda s: create_token(s, "bad", "root", "hash-root", T0))

    await db.write(lambda s: touch_token(s, admin.id, T0 + 5))
    with pytest.raises(RecordNotFound):
        await db.write(lambda s: touch_token(s, 999999, T0))
    async with db.read() as s:
        found = await token_by_hash(s, "hash-admin")
        assert found is not None
        assert (found.id, found.last_used_us) == (admin.id, T0 + 5)
        assert await token_by_hash(s, "unknown") is None

    await db.write(lambda s: revoke_token(s, staff.id, T0 + 10))
    await db.write(lambda s: revoke_token(s, staff.id, T0 + 20))  # first revocation wins
    async with db.read() as s:
        assert await token_by_hash(s, "hash-staff") is None
        assert (await token_by_hash(s, "hash-admin")) is not None
        tokens = await list_tokens(s)
    assert [(t.id, t.revoked_us) for t in tokens] == [(admin.id, None), (staff.id, T0 + 10)]


async def test_submitted_writes_are_group_committed_and_report_commits(db: Database) -> None:
    committed: list[int] = []

    async def failing(s: AsyncSession) -> None:
        await add_event(s, "never", T0)
        raise RuntimeError("one bad write in the batch")

    for i in range(20):
        db.submit(
            lambda s, i=i: add_event(s, "tick", T0 + i, detail={"i": i}),
            on_commit=lambda i=i: committed.append(i),
        )
        if i == 10:
            db.submit(failing, on_commit=lambda: committed.append(-1))
    events = await db.write(lambda s: list_events(s, kind=None, limit=100))
    assert sorted(e.detail["i"] for e in events) == list(range(20))
    assert all(e.kind == "tick" for e in events), "the failed write left nothing behind"
    assert sorted(committed) == list(range(20)), "callbacks only for committed writes"
