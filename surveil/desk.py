"""The counter desk: one barcode scan starts an acceptance, the next one completes it.

A receipt scanner types the number and presses Enter, so the desk needs no buttons: the
first scan of a number at a counter records the receipt as accepted now, the second
records its completion now, and any later scan changes nothing and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from index import receipts as receipt_queries
from index.audit import add_audit
from index.db import Database
from index.errors import ReceiptNotFound
from index.receipts import ReceiptIn, ReceiptSettings, normalize_receipt_no
from index.records import AuditIn, ReceiptRecord
from surveil.receipts import receipt_detail

ScanOutcome = Literal["started", "completed", "already", "other_counter"]


@dataclass(frozen=True)
class ScanResult:
    outcome: ScanOutcome
    receipt: ReceiptRecord


async def scan_receipt(
    db: Database,
    counter: str,
    receipt_no: str,
    now_us: int,
    settings: ReceiptSettings,
    audit: AuditIn,
) -> ScanResult:
    """Start or complete the receipt at counter, in one transaction with its audit row.

    audit names the caller; its action, target and detail are filled in here.

    Raises InvalidRecord for a malformed number and CounterNotFound for an unknown counter.
    """
    receipt_no = normalize_receipt_no(receipt_no)  # the stored form, for the audit row too

    async def scan(s: AsyncSession) -> ScanResult:
        try:
            existing = await receipt_queries.get_receipt(s, receipt_no)
        except ReceiptNotFound:
            record, _ = await receipt_queries.record_receipt(
                s,
                ReceiptIn(receipt_no=receipt_no, counter=counter, accepted_us=now_us),
                now_us,
                settings,
            )
            result = ScanResult("started", record)
        else:
            if existing.counter != counter:
                return ScanResult("other_counter", existing)
            if existing.completed_us is not None:
                return ScanResult("already", existing)
            record, _ = await receipt_queries.complete_receipt(
                s, receipt_no, max(now_us, existing.accepted_us + 1), now_us, settings
            )
            result = ScanResult("completed", record)
        action = "receipt.start" if result.outcome == "started" else "receipt.complete"
        # The same detail as receipts recorded through the API or the import, and where.
        detail = {**receipt_detail(result.receipt), "via": "desk"}
        await add_audit(s, replace(audit, action=action, target=receipt_no, detail=detail), now_us)
        return result

    return await db.write(scan)
