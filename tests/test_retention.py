"""Retention on both backends, with a fake clock: what is held, exported, damaged or not yet
transferred stays; the rest goes oldest first through the logged garbage step; a crash
between the steps is finished at startup; `surveil verify` tells a deletion under policy from
a missing file."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from index import audit, counters, holds, merkle, receipts, retention, runs, segments
from index.db import Database
from index.errors import InvalidRecord
from index.models import Transfer
from index.receipts import ReceiptIn, ReceiptSettings
from surveil.checkpoints import Checkpointer
from surveil.clock import FakeClock
from surveil.config import RetentionConfig, StorageConfig
from surveil.log_verify import verify_integrity
from surveil.retention import DAY_US, Retention, policies
from surveil.volumes import Volumes
from tests.rows import sealed_segment
from tests.test_index import add_camera
from tlog.note import Signer

T0 = 1_790_000_000_000_000
SEG_US = 60 * 1_000_000
SIZE = 4096
SIGNER = Signer.generate("test.example/log")


async def _footage(db: Database, data_dir: Path, camera_id: int, days: int, per_day: int = 2):
    """per_day one-minute segments a day, for days days before T0 + days * DAY; real files."""
    run_id = await db.write(lambda s: runs.start_run(s, camera_id, T0, "test"))
    ids = []
    seq = 0
    for day in range(days):
        for k in range(per_day):
            start = T0 + day * DAY_US + k * SEG_US
            rel = f"cam{camera_id}/d{day}-{k}.mp4"
            body = os.urandom(SIZE)
            (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (data_dir / rel).write_bytes(body)
            row = replace(
                sealed_segment(camera_id, run_id, seq, rel, start, start + SEG_US),
                bytes=SIZE,
                sha256=hashlib.sha256(body).hexdigest(),
            )
            ids.append(await db.write(lambda s, row=row: segments.upsert_segment(s, row)))
            seq += 1
    return ids


def _retention(db: Database, data_dir: Path, clock: FakeClock, **kw: object) -> Retention:
    cfg = RetentionConfig(retain_days=10, archive_retain_days=5)
    return Retention(
        db,
        Volumes.configured(data_dir, StorageConfig()),
        clock,
        cfg,
        batch=3,
        **kw,  # type: ignore[arg-type]
    )


async def _states(db: Database, ids: list[int]) -> list[str]:
    async with db.read() as s:
        found = await segments.segments_by_ids(s, ids)
    return [found[i].state for i in ids]


async def _verify(db: Database, data_dir: Path, clock: FakeClock) -> list[str]:
    signer = SIGNER
    await Checkpointer(db, clock, signer.name, [signer]).issue()
    report = await verify_integrity(db, data_dir, [signer.verifier()], clock=clock)
    return [f.kind for f in report.all_findings]


async def test_deletes_only_what_is_old_and_unheld_oldest_first(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db)
    ids = await _footage(db, tmp_path, cam, days=20)
    clock = FakeClock(T0 + 20 * DAY_US)
    # Held: a legal hold over day 2, and a receipt's hold over day 4 (both older than 10 days).
    await db.write(
        lambda s: holds.add_hold(
            s, cam, T0 + 2 * DAY_US, T0 + 3 * DAY_US, "court order", kind="legal"
        )
    )
    await db.write(lambda s: holds.add_hold(s, cam, T0 + 4 * DAY_US, T0 + 4 * DAY_US + 1, "r"))
    # Damaged: day 6's first segment (scrub found a mismatch).
    await db.write(lambda s: segments.set_segment_state(s, ids[12], "damaged"))
    (tmp_path / f"cam{cam}/d6-0.mp4").write_bytes(b"rot")
    ret = _retention(db, tmp_path, clock)
    plan = await ret.plan()
    # Days 0..9 ended 10+ days ago (20 segments); held 2+1, damaged 1: 16 may go.
    [cplan] = plan.cameras
    assert (cplan.policy.retain_days, cplan.policy.source) == (10, "config")
    assert cplan.eligible == 16 and cplan.eligible_bytes == 16 * SIZE
    assert cplan.kept == {"held": (3, 3 * SIZE), "damaged": (1, SIZE)}
    assert [seg.id for seg, _ in plan.first][:3] == ids[:3]
    assert all((tmp_path / f"cam{cam}/d0-0.mp4").exists() for _ in [0])  # a plan deletes nothing

    record = await ret.run_pass("manual")
    assert (record.deleted, record.bytes, record.finished_us) == (16, 16 * SIZE, clock.now_us())
    states = await _states(db, ids)
    kept = {i for i, st in enumerate(states) if st != "deleted"}
    # Day 2 (both), day 4's first (the hold reaches only its first minute), day 6's first
    # (damaged) and everything from day 10 on.
    assert kept == {4, 5, 8, 12, *range(20, 40)}, sorted(kept)
    for i, st in enumerate(states):
        assert (tmp_path / f"cam{cam}/d{i // 2}-{i % 2}.mp4").exists() == (st != "deleted")
    async with db.read() as s:
        dels = await retention.deletions_for_segments(s, ids)
        [entry] = await audit.list_audit(s, action="retention.pass")
    assert set(dels) == {ids[i] for i in range(20) if i not in kept}
    assert all(d.finished_us is not None and d.leaf_index is not None for d in dels.values())
    assert {d.policy for d in dels.values()} == {"retain_days"}
    assert entry.detail["deleted"] == 16 and entry.target == f"pass {record.id}"
    # Deleted in age order: the log's deletion leaves come in the segments' order.
    order = sorted(dels.values(), key=lambda d: d.leaf_index or 0)
    assert [d.segment_id for d in order] == sorted(dels)
    # The deletions verify; the damaged file that retention kept is still a finding.
    assert await _verify(db, tmp_path, clock) == ["file_changed"]
    # A second pass finds nothing more.
    again = await ret.run_pass("schedule")
    assert again.deleted == 0


async def test_rules_camera_over_counter_over_installation(db: Database, tmp_path: Path) -> None:
    cam = await add_camera(db, "hall-1", ("A1", "A2"))
    other = await add_camera(db, "hall-2", ("B1",))
    third = await add_camera(db, "hall-3", ())
    for cid, codes in ((cam, ["A1", "A2"]), (other, ["B1"])):
        await db.write(lambda s, c=cid, k=codes: counters.link_camera_counters(s, c, k))
    async with db.read() as s:
        scopes = await retention.camera_scopes(s)
    assert {name: counters for _, name, counters in scopes} == {
        "hall-1": ("A1", "A2"),
        "hall-2": ("B1",),
        "hall-3": (),
    }
    now = T0
    await db.write(lambda s: retention.set_rule(s, "installation", "", 30, "admin", now))
    await db.write(lambda s: retention.set_rule(s, "counter", "A1", 200, "admin", now))
    await db.write(lambda s: retention.set_rule(s, "counter", "A2", 400, "admin", now))
    await db.write(lambda s: retention.set_rule(s, "camera", "hall-2", 7, "admin", now))
    async with db.read() as s:
        rules = await retention.list_rules(s)
    got = {p.camera: (p.retain_days, p.source) for p in policies(scopes, rules, 180)}
    assert got == {
        "hall-1": (400, "counter A2"),  # the longest of its counters'
        "hall-2": (7, "camera hall-2"),
        "hall-3": (30, "installation"),
    }
    assert len({cam, other, third}) == 3
    with pytest.raises(InvalidRecord, match="no counter"):
        await db.write(lambda s: retention.set_rule(s, "counter", "Z9", 5, "admin", now))
    with pytest.raises(InvalidRecord, match="no ref"):
        await db.write(lambda s: retention.set_rule(s, "installation", "x", 5, "admin", now))
    removed = await db.write(lambda s: retention.remove_rule(s, "camera", "hall-2"))
    assert removed is not None and removed.retain_days == 7


async def test_untransferred_footage_stays_when_transfer_is_configured(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db)
    ids = await _footage(db, tmp_path, cam, days=12, per_day=1)
    clock = FakeClock(T0 + 12 * DAY_US)
    confirmed = ids[:1]

    async def confirm(s):  # type: ignore[no-untyped-def]
        for sid in confirmed:
            s.add(
                Transfer(
                    segment_id=sid,
                    target="s3 http://127.0.0.1:1 b/p",
                    object_key=f"k{sid}",
                    state="confirmed",
                    attempts=1,
                    updated_us=T0,
                    confirmed_us=T0,
                )
            )

    await db.write(confirm)
    ret = _retention(db, tmp_path, clock, require_central=True)
    plan = await ret.plan()
    assert plan.eligible == 1 and plan.cameras[0].kept == {"not_transferred": (1, SIZE)}
    await ret.run_pass()
    assert await _states(db, ids[:3]) == ["deleted", "sealed", "sealed"]
    async with db.read() as s:
        [d] = (await retention.deletions_for_segments(s, confirmed)).values()
    assert d.central == f"s3 http://127.0.0.1:1 b/p k{confirmed[0]}"


async def test_a_case_hold_lasts_until_archived_plus_archive_retain_days(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db, "hall-1", ("A1",))
    await db.write(lambda s: counters.link_camera_counters(s, cam, ["A1"]))
    ids = await _footage(db, tmp_path, cam, days=1, per_day=1)
    settings = ReceiptSettings(pre_roll_us=0, post_roll_us=0)
    rin = ReceiptIn(receipt_no="R-1", counter="A1", accepted_us=T0, completed_us=T0 + 1000)
    clock = FakeClock(T0 + 100 * DAY_US)
    await db.write(lambda s: receipts.record_receipt(s, rin, T0 + 2000, settings))
    ret = _retention(db, tmp_path, clock)
    assert (await ret.plan()).eligible == 0  # held while the case is open
    closed_at = T0 + 50 * DAY_US
    await db.write(
        lambda s: receipts.set_case_state(s, "R-1", "closed", closed_at, clock.now_us(), 0)
    )
    assert (await ret.plan()).eligible == 0  # and while it is closed
    archived_at = T0 + 90 * DAY_US
    await db.write(
        lambda s: receipts.set_case_state(
            s, "R-1", "archived", archived_at, clock.now_us(), 5 * DAY_US
        )
    )
    # The hold now expires 5 days after archiving, on day 95.
    assert (await ret.plan()).eligible == 1  # day 100
    clock.advance(-6 * DAY_US)  # day 94
    assert (await ret.plan()).eligible == 0
    clock.advance(2 * DAY_US)  # day 96
    assert (await ret.plan()).eligible == 1
    await ret.run_pass()
    assert await _states(db, ids) == ["deleted"]


async def test_a_crash_between_the_steps_is_finished_at_startup(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db)
    ids = await _footage(db, tmp_path, cam, days=12, per_day=1)
    clock = FakeClock(T0 + 12 * DAY_US)
    ret = _retention(db, tmp_path, clock)
    pass_id = await db.write(lambda s: retention.start_pass(s, "schedule", None, clock.now_us()))
    decisions = [retention.Decision(i, "retain_days", "older than 10 days") for i in ids[:2]]
    # Step one done for both; the crash came after the first unlink, before step three.
    await db.write(lambda s: retention.mark_garbage(s, pass_id, decisions, clock.now_us(), False))
    (tmp_path / f"cam{cam}/d0-0.mp4").unlink()
    assert await _states(db, ids[:3]) == ["garbage", "garbage", "sealed"]
    assert await _verify(db, tmp_path, clock) == []  # garbage is a deletion in progress
    fresh = _retention(db, tmp_path, clock)
    assert await fresh.finish_garbage() == 2
    assert await _states(db, ids[:3]) == ["deleted", "deleted", "sealed"]
    assert not (tmp_path / f"cam{cam}/d1-0.mp4").exists()
    assert ret is not fresh
    assert await _verify(db, tmp_path, clock) == []


async def test_a_hold_placed_after_the_plan_wins(db: Database, tmp_path: Path) -> None:
    cam = await add_camera(db)
    ids = await _footage(db, tmp_path, cam, days=12, per_day=1)
    now = T0 + 12 * DAY_US
    pass_id = await db.write(lambda s: retention.start_pass(s, "schedule", None, now))
    await db.write(lambda s: holds.add_hold(s, cam, T0, T0 + 1, "late hold", kind="legal"))
    decisions = [retention.Decision(i, "retain_days", "old") for i in ids[:2]]
    made = await db.write(lambda s: retention.mark_garbage(s, pass_id, decisions, now, False))
    assert [d.segment_id for d in made] == [ids[1]]


async def test_verify_tells_a_deletion_under_policy_from_a_removed_file(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db)
    ids = await _footage(db, tmp_path, cam, days=12, per_day=1)
    clock = FakeClock(T0 + 12 * DAY_US)
    await _retention(db, tmp_path, clock).run_pass()
    assert await _states(db, ids[:3]) == ["deleted", "deleted", "sealed"]
    (tmp_path / f"cam{cam}/d2-0.mp4").unlink()  # gone without a policy
    kinds = await _verify(db, tmp_path, clock)
    assert kinds == ["file_missing"]
    # A row set to 'deleted' behind the log's back is caught, and so is an edited deletion.
    async with db.read() as s:
        before = await merkle.log_size(s)

    async def tamper(s):  # type: ignore[no-untyped-def]
        await s.execute(text(f"UPDATE segments SET state = 'deleted' WHERE id = {ids[3]}"))
        await s.execute(text(f"UPDATE deletions SET policy = 'quota' WHERE segment_id = {ids[0]}"))

    await db.write(tamper)
    (tmp_path / f"cam{cam}/d3-0.mp4").unlink()
    kinds = await _verify(db, tmp_path, clock)
    assert sorted(kinds) == ["deletion_row_edited", "deletion_unlogged", "file_missing"]
    assert before > 0
