"""Counters and receipts API views: check the role, call the service, answer with a model.

Input is validated by the Op's models before a handler runs (web/openapi.py). Not-found
and rule errors (CounterNotFound, ReceiptNotFound, InvalidRecord, Conflict) are left to
error_middleware, which maps them once (web/errors.py).
"""

from __future__ import annotations

from aiohttp import web

from index import counters as counter_queries
from index import receipts as receipt_queries
from index.errors import Conflict, CounterNotFound, InvalidRecord, ReceiptNotFound
from surveil import counters as counter_admin
from surveil import receipts
from surveil.access_log import AuditUnavailable, receipt_lookup
from surveil.lookup import receipt_footage
from surveil.retention import DAY_US
from web.access import audit_access, audit_entry, require_counter, visible_counters
from web.errors import LifecycleUnavailable
from web.keys import CLOCK_KEY, DB_KEY, LIFECYCLE_KEY, RECEIPTS_KEY, reconciler
from web.openapi import Op
from web.wire.base import reply
from web.wire.receipts import (
    CaseChange,
    Completion,
    Counter,
    CounterIn,
    CounterList,
    CounterPath,
    CounterUpdate,
    Receipt,
    ReceiptDetail,
    ReceiptPath,
    ReceiptPost,
)

# --- counters ---------------------------------------------------------------


async def list_counters(request: web.Request) -> web.Response:
    """Every counter in the caller's scope, by code."""
    records = await visible_counters(request)
    return reply(CounterList(counters=[Counter.of(c) for c in records]))


async def create_counter(request: web.Request, *, body: CounterIn) -> web.Response:
    """Create a counter; 409 if the code is taken."""
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "counter.create", "ok")
    record = await counter_admin.create_counter(
        request.app[DB_KEY], body.code, body.name, body.site, entry, now_us
    )
    return reply(Counter.of(record), status=201)


async def get_counter(request: web.Request, *, path: CounterPath) -> web.Response:
    """One counter; staff only for their own counters."""
    require_counter(request, path.code)
    async with request.app[DB_KEY].read() as s:
        record = await counter_queries.get_counter(s, path.code)
    return reply(Counter.of(record))


