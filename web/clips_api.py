"""Clip playback: one seekable MP4 stitched from a camera's segments, with HTTP Range.

A clip never spans a gap: it is the first unbroken run of footage in the
requested window (a reconnect changes codec parameters and timing; a missing or
damaged segment is a hole). The lookup answer shows where the gaps are; the page
asks for each stretch. The segment still being written plays up to its durable
fragments. Every request plans the clip anew from the index (surveil.serving), so a
clip that grows gets a new ETag, and a file found gone or not as indexed is marked in
the index (missing, damaged) and the clip is planned around it.
"""

from __future__ import annotations

from aiohttp import web

from index.errors import ReceiptNotFound
from index.records import ReceiptRecord
from surveil.access_log import FootageAccess
from surveil.lookup import receipt_footage
from surveil.serving import plan_playable_clip
from web.access import audit_access, require_camera, require_counter
from web.errors import ApiError
from web.files import send_bytes
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, RECEIPTS_KEY
from web.params import reject_unknown, time_range_us

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
    return await _clip(request, camera, start_us, end_us, found.receipt)


async def _clip(
    request: web.Request,
    camera: str,
    start_us: int,
    end_us: int,
    receipt: ReceiptRecord | None = None,
) -> web.StreamResponse:
    """One unbroken run of the camera's playable footage in [start_us, end_us), as MP4."""
    if end_us - start_us > MAX_CLIP_US:
        raise ApiError("a clip may be at most 12 hours long", status=400, code="bad_request")
    playable = await plan_playable_clip(
        request.app[DB_KEY],
        request.app[DATA_DIR_KEY],
        camera,
        start_us,
        end_us,
        request.app[CLOCK_KEY].now_us(),
    )
    access = FootageAccess(
        action="footage.clip",
        target=camera,
        receipt=None if receipt is None else receipt.receipt_no,
        counter=None if receipt is None else receipt.counter,
        cameras=(camera,),
        start_us=start_us,
        end_us=end_us,
    )
    # One row per viewing: the video element's Range requests and seeks are one access.
    await audit_access(request, access, viewing=True)
    plan = playable.plan
    headers = {
        "X-Clip-Start-Us": str(playable.start_us),
        "X-Clip-Duration-Us": str(plan.duration_us),
    }
    return await send_bytes(request, plan.size, plan.read, plan.etag, headers, what=camera)
