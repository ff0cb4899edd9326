"""The storage lifecycle over HTTP: volumes and alarms, retention rules, the plan and passes
of retention, and legal holds (read: admin, auditor; change: admin).

Handlers are thin: the policy is surveil/retention.py and surveil/holds.py (each change
audited in its own transaction), the status surveil/lifecycle.py. Without the lifecycle in
this process (apps built without it, in tests) every operation answers 503.

Retention rules are addressed by path, one resource per scope (``/retention/rules/
installation``, ``/counters/{code}``, ``/cameras/{name}``), as counters and cameras are:
each reference is typed by its own pattern, an unknown counter or camera is a 404 like
everywhere else, and no rule across parameters (the installation has no ref) is left for a
422.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from index import cameras as camera_queries
from index import counters as counter_queries
from index import holds as hold_queries
from index import retention as retention_queries
from index.errors import (
    CameraNotFound,
    Conflict,
    CounterNotFound,
    HoldNotFound,
    InvalidRecord,
    RetentionRuleNotFound,
)
from index.records import HOLD_KINDS, HoldRecord
from surveil import holds, retention
from surveil.lifecycle import Lifecycle
from web.access import audit, audit_entry
from web.errors import LifecycleUnavailable, Unprocessable
from web.keys import CLOCK_KEY, DB_KEY, LIFECYCLE_KEY
from web.openapi import Op
from web.wire.base import reply
from web.wire.cameras import CameraPath
from web.wire.receipts import CounterPath
from web.wire.storage import (
    CameraPolicyInfo,
    HoldInfo,
    HoldList,
    HoldPath,
    HoldsIn,
    HoldsPlaced,
    HoldsQuery,
    PassesQuery,
    PassList,
    PlanQuery,
    ReleaseIn,
    RetentionPass,
    RetentionPlanReply,
    RetentionRule,
    RetentionRules,
    RuleBody,
    StorageStatus,
)


def lifecycle_of(request: web.Request) -> Lifecycle:
    """The storage lifecycle; LifecycleUnavailable (503) when this process has none."""
    lifecycle = request.app.get(LIFECYCLE_KEY)
    if lifecycle is None:
        raise LifecycleUnavailable("the storage lifecycle is not running in this process")
    return lifecycle


def _now(request: web.Request) -> int:
    return request.app[CLOCK_KEY].now_us()


# -- status --------------------------------------------------------------------------------


async def storage_status(request: web.Request) -> web.Response:
    """Every volume's space and level, the volume alarms, footage and retention per camera,
    the last retention pass and the active legal holds."""
    lifecycle = lifecycle_of(request)
    cfg = lifecycle.retention.cfg
    status = await lifecycle.status()
    return reply(StorageStatus.of(status, cfg.retain_days, cfg.archive_retain_days))


# -- rules ---------------------------------------------------------------------------------


async def retention_rules(request: web.Request) -> web.Response:
    """The rules by scope and ref, the configured default, and the rule each camera gets."""
    lifecycle = lifecycle_of(request)
    async with request.app[DB_KEY].read() as s:
        rules = await retention_queries.list_rules(s)
    policies = await lifecycle.retention.policies()
    cfg = lifecycle.retention.cfg
    return reply(
        RetentionRules(
            retain_days=cfg.retain_days,
            archive_retain_days=cfg.archive_retain_days,
            rules=[RetentionRule.of(r) for r in rules],
            cameras=[CameraPolicyInfo.of(p) for p in policies],
        )
    )


async def set_rule(request: web.Request, scope: str, ref: str, retain_days: int) -> RetentionRule:
    """Set a rule (audited as retention.rule_set) and wake retention to apply it; the
    counter or camera must exist (404 otherwise). Shared with the storage page."""
    lifecycle = lifecycle_of(request)
    db = request.app[DB_KEY]
    async with db.read() as s:
        if scope == "counter":
            await counter_queries.get_counter(s, ref)
        elif scope == "camera":
            await camera_queries.get_active_camera(s, ref)
    entry = audit_entry(request, "retention.rule_set", "ok")
    record = await retention.set_rule(db, scope, ref, retain_days, entry, _now(request))
    lifecycle.retention.wake()
    return RetentionRule.of(record)


async def remove_rule(request: web.Request, scope: str, ref: str) -> None:
    """Remove a rule (audited as retention.rule_removed); RetentionRuleNotFound if none."""
    lifecycle = lifecycle_of(request)
    entry = audit_entry(request, "retention.rule_removed", "ok")
    await retention.remove_rule(request.app[DB_KEY], scope, ref, entry, _now(request))
    lifecycle.retention.wake()


async def set_installation_rule(request: web.Request, *, body: RuleBody) -> web.Response:
    """Set the installation's rule (it replaces [retention] retain_days)."""
    return reply(await set_rule(request, "installation", "", body.retain_days))


