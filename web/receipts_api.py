"""Counters and receipts API views: parse, check the role, call the index, serialize."""

from __future__ import annotations

from aiohttp import web

from index import counters as counter_queries
from index import receipts as receipt_queries
from index.counters import COUNTER_CODE_MAX
from index.errors import CounterNotFound, ReceiptNotFound
from index.receipts import RECEIPT_INPUT_FIELDS, ReceiptIn, hold_end_us
from index.records import CounterRecord, HoldRecord, ReceiptRecord
from surveil import counters as counter_admin
from surveil import receipts
from surveil.access_log import receipt_lookup
from surveil.lookup import receipt_footage
from surveil.timefmt import iso_from_us
from web.access import audit_access, audit_entry, require_counter, visible_counters
from web.body import json_object, optional_str, optional_time_us, required_str, required_time_us
from web.errors import ApiError
from web.keys import CLOCK_KEY, DB_KEY, RECEIPTS_KEY, reconciler
from web.params import reject_unknown
from web.serialize import coverage_json

COUNTER_KEYS = ("code", "name", "site")
RECEIPT_KEYS = RECEIPT_INPUT_FIELDS


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


def counter_json(c: CounterRecord) -> dict[str, object]:
    return {"code": c.code, "name": c.name, "site": c.site, "created": iso_from_us(c.created_us)}


def hold_json(
    h: HoldRecord, receipt: ReceiptRecord, now_us: int, request: web.Request
) -> dict[str, object]:
    end_us = hold_end_us(h.end_us, receipt, now_us, request.app[RECEIPTS_KEY])
    return {
        "camera": h.camera,
        "start": iso_from_us(h.start_us),
        "start_us": h.start_us,
        "end": _iso(h.end_us),
        "end_us": h.end_us,
        "effective_end": iso_from_us(end_us),
        "effective_end_us": end_us,
        "reason": h.reason,
    }


def receipt_json(r: ReceiptRecord) -> dict[str, object]:
    return {
        "receipt_no": r.receipt_no,
        "counter": r.counter,
        "accepted_at": iso_from_us(r.accepted_us),
        "accepted_us": r.accepted_us,
        "completed_at": _iso(r.completed_us),
        "completed_us": r.completed_us,
        "case_no": r.case_no,
        "service": r.service,
        "handler": r.handler,
        "created": iso_from_us(r.created_us),
        "updated": iso_from_us(r.updated_us),
    }


def _counter_not_found(code: str) -> ApiError:
    return ApiError(f"no counter with code {code!r}", status=404, code="counter_not_found")


def _receipt_not_found(receipt_no: str) -> ApiError:
    return ApiError(f"no receipt with number {receipt_no!r}", status=404, code="receipt_not_found")


def _counter_fields(body: dict[str, object]) -> tuple[str, str | None]:
    return required_str(body, "name"), optional_str(body, "site")


# --- counters ---------------------------------------------------------------


async def list_counters(request: web.Request) -> web.Response:
    """Every counter in the caller's scope, by code."""
    reject_unknown(request.query, ())
    records = await visible_counters(request)
    return web.json_response({"counters": [counter_json(c) for c in records]})


async def create_counter(request: web.Request) -> web.Response:
    """Create a counter; 409 if the code is taken."""
    body = await json_object(request, COUNTER_KEYS)
    code = required_str(body, "code", COUNTER_CODE_MAX)
    name, site = _counter_fields(body)
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "counter.create", "ok")
    record = await counter_admin.create_counter(
        request.app[DB_KEY], code, name, site, entry, now_us
    )
    return web.json_response(counter_json(record), status=201)


async def get_counter(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    require_counter(request, code)
    async with request.app[DB_KEY].read() as s:
        try:
            record = await counter_queries.get_counter(s, code)
        except CounterNotFound:
            raise _counter_not_found(code) from None
    return web.json_response(counter_json(record))


async def update_counter(request: web.Request) -> web.Response:
    """Change a counter's name and site (the code is its identity and stays)."""
    code = request.match_info["code"]
    body = await json_object(request, ("name", "site"))
    name, site = _counter_fields(body)
    entry = audit_entry(request, "counter.update", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        record = await counter_admin.update_counter(
            request.app[DB_KEY], code, name, site, entry, now_us
        )
    except CounterNotFound:
        raise _counter_not_found(code) from None
    return web.json_response(counter_json(record))


async def delete_counter(request: web.Request) -> web.Response:
    """Delete a counter; 409 while receipts refer to it."""
    code = request.match_info["code"]
    entry = audit_entry(request, "counter.delete", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        await counter_admin.delete_counter(
            request.app[DB_KEY], code, entry, now_us, reconciler(request.app)
        )
    except CounterNotFound:
        raise _counter_not_found(code) from None
    return web.Response(status=204)


# --- receipts ---------------------------------------------------------------


async def post_receipt(request: web.Request) -> web.Response:
    """Record a receipt: 201 when new, 200 when the same receipt was already recorded."""
    body = await json_object(request, RECEIPT_KEYS)
    rin = ReceiptIn(
        receipt_no=required_str(body, "receipt_no", 100),
        counter=required_str(body, "counter", 100),
        accepted_us=required_time_us(body, "accepted_at"),
        completed_us=optional_time_us(body, "completed_at"),
        case_no=optional_str(body, "case_no"),
        service=optional_str(body, "service"),
        handler=optional_str(body, "handler"),
    )
    require_counter(request, rin.counter)
    app = request.app
    try:
        record, created = await receipts.record_receipt(
            app[DB_KEY],
            rin,
            audit_entry(request, "receipt.create", "ok"),
            app[CLOCK_KEY].now_us(),
            app[RECEIPTS_KEY],
        )
    except CounterNotFound:
        raise _counter_not_found(rin.counter) from None
    return web.json_response(receipt_json(record), status=201 if created else 200)


async def complete_receipt(request: web.Request) -> web.Response:
    """Set a receipt's completion time; the same time again is a no-op."""
    receipt_no = request.match_info["receipt_no"]
    body = await json_object(request, ("completed_at",))
    completed_us = required_time_us(body, "completed_at")
    app = request.app
    async with app[DB_KEY].read() as s:
        try:
            existing = await receipt_queries.get_receipt(s, receipt_no)
        except ReceiptNotFound:
            raise _receipt_not_found(receipt_no) from None
    require_counter(request, existing.counter)
    try:
        record, _ = await receipts.complete_receipt(
            app[DB_KEY],
            receipt_no,
            completed_us,
            audit_entry(request, "receipt.complete", "ok"),
            app[CLOCK_KEY].now_us(),
            app[RECEIPTS_KEY],
        )
    except ReceiptNotFound:
        raise _receipt_not_found(receipt_no) from None
    return web.json_response(receipt_json(record))


async def get_receipt(request: web.Request) -> web.Response:
    """A receipt with the holds it placed and, per camera, its footage up to now."""
    reject_unknown(request.query, ())
    receipt_no = request.match_info["receipt_no"]
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        found = await receipt_footage(
            request.app[DB_KEY], receipt_no, now_us, request.app[RECEIPTS_KEY]
        )
    except ReceiptNotFound:
        raise _receipt_not_found(receipt_no) from None
    record = found.receipt
    require_counter(request, record.counter)
    await audit_access(request, receipt_lookup(found))
    return web.json_response(
        {
            **receipt_json(record),
            "holds": [hold_json(h, record, now_us, request) for h in found.holds],
            "cameras": [coverage_json(c.camera, c.coverage) for c in found.cameras],
        }
    )
