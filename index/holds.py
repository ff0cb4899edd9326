"""Retention holds: spans of camera footage that must be kept.

A hold protects a camera's footage over [start_us, end_us) (end_us None: up to now) while it
is active: not released, and not past its expiry. Receipt holds are placed by receipts and
get an expiry when their case is archived (the case hold); legal holds are placed and
released by admins with a reason; export holds by export requests. Nothing here deletes a
hold: a release is a recorded change (docs/design/storage.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import Conflict, HoldNotFound, InvalidRecord
from index.models import Camera, Hold, Segment
from index.records import HOLD_KINDS, HoldRecord

HOLD_PAGE_MAX = 1000


def _record(row: Hold, camera: str) -> HoldRecord:
    return HoldRecord(
        id=row.id,
        camera_id=row.camera_id,
        camera=camera,
        receipt_id=row.receipt_id,
        start_us=row.start_us,
        end_us=row.end_us,
        reason=row.reason,
        kind=row.kind,
        created_us=row.created_us,
        created_by=row.created_by,
        expires_us=row.expires_us,
        released_us=row.released_us,
        released_by=row.released_by,
        release_reason=row.release_reason,
    )


def active_clause(now_us: int) -> ColumnElement[bool]:
    """Holds that protect their footage at now_us."""
    return Hold.released_us.is_(None) & (Hold.expires_us.is_(None) | (Hold.expires_us > now_us))


def segment_held(now_us: int, ended_by_us: int | None = None) -> ColumnElement[bool]:
    """EXISTS an active hold overlapping the segment of the enclosing query (an open-ended
    hold counts as reaching every later segment). ended_by_us: the enclosing segments all
    ended by then, so only holds that started before it can overlap them — a redundant bound
    that lets PostgreSQL's anti join hash those holds alone (bench/storage.py)."""
    clause = exists().where(
        Hold.camera_id == Segment.camera_id,
        Hold.start_us < Segment.end_us,
        or_(Hold.end_us.is_(None), Hold.end_us > Segment.start_us),
        active_clause(now_us),
    )
    return clause if ended_by_us is None else clause.where(Hold.start_us < ended_by_us)


async def add_hold(
    s: AsyncSession,
    camera_id: int,
    start_us: int,
    end_us: int | None,
    reason: str,
    receipt_id: int | None = None,
    *,
    kind: str = "receipt",
    created_us: int = 0,
    created_by: str | None = None,
    export_id: int | None = None,
) -> int:
    """Insert a hold; end_us None means up to now."""
    if end_us is not None and end_us < start_us:
        raise InvalidRecord(f"hold end {end_us} is before its start {start_us}")
    if kind not in HOLD_KINDS:
        raise InvalidRecord(f"hold kind {kind!r} is not one of {HOLD_KINDS}")
    row = Hold(
        camera_id=camera_id,
        receipt_id=receipt_id,
        start_us=start_us,
        end_us=end_us,
        reason=reason,
        kind=kind,
        created_us=created_us,
        created_by=created_by,
        export_id=export_id,
    )
    s.add(row)
    await s.flush()
    return row.id


async def set_receipt_hold_end(s: AsyncSession, receipt_id: int, end_us: int | None) -> None:
    """Set the end of every hold the receipt placed."""
    await s.execute(update(Hold).where(Hold.receipt_id == receipt_id).values(end_us=end_us))


async def set_receipt_hold_expiry(s: AsyncSession, receipt_id: int, expires_us: int | None) -> None:
    """Set when the receipt's holds stop protecting (its case archived + archive_retain_days)."""
    await s.execute(
        update(Hold)
        .where(Hold.receipt_id == receipt_id, Hold.kind == "receipt")
        .values(expires_us=expires_us)
    )


async def get_hold(s: AsyncSession, hold_id: int) -> HoldRecord:
    stmt = select(Hold, Camera.name).join(Camera, Camera.id == Hold.camera_id)
    row = (await s.execute(stmt.where(Hold.id == hold_id))).first()
    if row is None:
        raise HoldNotFound(f"no hold with id {hold_id}")
    return _record(row[0], row[1])


