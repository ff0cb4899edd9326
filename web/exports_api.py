"""Export requests over HTTP (art. 24, 28): file, list, read, review, approve, reject,
withdraw, resubmit, deliver, download the package, and play an approved viewing.

Handlers are thin: every rule (who may take which step, in which state, within which
counters; the holds; the audit row and custody step of each transition) is
surveil/exports.py's, called with the caller as an ExportActor (web/exports_access.py).
ROUTE_ROLES only gates by role. A request the caller may not see is a 404, so staff of
another counter learn nothing of it.

A viewing's footage is served only through this module's clip route: it plays the request's
cameras inside the request's window, for the requester while the viewing is open, and
each viewing of a clip is audited as any clip is (web/clips_api.py serves it).
"""

from __future__ import annotations

from aiohttp import hdrs, web

from index.cameras import get_camera
from index.errors import CameraNotFound, CounterNotFound, InvalidRecord, ReceiptNotFound
from index.exports import ExportNotFound
from surveil import exports
from surveil.access_log import AuditUnavailable
from surveil.exports import (
    ExportDetail,
    ExportForbidden,
    ExportSettings,
    ExportStateConflict,
    PackageMissing,
)
from surveil.lookup import CameraRef, lookup_window, playable_stretches
from surveil.serving import ClipUnavailable, NoFootage
from surveil.timefmt import iso_from_us
from web.clips_api import serve_clip
from web.errors import PreconditionFailed, RangeNotSatisfiable, Unprocessable
from web.exports_access import actor
from web.keys import CLOCK_KEY, DB_KEY, EXPORTS_KEY
from web.openapi import Answer, Media, Op
from web.wire.base import reply
from web.wire.exports import (
    DeliverIn,
    Export,
    ExportClipPath,
    ExportCreate,
    ExportList,
    ExportPath,
    ExportsQuery,
    ExportSummary,
    ReasonIn,
    RejectIn,
    ReviewIn,
    ViewCamera,
    ViewClip,
    Viewing,
)
from web.wire.footage import MAX_CLIP_US, NarrowQuery

ZIP = "application/zip"


def _now(request: web.Request) -> int:
    return request.app[CLOCK_KEY].now_us()


def _settings(request: web.Request) -> ExportSettings:
    return request.app[EXPORTS_KEY].settings


def _answer(request: web.Request, detail: ExportDetail, status: int = 200) -> web.Response:
    progress = request.app[EXPORTS_KEY].progress(detail.request.id)
    return reply(Export.of_detail(detail, _now(request), progress), status=status)


# -- filing and reading ---------------------------------------------------------------------


async def create_export(request: web.Request, *, body: ExportCreate) -> web.Response:
    """File a request and hold its footage (holds of kind export), audited as
    export.submit. 403 when the counter is not among the caller's; 404 for an unknown
    receipt, counter or camera; 422 for a window that is empty, in the future or longer
    than [exports] max_window_hours, a camera that does not cover the counter, or a
    receipt whose counter had no camera."""
    detail = await exports.create_export(
        request.app[DB_KEY], body.request_in(), actor(request), _settings(request), _now(request)
    )
    return _answer(request, detail, status=201)


async def list_exports(request: web.Request, *, query: ExportsQuery) -> web.Response:
    """Requests the caller may see, newest first: admins and auditors every one, staff
    those of their counters. to_review and to_approve are the caller's own work: requests
    waiting for a decision the caller may take."""
    found = await exports.list_exports(
        request.app[DB_KEY],
        actor(request),
        view=query.view,
        states=tuple(dict.fromkeys(query.state)),
        before_id=query.before,
        limit=query.limit,
        settings=_settings(request),
    )
    packager = request.app[EXPORTS_KEY]
    more = len(found) == query.limit
    return reply(
        ExportList(
            exports=[ExportSummary.of(r, packager.progress(r.id)) for r in found],
            next_before=found[-1].id if more else None,
        )
    )


async def get_export(request: web.Request, *, path: ExportPath) -> web.Response:
    """The request with its custody chain (every step: who, in which role, when, why), its
    holds, its package and the steps the caller may take now."""
    detail = await exports.get_export(
        request.app[DB_KEY], path.id, actor(request), _settings(request), _now(request)
    )
    return _answer(request, detail)


# -- steps ------------------------------------------------------------------------------------


async def review_export(request: web.Request, *, path: ExportPath, body: ReviewIn) -> web.Response:
    """The reviewer's decision (an account granted export.review, not the requester):
    pass (→ reviewed) or return with a reason (→ returned). Audited export.review or
    export.return."""
    detail = await exports.review_export(
        request.app[DB_KEY],
        path.id,
        body.decision,
        body.reason,
        actor(request),
        _settings(request),
        _now(request),
    )
    return _answer(request, detail)


