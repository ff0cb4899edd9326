"""Counters: create, change, delete, and which API cameras cover them.

The one home of the counter write policy, called by the JSON API (web/receipts_api.py) and
the admin pages (web/camera_pages.py) alike. Every write runs with its audit rows in one
transaction; a write that changes which counters a camera covers then reconciles the
recorders, whichever entry point made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from index import counters as counter_queries
from index.audit import add_audit, write_audited
from index.cameras import list_api_cameras, spec_of, update_api_camera
from index.db import Database
from index.errors import Conflict
from index.records import AuditIn, CameraRecord, CounterRecord
from surveil.camera_admin import Reconcile, apply_change, change_detail


async def _set_camera_counters(
    s: AsyncSession,
    record: CameraRecord,
    counters: tuple[str, ...],
    entry: AuditIn,
    now_us: int,
) -> None:
    """Make an API camera cover exactly counters, audited as camera.update."""
    spec = replace(spec_of(record), counters=counters)
    _, changed = await update_api_camera(s, spec, now_us)
    detail = change_detail(spec, changed)
    await add_audit(
        s, replace(entry, action="camera.update", target=record.name, detail=detail), now_us
    )


async def create_counter(
    db: Database, code: str, name: str, site: str | None, entry: AuditIn, now_us: int
) -> CounterRecord:
    """Add a counter, audited; Conflict if the code is taken."""
    entry = replace(entry, target=code, detail={"name": name, "site": site})
    return await write_audited(
        db, lambda s: counter_queries.create_counter(s, code, name, site, now_us), entry, now_us
    )


async def update_counter(
    db: Database, code: str, name: str, site: str | None, entry: AuditIn, now_us: int
) -> CounterRecord:
    """Change a counter's name and site, audited; CounterNotFound."""
    entry = replace(entry, target=code, detail={"name": name, "site": site})
    return await write_audited(
        db, lambda s: counter_queries.update_counter(s, code, name, site), entry, now_us
    )


async def delete_counter(
    db: Database, code: str, entry: AuditIn, now_us: int, reconcile: Reconcile
) -> list[str]:
    """Delete a counter, audited; Conflict while receipts refer to it.

    API cameras that covered it stop covering it (each change audited as camera.update),
    and the recorders are reconciled. Returns the names of the cameras changed.
    """
    counter_entry = replace(entry, target=code)

    async def write(s: AsyncSession) -> list[str]:
        await counter_queries.delete_counter(s, code)
        changed_names: list[str] = []
        for record in await list_api_cameras(s):
            if code in record.counters:
                counters = tuple(c for c in record.counters if c != code)
                await _set_camera_counters(s, record, counters, entry, now_us)
                changed_names.append(record.name)
        await add_audit(s, counter_entry, now_us)
        return changed_names

    changed = await db.write(write)
    await apply_change(reconcile, code)
    return changed


async def set_counter_cameras(
    db: Database,
    code: str,
    cameras: Sequence[str],
    entry: AuditIn,
    now_us: int,
    reconcile: Reconcile,
) -> list[str]:
    """Make exactly `cameras` (API cameras) cover counter `code`; other API cameras stop
    covering it. One audited camera.update per camera changed, then a reconcile if any
    did; returns the names of those cameras. Config cameras are not touched (their links
    come from the config file)."""
    wanted = set(cameras)

    async def write(s: AsyncSession) -> list[str]:
        await counter_queries.get_counter(s, code)  # CounterNotFound
        records = await list_api_cameras(s)
        unknown = wanted - {r.name for r in records}
        if unknown:
            raise Conflict(
                f"camera {sorted(unknown)[0]!r} is not an API camera; "
                "config cameras are linked in the config file"
            )
        changed_names: list[str] = []
        for record in records:
            has = code in record.counters
            if has == (record.name in wanted):
                continue
            counters = (
                tuple(c for c in record.counters if c != code) if has else (*record.counters, code)
            )
            await _set_camera_counters(s, record, counters, entry, now_us)
            changed_names.append(record.name)
        return changed_names

    changed_names = await db.write(write)
    if changed_names:
        await apply_change(reconcile, code)
    return changed_names
