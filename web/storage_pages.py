"""The storage page (/storage: retention rules, legal holds, recent passes, the plan and a
manual pass) and the dashboard's storage box and volume alarms.

Thin, as the JSON API (web/storage_api.py) is: both call surveil.retention, surveil.holds
and surveil.lifecycle, and the forms are validated with the API's wire models
(web/wire/forms.py), so a page refuses what the API refuses. Changes are admin work
(ROUTE_ROLES), the page itself is for oversight: an auditor sees it without its forms.
Each change answers with a redirect back (post/redirect/get) carrying a code, never a
message: the page says it in its own language. Without the lifecycle in this process the
page says storage is not available; the forms answer 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from index import cameras as camera_queries
from index import counters as counter_queries
from index import holds as hold_queries
from index import retention as retention_queries
from index.errors import CameraNotFound, Conflict, CounterNotFound, InvalidRecord, RecordNotFound
from index.records import CameraRecord, CounterRecord, HoldRecord, RetentionPassRecord
from surveil import holds
from surveil.lifecycle import CameraFootage, Lifecycle, LifecycleStatus
from surveil.retention import RetentionPlan
from surveil.space import VolumeAlarm
from surveil.timefmt import iso_from_us
from surveil.transfer import TransferStatus
from surveil.volumes import VolumeUsage
from web.access import ROUTE_ROLES, audit, audit_entry, principal
from web.i18n import error_text, form_error_text, request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY, LIFECYCLE_KEY
from web.pages import local_us, render
from web.storage_api import lifecycle_of, remove_rule, set_rule
from web.wire.base import RULE_ERROR
from web.wire.forms import FormInvalid, form_data, validate_form
from web.wire.storage import HoldPath, HoldsIn, ReleaseIn, RuleForm, RuleRef, volume_level

HOLD_ROWS = 200
PASS_ROWS = 10
PLAN_ROWS = 20
# Levels whose meter is drawn as an alarm.
ALARM_LEVELS = frozenset({"critical", "full", "error"})
# The label of each form field, for refusals (web.i18n.form_error_text).
LABELS = {
    "scope": "storage.scope",
    "ref": "storage.ref",
    "retain_days": "storage.retain_days",
    "cameras": "storage.cameras",
    "start": "storage.from",
    "end": "storage.to",
    "reason": "storage.reason",
    "id": "storage.hold",
}
# What a redirect may say was done (?done=...), with the number it may carry.
DONE = frozenset({"rule_set", "rule_removed", "hold_placed", "hold_released", "pass"})
# A refusal of the hold form that spans fields (end not after start), by its own code.
HOLD_ORDER = "hold_order"


def size_text(n: int) -> str:
    """Bytes in decimal units for people (1.2 GB, 340.0 MB)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# -- the dashboard's box ---------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeView:
    """One volume as the dashboard draws it."""

    name: str
    level: str  # surveil.volumes.LEVELS
    used_pct: float
    used: str
    total: str
    free: str
    quota: str | None
    error: str | None

    @property
    def alarming(self) -> bool:
        return self.level in ALARM_LEVELS


@dataclass(frozen=True)
class FootageView:
    """One camera's retention: its oldest footage, and days kept against its rule."""

    camera: str
    oldest_us: int | None
    days_kept: str | None  # "42.3"
    retain_days: int
    rule: str
    size: str


@dataclass(frozen=True)
class TransferView:
    """Central storage as the dashboard shows it: how far behind, how much waits."""

    target: str
    level: str  # ok, warn, error
    lag_hours: str | None  # "3.2"; None when nothing waits
    waiting: int
    waiting_size: str
    confirmed: int
    confirmed_size: str
    object_lock: bool


def _transfer_view(t: TransferStatus) -> TransferView:
    return TransferView(
        target=t.target,
        level=t.level,
        lag_hours=None if t.lag_s is None else f"{t.lag_s / 3600:.1f}",
        waiting=t.backlog_segments,
        waiting_size=size_text(t.backlog_bytes),
        confirmed=t.confirmed_segments,
        confirmed_size=size_text(t.confirmed_bytes),
        object_lock=t.object_lock,
    )


