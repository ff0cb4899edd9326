"""Retention's rows: rules, passes, the segments a pass may delete, and the deletion protocol.

A segment file is deleted in three steps (docs/design/storage.md): mark_garbage (the row
becomes 'garbage', a deletions row names the pass and the policy, and its leaf enters the
Merkle log, in one transaction), then the caller unlinks the file and fsyncs its directory,
then finish_deletions (the row becomes 'deleted'; the deletion is finished). A crash between
the steps leaves 'garbage' rows, which startup finishes. The segment row is never removed:
it is the tombstone the log and verify refer to.

Eligibility is one SQL condition, so the plan, the pass and the re-check inside the marking
transaction agree: sealed or recovered (never open, missing or damaged, and a damaged file is
what scrub found), not overlapped by an active hold, and, when transfer is configured,
confirmed in central storage.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index import merkle
from index.errors import InvalidRecord
from index.holds import segment_held
from index.models import (
    Camera,
    CameraCounter,
    Counter,
    Deletion,
    LogLeaf,
    RetentionPass,
    RetentionRule,
    Segment,
    Transfer,
)
from index.records import (
    RETENTION_SCOPES,
    RETENTION_TRIGGERS,
    Decision,
    DeletionRecord,
    RetentionPassRecord,
    RetentionRuleRecord,
    SegmentRecord,
)
from index.segments import _record as _segment_record
from index.segments import _with_camera
from tlog import leaves

# Only footage that was sealed can be deleted under a policy; open, missing and damaged
# segments never can (a damaged file is evidence of a fault, and kept).
DELETABLE_STATES = leaves.LOGGED_SEGMENT_STATES
PLAN_PAGE_MAX = 10_000


# --- rules ---------------------------------------------------------------------------


def _rule(row: RetentionRule) -> RetentionRuleRecord:
    return RetentionRuleRecord(
        id=row.id,
        scope=row.scope,
        ref=row.ref,
        retain_days=row.retain_days,
        updated_us=row.updated_us,
        updated_by=row.updated_by,
    )


async def list_rules(s: AsyncSession) -> list[RetentionRuleRecord]:
    stmt = select(RetentionRule).order_by(RetentionRule.scope, RetentionRule.ref)
    return [_rule(r) for r in (await s.scalars(stmt)).all()]


async def set_rule(
    s: AsyncSession, scope: str, ref: str, retain_days: int, by: str, now_us: int
) -> tuple[RetentionRuleRecord, RetentionRuleRecord | None]:
    """Insert or replace the rule of (scope, ref); (the rule, the one it replaced)."""
    if scope not in RETENTION_SCOPES:
        raise InvalidRecord(f"retention scope {scope!r} is not one of {RETENTION_SCOPES}")
    if (scope == "installation") != (ref == ""):
        raise InvalidRecord("the installation rule has no ref; a counter or camera rule needs one")
    if not 1 <= retain_days <= 36_500:
        raise InvalidRecord("retain_days must be between 1 and 36500")
    if scope == "counter":
        found = await s.scalar(select(Counter.id).where(Counter.code == ref))
        if found is None:
            raise InvalidRecord(f"no counter with code {ref!r}")
    elif scope == "camera":
        found = await s.scalar(
            select(Camera.id).where(Camera.name == ref, Camera.deleted_us.is_(None))
        )
        if found is None:
            raise InvalidRecord(f"no camera named {ref!r}")
    row = await s.scalar(
        select(RetentionRule).where(RetentionRule.scope == scope, RetentionRule.ref == ref)
    )
    before = None if row is None else _rule(row)
    if row is None:
        row = RetentionRule(scope=scope, ref=ref)
        s.add(row)
    row.retain_days = retain_days
    row.updated_us = now_us
    row.updated_by = by
    await s.flush()
    return _rule(row), before


async def remove_rule(s: AsyncSession, scope: str, ref: str) -> RetentionRuleRecord | None:
    """Remove the rule of (scope, ref): the next wider one applies again; the removed rule."""
    row = await s.scalar(
        select(RetentionRule).where(RetentionRule.scope == scope, RetentionRule.ref == ref)
    )
    if row is None:
        return None
    before = _rule(row)
    await s.execute(delete(RetentionRule).where(RetentionRule.id == row.id))
    return before


async def camera_scopes(s: AsyncSession) -> list[tuple[int, str, tuple[str, ...]]]:
    """(camera id, name, counter codes) of every camera that has footage or is configured."""
    stmt = (
        select(Camera.id, Camera.name, Counter.code)
        .outerjoin(CameraCounter, CameraCounter.camera_id == Camera.id)
        .outerjoin(Counter, Counter.id == CameraCounter.counter_id)
        .order_by(Camera.id, Counter.code)
    )
    out: dict[int, tuple[str, list[str]]] = {}
    for cam_id, name, code in (await s.execute(stmt)).all():
        entry = out.setdefault(cam_id, (name, []))
        if code is not None:
            entry[1].append(code)
    return [(cid, name, tuple(codes)) for cid, (name, codes) in out.items()]


# --- eligibility -----------------------------------------------------------------------


def _confirmed() -> ColumnElement[bool]:
    return exists().where(Transfer.segment_id == Segment.id, Transfer.state == "confirmed")


def eligible_clause(
    now_us: int, require_central: bool, ended_by_us: int | None = None
) -> ColumnElement[bool]:
    """The segments of the enclosing query that a policy may delete at now_us; ended_by_us:
    only those that ended by then (the age rule), with the redundant bounds that let the
    planners stop early: such a segment also started by then (SQLite's (camera_id,
    start_us) scan ends there instead of at the camera's newest segment), and only holds
    that started before it can overlap it. bench/storage.py measured both at 10 M."""
    if ended_by_us is not None:
        clause = and_(
            Segment.state.in_(DELETABLE_STATES),
            Segment.end_us <= ended_by_us,
            Segment.start_us <= ended_by_us,
            ~segment_held(now_us, ended_by_us),
        )
    else:
        clause = and_(Segment.state.in_(DELETABLE_STATES), ~segment_held(now_us))
    if require_central:
        clause = and_(clause, _confirmed())
    return clause


async def eligible_segments(
    s: AsyncSession,
    *,
    now_us: int,
    require_central: bool,
    camera_id: int | None = None,
    ended_before_us: int | None = None,
    volume: str | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 1000,
) -> list[SegmentRecord]:
    """Deletable segments oldest first (by start_us, id), after the keyset `after`
    (start_us, id); ended_before_us: only those that ended by then (the age rule)."""
    if not 1 <= limit <= PLAN_PAGE_MAX:
        raise InvalidRecord(f"limit must be between 1 and {PLAN_PAGE_MAX}")
    stmt = _with_camera().where(eligible_clause(now_us, require_central, ended_before_us))
    if camera_id is not None:
        stmt = stmt.where(Segment.camera_id == camera_id)
    if volume is not None:
        stmt = stmt.where(Segment.volume == volume)
    if after is not None:
        stmt = stmt.where(
            (Segment.start_us > after[0])
            | ((Segment.start_us == after[0]) & (Segment.id > after[1]))
        )
    stmt = stmt.order_by(Segment.start_us, Segment.id).limit(limit)
    return [_segment_record(row, cam, leaf) for row, cam, leaf in await s.execute(stmt)]


async def kept_counts(
    s: AsyncSession,
    *,
    camera_id: int,
    ended_before_us: int,
    now_us: int,
    require_central: bool,
) -> dict[str, tuple[int, int]]:
    """Of the camera's segments that ended by ended_before_us and were not deleted: how many
    (and how many bytes) are kept, by reason: held, not_transferred, damaged, missing, open.
    A segment kept for several reasons counts under the first."""
    base = and_(
        Segment.camera_id == camera_id,
        Segment.end_us <= ended_before_us,
        Segment.start_us <= ended_before_us,  # redundant: bounds the index scan
        Segment.state.not_in(("garbage", "deleted")),
    )
    reasons: list[tuple[str, ColumnElement[bool]]] = [
        ("damaged", Segment.state == "damaged"),
        ("missing", Segment.state == "missing"),
        ("open", Segment.state == "open"),
        ("held", segment_held(now_us, ended_before_us)),
    ]
    if require_central:
        reasons.append(("not_transferred", ~_confirmed()))
    out: dict[str, tuple[int, int]] = {}
    excluded: list[ColumnElement[bool]] = []
    for name, cond in reasons:
        stmt = select(func.count(Segment.id), func.coalesce(func.sum(Segment.bytes), 0)).where(
            base, cond, *[~e for e in excluded]
        )
        n, size = (await s.execute(stmt)).one()
        if n:
            out[name] = (int(n), int(size))
        excluded.append(cond)
    return out


# --- passes ----------------------------------------------------------------------------


def _pass(row: RetentionPass) -> RetentionPassRecord:
    return RetentionPassRecord(
        id=row.id,
        trigger=row.trigger,
        volume=row.volume,
        started_us=row.started_us,
        finished_us=row.finished_us,
        deleted=row.deleted,
        bytes=row.bytes,
        summary=json.loads(row.summary),
    )


async def start_pass(s: AsyncSession, trigger: str, volume: str | None, now_us: int) -> int:
    if trigger not in RETENTION_TRIGGERS:
        raise InvalidRecord(f"retention trigger {trigger!r} is not one of {RETENTION_TRIGGERS}")
    row = RetentionPass(
        trigger=trigger, volume=volume, started_us=now_us, deleted=0, bytes=0, summary="{}"
    )
    s.add(row)
    await s.flush()
    return row.id


async def finish_pass(
    s: AsyncSession,
    pass_id: int,
    *,
    deleted: int,
    size: int,
    summary: dict[str, object],
    now_us: int | None,
) -> RetentionPassRecord:
    """Record the pass's totals; now_us None leaves it unfinished (it was cut short)."""
    await s.execute(
        update(RetentionPass)
        .where(RetentionPass.id == pass_id)
        .values(
            deleted=deleted,
            bytes=size,
            summary=json.dumps(summary, ensure_ascii=False, sort_keys=True),
            finished_us=now_us,
        )
    )
    row = await s.get(RetentionPass, pass_id, populate_existing=True)
    assert row is not None
    return _pass(row)


