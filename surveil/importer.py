"""Bulk import of receipts from CSV, each row in its own transaction."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.urls import escape_controls
from index.counters import ensure_counter
from index.db import Database
from index.errors import Conflict, InvalidRecord, RecordNotFound
from index.receipts import RECEIPT_INPUT_FIELDS, ReceiptIn
from surveil.accounts import SYSTEM_ACTOR
from surveil.clock import SystemClock
from surveil.config import Config
from surveil.receipts import record_receipt
from surveil.timefmt import us_from_iso

CSV_COLUMNS: Final = RECEIPT_INPUT_FIELDS


def _row_to_receipt(row: dict[str, str | None]) -> ReceiptIn:
    """A ReceiptIn from one CSV row; empty cells are absent values; ValueError when malformed."""

    def cell(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    def time_us(name: str) -> int | None:
        text = cell(name)
        if text is None:
            return None
        try:
            return us_from_iso(text)
        except ValueError as exc:
            raise InvalidRecord(f"{name}: {exc}") from None

    if None in row:
        raise InvalidRecord("the row has more cells than the header")
    receipt_no, counter, accepted_us = cell("receipt_no"), cell("counter"), time_us("accepted_at")
    if receipt_no is None:
        raise InvalidRecord("receipt_no is required")
    if counter is None:
        raise InvalidRecord("counter is required")
    if accepted_us is None:
        raise InvalidRecord("accepted_at is required")
    return ReceiptIn(
        receipt_no=receipt_no,
        counter=counter,
        accepted_us=accepted_us,
        completed_us=time_us("completed_at"),
        case_no=cell("case_no"),
        service=cell("service"),
        handler=cell("handler"),
    )


async def _ensure_counters(s: AsyncSession, cfg: Config, now_us: int) -> None:
    for counter in cfg.counters:
        await ensure_counter(s, counter.code, counter.name, counter.site, now_us)


async def import_receipts_csv(cfg: Config, path: Path, out: Callable[[str], None]) -> bool:
    """Import every row of the CSV file, reporting each; True if every row was ok.

    A failing row is reported and changes nothing; the rows after it are still imported.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        out(f"cannot read {path}: {exc}")
        return False
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        out(
            f"{path}: the header must be {','.join(CSV_COLUMNS)} "
            f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})"
        )
        return False
    settings = cfg.receipts.settings()
    clock = SystemClock()
    counts = {"created": 0, "unchanged": 0, "error": 0}
    db = await Database.open(cfg.effective_database_url)
    try:
        if cfg.counters:
            # The counters of the config file exist for its receipts even before `serve` ran.
            await db.write(lambda s: _ensure_counters(s, cfg, clock.now_us()))
        # Row 1 is the header, so data rows are numbered as a spreadsheet shows them.
        for number, row in enumerate(rows, start=2):
            # As the report shows it: a control character in the cell must not reach the
            # terminal raw (the row's error says what is wrong with it).
            receipt_no = escape_controls((row.get("receipt_no") or "").strip(), keep="") or "-"
            try:
                rin = _row_to_receipt(row)
                now_us = clock.now_us()
                _, created = await record_receipt(db, rin, SYSTEM_ACTOR, now_us, settings)
            except (InvalidRecord, RecordNotFound, Conflict) as exc:
                counts["error"] += 1
                out(f"row {number}: {receipt_no}: error: {exc}")
                continue
            outcome = "created" if created else "unchanged"
            counts[outcome] += 1
            out(f"row {number}: {receipt_no}: {outcome}")
    finally:
        await db.close()
    out(
        f"{len(rows)} row(s): {counts['created']} created, {counts['unchanged']} unchanged, "
        f"{counts['error']} failed"
    )
    return counts["error"] == 0