@dataclass(frozen=True)
class StorageBox:
    volumes: list[VolumeView]
    footage: list[FootageView]
    legal_holds: int
    last_pass: RetentionPassRecord | None
    deleted_segments: int
    deleted: str  # size text
    measured: bool  # the space monitor has read the volumes
    transfer: TransferView | None = None  # None without [transfer] (or while it cannot run)
    transfer_configured: bool = False


def _volume_view(u: VolumeUsage, quota: int | None, alarms: list[VolumeAlarm]) -> VolumeView:
    return VolumeView(
        name=u.name,
        level=volume_level(u, alarms),
        used_pct=round(u.used_percent, 1),
        used=size_text(u.used_bytes),
        total=size_text(u.total_bytes),
        free=size_text(u.free_bytes),
        quota=None if quota is None else size_text(quota),
        error=u.error,
    )


def _footage_view(f: CameraFootage, now_us: int) -> FootageView:
    kept = f.days_kept(now_us)
    return FootageView(
        camera=f.camera,
        oldest_us=f.oldest_us,
        days_kept=None if kept is None else f"{kept:.1f}",
        retain_days=f.retain_days,
        rule=f.rule,
        size=size_text(f.bytes),
    )


async def storage_box(request: web.Request) -> tuple[StorageBox, LifecycleStatus] | None:
    """The dashboard's storage box and the status it shows; None without the lifecycle."""
    lifecycle = request.app.get(LIFECYCLE_KEY)
    if lifecycle is None:
        return None
    status = await lifecycle.status()
    last = status.last_pass
    if last is None:  # a pass of an earlier process
        async with request.app[DB_KEY].read() as s:
            found = await retention_queries.latest_passes(s, 1)
        last = found[0] if found else None
    box = StorageBox(
        volumes=[_volume_view(u, status.quotas.get(u.name), status.alarms) for u in status.volumes],
        footage=[_footage_view(f, status.now_us) for f in status.footage],
        legal_holds=status.legal_holds,
        last_pass=last,
        deleted_segments=status.deleted_segments,
        deleted=size_text(status.deleted_bytes),
        measured=bool(status.volumes),
        transfer=None if status.transfer is None else _transfer_view(status.transfer),
        transfer_configured=status.transfer is not None or status.transfer_error is not None,
    )
    return box, status


