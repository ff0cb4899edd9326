"""Export requests (art. 24, 28): a party asks to view or copy footage; a reviewer checks,
an approver approves; every step is one transaction with its audit row (so a leaf of the
Merkle log) and a row of the request's custody chain.

The one home of the export policy: the API, the pages and the CLI call these functions, and
the packager (surveil/export_jobs.py) takes approved copies from here. Who may act:

- file: admin or staff (or their API tokens), for a counter in their scope;
- see: admins and auditors, every request; staff, the requests of their counters;
- review: an account granted ``export.review``, in scope, never the requester;
- approve or reject: ``export.approve``, in scope, never the requester, and (with
  ``[exports] min_people = 3``, the default) never the reviewer;
- withdraw (before approval) and resubmit (after a return): the requester;
- deliver: admin or staff in scope, once packaged (a copy) or approved (a viewing);
- view: the requester of an approved viewing, until it expires;
- download: the requester, reviewer or approver of a packaged copy, or an admin, in scope.

Footage under a request is held from retention (holds of kind export) from filing until it is
rejected or withdrawn, or, for a request made from a receipt, delivered (the receipt's own
case hold keeps it from then on). A request for cameras and a time range keeps its hold after
delivery: nothing else would protect what was handed over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Final

from sqlalchemy.ext.asyncio import AsyncSession

from index import counters as counter_queries
from index import exports as q
from index import holds as hold_queries
from index import receipts as receipt_queries
from index.audit import add_audit
from index.cameras import get_camera
from index.db import Database
from index.errors import Conflict, InvalidRecord
from index.exports import ExportFilter, ExportNotFound, ExportRow
from index.receipts import ReceiptSettings, hold_end_us
from index.records import (
    EXPORT_KINDS,
    EXPORT_STATES,
    AuditIn,
    ExportParty,
    ExportRecord,
    ExportStepRecord,
    HoldRecord,
)
from index.text import check_text
from surveil.config import ExportsConfig

HOUR_US: Final = 3600 * 1_000_000
EXPORTS_DIR: Final = "exports"  # under data_dir: the packages

REVIEW: Final = "export.review"
APPROVE: Final = "export.approve"
FILERS: Final = frozenset({"admin", "staff"})
OVERSEERS: Final = frozenset({"admin", "auditor"})

# Where a step may start from.
_FROM: Final[dict[str, tuple[str, ...]]] = {
    "review": ("submitted",),
    "return": ("submitted",),
    "resubmit": ("returned",),
    "approve": ("reviewed",),
    "reject": ("reviewed",),
    "withdraw": ("submitted", "returned", "reviewed"),
    "package": ("approved",),
    "deliver": ("approved", "packaged"),
}
# List filters the pages and the API offer.
LIST_VIEWS: Final = ("all", "mine", "to_review", "to_approve")

TEXT_LIMITS: Final = {
    "party name": 100,
    "party ID type": 32,
    "party ID number": 64,
    "party relation": 100,
    "case number": 64,
    "purpose": 2000,
    "legal basis": 2000,
    "reason": 500,
    "recipient": 200,
    "method": 200,
}


# Why a person may not take a step: a stable key (pages translate it: web/i18n.py) and the
# English sentence the API answers with.
REASONS: Final[dict[str, str]] = {
    "not_filer": "filing an export request is acceptance work (admin or staff)",
    "needs_review": "reviewing exports needs an account granted export.review",
    "own_review": "the requester cannot review their own request",
    "needs_approve": "approving exports needs an account granted export.approve",
    "own_approve": "the requester cannot approve or reject their own request",
    "reviewer_approves": "the reviewer cannot also approve: a third person must "
    "([exports] min_people)",
    "not_requester": "only the requester can withdraw or resubmit a request",
    "not_deliverer": "handing over footage is acceptance work (admin or staff)",
    "not_viewer": "only the requester can open an approved viewing",
    "not_a_viewing": "this request is for a copy, not a viewing",
    "viewing_expired": "the viewing has expired",
    "not_downloader": "only the requester, reviewer, approver or an admin can download the package",
    "out_of_scope": "counter {counter!r} is not among your counters",
}


class ExportForbidden(Exception):
    """The caller may not take this step on this request: reason is a key of REASONS, the
    message its sentence."""

    code: ClassVar[str] = "export_forbidden"

    def __init__(self, reason: str, **values: object) -> None:
        super().__init__(REASONS[reason].format(**values))
        self.reason = reason
        self.values = values


class ExportStateConflict(Conflict):
    """The request is not in a state that allows the step."""

    code: ClassVar[str] = "export_state"


class PackageMissing(Conflict):
    """The request has no package to download (not built yet, or its file is gone)."""

    code: ClassVar[str] = "package_missing"


@dataclass(frozen=True)
class ExportActor:
    """Who takes a step: name, kind (user, token, system), role, counter scope (None: all)
    and the permissions granted beside the role."""

    name: str
    kind: str
    role: str
    counters: frozenset[str] | None = None
    permissions: frozenset[str] = frozenset()
    remote: str | None = None

    def may_see_counter(self, code: str) -> bool:
        return self.counters is None or code in self.counters

    def audit(self, action: str, target: str, detail: dict[str, object]) -> AuditIn:
        return AuditIn(
            actor=self.name,
            actor_kind=self.kind,
            action=action,
            outcome="ok",
            remote=self.remote,
            target=target,
            detail=detail,
        )


SYSTEM_ACTOR: Final = ExportActor("surveil", "system", "system")


@dataclass(frozen=True)
class ExportSettings:
    """[exports] in µs, with the receipt padding a request from a receipt uses."""

    min_people: int = 3
    view_us: int = 24 * HOUR_US
    max_window_us: int = 24 * HOUR_US
    receipts: ReceiptSettings = field(default_factory=ReceiptSettings)


def export_settings(cfg: ExportsConfig, receipts: ReceiptSettings) -> ExportSettings:
    return ExportSettings(
        min_people=cfg.min_people,
        view_us=int(cfg.view_hours * HOUR_US),
        max_window_us=int(cfg.max_window_hours * HOUR_US),
        receipts=receipts,
    )


@dataclass(frozen=True)
class ExportRequestIn:
    """A new request: from a receipt (receipt_no; its counter's cameras over its window with
    the configured pre/post roll), or for a counter's cameras and a window."""

    kind: str
    party: ExportParty
    purpose: str
    legal_basis: str
    receipt_no: str | None = None
    counter: str | None = None
    cameras: tuple[str, ...] = ()  # empty: every camera of the counter
    start_us: int | None = None
    end_us: int | None = None
    case_no: str | None = None


