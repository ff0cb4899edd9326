"""The lookup page (find footage by receipt number, or by counter and time) and the desk.

Handlers only parse, call surveil.lookup / surveil.desk, and shape view models; the
timeline is computed here as percentages so the page needs no script to draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from index import receipts as receipt_queries
from index.errors import Conflict, CounterNotFound, InvalidRecord, ReceiptNotFound, RecordNotFound
from index.records import HoldRecord, ReceiptRecord
from surveil.access_log import counter_lookup, receipt_lookup
from surveil.coverage import Coverage
from surveil.desk import scan_receipt
from surveil.lookup import (
    CameraLookup,
    counter_footage,
    playable_stretches,
    receipt_footage,
    still_writing,
)
from surveil.retention import DAY_US
from surveil.timefmt import iso_from_us
from web.access import audit_access, audit_entry, require_counter, visible_counters
from web.errors import BadRequest
from web.exports_pages import export_link, local_input, waiting
from web.i18n import error_text, form_error_text, reason_text, request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY, LIFECYCLE_KEY, RECEIPTS_KEY
from web.pages import LOCAL_INPUT_FORMAT, local_time, local_us, render
from web.wire.base import RULE_ERROR
from web.wire.footage import LookupQuery
from web.wire.forms import FormInvalid, form_data, validate_form
from web.wire.receipts import DeskScan, ReceiptPath

HEVC_CODECS = frozenset({"hevc", "h265"})


@dataclass(frozen=True)
class Span:
    """A piece of the timeline bar, in percent of the window."""

    kind: str  # recorded | gap | receipt
    left_pct: float
    width_pct: float
    title: str


@dataclass(frozen=True)
class ClipView:
    url: str
    start_us: int
    end_us: int
    hevc: bool


@dataclass(frozen=True)
class CameraView:
    camera: str
    coverage: Coverage
    spans: list[Span]
    clips: list[ClipView]
    pending: bool  # the window's last second or so is still being written


@dataclass(frozen=True)
class ReceiptHold:
    """One of the receipt's holds as the page says it: its span and until when it keeps."""

    camera: str
    start_us: int
    end_us: int | None
    state: str  # active | expired | released
    until: str


def hold_until(
    request: web.Request, hold: HoldRecord, receipt: ReceiptRecord, now_us: int
) -> ReceiptHold:
    """The hold with its "kept until" in the page's language: until the case is archived
    plus the archive period, until a time once it is archived, or since when it no longer
    keeps anything."""
    lang = request_lang(request)
    lifecycle = request.app.get(LIFECYCLE_KEY)
    days: int | None = None if lifecycle is None else lifecycle.retention.cfg.archive_retain_days
    if hold.expires_us is not None and receipt.case_archived_us is not None:
        days = round((hold.expires_us - receipt.case_archived_us) / DAY_US)
    if hold.released_us is not None:
        state = "released"
        until = translate(lang, "lookup.hold_released", time=local_time(request, hold.released_us))
    elif hold.expires_us is not None and hold.expires_us <= now_us:
        state = "expired"
        until = translate(lang, "lookup.hold_expired", time=local_time(request, hold.expires_us))
    elif hold.expires_us is not None:
        state = "active"
        until = translate(
            lang,
            "lookup.hold_until",
            time=local_time(request, hold.expires_us),
            days="?" if days is None else days,
        )
    else:
        state = "active"
        until = (
            translate(lang, "lookup.hold_until_case")
            if days is None
            else translate(lang, "lookup.hold_until_archived", days=days)
        )
    return ReceiptHold(hold.camera, hold.start_us, hold.end_us, state, until)


def _pct(us: int, cov: Coverage) -> float:
    return round(100.0 * (us - cov.window_start_us) / cov.window_us, 3)


def _span(kind: str, start_us: int, end_us: int, cov: Coverage, title: str = "") -> Span:
    left = _pct(start_us, cov)
    return Span(kind, left, round(_pct(end_us, cov) - left, 3), title)


def timeline(
    request: web.Request, cov: Coverage, marks: tuple[int, int | None] | None
) -> list[Span]:
    """Recorded stretches, gaps (with their reasons) and the acceptance period as spans."""
    spans: list[Span] = []
    cursor = cov.window_start_us
    for gap in cov.gaps:
        if gap.start_us > cursor:
            spans.append(_span("recorded", cursor, gap.start_us, cov))
        when = (
            f"{local_time(request, gap.start_us)} – {local_time(request, gap.end_us, '%H:%M:%S')}"
        )
        reason = reason_text(request_lang(request), gap.reason)
        spans.append(_span("gap", gap.start_us, gap.end_us, cov, f"{when}: {reason}"))
        cursor = gap.end_us
    if cursor < cov.window_end_us:
        spans.append(_span("recorded", cursor, cov.window_end_us, cov))
    if marks is not None:
        start = max(marks[0], cov.window_start_us)
        end = min(marks[1] if marks[1] is not None else cov.window_end_us, cov.window_end_us)
        if end > start:
            label = translate(request_lang(request), "lookup.legend_receipt")
            spans.append(_span("receipt", start, end, cov, label))
    return spans


