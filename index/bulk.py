"""Bulk loading of synthetic index rows, for benchmarks only (bench/lookup.py).

Rows are plain mappings of column name to value with explicit ids, inserted with
Core ``insert()`` executemany in batches, one transaction per batch through
Database.write, so the single-writer rule still holds. Nothing here validates
its input: the service never calls these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from index.db import Database
from index.models import Base, Camera, CameraCounter, Counter, Gap, Hold, Receipt, Run, Segment
from index.records import SegmentRecord, SegmentRow

Row = Mapping[str, object]

BATCH_ROWS = 20_000

_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(SegmentRow))


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


async def _insert(db: Database, table: Table, rows: Iterable[Row], batch_rows: int) -> int:
    total = 0
    for batch in _batches(rows, batch_rows):

        async def run(s: AsyncSession, batch: list[Row] = batch) -> None:
            # A list of parameter sets makes this one executemany, not an ORM flush.
            await s.execute(insert(table), batch)

        await db.write(run)
        total += len(batch)
    if db.dialect == "postgresql" and total:
        await _advance_sequence(db, table)
    return total


async def _advance_sequence(db: Database, table: Table) -> None:
    # Explicit ids bypass the id sequence; move it past them so a later
    # ordinary insert does not collide.
    if "id" not in table.c:
        return

    async def run(s: AsyncSession) -> None:
        top = (await s.execute(select(func.max(table.c.id)))).scalar_one()
        await s.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
            {"t": table.name, "v": int(top)},
        )

    await db.write(run)


async def insert_cameras(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert camera rows (columns of cameras, counters as its JSON text); the row count."""
    return await _insert(db, _table(Camera), rows, batch_rows)


async def insert_counters(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert counter rows; the row count."""
    return await _insert(db, _table(Counter), rows, batch_rows)


async def insert_camera_counters(
    db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS
) -> int:
    """Insert (camera_id, counter_id) links; the row count."""
    return await _insert(db, _table(CameraCounter), rows, batch_rows)


async def insert_runs(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert run rows; the row count."""
    return await _insert(db, _table(Run), rows, batch_rows)


async def insert_gaps(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert gap rows; the row count."""
    return await _insert(db, _table(Gap), rows, batch_rows)


async def insert_segments(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert segment rows; the row count."""
    return await _insert(db, _table(Segment), rows, batch_rows)


async def insert_receipts(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert receipt rows; the row count."""
    return await _insert(db, _table(Receipt), rows, batch_rows)


async def insert_holds(db: Database, rows: Iterable[Row], batch_rows: int = BATCH_ROWS) -> int:
    """Insert hold rows; the row count."""
    return await _insert(db, _table(Hold), rows, batch_rows)


async def analyze(db: Database) -> None:
    """Refresh planner statistics after a bulk load, as a long-running index would have."""

    async def run(s: AsyncSession) -> None:
        await s.execute(text("ANALYZE"))

    await db.write(run)


async def naive_segments_overlapping(
    s: AsyncSession, camera: str, start_us: int, end_us: int, limit: int = 10000
) -> list[SegmentRecord]:
    """BENCHMARK BASELINE ONLY: segments_overlapping without the MAX_SEGMENT_SPAN_US bound.

    The same result as index.segments.segments_overlapping for one camera, but the
    (camera_id, start_us) index scan runs over everything before end_us; bench/lookup.py
    times both to show what the bound is worth. Never use it in the service.
    """
    stmt = (
        select(Segment, Camera.name)
        .join(Camera, Camera.id == Segment.camera_id)
        .where(Camera.name == camera, Segment.start_us < end_us, Segment.end_us > start_us)
        .order_by(Camera.name, Segment.start_us, Segment.id)
        .limit(limit)
    )
    return [
        SegmentRecord(id=row.id, camera=name, **{f: getattr(row, f) for f in _ROW_FIELDS})
        for row, name in await s.execute(stmt)
    ]