async def update_counter(
    request: web.Request, *, path: CounterPath, body: CounterUpdate
) -> web.Response:
    """Change a counter's name and site (the code is its identity and stays)."""
    entry = audit_entry(request, "counter.update", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    record = await counter_admin.update_counter(
        request.app[DB_KEY], path.code, body.name, body.site, entry, now_us
    )
    return reply(Counter.of(record))


async def delete_counter(request: web.Request, *, path: CounterPath) -> web.Response:
    """Delete a counter and its camera links; 409 while receipts refer to it."""
    entry = audit_entry(request, "counter.delete", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    await counter_admin.delete_counter(
        request.app[DB_KEY], path.code, entry, now_us, reconciler(request.app)
    )
    return web.Response(status=204)


# --- receipts ---------------------------------------------------------------


async def post_receipt(request: web.Request, *, body: ReceiptPost) -> web.Response:
    """Record a receipt and hold its counter's footage.

    Idempotent by receipt_no: the same receipt again is 200 with the stored receipt;
    different values for a known number are 409 naming the fields. A repost that adds
    completed_at to an open receipt completes it.
    """
    require_counter(request, body.counter)
    app = request.app
    record, created = await receipts.record_receipt(
        app[DB_KEY],
        body.receipt_in(),
        audit_entry(request, "receipt.create", "ok"),
        app[CLOCK_KEY].now_us(),
        app[RECEIPTS_KEY],
    )
    return reply(Receipt.of(record), status=201 if created else 200)


async def complete_receipt(
    request: web.Request, *, path: ReceiptPath, body: Completion
) -> web.Response:
    """Set a receipt's completion time; the same time again is a no-op, another is 409."""
    app = request.app
    async with app[DB_KEY].read() as s:
        existing = await receipt_queries.get_receipt(s, path.receipt_no)
    require_counter(request, existing.counter)
    record, _ = await receipts.complete_receipt(
        app[DB_KEY],
        path.receipt_no,
        body.completed_at,
        audit_entry(request, "receipt.complete", "ok"),
        app[CLOCK_KEY].now_us(),
        app[RECEIPTS_KEY],
    )
    return reply(Receipt.of(record))


async def receipt_case(
    request: web.Request, *, path: ReceiptPath, body: CaseChange
) -> web.Response:
    """Close or archive the receipt's case (audited as receipt.case_closed or
    receipt.case_archived); archiving makes its holds expire archive_retain_days later.
    The same state at the same time again changes nothing; another time, or a step back,
    is 409. Staff only for their counters, as completing."""
    app = request.app
    async with app[DB_KEY].read() as s:
        existing = await receipt_queries.get_receipt(s, path.receipt_no)
    require_counter(request, existing.counter)
    lifecycle = app.get(LIFECYCLE_KEY)
    if lifecycle is None:
        # The archive period is the lifecycle's configuration: never guessed.
        raise LifecycleUnavailable("the storage lifecycle is not running in this process")
    record, _ = await receipts.set_case_state(
        app[DB_KEY],
        path.receipt_no,
        body.state,
        body.at,
        audit_entry(request, "receipt.case", "ok"),
        app[CLOCK_KEY].now_us(),
        lifecycle.retention.cfg.archive_retain_days * DAY_US,
    )
    return reply(Receipt.of(record))


async def get_receipt(request: web.Request, *, path: ReceiptPath) -> web.Response:
    """A receipt with the holds it placed and, per camera, its footage up to now."""
    now_us = request.app[CLOCK_KEY].now_us()
    settings = request.app[RECEIPTS_KEY]
    found = await receipt_footage(request.app[DB_KEY], path.receipt_no, now_us, settings)
    require_counter(request, found.receipt.counter)
    await audit_access(request, receipt_lookup(found))
    return reply(ReceiptDetail.of(found, now_us, settings))


_COUNTER = "/api/v1/counters/{code}"
_RECEIPT = "/api/v1/receipts/{receipt_no}"

OPS = (
    Op(
        "GET",
        "/api/v1/counters",
        "counters",
        list_counters,
        "Every counter in the caller's scope",
        ok={200: CounterList},
    ),
    Op(
        "POST",
        "/api/v1/counters",
        "create_counter",
        create_counter,
        "Create a counter",
        body_model=CounterIn,
        ok={201: Counter},
        errors=(Conflict, InvalidRecord),
    ),
    Op(
        "GET",
        _COUNTER,
        "counter",
        get_counter,
        "One counter",
        path_model=CounterPath,
        ok={200: Counter},
        errors=(CounterNotFound,),
    ),
    Op(
        "PUT",
        _COUNTER,
        "update_counter",
        update_counter,
        "Change a counter's name and site",
        path_model=CounterPath,
        body_model=CounterUpdate,
        ok={200: Counter},
        errors=(CounterNotFound, InvalidRecord),
    ),
    Op(
        "DELETE",
        _COUNTER,
        "delete_counter",
        delete_counter,
        "Delete a counter that no receipt refers to",
        path_model=CounterPath,
        ok={204: None},
        errors=(CounterNotFound, Conflict),
    ),
    Op(
        "POST",
        "/api/v1/receipts",
        "post_receipt",
        post_receipt,
        "Record a receipt and hold its counter's footage",
        body_model=ReceiptPost,
        ok={201: Receipt, 200: Receipt},
        errors=(CounterNotFound, Conflict, InvalidRecord),
    ),
    Op(
        "GET",
        _RECEIPT,
        "receipt",
        get_receipt,
        "A receipt with its holds and footage",
        path_model=ReceiptPath,
        ok={200: ReceiptDetail},
        errors=(ReceiptNotFound, AuditUnavailable),
    ),
    Op(
        "POST",
        _RECEIPT + "/complete",
        "complete_receipt",
        complete_receipt,
        "Complete a receipt",
        path_model=ReceiptPath,
        body_model=Completion,
        ok={200: Receipt},
        errors=(ReceiptNotFound, Conflict, InvalidRecord),
    ),
    Op(
        "POST",
        _RECEIPT + "/case",
        "receipt_case",
        receipt_case,
        "Close or archive a receipt's case",
        path_model=ReceiptPath,
        body_model=CaseChange,
        ok={200: Receipt},
        errors=(ReceiptNotFound, Conflict, InvalidRecord, LifecycleUnavailable),
    ),
)
