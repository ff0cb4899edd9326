"""JSON API views: parse and validate input, call index query functions, serialize."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from cameras.urls import redact_url
from index.cameras import get_camera, list_cameras
from index.errors import CameraNotFound, SegmentNotFound
from index.segments import count_in_state, get_segment, segments_overlapping
from surveil.access_log import FootageAccess
from surveil.serving import open_sealed_segment
from surveil.timefmt import iso_from_us
from web.access import Forbidden, audit_access, principal, require_camera
from web.errors import ApiError
from web.files import sealed_etag, send_file
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, STATUS_KEY
from web.openapi import openapi_document
from web.params import optional_str, positive_id, reject_unknown, time_range_us
from web.serialize import camera_json, segment_json

logger = logging.getLogger(__name__)

HEALTH_DB_TIMEOUT_S = 5.0
MAX_SEGMENTS = 10_000


async def health(request: web.Request) -> web.Response:
    """Liveness plus a database round trip; 503 when the database does not answer.

    'degraded' (200) while segments are damaged, or while recorders cannot write to the
    data directory (storage 'disk full' / 'disk error', with a reason): counts only, the
    caller is anonymous.
    """
    db = request.app[DB_KEY]
    database = "ok"
    damaged = 0
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S), db.read() as s:
            await list_cameras(s)
            # Evidence no longer intact is an alarm until verify finds it restored.
            damaged = await count_in_state(s, "damaged")
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        logger.warning(
            "health: database check failed: %s: %s", type(exc).__name__, redact_url(str(exc))
        )
        database = "error"
    # A disk that takes no footage is not a dead service (restarting would not help),
    # but it must not say ok: degraded, with the reason.
    failing = [
        st.storage_error for st in request.app[STATUS_KEY].camera_status() if st.storage_error
    ]
    storage = min(failing) if failing else "ok"  # 'disk error' before 'disk full'
    reasons = []
    if failing:
        stuck = "1 camera" if len(failing) == 1 else f"{len(failing)} cameras"
        reasons.append(f"{storage}: {stuck} cannot write to the data directory")
    if damaged:
        reasons.append(f"{damaged} damaged segment{'' if damaged == 1 else 's'}")
    body = {
        "status": "error" if database != "ok" else "degraded" if reasons else "ok",
        "database": database,
        "damaged_segments": damaged,
        "storage": storage,
        "reason": "; ".join(reasons) or None,
        "time": iso_from_us(request.app[CLOCK_KEY].now_us()),
    }
    return web.json_response(body, status=200 if database == "ok" else 503)


async def cameras(request: web.Request) -> web.Response:
    """Every camera the index or the supervisor knows, with live recording status."""
    reject_unknown(request.query, ())
    async with request.app[DB_KEY].read() as s:
        records = {r.name: r for r in await list_cameras(s)}
    statuses = {st.name: st for st in request.app[STATUS_KEY].camera_status()}
    who = principal(request)
    if who.counters is not None:
        # Staff see the cameras of their counters only.
        records = {n: r for n, r in records.items() if who.may_see_any(r.counters)}
        statuses = {n: st for n, st in statuses.items() if n in records}
    now_us = request.app[CLOCK_KEY].now_us()
    items = [
        camera_json(name, records.get(name), statuses.get(name), now_us)
        for name in sorted(records.keys() | statuses.keys())
    ]
    return web.json_response({"cameras": items})


async def recordings(request: web.Request) -> web.Response:
    """Segments overlapping [start, end), optionally for one camera."""
    query = request.query
    reject_unknown(query, ("camera", "start", "end"))
    camera = optional_str(query, "camera")
    start_us, end_us = time_range_us(query)
    if camera is None and principal(request).counters is not None:
        raise Forbidden("name a camera: your account sees only its counters' cameras")
    async with request.app[DB_KEY].read() as s:
        if camera is not None:
            try:
                await get_camera(s, camera)
            except CameraNotFound:
                raise ApiError(
                    f"no camera named {camera!r}", status=404, code="camera_not_found"
                ) from None
    if camera is not None:
        await require_camera(request, camera)
    async with request.app[DB_KEY].read() as s:
        segments = await segments_overlapping(s, camera, start_us, end_us, limit=MAX_SEGMENTS)
    access = FootageAccess(
        action="footage.recordings",
        target=camera or "*",
        cameras=tuple(sorted({seg.camera for seg in segments})),
        start_us=start_us,
        end_us=end_us,
        extra={"segments": len(segments)},
    )
    await audit_access(request, access)
    return web.json_response(
        {
            "segments": [segment_json(seg) for seg in segments],
            # A full page means there may be more: narrow the range or ask per camera.
            "truncated": len(segments) >= MAX_SEGMENTS,
        }
    )


async def segment_file(request: web.Request) -> web.StreamResponse:
    """One sealed segment's fMP4 bytes, with HTTP Range, once its file is checked.

    The ETag derives from the size and SHA-256 recorded at the seal (web.files.sealed_etag):
    the file is not re-hashed per request. surveil.serving checks the file and marks one
    gone or not as sealed (missing, damaged: an alarm); it is refused.
    """
    segment_id = positive_id(request.match_info["id"], "segment id")
    async with request.app[DB_KEY].read() as s:
        try:
            segment = await get_segment(s, segment_id)
        except SegmentNotFound:
            raise ApiError(
                f"no segment with id {segment_id}", status=404, code="segment_not_found"
            ) from None
    await require_camera(request, segment.camera)
    db, now_us = request.app[DB_KEY], request.app[CLOCK_KEY].now_us()
    opened = await open_sealed_segment(db, segment, request.app[DATA_DIR_KEY], now_us)
    access = FootageAccess(
        action="footage.segment",
        target=str(segment_id),
        cameras=(segment.camera,),
        start_us=segment.start_us,
        end_us=segment.end_us,
    )
    try:
        await audit_access(request, access, viewing=True)
    except BaseException:
        opened.file.close()
        raise
    etag = sealed_etag(segment.sha256 or "", segment.bytes)
    return await send_file(
        request, opened.file, opened.size, etag, what=f"{segment.camera}: segment {segment_id}"
    )


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())
