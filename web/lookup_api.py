"""Lookup views: footage and explained gaps for a counter and a time range."""

from __future__ import annotations

from aiohttp import web

from index import counters as counter_queries
from index.errors import CounterNotFound
from surveil.lookup import CameraRef, lookup_window
from web.errors import ApiError
from web.keys import DB_KEY
from web.params import reject_unknown, required_str, time_range_us
from web.serialize import coverage_json
from web.timefmt import iso_from_us


async def lookup(request: web.Request) -> web.Response:
    """Per camera of the counter: coverage, gaps with reasons, and segments in [start, end)."""
    query = request.query
    reject_unknown(query, ("counter", "start", "end"))
    code = required_str(query, "counter")
    start_us, end_us = time_range_us(query)
    db = request.app[DB_KEY]
    async with db.read() as s:
        try:
            counter = await counter_queries.get_counter(s, code)
        except CounterNotFound:
            raise ApiError(
                f"no counter with code {code!r}", status=404, code="counter_not_found"
            ) from None
        cams = await counter_queries.cameras_for_counter(s, counter.id)
    results = await lookup_window(db, [CameraRef(i, n) for i, n in cams], start_us, end_us)
    return web.json_response(
        {
            "counter": counter.code,
            "start": iso_from_us(start_us),
            "end": iso_from_us(end_us),
            "cameras": [coverage_json(r.camera, r.coverage) for r in results],
        }
    )
