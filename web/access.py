"""Who may call what: the route policy, the guard middleware, staff scope, and auditing.

Every named route has an entry in ROUTE_ROLES, and a route without one is refused, so a new
endpoint is closed until someone decides who may use it (tests/test_access.py walks every
route × every role). Denials (401, 403) are written to the audit log with who, what, when
and from where.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from index.cameras import get_camera
from index.counters import list_counters
from index.records import USER_ROLES, AuditIn, CounterRecord
from surveil.access_log import FootageAccess, append_audit
from web.auth import authenticate, check_csrf, unauthorized
from web.errors import ApiError, Forbidden, IndexUnavailable, NoAccessPolicy
from web.keys import ACCESS_LOG_KEY, CLOCK_KEY, DB_KEY, PRINCIPAL_KEY
from web.principal import Principal

logger = logging.getLogger(__name__)

PUBLIC: Final = frozenset[str]()
ALL: Final = frozenset(USER_ROLES)
ADMIN: Final = frozenset({"admin"})
DESK: Final = frozenset({"admin", "staff"})  # acceptance work: receipts
OVERSIGHT: Final = frozenset({"admin", "auditor"})  # monitoring and the audit trail

# Route name -> roles allowed (PUBLIC: no sign-in needed). Staff are further limited to
# their counters inside the handlers (require_counter / require_camera).
ROUTE_ROLES: dict[str, frozenset[str]] = {
    "health": PUBLIC,
    "openapi": PUBLIC,
    "cameras": ALL,
    "recordings": ALL,
    "segment_file": ALL,
    "lookup": ALL,
    "clip": ALL,
    "counters": ALL,
    "counter": ALL,
    "create_counter": ADMIN,
    "update_counter": ADMIN,
    "delete_counter": ADMIN,
    "post_receipt": DESK,
    "receipt": ALL,
    "receipt_clip": ALL,
    "complete_receipt": DESK,
    # Cameras: changes and probes of devices are admin work; the live snapshot is for setting
    # up and checking cameras (admin, auditor), staff see their counters' footage as clips.
    "camera": ALL,
    "create_camera": ADMIN,
    "update_camera": ADMIN,
    "delete_camera": ADMIN,
    "probe_camera": ADMIN,
    "discover_cameras": ADMIN,
    "camera_snapshot": OVERSIGHT,
    # Pages.
    "static": PUBLIC,
    "login": PUBLIC,
    "login_submit": PUBLIC,
    "home": ALL,
    "logout": ALL,
    "lookup_page": ALL,
    "desk_page": DESK,
    "desk_scan": DESK,
    # Accounts and API tokens are admin work; the audit trail is for oversight.
    "users": ADMIN,
    "create_user": ADMIN,
    "user": ADMIN,
    "update_user": ADMIN,
    "tokens": ADMIN,
    "create_token": ADMIN,
    "revoke_token": ADMIN,
    "audit_log": OVERSIGHT,
    # The integrity log: everything an auditor needs to check it; issuing is admin work.
    "integrity_checkpoint": OVERSIGHT,
    "integrity_timestamp": OVERSIGHT,
    "integrity_key": OVERSIGHT,
    "integrity_inclusion": OVERSIGHT,
    "integrity_consistency": OVERSIGHT,
    "integrity_checkpoints": OVERSIGHT,
    "issue_checkpoint": ADMIN,
    "integrity_status": OVERSIGHT,
    "start_verify": OVERSIGHT,
    "users_page": ADMIN,
    "users_create": ADMIN,
    "users_update": ADMIN,
    "tokens_page": ADMIN,
    "tokens_create": ADMIN,
    "tokens_revoke": ADMIN,
    "audit_page": OVERSIGHT,
    # Dashboard (oversight), cameras and counters pages (admin work).
    "dashboard_page": OVERSIGHT,
    "cameras_page": ADMIN,
    "camera_discover": ADMIN,
    "camera_probe": ADMIN,
    "camera_add_onvif": ADMIN,
    "camera_add_url": ADMIN,
    "camera_edit_page": ADMIN,
    "camera_edit": ADMIN,
    "camera_enable": ADMIN,
    "camera_delete_page": ADMIN,
    "camera_delete": ADMIN,
    "counters_page": ADMIN,
    "counter_create": ADMIN,
    "counter_update": ADMIN,
    "counter_delete": ADMIN,
    "counter_cameras": ADMIN,
    # The integrity log's pages: the same split as its API. The help page is for those who
    # can fetch what its steps use (the integrity API is oversight only).
    "integrity_page": OVERSIGHT,
    "integrity_verify": OVERSIGHT,
    "integrity_issue": ADMIN,
    "integrity_help": OVERSIGHT,
    # The storage lifecycle: oversight reads (volumes, rules, the plan, passes, holds);
    # rules, legal holds and manual passes are admin work. A receipt's case lifecycle is
    # acceptance work, as completing it (staff for their counters).
    "storage": OVERSIGHT,
    "retention_rules": OVERSIGHT,
    "set_installation_rule": ADMIN,
    "remove_installation_rule": ADMIN,
    "set_counter_rule": ADMIN,
    "remove_counter_rule": ADMIN,
    "set_camera_rule": ADMIN,
    "remove_camera_rule": ADMIN,
    "retention_plan": OVERSIGHT,
    "retention_passes": OVERSIGHT,
    "run_retention_pass": ADMIN,
    "holds": OVERSIGHT,
    "place_holds": ADMIN,
    "release_hold": ADMIN,
    "receipt_case": DESK,
    "storage_page": OVERSIGHT,
    "storage_rule_set": ADMIN,
    "storage_rule_remove": ADMIN,
    "storage_hold_place": ADMIN,
    "storage_hold_release": ADMIN,
    "storage_pass_run": ADMIN,
    # Export requests' API: every role reads the requests in its scope (surveil.exports
    # decides which: staff their counters', a request they may not see is a 404); filing,
    # the steps, the package and a viewing are acceptance work. Who may take which step
    # (export.review, export.approve, the requester, distinct people) is the service's.
    "create_export": DESK,
    "exports": ALL,
    "export": ALL,
    "review_export": DESK,
    "approve_export": DESK,
    "reject_export": DESK,
    "withdraw_export": DESK,
    "resubmit_export": DESK,
    "deliver_export": DESK,
    "export_package": DESK,
    "view_export": DESK,
    "export_clip": DESK,
    # Export requests' pages: every role sees the requests in its scope (surveil.exports
    # decides which); filing and the steps are acceptance work, the step's own rules
    # (permission, requester, scope) are the service's.
    "exports_page": ALL,
    "export_page": ALL,
    "export_new_page": DESK,
    "export_create": DESK,
    "export_step": DESK,
    "export_download": DESK,
    # The Prometheus scrape: a loopback peer without credentials, or an admin or auditor
    # from anywhere. ROUTE_ROLES cannot say that, so the handler decides and audits its
    # refusals (web/metrics.py, scrape_refusal).
    "metrics": PUBLIC,
}


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL_KEY]


def require_counter(request: web.Request, code: str) -> None:
    """Forbidden unless the caller's scope includes the counter."""
    if not principal(request).may_see_counter(code):
        raise Forbidden(f"counter {code!r} is not among your counters")