async def set_counter_rule(
    request: web.Request, *, path: CounterPath, body: RuleBody
) -> web.Response:
    """Set a counter's rule: its cameras keep footage this long, unless a camera has its
    own rule (a camera on several counters gets the longest)."""
    return reply(await set_rule(request, "counter", path.code, body.retain_days))


async def set_camera_rule(
    request: web.Request, *, path: CameraPath, body: RuleBody
) -> web.Response:
    """Set a camera's own rule (it wins over its counters' and the installation's)."""
    return reply(await set_rule(request, "camera", path.name, body.retain_days))


async def remove_installation_rule(request: web.Request) -> web.Response:
    """Remove the installation's rule: [retention] retain_days applies again."""
    await remove_rule(request, "installation", "")
    return web.Response(status=204)


async def remove_counter_rule(request: web.Request, *, path: CounterPath) -> web.Response:
    """Remove a counter's rule: the next wider one applies again."""
    await remove_rule(request, "counter", path.code)
    return web.Response(status=204)


async def remove_camera_rule(request: web.Request, *, path: CameraPath) -> web.Response:
    """Remove a camera's rule: its counters' or the installation's applies again."""
    await remove_rule(request, "camera", path.name)
    return web.Response(status=204)


# -- plan and passes -------------------------------------------------------------------------


async def retention_plan(request: web.Request, *, query: PlanQuery) -> web.Response:
    """What a pass would delete now, per camera what it keeps of the old footage and why,
    and the oldest segments it would delete with their reason. Deletes nothing."""
    plan = await lifecycle_of(request).retention.plan(limit=query.limit)
    return reply(RetentionPlanReply.of(plan))


async def retention_passes(request: web.Request, *, query: PassesQuery) -> web.Response:
    """The latest retention passes, newest first."""
    lifecycle_of(request)
    async with request.app[DB_KEY].read() as s:
        passes = await retention_queries.latest_passes(s, query.limit)
    return reply(PassList(passes=[RetentionPass.of(p) for p in passes]))


async def run_retention_pass(request: web.Request) -> web.Response:
    """Run a retention pass now (trigger manual) and answer with it once done. The request
    is audited as retention.run before it starts; the pass itself as retention.pass."""
    lifecycle = lifecycle_of(request)
    await audit(request, "retention.run", "ok")
    record = await lifecycle.retention.run_pass("manual")
    return reply(RetentionPass.of(record), status=201)


# -- holds -----------------------------------------------------------------------------------


async def holds_page(
    s: AsyncSession, query: HoldsQuery, now_us: int, camera_id: int | None
) -> list[HoldRecord]:
    """A page of holds as the query asks, newest first. Inactive ones (active=false) are
    picked from the index's pages, as it only selects active holds."""
    kinds = HOLD_KINDS if query.kind is None else (query.kind,)
    if query.active is not False:
        return await hold_queries.list_holds(
            s,
            kinds=kinds,
            active_at_us=now_us if query.active else None,
            camera_id=camera_id,
            before_id=query.before,
            limit=query.limit,
        )
    out: list[HoldRecord] = []
    before = query.before
    while len(out) < query.limit:
        page = await hold_queries.list_holds(
            s,
            kinds=kinds,
            camera_id=camera_id,
            before_id=before,
            limit=hold_queries.HOLD_PAGE_MAX,
        )
        out += [h for h in page if not h.active(now_us)]
        if len(page) < hold_queries.HOLD_PAGE_MAX:
            break
        before = page[-1].id
    return out[: query.limit]


async def list_holds(request: web.Request, *, query: HoldsQuery) -> web.Response:
    """Holds of every kind (receipt, legal, export), newest first; 404 for an unknown
    camera."""
    lifecycle_of(request)
    now = _now(request)
    async with request.app[DB_KEY].read() as s:
        camera_id = None
        if query.camera is not None:
            camera_id = (await camera_queries.get_camera(s, query.camera)).id
        page = await holds_page(s, query, now, camera_id)
    more = len(page) == query.limit
    return reply(
        HoldList(
            holds=[HoldInfo.of(h, now) for h in page],
            next_before=page[-1].id if more else None,
        )
    )


async def place_holds(request: web.Request, *, body: HoldsIn) -> web.Response:
    """Place a legal hold on each camera (audited as hold.place, one entry each); all or
    none: an unknown camera places nothing."""
    lifecycle_of(request)
    now = _now(request)
    placed = await holds.place_legal_hold(
        request.app[DB_KEY],
        body.cameras,
        body.start,
        body.end,
        body.reason,
        audit_entry(request, "hold.place", "ok"),
        now,
    )
    return reply(HoldsPlaced(holds=[HoldInfo.of(h, now) for h in placed]), status=201)


