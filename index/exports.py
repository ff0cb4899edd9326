"""Export requests, their cameras and their custody chain: the rows, no policy.

Who may take which step, and in which state, is decided in surveil/exports.py; these
functions only read and write what they are told, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import RecordNotFound
from index.models import Camera, Counter, ExportCamera, ExportRequest, ExportStep, Receipt
from index.records import ExportParty, ExportRecord, ExportStepRecord


class ExportNotFound(RecordNotFound):
    """No export request with that id (or none the caller may see)."""

    code = "export_not_found"


@dataclass(frozen=True)
class ExportRow:
    """What a new request stores (validated above this layer)."""

    kind: str
    counter_id: int
    receipt_id: int | None
    case_no: str | None
    camera_ids: tuple[int, ...]
    start_us: int
    end_us: int
    party: ExportParty
    purpose: str
    legal_basis: str
    created_by: str


@dataclass(frozen=True)
class ExportFilter:
    """Which requests a list returns. counters None: every counter."""

    counters: frozenset[str] | None = None
    states: tuple[str, ...] = ()
    created_by: str | None = None
    before_id: int | None = None
    limit: int = 50


def _select() -> Select[ExportRequest, str, str]:
    return (
        select(ExportRequest, Counter.code, Receipt.receipt_no)
        .join(Counter, Counter.id == ExportRequest.counter_id)
        .outerjoin(Receipt, Receipt.id == ExportRequest.receipt_id)
    )


async def _cameras(s: AsyncSession, ids: Collection[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        stmt = (
            select(ExportCamera.request_id, Camera.name)
            .join(Camera, Camera.id == ExportCamera.camera_id)
            .where(ExportCamera.request_id.in_(list(ids)))
            .order_by(Camera.name)
        )
        for rid, name in (await s.execute(stmt)).all():
            out[int(rid)].append(str(name))
    return {k: tuple(v) for k, v in out.items()}


def _record(
    row: ExportRequest, counter: str, receipt_no: str | None, cameras: tuple[str, ...]
) -> ExportRecord:
    return ExportRecord(
        id=row.id,
        state=row.state,
        kind=row.kind,
        counter=counter,
        receipt_no=receipt_no,
        case_no=row.case_no,
        cameras=cameras,
        start_us=row.start_us,
        end_us=row.end_us,
        party=ExportParty(
            row.party_name, row.party_id_type, row.party_id_number, row.party_relation
        ),
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        created_us=row.created_us,
        created_by=row.created_by,
        updated_us=row.updated_us,
        view_until_us=row.view_until_us,
        package_state=row.package_state,
        package_file=row.package_file,
        package_bytes=row.package_bytes,
        package_sha256=row.package_sha256,
        package_error=row.package_error,
    )


async def create_request(s: AsyncSession, new: ExportRow, now_us: int) -> ExportRecord:
    """Insert a request in state submitted, with its cameras."""
    row = ExportRequest(
        state="submitted",
        kind=new.kind,
        counter_id=new.counter_id,
        receipt_id=new.receipt_id,
        case_no=new.case_no,
        start_us=new.start_us,
        end_us=new.end_us,
        party_name=new.party.name,
        party_id_type=new.party.id_type,
        party_id_number=new.party.id_number,
        party_relation=new.party.relation,
        purpose=new.purpose,
        legal_basis=new.legal_basis,
        created_us=now_us,
        created_by=new.created_by,
        updated_us=now_us,
        package_state="none",
    )
    s.add(row)
    await s.flush()
    for cid in dict.fromkeys(new.camera_ids):
        s.add(ExportCamera(request_id=row.id, camera_id=cid))
    await s.flush()
    return await get_request(s, row.id)


async def get_request(s: AsyncSession, request_id: int, *, lock: bool = False) -> ExportRecord:
    """The request; ExportNotFound. lock: FOR UPDATE (PostgreSQL), so two steps on one
    request serialize instead of both passing the state check."""
    stmt = _select().where(ExportRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update(of=ExportRequest)
    row = (await s.execute(stmt)).first()
    if row is None:
        raise ExportNotFound(f"no export request {request_id}")
    cams = await _cameras(s, [request_id])
    return _record(row[0], row[1], row[2], cams[request_id])


async def list_requests(s: AsyncSession, f: ExportFilter) -> list[ExportRecord]:
    """Requests matching f, newest first."""
    stmt = _select()
    if f.counters is not None:
        stmt = stmt.where(Counter.code.in_(sorted(f.counters)))
    if f.states:
        stmt = stmt.where(ExportRequest.state.in_(f.states))
    if f.created_by is not None:
        stmt = stmt.where(ExportRequest.created_by == f.created_by)
    if f.before_id is not None:
        stmt = stmt.where(ExportRequest.id < f.before_id)
    rows = (await s.execute(stmt.order_by(ExportRequest.id.desc()).limit(f.limit))).all()
    cams = await _cameras(s, [r[0].id for r in rows])
    return [_record(r[0], r[1], r[2], cams[r[0].id]) for r in rows]


async def set_state(
    s: AsyncSession,
    request_id: int,
    state: str,
    now_us: int,
    *,
    view_until_us: int | None = None,
    package_state: str | None = None,
) -> None:
    values: dict[str, object] = {"state": state, "updated_us": now_us}
    if view_until_us is not None:
        values["view_until_us"] = view_until_us
    if package_state is not None:
        values["package_state"] = package_state
    await s.execute(update(ExportRequest).where(ExportRequest.id == request_id).values(**values))


async def set_package(
    s: AsyncSession,
    request_id: int,
    package_state: str,
    *,
    file: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    error: str | None = None,
) -> None:
    """Record a build's outcome (or its start: building, no file)."""
    await s.execute(
        update(ExportRequest)
        .where(ExportRequest.id == request_id)
        .values(
            package_state=package_state,
            package_file=file,
            package_bytes=size,
            package_sha256=sha256,
            package_error=error,
        )
    )


