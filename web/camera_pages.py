"""Admin pages: the dashboard (recording health, disk, alarms), cameras (list, discovery,
add by ONVIF or by stream URL, test connection, edit, enable/disable, delete) and counters
(create, edit, delete, which cameras cover them).

Forms are validated with the API's own wire models (web/wire/forms.py), and turned into
camera specs by the same code as the JSON API (web/wire/cameras.py); writes go through
surveil.camera_admin, so every change is audited in its own transaction and followed by a
reconcile. Changes answer with a redirect to the page and a message (post/redirect/get);
failures and probe results render the page directly, with the form filled in again — never
its password. A refusal is shown translated by its code (web.i18n); only English pages add
the English detail.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from cameras.credentials import CredentialError
from cameras.source import CameraError
from cameras.urls import escape_controls, redact_url
from index import cameras as camera_queries
from index import counters as counter_queries
from index import segments as segment_queries
from index.cameras import spec_of
from index.errors import Conflict, CounterNotFound, InvalidRecord
from index.records import CameraRecord, CounterRecord
from surveil import camera_admin
from surveil import counters as counter_admin
from surveil.access_log import probe_preview
from surveil.camera_setup import split_credentials
from surveil.status import STORAGE_ALARMS
from surveil.status import CameraStatus as LiveStatus
from web.access import audit, audit_access, audit_entry
from web.camera_specs import changed_spec, created_spec, probed
from web.cameras_api import control_of
from web.errors import status_of
from web.exports_pages import waiting
from web.i18n import CATALOG, error_text, form_error_text, request_lang, translate
from web.integrity_pages import integrity_status
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, LIFECYCLE_KEY, STATUS_KEY, reconciler
from web.pages import render
from web.storage_pages import size_text, storage_box, volume_alarm_texts
from web.wire.cameras import (
    CameraByOnvif,
    CameraByUrl,
    CameraPatch,
    CameraStatus,
    ProbeRequest,
    ProbeResult,
)
from web.wire.forms import FormInvalid, form_data, validate_form
from web.wire.receipts import CounterIn, CounterUpdate

DISK_ALARM_PCT = 90.0
REFRESH_SECONDS = 5
DISCOVER_TIMEOUT_S = 2.0
FIELD_MAX = 255
URL_MAX = 2000
ONVIF_FIELDS = ("host", "port", "username", "password", "profile")
URL_FIELDS = ("url", "username", "password")
# The label of each form field, for refusals ("'Port' is too large").
FIELD_LABELS = {
    "name": "cams.name",
    "host": "cams.host",
    "port": "cams.port",
    "username": "cams.username",
    "password": "cams.password",
    "profile": "cams.profile",
    "url": "cams.url",
    "counters": "cams.counters",
}
COUNTER_LABELS = {"code": "ctr.code", "name": "ctr.name", "site": "ctr.site"}
# Refusals the camera forms show again, with what was typed (a counter chosen on the page
# may have been deleted since); other errors (the camera itself not found, camera
# management unavailable) answer with the error page.
FORM_REFUSALS = (Conflict, InvalidRecord, CredentialError, CounterNotFound)


# -- view models -----------------------------------------------------------------------


@dataclass(frozen=True)
class Alarm:
    kind: str  # offline | clock | camera | disk | damaged | integrity
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
    """A refusal as the page shows it: its code, a translated headline, and on English
    pages the detail (scrubbed; never a password)."""

    code: str
    headline: str
    detail: str
    status: int


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


def _t(request: web.Request, key: str, **values: object) -> str:
    return translate(request_lang(request), key, **values)


def _back(request: web.Request, route: str, **params: str) -> web.HTTPSeeOther:
    target = str(request.app.router[route].url_for())
    if params:
        target += "?" + urlencode(params)
    return web.HTTPSeeOther(target)


def _label(request: web.Request, loc: str, labels: Mapping[str, str]) -> str:
    """The translated label of a refused field (onvif.port: the Port field)."""
    leaf = loc.rpartition(".")[2].partition("[")[0]
    key = labels.get(leaf)
    return _t(request, key) if key else leaf


def _refusal(request: web.Request, exc: Exception) -> Failure:
    """A failure of a camera form: a field the model refuses, a rule the index or the
    camera refuses (by its code: a camera's headline says what to check)."""
    lang = request_lang(request)
    if isinstance(exc, FormInvalid):
        status, code = exc.status, exc.code
        headline = form_error_text(lang, _label(request, exc.field, FIELD_LABELS), exc.kind)
        return Failure(code, headline, exc.message if lang == "en" else "", status)
    code = str(getattr(exc, "code", "internal_error"))
    status = status_of(type(exc)) or 500
    page_key = f"cams.fail.{code}"
    if page_key in CATALOG[lang]:
        headline = translate(lang, page_key)
    else:
        headline = error_text(lang, code, status)
    # The message is scrubbed already (camera_admin.scrubbed); redacting again guards a slip.
    return Failure(code, headline, redact_url(str(exc)) if lang == "en" else "", status)


def _counters_of(form: MultiDictProxy[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for v in form.getall("counters", []) if isinstance(v, str)))


# -- dashboard -------------------------------------------------------------------------


def _disk(data_dir: Path) -> Disk | None:
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError:
        return None
    return Disk(usage.total, usage.used, usage.free)


def dashboard_rows(
    records: list[CameraRecord], statuses: Mapping[str, LiveStatus], now_us: int
) -> list[CameraStatus]:
    """Per camera the API's status object, by name."""
    by_name = {r.name: r for r in records}
    names = sorted(by_name.keys() | statuses.keys())
    return [CameraStatus.of(n, by_name.get(n), statuses.get(n), now_us) for n in names]


def dashboard_alarms(
    request: web.Request,
    rows: list[CameraStatus],
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
        name, error = row.name, row.error
        if row.state == "offline" or (row.state == "connecting" and error):
            detail = error or _t(request, "dash.no_error")
            text = _t(request, "dash.alarm_offline", camera=name, detail=detail)
            alarms.append(Alarm("offline", name, text))
        offset = row.clock_offset_s
        for message in row.alarms:
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
    """GET /dashboard: recording health per camera, disk use (with the storage lifecycle:
    every volume, retention per camera, legal holds, the last pass), the integrity log,
    alarms; reloads itself."""
    async with request.app[DB_KEY].read() as s:
        records = await camera_queries.list_cameras(s)
        damaged = await segment_queries.count_in_state_by_camera(s, "damaged")
    statuses = {st.name: st for st in request.app[STATUS_KEY].camera_status()}
    now_us = request.app[CLOCK_KEY].now_us()
    rows = dashboard_rows(records, statuses, now_us)
    storage = await storage_box(request)  # None without the storage lifecycle
    disk = None
    if storage is None:
        disk = await asyncio.to_thread(_disk, request.app[DATA_DIR_KEY])
    # With the lifecycle, the volumes' own alarms stand for the data directory's.
    alarms = dashboard_alarms(request, rows, disk, damaged)
    if storage is not None:
        texts = volume_alarm_texts(request, request.app[LIFECYCLE_KEY], storage[1])
        alarms[:0] = [Alarm(f"disk {level}", None, text) for level, text in texts]
    integrity = await integrity_status(request)  # None without the integrity service
    exports = await waiting(request)  # None for who may neither review nor approve
    for text in integrity.alarms if integrity is not None else ():
        alarms.append(Alarm("integrity", None, _t(request, "dash.alarm_integrity", detail=text)))
    response = render(
        request,
        "dashboard.html",
        {
            "rows": rows,
            "disk": disk,
            "disk_alarm_pct": DISK_ALARM_PCT,
            "storage": None if storage is None else storage[0],
            "size": size_text,
            "alarms": alarms,
            "integrity": integrity,
            "exports": exports,
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
    *,
    failure: Failure | None = None,
    probe: ProbeResult | None = None,
) -> web.Response:
    context = await _cameras_context(request)
    context.update(form=_refill(form), failure=failure, probe=probe, message=None)
    context["lang_switch"] = _lang_switch(request, "cameras_page")
    status = 200 if failure is None else failure.status
    return render(request, "cameras.html", context, status=status)


async def cameras_page(request: web.Request) -> web.Response:
    """GET /cameras: the cameras, discovery, and the add forms (?host=&port= prefill)."""
    return render(request, "cameras.html", await _cameras_context(request))


async def camera_discover(request: web.Request) -> web.Response:
    """POST /cameras/discover: WS-Discovery on the configured address; shows who answered."""
    control = control_of(request)
    context = await _cameras_context(request)
    context["lang_switch"] = _lang_switch(request, "cameras_page")
    try:
        devices = await camera_admin.discover_devices(control.onvif, DISCOVER_TIMEOUT_S)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        detail = why if request_lang(request) == "en" else ""
        context["failure"] = Failure(
            "discovery_failed", _t(request, "cams.discover_failed"), detail, 502
        )
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
    return render(request, "cameras.html", context)


def _onvif_data(form: MultiDictProxy[Any]) -> dict[str, object]:
    """The ONVIF add form as CameraByOnvif's input."""
    data = form_data(form, ("name", "counters"), lists=("counters",))
    data["onvif"] = form_data(form, ONVIF_FIELDS)
    return data


async def camera_probe(request: web.Request) -> web.Response:
    """POST /cameras/probe: test an ONVIF device (or a stream URL) without saving; the
    "test connection" button of both add forms, always with a preview."""
    control = control_of(request)
    form = await request.post()
    fields = URL_FIELDS if form.get("url") else ONVIF_FIELDS
    try:
        probe = validate_form(ProbeRequest, {**form_data(form, fields), "snapshot": True})
        found = await probed(probe.root, control.onvif.timeout_seconds)
    except (FormInvalid, CameraError, InvalidRecord) as exc:
        return await _cameras_again(request, form, failure=_refusal(request, exc))
    if found.preview is not None:
        await audit_access(request, probe_preview(*found.preview))
    return await _cameras_again(request, form, probe=found.result)


async def camera_add_onvif(request: web.Request) -> web.StreamResponse:
    """POST /cameras/add-onvif: probe the device, then save it as an API camera."""
    control = control_of(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        camera = validate_form(CameraByOnvif, _onvif_data(form))
        timeout_s = control.onvif.timeout_seconds
        try:
            spec = await created_spec(camera, control.credentials, timeout_s, now_us)
        except CameraError as exc:
            await audit(request, "camera.create", "failed", camera.name, {"reason": exc.code})
            raise
        entry = audit_entry(request, "camera.create", "ok", camera.name)
        await camera_admin.save_new_camera(
            request.app[DB_KEY], spec, entry, now_us, control.reconcile
        )
    except (FormInvalid, CameraError, *FORM_REFUSALS) as exc:
        return await _cameras_again(request, form, failure=_refusal(request, exc))
    raise _back(request, "cameras_page", done="created", name=camera.name)


async def camera_add_url(request: web.Request) -> web.StreamResponse:
    """POST /cameras/add-url: save a camera by its RTSP URL (credentials kept apart)."""
    control = control_of(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        data = form_data(form, ("name", *URL_FIELDS, "counters"), lists=("counters",))
        camera = validate_form(CameraByUrl, data)
        timeout_s = control.onvif.timeout_seconds
        spec = await created_spec(camera, control.credentials, timeout_s, now_us)
        entry = audit_entry(request, "camera.create", "ok", camera.name)
        await camera_admin.save_new_camera(
            request.app[DB_KEY], spec, entry, now_us, control.reconcile
        )
    except (FormInvalid, *FORM_REFUSALS) as exc:
        return await _cameras_again(request, form, failure=_refusal(request, exc))
    raise _back(request, "cameras_page", done="created", name=camera.name)


async def _api_camera(request: web.Request) -> CameraRecord:
    """The API camera named in the path: CameraNotFound (404) if absent or deleted,
    ConfigManaged (409) if it comes from the config file."""
    async with request.app[DB_KEY].read() as s:
        return await camera_queries.get_api_camera(s, request.match_info["name"])


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


def _edit_data(record: CameraRecord, form: MultiDictProxy[Any]) -> dict[str, object]:
    """The edit form as CameraPatch's input. The form shows every setting, so a blank user
    name or profile clears it; a blank password (write-only) keeps the stored one, and a
    blank host or port the stored address."""
    data = form_data(form, ("counters",), lists=("counters",))
    data.setdefault("counters", [])
    data["enabled"] = "enabled" in form
    if record.onvif_host is not None:
        onvif = form_data(form, ONVIF_FIELDS)
        onvif.setdefault("username", None)
        onvif.setdefault("profile", None)
        data["onvif"] = onvif
    else:
        data.update(form_data(form, URL_FIELDS))
        data.setdefault("username", None)
    return data


async def camera_edit_submit(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/edit: save the edit form (re-probing an ONVIF camera whose
    address, credentials or profile changed)."""
    control = control_of(request)
    record = await _api_camera(request)
    form = await request.post()
    now_us = request.app[CLOCK_KEY].now_us()
    expect = str(form.get("updated_us", ""))
    try:
        patch = validate_form(CameraPatch, _edit_data(record, form))
        timeout_s = control.onvif.timeout_seconds
        spec = await changed_spec(record, patch, control.credentials, timeout_s, now_us)
        entry = audit_entry(request, "camera.update", "ok", record.name)
        await camera_admin.save_camera_change(
            request.app[DB_KEY],
            spec,
            entry,
            now_us,
            control.reconcile,
            expect_updated_us=int(expect) if expect.isdigit() else record.updated_us,
        )
    except (FormInvalid, CameraError, *FORM_REFUSALS) as exc:
        return await _edit_again(request, record, _refusal(request, exc))
    raise _back(request, "cameras_page", done="updated", name=record.name)


async def _edit_again(request: web.Request, record: CameraRecord, failure: Failure) -> web.Response:
    context = await _edit_context(request, record)
    context["failure"] = failure
    context["lang_switch"] = _lang_switch(request, "camera_edit_page", name=record.name)
    return render(request, "camera_edit.html", context, status=failure.status)


async def camera_enable(request: web.Request) -> web.StreamResponse:
    """POST /cameras/{name}/enable with enabled=1|0: start or stop recording it."""
    control = control_of(request)
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
    control = control_of(request)
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


def _counter_error(request: web.Request) -> str | None:
    """The refusal a counter form redirected with (?error=<code>, and for a refused field
    &field=&kind=), translated; the query never carries a message, only codes."""
    query = request.query
    code = query.get("error")
    if not code:
        return None
    lang = request_lang(request)
    field_name = query.get("field", "")
    if field_name in COUNTER_LABELS:
        label = _t(request, COUNTER_LABELS[field_name])
        return form_error_text(lang, label, query.get("kind", "invalid"))
    return error_text(lang, code, 400)


def _refused(request: web.Request, exc: Exception) -> web.HTTPSeeOther:
    """Back to the counters page with the refusal's code (and field, for a form field)."""
    if isinstance(exc, FormInvalid):
        leaf = exc.field.rpartition(".")[2]
        return _back(request, "counters_page", error=exc.code, field=leaf, kind=exc.kind)
    return _back(request, "counters_page", error=str(getattr(exc, "code", "internal_error")))


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
    return {"items": items, "message": message, "error": _counter_error(request)}


async def counters_page(request: web.Request) -> web.Response:
    """GET /counters: the counters, forms to change them, and their cameras."""
    return render(request, "counters.html", await _counters_context(request))


async def counter_create(request: web.Request) -> web.StreamResponse:
    """POST /counters: create a counter."""
    form = await request.post()
    try:
        counter = validate_form(CounterIn, form_data(form, ("code", "name", "site")))
        entry = audit_entry(request, "counter.create", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.create_counter(
            request.app[DB_KEY], counter.code, counter.name, counter.site, entry, now_us
        )
    except (FormInvalid, Conflict, InvalidRecord) as exc:
        raise _refused(request, exc) from None
    raise _back(request, "counters_page", done="created", code=counter.code)


async def counter_update(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/edit: change a counter's name and site (CounterNotFound: 404)."""
    code = request.match_info["code"]
    form = await request.post()
    try:
        counter = validate_form(CounterUpdate, form_data(form, ("name", "site")))
        entry = audit_entry(request, "counter.update", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.update_counter(
            request.app[DB_KEY], code, counter.name, counter.site, entry, now_us
        )
    except (FormInvalid, InvalidRecord) as exc:
        raise _refused(request, exc) from None
    raise _back(request, "counters_page", done="updated", code=code)


async def counter_delete(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/delete: delete a counter (refused while receipts refer to it;
    CounterNotFound: 404)."""
    code = request.match_info["code"]
    try:
        entry = audit_entry(request, "counter.delete", "ok")
        now_us = request.app[CLOCK_KEY].now_us()
        await counter_admin.delete_counter(
            request.app[DB_KEY], code, entry, now_us, reconciler(request.app)
        )
    except Conflict as exc:
        raise _refused(request, exc) from None
    raise _back(request, "counters_page", done="deleted", code=code)


async def counter_cameras(request: web.Request) -> web.StreamResponse:
    """POST /counters/{code}/cameras: exactly the checked API cameras cover this counter
    (CounterNotFound: 404)."""
    code = request.match_info["code"]
    form = await request.post()
    cameras = [str(v) for v in form.getall("cameras", []) if isinstance(v, str)]
    entry = audit_entry(request, "camera.update", "ok")
    now_us = request.app[CLOCK_KEY].now_us()
    try:
        await counter_admin.set_counter_cameras(
            request.app[DB_KEY], code, cameras, entry, now_us, reconciler(request.app)
        )
    except (Conflict, InvalidRecord) as exc:
        raise _refused(request, exc) from None
    raise _back(request, "counters_page", done="mapped", code=code)