def volume_alarm_texts(
    request: web.Request, lifecycle: Lifecycle, status: LifecycleStatus
) -> list[tuple[str, str]]:
    """(level, text) of each volume alarm and of a failed retention pass, in the page's
    language (surveil.space words them in English for logs and the API)."""
    lang = request_lang(request)
    cfg = lifecycle.volumes.cfg
    usage = {u.name: u for u in status.volumes}
    out: list[tuple[str, str]] = []
    for a in status.alarms:
        u = usage.get(a.volume)
        values: dict[str, object] = {
            "volume": a.volume,
            "pct": "?" if u is None else f"{u.used_percent:.0f}",
            "free": "?" if u is None else str(u.free_bytes // 1_000_000),
            "detail": "" if u is None else (u.error or ""),
        }
        if a.level == "critical":
            values["mark"] = f"{cfg.critical_percent:g}"
        elif a.level == "warn":
            values["mark"] = f"{cfg.warn_percent:g}"
        out.append((a.level, translate(lang, f"storage.alarm_{a.level}", **values)))
    if status.retention_error is not None:
        text = translate(lang, "storage.alarm_retention", detail=status.retention_error)
        out.append(("retention", text))
    if status.transfer_error is not None:
        text = translate(lang, "storage.alarm_transfer_off", detail=status.transfer_error)
        out.append(("transfer", text))
    t = status.transfer
    if t is not None:
        if t.alarm is not None:
            out.append(
                ("transfer", translate(lang, "storage.alarm_transfer", detail=t.alarm.message))
            )
        if t.level in ("warn", "error") and t.lag_s is not None:
            key = (
                "storage.alarm_transfer_late"
                if t.level == "error"
                else "storage.alarm_transfer_lag"
            )
            lag = f"{t.lag_s / 3600:.1f}"
            out.append(("transfer", translate(lang, key, hours=lag, warn=f"{t.warn_hours:g}")))
    return out


# -- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldView:
    hold: HoldRecord
    active: bool
    release_action: str


def _back(request: web.Request, **params: str) -> web.HTTPSeeOther:
    url = str(request.app.router["storage_page"].url_for())
    return web.HTTPSeeOther(url + ("?" + urlencode(params) if params else ""))


def _refused(request: web.Request, exc: Exception, what: str) -> web.HTTPSeeOther:
    """Back to the page with the refusal as codes: the field and the kind of failure for a
    form field, else the error's stable code."""
    if isinstance(exc, FormInvalid):
        if exc.kind == RULE_ERROR and exc.field == "form" and what == "hold":
            return _back(request, error=HOLD_ORDER, form=what)
        return _back(request, error=exc.kind, field=exc.field, form=what)
    return _back(request, error=str(getattr(exc, "code", "internal_error")), form=what)


def _message(request: web.Request) -> str | None:
    """What a redirect says was done: a code and at most a number, so a link cannot put
    text on the page."""
    query = request.query
    done, n = query.get("done", ""), query.get("n", "")
    if done not in DONE:
        return None
    return translate(request_lang(request), f"storage.done_{done}", n=n if n.isdigit() else "")


def _error(request: web.Request) -> tuple[str, str] | None:
    """(form, text) of the refusal a redirect carries (?error=<code>[&field=...])."""
    query = request.query
    code = query.get("error")
    if not code:
        return None
    lang = request_lang(request)
    form = query.get("form", "")
    field = (query.get("field") or "").partition(".")[0]  # cameras.0: the cameras field
    if code == HOLD_ORDER:
        text = translate(lang, "storage.err_hold_order")
    elif field in LABELS:
        text = form_error_text(lang, translate(lang, LABELS[field]), code)
    else:
        text = error_text(lang, code, 400)
    return (form if form in ("rule", "hold", "release", "pass") else "", text)


async def storage_page(request: web.Request) -> web.Response:
    """GET /storage: retention rules (set, remove), legal holds (place, release), recent
    passes, what a pass would delete now, and a manual pass."""
    lifecycle = request.app.get(LIFECYCLE_KEY)
    now = request.app[CLOCK_KEY].now_us()
    context: dict[str, Any] = {
        "available": lifecycle is not None,
        # The forms only for whom the routes let through (the policy, never a second list).
        "may_change": principal(request).role in ROUTE_ROLES["storage_rule_set"],
        "message": _message(request),
        "error": _error(request),
        "now_us": now,
        "size": size_text,
    }
    if lifecycle is None:
        return render(request, "storage.html", context)
    async with request.app[DB_KEY].read() as s:
        rules = await retention_queries.list_rules(s)
        legal = await hold_queries.list_holds(s, kinds=("legal",), limit=HOLD_ROWS)
        passes = await retention_queries.latest_passes(s, PASS_ROWS)
        counters: list[CounterRecord] = await counter_queries.list_counters(s)
        cameras: list[CameraRecord] = await camera_queries.list_cameras(s)
    plan: RetentionPlan = await lifecycle.retention.plan(limit=PLAN_ROWS)
    router = request.app.router
    views = [
        HoldView(h, h.active(now), str(router["storage_hold_release"].url_for(id=str(h.id))))
        for h in legal
    ]
    cfg = lifecycle.retention.cfg
    context.update(
        rules=rules,
        default_days=cfg.retain_days,
        archive_days=cfg.archive_retain_days,
        policies=await lifecycle.retention.policies(),
        active_holds=[v for v in views if v.active],
        ended_holds=[v for v in views if not v.active],
        passes=passes,
        plan=plan,
        counters=counters,
        cameras=[c for c in cameras if c.deleted_us is None],
        require_central=lifecycle.retention.require_central,
    )
    return render(request, "storage.html", context)


async def storage_rule_set(request: web.Request) -> web.StreamResponse:
    """POST /storage/rules (admin): set the rule of the installation, a counter or a
    camera; audited as retention.rule_set, as over the API."""
    form = await request.post()
    try:
        rule = validate_form(RuleForm, form_data(form, ("scope", "ref", "retain_days")))
        await set_rule(request, rule.scope, rule.ref or "", rule.retain_days)
    except (FormInvalid, InvalidRecord, CounterNotFound, CameraNotFound) as exc:
        raise _refused(request, exc, "rule") from None
    raise _back(request, done="rule_set")


async def storage_rule_remove(request: web.Request) -> web.StreamResponse:
    """POST /storage/rules/remove (admin): remove a rule; the next wider one applies."""
    form = await request.post()
    try:
        ref = validate_form(RuleRef, form_data(form, ("scope", "ref")))
        await remove_rule(request, ref.scope, ref.ref or "")
    except (FormInvalid, RecordNotFound) as exc:
        raise _refused(request, exc, "rule") from None
    raise _back(request, done="rule_removed")


def _hold_form(request: web.Request, form: Any) -> HoldsIn:
    """The place form as the API's HoldsIn: local times (the [web] timezone) converted to
    RFC 3339 first, so the model's rules are the API's."""
    data = form_data(form, ("cameras", "start", "end", "reason"), lists=("cameras",))
    for field in ("start", "end"):
        text = data.get(field)
        if isinstance(text, str):
            try:
                data[field] = iso_from_us(local_us(request, text, field))
            except ValueError as exc:
                raise FormInvalid(field, "datetime_parsing", str(exc)) from None
    return validate_form(HoldsIn, data)


async def storage_hold_place(request: web.Request) -> web.StreamResponse:
    """POST /storage/holds (admin): a legal hold on the chosen cameras; audited as
    hold.place, one entry per camera."""
    lifecycle_of(request)
    form = await request.post()
    try:
        body = _hold_form(request, form)
        placed = await holds.place_legal_hold(
            request.app[DB_KEY],
            body.cameras,
            body.start,
            body.end,
            body.reason,
            audit_entry(request, "hold.place", "ok"),
            request.app[CLOCK_KEY].now_us(),
        )
    except (FormInvalid, InvalidRecord, CameraNotFound) as exc:
        raise _refused(request, exc, "hold") from None
    raise _back(request, done="hold_placed", n=str(len(placed)))


async def storage_hold_release(request: web.Request) -> web.StreamResponse:
    """POST /storage/holds/{id}/release (admin): release a legal hold with a reason;
    audited as hold.release."""
    lifecycle_of(request)
    form = await request.post()
    try:
        path = validate_form(HoldPath, {"id": request.match_info["id"]})
        body = validate_form(ReleaseIn, form_data(form, ("reason",)))
        record = await holds.release_legal_hold(
            request.app[DB_KEY],
            path.id,
            body.reason,
            audit_entry(request, "hold.release", "ok"),
            request.app[CLOCK_KEY].now_us(),
        )
    except (FormInvalid, InvalidRecord, RecordNotFound, Conflict) as exc:
        raise _refused(request, exc, "release") from None
    raise _back(request, done="hold_released", n=str(record.id))


async def storage_pass_run(request: web.Request) -> web.StreamResponse:
    """POST /storage/passes (admin): a retention pass now (trigger manual); audited as
    retention.run, and the pass as retention.pass."""
    lifecycle = lifecycle_of(request)
    await audit(request, "retention.run", "ok")
    try:
        record = await lifecycle.retention.run_pass("manual")
    except Exception as exc:  # recorded in the pass, the audit log and the alarms
        raise _refused(request, exc, "pass") from None
    raise _back(request, done="pass", n=str(record.id))
