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
from index.errors import CounterNotFound, InvalidRecord, ReceiptNotFound
from index.records import ReceiptRecord
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
from surveil.timefmt import iso_from_us
from web.access import audit_access, audit_entry, require_counter, visible_counters
from web.i18n import reason_text, request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY, RECEIPTS_KEY
from web.pages import LOCAL_INPUT_FORMAT, local_time, local_us, render

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
        "cameras": None,
        "heading": None,
        "error": None,
    }
    status = 200
    db = request.app[DB_KEY]
    try:
        if context["receipt_no"]:
            found = await receipt_footage(
                db, context["receipt_no"], now_us, request.app[RECEIPTS_KEY]
            )
            require_counter(request, found.receipt.counter)
            await audit_access(request, receipt_lookup(found))
            marks = (found.receipt.accepted_us, found.receipt.completed_us)
            context["receipt"] = found.receipt
            context["cameras"] = [camera_view(request, c, marks) for c in found.cameras]
        elif "counter" in query:
            start_us = local_us(request, context["start"], translate(lang, "lookup.start"))
            end_us = local_us(request, context["end"], translate(lang, "lookup.end"))
            require_counter(request, context["counter"])
            counter, results = await counter_footage(
                db, context["counter"], start_us, min(end_us, now_us)
            )
            await audit_access(
                request, counter_lookup(counter.code, results, start_us, min(end_us, now_us))
            )
            context["heading"] = translate(
                lang,
                "lookup.results_counter",
                counter=counter.code,
                start=local_time(request, start_us),
                end=local_time(request, end_us),
            )
            context["cameras"] = [camera_view(request, c, None) for c in results]
    except ReceiptNotFound:
        context["error"] = translate(lang, "lookup.not_found", no=context["receipt_no"])
        status = 404
    except CounterNotFound as exc:
        context["error"] = str(exc)
        status = 404
    except (InvalidRecord, ValueError) as exc:
        context["error"] = str(exc)
        status = 400
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
            "error": request.query.get("error"),
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


async def desk_scan(request: web.Request) -> web.StreamResponse:
    """POST /desk: a scanned receipt number at a counter → start or complete, then back."""
    lang = request_lang(request)
    form = await request.post()
    counter = str(form.get("counter", "")).strip()
    receipt_no = str(form.get("receipt_no", "")).strip()
    require_counter(request, counter)
    params: dict[str, str] = {"counter": counter}
    try:
        result = await scan_receipt(
            request.app[DB_KEY],
            counter,
            receipt_no,
            request.app[CLOCK_KEY].now_us(),
            request.app[RECEIPTS_KEY],
            audit_entry(request, "receipt.scan", "ok"),
        )
    except (InvalidRecord, CounterNotFound) as exc:
        params["error"] = str(exc)
    else:
        if result.outcome == "other_counter":
            params["error"] = translate(
                lang, "desk.other_counter", no=receipt_no, counter=result.receipt.counter
            )
        else:
            params.update(done=result.outcome, no=result.receipt.receipt_no)  # stored form
    target = str(request.app.router["desk_page"].url_for()) + "?" + urlencode(params)
    raise web.HTTPSeeOther(target)
