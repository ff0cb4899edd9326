"""Receipts from the acceptance system, and the holds they place on their counter's cameras.

Idempotent by receipt number: posting the same receipt again changes nothing;
posting different values for a known number is a Conflict naming the fields.
Every function runs inside the caller's transaction (Database.write), so a
failure leaves nothing half-written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from index.counters import cameras_for_counter
from index.errors import Conflict, CounterNotFound, InvalidRecord, ReceiptNotFound
from index.holds import add_hold, set_receipt_hold_end, set_receipt_hold_expiry
from index.models import Counter, Receipt
from index.records import ReceiptRecord
from index.text import check_text

# The outside names of a receipt's fields, as the API's JSON and the CSV import use them.
RECEIPT_INPUT_FIELDS = (
    "receipt_no",
    "counter",
    "accepted_at",
    "completed_at",
    "case_no",
    "service",
    "handler",
)

RECEIPT_NO_MAX: Final = 64
# Besides letters and digits of any script (and the marks that complete them).
RECEIPT_NO_PUNCTUATION: Final = "_./-"
RECEIPT_NO_RULE: Final = (
    f"1-{RECEIPT_NO_MAX} characters of letters and digits of any script, '_', '.', '/', '-', "
    "starting with a letter or digit (compared after Unicode NFKC normalisation, so "
    "full-width and ASCII forms are the same number)"
)
TEXT_MAX: Final = 200  # case_no, service, handler
_SECOND: Final = 1_000_000
_HOUR: Final = 3600 * _SECOND


@dataclass(frozen=True)
class ReceiptSettings:
    """Hold padding and plausibility limits, in µs (from the [receipts] config section)."""

    pre_roll_us: int = 30 * _SECOND
    post_roll_us: int = 30 * _SECOND
    max_future_us: int = 300 * _SECOND
    max_duration_us: int = 12 * _HOUR
    open_hold_max_us: int = 12 * _HOUR


@dataclass(frozen=True)
class ReceiptIn:
    """A receipt as the acceptance system sends it; counter is the counter code."""

    receipt_no: str
    counter: str
    accepted_us: int
    completed_us: int | None = None
    case_no: str | None = None
    service: str | None = None
    handler: str | None = None


def _seconds(us: int) -> str:
    return f"{us / _SECOND:g} s"


def _receipt_no_ok(text: str) -> bool:
    if not 1 <= len(text) <= RECEIPT_NO_MAX:
        return False
    for i, c in enumerate(text):
        kind = unicodedata.category(c)
        if kind[0] == "L" or kind == "Nd":
            continue
        if i > 0 and (kind[0] == "M" or c in RECEIPT_NO_PUNCTUATION):
            continue
        return False
    return True


def normalize_receipt_no(receipt_no: str) -> str:
    """The one stored form of a receipt number: Unicode NFKC (full-width 'Ａ０１' is 'A01',
    half-width katakana compose), then checked against RECEIPT_NO_RULE; InvalidRecord if
    it breaks the rule.

    The acceptance system may issue numbers with CJK characters or full-width digits, and
    a scanner or a person may type either form: every entry point (API, CSV import, desk
    scan, lookup) goes through this function, so NFKC-equal numbers are one receipt. Case
    is kept: 'a01' and 'A01' are different numbers.
    """
    normal = unicodedata.normalize("NFKC", receipt_no)
    if not _receipt_no_ok(normal):
        shown = receipt_no if len(receipt_no) <= 80 else receipt_no[:80] + "..."
        raise InvalidRecord(f"receipt_no {shown!r} is malformed: it must be {RECEIPT_NO_RULE}")
    return normal


def validate_receipt_no(receipt_no: str) -> None:
    """InvalidRecord unless receipt_no, normalised, follows RECEIPT_NO_RULE."""
    normalize_receipt_no(receipt_no)


def _validate_times(
    accepted_us: int, completed_us: int | None, now_us: int, settings: ReceiptSettings
) -> None:
    latest_us = now_us + settings.max_future_us
    if accepted_us > latest_us:
        raise InvalidRecord(
            f"accepted_at is {_seconds(accepted_us - now_us)} in the future; "
            f"at most {_seconds(settings.max_future_us)} is allowed (check the sender's clock)"
        )
    if completed_us is None:
        return
    if completed_us < accepted_us:
        raise InvalidRecord("completed_at is before accepted_at")
    if completed_us > latest_us:
        raise InvalidRecord(
            f"completed_at is {_seconds(completed_us - now_us)} in the future; "
            f"at most {_seconds(settings.max_future_us)} is allowed (check the sender's clock)"
        )
    if completed_us - accepted_us > settings.max_duration_us:
        raise InvalidRecord(
            f"the acceptance would last {(completed_us - accepted_us) / _HOUR:.2f} h, "
            f"longer than the maximum of {settings.max_duration_us / _HOUR:g} h"
        )


def validate_receipt(rin: ReceiptIn, now_us: int, settings: ReceiptSettings) -> None:
    """Every rule that needs no database; raises InvalidRecord with a message for the sender."""
    validate_receipt_no(rin.receipt_no)
    if not rin.counter:
        raise InvalidRecord("counter must not be empty")
    check_text(rin.counter, "counter")
    for name in ("case_no", "service", "handler"):
        value = getattr(rin, name)
        if value is not None and len(value) > TEXT_MAX:
            raise InvalidRecord(f"{name} is longer than {TEXT_MAX} characters")
        # One line each, shown on the lookup page and in exports.
        check_text(value, name)
    _validate_times(rin.accepted_us, rin.completed_us, now_us, settings)


def _record(row: Receipt, counter: str) -> ReceiptRecord:
    return ReceiptRecord(
        id=row.id,
        receipt_no=row.receipt_no,
        counter=counter,
        counter_id=row.counter_id,
        accepted_us=row.accepted_us,
        completed_us=row.completed_us,
        case_no=row.case_no,
        service=row.service,
        handler=row.handler,
        created_us=row.created_us,
        updated_us=row.updated_us,
        case_state=row.case_state,
        case_closed_us=row.case_closed_us,
        case_archived_us=row.case_archived_us,
    )


async def _find(s: AsyncSession, receipt_no: str) -> tuple[Receipt, str] | None:
    stmt = (
        select(Receipt, Counter.code)
        .join(Counter, Counter.id == Receipt.counter_id)
        .where(Receipt.receipt_no == receipt_no)
    )
    found = (await s.execute(stmt)).first()
    return None if found is None else (found[0], str(found[1]))


async def get_receipt(s: AsyncSession, receipt_no: str) -> ReceiptRecord:
    """The receipt with this number (in any NFKC-equal form); raises ReceiptNotFound."""
    try:
        normal = normalize_receipt_no(receipt_no)
    except InvalidRecord:
        # No stored receipt breaks the rule: a malformed number is simply not found.
        raise ReceiptNotFound(f"no receipt with number {receipt_no!r}") from None
    found = await _find(s, normal)
    if found is None:
        raise ReceiptNotFound(f"no receipt with number {receipt_no!r}")
    return _record(*found)


def _differences(existing: ReceiptRecord, rin: ReceiptIn) -> list[str]:
    diffs = []
    for name in ("counter", "accepted_us", "case_no", "service", "handler"):
        if getattr(existing, name) != getattr(rin, name):
            diffs.append(name.removesuffix("_us") + ("_at" if name.endswith("_us") else ""))
    # Completion may arrive with a repost (sets it) or be missing from a retried
    # opening post (keeps it); only two different times contradict each other.
    if (
        rin.completed_us is not None
        and existing.completed_us is not None
        and rin.completed_us != existing.completed_us
    ):
        diffs.append("completed_at")
    return diffs


async def record_receipt(
    s: AsyncSession, rin: ReceiptIn, now_us: int, settings: ReceiptSettings
) -> tuple[ReceiptRecord, bool]:
    """Insert the receipt and its holds, or return the same one again; (record, created).

    A repost of an open receipt that adds completed_at completes it. Raises InvalidRecord,
    CounterNotFound, or Conflict naming the fields that differ from the stored receipt.
    """
    rin = replace(rin, receipt_no=normalize_receipt_no(rin.receipt_no))
    validate_receipt(rin, now_us, settings)
    counter = (
        await s.execute(select(Counter).where(Counter.code == rin.counter))
    ).scalar_one_or_none()
    if counter is None:
        raise CounterNotFound(f"no counter with code {rin.counter!r}")
    found = await _find(s, rin.receipt_no)
    if found is not None:
        existing = _record(*found)
        diffs = _differences(existing, rin)
        if diffs:
            raise Conflict(
                f"receipt {rin.receipt_no!r} already exists with a different "
                f"{', '.join(diffs)}; a receipt number cannot be reused or changed"
            )
        if rin.completed_us is not None and existing.completed_us is None:
            record, _ = await complete_receipt(
                s, rin.receipt_no, rin.completed_us, now_us, settings
            )
            return record, False
        return existing, False
    row = Receipt(
        receipt_no=rin.receipt_no,
        counter_id=counter.id,
        accepted_us=rin.accepted_us,
        completed_us=rin.completed_us,
        case_no=rin.case_no,
        service=rin.service,
        handler=rin.handler,
        created_us=now_us,
        updated_us=now_us,
    )
    s.add(row)
    await s.flush()
    start_us = rin.accepted_us - settings.pre_roll_us
    end_us = None if rin.completed_us is None else rin.completed_us + settings.post_roll_us
    for camera_id, _name in await cameras_for_counter(s, counter.id):
        await add_hold(
            s, camera_id, start_us, end_us, f"receipt {rin.receipt_no}", row.id, created_us=now_us
        )
    return _record(row, counter.code), True


async def complete_receipt(
    s: AsyncSession, receipt_no: str, completed_us: int, now_us: int, settings: ReceiptSettings
) -> tuple[ReceiptRecord, bool]:
    """Set the completion time and extend the receipt's holds; (record, changed).

    Completing again with the same time changes nothing; a different time is a Conflict.
    Raises ReceiptNotFound for an unknown number and InvalidRecord for a bad time.
    """
    receipt_no = normalize_receipt_no(receipt_no)
    found = await _find(s, receipt_no)
    if found is None:
        raise ReceiptNotFound(f"no receipt with number {receipt_no!r}")
    row, code = found
    if row.completed_us is not None:
        if row.completed_us == completed_us:
            return _record(row, code), False
        raise Conflict(f"receipt {receipt_no!r} is already completed at a different completed_at")
    _validate_times(row.accepted_us, completed_us, now_us, settings)
    row.completed_us = completed_us
    row.updated_us = now_us
    await s.flush()
    await set_receipt_hold_end(s, row.id, completed_us + settings.post_roll_us)
    return _record(row, code), True


_CASE_FUTURE_US = 300 * 1_000_000  # clock skew tolerated, as max_future_seconds' default
_CASE_NEXT = {"open": ("closed", "archived"), "closed": ("archived",), "archived": ()}


async def set_case_state(
    s: AsyncSession,
    receipt_no: str,
    state: str,
    at_us: int,
    now_us: int,
    archive_retain_us: int,
) -> tuple[ReceiptRecord, bool]:
    """Move the receipt's case to closed or archived at at_us; (record, changed).

    The lifecycle only goes forward (open → closed → archived; open → archived closes it at
    the same time). Archiving starts the case hold's clock: the receipt's holds expire at
    at_us + archive_retain_us. Repeating a transition with the same time changes nothing;
    another time, or a step back, is a Conflict.
    """
    receipt_no = normalize_receipt_no(receipt_no)
    found = await _find(s, receipt_no)
    if found is None:
        raise ReceiptNotFound(f"no receipt with number {receipt_no!r}")
    row, code = found
    stamp = {"closed": row.case_closed_us, "archived": row.case_archived_us}
    if state not in stamp:
        raise InvalidRecord(f"case state {state!r} is not closed or archived")
    if row.case_state == state or (state == "closed" and row.case_state == "archived"):
        if stamp[state] == at_us:
            return _record(row, code), False
        raise Conflict(f"the case of receipt {receipt_no!r} is already {row.case_state}")
    if state not in _CASE_NEXT[row.case_state]:
        raise Conflict(
            f"the case of receipt {receipt_no!r} cannot go from {row.case_state} to {state}"
        )
    if at_us < row.accepted_us:
        raise InvalidRecord("a case cannot be closed or archived before its acceptance")
    if at_us > now_us + _CASE_FUTURE_US:
        raise InvalidRecord("a case cannot be closed or archived in the future")
    if row.case_closed_us is not None and at_us < row.case_closed_us:
        raise InvalidRecord("a case cannot be archived before it was closed")
    if row.case_closed_us is None:
        row.case_closed_us = at_us
    if state == "archived":
        row.case_archived_us = at_us
        await set_receipt_hold_expiry(s, row.id, at_us + archive_retain_us)
    row.case_state = state
    row.updated_us = now_us
    await s.flush()
    return _record(row, code), True


def hold_end_us(
    end_us: int | None, receipt: ReceiptRecord, now_us: int, settings: ReceiptSettings
) -> int:
    """The effective end of a receipt's hold: an open one runs to now, capped after acceptance."""
    if end_us is not None:
        return end_us
    return min(now_us, receipt.accepted_us + settings.open_hold_max_us)


async def recent_receipts(
    s: AsyncSession, counter_code: str, limit: int = 10
) -> list[ReceiptRecord]:
    """The counter's latest receipts by acceptance time, newest first."""
    stmt = (
        select(Receipt, Counter.code)
        .join(Counter, Counter.id == Receipt.counter_id)
        .where(Counter.code == counter_code)
        .order_by(Receipt.accepted_us.desc())
        .limit(limit)
    )
    return [_record(row, str(code)) for row, code in (await s.execute(stmt)).all()]
