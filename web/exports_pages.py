"""The export pages: the list (/exports), the request form (/exports/new), the request page
(/exports/{id}) with its steps, the package download, and the "waiting for you" counts the
dashboard and the menu show.

Thin callers of surveil.exports, the one home of the policy: who may see a request, which
steps the viewer may take (ExportDetail.actions, drawn as the page's only buttons) and every
refusal come from there. A step is a POST that answers with a redirect back to the request
(post/redirect/get) carrying a code, never text; a refused step renders the request page
again with the reason, in the page's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from index import counters as counter_queries
from index.errors import CameraNotFound, CounterNotFound, InvalidRecord, ReceiptNotFound
from index.records import EXPORT_KINDS, EXPORT_STATES, ExportParty, ExportRecord
from surveil import exports as service
from surveil.exports import (
    LIST_VIEWS,
    ExportDetail,
    ExportForbidden,
    ExportRequestIn,
    ExportStateConflict,
    PackageMissing,
)
from surveil.lookup import receipt_footage
from web.access import ROUTE_ROLES, principal, require_counter
from web.exports_access import actor
from web.exports_api import viewing_cameras
from web.i18n import error_text, export_refusal_text, request_lang, translate
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, EXPORTS_KEY, RECEIPTS_KEY
from web.pages import LOCAL_INPUT_FORMAT, NAV_COUNTS_KEY, local_time, local_us, render
from web.storage_pages import size_text

# The steps a page form may post (/exports/{id}/{step}); view and download are GETs.
STEPS: Final = ("review", "return", "approve", "reject", "withdraw", "resubmit", "deliver")
# What a redirect may say was done (?done=...).
DONE: Final = frozenset({"submitted", *STEPS, "view"})
# The form's fields, in the order the page shows them.
FORM_FIELDS: Final = (
    "kind",
    "party_name",
    "party_id_type",
    "party_id_number",
    "party_relation",
    "purpose",
    "legal_basis",
    "case_no",
)
# The service names a field in its refusals ("the party name is required"): the label of
# each, so the page names it in its own language.
SERVICE_FIELDS: Final = {
    "party name": "exp.party_name",
    "party ID type": "exp.party_id_type",
    "party ID number": "exp.party_id_number",
    "party relation": "exp.party_relation",
    "case number": "exp.case_no",
    "purpose": "exp.purpose",
    "legal basis": "exp.legal_basis",
    "reason": "exp.reason",
    "recipient": "exp.recipient",
    "method": "exp.method",
}
_FIELD_RE: Final = re.compile(
    r"^the (" + "|".join(re.escape(k) for k in SERVICE_FIELDS) + r") (is required|is longer)"
)
# Seconds between reloads of a request whose package is being built.
REFRESH_S: Final = 3
REFUSALS: Final = (ExportForbidden, ExportStateConflict, InvalidRecord, PackageMissing)


def _now(request: web.Request) -> int:
    return request.app[CLOCK_KEY].now_us()


def _settings(request: web.Request) -> service.ExportSettings:
    return request.app[EXPORTS_KEY].settings


def may_file(request: web.Request) -> bool:
    """Whether the caller's role reaches the form (the route policy, never a second list)."""
    return principal(request).role in ROUTE_ROLES["export_new_page"]


def refusal(request: web.Request, exc: Exception) -> tuple[str, int]:
    """A refused step or form for people, and its HTTP status: a field the service names by
    its label; the service's reason (a sentence) translated where the catalog knows it."""
    lang = request_lang(request)
    message = str(exc)
    status = 422 if isinstance(exc, InvalidRecord) else 409
    if isinstance(exc, ExportForbidden):
        status = 403
    found = _FIELD_RE.match(message)
    if found is not None:
        label = translate(lang, SERVICE_FIELDS[found.group(1)])
        kind = "missing" if found.group(2) == "is required" else "string_too_long"
        key = f"form.err.{kind}"
        text = translate(lang, key, field=label)
        return (f"{text} ({message})" if lang == "en" else text), status
    code = str(getattr(exc, "code", "invalid_value"))
    if isinstance(exc, ExportForbidden):
        text = export_refusal_text(lang, code, status, message, exc.reason, exc.values)
        return text, status
    return export_refusal_text(lang, code, status, message), status


# -- what waits for the caller: the dashboard's box and the menu's count ----------------------


@dataclass(frozen=True)
class Waiting:
    """Requests waiting for the caller's review or approval, with the list's links."""

    to_review: int
    to_approve: int
    may_review: bool
    may_approve: bool

    @property
    def total(self) -> int:
        return self.to_review + self.to_approve


