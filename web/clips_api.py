"""Clip playback: one seekable MP4 stitched from a camera's segments, with HTTP Range.

A clip never spans a gap: it is the first unbroken run of footage in the
requested window (a reconnect changes codec parameters and timing). The
lookup answer shows where the gaps are; the page asks for each stretch.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from index.errors import ReceiptNotFound
from index.segments import segments_overlapping
from segmenter.clip import ClipError, ClipPlan, plan_clip
from surveil.lookup import PLAYABLE_STATES, receipt_footage
from web.access import require_camera, require_counter
from web.api import segment_file_path
from web.errors import ApiError
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, RECEIPTS_KEY
from web.params import reject_unknown, time_range_us

CHUNK = 256 * 1024
# A stitched clip of hours is fine to serve (bytes come from disk on demand),
# but a window longer than this is almost surely a mistake in the request.
MAX_CLIP_US = 12 * 3600 * 1_000_000


async def clip(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/clips/{camera}.mp4?start=ISO&end=ISO"""
    reject_unknown(request.query, ("start", "end"))
    camera = request.match_info["camera"]
    start_us, end_us = time_range_us(request.query)
    await require_camera(request, camera)
    return await _clip(request, camera, start_us, end_us)


async def receipt_clip(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/receipts/{receipt_no}/clips/{camera}.mp4[?start=ISO&end=ISO]

    The camera's footage over the receipt's window (pre-roll to post-roll, an open
    receipt up to now); start/end, if given, narrow it (e.g. to the stretch after a gap).
    """
    reject_unknown(request.query, ("start", "end"))
    receipt_no, camera = request.match_info["receipt_no"], request.match_info["camera"]
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        found = await receipt_footage(
            request.app[DB_KEY], receipt_no, now_us, request.app[RECEIPTS_KEY]
        )
    except ReceiptNotFound:
        raise ApiError(
            f"no receipt with number {receipt_no!r}", status=404, code="receipt_not_found"
        ) from None
    require_counter(request, found.receipt.counter)
    window = next((c.coverage for c in found.cameras if c.camera == camera), None)
    if window is None:
        raise ApiError(
            f"camera {camera!r} does not cover counter {found.receipt.counter!r} "
            f"of receipt {receipt_no!r}",
            status=404,
            code="camera_not_found",
        )
    start_us, end_us = window.window_start_us, window.window_end_us
    if "start" in request.query or "end" in request.query:
        narrow_start, narrow_end = time_range_us(request.query)
        start_us, end_us = max(start_us, narrow_start), min(end_us, narrow_end)
        if end_us <= start_us:
            raise ApiError(
                "start/end do not overlap the receipt's window", status=400, code="bad_request"
            )
    return await _clip(request, camera, start_us, end_us)


async def _clip(
    request: web.Request, camera: str, start_us: int, end_us: int
) -> web.StreamResponse:
    """One unbroken run of the camera's sealed footage in [start_us, end_us), as MP4."""
    if end_us - start_us > MAX_CLIP_US:
        raise ApiError("a clip may be at most 12 hours long", status=400, code="bad_request")
    async with request.app[DB_KEY].read() as s:
        segs = await segments_overlapping(s, camera, start_us, end_us)
    playable = [seg for seg in segs if seg.state in PLAYABLE_STATES]
    if not playable:
        raise ApiError(
            f"camera {camera!r} has no sealed footage between the given times",
            status=404,
            code="no_footage",
        )
    first = playable[0]
    run = [seg for seg in playable if seg.run_id == first.run_id]
    data_dir = request.app[DATA_DIR_KEY]
    pieces = [
        (segment_file_path(data_dir, seg.path, seg.id), seg.start_us - first.start_us)
        for seg in run
    ]
    try:
        plan = await asyncio.to_thread(
            plan_clip, pieces, start_us - first.start_us, end_us - first.start_us
        )
    except ClipError as e:
        raise ApiError(str(e), status=409, code="clip_unavailable") from None
    except FileNotFoundError:
        raise ApiError(
            "a segment file of this clip is gone", status=410, code="segment_gone"
        ) from None
    return await _send(request, plan, first.start_us)


async def _send(request: web.Request, plan: ClipPlan, origin_us: int) -> web.StreamResponse:
    etag = f'"{plan.etag}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Type": "video/mp4",
        "X-Clip-Start-Us": str(origin_us + plan.start_offset_us),
        "X-Clip-Duration-Us": str(plan.duration_us),
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    start, stop = 0, plan.size
    status = 200
    if "Range" in request.headers and request.headers.get("If-Range", etag) == etag:
        try:
            rng = request.http_range
        except ValueError:
            rng = None
        if rng is None or (rng.start is None and rng.stop is None):
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={"Content-Range": f"bytes */{plan.size}"}
            )
        if rng.start is not None and rng.start < 0:  # suffix: the last N bytes
            start, stop = max(0, plan.size + rng.start), plan.size
        else:
            start = rng.start or 0
            stop = min(plan.size, rng.stop if rng.stop is not None else plan.size)
        if start >= plan.size or start >= stop:
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={"Content-Range": f"bytes */{plan.size}"}
            )
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{plan.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = stop - start
    await response.prepare(request)
    if request.method != "HEAD":
        pos = start
        while pos < stop:
            n = min(CHUNK, stop - pos)
            await response.write(await asyncio.to_thread(plan.read, pos, n))
            pos += n
    await response.write_eof()
    return response