def camera_view(
    request: web.Request, found: CameraLookup, marks: tuple[int, int | None] | None
) -> CameraView:
    cov = found.coverage
    clips = [
        ClipView(
            url=str(
                request.app.router["clip"]
                .url_for(camera=found.camera)
                .with_query(start=iso_from_us(st.start_us), end=iso_from_us(st.end_us))
            ),
            start_us=st.start_us,
            end_us=st.end_us,
            hevc=st.video_codec.lower() in HEVC_CODECS,
        )
        for st in playable_stretches(cov)
    ]
    return CameraView(found.camera, cov, timeline(request, cov, marks), clips, still_writing(cov))


def _local_input(request: web.Request, us: int) -> str:
    return local_time(request, us, LOCAL_INPUT_FORMAT)


# The label of each form field, for refusals (web.i18n.form_error_text).
_LOOKUP_LABELS = {
    "receipt_no": "lookup.receipt_no",
    "counter": "lookup.counter",
    "start": "lookup.start",
    "end": "lookup.end",
}
_DESK_LABELS = {"counter": "desk.counter", "receipt_no": "desk.scan"}
_LOOKUP_FIELDS = ("counter", "start", "end")
SCAN = ("counter", "receipt_no")  # the desk form's fields
OTHER_COUNTER = "other_counter"  # a desk outcome, and the code of its refusal


def _refusal_text(lang: str, exc: FormInvalid, labels: dict[str, str]) -> str:
    """A refused form for people: the field's label and the kind of failure, by code; a
    rule that spans fields (time order) as invalid_value. Never the English message on a
    Chinese page (web.i18n.error_text adds it on English ones)."""
    if exc.field in labels:
        return form_error_text(lang, translate(lang, labels[exc.field]), exc.kind)
    return error_text(lang, exc.code, exc.status, exc.message)


def _lookup_query(request: web.Request, counter: str, start: str, end: str) -> LookupQuery:
    """The counter search as the API's LookupQuery: the form's local times (the [web]
    timezone) converted to RFC 3339 first, so the model's rules (end after start, at most
    31 days) are the API's."""
    data = form_data({"counter": counter, "start": start, "end": end}, _LOOKUP_FIELDS)
    for field in ("start", "end"):
        text = data.get(field)
        if isinstance(text, str):
            try:
                data[field] = iso_from_us(local_us(request, text, field))
            except ValueError as exc:
                raise FormInvalid(field, "datetime_parsing", str(exc)) from None
    return validate_form(LookupQuery, data)


async def _by_receipt(request: web.Request, context: dict[str, Any], now_us: int) -> None:
    """The receipt search: the receipt, and per camera its footage with the acceptance."""
    receipt_no = validate_form(ReceiptPath, {"receipt_no": context["receipt_no"]}).receipt_no
    found = await receipt_footage(
        request.app[DB_KEY], receipt_no, now_us, request.app[RECEIPTS_KEY]
    )
    require_counter(request, found.receipt.counter)
    await audit_access(request, receipt_lookup(found))
    marks = (found.receipt.accepted_us, found.receipt.completed_us)
    context["receipt"] = found.receipt
    context["export_url"] = export_link(request, receipt=found.receipt.receipt_no)
    context["holds"] = [hold_until(request, h, found.receipt, now_us) for h in found.holds]
    context["cameras"] = [camera_view(request, c, marks) for c in found.cameras]


async def _by_counter(request: web.Request, context: dict[str, Any], now_us: int) -> None:
    """The counter search over [start, end), footage up to now at most."""
    lang = request_lang(request)
    query = _lookup_query(request, context["counter"], context["start"], context["end"])
    require_counter(request, query.counter)
    end_us = min(query.end, now_us)  # no footage is claimed from the future
    if end_us <= query.start:
        raise FormInvalid("form", RULE_ERROR, "'start' must be earlier than now")
    counter, results = await counter_footage(
        request.app[DB_KEY], query.counter, query.start, end_us
    )
    await audit_access(request, counter_lookup(counter.code, results, query.start, end_us))
    context["heading"] = translate(
        lang,
        "lookup.results_counter",
        counter=counter.code,
        start=local_time(request, query.start),
        end=local_time(request, query.end),
    )
    context["cameras"] = [camera_view(request, c, None) for c in results]
    context["export_url"] = export_link(
        request,
        counter=counter.code,
        start=local_input(request, query.start),
        end=local_input(request, end_us),
    )


