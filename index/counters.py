"""Counters and the links between cameras and the counters they cover."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import CameraNotFound, Conflict, CounterNotFound, InvalidRecord
from index.models import Camera, CameraCounter, Counter, Receipt
from index.records import CounterRecord
from index.text import check_text, text_problem

COUNTER_CODE_MAX: Final = 32
# \Z, not $: "$" also matches before a final newline, and "A01\n" would pass.
COUNTER_CODE_PATTERN: Final = "[A-Za-z0-9][A-Za-z0-9_-]{0,31}"  # portable: see index/cameras.py
COUNTER_CODE_RE: Final = re.compile(rf"^{COUNTER_CODE_PATTERN}\Z")
NAME_MAX: Final = 200  # name and site


def validate_counter(code: str, name: str, site: str | None) -> None:
    """InvalidRecord unless the code is well formed and name and site fit their columns."""
    if not COUNTER_CODE_RE.match(code):
        shown = code if len(code) <= 40 else code[:40] + "..."
        raise InvalidRecord(
            f"counter code {shown!r} must be 1-32 of letters, digits, '-', '_', "
            "starting with a letter or digit"
        )
    if not name or len(name) > NAME_MAX:
        raise InvalidRecord(f"counter name must be 1-{NAME_MAX} characters")
    if site is not None and len(site) > NAME_MAX:
        raise InvalidRecord(f"counter site must be at most {NAME_MAX} characters")
    # Shown on pages and in exports: one line of text.
    check_text(name, "counter name")
    check_text(site, "counter site")


def _record(row: Counter) -> CounterRecord:
    return CounterRecord(
        id=row.id, code=row.code, name=row.name, site=row.site, created_us=row.created_us
    )


async def _row(s: AsyncSession, code: str) -> Counter | None:
    if text_problem(code) is not None:
        return None  # never stored; and PostgreSQL would refuse the query (a NUL)
    return (await s.execute(select(Counter).where(Counter.code == code))).scalar_one_or_none()


async def list_counters(s: AsyncSession) -> list[CounterRecord]:
    """Every counter, by code."""
    rows = (await s.execute(select(Counter).order_by(Counter.code))).scalars()
    return [_record(row) for row in rows]


async def get_counter(s: AsyncSession, code: str) -> CounterRecord:
    """The counter with this code; raises CounterNotFound."""
    row = await _row(s, code)
    if row is None:
        raise CounterNotFound(f"no counter with code {code!r}")
    return _record(row)


async def create_counter(
    s: AsyncSession, code: str, name: str, site: str | None, now_us: int
) -> CounterRecord:
    """Insert a new counter; Conflict if the code is taken, InvalidRecord if malformed."""
    validate_counter(code, name, site)
    if await _row(s, code) is not None:
        raise Conflict(f"a counter with code {code!r} already exists")
    row = Counter(code=code, name=name, site=site, created_us=now_us)
    s.add(row)
    await s.flush()
    return _record(row)


async def ensure_counter(
    s: AsyncSession, code: str, name: str, site: str | None, now_us: int
) -> CounterRecord:
    """Insert the counter, or update its name and site; created_us is kept."""
    validate_counter(code, name, site)
    row = await _row(s, code)
    if row is None:
        return await create_counter(s, code, name, site, now_us)
    row.name = name
    row.site = site
    await s.flush()
    return _record(row)


async def update_counter(s: AsyncSession, code: str, name: str, site: str | None) -> CounterRecord:
    """Change an existing counter's name and site; raises CounterNotFound."""
    validate_counter(code, name, site)
    row = await _row(s, code)
    if row is None:
        raise CounterNotFound(f"no counter with code {code!r}")
    row.name = name
    row.site = site
    await s.flush()
    return _record(row)


async def delete_counter(s: AsyncSession, code: str) -> None:
    """Delete a counter and its camera links; Conflict while receipts refer to it."""
    row = await _row(s, code)
    if row is None:
        raise CounterNotFound(f"no counter with code {code!r}")
    used = (
        await s.execute(select(Receipt.id).where(Receipt.counter_id == row.id).limit(1))
    ).first()
    if used is not None:
        # Receipts are evidence: their counter must stay resolvable.
        raise Conflict(f"counter {code!r} cannot be deleted: receipts refer to it")
    await s.execute(delete(CameraCounter).where(CameraCounter.counter_id == row.id))
    await s.delete(row)
    await s.flush()


async def link_camera_counters(
    s: AsyncSession, camera_id: int, codes: Sequence[str], now_us: int | None = None
) -> list[CounterRecord]:
    """Make codes exactly the counters this camera covers; unknown codes become counters.

    A counter created here has only its code (name = code); config or the API can name it.
    """
    if isinstance(codes, str):
        raise TypeError("codes must be a sequence of counter codes, not a string")
    if await s.get(Camera, camera_id) is None:
        raise CameraNotFound(f"no camera with id {camera_id}")
    created_us = 0 if now_us is None else now_us
    records: list[CounterRecord] = []
    for code in dict.fromkeys(codes):
        row = await _row(s, code)
        records.append(
            _record(row)
            if row is not None
            else await create_counter(s, code, code, None, created_us)
        )
    await s.execute(delete(CameraCounter).where(CameraCounter.camera_id == camera_id))
    for record in records:
        s.add(CameraCounter(camera_id=camera_id, counter_id=record.id))
    await s.flush()
    return records


async def cameras_for_counter(s: AsyncSession, counter_id: int) -> list[tuple[int, str]]:
    """(camera id, camera name) of every camera linked to the counter, by name."""
    stmt = (
        select(Camera.id, Camera.name)
        .join(CameraCounter, CameraCounter.camera_id == Camera.id)
        .where(CameraCounter.counter_id == counter_id)
        .order_by(Camera.name)
    )
    return [(int(cid), str(name)) for cid, name in (await s.execute(stmt)).all()]
