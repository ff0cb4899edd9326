"""The Merkle log's storage: leaves, subtree hashes, the compact range and checkpoints.

An append reads one row (``log_state``: the size and the compact range) and writes the leaf,
the complete subtrees it makes (two on average, at most log2 n + 1) and the new state; it
runs in the caller's transaction, so a segment's seal or an audit row and its leaf commit
together or not at all, in the single writer's order. A proof first asks tlog/ which
subtrees it needs (the shape of a proof depends only on the sizes), reads those O(log n)
rows by key in one query, then builds the proof. Nothing here reads the whole tree except
``leaf_hashes``, which only verify uses.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from sqlalchemy import (
    CursorResult,
    Engine,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import InvalidRecord, RecordNotFound
from index.models import AuditEntry, Checkpoint, IntegrityRun, LogHash, LogLeaf, LogState, Segment
from tlog import leaves
from tlog.hashing import HASH_SIZE, CompactRange, leaf_hash
from tlog.proofs import SubtreeHash, consistency_proof, inclusion_proof, range_hash

CHECKPOINT_PAGE_MAX = 1000
_PLACEHOLDER = bytes(HASH_SIZE)


class CheckpointNotFound(RecordNotFound):
    """No checkpoint was issued at that size."""

    code: ClassVar[str] = "checkpoint_not_found"


class LeafNotFound(RecordNotFound):
    """No leaf at that index."""

    code: ClassVar[str] = "leaf_not_found"


class LogCorrupt(Exception):
    """The stored log lacks a hash that its size says it has (its tables were edited)."""

    code: ClassVar[str] = "log_corrupt"


@dataclass(frozen=True)
class LeafRecord:
    """One stored leaf."""

    idx: int
    kind: str
    ref_id: int
    leaf: bytes
    leaf_hash: bytes
    appended_us: int


@dataclass(frozen=True)
class CheckpointRecord:
    """One issued checkpoint."""

    size: int
    root: bytes
    note: str
    issued_us: int
    timestamp_token: bytes | None


@dataclass(frozen=True)
class IntegrityRunRecord:
    """One verify run or scrub cycle."""

    id: int
    kind: str
    started_us: int
    finished_us: int | None
    checked: int
    bytes: int
    findings: int
    position: int
    summary: dict[str, object]


def _compact(state: LogState | None) -> CompactRange:
    if state is None:
        return CompactRange()
    blob = state.compact
    roots = tuple(blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE))
    return CompactRange(state.size, roots)


async def compact_range(s: AsyncSession) -> CompactRange:
    """The log's size and the roots of its perfect subtrees."""
    return _compact(await s.get(LogState, 1))


async def log_size(s: AsyncSession) -> int:
    state = await s.get(LogState, 1)
    return 0 if state is None else state.size


# The compact range this process last wrote, per engine: an append then starts with its
# UPDATE, conditional on the stored state being exactly this one (size and every root),
# instead of reading the state first. Another process's append, a rolled-back transaction
# or an edit makes the condition fail, and the append reads the state as usual.
_LAST_STATE: weakref.WeakKeyDictionary[Engine, CompactRange] = weakref.WeakKeyDictionary()


def _blob(compact: CompactRange) -> bytes:
    return b"".join(compact.roots)


def _append_all(
    compact: CompactRange, digests: Sequence[bytes]
) -> tuple[CompactRange, list[tuple[int, int, bytes]]]:
    made: list[tuple[int, int, bytes]] = []
    for digest in digests:
        compact, new = compact.append(digest)
        made.extend(new[1:])  # new[0] is the leaf itself, stored in log_leaves
    return compact, made


