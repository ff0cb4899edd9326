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

from collections.abc import Mapping

from aiohttp import web

from index.errors import CameraNotFound, ReceiptNotFound
from index.records import ReceiptRecord
from surveil.access_log import AuditUnavailable, FootageAccess
from surveil.lookup import receipt_footage
from surveil.serving import ClipUnavailable, NoFootage, plan_playable_clip
from web.access import audit_access, require_camera, require_counter
from web.errors import PreconditionFailed, RangeNotSatisfiable, Unprocessable
from web.files import send_bytes
from web.keys import CLOCK_KEY, DB_KEY, RECEIPTS_KEY, VOLUMES_KEY, fetcher
from web.openapi import Answer, Media, Op
from web.wire.footage import MAX_CLIP_US, ClipPath, ClipQuery, NarrowQuery, ReceiptClipPath


async def clip(request: web.Request, *, path: ClipPath, query: ClipQuery) -> web.StreamResponse:
    """The camera's first unbroken stretch of footage in [start, end), as one MP4."""
    await require_camera(request, path.camera)
    return await serve_clip(request, path.camera, query.start, query.end)


async def receipt_clip(
    request: web.Request, *, path: ReceiptClipPath, query: NarrowQuery
) -> web.StreamResponse:
    """The camera's footage over the receipt's window (pre-roll to post-roll, an open
    receipt up to now); start/end, if given, narrow it (e.g. to the stretch after a gap).
    """
    receipt_no, camera = path.receipt_no, path.camera
    now_us = request.app[CLOCK_KEY].now_us()
    found = await receipt_footage(
        request.app[DB_KEY], receipt_no, now_us, request.app[RECEIPTS_KEY]
    )
    require_counter(request, found.receipt.counter)
    window = next((c.coverage for c in found.cameras if c.camera == camera), None)
    if window is None:
        raise CameraNotFound(
            f"camera {camera!r} does not cover counter {found.receipt.counter!r} "
            f"of receipt {receipt_no!r}"
        )
    start_us, end_us = window.window_start_us, window.window_end_us
    start_us = max(start_us, query.start) if query.start is not None else start_us
    end_us = min(end_us, query.end) if query.end is not None else end_us
    if end_us <= start_us:
        raise Unprocessable("start/end do not overlap the receipt's window")
    # A receipt open for long has a window beyond a clip's 12 h: its clip is the first
    # unbroken stretch anyway, so the window is cut, never refused; start= asks for later.
    end_us = min(end_us, start_us + MAX_CLIP_US)
    return await serve_clip(request, camera, start_us, end_us, found.receipt)


async def serve_clip(
    request: web.Request,
    camera: str,
    start_us: int,
    end_us: int,
    receipt: ReceiptRecord | None = None,
    *,
    extra: Mapping[str, object] | None = None,
) -> web.StreamResponse:
    """One unbroken run of the camera's playable footage in [start_us, end_us), as MP4
    (at most 12 h: ClipQuery refuses a longer window, receipt_clip cuts one); audited as
    footage.clip, with extra in the audit detail (e.g. the export request it is for). The
    clip routes of the API (cameras, receipts, export viewings) all serve through this."""
    playable = await plan_playable_clip(
        request.app[DB_KEY],
        request.app[VOLUMES_KEY],
        camera,
        start_us,
        end_us,
        request.app[CLOCK_KEY].now_us(),
        fetcher(request.app),
    )
    access = FootageAccess(
        action="footage.clip",
        target=camera,
        receipt=None if receipt is None else receipt.receipt_no,
        counter=None if receipt is None else receipt.counter,
        cameras=(camera,),
        start_us=start_us,
        end_us=end_us,
        extra=extra or {},
    )
    # One row per viewing: the video element's Range requests and seeks are one access.
    await audit_access(request, access, viewing=True)
    plan = playable.plan
    headers = {
        "X-Clip-Start-Us": str(playable.start_us),
        "X-Clip-Duration-Us": str(plan.duration_us),
    }
    return await send_bytes(request, plan.size, plan.read, plan.etag, headers, what=camera)


_MP4: dict[int, Answer] = {
    200: Media("video/mp4", "The whole clip."),
    206: Media("video/mp4", "The requested byte range."),
    304: None,
}
_CLIP_ERRORS = (
    CameraNotFound,
    NoFootage,
    ClipUnavailable,
    Unprocessable,
    PreconditionFailed,
    RangeNotSatisfiable,
    AuditUnavailable,
)

OPS = (
    Op(
        "GET",
        "/api/v1/clips/{camera}.mp4",
        "clip",
        clip,
        "A camera's footage in a window, as one MP4",
        path_model=ClipPath,
        query_model=ClipQuery,
        ok=_MP4,
        errors=_CLIP_ERRORS,
    ),
    Op(
        "GET",
        "/api/v1/receipts/{receipt_no}/clips/{camera}.mp4",
        "receipt_clip",
        receipt_clip,
        "A camera's footage of a receipt, as one MP4",
        path_model=ReceiptClipPath,
        query_model=NarrowQuery,
        ok=_MP4,
        errors=(ReceiptNotFound, *_CLIP_ERRORS),
    ),
)
