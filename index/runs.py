"""Runs (unbroken recording) and the gaps between them."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import Conflict, RecordNotFound
from index.models import Gap, Run
from index.records import GapRecord, RunRecord


def _run_record(row: Run) -> RunRecord:
    return RunRecord(
        id=row.id,
        camera_id=row.camera_id,
        start_us=row.start_us,
        end_us=row.end_us,
        start_reason=row.start_reason,
        end_reason=row.end_reason,
    )


def _gap_record(row: Gap) -> GapRecord:
    return GapRecord(
        id=row.id,
        camera_id=row.camera_id,
        start_us=row.start_us,
        end_us=row.end_us,
        reason=row.reason,
    )


async def start_run(s: AsyncSession, camera_id: int, start_us: int, reason: str) -> int:
    """Open a run and close the camera's open gap at start_us; returns the run id.

    Raises Conflict if the camera still has an open run: after a crash, recovery
    must end it first, or the index would claim two simultaneous recordings.
    """
    open_run = (
        await s.execute(
            select(Run.id).where(Run.camera_id == camera_id, Run.end_us.is_(None)).limit(1)
        )
    ).scalar_one_or_none()
    if open_run is not None:
        raise Conflict(f"camera {camera_id} already has open run {open_run}")
    await s.execute(
        update(Gap).where(Gap.camera_id == camera_id, Gap.end_us.is_(None)).values(end_us=start_us)
    )
    run = Run(camera_id=camera_id, start_us=start_us, start_reason=reason)
    s.add(run)
    await s.flush()
    return run.id


async def end_run(s: AsyncSession, run_id: int, end_us: int, reason: str) -> None:
    """End the run at end_us and open a gap there with the same reason.

    Raises RecordNotFound for an unknown run, Conflict if it has already ended.
    """
    run = await s.get(Run, run_id)
    if run is None:
        raise RecordNotFound(f"no run with id {run_id}")
    if run.end_us is not None:
        raise Conflict(f"run {run_id} already ended at {run.end_us}")
    run.end_us = end_us
    run.end_reason = reason
    s.add(Gap(camera_id=run.camera_id, start_us=end_us, reason=reason))
    await s.flush()


async def open_runs(s: AsyncSession) -> list[RunRecord]:
    """Runs not yet ended (after a crash: the ones recovery must close)."""
    rows = (
        await s.execute(
            select(Run).where(Run.end_us.is_(None)).order_by(Run.camera_id, Run.start_us, Run.id)
        )
    ).scalars()
    return [_run_record(row) for row in rows]


async def runs_for_camera(s: AsyncSession, camera_id: int) -> list[RunRecord]:
    """Every run of one camera, oldest first."""
    rows = (
        await s.execute(
            select(Run).where(Run.camera_id == camera_id).order_by(Run.start_us, Run.id)
        )
    ).scalars()
    return [_run_record(row) for row in rows]


async def gaps_overlapping(
    s: AsyncSession, camera_id: int, start_us: int, end_us: int
) -> list[GapRecord]:
    """Gaps of one camera overlapping [start_us, end_us); an open gap extends to +inf."""
    rows = (
        await s.execute(
            select(Gap)
            .where(
                Gap.camera_id == camera_id,
                Gap.start_us < end_us,
                or_(Gap.end_us.is_(None), Gap.end_us > start_us),
            )
            .order_by(Gap.start_us, Gap.id)
        )
    ).scalars()
    return [_gap_record(row) for row in rows]