async def latest_passes(s: AsyncSession, limit: int = 10) -> list[RetentionPassRecord]:
    stmt = select(RetentionPass).order_by(RetentionPass.id.desc()).limit(limit)
    return [_pass(r) for r in (await s.scalars(stmt)).all()]


# --- the deletion protocol ---------------------------------------------------------------


def deletion_leaf(d: DeletionRecord) -> bytes:
    """The log's leaf for a deletion (tlog/leaves.py)."""
    return leaves.deletion_leaf(
        deletion_id=d.id,
        segment_id=d.segment_id,
        camera=d.camera,
        volume=d.volume,
        path=d.path,
        start_us=d.start_us,
        end_us=d.end_us,
        size=d.bytes,
        sha256=d.sha256,
        policy=d.policy,
        reason=d.reason,
        pass_id=d.pass_id,
        decided_us=d.decided_us,
        central=d.central,
    )


def _deletions_query(with_leaf: bool = True) -> Any:
    leaf = LogLeaf.idx if with_leaf else null().label("idx")
    stmt = (
        select(Deletion, Segment, Camera.name, leaf)
        .join(Segment, Segment.id == Deletion.segment_id)
        .join(Camera, Camera.id == Segment.camera_id)
    )
    if with_leaf:
        stmt = stmt.outerjoin(
            LogLeaf, (LogLeaf.kind == leaves.KIND_DELETION) & (LogLeaf.ref_id == Deletion.id)
        )
    return stmt