async def release_hold(
    s: AsyncSession, hold_id: int, by: str, reason: str, now_us: int, *, kind: str = "legal"
) -> HoldRecord:
    """Release an active hold of kind; Conflict if it is already released or of another kind
    (a receipt's hold ends with its case, never by hand)."""
    hold = await get_hold(s, hold_id)
    if hold.kind != kind:
        raise Conflict(f"hold {hold_id} is a {hold.kind} hold; only {kind} holds are released here")
    if hold.released_us is not None:
        raise Conflict(f"hold {hold_id} was released already")
    await s.execute(
        update(Hold)
        .where(Hold.id == hold_id)
        .values(released_us=now_us, released_by=by, release_reason=reason)
    )
    return await get_hold(s, hold_id)


async def release_export_holds(
    s: AsyncSession, export_id: int, by: str, reason: str, now_us: int
) -> list[int]:
    """Release every active hold the export request placed; the ids released."""
    stmt = select(Hold.id).where(Hold.export_id == export_id, Hold.released_us.is_(None))
    ids = [int(i) for i in (await s.execute(stmt)).scalars()]
    if ids:
        await s.execute(
            update(Hold)
            .where(Hold.id.in_(ids))
            .values(released_us=now_us, released_by=by, release_reason=reason)
        )
    return ids


async def holds_for_export(s: AsyncSession, export_id: int) -> list[HoldRecord]:
    """The holds an export request placed, by camera name."""
    stmt = (
        select(Hold, Camera.name)
        .join(Camera, Camera.id == Hold.camera_id)
        .where(Hold.export_id == export_id)
        .order_by(Camera.name)
    )
    return [_record(h, name) for h, name in (await s.execute(stmt)).all()]


async def holds_for_receipt(s: AsyncSession, receipt_id: int) -> list[HoldRecord]:
    """The receipt's holds, by camera name."""
    stmt = (
        select(Hold, Camera.name)
        .join(Camera, Camera.id == Hold.camera_id)
        .where(Hold.receipt_id == receipt_id)
        .order_by(Camera.name, Hold.id)
    )
    return [_record(row, name) for row, name in (await s.execute(stmt)).all()]


async def holds_overlapping(
    s: AsyncSession, camera_id: int, start_us: int, end_us: int
) -> list[HoldRecord]:
    """The camera's holds with start < end_us and (end > start_us or open), by start."""
    stmt = (
        select(Hold, Camera.name)
        .join(Camera, Camera.id == Hold.camera_id)
        .where(
            Hold.camera_id == camera_id,
            Hold.start_us < end_us,
            (Hold.end_us.is_(None)) | (Hold.end_us > start_us),
        )
        .order_by(Hold.start_us, Hold.id)
    )
    return [_record(row, name) for row, name in (await s.execute(stmt)).all()]


async def list_holds(
    s: AsyncSession,
    *,
    kinds: Sequence[str] = HOLD_KINDS,
    active_at_us: int | None = None,
    camera_id: int | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[HoldRecord]:
    """Holds newest first; active_at_us: only those active then."""
    if not 1 <= limit <= HOLD_PAGE_MAX:
        raise InvalidRecord(f"limit must be between 1 and {HOLD_PAGE_MAX}")
    stmt = (
        select(Hold, Camera.name)
        .join(Camera, Camera.id == Hold.camera_id)
        .where(Hold.kind.in_(list(kinds)))
    )
    if active_at_us is not None:
        stmt = stmt.where(active_clause(active_at_us))
    if camera_id is not None:
        stmt = stmt.where(Hold.camera_id == camera_id)
    if before_id is not None:
        stmt = stmt.where(Hold.id < before_id)
    stmt = stmt.order_by(Hold.id.desc()).limit(limit)
    return [_record(row, name) for row, name in (await s.execute(stmt)).all()]
