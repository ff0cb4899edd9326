"""The append-only audit log: inserts and filtered reads, never updates or deletes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from index import merkle
from index.db import Database
from index.errors import InvalidRecord
from index.models import AuditEntry, LogLeaf
from index.records import AUDIT_ACTOR_KINDS, AUDIT_OUTCOMES, AuditIn, AuditRecord
from tlog import leaves

AUDIT_PAGE_MAX = 1000
T = TypeVar("T")


def _with_leaf() -> Select[AuditEntry, int | None]:
    return select(AuditEntry, LogLeaf.idx).outerjoin(
        LogLeaf, (LogLeaf.kind == leaves.KIND_AUDIT) & (LogLeaf.ref_id == AuditEntry.id)
    )


def _record(row: AuditEntry, leaf_index: int | None = None) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at_us=row.at_us,
        actor=row.actor,
        actor_kind=row.actor_kind,
        remote=row.remote,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        detail=json.loads(row.detail),
        leaf_index=leaf_index,
    )


async def add_audit(s: AsyncSession, entry: AuditIn, now_us: int) -> AuditRecord:
    """Append one entry; ValueError for an unknown actor kind or outcome."""
    if entry.actor_kind not in AUDIT_ACTOR_KINDS:
        raise ValueError(f"audit actor_kind {entry.actor_kind!r} is not one of {AUDIT_ACTOR_KINDS}")
    if entry.outcome not in AUDIT_OUTCOMES:
        raise ValueError(f"audit outcome {entry.outcome!r} is not one of {AUDIT_OUTCOMES}")
    row = AuditEntry(
        at_us=now_us,
        actor=entry.actor[:200],
        actor_kind=entry.actor_kind,
        remote=None if entry.remote is None else entry.remote[:64],
        action=entry.action[:64],
        target=None if entry.target is None else entry.target[:300],
        outcome=entry.outcome,
        detail=json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True),
    )
    s.add(row)
    await s.flush()
    record = _record(row)
    index = await merkle.append_leaf(s, leaves.KIND_AUDIT, record.id, audit_leaf(record), now_us)
    return replace(record, leaf_index=index)


def audit_leaf(record: AuditRecord) -> bytes:
    """The log's leaf for an audit entry (tlog/leaves.py)."""
    return leaves.audit_leaf(
        audit_id=record.id,
        at_us=record.at_us,
        actor=record.actor,
        actor_kind=record.actor_kind,
        remote=record.remote,
        action=record.action,
        target=record.target,
        outcome=record.outcome,
        detail=record.detail,
    )


async def write_audited(
    db: Database,
    change: Callable[[AsyncSession], Awaitable[T]],
    entry: AuditIn,
    now_us: int,
) -> T:
    """Run change and append entry in one transaction: no change without its audit row,
    and no row for a change that rolled back. Returns change's result."""

    async def write(s: AsyncSession) -> T:
        result = await change(s)
        await add_audit(s, entry, now_us)
        return result

    return await db.write(write)


async def list_audit(
    s: AsyncSession,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    before_id: int | None = None,
    limit: int = 200,
) -> list[AuditRecord]:
    """Newest first, filtered; page with before_id (the last id of the previous page)."""
    if not 1 <= limit <= AUDIT_PAGE_MAX:
        raise InvalidRecord(f"limit must be between 1 and {AUDIT_PAGE_MAX}")
    stmt = _with_leaf()
    if start_us is not None:
        stmt = stmt.where(AuditEntry.at_us >= start_us)
    if end_us is not None:
        stmt = stmt.where(AuditEntry.at_us < end_us)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit)
    return [_record(row, leaf) for row, leaf in await s.execute(stmt)]


async def audit_by_ids(s: AsyncSession, ids: Collection[int]) -> dict[int, AuditRecord]:
    """The audit entries of ids that exist, by id."""
    out: dict[int, AuditRecord] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        stmt = _with_leaf().where(AuditEntry.id.in_(wanted[start : start + 500]))
        out.update({row.id: _record(row, leaf) for row, leaf in await s.execute(stmt)})
    return out
