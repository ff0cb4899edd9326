"""Pages of the integrity log: /integrity (status, the verifier key, the checkpoints, a
verify with its progress, issuing a checkpoint) and /integrity/help (how an auditor checks
footage with their own code). The dashboard's box reads :func:`integrity_status` here.

Thin, as the JSON API (web/integrity_api.py) is: both call the same functions of
surveil.integrity.Integrity and index.merkle, so a page never shows what the API would
not answer. Without the integrity service in this process (some tests), the pages say the
log is not available instead of failing; the buttons answer 503 then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from index import merkle
from index.merkle import CheckpointRecord, IntegrityRunRecord
from surveil.integrity import Integrity, IntegrityStatus, VerifyProgress
from web.access import ROUTE_ROLES, audit, principal
from web.errors import IntegrityUnavailable
from web.keys import DB_KEY, INTEGRITY_KEY
from web.pages import render
from web.wire.forms import FormInvalid, form_data, validate_form
from web.wire.integrity import CheckpointInfo, CheckpointsQuery

CHECKPOINT_ROWS = 50
# While a verify runs the page reloads itself this often (the dashboard's Refresh header:
# the CSP forbids inline script).
REFRESH_SECONDS = 3


@dataclass(frozen=True)
class LastVerify:
    """The last verify as the page says it: when, how much, and ok or how many findings."""

    started_us: int
    finished_us: int | None
    checked: int
    findings: int
    failed: bool  # it stopped with an error (in this process): no result

    @property
    def ok(self) -> bool:
        return self.finished_us is not None and not self.failed and self.findings == 0


def last_verify(
    run: IntegrityRunRecord | None, progress: VerifyProgress | None
) -> LastVerify | None:
    """The newest finished verify. The recorded run (integrity_runs: this page's, the
    CLI's, one before a restart) when it is at least as new as this process's; else this
    process's own, which also knows a verify that stopped with an error (its run is never
    finished)."""
    recorded = run is not None and run.finished_us is not None
    if run is not None and recorded and (progress is None or run.started_us >= progress.started_us):
        return LastVerify(run.started_us, run.finished_us, run.checked, run.findings, failed=False)
    if progress is not None and progress.finished_us is not None:
        return LastVerify(
            progress.started_us,
            progress.finished_us,
            progress.done,
            progress.findings,
            failed=progress.stage == "failed",
        )
    return None


def running_verify(status: IntegrityStatus) -> VerifyProgress | None:
    """The verify started from a page that is still running, if any."""
    progress = status.verify_running
    return progress if progress is not None and progress.finished_us is None else None


async def integrity_status(request: web.Request) -> IntegrityStatus | None:
    """The log's status for a page; None when the service is not running in this process."""
    integrity = request.app.get(INTEGRITY_KEY)
    return None if integrity is None else await integrity.status()


def _integrity(request: web.Request) -> Integrity:
    integrity = request.app.get(INTEGRITY_KEY)
    if integrity is None:
        raise IntegrityUnavailable("the integrity log is not running in this process")
    return integrity


def _page_query(request: web.Request) -> CheckpointsQuery:
    """?before= as the API's CheckpointsQuery (the same refusals), a page of our size."""
    data = {**form_data(request.query, ("before",)), "limit": CHECKPOINT_ROWS}
    try:
        return validate_form(CheckpointsQuery, data)
    except FormInvalid as exc:
        raise exc.refusal(exc.message) from None


def _back(request: web.Request, **params: str) -> web.HTTPSeeOther:
    url = request.app.router["integrity_page"].url_for()
    return web.HTTPSeeOther(str(url.with_query(params) if params else url))


async def integrity_page(request: web.Request) -> web.Response:
    """GET /integrity?before=N: status, key, checkpoints (newest first), verify; reloads
    itself while a verify runs."""
    query = _page_query(request)
    integrity = request.app.get(INTEGRITY_KEY)
    issued = request.query.get("issued", "")
    context: dict[str, Any] = {
        "available": integrity is not None,
        "status": None,
        "key": "",
        "checkpoints": [],
        "older": None,
        "paged": query.before is not None,
        "running": None,
        "last_verify": None,
        # The button only for whom the route lets through (the policy, never a second list).
        "may_issue": principal(request).role in ROUTE_ROLES["integrity_issue"],
        # Messages a redirect asks for: digits or a flag only, so a link cannot put text here.
        "issued": issued if issued.isdigit() else None,
        "started": request.query.get("started") == "1",
        "refresh": REFRESH_SECONDS,
    }
    if integrity is None:
        return render(request, "integrity.html", context)
    status = await integrity.status()
    async with request.app[DB_KEY].read() as s:
        page: list[CheckpointRecord] = await merkle.checkpoints_page(
            s, before_size=query.before, limit=query.limit
        )
    if len(page) == query.limit and page[-1].size > 0:
        context["older"] = str(request.rel_url.update_query(before=str(page[-1].size)))
    running = running_verify(status)
    context.update(
        status=status,
        key=integrity.verifier_key,
        checkpoints=[CheckpointInfo.of(c) for c in page],
        running=running,
        last_verify=last_verify(status.verify, status.verify_running),
    )
    response = render(request, "integrity.html", context)
    if running is not None:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


async def integrity_verify(request: web.Request) -> web.StreamResponse:
    """POST /integrity/verify: start a full verify in the background (one at a time;
    audited as integrity.verify, as over the API), then back to the page."""
    integrity = _integrity(request)
    await audit(request, "integrity.verify", "ok")
    integrity.start_verify()
    raise _back(request, started="1")


async def integrity_issue(request: web.Request) -> web.StreamResponse:
    """POST /integrity/checkpoint (admin): a checkpoint of the log as it is now (the
    latest, if it did not grow); audited as integrity.checkpoint."""
    record = await _integrity(request).checkpoint_now()
    await audit(request, "integrity.checkpoint", "ok", detail={"size": record.size})
    raise _back(request, issued=str(record.size))


async def integrity_help(request: web.Request) -> web.Response:
    """GET /integrity/help: how to check a segment against a checkpoint independently,
    with this installation's verifier key."""
    integrity = request.app.get(INTEGRITY_KEY)
    key = "" if integrity is None else integrity.verifier_key
    return render(request, "integrity_help.html", {"available": integrity is not None, "key": key})
