"""The operational event log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from index.models import Event
from index.records import EventRecord


def _record(row: Event) -> EventRecord:
    return EventRecord(
        id=row.id,
        at_us=row.at_us,
        kind=row.kind,
        camera_id=row.camera_id,
        segment_id=row.segment_id,
        detail=cast(dict[str, object], json.loads(row.detail_json)),
    )


async def add_event(
    s: AsyncSession,
    kind: str,
    at_us: int,
    camera_id: int | None = None,
    segment_id: int | None = None,
    detail: Mapping[str, object] | None = None,
) -> int:
    """Append an event; detail must be JSON-serialisable. Returns the event id."""
    # allow_nan=False: NaN is not JSON, and PostgreSQL's json functions reject it.
    detail_json = json.dumps(dict(detail or {}), sort_keys=True, allow_nan=False)
    row = Event(
        at_us=at_us, kind=kind, camera_id=camera_id, segment_id=segment_id, detail_json=detail_json
    )
    s.add(row)
    await s.flush()
    return row.id


async def list_events(
    s: AsyncSession, camera_id: int | None = None, kind: str | None = None, limit: int = 100
) -> list[EventRecord]:
    """The newest events first, optionally for one camera and/or one kind."""
    stmt = select(Event)
    if camera_id is not None:
        stmt = stmt.where(Event.camera_id == camera_id)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    stmt = stmt.order_by(Event.at_us.desc(), Event.id.desc()).limit(limit)
    return [_record(row) for row in (await s.execute(stmt)).scalars()]


async def segment_events(
    s: AsyncSession, segment_id: int, kinds: Sequence[str], limit: int = 100
) -> list[EventRecord]:
    """Events of these kinds about one segment, newest first."""
    stmt = (
        select(Event)
        .where(Event.segment_id == segment_id, Event.kind.in_(list(kinds)))
        .order_by(Event.at_us.desc(), Event.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in (await s.execute(stmt)).scalars()]
