"""Admin pages: the dashboard (recording health, disk, alarms), cameras (list, discovery,
add by ONVIF or by stream URL, test connection, edit, enable/disable, delete) and counters
(create, edit, delete, which cameras cover them).

Handlers parse the form, call surveil.camera_admin (the same functions as the JSON API, so
every change is audited in its own transaction and followed by a reconcile), and render.
Changes answer with a redirect to the page and a message (post/redirect/get); failures and
probe results render the page directly, with the form filled in again — never its password.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from cameras.credentials import CredentialError
from cameras.onvif import DeviceProbe
from cameras.source import CameraError
from cameras.urls import escape_controls, redact_url
from index import cameras as camera_queries
from index import counters as counter_queries
from index import segments as segment_queries
from index.cameras import CAMERA_NAME_RE, CAMERA_NAME_RULE, CameraSpec, spec_of
from index.errors import CameraNotFound, Conflict, CounterNotFound, InvalidRecord
from index.records import CameraRecord, CounterRecord
from surveil import camera_admin
from surveil import counters as counter_admin
from surveil.access_log import probe_preview
from surveil.camera_setup import (
    OnvifTarget,
    camera_password,
    device_json,
    device_stream_url,
    probe_onvif,
    probe_onvif_with_snapshot,
    split_credentials,
    stream_credentials,
)
from surveil.status import STORAGE_ALARMS
from web.access import audit, audit_access, audit_entry
from web.errors import ApiError
from web.i18n import request_lang, translate
from web.keys import (
    CAMERA_CONTROL_KEY,
    CLOCK_KEY,
    DATA_DIR_KEY,
    DB_KEY,
    STATUS_KEY,
    CameraControl,
    reconciler,
)
from web.pages import render
from web.serialize import camera_json

DISK_ALARM_PCT = 90.0
REFRESH_SECONDS = 5
DISCOVER_TIMEOUT_S = 2.0
FIELD_MAX = 255
URL_MAX = 2000
PASSWORD_MAX = 200
CAMERA_STATES = ("recording", "connecting", "offline", "disabled")
FAILURES = ("onvif_auth_failed", "not_onvif", "camera_unreachable")


# -- view models -----------------------------------------------------------------------


@dataclass(frozen=True)
class Alarm:
    kind: str  # offline | clock | camera | disk | damaged
    camera: str | None
    text: str


@dataclass(frozen=True)
class Disk:
    total_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def used_pct(self) -> float:
        # As df counts: blocks reserved for root are neither used nor available to us.
        usable = self.used_bytes + self.free_bytes
        return 100.0 * self.used_bytes / usable if usable else 0.0


@dataclass(frozen=True)
class CameraItem:
    """One camera on the cameras page."""

    name: str
    origin: str  # config | api
    source: str  # redacted stream URL
    onvif: str | None  # host:port of an ONVIF camera
    counters: tuple[str, ...]
    enabled: bool
    state: str


@dataclass(frozen=True)
class Failure:
    """A camera's failure as the page shows it: a translated headline and the scrubbed
    detail (never a password)."""

    code: str
    headline: str
    detail: str


@dataclass(frozen=True)
class ProbeView:
    url: str
    device: dict[str, object] | None
    clock_offset_s: float | None
    snapshot: str | None  # data: URL


@dataclass(frozen=True)
class Found:
    """A device that answered discovery, with the link that prefills the ONVIF form."""

    name: str | None
    hardware: str | None
    location: str | None
    sender: str
    xaddrs: tuple[str, ...]
    prefill: str | None


@dataclass
class CamerasForm:
    """What the add forms show again after a failure or a probe (never the password)."""

    onvif: dict[str, Any] = field(default_factory=dict)
    url: dict[str, Any] = field(default_factory=dict)


class FormError(Exception):
    """A form value is missing or malformed; the message names the field."""


def _t(request: web.Request, key: str, **values: object) -> str:
    return translate(request_lang(request), key, **values)


def _control(request: web.Request) -> CameraControl:
    control = request.app.get(CAMERA_CONTROL_KEY)
    if control is None:
        raise ApiError(_t(request, "cams.unavailable"), status=503, code="cameras_unavailable")
    return control


def _back(request: web.Request, route: str, **params: str) -> web.HTTPSeeOther:
    target = str(request.app.router[route].url_for())
    if params:
        target += "?" + urlencode(params)
    return web.HTTPSeeOther(target)


def _failure(request: web.Request, exc: CameraError, secrets: list[str]) -> Failure:
    failure = camera_admin.describe_failure(exc, secrets)
    key = failure.code if failure.code in FAILURES else "camera_error"
    return Failure(failure.code, _t(request, f"cams.fail.{key}"), failure.message)


def _plain_failure(request: web.Request, message: str) -> Failure:
    return Failure("invalid", _t(request, "cams.fail.invalid"), redact_url(message))


def _str(form: Mapping[str, Any], key: str, max_length: int = FIELD_MAX) -> str:
    value = form.get(key, "")
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > max_length:
        raise FormError(f"{key}: at most {max_length} characters")
    return text


def _password(form: Mapping[str, Any], key: str = "password") -> str:
    value = form.get(key, "")
    text = value if isinstance(value, str) else ""
    if len(text) > PASSWORD_MAX:
        raise FormError(f"{key}: at most {PASSWORD_MAX} characters")
    return text


def _counters_of(form: MultiDictProxy[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for v in form.getall("counters", []) if isinstance(v, str)))


def _camera_name(form: Mapping[str, Any]) -> str:
    name = _str(form, "name", 100)
    if not CAMERA_NAME_RE.match(name):
        raise FormError(f"camera name {name[:40]!r} must be {CAMERA_NAME_RULE}")
    return name


def _port(form: Mapping[str, Any], default: int = 80) -> int:
    text = _str(form, "port", 5) or str(default)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise FormError("port must be a number 1-65535")
    return int(text)


def _onvif_target(form: Mapping[str, Any]) -> OnvifTarget:
    host = _str(form, "host")
    if not host:
        raise FormError("host is required")
    return _checked_target(
        host=host,
        port=_port(form),
        username=_str(form, "username", 200),
        password=_password(form),
        profile=_str(form, "profile", 64) or None,
    )


def _checked_target(
    host: str, port: int, username: str, password: str, profile: str | None
) -> OnvifTarget:
    """An OnvifTarget from form fields; FormError naming the host when it breaks the rule."""
    try:
        return OnvifTarget(host, port, username, password, profile)
    except ValueError as exc:  # never quotes the host
        raise FormError(f"host: {exc}") from None


@dataclass(frozen=True)
class StreamFields:
    url: str  # without credentials
    username: str | None
    password: str | None


def _stream_fields(form: Mapping[str, Any], *, stored: bool = False) -> StreamFields:
    """The URL form's fields; credentials in the URL (userinfo or query) are moved out, and
    *** in the query needs the password field unless one is stored (stored: the camera has
    one); see camera_setup.stream_credentials."""
    raw = _str(form, "url", URL_MAX)
    if not raw.startswith(("rtsp://", "rtsps://")):
        # Never echo the URL: a malformed one is where redaction cannot find a password.
        raise FormError("the stream URL must start with rtsp:// or rtsps://")
    try:
        split = stream_credentials(raw, _password(form), stored=stored)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    return StreamFields(split.url, _str(form, "username", 200) or split.username, split.password)


def _data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


# -- dashboard -------------------------------------------------------------------------


def _disk(data_dir: Path) -> Disk | None:
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError:
        return None
    return Disk(usage.total, usage.used, usage.free)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def dashboard_rows(
    records: list[CameraRecord], statuses: Mapping[str, Any], now_us: int
) -> list[dict[str, object]]:
    """Per camera the API's status object (camera_json), by name."""
    by_name = {r.name: r for r in records}
    names = sorted(by_name.keys() | statuses.keys())
    return [camera_json(n, by_name.get(n), statuses.get(n), now_us) for n in names]


