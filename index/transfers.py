"""Transfer rows: which sealed segments central storage has confirmed, and what is pending.

No row means pending. A confirmation is one transaction with its leaf in the Merkle log
(kind "transfer"), so the log proves what reached central storage, when, under which key.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index import merkle
from index.models import LogLeaf, Segment, Transfer, TransferBatch
from index.records import SegmentRecord
from index.segments import _record as _segment_record
from index.segments import _with_camera
from tlog import leaves

# Segments that may be sent: sealed and intact as far as the index knows.
SENDABLE_STATES = leaves.LOGGED_SEGMENT_STATES


@dataclass(frozen=True)
class TransferRecord:
    segment_id: int
    target: str
    object_key: str
    state: str
    attempts: int
    error: str | None
    updated_us: int
    next_attempt_us: int | None
    confirmed_us: int | None
    retain_until_us: int | None
    leaf_index: int | None = None


@dataclass(frozen=True)
class Backlog:
    """What central storage does not have yet."""

    segments: int
    bytes: int
    oldest_sealed_us: int | None  # the lag is now minus this
    failing: int  # of those, how many failed their last attempt


def _record(row: Transfer, leaf: int | None = None) -> TransferRecord:
    return TransferRecord(
        segment_id=row.segment_id,
        target=row.target,
        object_key=row.object_key,
        state=row.state,
        attempts=row.attempts,
        error=row.error,
        updated_us=row.updated_us,
        next_attempt_us=row.next_attempt_us,
        confirmed_us=row.confirmed_us,
        retain_until_us=row.retain_until_us,
        leaf_index=leaf,
    )


def _not_confirmed() -> object:
    return (
        ~select(Transfer.segment_id)
        .where(Transfer.segment_id == Segment.id, Transfer.state == "confirmed")
        .exists()
    )


async def due(s: AsyncSession, now_us: int, after_id: int, limit: int) -> list[SegmentRecord]:
    """Sealed segments not confirmed whose next attempt is due, by id (oldest first)."""
    stmt = (
        _with_camera()
        .outerjoin(Transfer, Transfer.segment_id == Segment.id)
        .where(
            Segment.state.in_(SENDABLE_STATES),
            Segment.id > after_id,
            or_(
                Transfer.segment_id.is_(None),
                and_(
                    Transfer.state != "confirmed",
                    or_(Transfer.next_attempt_us.is_(None), Transfer.next_attempt_us <= now_us),
                ),
            ),
        )
        .order_by(Segment.id)
        .limit(limit)
    )
    return [_segment_record(row, cam, leaf) for row, cam, leaf in await s.execute(stmt)]


async def _upsert(s: AsyncSession, segment_id: int, values: dict[str, object]) -> None:
    found = await s.get(Transfer, segment_id)
    if found is None:
        await s.execute(insert(Transfer).values(segment_id=segment_id, **values))
    else:
        await s.execute(
            update(Transfer)
            .where(Transfer.segment_id == segment_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        s.expire(found)


async def record_failure(
    s: AsyncSession,
    segment_id: int,
    target: str,
    key: str,
    error: str,
    now_us: int,
    next_attempt: Callable[[int], int],
) -> int:
    """One more failed attempt, not retried before next_attempt(attempts so far); returns
    the attempts so far."""
    found = await s.get(Transfer, segment_id)
    attempts = 1 if found is None else found.attempts + 1
    if found is not None and found.state == "confirmed":
        return found.attempts  # confirmed meanwhile: a late failure changes nothing
    await _upsert(
        s,
        segment_id,
        {
            "target": target,
            "object_key": key,
            "state": "failed",
            "attempts": attempts,
            "error": error[:2000],
            "updated_us": now_us,
            "next_attempt_us": next_attempt(attempts),
        },
    )
    return attempts


def transfer_leaf(seg: SegmentRecord, t: TransferRecord) -> bytes:
    assert seg.sha256 is not None and t.confirmed_us is not None
    return leaves.transfer_leaf(
        segment_id=seg.id,
        target=t.target,
        key=t.object_key,
        size=seg.bytes,
        sha256=seg.sha256,
        confirmed_us=t.confirmed_us,
        retain_until_us=t.retain_until_us,
    )


async def confirm(
    s: AsyncSession,
    seg: SegmentRecord,
    target: str,
    key: str,
    retain_until_us: int | None,
    now_us: int,
) -> TransferRecord:
    """The store reported the object with the segment's size and SHA-256: confirmed, with
    its leaf, once (a second confirmation of a confirmed segment changes nothing)."""
    found = await s.get(Transfer, seg.id)
    if found is not None and found.state == "confirmed":
        return _record(found)
    await _upsert(
        s,
        seg.id,
        {
            "target": target,
            "object_key": key,
            "state": "confirmed",
            "attempts": 1 if found is None else found.attempts + 1,
            "error": None,
            "updated_us": now_us,
            "next_attempt_us": None,
            "confirmed_us": now_us,
            "retain_until_us": retain_until_us,
        },
    )
    row = await s.get(Transfer, seg.id, populate_existing=True)
    assert row is not None
    record = _record(row)
    idx = await merkle.append_leaf(
        s, leaves.KIND_TRANSFER, seg.id, transfer_leaf(seg, record), now_us
    )
    return TransferRecord(**{**record.__dict__, "leaf_index": idx})


async def backlog(s: AsyncSession, now_us: int) -> Backlog:
    """Sealed segments not confirmed: count, bytes, the oldest seal, how many are failing."""
    stmt = (
        select(
            func.count(Segment.id),
            func.coalesce(func.sum(Segment.bytes), 0),
            func.min(func.coalesce(Segment.sealed_us, Segment.created_us)),
            func.count(Transfer.segment_id).filter(Transfer.state == "failed"),
        )
        .outerjoin(Transfer, Transfer.segment_id == Segment.id)
        .where(
            Segment.state.in_(SENDABLE_STATES),
            or_(Transfer.segment_id.is_(None), Transfer.state != "confirmed"),
        )
    )
    n, size, oldest, failing = (await s.execute(stmt)).one()
    return Backlog(int(n), int(size), None if oldest is None else int(oldest), int(failing))


async def confirmed_totals(s: AsyncSession) -> tuple[int, int]:
    stmt = (
        select(func.count(Transfer.segment_id), func.coalesce(func.sum(Segment.bytes), 0))
        .join(Segment, Segment.id == Transfer.segment_id)
        .where(Transfer.state == "confirmed")
    )
    n, size = (await s.execute(stmt)).one()
    return int(n), int(size)


async def transfers_by_ids(s: AsyncSession, ids: Collection[int]) -> dict[int, TransferRecord]:
    out: dict[int, TransferRecord] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        stmt = (
            select(Transfer, LogLeaf.idx)
            .outerjoin(
                LogLeaf,
                (LogLeaf.kind == leaves.KIND_TRANSFER) & (LogLeaf.ref_id == Transfer.segment_id),
            )
            .where(Transfer.segment_id.in_(wanted[start : start + 500]))
        )
        out.update({row.segment_id: _record(row, leaf) for row, leaf in await s.execute(stmt)})
    return out


async def confirmed_page(
    s: AsyncSession, after_id: int, limit: int
) -> list[tuple[SegmentRecord, TransferRecord]]:
    """Confirmed transfers with their segments, by segment id (verify --central)."""
    stmt = (
        _with_camera()
        .add_columns(Transfer)
        .join(Transfer, Transfer.segment_id == Segment.id)
        .where(Transfer.state == "confirmed", Segment.id > after_id)
        .order_by(Segment.id)
        .limit(limit)
    )
    return [
        (_segment_record(row, cam, leaf), _record(t)) for row, cam, leaf, t in await s.execute(stmt)
    ]


async def transfer_of(s: AsyncSession, segment_id: int) -> TransferRecord | None:
    row = await s.get(Transfer, segment_id)
    return None if row is None else _record(row)


async def start_batch(s: AsyncSession, now_us: int) -> int:
    row = TransferBatch(started_us=now_us, segments=0, bytes=0)
    s.add(row)
    await s.flush()
    return row.id


async def finish_batch(
    s: AsyncSession,
    batch_id: int,
    *,
    segments: int,
    size: int,
    checkpoint_size: int | None,
    manifest_key: str | None,
    error: str | None,
    now_us: int,
) -> None:
    await s.execute(
        update(TransferBatch)
        .where(TransferBatch.id == batch_id)
        .values(
            segments=segments,
            bytes=size,
            checkpoint_size=checkpoint_size,
            manifest_key=manifest_key,
            error=error,
            finished_us=now_us,
        )
    )


async def confirmed_ids(s: AsyncSession, segment_ids: Collection[int]) -> set[int]:
    """Of segment_ids, those confirmed in central storage."""
    out: set[int] = set()
    wanted = list(segment_ids)
    for start in range(0, len(wanted), 500):
        stmt = select(Transfer.segment_id).where(
            Transfer.segment_id.in_(wanted[start : start + 500]), Transfer.state == "confirmed"
        )
        out.update((await s.scalars(stmt)).all())
    return out
