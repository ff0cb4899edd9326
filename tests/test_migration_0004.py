"""Migration 0004 (segment state 'damaged') on an index that already holds footage."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from index import events, merkle, segments
from index.db import Database, alembic_config
from index.models import Base

T0 = 1_767_225_600_000_000


def _to(revision: str, *, down: bool = False):  # type: ignore[no-untyped-def]
    def run(conn: Connection) -> None:
        cfg = alembic_config(conn)
        if down:
            command.downgrade(cfg, revision)
        else:
            command.upgrade(cfg, revision)

    return run


async def _at_0003_with_footage(url: str) -> None:
    """An index at revision 0003 with a segment and an event that points at it."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_to("0003"))
            await conn.execute(
                text(
                    "INSERT INTO cameras (id, name, source_url, enabled, counters, created_us,"
                    " origin) VALUES (1, 'cam-a', 'rtsp://h/x', true, '[]', :t, 'config')"
                ),
                {"t": T0},
            )
            await conn.execute(
                text(
                    "INSERT INTO runs (id, camera_id, start_us, start_reason)"
                    " VALUES (1, 1, :t, 'connected')"
                ),
                {"t": T0},
            )
            await conn.execute(
                text(
                    "INSERT INTO segments (id, camera_id, run_id, sequence, path, start_us,"
                    " end_us, duration_us, bytes, sha256, state, video_codec, fragments,"
                    " clock_sync, created_us, sealed_us) VALUES (1, 1, 1, 0, 'cam-a/s0.mp4',"
                    " :t, :e, 1000000, 100, :h, 'sealed', 'h264', 1, 'synced', :t, :t)"
                ),
                {"t": T0, "e": T0 + 1_000_000, "h": "0" * 64},
            )
            await conn.execute(
                text(
                    "INSERT INTO events (at_us, kind, camera_id, segment_id, detail)"
                    " VALUES (:t, 'segment_recovered', 1, 1, '{}')"
                ),
                {"t": T0},
            )
    finally:
        await engine.dispose()


async def test_upgrade_keeps_footage_and_event_links(database_url: str) -> None:
    await _at_0003_with_footage(database_url)
    db = await Database.open(database_url)  # migrates to the head
    try:
        async with db.read() as s:
            version = (await s.execute(text("SELECT version_num FROM alembic_version"))).all()
            [ev] = await events.list_events(s, kind="segment_recovered")
            seg = await segments.get_segment(s, 1)
        assert version == [("0007",)]
        async with db.read() as s:
            # 0005 logged the segment sealed before the upgrade (the only entry).
            assert await merkle.log_size(s) == 1
            leaf = await merkle.leaf_at(s, 0)
        assert (leaf.kind, leaf.ref_id) == ("segment", 1)
        assert leaf.leaf == segments.segment_leaf(seg, seg.camera)
        # Recreating segments on SQLite would have run ON DELETE SET NULL on this link.
        assert ev.segment_id == 1
        assert (seg.state, seg.sha256) == ("sealed", "0" * 64)
        await db.write(lambda s: segments.set_segment_state(s, 1, "damaged"))

        async def bogus(s) -> None:  # type: ignore[no-untyped-def]
            await s.execute(text("UPDATE segments SET state = 'bogus' WHERE id = 1"))

        with pytest.raises(IntegrityError):
            await db.write(bogus)

        def diff(conn: Connection) -> list[object]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))

        async with db.read() as s:
            assert await (await s.connection()).run_sync(diff) == []
    finally:
        await db.close()


async def test_downgrade_is_refused_while_a_segment_is_damaged(database_url: str) -> None:
    await _at_0003_with_footage(database_url)
    db = await Database.open(database_url)
    try:
        await db.write(lambda s: segments.set_segment_state(s, 1, "damaged"))
    finally:
        await db.close()
    engine = create_async_engine(database_url)
    try:
        with pytest.raises(RuntimeError, match="damaged"):
            async with engine.begin() as conn:
                await conn.run_sync(_to("0003", down=True))
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE segments SET state = 'sealed'"))
            await conn.run_sync(_to("0003", down=True))
        async with engine.begin() as conn:
            with pytest.raises(IntegrityError):
                await conn.execute(text("UPDATE segments SET state = 'damaged'"))
    finally:
        await engine.dispose()
