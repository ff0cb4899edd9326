"""Lookup views: footage and explained gaps for a counter and a time range."""

from __future__ import annotations

from aiohttp import web

from index.errors import CounterNotFound
from surveil.access_log import AuditUnavailable, counter_lookup
from surveil.lookup import counter_footage
from surveil.timefmt import iso_from_us
from web.access import audit_access, require_counter
from web.errors import Unprocessable
from web.keys import DB_KEY
from web.openapi import Op
from web.wire.base import reply
from web.wire.footage import CameraCoverage, Lookup, LookupQuery


async def lookup(request: web.Request, *, query: LookupQuery) -> web.Response:
    """Per camera of the counter: coverage, gaps with reasons, and segments in [start, end)."""
    require_counter(request, query.counter)
    counter, results = await counter_footage(
        request.app[DB_KEY], query.counter, query.start, query.end
    )
    await audit_access(request, counter_lookup(counter.code, results, query.start, query.end))
    return reply(
        Lookup(
            counter=counter.code,
            start=iso_from_us(query.start),
            end=iso_from_us(query.end),
            cameras=[CameraCoverage.of(r.camera, r.coverage) for r in results],
        )
    )


OPS = (
    Op(
        "GET",
        "/api/v1/lookup",
        "lookup",
        lookup,
        "Footage of a counter in a time range",
        query_model=LookupQuery,
        ok={200: Lookup},
        errors=(CounterNotFound, Unprocessable, AuditUnavailable),
    ),
)