def dashboard_alarms(
    request: web.Request,
    rows: list[dict[str, object]],
    disk: Disk | None,
    damaged: Mapping[str, int] | None = None,
) -> list[Alarm]:
    """What needs a person: cameras not recording, clocks off, the disk nearly full,
    segments whose files are damaged (per camera: how many)."""
    alarms: list[Alarm] = []
    if disk is not None and disk.used_pct > DISK_ALARM_PCT:
        pct, limit = f"{disk.used_pct:.1f}", f"{DISK_ALARM_PCT:.0f}"
        text = _t(request, "dash.alarm_disk", pct=pct, limit=limit)
        alarms.append(Alarm("disk", None, text))
    storage_at = len(alarms)
    # Cameras whose recorder cannot write ('disk full' / 'disk error'): one disk alarm each.
    storage: dict[str, list[str]] = {}
    for name, count in sorted((damaged or {}).items()):
        text = _t(request, "dash.alarm_damaged", camera=name, count=str(count))
        alarms.append(Alarm("damaged", name, text))
    for row in rows:
        name = str(row["name"])
        state = str(row["state"])
        error = row.get("error")
        if state == "offline" or (state == "connecting" and error):
            detail = str(error) if error else _t(request, "dash.no_error")
            text = _t(request, "dash.alarm_offline", camera=name, detail=detail)
            alarms.append(Alarm("offline", name, text))
        offset = _number(row.get("clock_offset_s"))
        listed = row.get("alarms")
        for raw in listed if isinstance(listed, list) else []:
            message = str(raw)
            problem = next((p for p in STORAGE_ALARMS if message.startswith(p)), None)
            if problem is not None:
                storage.setdefault(problem, []).append(name)
            elif message.startswith("camera clock off") and offset is not None:
                text = _t(request, "dash.alarm_clock", camera=name, offset=f"{offset:+.1f}")
                alarms.append(Alarm("clock", name, text))
            else:
                alarms.append(Alarm("camera", name, f"{name}: {message}"))
    alarms[storage_at:storage_at] = [
        Alarm("disk", None, _t(request, f"dash.alarm_{p.replace(' ', '_')}", cameras=", ".join(n)))
        for p, n in sorted(storage.items())
    ]
    return alarms