async def approve_export(
    request: web.Request, *, path: ExportPath, body: ReasonIn | None
) -> web.Response:
    """Approve (→ approved; export.approve, not the requester, and with min_people 3 not
    the reviewer). A copy is then packaged in the background; a viewing is open to its
    requester for [exports] view_hours. Audited export.approve."""
    reason = body.reason if body is not None else None
    detail = await exports.approve_export(
        request.app[DB_KEY], path.id, reason, actor(request), _settings(request), _now(request)
    )
    request.app[EXPORTS_KEY].wake()  # build the package now, not at the next poll
    return _answer(request, detail)


async def reject_export(request: web.Request, *, path: ExportPath, body: RejectIn) -> web.Response:
    """Refuse it with a reason (→ rejected; as approve, who may); its holds are released.
    Audited export.reject."""
    detail = await exports.reject_export(
        request.app[DB_KEY], path.id, body.reason, actor(request), _settings(request), _now(request)
    )
    return _answer(request, detail)


async def withdraw_export(
    request: web.Request, *, path: ExportPath, body: ReasonIn | None
) -> web.Response:
    """The requester withdraws it before approval (→ withdrawn); its holds are released.
    Audited export.withdraw."""
    reason = body.reason if body is not None else None
    detail = await exports.withdraw_export(
        request.app[DB_KEY], path.id, reason, actor(request), _settings(request), _now(request)
    )
    return _answer(request, detail)


async def resubmit_export(
    request: web.Request, *, path: ExportPath, body: ReasonIn | None
) -> web.Response:
    """The requester answers a return (→ submitted, for review again). Audited
    export.resubmit."""
    reason = body.reason if body is not None else None
    detail = await exports.resubmit_export(
        request.app[DB_KEY], path.id, reason, actor(request), _settings(request), _now(request)
    )
    return _answer(request, detail)


async def deliver_export(
    request: web.Request, *, path: ExportPath, body: DeliverIn
) -> web.Response:
    """Record the hand-over of a packaged copy or an approved viewing (→ delivered): the
    caller handed it to recipient, by method, now. A request made from a receipt releases
    its holds (the receipt's case hold keeps the footage). Audited export.deliver."""
    detail = await exports.deliver_export(
        request.app[DB_KEY],
        path.id,
        body.recipient,
        body.method,
        body.reason,
        actor(request),
        _settings(request),
        _now(request),
    )
    return _answer(request, detail)


# -- the package ------------------------------------------------------------------------------


async def export_package(request: web.Request, *, path: ExportPath) -> web.StreamResponse:
    """The package (a zip anyone can check offline: its verify.py, or `surveil verify`),
    for the requester, reviewer or approver, or an admin. Each download is audited as
    export.download before a byte is sent. 409 export_state while there is no package
    (not approved, rejected, withdrawn, or not built yet); 409 package_missing when its file
    is gone."""
    packager = request.app[EXPORTS_KEY]
    detail, file = await exports.open_download(
        request.app[DB_KEY],
        packager.data_dir,
        path.id,
        actor(request),
        _settings(request),
        _now(request),
    )
    r = detail.request
    headers: dict[str, str] = {
        hdrs.CONTENT_TYPE: ZIP,
        hdrs.CONTENT_DISPOSITION: f'attachment; filename="export-{r.id}.zip"',
    }
    if r.package_sha256 is not None:
        headers["X-Package-SHA256"] = r.package_sha256
    return web.FileResponse(file, headers=headers)


# -- viewing ------------------------------------------------------------------------------------


def _clip_url(request: web.Request, rid: int, camera: str, start_us: int, end_us: int) -> str:
    return str(
        request.app.router["export_clip"]
        .url_for(id=str(rid), camera=camera)
        .with_query(start=iso_from_us(start_us), end=iso_from_us(end_us))
    )


async def viewing_cameras(request: web.Request, detail: ExportDetail) -> list[ViewCamera]:
    """Per camera of the request, its footage over exactly the request's window: the
    clips (each at most 12 hours, served only by the export's clip route) and the gaps.
    Shared with the pages."""
    r = detail.request
    db = request.app[DB_KEY]
    refs = []
    async with db.read() as s:
        for name in r.cameras:
            refs.append(CameraRef((await get_camera(s, name)).id, name))
    out = []
    for found in await lookup_window(db, refs, r.start_us, r.end_us):
        clips = []
        for st in playable_stretches(found.coverage):
            start = st.start_us
            while start < st.end_us:
                end = min(st.end_us, start + MAX_CLIP_US)
                clips.append(
                    ViewClip(
                        start=iso_from_us(start),
                        end=iso_from_us(end),
                        start_us=start,
                        end_us=end,
                        url=_clip_url(request, r.id, found.camera, start, end),
                    )
                )
                start = end
        out.append(ViewCamera.of(found.camera, found.coverage, clips))
    return out


async def view_export(request: web.Request, *, path: ExportPath) -> web.Response:
    """Open an approved viewing (its requester, until view_until): audited as export.view,
    then per camera the clips of exactly the request's footage and the gaps in it."""
    detail = await exports.open_viewing(
        request.app[DB_KEY], path.id, actor(request), _settings(request), _now(request)
    )
    cameras = await viewing_cameras(request, detail)
    progress = request.app[EXPORTS_KEY].progress(detail.request.id)
    return reply(Viewing(export=Export.of_detail(detail, _now(request), progress), cameras=cameras))