async def _advance(
    s: AsyncSession, engine: Engine, digests: Sequence[bytes]
) -> tuple[CompactRange, list[tuple[int, int, bytes]]]:
    """Move log_state on by len(digests) leaves; (the range before, the subtrees above the
    leaves that they complete)."""
    cached = _LAST_STATE.get(engine)
    if cached is not None:
        after, made = _append_all(cached, digests)
        moved = await s.execute(
            update(LogState)
            .where(
                LogState.id == 1, LogState.size == cached.size, LogState.compact == _blob(cached)
            )
            .values(size=after.size, compact=_blob(after))
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], moved).rowcount == 1:
            _LAST_STATE[engine] = after
            return cached, made
    state = await s.get(LogState, 1, populate_existing=True)
    before = _compact(state)
    after, made = _append_all(before, digests)
    if state is None:
        s.add(LogState(id=1, size=after.size, compact=_blob(after)))
        await s.flush()
    else:
        await s.execute(
            update(LogState)
            .where(LogState.id == 1)
            .values(size=after.size, compact=_blob(after))
            .execution_options(synchronize_session=False)
        )
        s.expire(state)
    _LAST_STATE[engine] = after
    return before, made


async def append_leaf(s: AsyncSession, kind: str, ref_id: int, leaf: bytes, now_us: int) -> int:
    """Append leaf in the caller's transaction; returns its index.

    Two statements, and a third for every other leaf: the state moves on (one UPDATE), the
    leaf row carries the leaf hash (level 0 of the tree), and the complete subtrees the leaf
    closes, if any, go to log_hashes. The unique (kind, ref_id) makes a second leaf for one
    row fail the transaction rather than enter the log.
    """
    return (await append_leaves(s, [(kind, ref_id, leaf)], now_us))[0]


async def append_leaves(
    s: AsyncSession, items: Sequence[tuple[str, int, bytes]], now_us: int
) -> list[int]:
    """Append (kind, ref_id, leaf) items in order, in the caller's transaction, with the same
    three statements as one append (each an executemany); returns their indexes."""
    if not items:
        return []
    digests = [leaf_hash(leaf) for _, _, leaf in items]
    bind = s.sync_session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    before, parents = await _advance(s, engine, digests)
    await s.execute(
        insert(LogLeaf),
        [
            {
                "idx": before.size + i,
                "kind": kind,
                "ref_id": ref_id,
                "leaf": leaf,
                "leaf_hash": digest,
                "appended_us": now_us,
            }
            for i, ((kind, ref_id, leaf), digest) in enumerate(zip(items, digests, strict=True))
        ],
    )
    if parents:
        await s.execute(
            insert(LogHash), [{"level": lv, "idx": i, "hash": h} for lv, i, h in parents]
        )
    return list(range(before.size, before.size + len(items)))


async def leaf_at(s: AsyncSession, idx: int) -> LeafRecord:
    row = await s.get(LogLeaf, idx)
    if row is None:
        raise LeafNotFound(f"the log has no leaf {idx}")
    return _leaf(row)


def _leaf(row: LogLeaf) -> LeafRecord:
    return LeafRecord(
        row.idx, row.kind, row.ref_id, bytes(row.leaf), bytes(row.leaf_hash), row.appended_us
    )


async def leaves_page(s: AsyncSession, start: int, limit: int) -> list[LeafRecord]:
    """Leaves with index >= start, in index order (verify reads the log this way)."""
    stmt = select(LogLeaf).where(LogLeaf.idx >= start).order_by(LogLeaf.idx).limit(limit)
    return [_leaf(row) for row in (await s.execute(stmt)).scalars()]


