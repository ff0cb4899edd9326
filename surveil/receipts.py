"""Receipts: recording and completing them, each in one transaction with its audit row.

The one home of the receipt write policy: the JSON API, the CSV import and the CLI call
these functions (the desk's scan, in surveil/desk.py, composes the same index calls), so a
receipt changed anywhere leaves the same audit trail, written with the change or not at all.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from index import receipts as receipt_queries
from index.audit import add_audit
from index.db import Database
from index.receipts import ReceiptIn, ReceiptSettings
from index.records import AuditIn, ReceiptRecord


def receipt_detail(record: ReceiptRecord) -> dict[str, object]:
    """What an audit row says of a receipt: its counter and acceptance times (µs)."""
    return {
        "counter": record.counter,
        "accepted_us": record.accepted_us,
        "completed_us": record.completed_us,
    }


async def record_receipt(
    db: Database, rin: ReceiptIn, actor: AuditIn, now_us: int, settings: ReceiptSettings
) -> tuple[ReceiptRecord, bool]:
    """Record a receipt and its holds, audited as receipt.create; (record, created).

    Sending the same receipt again is not an error and changes nothing, but is audited
    (created: false) so every delivery by the acceptance system leaves a trace. Raises
    InvalidRecord, CounterNotFound or Conflict (different values for a known number), and
    then nothing is written, audit row included.
    """

    async def write(s: AsyncSession) -> tuple[ReceiptRecord, bool]:
        record, created = await receipt_queries.record_receipt(s, rin, now_us, settings)
        detail = {**receipt_detail(record), "created": created}
        entry = replace(actor, action="receipt.create", target=record.receipt_no, detail=detail)
        await add_audit(s, entry, now_us)
        return record, created

    return await db.write(write)


async def complete_receipt(
    db: Database,
    receipt_no: str,
    completed_us: int,
    actor: AuditIn,
    now_us: int,
    settings: ReceiptSettings,
) -> tuple[ReceiptRecord, bool]:
    """Set a receipt's completion time, audited as receipt.complete; (record, changed).

    Raises ReceiptNotFound, InvalidRecord or Conflict, and then nothing is written.
    """

    async def write(s: AsyncSession) -> tuple[ReceiptRecord, bool]:
        record, changed = await receipt_queries.complete_receipt(
            s, receipt_no, completed_us, now_us, settings
        )
        detail = {**receipt_detail(record), "changed": changed}
        entry = replace(actor, action="receipt.complete", target=record.receipt_no, detail=detail)
        await add_audit(s, entry, now_us)
        return record, changed

    return await db.write(write)


async def set_case_state(
    db: Database,
    receipt_no: str,
    state: str,
    at_us: int,
    actor: AuditIn,
    now_us: int,
    archive_retain_us: int,
) -> tuple[ReceiptRecord, bool]:
    """Close or archive a receipt's case, audited as receipt.case_closed or
    receipt.case_archived; archiving starts the case hold's clock (archive_retain_us).

    Raises ReceiptNotFound, InvalidRecord or Conflict, and then nothing is written.
    """

    async def write(s: AsyncSession) -> tuple[ReceiptRecord, bool]:
        record, changed = await receipt_queries.set_case_state(
            s, receipt_no, state, at_us, now_us, archive_retain_us
        )
        detail: dict[str, object] = {
            **receipt_detail(record),
            "case_state": record.case_state,
            "at_us": at_us,
            "changed": changed,
        }
        if state == "archived":
            detail["hold_expires_us"] = at_us + archive_retain_us
        entry = replace(
            actor, action=f"receipt.case_{state}", target=record.receipt_no, detail=detail
        )
        await add_audit(s, entry, now_us)
        return record, changed

    return await db.write(write)