async def to_package(s: AsyncSession) -> list[int]:
    """Approved copy requests whose package is not built yet (or whose build was cut off by
    a restart), oldest first."""
    stmt = (
        select(ExportRequest.id)
        .where(
            ExportRequest.state == "approved",
            ExportRequest.kind == "copy",
            ExportRequest.package_state.in_(("none", "building")),
        )
        .order_by(ExportRequest.id)
    )
    return [int(i) for i in (await s.execute(stmt)).scalars()]


async def failed_packages(s: AsyncSession) -> list[int]:
    """Approved copy requests whose last build failed (retried), oldest first."""
    stmt = (
        select(ExportRequest.id)
        .where(ExportRequest.state == "approved", ExportRequest.package_state == "failed")
        .order_by(ExportRequest.id)
    )
    return [int(i) for i in (await s.execute(stmt)).scalars()]


async def add_step(
    s: AsyncSession,
    request_id: int,
    step: str,
    *,
    actor: str,
    actor_kind: str,
    actor_role: str,
    at_us: int,
    audit_id: int,
    reason: str | None = None,
    recipient: str | None = None,
    method: str | None = None,
) -> ExportStepRecord:
    row = ExportStep(
        request_id=request_id,
        step=step,
        actor=actor[:200],
        actor_kind=actor_kind,
        actor_role=actor_role,
        at_us=at_us,
        reason=reason,
        recipient=recipient,
        method=method,
        audit_id=audit_id,
    )
    s.add(row)
    await s.flush()
    return _step(row)


def _step(row: ExportStep) -> ExportStepRecord:
    return ExportStepRecord(
        id=row.id,
        request_id=row.request_id,
        step=row.step,
        actor=row.actor,
        actor_kind=row.actor_kind,
        actor_role=row.actor_role,
        at_us=row.at_us,
        reason=row.reason,
        recipient=row.recipient,
        method=row.method,
        audit_id=row.audit_id,
    )


async def steps_for(s: AsyncSession, request_id: int) -> list[ExportStepRecord]:
    """The request's custody chain, oldest first."""
    return (await steps_for_requests(s, [request_id]))[request_id]


async def steps_for_requests(
    s: AsyncSession, request_ids: Collection[int]
) -> dict[int, list[ExportStepRecord]]:
    """Each request's custody chain, oldest first, in one query (lists of requests)."""
    out: dict[int, list[ExportStepRecord]] = {i: [] for i in request_ids}
    if out:
        stmt = (
            select(ExportStep).where(ExportStep.request_id.in_(list(out))).order_by(ExportStep.id)
        )
        for row in (await s.execute(stmt)).scalars():
            out[row.request_id].append(_step(row))
    return out