async def release_hold(request: web.Request, *, path: HoldPath, body: ReleaseIn) -> web.Response:
    """Release a legal hold with a reason (audited as hold.release); the hold stays on
    record. 409 for a hold released already, or one that is not a legal hold."""
    lifecycle_of(request)
    now = _now(request)
    record = await holds.release_legal_hold(
        request.app[DB_KEY], path.id, body.reason, audit_entry(request, "hold.release", "ok"), now
    )
    return reply(HoldInfo.of(record, now))


_UNAVAILABLE = (LifecycleUnavailable,)
_RULES = "/api/v1/retention/rules"

OPS = (
    Op(
        "GET",
        "/api/v1/storage",
        "storage",
        storage_status,
        "Volumes, their alarms, and footage and retention per camera (admin, auditor)",
        ok={200: StorageStatus},
        errors=_UNAVAILABLE,
    ),
    Op(
        "GET",
        _RULES,
        "retention_rules",
        retention_rules,
        "The retention rules and the rule of each camera (admin, auditor)",
        ok={200: RetentionRules},
        errors=_UNAVAILABLE,
    ),
    Op(
        "PUT",
        _RULES + "/installation",
        "set_installation_rule",
        set_installation_rule,
        "Set the installation's retention (admin)",
        body_model=RuleBody,
        ok={200: RetentionRule},
        errors=(*_UNAVAILABLE, InvalidRecord),
    ),
    Op(
        "DELETE",
        _RULES + "/installation",
        "remove_installation_rule",
        remove_installation_rule,
        "Remove the installation's retention rule (admin)",
        ok={204: None},
        errors=(*_UNAVAILABLE, RetentionRuleNotFound),
    ),
    Op(
        "PUT",
        _RULES + "/counters/{code}",
        "set_counter_rule",
        set_counter_rule,
        "Set a counter's retention (admin)",
        path_model=CounterPath,
        body_model=RuleBody,
        ok={200: RetentionRule},
        errors=(*_UNAVAILABLE, CounterNotFound, InvalidRecord),
    ),
    Op(
        "DELETE",
        _RULES + "/counters/{code}",
        "remove_counter_rule",
        remove_counter_rule,
        "Remove a counter's retention rule (admin)",
        path_model=CounterPath,
        ok={204: None},
        errors=(*_UNAVAILABLE, RetentionRuleNotFound),
    ),
    Op(
        "PUT",
        _RULES + "/cameras/{name}",
        "set_camera_rule",
        set_camera_rule,
        "Set a camera's retention (admin)",
        path_model=CameraPath,
        body_model=RuleBody,
        ok={200: RetentionRule},
        errors=(*_UNAVAILABLE, CameraNotFound, InvalidRecord),
    ),
    Op(
        "DELETE",
        _RULES + "/cameras/{name}",
        "remove_camera_rule",
        remove_camera_rule,
        "Remove a camera's retention rule (admin)",
        path_model=CameraPath,
        ok={204: None},
        errors=(*_UNAVAILABLE, RetentionRuleNotFound),
    ),
    Op(
        "GET",
        "/api/v1/retention/plan",
        "retention_plan",
        retention_plan,
        "What a retention pass would delete now, and why (admin, auditor)",
        query_model=PlanQuery,
        ok={200: RetentionPlanReply},
        errors=_UNAVAILABLE,
    ),
    Op(
        "GET",
        "/api/v1/retention/passes",
        "retention_passes",
        retention_passes,
        "The latest retention passes (admin, auditor)",
        query_model=PassesQuery,
        ok={200: PassList},
        errors=_UNAVAILABLE,
    ),
    Op(
        "POST",
        "/api/v1/retention/passes",
        "run_retention_pass",
        run_retention_pass,
        "Run a retention pass now (admin)",
        ok={201: RetentionPass},
        errors=_UNAVAILABLE,
    ),
    Op(
        "GET",
        "/api/v1/holds",
        "holds",
        list_holds,
        "Holds of every kind, newest first (admin, auditor)",
        query_model=HoldsQuery,
        ok={200: HoldList},
        errors=(*_UNAVAILABLE, CameraNotFound),
    ),
    Op(
        "POST",
        "/api/v1/holds",
        "place_holds",
        place_holds,
        "Place a legal hold on cameras' footage (admin)",
        body_model=HoldsIn,
        ok={201: HoldsPlaced},
        errors=(*_UNAVAILABLE, CameraNotFound, Unprocessable, InvalidRecord),
    ),
    Op(
        "POST",
        "/api/v1/holds/{id}/release",
        "release_hold",
        release_hold,
        "Release a legal hold (admin)",
        path_model=HoldPath,
        body_model=ReleaseIn,
        ok={200: HoldInfo},
        errors=(*_UNAVAILABLE, HoldNotFound, Conflict, InvalidRecord),
    ),
)