async def waiting(request: web.Request) -> Waiting | None:
    """The caller's pending work (surveil.exports.pending_work), and the menu's count; None
    for a caller who may neither review nor approve."""
    who = actor(request)
    may_review = service.REVIEW in who.permissions
    may_approve = service.APPROVE in who.permissions
    if not (may_review or may_approve) or who.kind != "user":
        return None
    work = await service.pending_work(request.app[DB_KEY], who, _settings(request))
    found = Waiting(work["to_review"], work["to_approve"], may_review, may_approve)
    request[NAV_COUNTS_KEY] = {"exports_page": found.total}
    return found


# -- the list ----------------------------------------------------------------------------------


def _list_url(request: web.Request, **params: str) -> str:
    url = str(request.app.router["exports_page"].url_for())
    kept = {k: v for k, v in params.items() if v}
    return url + ("?" + urlencode(kept) if kept else "")


async def exports_page(request: web.Request) -> web.Response:
    """GET /exports?view=all|mine|to_review|to_approve&state=...: the requests the caller may
    see, newest first, with what waits for them."""
    lang = request_lang(request)
    view = request.query.get("view", "all")
    state = request.query.get("state", "")
    before = request.query.get("before", "")
    error = None
    status = 200
    rows: list[ExportRecord] = []
    try:
        if view not in LIST_VIEWS:
            raise InvalidRecord(f"view must be one of {', '.join(LIST_VIEWS)}")
        if state and state not in EXPORT_STATES:
            raise InvalidRecord(f"state must be one of {', '.join(EXPORT_STATES)}")
        if before and not before.isdigit():
            raise InvalidRecord("before must be a request id")
        rows = await service.list_exports(
            request.app[DB_KEY],
            actor(request),
            view=view,
            states=(state,) if state else (),
            before_id=int(before) if before else None,
            limit=50,
            settings=_settings(request),
        )
    except InvalidRecord as exc:
        error = error_text(lang, exc.code, 422, str(exc))
        status = 422
        view, state = "all", ""
    work = await waiting(request)
    router = request.app.router["export_page"]
    context: dict[str, Any] = {
        "rows": [(r, str(router.url_for(id=str(r.id)))) for r in rows],
        "view": view,
        "state": state,
        "views": [(v, _list_url(request, view=v, state=state)) for v in LIST_VIEWS],
        "states": EXPORT_STATES,
        "work": work,
        "may_file": may_file(request),
        "error": error,
        "older": (
            _list_url(request, view=view, state=state, before=str(rows[-1].id))
            if len(rows) == 50
            else None
        ),
    }
    return render(request, "exports.html", context, status=status)


# -- the form ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What a request will cover, as the form shows it before it is filed."""

    counter: str
    receipt_no: str | None
    start_us: int
    end_us: int
    cameras: tuple[str, ...]


def _draft(form: MultiDictProxy[Any] | None) -> dict[str, str]:
    out = {name: "" for name in FORM_FIELDS}
    out["kind"] = "copy"
    if form is not None:
        for name in FORM_FIELDS:
            value = form.get(name)
            if isinstance(value, str):
                out[name] = value.strip()
    return out


def _window_params(source: Any) -> dict[str, str]:
    """receipt, or counter/start/end, from the query or the form (one-line, stripped)."""
    out = {}
    for name in ("receipt", "counter", "start", "end"):
        value = source.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()[:64]
    return out


async def _coverage(request: web.Request, params: dict[str, str]) -> Coverage:
    """The counter, window and cameras the request will cover; ReceiptNotFound,
    CounterNotFound, InvalidRecord (no window given, or a time that is not one), or
    Forbidden (a counter out of the caller's scope)."""
    db = request.app[DB_KEY]
    if "receipt" in params:
        return await _receipt_coverage(request, params["receipt"], _now(request))
    if "counter" not in params or "start" not in params or "end" not in params:
        raise InvalidRecord("give a receipt number, or a counter with start and end")
    try:
        start = local_us(request, params["start"], "start")
        end = local_us(request, params["end"], "end")
    except ValueError as exc:
        raise InvalidRecord(str(exc)) from None
    if end <= start:
        raise InvalidRecord("the window must end after it starts")
    require_counter(request, params["counter"])
    async with db.read() as s:
        counter = await counter_queries.get_counter(s, params["counter"])
        cams = await counter_queries.cameras_for_counter(s, counter.id)
    return Coverage(counter.code, None, start, end, tuple(name for _, name in cams))