async def dashboard_page(request: web.Request) -> web.Response:
    """GET /dashboard: recording health per camera, disk use, alarms; reloads itself."""
    async with request.app[DB_KEY].read() as s:
        records = await camera_queries.list_cameras(s)
        damaged = await segment_queries.count_in_state_by_camera(s, "damaged")
    statuses = {st.name: st for st in request.app[STATUS_KEY].camera_status()}
    now_us = request.app[CLOCK_KEY].now_us()
    rows = dashboard_rows(records, statuses, now_us)
    disk = await asyncio.to_thread(_disk, request.app[DATA_DIR_KEY])
    response = render(
        request,
        "dashboard.html",
        {
            "rows": rows,
            "disk": disk,
            "disk_alarm_pct": DISK_ALARM_PCT,
            "alarms": dashboard_alarms(request, rows, disk, damaged),
            "refresh": REFRESH_SECONDS,
            "now_us": now_us,
        },
    )
    # Reload without script (the CSP forbids inline script); base.html has no head block.
    response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


# -- cameras ---------------------------------------------------------------------------


def _item(record: CameraRecord, states: Mapping[str, str]) -> CameraItem:
    onvif = None if record.onvif_host is None else f"{record.onvif_host}:{record.onvif_port}"
    state = states.get(record.name) or ("offline" if record.enabled else "disabled")
    return CameraItem(
        name=record.name,
        origin=record.origin,
        source=redact_url(record.source_url),
        onvif=onvif,
        counters=record.counters,
        enabled=record.enabled,
        state=state,
    )


async def _cameras_context(request: web.Request) -> dict[str, Any]:
    async with request.app[DB_KEY].read() as s:
        records = await camera_queries.list_cameras(s)
        counters = await counter_queries.list_counters(s)
    states = {st.name: st.state for st in request.app[STATUS_KEY].camera_status()}
    query = request.query
    done = query.get("done", "")
    message = None
    if done in ("created", "updated", "enabled", "disabled", "deleted"):
        message = _t(request, f"cams.done_{done}", name=query.get("name", ""))
    return {
        "cameras": [_item(r, states) for r in records],
        "counters": counters,
        "form": CamerasForm(
            onvif={
                "name": "",
                "host": query.get("host", ""),
                "port": query.get("port", "80"),
                "username": "",
                "profile": "",
                "counters": (),
            },
            url={"name": "", "url": "", "username": "", "counters": ()},
        ),
        "message": message,
        "failure": None,
        "probe": None,
        "found": None,
        "prefilled": "host" in query,
    }


