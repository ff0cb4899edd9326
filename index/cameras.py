"""Camera rows: insert-or-update from the configuration, lookups by name."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cameras.urls import redact_url
from index.errors import CameraNotFound
from index.models import Camera
from index.records import CameraRecord


def _record(row: Camera) -> CameraRecord:
    counters = json.loads(row.counters_json)
    return CameraRecord(
        id=row.id,
        name=row.name,
        source_url=row.source_url,
        enabled=row.enabled,
        counters=tuple(str(c) for c in counters),
        created_us=row.created_us,
    )


async def ensure_camera(
    s: AsyncSession,
    name: str,
    source_url: str,
    counters: Sequence[str],
    enabled: bool,
    now_us: int,
) -> CameraRecord:
    """Insert the camera, or update its URL, counters and enabled flag; created_us is kept."""
    if isinstance(counters, str):
        # A bare string is a Sequence[str] too, and would be split into characters.
        raise TypeError("counters must be a sequence of counter ids, not a string")
    # Redact again here: a password in this table would end up in every backup.
    redacted_url = redact_url(source_url)
    counters_json = json.dumps(list(counters))
    row = (await s.execute(select(Camera).where(Camera.name == name))).scalar_one_or_none()
    if row is None:
        row = Camera(
            name=name,
            source_url=redacted_url,
            enabled=enabled,
            counters_json=counters_json,
            created_us=now_us,
        )
        s.add(row)
    else:
        row.source_url = redacted_url
        row.enabled = enabled
        row.counters_json = counters_json
    await s.flush()
    return _record(row)


async def list_cameras(s: AsyncSession) -> list[CameraRecord]:
    """Every camera, by name."""
    rows = (await s.execute(select(Camera).order_by(Camera.name))).scalars()
    return [_record(row) for row in rows]


async def get_camera(s: AsyncSession, name: str) -> CameraRecord:
    """The camera called name; raises CameraNotFound."""
    row = (await s.execute(select(Camera).where(Camera.name == name))).scalar_one_or_none()
    if row is None:
        raise CameraNotFound(f"no camera named {name!r}")
    return _record(row)
