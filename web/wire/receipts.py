"""Wire shapes of counters and receipts: the API bodies and answers, and the desk's scan.

The rules a schema can state live in the types (web/wire/types.py). The receipt rules that
depend on the clock or the configuration (accepted_at at most ``max_future`` ahead,
completed_at not before accepted_at and at most ``max_duration`` later) and the NFKC rule
of receipt numbers stay in index/receipts.py, which raises InvalidRecord: a 422.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field

from index.errors import InvalidRecord
from index.receipts import ReceiptIn, ReceiptSettings, hold_end_us, normalize_receipt_no
from index.records import CASE_STATES, HOLD_KINDS, CounterRecord, HoldRecord, ReceiptRecord
from surveil.lookup import ReceiptFootage
from surveil.timefmt import iso_from_us
from web.wire.base import Wire, rule_error
from web.wire.footage import CameraCoverage
from web.wire.types import (
    CounterCode,
    IsoTime,
    OptionalLine200,
    ReceiptNo,
    RequiredLine200,
    Time,
)

CaseState = Literal[CASE_STATES]  # type: ignore[valid-type]
HoldKind = Literal[HOLD_KINDS]  # type: ignore[valid-type]


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


# -- input -------------------------------------------------------------------------------


class CounterIn(Wire):
    """A new counter."""

    code: CounterCode
    name: RequiredLine200
    site: OptionalLine200 = None


class CounterUpdate(Wire):
    """A counter's name and site; the code is its identity and never changes."""

    name: RequiredLine200
    site: OptionalLine200 = None


class CounterPath(Wire):
    code: CounterCode


class ReceiptPath(Wire):
    receipt_no: ReceiptNo = Field(description="A '/' in the number is sent as %2F.")


class ReceiptPost(Wire):
    """A receipt as the acceptance system sends it.

    Beyond the schema (422 invalid_value): accepted_at and completed_at at most the
    configured max_future_seconds ahead of the server's clock, completed_at not before
    accepted_at and at most max_duration_hours after it, and receipt_no following its rule
    after NFKC normalisation.
    """

    receipt_no: ReceiptNo
    counter: CounterCode = Field(description="The counter's code, e.g. A01.")
    accepted_at: Time
    completed_at: Time | None = Field(None, description="null or absent while still open.")
    case_no: OptionalLine200 = None
    service: OptionalLine200 = None
    handler: OptionalLine200 = None

    def receipt_in(self) -> ReceiptIn:
        return ReceiptIn(
            receipt_no=self.receipt_no,
            counter=self.counter,
            accepted_us=self.accepted_at,
            completed_us=self.completed_at,
            case_no=self.case_no,
            service=self.service,
            handler=self.handler,
        )


class Completion(Wire):
    """When the acceptance ended (the rules of ReceiptPost apply)."""

    completed_at: Time


class CaseChange(Wire):
    """The case of the receipt is closed or archived at a time (the lifecycle only goes
    forward: open, closed, archived; archiving an open case closes it too). Archiving
    starts the clock of its holds: they expire archive_retain_days later.

    Beyond the schema (422 invalid_value): at not before accepted_at, not before the case
    was closed, and at most max_future_seconds ahead of the server's clock.
    """

    state: Literal["closed", "archived"]
    at: Time = Field(description="When the case was closed or archived.")


def _stored_form(value: str) -> str:
    """The receipt number as stored (NFKC), or a rule refusal naming the field."""
    try:
        return normalize_receipt_no(value)
    except InvalidRecord as exc:
        raise rule_error(str(exc)) from None


class DeskScan(Wire):
    """The desk's form: the counter, and the number the scanner typed."""

    counter: CounterCode
    receipt_no: Annotated[ReceiptNo, AfterValidator(_stored_form)]


# -- output ------------------------------------------------------------------------------