def _refill(form: MultiDictProxy[Any]) -> CamerasForm:
    """The submitted add forms again, without the password and without URL credentials."""
    url = str(form.get("url", ""))[:URL_MAX]
    try:
        clean = split_credentials(url).url if url.startswith(("rtsp://", "rtsps://")) else ""
    except ValueError:
        clean = ""
    common = {
        "name": str(form.get("name", ""))[:100],
        "username": str(form.get("username", ""))[:200],
        "counters": _counters_of(form),
    }
    empty: dict[str, Any] = {"name": "", "username": "", "counters": ()}
    onvif = "url" not in form  # which of the two forms was sent
    return CamerasForm(
        onvif={
            **(common if onvif else empty),
            # Shown again as typed, but a control character as an escape (\x07).
            "host": escape_controls(str(form.get("host", ""))[:FIELD_MAX], keep=""),
            "port": str(form.get("port", "80"))[:5],
            "profile": str(form.get("profile", ""))[:64],
        },
        url={**(empty if onvif else common), "url": clean},
    )


def _lang_switch(request: web.Request, route: str, **params: str) -> str:
    """The language link of a page rendered in answer to a POST: to the page's GET route."""
    other = "en" if request_lang(request) == "zh" else "zh"
    return str(request.app.router[route].url_for(**params).with_query(lang=other))


async def _cameras_again(
    request: web.Request,
    form: MultiDictProxy[Any],
    status: int,
    *,
    failure: Failure | None = None,
    probe: ProbeView | None = None,
) -> web.Response:
    context = await _cameras_context(request)
    context.update(form=_refill(form), failure=failure, probe=probe, message=None)
    context["lang_switch"] = _lang_switch(request, "cameras_page")
    return render(request, "cameras.html", context, status=status)


async def cameras_page(request: web.Request) -> web.Response:
    """GET /cameras: the cameras, discovery, and the add forms (?host=&port= prefill)."""
    return render(request, "cameras.html", await _cameras_context(request))


async def camera_discover(request: web.Request) -> web.Response:
    """POST /cameras/discover: WS-Discovery on the configured address; shows who answered."""
    control = _control(request)
    context = await _cameras_context(request)
    try:
        devices = await camera_admin.discover_devices(control.onvif, DISCOVER_TIMEOUT_S)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        context["failure"] = Failure("discovery_failed", _t(request, "cams.discover_failed"), why)
        context["lang_switch"] = _lang_switch(request, "cameras_page")
        return render(request, "cameras.html", context, status=502)
    found = []
    base = str(request.app.router["cameras_page"].url_for())
    for d in devices:
        address = camera_admin.device_address(d)
        prefill = None
        if address is not None:
            prefill = f"{base}?{urlencode({'host': address.host, 'port': address.port})}#add-onvif"
        found.append(Found(d.name, d.hardware, d.location, d.sender, d.xaddrs, prefill))
    context["found"] = found
    context["lang_switch"] = _lang_switch(request, "cameras_page")
    return render(request, "cameras.html", context)