def _deletion(d: Deletion, seg: Segment, camera: str, leaf: int | None) -> DeletionRecord:
    assert seg.sha256 is not None
    return DeletionRecord(
        id=d.id,
        segment_id=d.segment_id,
        pass_id=d.pass_id,
        policy=d.policy,
        reason=d.reason,
        decided_us=d.decided_us,
        finished_us=d.finished_us,
        camera=camera,
        volume=seg.volume,
        path=seg.path,
        start_us=seg.start_us,
        end_us=seg.end_us,
        bytes=seg.bytes,
        sha256=seg.sha256,
        central=d.central,
        leaf_index=leaf,
    )


async def mark_garbage(
    s: AsyncSession,
    pass_id: int,
    decisions: Sequence[Decision],
    now_us: int,
    require_central: bool,
) -> list[DeletionRecord]:
    """Step one: make each decided segment 'garbage' if it is still eligible (re-checked in
    this transaction, so a hold placed since the plan wins), with its deletions row and its
    leaf in the log. Returns the deletions made, in the order of decisions."""
    if not decisions:
        return []
    by_id = {d.segment_id: d for d in decisions}
    still = set(
        (
            await s.scalars(
                select(Segment.id).where(
                    Segment.id.in_(list(by_id)), eligible_clause(now_us, require_central)
                )
            )
        ).all()
    )
    chosen = [d for d in decisions if d.segment_id in still]
    if not chosen:
        return []
    await s.execute(
        update(Segment)
        .where(Segment.id.in_([d.segment_id for d in chosen]))
        .values(state="garbage")
        .execution_options(synchronize_session=False)
    )
    confirmed = select(Transfer.segment_id, Transfer.target, Transfer.object_key).where(
        Transfer.segment_id.in_([d.segment_id for d in chosen]), Transfer.state == "confirmed"
    )
    central = {sid: f"{target} {key}" for sid, target, key in (await s.execute(confirmed)).all()}
    rows: list[dict[str, object]] = [
        {
            "segment_id": d.segment_id,
            "pass_id": pass_id,
            "policy": d.policy,
            "reason": d.reason,
            "decided_us": now_us,
            "central": central.get(d.segment_id),
        }
        for d in chosen
    ]
    await s.execute(insert(Deletion), rows)
    # Without the log_leaves join: their leaves are appended below. (With it, PostgreSQL's
    # statistics from before the first deletion leaf make it a nested loop over every
    # deletion leaf so far, once per batch: bench/storage.py.)
    made = await deletions_for_segments(s, [d.segment_id for d in chosen], with_leaf=False)
    records = [made[d.segment_id] for d in chosen]
    await merkle.append_leaves(
        s, [(leaves.KIND_DELETION, r.id, deletion_leaf(r)) for r in records], now_us
    )
    return records


