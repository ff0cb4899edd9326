"""Camera management API: create (by ONVIF or URL), read, change, delete, probe, discover,
snapshot.

Every change is written with its audit row in one transaction, then the supervisor is asked
to reconcile, so recording follows without a restart. Passwords are write-only: they are
encrypted before they reach the index, and no response, error, log line or audit detail
carries one (every camera call runs inside surveil.camera_admin.scrubbed). Failures are
domain errors mapped to HTTP once, in web/errors.py.
"""

from __future__ import annotations

import logging

from aiohttp import web

from cameras.credentials import CredentialBox, CredentialError
from cameras.onvif import OnvifAuthError, OnvifError, OnvifNotSupported
from cameras.source import CameraError, CameraRejected, CameraTimeout, CameraUnreachable
from index.cameras import ConfigManaged, get_active_camera, get_api_camera
from index.errors import CameraNotFound, Conflict, CounterNotFound, InvalidRecord
from index.records import CameraRecord
from surveil.access_log import AuditUnavailable, FootageAccess, probe_preview
from surveil.camera_admin import (
    discover_devices,
    remove_camera,
    save_camera_change,
    save_new_camera,
    scrubbed,
)
from surveil.camera_setup import camera_password, camera_snapshot
from web.access import audit, audit_access, audit_entry, require_camera
from web.camera_specs import changed_spec, created_spec, probed
from web.errors import CamerasUnavailable, DiscoveryFailed
from web.keys import CAMERA_CONTROL_KEY, CLOCK_KEY, DB_KEY, STATUS_KEY, CameraControl
from web.openapi import Media, Op
from web.wire.base import reply
from web.wire.cameras import (
    DISCOVER_DEFAULT_S,
    CameraByOnvif,
    CameraCreate,
    CameraDetail,
    CameraPatch,
    CameraPath,
    DeviceList,
    DiscoverRequest,
    FoundDevice,
    ProbeRequest,
    ProbeResult,
)

logger = logging.getLogger(__name__)


# What a camera can answer, one class per code and status (web/errors.py), for the document.
CAMERA_FAILURES: tuple[type[Exception], ...] = (
    OnvifAuthError,
    OnvifNotSupported,
    CameraUnreachable,
    CameraRejected,
    OnvifError,
    CameraError,
    CameraTimeout,
)


# -- helpers ----------------------------------------------------------------------------


def control_of(request: web.Request) -> CameraControl:
    """The supervisor's camera control; CamerasUnavailable (503) in a process without one."""
    control = request.app.get(CAMERA_CONTROL_KEY)
    if control is None:
        raise CamerasUnavailable("camera management is not available in this process")
    return control


def sent_password(record: CameraRecord, box: CredentialBox) -> list[str]:
    """The stored password, to scrub from a camera's answer; none if it cannot be decrypted
    (then it cannot have been sent either)."""
    try:
        return [camera_password(record, box)]
    except CredentialError:
        return []


async def _respond(request: web.Request, record: CameraRecord, status: int = 200) -> web.Response:
    statuses = {st.name: st for st in request.app[STATUS_KEY].camera_status()}
    now_us = request.app[CLOCK_KEY].now_us()
    return reply(CameraDetail.of_record(record, statuses.get(record.name), now_us), status)


# -- handlers ---------------------------------------------------------------------------


async def create_camera(request: web.Request, *, body: CameraCreate) -> web.Response:
    """Add a camera by ONVIF (the device is probed first and its stream URI recorded) or by
    stream URL (credentials in it are moved out and the password stored encrypted).
    Recording starts at once. The name stays taken by a deleted camera whose footage is
    kept."""
    control = control_of(request)
    camera = body.root
    now_us = request.app[CLOCK_KEY].now_us()
    timeout_s = control.onvif.timeout_seconds
    try:
        spec = await created_spec(camera, control.credentials, timeout_s, now_us)
    except CameraError as exc:
        if isinstance(camera, CameraByOnvif):
            await audit(request, "camera.create", "failed", camera.name, {"reason": exc.code})
        raise
    entry = audit_entry(request, "camera.create", "ok", camera.name)
    record = await save_new_camera(request.app[DB_KEY], spec, entry, now_us, control.reconcile)
    return await _respond(request, record, 201)


async def camera(request: web.Request, *, path: CameraPath) -> web.Response:
    """A camera's settings and live status (never its password). A deleted camera is not
    found; its footage is kept and stays reachable."""
    async with request.app[DB_KEY].read() as s:
        record = await get_active_camera(s, path.name)
    await require_camera(request, path.name)
    return await _respond(request, record)


async def update_camera(
    request: web.Request, *, path: CameraPath, body: CameraPatch
) -> web.Response:
    """Change some settings of an API camera; a changed stream reconnects it. An ONVIF
    camera changes host, port, credentials or profile inside `onvif` (and is probed again);
    `url`, `username` or `password` for it is a conflict."""
    control = control_of(request)
    async with request.app[DB_KEY].read() as s:
        record = await get_api_camera(s, path.name)
    now_us = request.app[CLOCK_KEY].now_us()
    timeout_s = control.onvif.timeout_seconds
    spec = await changed_spec(record, body, control.credentials, timeout_s, now_us)
    entry = audit_entry(request, "camera.update", "ok", path.name)
    new_record, _ = await save_camera_change(
        request.app[DB_KEY],
        spec,
        entry,
        now_us,
        control.reconcile,
        expect_updated_us=record.updated_us,
    )
    return await _respond(request, new_record)