async def lookup_page(request: web.Request) -> web.Response:
    """GET /lookup?receipt=NO  or  /lookup?counter=A01&start=...&end=... (local times)."""
    lang = request_lang(request)
    query = request.query
    now_us = request.app[CLOCK_KEY].now_us()
    counters = await visible_counters(request)
    context: dict[str, Any] = {
        "counters": counters,
        "receipt_no": query.get("receipt", "").strip(),
        "counter": query.get("counter", counters[0].code if counters else ""),
        "start": query.get("start", _local_input(request, now_us - 3600 * 1_000_000)),
        "end": query.get("end", _local_input(request, now_us + 60 * 1_000_000)),
        "receipt": None,
        "holds": [],
        "cameras": None,
        "heading": None,
        "error": None,
        "export_url": None,  # "Request export", prefilled from the result
    }
    status = 200
    try:
        if context["receipt_no"]:
            await _by_receipt(request, context, now_us)
        elif "counter" in query:
            await _by_counter(request, context, now_us)
    except FormInvalid as exc:
        context["error"] = _refusal_text(lang, exc, _LOOKUP_LABELS)
        status = exc.status
    except RecordNotFound as exc:
        # Shown on the page with its search forms, so the next number can be tried.
        context["error"] = (
            translate(lang, "lookup.not_found", no=context["receipt_no"])
            if isinstance(exc, ReceiptNotFound)
            else error_text(lang, exc.code, 404, str(exc))
        )
        status = 404
    await waiting(request)  # the menu's count of exports waiting for the caller
    return render(request, "lookup.html", context, status=status)


async def desk_page(request: web.Request) -> web.Response:
    """GET /desk?counter=A01: the scan form and the counter's latest receipts."""
    counters = await visible_counters(request)
    code = request.query.get("counter") or (counters[0].code if counters else "")
    recent: list[ReceiptRecord] = []
    message = None
    if code:
        require_counter(request, code)
        async with request.app[DB_KEY].read() as s:
            recent = await receipt_queries.recent_receipts(s, code, 10)
    done, no = request.query.get("done"), request.query.get("no", "")
    if done and no:
        message = _desk_message(request, done, no, recent)
    return render(
        request,
        "desk.html",
        {
            "counters": counters,
            "counter": code,
            "recent": recent,
            "message": message,
            "error": _desk_error(request),
        },
    )


def _desk_message(
    request: web.Request, done: str, no: str, recent: list[ReceiptRecord]
) -> str | None:
    lang = request_lang(request)
    record = next((r for r in recent if r.receipt_no == no), None)
    if done == "started" and record:
        return translate(lang, "desk.started", no=no, time=local_time(request, record.accepted_us))
    if done in ("completed", "already") and record:
        return translate(lang, f"desk.{done}", no=no, time=local_time(request, record.completed_us))
    return None


def _desk_error(request: web.Request) -> str | None:
    """The refusal a scan redirected with (?error=<code>[&field=...]), for people.

    Only codes travel in the URL; the text is the catalog's. The receipt and counter of
    other_counter are shown only if they are well formed.
    """
    query = request.query
    code = query.get("error")
    if not code:
        return None
    lang = request_lang(request)
    if code == OTHER_COUNTER:
        try:
            data = form_data({"receipt_no": query.get("no"), "counter": query.get("owner")}, SCAN)
            scan = validate_form(DeskScan, data)
        except FormInvalid:
            return error_text(lang, Conflict.code, 409)
        return translate(lang, "desk.other_counter", no=scan.receipt_no, counter=scan.counter)
    field = query.get("field")
    if field in _DESK_LABELS:
        return form_error_text(lang, translate(lang, _DESK_LABELS[field]), code)
    return error_text(lang, code, BadRequest.status)


async def desk_scan(request: web.Request) -> web.StreamResponse:
    """POST /desk: a scanned receipt number at a counter → start or complete, then back.

    The answer is a redirect to the desk (so a reload does not scan again); a refusal
    travels as its code (?error=...), never as the exception's text.
    """
    form = await request.post()
    counter = str(form.get("counter", "")).strip()
    require_counter(request, counter)
    params: dict[str, str] = {"counter": counter}
    try:
        scan = validate_form(DeskScan, form_data(form, SCAN))
        result = await scan_receipt(
            request.app[DB_KEY],
            scan.counter,
            scan.receipt_no,
            request.app[CLOCK_KEY].now_us(),
            request.app[RECEIPTS_KEY],
            audit_entry(request, "receipt.scan", "ok"),
        )
    except FormInvalid as exc:
        params.update(error=exc.kind, field=exc.field)
    except (InvalidRecord, CounterNotFound) as exc:
        params["error"] = exc.code
    else:
        if result.outcome == OTHER_COUNTER:
            receipt = result.receipt
            params.update(error=OTHER_COUNTER, no=receipt.receipt_no, owner=receipt.counter)
        else:
            params.update(done=result.outcome, no=result.receipt.receipt_no)  # stored form
    target = str(request.app.router["desk_page"].url_for()) + "?" + urlencode(params)
    raise web.HTTPSeeOther(target)