async def _subtrees(s: AsyncSession, build: Callable[[SubtreeHash], object]) -> SubtreeHash:
    """The stored hashes build will ask for, read by key in one statement: leaf hashes from
    log_leaves, the others from log_hashes, as (level = L AND idx IN (...)) per level, which
    both backends answer from the primary keys (SQLite plans a row-value IN as a scan)."""
    by_level: dict[int, set[int]] = {}

    def record(level: int, index: int) -> bytes:
        by_level.setdefault(level, set()).add(index)
        return _PLACEHOLDER

    build(record)
    found: dict[tuple[int, int], bytes] = {}
    leaves_wanted = sorted(by_level.pop(0, ()))
    parts = []
    if leaves_wanted:
        parts.append(
            select(literal(0).label("level"), LogLeaf.idx, LogLeaf.leaf_hash.label("hash")).where(
                LogLeaf.idx.in_(leaves_wanted)
            )
        )
    if by_level:
        cond = or_(
            *(
                and_(LogHash.level == lv, LogHash.idx.in_(sorted(ix)))
                for lv, ix in sorted(by_level.items())
            )
        )
        parts.append(select(LogHash.level, LogHash.idx, LogHash.hash).where(cond))
    if parts:
        stmt = parts[0] if len(parts) == 1 else union_all(*parts)
        found.update({(lv, i): bytes(h) for lv, i, h in await s.execute(stmt)})

    def read(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise LogCorrupt(f"the log lacks its hash at level {level}, index {index}") from None

    return read


async def _check_size(s: AsyncSession, size: int) -> None:
    current = await log_size(s)
    if not 0 <= size <= current:
        raise InvalidRecord(f"the log has {current} leaves; there is no tree of size {size}")


async def root_at(s: AsyncSession, size: int) -> bytes:
    """The root of the tree of the first size leaves."""
    await _check_size(s, size)
    if size == 0:
        return CompactRange().root()
    read = await _subtrees(s, lambda sub: range_hash(0, size, sub))
    return range_hash(0, size, read)


async def inclusion(s: AsyncSession, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf index in the tree of size leaves."""
    await _check_size(s, size)
    if not 0 <= index < size:
        raise InvalidRecord(f"leaf {index} is not in a tree of size {size}")
    read = await _subtrees(s, lambda sub: inclusion_proof(index, size, sub))
    return inclusion_proof(index, size, read)


async def consistency(s: AsyncSession, first: int, second: int) -> list[bytes]:
    """The consistency proof from the tree of size first to the tree of size second."""
    await _check_size(s, second)
    if not 0 <= first <= second:
        raise InvalidRecord(f"no consistency proof from size {first} to size {second}")
    read = await _subtrees(s, lambda sub: consistency_proof(first, second, sub))
    return consistency_proof(first, second, read)


def _checkpoint(row: Checkpoint) -> CheckpointRecord:
    token = None if row.timestamp_token is None else bytes(row.timestamp_token)
    return CheckpointRecord(row.size, bytes(row.root), row.note, row.issued_us, token)


async def add_checkpoint(
    s: AsyncSession,
    size: int,
    root: bytes,
    note: str,
    now_us: int,
    timestamp_token: bytes | None = None,
) -> CheckpointRecord:
    row = Checkpoint(
        size=size, root=root, note=note, issued_us=now_us, timestamp_token=timestamp_token
    )
    s.add(row)
    await s.flush()
    return _checkpoint(row)


async def latest_checkpoint(s: AsyncSession) -> CheckpointRecord | None:
    stmt = select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)
    row = (await s.execute(stmt)).scalar_one_or_none()
    return None if row is None else _checkpoint(row)


async def checkpoint_at(s: AsyncSession, size: int) -> CheckpointRecord:
    row = await s.get(Checkpoint, size)
    if row is None:
        raise CheckpointNotFound(f"no checkpoint was issued at size {size}")
    return _checkpoint(row)


async def checkpoints_page(
    s: AsyncSession, *, before_size: int | None = None, limit: int = 100
) -> list[CheckpointRecord]:
    """Newest first; page with before_size (the last size of the previous page)."""
    if not 1 <= limit <= CHECKPOINT_PAGE_MAX:
        raise InvalidRecord(f"limit must be between 1 and {CHECKPOINT_PAGE_MAX}")
    stmt = select(Checkpoint)
    if before_size is not None:
        stmt = stmt.where(Checkpoint.size < before_size)
    stmt = stmt.order_by(Checkpoint.size.desc()).limit(limit)
    return [_checkpoint(row) for row in (await s.execute(stmt)).scalars()]


async def checkpoint_count(s: AsyncSession) -> int:
    return int((await s.execute(select(func.count()).select_from(Checkpoint))).scalar_one())


def _run(row: IntegrityRun) -> IntegrityRunRecord:
    return IntegrityRunRecord(
        id=row.id,
        kind=row.kind,
        started_us=row.started_us,
        finished_us=row.finished_us,
        checked=row.checked,
        bytes=row.bytes,
        findings=row.findings,
        position=row.position,
        summary=json.loads(row.summary),
    )


async def start_run(s: AsyncSession, kind: str, now_us: int, position: int = 0) -> int:
    row = IntegrityRun(
        kind=kind,
        started_us=now_us,
        checked=0,
        bytes=0,
        findings=0,
        position=position,
        summary="{}",
    )
    s.add(row)
    await s.flush()
    return row.id


async def update_run(
    s: AsyncSession,
    run_id: int,
    *,
    checked: int,
    size: int,
    findings: int,
    position: int,
    summary: dict[str, object],
    finished_us: int | None = None,
) -> None:
    await s.execute(
        update(IntegrityRun)
        .where(IntegrityRun.id == run_id)
        .values(
            checked=checked,
            bytes=size,
            findings=findings,
            position=position,
            summary=json.dumps(summary, sort_keys=True),
            finished_us=finished_us,
        )
        .execution_options(synchronize_session=False)
    )


async def latest_runs(s: AsyncSession, kind: str, limit: int = 1) -> list[IntegrityRunRecord]:
    stmt = (
        select(IntegrityRun)
        .where(IntegrityRun.kind == kind)
        .order_by(IntegrityRun.started_us.desc(), IntegrityRun.id.desc())
        .limit(limit)
    )
    return [_run(row) for row in (await s.execute(stmt)).scalars()]


async def subtree_hashes(s: AsyncSession, level: int, first: int, last: int) -> dict[int, bytes]:
    """Stored hashes at level with index in [first, last], by index."""
    stmt = select(LogHash.idx, LogHash.hash).where(
        LogHash.level == level, LogHash.idx >= first, LogHash.idx <= last
    )
    return {i: bytes(h) for i, h in await s.execute(stmt)}


async def segments_without_leaf(s: AsyncSession, after_id: int, limit: int) -> list[int]:
    """Ids of sealed segments (they have a hash) that have no leaf, from after_id on."""
    logged = select(LogLeaf.ref_id).where(
        LogLeaf.kind == leaves.KIND_SEGMENT, LogLeaf.ref_id == Segment.id
    )
    stmt = (
        select(Segment.id)
        .where(Segment.id > after_id, Segment.sha256.is_not(None), ~logged.exists())
        .order_by(Segment.id)
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())


async def audit_without_leaf(s: AsyncSession, after_id: int, limit: int) -> list[int]:
    """Ids of audit entries that have no leaf, from after_id on."""
    logged = select(LogLeaf.ref_id).where(
        LogLeaf.kind == leaves.KIND_AUDIT, LogLeaf.ref_id == AuditEntry.id
    )
    stmt = (
        select(AuditEntry.id)
        .where(AuditEntry.id > after_id, ~logged.exists())
        .order_by(AuditEntry.id)
        .limit(limit)
    )
    return list((await s.execute(stmt)).scalars())


async def checkpoints_from(s: AsyncSession, after_size: int, limit: int) -> list[CheckpointRecord]:
    """Checkpoints with size > after_size, oldest first (verify reads them this way)."""
    stmt = select(Checkpoint).where(Checkpoint.size > after_size)
    stmt = stmt.order_by(Checkpoint.size).limit(limit)
    return [_checkpoint(row) for row in (await s.execute(stmt)).scalars()]
