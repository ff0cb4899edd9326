"""JSON API views: parse and validate input, call index query functions, serialize."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path, PurePosixPath

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from cameras.urls import redact_url
from index.cameras import get_camera, list_cameras
from index.errors import CameraNotFound, SegmentNotFound
from index.segments import get_segment, segments_overlapping
from web.access import Forbidden, principal, require_camera
from web.errors import ApiError
from web.files import send_file
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, STATUS_KEY
from web.openapi import openapi_document
from web.params import optional_str, positive_id, reject_unknown, time_range_us
from web.serialize import camera_json, segment_json
from web.timefmt import iso_from_us

logger = logging.getLogger(__name__)

HEALTH_DB_TIMEOUT_S = 5.0
MAX_SEGMENTS = 10_000
# Segments whose bytes are final and described by their sha256.
HASHED_STATES = frozenset({"sealed", "recovered"})


async def health(request: web.Request) -> web.Response:
    """Liveness plus a database round trip; 503 when the database does not answer."""
    db = request.app[DB_KEY]
    database = "ok"
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S), db.read() as s:
            await list_cameras(s)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        logger.warning(
            "health: database check failed: %s: %s", type(exc).__name__, redact_url(str(exc))
        )
        database = "error"
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
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
    return web.json_response(
        {
            "segments": [segment_json(seg) for seg in segments],
            # A full page means there may be more: narrow the range or ask per camera.
            "truncated": len(segments) >= MAX_SEGMENTS,
        }
    )


async def segment_file(request: web.Request) -> web.StreamResponse:
    """One segment's fMP4 bytes, with HTTP Range; ETag is its sha256 once final."""
    segment_id = positive_id(request.match_info["id"], "segment id")
    async with request.app[DB_KEY].read() as s:
        try:
            segment = await get_segment(s, segment_id)
        except SegmentNotFound:
            raise ApiError(
                f"no segment with id {segment_id}", status=404, code="segment_not_found"
            ) from None
    await require_camera(request, segment.camera)
    if segment.state == "open":
        raise ApiError(
            f"segment {segment_id} is still being written; "
            "it can be fetched once it is sealed (within one segment length)",
            status=409,
            code="segment_open",
        )
    path = segment_file_path(request.app[DATA_DIR_KEY], segment.path, segment_id)
    if segment.state == "missing" or not await asyncio.to_thread(path.is_file):
        raise ApiError(
            f"the file of segment {segment_id} is no longer on disk",
            status=410,
            code="segment_gone",
        )
    sha256 = segment.sha256 if segment.state in HASHED_STATES else None
    return await send_file(request, path, sha256)


def segment_file_path(data_dir: Path, relative: str, segment_id: int) -> Path:
    rel = PurePosixPath(relative)
    # The index is trusted, but a corrupt row must not turn into a read outside data_dir.
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        logger.error("segment %d: path %r is not inside the data directory", segment_id, relative)
        raise ApiError(f"segment {segment_id} has an invalid path in the index")
    return data_dir.joinpath(*rel.parts)


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())
