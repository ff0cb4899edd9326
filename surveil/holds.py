"""Legal holds: an admin keeps footage from retention, with a reason; each placement and
release is one transaction with its audit entry (and so a leaf of the log).

The one home of the legal-hold policy: the API and the pages call these. Receipt holds are
placed by receipts (surveil/receipts.py) and end with their case; export holds by export
requests. A release never deletes the hold: it stays, with who released it and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from index import cameras, holds
from index.audit import add_audit
from index.db import Database
from index.errors import InvalidRecord
from index.records import AuditIn, HoldRecord

MAX_REASON = 200


def _hold_detail(h: HoldRecord) -> dict[str, object]:
    return {
        "hold": h.id,
        "kind": h.kind,
        "camera": h.camera,
        "start_us": h.start_us,
        "end_us": h.end_us,
        "reason": h.reason,
    }


async def place_legal_hold(
    db: Database,
    camera_names: Sequence[str],
    start_us: int,
    end_us: int | None,
    reason: str,
    actor: AuditIn,
    now_us: int,
) -> list[HoldRecord]:
    """Hold each named camera's footage over [start_us, end_us) (end None: from start on,
    until released); audited as hold.place, one entry per camera. Raises CameraNotFound or
    InvalidRecord, and then nothing is written."""
    reason = reason.strip()
    if not reason:
        raise InvalidRecord("a legal hold needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidRecord(f"the reason is longer than {MAX_REASON} characters")
    if not camera_names:
        raise InvalidRecord("name at least one camera")
    if end_us is not None and end_us <= start_us:
        raise InvalidRecord("the hold must end after it starts")

    async def write(s: AsyncSession) -> list[HoldRecord]:
        out: list[HoldRecord] = []
        for name in dict.fromkeys(camera_names):
            cam = await cameras.get_camera(s, name)
            hold_id = await holds.add_hold(
                s,
                cam.id,
                start_us,
                end_us,
                reason,
                kind="legal",
                created_us=now_us,
                created_by=actor.actor,
            )
            record = await holds.get_hold(s, hold_id)
            entry = replace(
                actor, action="hold.place", target=f"hold {hold_id}", detail=_hold_detail(record)
            )
            await add_audit(s, entry, now_us)
            out.append(record)
        return out

    return await db.write(write)


async def release_legal_hold(
    db: Database, hold_id: int, reason: str, actor: AuditIn, now_us: int
) -> HoldRecord:
    """Release a legal hold, with a reason; audited as hold.release. Raises HoldNotFound, or
    Conflict for a hold already released or not a legal one."""
    reason = reason.strip()
    if not reason:
        raise InvalidRecord("releasing a legal hold needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidRecord(f"the reason is longer than {MAX_REASON} characters")

    async def write(s: AsyncSession) -> HoldRecord:
        record = await holds.release_hold(s, hold_id, actor.actor, reason, now_us)
        detail = {**_hold_detail(record), "release_reason": reason}
        entry = replace(actor, action="hold.release", target=f"hold {hold_id}", detail=detail)
        await add_audit(s, entry, now_us)
        return record

    return await db.write(write)