async def delete_camera(request: web.Request, *, path: CameraPath) -> web.Response:
    """Stop recording an API camera and mark it deleted. Its row, runs and segments are
    kept and stay reachable (recordings, lookup); its name cannot be used again."""
    control = control_of(request)
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "camera.delete", "ok", path.name)
    await remove_camera(request.app[DB_KEY], path.name, entry, now_us, control.reconcile)
    return web.Response(status=204)


async def probe_camera(request: web.Request, *, body: ProbeRequest) -> web.Response:
    """Probe an ONVIF device (host) or test a stream (url: one keyframe is decoded) without
    saving anything. A preview picture is an audited access (camera.snapshot)."""
    control = control_of(request)
    found = await probed(body.root, control.onvif.timeout_seconds)
    if found.preview is not None:
        await audit_access(request, probe_preview(*found.preview))
    return reply(found.result)


async def discover_cameras(request: web.Request, *, body: DiscoverRequest | None) -> web.Response:
    """WS-Discovery: sends a Probe to [onvif] discovery_address and lists the devices that
    answer within timeout_s."""
    control = control_of(request)
    timeout_s = DISCOVER_DEFAULT_S if body is None else body.timeout_s
    try:
        devices = await discover_devices(control.onvif, timeout_s)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise DiscoveryFailed(f"discovery could not send its probe: {why}") from None
    return reply(DeviceList(devices=[FoundDevice.of(d) for d in devices]))


async def snapshot(request: web.Request, *, path: CameraPath) -> web.Response:
    """A live JPEG: from the ONVIF snapshot URI when the camera has one, else one keyframe
    decoded from its stream (X-Snapshot-Source says which); never from the recording path.
    An audited access (camera.snapshot)."""
    control = control_of(request)
    name = path.name
    async with request.app[DB_KEY].read() as s:
        record = await get_active_camera(s, name)
    await require_camera(request, name)
    box = control.credentials
    with scrubbed(sent_password(record, box)):
        jpeg, how = await camera_snapshot(
            record, box, control.camera_url(name), control.onvif.timeout_seconds
        )
    access = FootageAccess("camera.snapshot", name, cameras=(name,), extra={"source": how})
    await audit_access(request, access)
    return web.Response(
        body=jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Snapshot-Source": how},
    )


OPS = (
    Op(
        "POST",
        "/api/v1/cameras",
        "create_camera",
        create_camera,
        "Add a camera by ONVIF or stream URL (admin); recording starts at once",
        body_model=CameraCreate,
        ok={201: CameraDetail},
        errors=(
            Conflict,
            CounterNotFound,
            InvalidRecord,
            CamerasUnavailable,
            AuditUnavailable,
            *CAMERA_FAILURES,
        ),
    ),
    Op(
        "POST",
        "/api/v1/camera-probes",
        "probe_camera",
        probe_camera,
        "Probe an ONVIF device or test a stream without saving (admin)",
        body_model=ProbeRequest,
        ok={200: ProbeResult},
        errors=(InvalidRecord, CamerasUnavailable, AuditUnavailable, *CAMERA_FAILURES),
    ),
    Op(
        "GET",
        "/api/v1/cameras/{name}",
        "camera",
        camera,
        "A camera's settings and live status (never its password)",
        path_model=CameraPath,
        ok={200: CameraDetail},
        errors=(CameraNotFound,),
    ),
    Op(
        "PATCH",
        "/api/v1/cameras/{name}",
        "update_camera",
        update_camera,
        "Change an API camera (admin); a changed stream reconnects it",
        path_model=CameraPath,
        body_model=CameraPatch,
        ok={200: CameraDetail},
        errors=(
            CameraNotFound,
            CounterNotFound,
            ConfigManaged,
            Conflict,
            CredentialError,
            InvalidRecord,
            CamerasUnavailable,
            *CAMERA_FAILURES,
        ),
    ),
    Op(
        "DELETE",
        "/api/v1/cameras/{name}",
        "delete_camera",
        delete_camera,
        "Stop recording an API camera and mark it deleted (admin); footage is kept",
        path_model=CameraPath,
        ok={204: None},
        errors=(CameraNotFound, ConfigManaged, CamerasUnavailable),
    ),
    Op(
        "GET",
        "/api/v1/cameras/{name}/snapshot",
        "camera_snapshot",
        snapshot,
        "A live JPEG from the camera (admin, auditor)",
        path_model=CameraPath,
        ok={200: Media("image/jpeg", "The picture.")},
        errors=(
            CameraNotFound,
            CredentialError,
            CamerasUnavailable,
            AuditUnavailable,
            *CAMERA_FAILURES,
        ),
    ),
    Op(
        "POST",
        "/api/v1/discover",
        "discover_cameras",
        discover_cameras,
        "WS-Discovery of ONVIF cameras (admin)",
        body_model=DiscoverRequest,
        body_required=False,
        ok={200: DeviceList},
        errors=(CamerasUnavailable, DiscoveryFailed),
    ),
)