async def require_camera(request: web.Request, camera: str) -> None:
    """CameraNotFound (404) if no camera has that name, for every caller; Forbidden unless
    the camera covers a counter in the caller's scope."""
    who = principal(request)
    async with request.app[DB_KEY].read() as s:
        record = await get_camera(s, camera)
    if who.counters is not None and not who.may_see_any(record.counters):
        raise Forbidden(f"camera {camera!r} covers none of your counters")


async def visible_counters(request: web.Request) -> list[CounterRecord]:
    """The counters the caller may see, by code."""
    async with request.app[DB_KEY].read() as s:
        records = await list_counters(s)
    who = principal(request)
    return [c for c in records if who.may_see_counter(c.code)]


def audit_entry(
    request: web.Request,
    action: str,
    outcome: str,
    target: str | None = None,
    detail: dict[str, object] | None = None,
) -> AuditIn:
    """An audit row for this request, attributed to its caller (or '-' if anonymous)."""
    who = request.get(PRINCIPAL_KEY)
    return AuditIn(
        actor=who.name if who else "-",
        actor_kind=who.kind if who else "anonymous",
        remote=request.remote,
        action=action,
        target=target,
        outcome=outcome,
        detail=detail,
    )


async def audit(
    request: web.Request,
    action: str,
    outcome: str,
    target: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Append an audit row in its own transaction (for actions with no write of their own).

    AuditUnavailable (503) when the row cannot be written, e.g. the index's disk is full:
    what cannot be traced is refused, and never as a 500.
    """
    entry = audit_entry(request, action, outcome, target, detail)
    await append_audit(request.app[DB_KEY], entry, request.app[CLOCK_KEY].now_us())


def viewing_key(request: web.Request) -> Hashable:
    """Who is watching, through which session or token and from where: with the clip and
    window, this makes the many Range requests of one video element one viewing."""
    who = principal(request)
    return (who.kind, who.name, who.session_id, request.remote)


async def audit_access(
    request: web.Request, access: FootageAccess, *, viewing: bool = False
) -> None:
    """Audit an access to footage before it is answered; 503 if it cannot be audited.

    viewing: repeated requests for the same footage by the same viewer within a few
    minutes (a video element's Range requests) are one row.
    """
    who = audit_entry(request, access.action, "ok", access.target)
    await request.app[ACCESS_LOG_KEY].record(
        who,
        access,
        request.app[CLOCK_KEY].now_us(),
        viewing_key(request) if viewing else None,
    )


def _wants_page(request: web.Request) -> bool:
    return not request.path.startswith("/api/")


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate, apply ROUTE_ROLES and CSRF, and audit every denial."""
    match = request.match_info
    roles: frozenset[str] | None
    if match.http_exception is not None:
        # The router's own 404/405. Under the API it needs a caller first, so that
        # strangers cannot map which paths exist; elsewhere nothing to guard.
        if _wants_page(request):
            return await handler(request)
        name, roles = "not_found", ALL
    else:
        name = match.route.name or ""
        roles = ROUTE_ROLES.get(name)
    if roles is None:
        logger.error("route %s has no access policy; refusing it", name)
        raise NoAccessPolicy("this endpoint has no access policy")
    if roles is PUBLIC:
        return await handler(request)
    try:
        try:
            who = await authenticate(request)
        except (SQLAlchemyError, OSError) as exc:
            # A session's last use (or its end) could not be written: refuse, plainly.
            logger.error("auth: index write failed: %s", type(exc).__name__)
            raise IndexUnavailable(
                "the index cannot be written (is its disk full?), so the request is "
                "refused; see the server log"
            ) from exc
        if who is None:
            if _wants_page(request) and request.method == "GET":
                raise web.HTTPSeeOther(
                    str(request.app.router["login"].url_for().with_query(next=request.path_qs))
                )
            raise unauthorized(
                "sign in, or send an API token as 'Authorization: Bearer <token>'", invalid=False
            )
        request[PRINCIPAL_KEY] = who
        if who.role not in roles:
            raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}")
        await check_csrf(request, who)
        return await handler(request)
    except ApiError as exc:
        if exc.status in (401, 403):
            await audit(
                request,
                f"{request.method} {request.path}"[:64],
                "denied",
                target=name,
                detail={"status": exc.status, "reason": exc.message},
            )
        raise