async def export_clip(
    request: web.Request, *, path: ExportClipPath, query: NarrowQuery
) -> web.StreamResponse:
    """A camera's footage of an open viewing, as one MP4 (HTTP Range): only the request's
    cameras, only inside its window (start/end narrow it, e.g. to the stretch after a gap),
    only for its requester while the viewing is open. Audited as any clip (footage.clip,
    one row per viewing)."""
    r = await exports.check_viewing(
        request.app[DB_KEY], path.id, actor(request), _settings(request), _now(request)
    )
    if path.camera not in r.cameras:
        raise CameraNotFound(f"camera {path.camera!r} is not one of export request {r.id}'s")
    start_us = max(r.start_us, query.start) if query.start is not None else r.start_us
    end_us = min(r.end_us, query.end) if query.end is not None else r.end_us
    if end_us <= start_us:
        raise Unprocessable("start/end do not overlap the request's window")
    end_us = min(end_us, start_us + MAX_CLIP_US)
    return await serve_clip(request, path.camera, start_us, end_us, extra={"export": r.id})


# -- operations -------------------------------------------------------------------------------

_ONE = "/api/v1/exports/{id}"
_STEP_ERRORS = (ExportNotFound, ExportForbidden, ExportStateConflict, InvalidRecord)
_MP4: dict[int, Answer] = {
    200: Media("video/mp4", "The whole clip."),
    206: Media("video/mp4", "The requested byte range."),
    304: None,
}
_ZIP: dict[int, Answer] = {
    200: Media(ZIP, "The package; X-Package-SHA256 carries its SHA-256."),
    206: Media(ZIP, "The requested byte range."),
    304: None,
}

OPS = (
    Op(
        "POST",
        "/api/v1/exports",
        "create_export",
        create_export,
        "File an export request, from a receipt or for a counter and a window",
        body_model=ExportCreate,
        ok={201: Export},
        errors=(
            ExportForbidden,
            ReceiptNotFound,
            CounterNotFound,
            CameraNotFound,
            InvalidRecord,
            Unprocessable,
        ),
    ),
    Op(
        "GET",
        "/api/v1/exports",
        "exports",
        list_exports,
        "Export requests the caller may see, newest first",
        query_model=ExportsQuery,
        ok={200: ExportList},
    ),
    Op(
        "GET",
        _ONE,
        "export",
        get_export,
        "One export request with its custody chain and the caller's actions",
        path_model=ExportPath,
        ok={200: Export},
        errors=(ExportNotFound,),
    ),
    Op(
        "POST",
        f"{_ONE}/review",
        "review_export",
        review_export,
        "Review an export request: pass or return (export.review)",
        path_model=ExportPath,
        body_model=ReviewIn,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "POST",
        f"{_ONE}/approve",
        "approve_export",
        approve_export,
        "Approve a reviewed export request (export.approve)",
        path_model=ExportPath,
        body_model=ReasonIn,
        body_required=False,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "POST",
        f"{_ONE}/reject",
        "reject_export",
        reject_export,
        "Reject a reviewed export request (export.approve)",
        path_model=ExportPath,
        body_model=RejectIn,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "POST",
        f"{_ONE}/withdraw",
        "withdraw_export",
        withdraw_export,
        "Withdraw one's export request before approval",
        path_model=ExportPath,
        body_model=ReasonIn,
        body_required=False,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "POST",
        f"{_ONE}/resubmit",
        "resubmit_export",
        resubmit_export,
        "Resubmit one's returned export request",
        path_model=ExportPath,
        body_model=ReasonIn,
        body_required=False,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "POST",
        f"{_ONE}/deliver",
        "deliver_export",
        deliver_export,
        "Record the hand-over of a packaged copy or an approved viewing",
        path_model=ExportPath,
        body_model=DeliverIn,
        ok={200: Export},
        errors=_STEP_ERRORS,
    ),
    Op(
        "GET",
        f"{_ONE}/package",
        "export_package",
        export_package,
        "Download the package of an export request (each download audited)",
        path_model=ExportPath,
        ok=_ZIP,
        errors=(ExportNotFound, ExportForbidden, ExportStateConflict, PackageMissing),
    ),
    Op(
        "GET",
        f"{_ONE}/view",
        "view_export",
        view_export,
        "Open an approved viewing: its clips and gaps (audited)",
        path_model=ExportPath,
        ok={200: Viewing},
        errors=(ExportNotFound, ExportForbidden, ExportStateConflict),
    ),
    Op(
        "GET",
        f"{_ONE}/clips/{{camera}}.mp4",
        "export_clip",
        export_clip,
        "A camera's footage of an open viewing, as one MP4",
        path_model=ExportClipPath,
        query_model=NarrowQuery,
        ok=_MP4,
        errors=(
            ExportNotFound,
            ExportForbidden,
            ExportStateConflict,
            CameraNotFound,
            NoFootage,
            ClipUnavailable,
            Unprocessable,
            PreconditionFailed,
            RangeNotSatisfiable,
            AuditUnavailable,
        ),
    ),
)