async def _receipt_coverage(request: web.Request, receipt_no: str, now_us: int) -> Coverage:
    """A receipt's counter, cameras and window (its holds with the pre/post roll, up to now:
    what the service will request)."""
    found = await receipt_footage(
        request.app[DB_KEY], receipt_no, now_us, request.app[RECEIPTS_KEY]
    )
    require_counter(request, found.receipt.counter)
    cams = found.cameras
    if not cams:
        raise InvalidRecord(
            f"receipt {found.receipt.receipt_no!r} holds no footage: its counter "
            "had no camera when it was accepted"
        )
    start = min(c.coverage.window_start_us for c in cams)
    end = max(c.coverage.window_end_us for c in cams)
    return Coverage(
        found.receipt.counter,
        found.receipt.receipt_no,
        start,
        end,
        tuple(sorted({c.camera for c in cams})),
    )


async def _form(
    request: web.Request,
    params: dict[str, str],
    draft: dict[str, str],
    *,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    lang = request_lang(request)
    cover = None
    try:
        cover = await _coverage(request, params)
    except (ReceiptNotFound, CounterNotFound, InvalidRecord) as exc:
        if error is None:
            error, status = refusal(request, exc)
            if isinstance(exc, ReceiptNotFound | CounterNotFound):
                error, status = error_text(lang, exc.code, 404, str(exc)), 404
    context = {
        "params": params,
        "cover": cover,
        "draft": draft,
        "kinds": EXPORT_KINDS,
        "error": error,
        "max_hours": f"{_settings(request).max_window_us / service.HOUR_US:g}",
    }
    return render(request, "export_new.html", context, status=status)


async def export_new_page(request: web.Request) -> web.Response:
    """GET /exports/new?receipt=NO  or  ?counter=A01&start=...&end=... (local times): the
    request form, showing the window and cameras it will cover."""
    return await _form(request, _window_params(request.query), _draft(None))


def _request_in(
    request: web.Request, params: dict[str, str], draft: dict[str, str]
) -> ExportRequestIn:
    party = ExportParty(
        name=draft["party_name"],
        id_type=draft["party_id_type"],
        id_number=draft["party_id_number"],
        relation=draft["party_relation"],
    )
    common: dict[str, Any] = {
        "kind": draft["kind"],
        "party": party,
        "purpose": draft["purpose"],
        "legal_basis": draft["legal_basis"],
        "case_no": draft["case_no"] or None,
    }
    if "receipt" in params:
        return ExportRequestIn(receipt_no=params["receipt"], **common)
    try:
        start = local_us(request, params.get("start", ""), "start")
        end = local_us(request, params.get("end", ""), "end")
    except ValueError as exc:
        raise InvalidRecord(str(exc)) from None
    return ExportRequestIn(counter=params.get("counter"), start_us=start, end_us=end, **common)


async def export_create(request: web.Request) -> web.StreamResponse:
    """POST /exports/new: file the request (surveil.exports.create_export), then to its page;
    a refusal renders the form again with the entries and the reason."""
    form = await request.post()
    params = _window_params(form)
    draft = _draft(form)
    try:
        detail = await service.create_export(
            request.app[DB_KEY],
            _request_in(request, params, draft),
            actor(request),
            _settings(request),
            _now(request),
        )
    except (*REFUSALS, CameraNotFound) as exc:
        error, status = refusal(request, exc)
        return await _form(request, params, draft, error=error, status=status)
    except (ReceiptNotFound, CounterNotFound) as exc:
        lang = request_lang(request)
        text = error_text(lang, exc.code, 404, str(exc))
        return await _form(request, params, draft, error=text, status=404)
    raise _to_request(request, detail.request.id, done="submitted")


# -- the request page ---------------------------------------------------------------------------


def _to_request(request: web.Request, request_id: int, **params: str) -> web.HTTPSeeOther:
    url = str(request.app.router["export_page"].url_for(id=str(request_id)))
    return web.HTTPSeeOther(url + ("?" + urlencode(params) if params else ""))


def _request_id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the route only matches digits


async def _request_view(
    request: web.Request,
    detail: ExportDetail | None = None,
    *,
    error: str | None = None,
    status: int = 200,
    playing: bool = False,
) -> web.Response:
    rid = _request_id(request)
    if detail is None:
        detail = await service.get_export(
            request.app[DB_KEY], rid, actor(request), _settings(request), _now(request)
        )
    r = detail.request
    lang = request_lang(request)
    router = request.app.router
    progress = request.app[EXPORTS_KEY].progress(r.id)
    done = request.query.get("done", "")
    building = r.kind == "copy" and r.state == "approved" and r.package_state != "failed"
    context: dict[str, Any] = {
        "r": r,
        "steps": detail.steps,
        "holds": detail.holds,
        "actions": detail.actions,
        "reviewer": detail.step_actor("review"),
        "approver": detail.step_actor("approve"),
        "message": translate(lang, f"exp.done_{done}") if done in DONE else None,
        "error": error,
        "progress": None if progress is None else round(progress * 100),
        "building": building,
        "packager_on": request.app[EXPORTS_KEY].enabled,
        "refresh": REFRESH_S if building else None,
        "step_url": lambda step: str(router["export_step"].url_for(id=str(r.id), step=step)),
        "download_url": str(router["export_download"].url_for(id=str(r.id))),
        "viewing": await viewing_cameras(request, detail) if playing else [],
        "playing": playing,
        "size": lambda n: "" if n is None else size_text(n),
        "now_us": _now(request),
    }
    await waiting(request)
    response = render(request, "export.html", context, status=status)
    if building:
        # Reload without script (the CSP forbids inline script) until the package is ready.
        response.headers["Refresh"] = str(REFRESH_S)
    return response


async def export_page(request: web.Request) -> web.Response:
    """GET /exports/{id}: the request, its timeline and custody chain, its holds, the
    package's progress, and only the steps the viewer may take."""
    return await _request_view(request)


async def export_step(request: web.Request) -> web.StreamResponse:
    """POST /exports/{id}/{step}: one step of the workflow (review, return, approve, reject,
    withdraw, resubmit, deliver), then back to the request; or view, which answers with the
    page and its player."""
    step = request.match_info["step"]
    if step == "view":
        return await _open_viewing(request)
    if step not in STEPS:
        raise web.HTTPNotFound()
    rid = _request_id(request)
    form = await request.post()

    def field(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    db, who, settings, now = request.app[DB_KEY], actor(request), _settings(request), _now(request)
    reason = field("reason") or None
    try:
        if step in ("review", "return"):
            decision = "pass" if step == "review" else "return"
            await service.review_export(db, rid, decision, reason, who, settings, now)
        elif step == "approve":
            await service.approve_export(db, rid, reason, who, settings, now)
            request.app[EXPORTS_KEY].wake()
        elif step == "reject":
            await service.reject_export(db, rid, reason, who, settings, now)
        elif step == "withdraw":
            await service.withdraw_export(db, rid, reason, who, settings, now)
        elif step == "resubmit":
            await service.resubmit_export(db, rid, reason, who, settings, now)
        else:
            await service.deliver_export(
                db, rid, field("recipient"), field("method"), reason, who, settings, now
            )
    except REFUSALS as exc:
        error, status = refusal(request, exc)
        return await _request_view(request, error=error, status=status)
    raise _to_request(request, rid, done=step)


async def _open_viewing(request: web.Request) -> web.Response:
    """POST /exports/{id}/view: the requester opens an approved viewing (audited as
    export.view); the page then plays exactly the request's footage."""
    rid = _request_id(request)
    try:
        detail = await service.open_viewing(
            request.app[DB_KEY], rid, actor(request), _settings(request), _now(request)
        )
    except REFUSALS as exc:
        error, status = refusal(request, exc)
        return await _request_view(request, error=error, status=status)
    return await _request_view(request, detail, playing=True)


async def export_download(request: web.Request) -> web.StreamResponse:
    """GET /exports/{id}/package.zip: the package, streamed from disk; each download is
    audited (export.download) before a byte is sent."""
    rid = _request_id(request)
    try:
        detail, path = await service.open_download(
            request.app[DB_KEY],
            request.app[DATA_DIR_KEY],
            rid,
            actor(request),
            _settings(request),
            _now(request),
        )
    except REFUSALS as exc:
        error, status = refusal(request, exc)
        return await _request_view(request, error=error, status=status)
    name = f"export-{detail.request.id}.zip"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def export_link(request: web.Request, **params: str) -> str | None:
    """The form's address prefilled with params ("Request export" on the lookup page), or
    None when the caller's role may not file or the pages are not mounted."""
    names = request.app.router.named_resources()
    if "export_new_page" not in names or not may_file(request):
        return None
    return str(names["export_new_page"].url_for()) + "?" + urlencode(params)


def local_input(request: web.Request, us: int) -> str:
    """A time as the form's datetime-local fields carry it (the [web] timezone)."""
    return local_time(request, us, LOCAL_INPUT_FORMAT)