async def camera_probe(request: web.Request) -> web.Response:
    """POST /cameras/probe: test an ONVIF device (or a stream URL) without saving."""
    control = _control(request)
    form = await request.post()
    timeout_s = control.onvif.timeout_seconds
    secrets: list[str] = []
    try:
        if form.get("url"):
            fields = _stream_fields(form)
            secrets.append(fields.password or "")
            jpeg = await camera_admin.stream_preview(
                fields.url, fields.username, fields.password, timeout_s
            )
            await audit_access(request, probe_preview(fields.url, "stream"))
            view = ProbeView(fields.url, None, None, _data_url(jpeg))
        else:
            target = _onvif_target(form)
            secrets.append(target.password)
            probe, snap = await probe_onvif_with_snapshot(target, timeout_s)
            if snap is not None:
                where = f"onvif://{target.host}:{target.port}"
                await audit_access(request, probe_preview(where, "onvif"))
            view = _probe_view(probe, snap)
    except FormError as exc:
        return await _cameras_again(request, form, 400, failure=_plain_failure(request, str(exc)))
    except CameraError as exc:
        failure = _failure(request, exc, secrets)
        return await _cameras_again(request, form, 422, failure=failure)
    except TimeoutError:
        failure = Failure(
            "camera_unreachable", _t(request, "cams.fail.camera_unreachable"), "timed out"
        )
        return await _cameras_again(request, form, 422, failure=failure)
    return await _cameras_again(request, form, 200, probe=view)


def _probe_view(probe: DeviceProbe, jpeg: bytes | None) -> ProbeView:
    offset = probe.clock_offset_us
    return ProbeView(
        url=device_stream_url(probe.main.stream_uri),
        device=device_json(probe),
        clock_offset_s=None if offset is None else round(offset / 1e6, 3),
        snapshot=None if jpeg is None else _data_url(jpeg),
    )


