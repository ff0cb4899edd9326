"""Bulk loading of synthetic index rows, for benchmarks only (bench/lookup.py, bench/integrity.py).

Rows are plain mappings of column name to value with explicit ids, inserted with
Core ``insert()`` executemany in batches, one transaction per batch through
Database.write, so the single-writer rule still holds. Nothing here validates
its input: the service never calls these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.db import Database
from index.models import (
    Base,
    Camera,
    CameraCounter,
    Counter,
    Gap,
    Hold,
    LogHash,
    LogLeaf,
    LogState,
    Receipt,
    Run,
    Segment,
)
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


@dataclasses.dataclass(frozen=True)
class LogBatch:
    """Consecutive appends to the Merkle log, as index.merkle.append_leaf would write them:
    their log_leaves rows, the log_hashes rows of the complete subtrees they made, and the
    log's size and compact range (the 32-byte roots joined, largest first) after them."""

    leaves: Sequence[Row]
    hashes: Sequence[Row]
    size: int
    compact: bytes


async def bulk_log(db: Database, batches: Iterable[LogBatch]) -> tuple[int, int]:
    """Load a Merkle log batch by batch; (leaves, subtree hashes) inserted.

    Each batch is one transaction that inserts its leaves and hashes and sets log_state, so
    every commit leaves the tables as that many appends would have: a prefix of the log
    that root_at and the proofs can read. The batches are consumed one at a time, so a
    generator never has to hold the whole log. Nothing checks that the rows agree with
    each other or with what is already stored.
    """
    leaves = _table(LogLeaf)
    hashes = _table(LogHash)
    state = _table(LogState)
    n_leaves = n_hashes = 0
    for batch in batches:

        async def run(s: AsyncSession, batch: LogBatch = batch) -> None:
            if batch.leaves:
                await s.execute(insert(leaves), list(batch.leaves))
            if batch.hashes:
                await s.execute(insert(hashes), list(batch.hashes))
            values = {"size": batch.size, "compact": batch.compact}
            # A migrated index has the row (0005 writes size 0); insert it otherwise.
            if (await s.execute(select(state.c.id).where(state.c.id == 1))).first() is None:
                await s.execute(insert(state).values(id=1, **values))
            else:
                await s.execute(update(state).where(state.c.id == 1).values(**values))

        await db.write(run)
        n_leaves += len(batch.leaves)
        n_hashes += len(batch.hashes)
    return n_leaves, n_hashes


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
