"""Camera management API: create (by ONVIF or URL), read, change, delete, probe, discover,
snapshot.

Every change is written with its audit row in one transaction, then the supervisor is asked
to reconcile, so recording follows without a restart. Passwords are write-only: they are
encrypted before they reach the index, and no response, error, log line or audit detail
carries one (errors from cameras are scrubbed of the password that was sent).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from cameras.credentials import CredentialError
from cameras.onvif import (
    DeviceProbe,
    OnvifNotSupported,
)
from cameras.source import CameraError
from index.cameras import (
    CAMERA_NAME_RE,
    CAMERA_NAME_RULE,
    CameraSpec,
    get_active_camera,
    get_api_camera,
    get_camera,
    spec_of,
)
from index.errors import CameraNotFound
from index.records import CameraRecord
from surveil.access_log import FootageAccess, probe_preview
from surveil.camera_admin import (
    describe_failure,
    discover_devices,
    onvif_spec,
    remove_camera,
    save_camera_change,
    save_new_camera,
    stream_preview,
)
from surveil.camera_setup import (
    OnvifTarget,
    camera_snapshot,
    device_json,
    device_stream_url,
    probe_onvif,
    probe_onvif_with_snapshot,
    stream_credentials,
)
from web.access import audit, audit_access, audit_entry, require_camera
from web.body import json_object, optional_str, required_str
from web.errors import ApiError, BadRequest
from web.keys import CAMERA_CONTROL_KEY, CLOCK_KEY, DB_KEY, STATUS_KEY, CameraControl
from web.serialize import camera_detail_json

logger = logging.getLogger(__name__)

CREATE_KEYS = ("name", "url", "username", "password", "onvif", "counters", "enabled")
UPDATE_KEYS = ("url", "username", "password", "onvif", "counters", "enabled")
ONVIF_KEYS = ("host", "port", "username", "password", "profile")
PROBE_KEYS = (*ONVIF_KEYS, "url", "snapshot")
DISCOVER_KEYS = ("timeout_s",)
MAX_COUNTERS = 64
DISCOVER_MAX_S = 10.0
URL_MAX = 2000
# HTTP status of each kind of camera failure (a timeout is 504 whatever its kind).
FAILURE_STATUS = {
    "onvif_auth_failed": 422,
    "not_onvif": 422,
    "camera_unreachable": 502,
    "camera_rejected": 502,
    "onvif_error": 502,
    "camera_error": 502,
}


# -- helpers ----------------------------------------------------------------------------


def _control(request: web.Request) -> CameraControl:
    control = request.app.get(CAMERA_CONTROL_KEY)
    if control is None:
        raise ApiError(
            "camera management is not available in this process",
            status=503,
            code="cameras_unavailable",
        )
    return control


def _name(request: web.Request) -> str:
    return request.match_info["name"]


def _camera_error(exc: CameraError, secrets: list[str]) -> ApiError:
    """The HTTP error for a camera's failure; the message never carries the password."""
    failure = describe_failure(exc, secrets)
    message = failure.message
    if failure.code == "onvif_auth_failed":
        message = f"the camera refused the user name or password ({message})"
    status = FAILURE_STATUS.get(failure.code, 502)
    if failure.timed_out:
        status = 504
    return ApiError(message, status=status, code=failure.code)


def _bool(body: Mapping[str, object], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"{key!r} must be true or false, got {type(value).__name__}")
    return value