async def camera_add_onvif(request: web.Request) -> web.StreamResponse:
    """POST /cameras/add-onvif: probe the device, then save it as an API camera."""
    control = _control(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    name = str(form.get("name", ""))[:100]
    target: OnvifTarget | None = None
    try:
        name = _camera_name(form)
        target = _onvif_target(form)
        probe = await probe_onvif(target, control.onvif.timeout_seconds)
        base = CameraSpec(name=name, source_url="", counters=_counters_of(form))
        spec = camera_admin.onvif_spec(base, target, probe, control.credentials, now_us)
        entry = audit_entry(request, "camera.create", "ok", name)
        await camera_admin.save_new_camera(
            request.app[DB_KEY], spec, entry, now_us, control.reconcile
        )
    except FormError as exc:
        return await _cameras_again(request, form, 400, failure=_plain_failure(request, str(exc)))
    except CameraError as exc:
        failure = _failure(request, exc, [target.password if target else ""])
        await audit(request, "camera.create", "failed", name, {"reason": failure.code})
        return await _cameras_again(request, form, 422, failure=failure)
    except (Conflict, InvalidRecord) as exc:
        return await _cameras_again(request, form, 409, failure=_plain_failure(request, str(exc)))
    raise _back(request, "cameras_page", done="created", name=name)


async def camera_add_url(request: web.Request) -> web.StreamResponse:
    """POST /cameras/add-url: save a camera by its RTSP URL (credentials kept apart)."""
    control = _control(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        name = _camera_name(form)
        fields = _stream_fields(form)
        secret = control.credentials.encrypt(fields.password) if fields.password else None
        spec = CameraSpec(
            name=name,
            source_url=fields.url,
            counters=_counters_of(form),
            username=fields.username,
            secret_enc=secret,
        )
        entry = audit_entry(request, "camera.create", "ok", name)
        await camera_admin.save_new_camera(
            request.app[DB_KEY], spec, entry, now_us, control.reconcile
        )
    except FormError as exc:
        return await _cameras_again(request, form, 400, failure=_plain_failure(request, str(exc)))
    except (Conflict, InvalidRecord) as exc:
        return await _cameras_again(request, form, 409, failure=_plain_failure(request, str(exc)))
    raise _back(request, "cameras_page", done="created", name=name)


async def _api_camera(request: web.Request) -> CameraRecord:
    """The API camera named in the path; 404 if absent or deleted, 409 if from the config."""
    name = request.match_info["name"]
    async with request.app[DB_KEY].read() as s:
        try:
            return await camera_queries.get_api_camera(s, name)
        except CameraNotFound:
            raise ApiError(
                _t(request, "cams.not_found", name=name), status=404, code="camera_not_found"
            ) from None
        except camera_queries.ConfigManaged:
            raise ApiError(
                _t(request, "cams.config_managed", name=name), status=409, code="conflict"
            ) from None


async def _edit_context(request: web.Request, record: CameraRecord) -> dict[str, Any]:
    async with request.app[DB_KEY].read() as s:
        counters = await counter_queries.list_counters(s)
    listed = (record.device or {}).get("profiles")
    profiles = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    return {
        "camera": record,
        "source": redact_url(record.source_url),
        "counters": counters,
        "profiles": profiles,
        "failure": None,
    }


async def camera_edit_page(request: web.Request) -> web.Response:
    """GET /cameras/{name}/edit: counters, enabled, credentials, ONVIF profile."""
    record = await _api_camera(request)
    return render(request, "camera_edit.html", await _edit_context(request, record))


def _edited_spec(
    record: CameraRecord, form: MultiDictProxy[Any], control: CameraControl
) -> tuple[CameraSpec, OnvifTarget | None]:
    """The camera's new spec from the edit form; with an ONVIF target when it must be probed
    again (address, user, password or profile changed). An empty password keeps the old."""
    spec = replace(spec_of(record), counters=_counters_of(form), enabled="enabled" in form)
    new_password = _password(form)
    username = _str(form, "username", 200)
    if record.onvif_host is not None:
        old = OnvifTarget(
            host=record.onvif_host,
            port=record.onvif_port or 80,
            username=record.username or "",
            password=camera_password(record, control.credentials),
            profile=record.onvif_profile,
        )
        target = _checked_target(
            host=_str(form, "host") or old.host,
            port=_port(form, old.port),
            username=username,
            password=new_password or old.password,
            profile=_str(form, "profile", 64) or None,
        )
        return spec, (None if target == old else target)
    fields = _stream_fields(form, stored=record.secret_enc is not None)
    spec = replace(spec, source_url=fields.url, username=username or fields.username or None)
    if fields.password:
        spec = replace(spec, secret_enc=control.credentials.encrypt(fields.password))
    return spec, None


async def camera_edit_submit(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/edit: save the edit form (re-probing an ONVIF camera whose
    address, credentials or profile changed)."""
    control = _control(request)
    record = await _api_camera(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    expect = _str(form, "updated_us", 20)
    target: OnvifTarget | None = None
    try:
        spec, target = _edited_spec(record, form, control)
        if target is not None:
            probe = await probe_onvif(target, control.onvif.timeout_seconds)
            spec = camera_admin.onvif_spec(spec, target, probe, control.credentials, now_us)
        entry = audit_entry(request, "camera.update", "ok", record.name)
        await camera_admin.save_camera_change(
            request.app[DB_KEY],
            spec,
            entry,
            now_us,
            control.reconcile,
            expect_updated_us=int(expect) if expect.isdigit() else record.updated_us,
        )
    except (FormError, Conflict, InvalidRecord, CredentialError) as exc:
        failure = _plain_failure(request, str(exc))
        status = 409 if isinstance(exc, Conflict) else 400
        return await _edit_again(request, record, failure, status)
    except CameraError as exc:
        failure = _failure(request, exc, [target.password if target else ""])
        return await _edit_again(request, record, failure, 422)
    raise _back(request, "cameras_page", done="updated", name=record.name)


async def _edit_again(
    request: web.Request, record: CameraRecord, failure: Failure, status: int
) -> web.Response:
    context = await _edit_context(request, record)
    context["failure"] = failure
    context["lang_switch"] = _lang_switch(request, "camera_edit_page", name=record.name)
    return render(request, "camera_edit.html", context, status=status)


async def camera_enable(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/enable with enabled=1|0: start or stop recording it."""
    control = _control(request)
    record = await _api_camera(request)
    form = await request.post()
    enabled = form.get("enabled") == "1"
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "camera.update", "ok", record.name)
    spec = replace(spec_of(record), enabled=enabled)
    await camera_admin.save_camera_change(
        request.app[DB_KEY], spec, entry, now_us, control.reconcile
    )
    done = "enabled" if enabled else "disabled"
    raise _back(request, "cameras_page", done=done, name=record.name)


async def camera_delete_page(request: web.Request) -> web.Response:
    """GET /cameras/{name}/delete: ask for confirmation (footage is kept)."""
    record = await _api_camera(request)
    return render(request, "camera_delete.html", {"camera": record})


async def camera_delete_submit(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/delete: stop recording and retire the name; footage is kept."""
    control = _control(request)
    record = await _api_camera(request)
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "camera.delete", "ok", record.name)
    await camera_admin.remove_camera(
        request.app[DB_KEY], record.name, entry, now_us, control.reconcile
    )
    raise _back(request, "cameras_page", done="deleted", name=record.name)


# -- counters --------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterItem:
    counter: CounterRecord
    api_cameras: list[tuple[str, bool]]  # (camera, covers this counter)
    config_cameras: list[str]  # config cameras covering it (read-only here)


async def _counters_context(request: web.Request) -> dict[str, Any]:
    async with request.app[DB_KEY].read() as s:
        counters = await counter_queries.list_counters(s)
        cameras = await camera_queries.list_cameras(s)
    api = [c for c in cameras if c.origin == "api"]
    config = [c for c in cameras if c.origin == "config"]
    items = [
        CounterItem(
            counter=c,
            api_cameras=[(cam.name, c.code in cam.counters) for cam in api],
            config_cameras=[cam.name for cam in config if c.code in cam.counters],
        )
        for c in counters
    ]
    query = request.query
    done = query.get("done", "")
    message = None
    if done in ("created", "updated", "deleted", "mapped"):
        message = _t(request, f"ctr.done_{done}", code=query.get("code", ""))
    return {"items": items, "message": message, "error": query.get("error")}


async def counters_page(request: web.Request) -> web.Response:
    """GET /counters: the counters, forms to change them, and their cameras."""
    return render(request, "counters.html", await _counters_context(request))


def _counter_fields(form: Mapping[str, Any]) -> tuple[str, str | None]:
    name = _str(form, "name", counter_queries.NAME_MAX)
    if not name:
        raise FormError("name is required")
    return name, _str(form, "site", counter_queries.NAME_MAX) or None


async def counter_create(request: web.Request) -> web.StreamResponse:
    """POST /counters: create a counter."""
    form = await request.post()
    code = _str(form, "code", counter_queries.COUNTER_CODE_MAX + 8)
    try:
        name, site = _counter_fields(form)
        entry = audit_entry(request, "counter.create", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.create_counter(request.app[DB_KEY], code, name, site, entry, now_us)
    except (FormError, Conflict, InvalidRecord) as exc:
        raise _back(request, "counters_page", error=str(exc)) from None
    raise _back(request, "counters_page", done="created", code=code)


async def counter_update(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/edit: change a counter's name and site."""
    code = request.match_info["code"]
    form = await request.post()
    try:
        name, site = _counter_fields(form)
        entry = audit_entry(request, "counter.update", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.update_counter(request.app[DB_KEY], code, name, site, entry, now_us)
    except (FormError, InvalidRecord, CounterNotFound) as exc:
        raise _back(request, "counters_page", error=str(exc)) from None
    raise _back(request, "counters_page", done="updated", code=code)


async def counter_delete(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/delete: delete a counter (refused while receipts refer to it)."""
    code = request.match_info["code"]
    try:
        entry = audit_entry(request, "counter.delete", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.delete_counter(
            request.app[DB_KEY], code, entry, now_us, reconciler(request.app)
        )
    except (Conflict, CounterNotFound) as exc:
        raise _back(request, "counters_page", error=str(exc)) from None
    raise _back(request, "counters_page", done="deleted", code=code)


async def counter_cameras(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/cameras: exactly the checked API cameras cover this counter."""
    code = request.match_info["code"]
    form = await request.post()
    cameras = [str(v) for v in form.getall("cameras", []) if isinstance(v, str)]
    entry = audit_entry(request, "camera.update", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        await counter_admin.set_counter_cameras(
            request.app[DB_KEY], code, cameras, entry, now_us, reconciler(request.app)
        )
    except (Conflict, InvalidRecord, CounterNotFound) as exc:
        raise _back(request, "counters_page", error=str(exc)) from None
    raise _back(request, "counters_page", done="mapped", code=code)