@dataclass(frozen=True)
class ExportDetail:
    """A request with its custody chain, its holds and what the caller may do now."""

    request: ExportRecord
    steps: tuple[ExportStepRecord, ...]
    holds: tuple[HoldRecord, ...]
    actions: frozenset[str]

    def step_actor(self, step: str) -> str | None:
        """Who took the last step of that kind (e.g. the reviewer), or None."""
        return last_actor(self.steps, step)


def last_actor(steps: Sequence[ExportStepRecord], step: str) -> str | None:
    """Who took the last step of that kind in a custody chain, or None."""
    return next((s.actor for s in reversed(steps) if s.step == step), None)


def target(request_id: int) -> str:
    return f"export {request_id}"


def package_path(data_dir: Path, request: ExportRecord) -> Path | None:
    if request.package_file is None:
        return None
    return Path(data_dir) / EXPORTS_DIR / request.package_file


# --- validation -----------------------------------------------------------------------


def _text(value: str | None, what: str, *, required: bool = True, one_line: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRecord(f"the {what} is required")
    if len(value) > TEXT_LIMITS[what]:
        raise InvalidRecord(f"the {what} is longer than {TEXT_LIMITS[what]} characters")
    check_text(value, f"the {what}", one_line=one_line)
    return value


def _clean(rin: ExportRequestIn) -> ExportRequestIn:
    if rin.kind not in EXPORT_KINDS:
        raise InvalidRecord(f"kind must be one of {', '.join(EXPORT_KINDS)}, not {rin.kind!r}")
    party = ExportParty(
        name=_text(rin.party.name, "party name"),
        id_type=_text(rin.party.id_type, "party ID type"),
        id_number=_text(rin.party.id_number, "party ID number"),
        relation=_text(rin.party.relation, "party relation"),
    )
    case_no = _text(rin.case_no, "case number", required=False) or None
    return replace(
        rin,
        party=party,
        purpose=_text(rin.purpose, "purpose", one_line=False),
        legal_basis=_text(rin.legal_basis, "legal basis", one_line=False),
        case_no=case_no,
    )


def _reason(reason: str | None, *, required: bool) -> str | None:
    return _text(reason, "reason", required=required, one_line=False) or None


# --- who may do what -------------------------------------------------------------------


def _may_see(actor: ExportActor, r: ExportRecord) -> bool:
    if actor.role in OVERSEERS or actor.kind == "system":
        return True
    return actor.role in FILERS and actor.may_see_counter(r.counter)


def _why_not(
    step: str,
    actor: ExportActor,
    r: ExportRecord,
    steps: tuple[ExportStepRecord, ...],
    settings: ExportSettings,
    now_us: int,
) -> str | None:
    """Why actor may not take step on r now (a key of REASONS), or None when they may.
    States are checked first (ExportStateConflict), so the reason is about the person."""
    reviewer, approver = last_actor(steps, "review"), last_actor(steps, "approve")
    requester = actor.name == r.created_by
    if not actor.may_see_counter(r.counter):
        return "out_of_scope"
    if step in ("review", "return"):
        if REVIEW not in actor.permissions or actor.kind != "user":
            return "needs_review"
        if requester:
            return "own_review"
    elif step in ("approve", "reject"):
        if APPROVE not in actor.permissions or actor.kind != "user":
            return "needs_approve"
        if requester:
            return "own_approve"
        if settings.min_people >= 3 and actor.name == reviewer:
            return "reviewer_approves"
    elif step in ("withdraw", "resubmit"):
        if not requester:
            return "not_requester"
    elif step == "deliver":
        if actor.role not in FILERS:
            return "not_deliverer"
    elif step == "view":
        if not requester:
            return "not_viewer"
        if r.kind != "view":
            return "not_a_viewing"
        if r.view_until_us is None or now_us >= r.view_until_us:
            return "viewing_expired"
    elif step == "download" and (
        actor.role != "admin" and actor.name not in (r.created_by, reviewer, approver)
    ):
        return "not_downloader"
    return None


def _state_ok(step: str, r: ExportRecord) -> bool:
    if step == "view":
        return r.state in ("approved", "delivered") and r.kind == "view"
    if step == "download":
        return r.state in ("packaged", "delivered") and r.package_state == "ready"
    if step == "deliver":
        return (r.kind == "copy" and r.state == "packaged") or (
            r.kind == "view" and r.state == "approved"
        )
    return r.state in _FROM[step]


def allowed_actions(
    actor: ExportActor,
    r: ExportRecord,
    steps: tuple[ExportStepRecord, ...],
    settings: ExportSettings,
    now_us: int,
) -> frozenset[str]:
    """Every step actor may take on r now (what the page shows as buttons)."""
    out = set()
    for step in (*_FROM, "view", "download"):
        if step == "package":
            continue  # the packager's
        if _state_ok(step, r) and _why_not(step, actor, r, steps, settings, now_us) is None:
            out.add(step)
    return frozenset(out)


def _check(
    step: str,
    actor: ExportActor,
    r: ExportRecord,
    steps: tuple[ExportStepRecord, ...],
    settings: ExportSettings,
    now_us: int,
) -> None:
    if not _may_see(actor, r):
        raise ExportNotFound(f"no export request {r.id}")
    if not _state_ok(step, r):
        raise ExportStateConflict(f"export request {r.id} is {r.state}: no {step} step now")
    why = _why_not(step, actor, r, steps, settings, now_us)
    if why is not None:
        raise ExportForbidden(why, counter=r.counter)


# --- reads -------------------------------------------------------------------------------


async def get_export(
    db: Database, request_id: int, actor: ExportActor, settings: ExportSettings, now_us: int
) -> ExportDetail:
    """The request with its custody chain; ExportNotFound if none or not the caller's to see
    (staff of another counter learn nothing, not even that it exists)."""
    async with db.read() as s:
        r = await q.get_request(s, request_id)
        if not _may_see(actor, r):
            raise ExportNotFound(f"no export request {request_id}")
        return await _detail(s, r, actor, settings, now_us)


async def list_exports(
    db: Database,
    actor: ExportActor,
    *,
    view: str = "all",
    states: tuple[str, ...] = (),
    before_id: int | None = None,
    limit: int = 50,
    settings: ExportSettings | None = None,
) -> list[ExportRecord]:
    """Requests the caller may see, newest first. view: all, mine (filed by the caller),
    to_review (submitted, and the caller may review), to_approve (reviewed, may approve)."""
    if view not in LIST_VIEWS:
        raise InvalidRecord(f"view must be one of {', '.join(LIST_VIEWS)}, not {view!r}")
    for st in states:
        if st not in EXPORT_STATES:
            raise InvalidRecord(f"state must be one of {', '.join(EXPORT_STATES)}, not {st!r}")
    if not 1 <= limit <= 500:
        raise InvalidRecord("limit must be between 1 and 500")
    if actor.role not in OVERSEERS | FILERS:
        return []
    counters = None if actor.role in OVERSEERS else actor.counters
    f = ExportFilter(counters=counters, states=states, before_id=before_id, limit=limit)
    if view == "mine":
        f = replace(f, created_by=actor.name)
    elif view in ("to_review", "to_approve"):
        wanted = "submitted" if view == "to_review" else "reviewed"
        perm = REVIEW if view == "to_review" else APPROVE
        if perm not in actor.permissions or (states and wanted not in states):
            return []
        f = replace(f, states=(wanted,))
    async with db.read() as s:
        found = await q.list_requests(s, f)
        if view in ("to_review", "to_approve"):
            # Drop those the caller may not act on (their own; for an approver, the ones
            # they reviewed), so the list is exactly their work.
            step = "review" if view == "to_review" else "approve"
            chains = await q.steps_for_requests(s, [r.id for r in found])
            rules = settings or ExportSettings()
            return [
                r for r in found if _why_not(step, actor, r, tuple(chains[r.id]), rules, 0) is None
            ]
    return found


async def pending_work(
    db: Database, actor: ExportActor, settings: ExportSettings | None = None
) -> dict[str, int]:
    """How many requests wait for the caller: {"to_review": n, "to_approve": m} (the
    dashboard's box); zero for what the caller may not do."""
    out = {"to_review": 0, "to_approve": 0}
    for view in out:
        perm = REVIEW if view == "to_review" else APPROVE
        if perm in actor.permissions:
            found = await list_exports(db, actor, view=view, limit=500, settings=settings)
            out[view] = len(found)
    return out


# --- writes ------------------------------------------------------------------------------


async def _window_from_receipt(
    s: AsyncSession, receipt_no: str, now_us: int, settings: ReceiptSettings
) -> tuple[int, int, int, int, list[int]]:
    """(counter id, receipt id, start, end, camera ids) of a receipt's holds."""
    receipt = await receipt_queries.get_receipt(s, receipt_no)
    holds = await hold_queries.holds_for_receipt(s, receipt.id)
    counter = await counter_queries.get_counter(s, receipt.counter)
    if not holds:
        raise InvalidRecord(
            f"receipt {receipt.receipt_no!r} holds no footage: its counter "
            "had no camera when it was accepted"
        )
    start = min(h.start_us for h in holds)
    end = min(max(hold_end_us(h.end_us, receipt, now_us, settings) for h in holds), now_us)
    if end <= start:
        raise InvalidRecord(f"receipt {receipt.receipt_no!r} has no footage yet")
    return counter.id, receipt.id, start, end, sorted({h.camera_id for h in holds})


async def create_export(
    db: Database, rin: ExportRequestIn, actor: ExportActor, settings: ExportSettings, now_us: int
) -> ExportDetail:
    """File a request, hold its footage, audit it (export.submit). Raises InvalidRecord,
    ReceiptNotFound, CounterNotFound, CameraNotFound or ExportForbidden, and then nothing
    is written."""
    if actor.role not in FILERS:
        raise ExportForbidden("not_filer")
    rin = _clean(rin)

    async def write(s: AsyncSession) -> ExportDetail:
        if rin.receipt_no is not None:
            if rin.counter is not None or rin.cameras or rin.start_us is not None:
                raise InvalidRecord("give a receipt, or a counter and a window, not both")
            counter_id, receipt_id, start, end, camera_ids = await _window_from_receipt(
                s, rin.receipt_no, now_us, settings.receipts
            )
            receipt = await receipt_queries.get_receipt(s, rin.receipt_no)
            code = receipt.counter
        else:
            if rin.counter is None or rin.start_us is None or rin.end_us is None:
                raise InvalidRecord("give a receipt number, or a counter with start and end")
            counter = await counter_queries.get_counter(s, rin.counter)
            code, counter_id, receipt_id = counter.code, counter.id, None
            start, end = rin.start_us, rin.end_us
            if end <= start:
                raise InvalidRecord("the window must end after it starts")
            if end > now_us:
                raise InvalidRecord("the window ends in the future: no footage exists there yet")
            if end - start > settings.max_window_us:
                hours = settings.max_window_us / HOUR_US
                raise InvalidRecord(f"a request may cover at most {hours:g} hours")
            linked = dict(await counter_queries.cameras_for_counter(s, counter_id))
            if rin.cameras:
                camera_ids = []
                for name in dict.fromkeys(rin.cameras):
                    cam = await get_camera(s, name)
                    if cam.id not in linked:
                        raise InvalidRecord(f"camera {name!r} does not cover counter {code!r}")
                    camera_ids.append(cam.id)
            else:
                camera_ids = sorted(linked)
            if not camera_ids:
                raise InvalidRecord(f"counter {code!r} has no camera")
        if not actor.may_see_counter(code):
            raise ExportForbidden("out_of_scope", counter=code)
        row = ExportRow(
            kind=rin.kind,
            counter_id=counter_id,
            receipt_id=receipt_id,
            case_no=rin.case_no or (rin.receipt_no if rin.receipt_no else None),
            camera_ids=tuple(camera_ids),
            start_us=start,
            end_us=end,
            party=rin.party,
            purpose=rin.purpose,
            legal_basis=rin.legal_basis,
            created_by=actor.name,
        )
        record = await q.create_request(s, row, now_us)
        for cid in dict.fromkeys(camera_ids):
            await hold_queries.add_hold(
                s,
                cid,
                start,
                end,
                f"export request {record.id}",
                kind="export",
                created_us=now_us,
                created_by=actor.name,
                export_id=record.id,
            )
        await record_step(
            s,
            record,
            "submit",
            actor,
            now_us,
            detail={
                "kind": record.kind,
                "counter": record.counter,
                "receipt": record.receipt_no,
                "cameras": list(record.cameras),
                "start_us": start,
                "end_us": end,
                "party": record.party.name,
            },
        )
        return await _detail(s, record, actor, settings, now_us)

    return await db.write(write)


async def record_step(
    s: AsyncSession,
    r: ExportRecord,
    step: str,
    actor: ExportActor,
    now_us: int,
    *,
    reason: str | None = None,
    recipient: str | None = None,
    method: str | None = None,
    to_state: str | None = None,
    detail: dict[str, object] | None = None,
) -> ExportStepRecord:
    """The audit row and the custody row of one step, in the caller's transaction (the
    packager records its own step with it)."""
    d: dict[str, object] = {"state": {"from": r.state, "to": to_state or r.state}}
    if reason is not None:
        d["reason"] = reason
    if recipient is not None:
        d["recipient"] = recipient
    if method is not None:
        d["method"] = method
    d.update(detail or {})
    audit = await add_audit(s, actor.audit(f"export.{step}", target(r.id), d), now_us)
    return await q.add_step(
        s,
        r.id,
        step,
        actor=actor.name,
        actor_kind=actor.kind,
        actor_role=actor.role,
        at_us=now_us,
        audit_id=audit.id,
        reason=reason,
        recipient=recipient,
        method=method,
    )


async def _detail(
    s: AsyncSession, r: ExportRecord, actor: ExportActor, settings: ExportSettings, now_us: int
) -> ExportDetail:
    """r as the caller sees it: its custody chain, its holds, what the caller may do now."""
    steps = tuple(await q.steps_for(s, r.id))
    holds = tuple(await hold_queries.holds_for_export(s, r.id))
    return ExportDetail(r, steps, holds, allowed_actions(actor, r, steps, settings, now_us))


Change = Callable[[AsyncSession, ExportRecord], Awaitable[None]]


async def _transition(
    db: Database,
    request_id: int,
    step: str,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
    *,
    to_state: str | None,
    reason: str | None = None,
    recipient: str | None = None,
    method: str | None = None,
    change: Change | None = None,
    detail: dict[str, object] | None = None,
) -> ExportDetail:
    """Check and take one step in one transaction: state, audit row, custody row."""

    async def write(s: AsyncSession) -> ExportDetail:
        r = await q.get_request(s, request_id, lock=True)
        steps = tuple(await q.steps_for(s, request_id))
        _check(step, actor, r, steps, settings, now_us)
        if to_state is not None:
            await q.set_state(s, r.id, to_state, now_us)
        if change is not None:
            await change(s, r)
        await record_step(
            s,
            r,
            step,
            actor,
            now_us,
            reason=reason,
            recipient=recipient,
            method=method,
            to_state=to_state,
            detail=detail,
        )
        return await _detail(s, await q.get_request(s, request_id), actor, settings, now_us)

    return await db.write(write)


async def review_export(
    db: Database,
    request_id: int,
    decision: str,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """The reviewer's decision: pass (→ reviewed) or return (→ returned, a reason needed)."""
    if decision not in ("pass", "return"):
        raise InvalidRecord(f"decision must be pass or return, not {decision!r}")
    if decision == "pass":
        return await _transition(
            db,
            request_id,
            "review",
            actor,
            settings,
            now_us,
            to_state="reviewed",
            reason=_reason(reason, required=False),
            detail={"decision": "pass"},
        )
    return await _transition(
        db,
        request_id,
        "return",
        actor,
        settings,
        now_us,
        to_state="returned",
        reason=_reason(reason, required=True),
        detail={"decision": "returned"},
    )


async def resubmit_export(
    db: Database,
    request_id: int,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """The requester answers a return (→ submitted, for review again)."""
    return await _transition(
        db,
        request_id,
        "resubmit",
        actor,
        settings,
        now_us,
        to_state="submitted",
        reason=_reason(reason, required=False),
    )


async def approve_export(
    db: Database,
    request_id: int,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """Approve (→ approved): a copy is queued for packaging, a viewing is unlocked for
    [exports] view_hours."""

    async def change(s: AsyncSession, r: ExportRecord) -> None:
        if r.kind == "view":
            await q.set_state(s, r.id, "approved", now_us, view_until_us=now_us + settings.view_us)

    return await _transition(
        db,
        request_id,
        "approve",
        actor,
        settings,
        now_us,
        to_state="approved",
        reason=_reason(reason, required=False),
        change=change,
        detail={"decision": "approved"},
    )


async def reject_export(
    db: Database,
    request_id: int,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """Reject (→ rejected, a reason needed); its holds are released."""
    why = _reason(reason, required=True)

    async def change(s: AsyncSession, r: ExportRecord) -> None:
        await hold_queries.release_export_holds(s, r.id, actor.name, "export rejected", now_us)

    return await _transition(
        db,
        request_id,
        "reject",
        actor,
        settings,
        now_us,
        to_state="rejected",
        reason=why,
        change=change,
        detail={"decision": "rejected"},
    )


async def withdraw_export(
    db: Database,
    request_id: int,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """The requester withdraws before approval (→ withdrawn); its holds are released."""

    async def change(s: AsyncSession, r: ExportRecord) -> None:
        await hold_queries.release_export_holds(s, r.id, actor.name, "export withdrawn", now_us)

    return await _transition(
        db,
        request_id,
        "withdraw",
        actor,
        settings,
        now_us,
        to_state="withdrawn",
        reason=_reason(reason, required=False),
        change=change,
    )


async def deliver_export(
    db: Database,
    request_id: int,
    recipient: str,
    method: str,
    reason: str | None,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> ExportDetail:
    """Record the hand-over (→ delivered): who handed it (the caller) to whom, how, when.
    A request made from a receipt releases its export holds: the case hold takes over."""
    to = _text(recipient, "recipient")
    how = _text(method, "method")

    async def change(s: AsyncSession, r: ExportRecord) -> None:
        if r.receipt_no is not None:
            await hold_queries.release_export_holds(
                s,
                r.id,
                actor.name,
                "delivered; the receipt's case hold keeps the footage",
                now_us,
            )

    return await _transition(
        db,
        request_id,
        "deliver",
        actor,
        settings,
        now_us,
        to_state="delivered",
        reason=_reason(reason, required=False),
        recipient=to,
        method=how,
        change=change,
    )


async def open_viewing(
    db: Database, request_id: int, actor: ExportActor, settings: ExportSettings, now_us: int
) -> ExportDetail:
    """Audit (export.view) the requester opening an approved viewing, and return it; the
    caller then plays exactly the request's cameras over its window."""
    return await _transition(db, request_id, "view", actor, settings, now_us, to_state=None)


async def check_viewing(
    db: Database, request_id: int, actor: ExportActor, settings: ExportSettings, now_us: int
) -> ExportRecord:
    """The request, if actor may play its footage now (an open viewing of theirs); raises as
    open_viewing would, without writing: the clip route asks this on every Range request,
    while the viewing itself was audited once by open_viewing."""
    async with db.read() as s:
        r = await q.get_request(s, request_id)
        steps = tuple(await q.steps_for(s, request_id))
    _check("view", actor, r, steps, settings, now_us)
    return r


async def open_download(
    db: Database,
    data_dir: Path,
    request_id: int,
    actor: ExportActor,
    settings: ExportSettings,
    now_us: int,
) -> tuple[ExportDetail, Path]:
    """Audit (export.download) one download of the package and return its path; raises
    PackageMissing when its file is gone (and then nothing is written)."""
    async with db.read() as s:
        r = await q.get_request(s, request_id)
    path = package_path(data_dir, r)
    if r.package_state == "ready" and (path is None or not path.is_file()):
        raise PackageMissing(f"the package of export request {request_id} is gone from disk")
    detail = await _transition(
        db,
        request_id,
        "download",
        actor,
        settings,
        now_us,
        to_state=None,
        detail={"sha256": r.package_sha256},
    )
    assert path is not None  # _check refused a request without a ready package
    return detail, path
