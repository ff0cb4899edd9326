"""JSON API views of the service and its footage: health, the document, cameras, segments."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from cameras.urls import redact_url
from index.cameras import list_cameras
from index.errors import CameraNotFound, SegmentNotFound
from index.segments import count_in_state, get_segment, segments_overlapping
from surveil.access_log import AuditUnavailable, FootageAccess
from surveil.serving import SegmentDamaged, SegmentGone, SegmentOpen, open_sealed_segment
from surveil.timefmt import iso_from_us
from web.access import audit_access, principal, require_camera
from web.errors import Forbidden, PreconditionFailed, RangeNotSatisfiable, Unprocessable
from web.files import sealed_etag, send_file
from web.keys import (
    CLOCK_KEY,
    DB_KEY,
    LIFECYCLE_KEY,
    OPENAPI_KEY,
    STATUS_KEY,
    VOLUMES_KEY,
    fetcher,
)
from web.openapi import Media, Op
from web.wire.base import reply
from web.wire.cameras import CameraList, CameraStatus
from web.wire.footage import Health, RecordingsQuery, Segment, SegmentList, SegmentPath

logger = logging.getLogger(__name__)

HEALTH_DB_TIMEOUT_S = 5.0
MAX_SEGMENTS = 10_000


async def health(request: web.Request) -> web.Response:
    """Liveness plus a database round trip; 503 when the database does not answer.

    'degraded' (200) while segments are damaged, while recorders cannot write to the
    data directory (storage 'disk full' / 'disk error', with a reason), or while the storage
    lifecycle has a problem (a volume critical, full or failing, a failed retention pass,
    transfer stopped or 24 h behind): counts and reasons only, the caller is anonymous.
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
    lifecycle = request.app.get(LIFECYCLE_KEY)
    if lifecycle is not None:
        reasons.extend(lifecycle.problems())
    body = Health(
        status="error" if database != "ok" else "degraded" if reasons else "ok",
        database="ok" if database == "ok" else "error",
        damaged_segments=damaged,
        storage=storage,  # type: ignore[arg-type]  # one of the storage errors, or ok
        reason="; ".join(reasons) or None,
        time=iso_from_us(request.app[CLOCK_KEY].now_us()),
    )
    return reply(body, status=200 if database == "ok" else 503)


async def cameras(request: web.Request) -> web.Response:
    """Every camera the index or the supervisor knows, with live recording status."""
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
        CameraStatus.of(name, records.get(name), statuses.get(name), now_us)
        for name in sorted(records.keys() | statuses.keys())
    ]
    return reply(CameraList(cameras=items))


async def recordings(request: web.Request, *, query: RecordingsQuery) -> web.Response:
    """Segments overlapping [start, end), optionally for one camera."""
    camera = query.camera
    if camera is None and principal(request).counters is not None:
        raise Forbidden("name a camera: your account sees only its counters' cameras")
    if camera is not None:
        await require_camera(request, camera)
    async with request.app[DB_KEY].read() as s:
        segments = await segments_overlapping(s, camera, query.start, query.end, limit=MAX_SEGMENTS)
    access = FootageAccess(
        action="footage.recordings",
        target=camera or "*",
        cameras=tuple(sorted({seg.camera for seg in segments})),
        start_us=query.start,
        end_us=query.end,
        extra={"segments": len(segments)},
    )
    await audit_access(request, access)
    # A full page means there may be more: narrow the range or ask per camera.
    return reply(
        SegmentList(
            segments=[Segment.of(seg) for seg in segments],
            truncated=len(segments) >= MAX_SEGMENTS,
        )
    )


async def segment_file(request: web.Request, *, path: SegmentPath) -> web.StreamResponse:
    """One sealed segment's fMP4 bytes, with HTTP Range, once its file is checked.

    The ETag derives from the size and SHA-256 recorded at the seal (web.files.sealed_etag):
    the file is not re-hashed per request. surveil.serving checks the file and marks one
    gone or not as sealed (missing, damaged: an alarm); it is refused.
    """
    segment_id = path.id
    async with request.app[DB_KEY].read() as s:
        segment = await get_segment(s, segment_id)
    await require_camera(request, segment.camera)
    db, now_us = request.app[DB_KEY], request.app[CLOCK_KEY].now_us()
    opened = await open_sealed_segment(
        db, segment, request.app[VOLUMES_KEY], now_us, fetcher(request.app)
    )
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
    """The OpenAPI 3.1 description of this API, built from the route table at startup."""
    return web.json_response(request.app[OPENAPI_KEY])


OPS = (
    Op(
        "GET",
        "/api/v1/health",
        "health",
        health,
        "Liveness and database reachability",
        ok={200: Health, 503: Health},
    ),
    Op(
        "GET",
        "/api/v1/openapi.json",
        "openapi",
        openapi,
        "This document",
        ok={
            200: Media(
                "application/json",
                "The OpenAPI 3.1 document.",
                {"type": "object", "required": ["openapi", "paths"]},
            )
        },
    ),
    Op(
        "GET",
        "/api/v1/cameras",
        "cameras",
        cameras,
        "Cameras with live status",
        ok={200: CameraList},
    ),
    Op(
        "GET",
        "/api/v1/recordings",
        "recordings",
        recordings,
        "Segments in a time range",
        query_model=RecordingsQuery,
        ok={200: SegmentList},
        errors=(CameraNotFound, Unprocessable),
    ),
    Op(
        "GET",
        "/api/v1/segments/{id}",
        "segment_file",
        segment_file,
        "Download one sealed segment",
        path_model=SegmentPath,
        ok={
            200: Media("video/mp4", "The whole segment."),
            206: Media("video/mp4", "The requested byte range."),
            304: None,
        },
        errors=(
            SegmentNotFound,
            CameraNotFound,
            SegmentOpen,
            SegmentDamaged,
            SegmentGone,
            PreconditionFailed,
            RangeNotSatisfiable,
            AuditUnavailable,
        ),
    ),
)