def _counters(body: Mapping[str, object]) -> tuple[str, ...]:
    value = body.get("counters", [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise BadRequest("'counters' must be a list of counter codes")
    if len(value) > MAX_COUNTERS:
        raise BadRequest(f"'counters' may list at most {MAX_COUNTERS} counters")
    return tuple(dict.fromkeys(str(c) for c in value))


def _camera_name(body: Mapping[str, object]) -> str:
    name = required_str(body, "name", 100)
    if not CAMERA_NAME_RE.match(name):
        raise BadRequest(f"camera name {name[:40]!r} must be {CAMERA_NAME_RULE}")
    return name


def _password(body: Mapping[str, object]) -> str | None:
    """A password or None (absent, null or empty); never echoed in a message."""
    value = body.get("password")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise BadRequest("'password' must be a string of at most 200 characters")
    return value


def _stream_url(
    body: Mapping[str, object], *, stored: bool = False
) -> tuple[str, str | None, str | None]:
    """(URL without credentials, username, password) from body['url'] and the credential keys.

    A password in the URL's query (password=, pwd=, ...) is moved out like one in its
    userinfo; *** there means "the camera's password", which must then be given, or be
    stored already (stored: the camera has one); see camera_setup.stream_credentials.
    """
    raw = body.get("url")
    if not isinstance(raw, str) or not raw:
        raise BadRequest("'url' must be a non-empty string")
    if len(raw) > URL_MAX:
        raise BadRequest(f"'url' must be at most {URL_MAX} characters")
    if not raw.startswith(("rtsp://", "rtsps://")):
        # Never echo the URL: a malformed one is where redaction cannot find a password.
        raise BadRequest("'url' must start with rtsp:// or rtsps://")
    try:
        split = stream_credentials(raw, _password(body), stored=stored)
    except ValueError as exc:
        raise BadRequest(f"'url': {exc}") from None
    username = optional_str(body, "username") or split.username
    return split.url, username, split.password


def _onvif_target(value: object, base: OnvifTarget | None = None) -> OnvifTarget:
    """The 'onvif' object of a request; with base, omitted keys keep base's values."""
    if not isinstance(value, dict):
        raise BadRequest("'onvif' must be an object with host, port, username, password, profile")
    unknown = sorted(set(value) - set(ONVIF_KEYS))
    if unknown:
        raise BadRequest(
            f"unknown key {unknown[0]!r} in 'onvif'; expected: {', '.join(sorted(ONVIF_KEYS))}"
        )
    host = optional_str(value, "host", 255) or (base.host if base else None)
    if host is None:
        raise BadRequest("'onvif.host' is required")
    port = value.get("port", base.port if base else 80)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadRequest("'onvif.port' must be an integer 1-65535")
    username = base.username if base else ""
    if "username" in value:
        username = optional_str(value, "username") or ""
    password = base.password if base else ""
    if "password" in value:
        password = _password(value) or ""
    profile = base.profile if base else None
    if "profile" in value:
        profile = optional_str(value, "profile")
    try:
        return OnvifTarget(
            host=host, port=port, username=username, password=password, profile=profile
        )
    except ValueError as exc:  # the host rule (never quotes the host)
        raise BadRequest(f"'onvif.host': {exc}") from None


async def _probe(control: CameraControl, target: OnvifTarget) -> DeviceProbe:
    try:
        return await probe_onvif(target, control.onvif.timeout_seconds)
    except CameraError as exc:
        raise _camera_error(exc, [target.password]) from None


def _onvif_spec(
    base: CameraSpec, target: OnvifTarget, probe: DeviceProbe, control: CameraControl, now_us: int
) -> CameraSpec:
    """base with the ONVIF device's settings and the chosen profile's stream URI."""
    try:
        return onvif_spec(base, target, probe, control.credentials, now_us)
    except OnvifNotSupported as exc:
        raise ApiError(str(exc), status=422, code="not_onvif") from None


async def _respond(request: web.Request, record: CameraRecord, status: int = 200) -> web.Response:
    statuses = {st.name: st for st in request.app[STATUS_KEY].camera_status()}
    now_us = request.app[CLOCK_KEY].now_us()
    body = camera_detail_json(record, statuses.get(record.name), now_us)
    return web.json_response(body, status=status)


# -- handlers ---------------------------------------------------------------------------


async def create_camera(request: web.Request) -> web.Response:
    """POST /api/v1/cameras: add a camera by ONVIF (probed first) or by stream URL."""
    control = _control(request)
    body = await json_object(request, CREATE_KEYS)
    name = _camera_name(body)
    spec = CameraSpec(
        name=name, source_url="", counters=_counters(body), enabled=_bool(body, "enabled", True)
    )
    now_us = request.app[CLOCK_KEY].now_us()
    if body.get("onvif") is not None:
        if "url" in body or "username" in body or "password" in body:
            raise BadRequest("give either 'url' (with username, password) or 'onvif', not both")
        target = _onvif_target(body["onvif"])
        try:
            probe = await _probe(control, target)
        except ApiError as exc:
            await audit(request, "camera.create", "failed", name, {"reason": exc.code})
            raise
        spec = _onvif_spec(spec, target, probe, control, now_us)
    else:
        if "url" not in body:
            raise BadRequest("'url' or 'onvif' is required")
        url, username, password = _stream_url(body)
        secret = control.credentials.encrypt(password) if password else None
        spec = replace(spec, source_url=url, username=username, secret_enc=secret)
    entry = audit_entry(request, "camera.create", "ok", name)
    record = await save_new_camera(request.app[DB_KEY], spec, entry, now_us, control.reconcile)
    return await _respond(request, record, 201)


async def get_camera_detail(request: web.Request) -> web.Response:
    """GET /api/v1/cameras/{name}: settings and live status (deleted cameras too)."""
    name = _name(request)
    async with request.app[DB_KEY].read() as s:
        try:
            record = await get_camera(s, name)
        except CameraNotFound:
            raise ApiError(
                f"no camera named {name!r}", status=404, code="camera_not_found"
            ) from None
    await require_camera(request, name)
    return await _respond(request, record)


async def update_camera(request: web.Request) -> web.Response:
    """PATCH /api/v1/cameras/{name}: change some fields; the password is write-only."""
    control = _control(request)
    name = _name(request)
    body = await json_object(request, UPDATE_KEYS)
    if not body:
        raise BadRequest(f"nothing to change; give one of: {', '.join(UPDATE_KEYS)}")
    async with request.app[DB_KEY].read() as s:
        record = await get_api_camera(s, name)
    spec = spec_of(record)
    now_us = request.app[CLOCK_KEY].now_us()
    if "counters" in body:
        spec = replace(spec, counters=_counters(body))
    if "enabled" in body:
        spec = replace(spec, enabled=_bool(body, "enabled", spec.enabled))
    if record.onvif_host is not None or "onvif" in body:
        if {"url", "username", "password"} & set(body):
            raise BadRequest(
                f"camera {name!r} is an ONVIF camera: change its host, port, username, "
                "password or profile inside 'onvif'"
            )
        if "onvif" in body:
            base = None
            if record.onvif_host is not None:
                base = OnvifTarget(
                    host=record.onvif_host,
                    port=record.onvif_port or 80,
                    username=record.username or "",
                    password=_stored_password(control, record),
                    profile=record.onvif_profile,
                )
            target = _onvif_target(body["onvif"], base)
            probe = await _probe(control, target)
            spec = _onvif_spec(spec, target, probe, control, now_us)
    else:
        if "url" in body:
            url, username, password = _stream_url(body, stored=record.secret_enc is not None)
            spec = replace(spec, source_url=url)
            if username is not None:
                spec = replace(spec, username=username)
            if password is not None:
                spec = replace(spec, secret_enc=control.credentials.encrypt(password))
        if "username" in body and "url" not in body:
            spec = replace(spec, username=optional_str(body, "username"))
        if "password" in body:
            password = _password(body)
            secret = None if password is None else control.credentials.encrypt(password)
            spec = replace(spec, secret_enc=secret)
    entry = audit_entry(request, "camera.update", "ok", name)
    new_record, _ = await save_camera_change(
        request.app[DB_KEY],
        spec,
        entry,
        now_us,
        control.reconcile,
        expect_updated_us=record.updated_us,
    )
    return await _respond(request, new_record)


def _stored_password(control: CameraControl, record: CameraRecord) -> str:
    if record.secret_enc is None:
        return ""
    try:
        return control.credentials.decrypt(record.secret_enc)
    except CredentialError as exc:
        raise ApiError(str(exc), status=409, code="credentials_unreadable") from None


async def delete_camera(request: web.Request) -> web.Response:
    """DELETE /api/v1/cameras/{name}: stop recording; the row and all footage are kept."""
    control = _control(request)
    name = _name(request)
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "camera.delete", "ok", name)
    await remove_camera(request.app[DB_KEY], name, entry, now_us, control.reconcile)
    return web.Response(status=204)


async def probe_camera(request: web.Request) -> web.Response:
    """POST /api/v1/cameras/probe: ONVIF probe (or stream check by URL) without saving."""
    control = _control(request)
    body = await json_object(request, PROBE_KEYS)
    want_snapshot = _bool(body, "snapshot", False)
    timeout_s = control.onvif.timeout_seconds
    if "url" in body:
        if set(body) & {"host", "port", "profile"}:
            raise BadRequest("give either 'url' or 'host' (ONVIF), not both")
        url, username, password = _stream_url(body)
        try:
            preview = await stream_preview(url, username, password, timeout_s)
        except CameraError as exc:
            raise _camera_error(exc, [password or ""]) from None
        except TimeoutError:
            raise ApiError(
                "the camera gave no picture in time", status=504, code="camera_unreachable"
            ) from None
        await audit_access(request, probe_preview(url, "stream"))
        return web.json_response(
            {"url": url, "device": None, "clock_offset_s": None, "snapshot": _data_url(preview)}
        )
    target = _onvif_target({k: v for k, v in body.items() if k in ONVIF_KEYS})
    jpeg: bytes | None = None
    try:
        if want_snapshot:
            probe, jpeg = await probe_onvif_with_snapshot(target, timeout_s)
        else:
            probe = await probe_onvif(target, timeout_s)
    except CameraError as exc:
        raise _camera_error(exc, [target.password]) from None
    try:
        url = device_stream_url(probe.main.stream_uri)
    except CameraError as exc:
        raise _camera_error(exc, [target.password]) from None
    if jpeg is not None:
        await audit_access(request, probe_preview(f"onvif://{target.host}:{target.port}", "onvif"))
    offset = probe.clock_offset_us
    return web.json_response(
        {
            "url": url,
            "device": device_json(probe),
            "clock_offset_s": None if offset is None else round(offset / 1e6, 3),
            "snapshot": None if jpeg is None else _data_url(jpeg),
        }
    )


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


async def discover_cameras(request: web.Request) -> web.Response:
    """POST /api/v1/discover: WS-Discovery on the configured address; lists what answered."""
    control = _control(request)
    timeout_s = 3.0
    if request.can_read_body:
        body = await json_object(request, DISCOVER_KEYS)
        value = body.get("timeout_s", timeout_s)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest("'timeout_s' must be a number")
        if not 0.2 <= value <= DISCOVER_MAX_S:
            raise BadRequest(f"'timeout_s' must be between 0.2 and {DISCOVER_MAX_S:g}")
        timeout_s = float(value)
    try:
        devices = await discover_devices(control.onvif, timeout_s)
    except OSError as exc:
        raise ApiError(
            f"discovery could not send its probe: {exc.strerror or type(exc).__name__}",
            status=502,
            code="discovery_failed",
        ) from None
    return web.json_response(
        {
            "devices": [
                {
                    "address": d.address,
                    "xaddrs": list(d.xaddrs),
                    "sender": d.sender,
                    "name": d.name,
                    "hardware": d.hardware,
                    "location": d.location,
                    "types": list(d.types),
                    "scopes": list(d.scopes),
                }
                for d in devices
            ]
        }
    )


async def snapshot(request: web.Request) -> web.Response:
    """GET /api/v1/cameras/{name}/snapshot: a live JPEG (ONVIF snapshot URI, else one
    keyframe decoded from the stream); never taken from the recording path."""
    control = _control(request)
    name = _name(request)
    async with request.app[DB_KEY].read() as s:
        try:
            record = await get_active_camera(s, name)
        except CameraNotFound:
            raise ApiError(
                f"no camera named {name!r}", status=404, code="camera_not_found"
            ) from None
    await require_camera(request, name)
    try:
        jpeg, how = await camera_snapshot(
            record, control.credentials, control.camera_url(name), control.onvif.timeout_seconds
        )
    except CredentialError as exc:
        raise ApiError(str(exc), status=409, code="credentials_unreadable") from None
    except CameraError as exc:
        secrets = []
        if record.secret_enc is not None:
            secrets.append(_stored_password(control, record))
        raise _camera_error(exc, secrets) from None
    except TimeoutError:
        raise ApiError(
            f"camera {name!r} gave no picture in time", status=504, code="camera_unreachable"
        ) from None
    access = FootageAccess("camera.snapshot", name, cameras=(name,), extra={"source": how})
    await audit_access(request, access)
    return web.Response(
        body=jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Snapshot-Source": how},
    )
