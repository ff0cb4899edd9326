"""Retention holds: spans of camera footage that must be kept."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.models import Camera, Hold
from index.records import HoldRecord


def _record(row: Hold, camera: str) -> HoldRecord:
    return HoldRecord(
        id=row.id,
        camera_id=row.camera_id,
        camera=camera,
        receipt_id=row.receipt_id,
        start_us=row.start_us,
        end_us=row.end_us,
        reason=row.reason,
    )


async def add_hold(
    s: AsyncSession,
    camera_id: int,
    start_us: int,
    end_us: int | None,
    reason: str,
    receipt_id: int | None = None,
) -> int:
    """Insert a hold; end_us None means up to now."""
    if end_us is not None and end_us < start_us:
        raise ValueError(f"hold end {end_us} is before its start {start_us}")
    row = Hold(
        camera_id=camera_id, receipt_id=receipt_id, start_us=start_us, end_us=end_us, reason=reason
    )
    s.add(row)
    await s.flush()
    return row.id


async def set_receipt_hold_end(s: AsyncSession, receipt_id: int, end_us: int | None) -> None:
    """Set the end of every hold the receipt placed."""
    await s.execute(update(Hold).where(Hold.receipt_id == receipt_id).values(end_us=end_us))


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
