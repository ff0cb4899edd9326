"""The export workflow (surveil/exports.py) on both backends: who may take which step, in
which state; every step is one transaction with its audit row and Merkle leaf; footage
under a live request is held from retention."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from index import audit, counters, holds, merkle, receipts
from index.db import Database
from index.errors import CounterNotFound, InvalidRecord, ReceiptNotFound
from index.exports import ExportNotFound
from index.receipts import ReceiptIn, ReceiptSettings
from index.records import ExportParty
from surveil.clock import FakeClock
from surveil.exports import (
    ExportActor,
    ExportForbidden,
    ExportRequestIn,
    ExportSettings,
    ExportStateConflict,
    approve_export,
    create_export,
    deliver_export,
    get_export,
    list_exports,
    open_download,
    open_viewing,
    pending_work,
    reject_export,
    resubmit_export,
    review_export,
    withdraw_export,
)
from tests.test_index import add_camera
from tests.test_retention import _footage, _retention

T0 = 1_790_000_000_000_000
S = 1_000_000
RS = ReceiptSettings(pre_roll_us=30 * S, post_roll_us=30 * S)
SETTINGS = ExportSettings(receipts=RS)

CLERK = ExportActor("clerk", "user", "staff", frozenset({"A1"}))
OTHER = ExportActor("other", "user", "staff", frozenset({"B1"}))
REVIEWER = ExportActor("rev", "user", "staff", frozenset({"A1"}), frozenset({"export.review"}))
APPROVER = ExportActor("boss", "user", "admin", None, frozenset({"export.approve"}))
BOTH = ExportActor(
    "both", "user", "staff", frozenset({"A1"}), frozenset({"export.review", "export.approve"})
)
AUDITOR = ExportActor("aud", "user", "auditor")
PARTY = ExportParty("张三", "居民身份证", "110101199001011234", "申请人")


def _request(**kw: object) -> ExportRequestIn:
    base = ExportRequestIn(
        kind="copy",
        party=PARTY,
        purpose="行政复议",
        legal_basis="《条例》第二十四条",
        receipt_no="R-1",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def _setup(db: Database) -> int:
    cam = await add_camera(db, "hall-1", ("A1",))
    await db.write(lambda s: counters.link_camera_counters(s, cam, ["A1"]))
    await add_camera(db, "hall-2", ("B1",))
    rin = ReceiptIn(
        receipt_no="R-1", counter="A1", accepted_us=T0 + 60 * S, completed_us=T0 + 300 * S
    )
    await db.write(lambda s: receipts.record_receipt(s, rin, T0 + 301 * S, RS))
    return cam


NOW = T0 + 3600 * S


async def test_the_whole_workflow_is_audited_step_by_step(db: Database) -> None:
    await _setup(db)
    d = await create_export(db, _request(), CLERK, SETTINGS, NOW)
    r = d.request
    assert (r.state, r.counter, r.receipt_no, r.cameras) == ("submitted", "A1", "R-1", ("hall-1",))
    # The receipt's window with its pre- and post-roll.
    assert (r.start_us, r.end_us) == (T0 + 30 * S, T0 + 330 * S)
    assert d.actions == {"withdraw"}
    assert [h.kind for h in d.holds] == ["export"]
    assert (d.holds[0].start_us, d.holds[0].end_us) == (r.start_us, r.end_us)

    as_reviewer = await get_export(db, r.id, REVIEWER, SETTINGS, NOW)
    assert as_reviewer.actions == {"review", "return"}
    d = await review_export(db, r.id, "pass", "身份已核对", REVIEWER, SETTINGS, NOW + 1)
    assert d.request.state == "reviewed"
    d = await approve_export(db, r.id, None, APPROVER, SETTINGS, NOW + 2)
    assert (d.request.state, d.request.package_state) == ("approved", "none")
    # Nothing to download before the package is built.
    with pytest.raises(ExportStateConflict):
        await open_download(db, Path("/nonexistent"), r.id, CLERK, SETTINGS, NOW + 3)

    steps = [(s.step, s.actor, s.actor_role) for s in d.steps]
    assert steps == [
        ("submit", "clerk", "staff"),
        ("review", "rev", "staff"),
        ("approve", "boss", "admin"),
    ]
    async with db.read() as s:
        rows = await audit.audit_by_ids(s, [st.audit_id for st in d.steps])
        size = await merkle.log_size(s)
    assert [rows[st.audit_id].action for st in d.steps] == [
        "export.submit",
        "export.review",
        "export.approve",
    ]
    for st in d.steps:
        row = rows[st.audit_id]
        assert row.target == f"export {r.id}"
        assert row.leaf_index is not None and row.leaf_index < size
    assert rows[d.steps[1].audit_id].detail["reason"] == "身份已核对"
    assert rows[d.steps[1].audit_id].detail["state"] == {"from": "submitted", "to": "reviewed"}


async def test_three_distinct_people_by_default_two_at_least(db: Database) -> None:
    await _setup(db)
    r = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    self_reviewer = replace(CLERK, permissions=frozenset({"export.review", "export.approve"}))
    with pytest.raises(ExportForbidden, match="requester cannot review"):
        await review_export(db, r.id, "pass", None, self_reviewer, SETTINGS, NOW)
    await review_export(db, r.id, "pass", None, BOTH, SETTINGS, NOW)
    with pytest.raises(ExportForbidden, match="reviewer cannot also approve"):
        await approve_export(db, r.id, None, BOTH, SETTINGS, NOW)
    with pytest.raises(ExportForbidden, match="requester cannot approve"):
        await approve_export(db, r.id, None, self_reviewer, SETTINGS, NOW)
    with pytest.raises(ExportForbidden, match=r"export\.approve"):
        await approve_export(db, r.id, None, REVIEWER, SETTINGS, NOW)
    # With two people the reviewer may approve too, but the requester still may not.
    two = replace(SETTINGS, min_people=2)
    with pytest.raises(ExportForbidden, match="requester cannot approve"):
        await approve_export(db, r.id, None, self_reviewer, two, NOW)
    d = await approve_export(db, r.id, None, BOTH, two, NOW)
    assert d.request.state == "approved"
    # An API token has no permissions: reviewing is a person's act.
    token = ExportActor("acceptance-system", "token", "admin", None, frozenset({"export.review"}))
    r2 = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    with pytest.raises(ExportForbidden):
        await review_export(db, r2.id, "pass", None, token, SETTINGS, NOW)


async def test_staff_of_another_counter_can_neither_request_nor_see(db: Database) -> None:
    await _setup(db)
    with pytest.raises(ExportForbidden, match="not among your counters"):
        await create_export(db, _request(), OTHER, SETTINGS, NOW)
    window = _request(receipt_no=None, counter="A1", start_us=T0, end_us=T0 + 60 * S)
    with pytest.raises(ExportForbidden, match="not among your counters"):
        await create_export(db, window, OTHER, SETTINGS, NOW)
    r = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    with pytest.raises(ExportNotFound):
        await get_export(db, r.id, OTHER, SETTINGS, NOW)
    assert await list_exports(db, OTHER) == []
    other_reviewer = replace(OTHER, permissions=frozenset({"export.review"}))
    assert await list_exports(db, other_reviewer, view="to_review") == []
    with pytest.raises(ExportNotFound):
        await review_export(db, r.id, "pass", None, other_reviewer, SETTINGS, NOW)
    # Oversight sees every request, but may not file one.
    assert [x.id for x in await list_exports(db, AUDITOR)] == [r.id]
    with pytest.raises(ExportForbidden):
        await create_export(db, _request(), AUDITOR, SETTINGS, NOW)


async def test_rejected_and_withdrawn_requests_release_their_holds(db: Database) -> None:
    await _setup(db)
    a = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    b = (await create_export(db, _request(kind="view"), CLERK, SETTINGS, NOW)).request
    await review_export(db, a.id, "pass", None, REVIEWER, SETTINGS, NOW)
    with pytest.raises(InvalidRecord, match="reason is required"):
        await reject_export(db, a.id, "  ", APPROVER, SETTINGS, NOW)
    d = await reject_export(db, a.id, "与案件无关", APPROVER, SETTINGS, NOW + 1)
    assert d.request.state == "rejected"
    assert all(h.released_us == NOW + 1 and h.released_by == "boss" for h in d.holds)
    with pytest.raises(ExportForbidden, match="only the requester"):
        await withdraw_export(db, b.id, None, REVIEWER, SETTINGS, NOW)
    d = await withdraw_export(db, b.id, "当事人撤回", CLERK, SETTINGS, NOW + 2)
    assert d.request.state == "withdrawn"
    assert all(h.released_us == NOW + 2 for h in d.holds)
    # Final states allow nothing more, and a rejected request is never packaged.
    for fn in (approve_export, withdraw_export):
        with pytest.raises(ExportStateConflict):
            await fn(db, a.id, "x", APPROVER if fn is approve_export else CLERK, SETTINGS, NOW)
    with pytest.raises(ExportStateConflict):
        await deliver_export(db, a.id, "张三", "光盘", None, CLERK, SETTINGS, NOW)
    with pytest.raises(ExportStateConflict):
        await open_download(db, Path("/nonexistent"), a.id, APPROVER, SETTINGS, NOW)
    assert (await get_export(db, a.id, APPROVER, SETTINGS, NOW)).actions == frozenset()


async def test_returned_requests_are_resubmitted_and_approval_is_final(db: Database) -> None:
    await _setup(db)
    r = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    with pytest.raises(InvalidRecord, match="reason is required"):
        await review_export(db, r.id, "return", None, REVIEWER, SETTINGS, NOW)
    d = await review_export(db, r.id, "return", "缺少授权委托书", REVIEWER, SETTINGS, NOW)
    assert d.request.state == "returned"
    assert d.actions == frozenset()  # the reviewer waits for the requester
    assert (await get_export(db, r.id, CLERK, SETTINGS, NOW)).actions == {"resubmit", "withdraw"}
    d = await resubmit_export(db, r.id, "已补交", CLERK, SETTINGS, NOW + 1)
    assert d.request.state == "submitted"
    await review_export(db, r.id, "pass", None, REVIEWER, SETTINGS, NOW + 2)
    await approve_export(db, r.id, None, APPROVER, SETTINGS, NOW + 3)
    with pytest.raises(ExportStateConflict):
        await withdraw_export(db, r.id, None, CLERK, SETTINGS, NOW + 4)
    with pytest.raises(InvalidRecord, match="decision"):
        await review_export(db, r.id, "maybe", None, REVIEWER, SETTINGS, NOW)


async def test_an_approved_viewing_is_the_requesters_for_a_limited_time(db: Database) -> None:
    await _setup(db)
    r = (await create_export(db, _request(kind="view"), CLERK, SETTINGS, NOW)).request
    with pytest.raises(ExportStateConflict):
        await open_viewing(db, r.id, CLERK, SETTINGS, NOW)
    await review_export(db, r.id, "pass", None, REVIEWER, SETTINGS, NOW)
    d = await approve_export(db, r.id, None, APPROVER, SETTINGS, NOW + 10)
    assert d.request.view_until_us == NOW + 10 + SETTINGS.view_us
    d = await open_viewing(db, r.id, CLERK, SETTINGS, NOW + 20)
    assert d.steps[-1].step == "view"
    with pytest.raises(ExportForbidden, match="only the requester"):
        await open_viewing(db, r.id, APPROVER, SETTINGS, NOW + 20)
    with pytest.raises(ExportForbidden, match="expired"):
        await open_viewing(db, r.id, CLERK, SETTINGS, NOW + 10 + SETTINGS.view_us)
    d = await deliver_export(db, r.id, "张三", "现场查看", None, CLERK, SETTINGS, NOW + 30)
    assert d.request.state == "delivered"
    assert d.steps[-1].recipient == "张三" and d.steps[-1].method == "现场查看"
    # From a receipt: delivery hands the footage over to the receipt's case hold.
    assert all(h.released_us == NOW + 30 for h in d.holds)


async def test_requests_for_a_window_validate_their_cameras_and_times(db: Database) -> None:
    await _setup(db)
    window = _request(receipt_no=None, counter="A1", start_us=T0, end_us=T0 + 600 * S)
    d = await create_export(db, window, CLERK, SETTINGS, NOW)
    assert d.request.cameras == ("hall-1",) and d.request.receipt_no is None
    bad = [
        (replace(window, cameras=("hall-2",)), "does not cover counter"),
        (replace(window, end_us=T0), "end after it starts"),
        (replace(window, end_us=NOW + 60 * S), "future"),
        (replace(window, start_us=T0 - SETTINGS.max_window_us), "at most 24 hours"),
        (replace(window, kind="burn"), "kind must be"),
        (replace(window, party=replace(PARTY, name=" ")), "party name is required"),
        (replace(window, party=replace(PARTY, id_number="1\n2")), "control character"),
        (replace(window, purpose="x" * 2001), "longer than 2000"),
        (replace(window, receipt_no="R-1"), "not both"),
    ]
    for rin, message in bad:
        with pytest.raises(InvalidRecord, match=message):
            await create_export(db, rin, CLERK, SETTINGS, NOW)
    with pytest.raises(ReceiptNotFound):
        await create_export(db, _request(receipt_no="R-404"), CLERK, SETTINGS, NOW)
    with pytest.raises(CounterNotFound):
        await create_export(db, replace(window, counter="Z9"), APPROVER, SETTINGS, NOW)
    # Nothing of the refused requests was written.
    async with db.read() as s:
        n = (await s.execute(text("SELECT count(*) FROM export_requests"))).scalar_one()
    assert n == 1


async def test_lists_and_pending_work_show_each_person_their_own(db: Database) -> None:
    await _setup(db)
    a = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    b = (await create_export(db, _request(), CLERK, SETTINGS, NOW)).request
    await review_export(db, b.id, "pass", None, REVIEWER, SETTINGS, NOW)
    assert [x.id for x in await list_exports(db, REVIEWER, view="to_review")] == [a.id]
    assert [x.id for x in await list_exports(db, APPROVER, view="to_approve")] == [b.id]
    assert await list_exports(db, REVIEWER, view="to_approve") == []
    assert [x.id for x in await list_exports(db, CLERK, view="mine")] == [b.id, a.id]
    assert [x.id for x in await list_exports(db, CLERK, states=("reviewed",))] == [b.id]
    assert await pending_work(db, REVIEWER) == {"to_review": 1, "to_approve": 0}
    assert await pending_work(db, APPROVER) == {"to_review": 0, "to_approve": 1}
    assert await pending_work(db, CLERK) == {"to_review": 0, "to_approve": 0}
    # The approver who reviewed b has nothing to approve (a third person must).
    both = replace(BOTH, name="rev")
    assert await list_exports(db, both, view="to_approve") == []
    with pytest.raises(InvalidRecord):
        await list_exports(db, CLERK, view="everything")


async def test_footage_under_a_live_request_is_held_from_retention(
    db: Database, tmp_path: Path
) -> None:
    cam = await add_camera(db, "hall-1", ("A1",))
    await db.write(lambda s: counters.link_camera_counters(s, cam, ["A1"]))
    await _footage(db, tmp_path, cam, days=1, per_day=2)  # two minutes at T0
    clock = FakeClock(T0 + 100 * 24 * 3600 * S)
    ret = _retention(db, tmp_path, clock)
    assert (await ret.plan()).eligible == 2
    window = _request(receipt_no=None, counter="A1", start_us=T0, end_us=T0 + 30 * S)
    r = (await create_export(db, window, CLERK, SETTINGS, clock.now_us())).request
    assert (await ret.plan()).eligible == 1  # the first minute is held
    await withdraw_export(db, r.id, None, CLERK, SETTINGS, clock.now_us())
    assert (await ret.plan()).eligible == 2
    async with db.read() as s:
        found = await holds.list_holds(s)
    assert [(h.kind, h.released_by) for h in found] == [("export", "clerk")]
