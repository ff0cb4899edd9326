"""The Merkle log in the index (index/merkle.py), on SQLite and PostgreSQL: appends in the
seal and audit transactions, proofs for past sizes from stored hashes, append-only tables."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from index import audit, merkle, runs, segments
from index.db import Database
from index.errors import InvalidRecord
from index.records import AuditIn
from tests.rows import sealed_segment
from tests.test_index import add_camera
from tlog import leaves
from tlog.hashing import leaf_hash, root_of
from tlog.proofs import verify_consistency, verify_inclusion

T0 = 1_790_000_000_000_000


def _entry(i: int) -> AuditIn:
    detail: dict[str, object] = {"i": i, "s": "窗口"}
    return AuditIn(actor="amy", actor_kind="user", action="test.act", outcome="ok", detail=detail)


async def _hashes(db: Database) -> list[bytes]:
    async with db.read() as s:
        return [leaf.leaf_hash for leaf in await merkle.leaves_page(s, 0, 100_000)]


async def test_audit_entries_enter_the_log_in_commit_order(db: Database) -> None:
    records = []
    for i in range(37):
        records.append(await db.write(lambda s, i=i: audit.add_audit(s, _entry(i), T0 + i)))
    assert [r.leaf_index for r in records] == list(range(37))
    hashes = await _hashes(db)
    async with db.read() as s:
        compact = await merkle.compact_range(s)
        leaf = await merkle.leaf_at(s, 5)
        listed = await audit.list_audit(s, limit=3)
    assert compact.size == 37 and compact.root() == root_of(hashes)
    # The leaf is the canonical record of the row, and the listing carries its index.
    assert leaf.leaf == audit.audit_leaf(records[5]) and leaf.leaf_hash == leaf_hash(leaf.leaf)
    assert leaves.parse(leaf.leaf)["detail"] == {"i": 5, "s": "窗口"}
    assert [e.leaf_index for e in listed] == [36, 35, 34]


async def test_proofs_for_every_past_size_verify(db: Database) -> None:
    for i in range(70):
        await db.write(lambda s, i=i: audit.add_audit(s, _entry(i), T0 + i))
    hashes = await _hashes(db)
    rng = random.Random(7)
    async with db.read() as s:
        for size in [1, 2, 3, 31, 32, 33, 64, 69, 70]:
            root = await merkle.root_at(s, size)
            assert root == root_of(hashes[:size])
            for index in {0, size - 1, rng.randrange(size)}:
                proof = await merkle.inclusion(s, index, size)
                verify_inclusion(index, size, hashes[index], proof, root)
        for _ in range(40):
            second = rng.randint(1, 70)
            first = rng.randint(0, second)
            proof = await merkle.consistency(s, first, second)
            verify_consistency(
                first, second, root_of(hashes[:first]), root_of(hashes[:second]), proof
            )
        with pytest.raises(InvalidRecord):
            await merkle.inclusion(s, 70, 70)
        with pytest.raises(InvalidRecord):
            await merkle.inclusion(s, 0, 71)  # beyond the log
        with pytest.raises(InvalidRecord):
            await merkle.consistency(s, 5, 4)
        with pytest.raises(merkle.LeafNotFound):
            await merkle.leaf_at(s, 70)


async def test_a_segment_enters_the_log_once_when_sealed(db: Database) -> None:
    camera_id = await add_camera(db)

    run_id = await db.write(lambda s: runs.start_run(s, camera_id, T0, "test"))
    sealed = sealed_segment(camera_id, run_id, 0, "hall-1/a.mp4", T0, T0 + 2_000_000)
    opened = replace(sealed, state="open", sha256=None, sealed_us=None)
    seg_id = await db.write(lambda s: segments.open_segment(s, opened))
    await db.write(lambda s: segments.update_segment(s, replace(opened, fragments=2)))
    async with db.read() as s:
        assert await merkle.log_size(s) == 0  # open: not yet evidence
        assert (await segments.get_segment(s, seg_id)).leaf_index is None
    await db.write(lambda s: segments.update_segment(s, sealed))
    # Marked missing and restored: the same entry, no second leaf.
    await db.write(lambda s: segments.set_segment_state(s, seg_id, "missing"))
    await db.write(lambda s: segments.set_segment_state(s, seg_id, "sealed"))
    await db.write(lambda s: segments.update_segment(s, sealed))
    # Crash recovery inserts the next segment already sealed: it is logged too.
    recovered = replace(
        sealed, sequence=1, path="hall-1/b.mp4", state="recovered", start_us=T0 + 2_000_000
    )
    rec_id = await db.write(lambda s: segments.upsert_segment(s, recovered))
    async with db.read() as s:
        assert await merkle.log_size(s) == 2
        first, second = await merkle.leaves_page(s, 0, 10)
        seg = await segments.get_segment(s, seg_id)
        rec = await segments.get_segment(s, rec_id)
    assert (first.kind, first.ref_id, second.ref_id) == ("segment", seg_id, rec_id)
    assert (seg.leaf_index, rec.leaf_index) == (0, 1)
    fields = leaves.parse(first.leaf)
    assert fields["sha256"] == sealed.sha256 and fields["state"] == "sealed"
    assert fields["camera"] == "hall-1" and fields["codecs"] == {"video": "h264", "audio": None}
    assert leaves.parse(second.leaf)["state"] == "recovered"


async def test_log_tables_refuse_update_and_delete(db: Database) -> None:
    for i in range(2):  # two leaves: their parent is the first row of log_hashes
        await db.write(lambda s, i=i: audit.add_audit(s, _entry(i), T0))
    for stmt in (
        "UPDATE log_leaves SET kind = 'x'",
        "DELETE FROM log_leaves",
        "UPDATE log_hashes SET level = 9",
        "DELETE FROM log_hashes",
    ):

        async def run(s, stmt: str = stmt) -> None:  # type: ignore[no-untyped-def]
            await s.execute(text(stmt))

        with pytest.raises(DBAPIError, match="append-only"):
            await db.write(run)
    assert len(await _hashes(db)) == 2


async def test_a_failed_transaction_leaves_no_leaf(db: Database) -> None:
    async def fails(s):  # type: ignore[no-untyped-def]
        await audit.add_audit(s, _entry(1), T0)
        raise RuntimeError("the change failed after its audit row")

    with pytest.raises(RuntimeError):
        await db.write(fails)
    record = await db.write(lambda s: audit.add_audit(s, _entry(2), T0))
    assert record.leaf_index == 0
    async with db.read() as s:
        assert await merkle.log_size(s) == 1


def test_a_float_has_no_canonical_form() -> None:
    with pytest.raises(leaves.LeafError, match="integers only"):
        leaves.canonical({"kind": "audit", "x": 1.5})
    assert leaves.canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(leaves.LeafError, match="canonical"):
        leaves.parse(b'{"kind": "audit"}')


async def test_an_append_after_another_writer_reads_the_state_again(
    db: Database, database_url: str
) -> None:
    """The state this process last wrote is only used while the stored one is exactly it:
    a rolled-back append, or one by another process, makes the next append read it."""

    async def rolled_back(s):  # type: ignore[no-untyped-def]
        await audit.add_audit(s, _entry(0), T0)
        raise RuntimeError("rolled back")

    await db.write(lambda s: audit.add_audit(s, _entry(1), T0))
    with pytest.raises(RuntimeError):
        await db.write(rolled_back)  # this process now remembers size 2, the index has 1
    other = await Database.open(database_url)  # another process, with its own memory
    try:
        await other.write(lambda s: audit.add_audit(s, _entry(2), T0))
    finally:
        await other.close()
    for i in range(3, 6):
        await db.write(lambda s, i=i: audit.add_audit(s, _entry(i), T0))
    hashes = await _hashes(db)
    async with db.read() as s:
        compact = await merkle.compact_range(s)
        proof = await merkle.inclusion(s, 1, 5)
        root = await merkle.root_at(s, 5)
    assert compact.size == len(hashes) == 5 and compact.root() == root_of(hashes)
    verify_inclusion(1, 5, hashes[1], proof, root)