class Counter(Wire):
    """An acceptance counter (service window)."""

    code: str
    name: str
    site: str | None
    created: IsoTime

    @classmethod
    def of(cls, c: CounterRecord) -> Self:
        return cls(code=c.code, name=c.name, site=c.site, created=iso_from_us(c.created_us))


class CounterList(Wire):
    """Every counter in the caller's scope, by code."""

    counters: list[Counter]


class _ReceiptFields(Wire):
    receipt_no: str = Field(description="The stored (NFKC) form of the number.")
    counter: str
    accepted_at: IsoTime
    accepted_us: int
    completed_at: IsoTime | None
    completed_us: int | None
    case_no: str | None
    service: str | None
    handler: str | None
    created: IsoTime
    updated: IsoTime
    case_state: CaseState = Field(description="open, closed or archived.")
    case_closed_at: IsoTime | None
    case_closed_us: int | None
    case_archived_at: IsoTime | None = Field(
        description="Its holds expire archive_retain_days after it."
    )
    case_archived_us: int | None


class Receipt(_ReceiptFields):
    """A receipt; completed_at is null while the acceptance is open."""

    @classmethod
    def of(cls, r: ReceiptRecord) -> Self:
        return cls(
            receipt_no=r.receipt_no,
            counter=r.counter,
            accepted_at=iso_from_us(r.accepted_us),
            accepted_us=r.accepted_us,
            completed_at=_iso(r.completed_us),
            completed_us=r.completed_us,
            case_no=r.case_no,
            service=r.service,
            handler=r.handler,
            created=iso_from_us(r.created_us),
            updated=iso_from_us(r.updated_us),
            case_state=r.case_state,
            case_closed_at=_iso(r.case_closed_us),
            case_closed_us=r.case_closed_us,
            case_archived_at=_iso(r.case_archived_us),
            case_archived_us=r.case_archived_us,
        )


class Hold(Wire):
    """A span of one camera's footage that retention keeps for the receipt."""

    camera: str
    start: IsoTime
    start_us: int
    end: IsoTime | None = Field(description="null while the receipt is open.")
    end_us: int | None
    effective_end: IsoTime = Field(
        description="end, or for an open receipt: now, capped at accepted_at plus "
        "open_hold_max_hours."
    )
    effective_end_us: int
    reason: str
    kind: HoldKind
    expires: IsoTime | None = Field(
        description="When it stops protecting: its case archived plus archive_retain_days; "
        "null until the case is archived."
    )
    expires_us: int | None
    released: IsoTime | None = Field(description="null unless it was released.")
    released_us: int | None
    active: bool = Field(description="Whether it protects its footage now.")

    @classmethod
    def of(
        cls, h: HoldRecord, receipt: ReceiptRecord, now_us: int, settings: ReceiptSettings
    ) -> Self:
        end_us = hold_end_us(h.end_us, receipt, now_us, settings)
        return cls(
            camera=h.camera,
            start=iso_from_us(h.start_us),
            start_us=h.start_us,
            end=_iso(h.end_us),
            end_us=h.end_us,
            effective_end=iso_from_us(end_us),
            effective_end_us=end_us,
            reason=h.reason,
            kind=h.kind,
            expires=_iso(h.expires_us),
            expires_us=h.expires_us,
            released=_iso(h.released_us),
            released_us=h.released_us,
            active=h.active(now_us),
        )


class ReceiptDetail(_ReceiptFields):
    """A receipt, the holds it placed, and per camera its footage up to now."""

    holds: list[Hold]
    cameras: list[CameraCoverage] = Field(
        description="Per camera of the counter: footage over the hold window (an open "
        "receipt: up to now)."
    )

    @classmethod
    def of(cls, found: ReceiptFootage, now_us: int, settings: ReceiptSettings) -> Self:
        record = found.receipt
        return cls(
            **Receipt.of(record).model_dump(),
            holds=[Hold.of(h, record, now_us, settings) for h in found.holds],
            cameras=[CameraCoverage.of(c.camera, c.coverage) for c in found.cameras],
        )
