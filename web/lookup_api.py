"""Lookup views: footage and explained gaps for a counter and a time range."""

from __future__ import annotations

from aiohttp import web

from index.errors import CounterNotFound
from surveil.access_log import counter_lookup
from surveil.lookup import counter_footage
from surveil.timefmt import iso_from_us
from web.access import audit_access, require_counter
from web.errors import ApiError
from web.keys import DB_KEY
from web.params import reject_unknown, required_str, time_range_us
from web.serialize import coverage_json


async def lookup(request: web.Request) -> web.Response:
    """Per camera of the counter: coverage, gaps with reasons, and segments in [start, end)."""
    query = request.query
    reject_unknown(query, ("counter", "start", "end"))
    code = required_str(query, "counter")
    start_us, end_us = time_range_us(query)
    require_counter(request, code)
    try:
        counter, results = await counter_footage(request.app[DB_KEY], code, start_us, end_us)
    except CounterNotFound:
        raise ApiError(
            f"no counter with code {code!r}", status=404, code="counter_not_found"
        ) from None
    await audit_access(request, counter_lookup(counter.code, results, start_us, end_us))
    return web.json_response(
        {
            "counter": counter.code,
            "start": iso_from_us(start_us),
            "end": iso_from_us(end_us),
            "cameras": [coverage_json(r.camera, r.coverage) for r in results],
        }
    )