async def deletions_for_segments(
    s: AsyncSession, segment_ids: Collection[int], *, with_leaf: bool = True
) -> dict[int, DeletionRecord]:
    out: dict[int, DeletionRecord] = {}
    wanted = list(segment_ids)
    for start in range(0, len(wanted), 500):
        stmt = _deletions_query(with_leaf).where(
            Deletion.segment_id.in_(wanted[start : start + 500])
        )
        for d, seg, cam, leaf in await s.execute(stmt):
            out[d.segment_id] = _deletion(d, seg, cam, leaf)
    return out


async def deletions_by_ids(s: AsyncSession, ids: Collection[int]) -> dict[int, DeletionRecord]:
    out: dict[int, DeletionRecord] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), 500):
        stmt = _deletions_query().where(Deletion.id.in_(wanted[start : start + 500]))
        for d, seg, cam, leaf in await s.execute(stmt):
            out[d.id] = _deletion(d, seg, cam, leaf)
    return out


async def unfinished_deletions(
    s: AsyncSession, after_id: int = 0, limit: int = 1000
) -> list[DeletionRecord]:
    """Deletions decided but not finished (the file may still be there), by id."""
    stmt = (
        _deletions_query()
        .where(Deletion.finished_us.is_(None), Deletion.id > after_id)
        .order_by(Deletion.id)
        .limit(limit)
    )
    return [_deletion(*row) for row in await s.execute(stmt)]


async def finish_deletions(s: AsyncSession, deletion_ids: Collection[int], now_us: int) -> int:
    """Step three: the unlinks are durable; the segments become 'deleted'. Returns how many."""
    ids = list(deletion_ids)
    if not ids:
        return 0
    seg_ids = (await s.scalars(select(Deletion.segment_id).where(Deletion.id.in_(ids)))).all()
    await s.execute(
        update(Segment)
        .where(Segment.id.in_(list(seg_ids)), Segment.state == "garbage")
        .values(state="deleted")
        .execution_options(synchronize_session=False)
    )
    done = await s.execute(
        update(Deletion)
        .where(Deletion.id.in_(ids), Deletion.finished_us.is_(None))
        .values(finished_us=now_us)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


async def deleted_without_leaf(s: AsyncSession, after_id: int, limit: int) -> list[int]:
    """Ids of segments in 'garbage' or 'deleted' with no logged deletion (verify)."""
    logged = exists().where(
        Deletion.segment_id == Segment.id,
        LogLeaf.kind == leaves.KIND_DELETION,
        LogLeaf.ref_id == Deletion.id,
    )
    stmt = (
        select(Segment.id)
        .where(Segment.state.in_(("garbage", "deleted")), Segment.id > after_id, ~logged)
        .order_by(Segment.id)
        .limit(limit)
    )
    return list((await s.scalars(stmt)).all())


async def footage_summary(s: AsyncSession) -> list[tuple[str, int | None, int, int]]:
    """Per camera: (name, oldest start_us of footage still on disk, its segments, bytes)."""
    on_disk = Segment.state.in_(("open", "sealed", "recovered", "damaged"))
    stmt = (
        select(
            Camera.name,
            func.min(Segment.start_us),
            func.count(Segment.id),
            func.coalesce(func.sum(Segment.bytes), 0),
        )
        .join(Segment, Segment.camera_id == Camera.id)
        .where(on_disk)
        .group_by(Camera.name)
        .order_by(Camera.name)
    )
    return [(n, lo, int(c), int(b)) for n, lo, c, b in (await s.execute(stmt)).all()]


async def footage_bytes(s: AsyncSession, volume: str) -> int:
    """Bytes of footage on the volume that are still on disk (its quota's measure)."""
    stmt = select(func.coalesce(func.sum(Segment.bytes), 0)).where(
        Segment.volume == volume, Segment.state.in_(("open", "sealed", "recovered", "damaged"))
    )
    return int((await s.execute(stmt)).scalar_one())


async def deletion_totals(s: AsyncSession) -> tuple[int, int]:
    """(segments, bytes) deleted under retention since the index began."""
    stmt = (
        select(func.count(Deletion.id), func.coalesce(func.sum(Segment.bytes), 0))
        .join(Segment, Segment.id == Deletion.segment_id)
        .where(Deletion.finished_us.is_not(None))
    )
    n, size = (await s.execute(stmt)).one()
    return int(n), int(size)
