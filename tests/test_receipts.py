"""Counters, receipts and holds in the index, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from index.cameras import ensure_camera
from index.counters import (
    cameras_for_counter,
    create_counter,
    delete_counter,
    ensure_counter,
    get_counter,
    link_camera_counters,
    list_counters,
    update_counter,
)
from index.db import Database
from index.errors import Conflict, CounterNotFound, InvalidRecord, ReceiptNotFound
from index.holds import holds_for_receipt, holds_overlapping
from index.models import Hold, Receipt
from index.receipts import (
    ReceiptIn,
    ReceiptSettings,
    complete_receipt,
    get_receipt,
    hold_end_us,
    record_receipt,
)

T0 = 1_795_000_000_000_000
SECOND = 1_000_000
HOUR = 3600 * SECOND
SETTINGS = ReceiptSettings()
NOW = T0 + 10 * 60 * SECOND


async def _setup(db: Database) -> tuple[int, int]:
    async def fn(s: AsyncSession) -> tuple[int, int]:
        cam1 = await ensure_camera(s, "cam1", "rtsp://h/1", ["A01"], True, T0)
        cam2 = await ensure_camera(s, "cam2", "rtsp://h/2", ["A01", "B01"], True, T0)
        await link_camera_counters(s, cam1.id, ["A01"], T0)
        await link_camera_counters(s, cam2.id, ["A01", "B01"], T0)
        return cam1.id, cam2.id

    return await db.write(fn)


def _rin(**kw: object) -> ReceiptIn:
    base = ReceiptIn(
        receipt_no="R-2026/0001",
        counter="A01",
        accepted_us=T0,
        completed_us=T0 + 5 * 60 * SECOND,
        case_no="C1",
        service="passport",
        handler="wang",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def _post(
    db: Database, rin: ReceiptIn, now_us: int = NOW, settings: ReceiptSettings = SETTINGS
):  # type: ignore[no-untyped-def]
    return await db.write(lambda s: record_receipt(s, rin, now_us, settings))


async def _count(db: Database, model: type) -> int:
    async with db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


# --- counters -------------------------------------------------------------------


async def test_link_camera_counters_creates_code_only_counters_and_replaces_links(
    db: Database,
) -> None:
    _, cam2 = await _setup(db)
    async with db.read() as s:
        counters = await list_counters(s)
        assert [(c.code, c.name, c.site) for c in counters] == [
            ("A01", "A01", None),
            ("B01", "B01", None),
        ]
        a01 = await get_counter(s, "A01")
        assert [name for _, name in await cameras_for_counter(s, a01.id)] == ["cam1", "cam2"]
    await db.write(lambda s: link_camera_counters(s, cam2, ["B01"], T0))
    async with db.read() as s:
        assert [name for _, name in await cameras_for_counter(s, a01.id)] == ["cam1"]


async def test_counter_crud(db: Database) -> None:
    created = await db.write(lambda s: create_counter(s, "C01", "Window 1", "Hall 1", T0))
    assert (created.code, created.name, created.site, created.created_us) == (
        "C01",
        "Window 1",
        "Hall 1",
        T0,
    )
    with pytest.raises(Conflict, match="already exists"):
        await db.write(lambda s: create_counter(s, "C01", "x", None, T0))
    with pytest.raises(InvalidRecord, match="counter code"):
        await db.write(lambda s: create_counter(s, "C 1", "x", None, T0))
    updated = await db.write(lambda s: update_counter(s, "C01", "Window 9", None))
    assert (updated.name, updated.site, updated.created_us) == ("Window 9", None, T0)
    again = await db.write(lambda s: ensure_counter(s, "C01", "Window 1", "Hall 2", T0 + 1))
    assert (again.id, again.name, again.site, again.created_us) == (
        created.id,
        "Window 1",
        "Hall 2",
        T0,
    )
    with pytest.raises(CounterNotFound):
        await db.write(lambda s: update_counter(s, "nope", "x", None))
    await db.write(lambda s: delete_counter(s, "C01"))
    with pytest.raises(CounterNotFound):
        await db.write(lambda s: delete_counter(s, "C01"))


async def test_counter_with_receipts_cannot_be_deleted(db: Database) -> None:
    await _setup(db)
    await _post(db, _rin())
    with pytest.raises(Conflict, match="receipts refer to it"):
        await db.write(lambda s: delete_counter(s, "A01"))
    # Without receipts a linked counter goes, with its links.
    await db.write(lambda s: delete_counter(s, "B01"))
    async with db.read() as s:
        assert [c.code for c in await list_counters(s)] == ["A01"]


# --- receipts and holds -----------------------------------------------------------


async def test_receipt_places_one_hold_per_camera_of_its_counter(db: Database) -> None:
    cam1, cam2 = await _setup(db)
    record, created = await _post(db, _rin())
    assert created
    assert (record.receipt_no, record.counter, record.accepted_us) == ("R-2026/0001", "A01", T0)
    assert (record.case_no, record.service, record.handler) == ("C1", "passport", "wang")
    assert record.created_us == record.updated_us == NOW
    async with db.read() as s:
        holds = await holds_for_receipt(s, record.id)
        assert await get_receipt(s, "R-2026/0001") == record
        assert [h.id for h in await holds_overlapping(s, cam1, T0, T0 + 1)] == [holds[0].id]
        assert await holds_overlapping(s, cam1, T0 + HOUR, T0 + 2 * HOUR) == []
    assert [(h.camera_id, h.camera) for h in holds] == [(cam1, "cam1"), (cam2, "cam2")]
    for h in holds:
        assert h.start_us == T0 - 30 * SECOND
        assert h.end_us == T0 + 5 * 60 * SECOND + 30 * SECOND
        assert h.receipt_id == record.id
        assert "R-2026/0001" in h.reason


async def test_same_receipt_twice_is_one_receipt(db: Database) -> None:
    await _setup(db)
    first, created = await _post(db, _rin())
    again, created_again = await _post(db, _rin(), now_us=NOW + HOUR)
    assert created and not created_again
    assert again == first
    assert await _count(db, Receipt) == 1
    assert await _count(db, Hold) == 2


async def test_conflicting_receipt_names_the_fields(db: Database) -> None:
    await _setup(db)
    await _post(db, _rin())
    with pytest.raises(Conflict) as info:
        await _post(db, _rin(counter="B01", handler="li"))
    message = str(info.value)
    assert "counter" in message and "handler" in message and "R-2026/0001" in message
    assert "case_no" not in message
    with pytest.raises(Conflict, match="accepted_at"):
        await _post(db, _rin(accepted_us=T0 + SECOND))
    with pytest.raises(Conflict, match="completed_at"):
        await _post(db, _rin(completed_us=T0 + 6 * 60 * SECOND))
    async with db.read() as s:
        stored = await get_receipt(s, "R-2026/0001")
    assert (stored.counter, stored.handler, stored.accepted_us) == ("A01", "wang", T0)


async def test_open_receipt_hold_has_no_end_then_completion_sets_it(db: Database) -> None:
    await _setup(db)
    record, _ = await _post(db, _rin(completed_us=None))
    assert record.completed_us is None
    async with db.read() as s:
        holds = await holds_for_receipt(s, record.id)
    assert [h.end_us for h in holds] == [None, None]
    # An open hold runs to now, capped at accepted + open_hold_max.
    assert hold_end_us(None, record, NOW, SETTINGS) == NOW
    assert hold_end_us(None, record, T0 + 20 * HOUR, SETTINGS) == T0 + 12 * HOUR
    done_us = T0 + 7 * 60 * SECOND
    completed, changed = await db.write(
        lambda s: complete_receipt(s, "R-2026/0001", done_us, NOW + SECOND, SETTINGS)
    )
    assert changed and completed.completed_us == done_us and completed.updated_us == NOW + SECOND
    async with db.read() as s:
        holds = await holds_for_receipt(s, record.id)
    assert [h.end_us for h in holds] == [done_us + 30 * SECOND] * 2
    # The same completion again is a no-op; another time is a conflict.
    same, changed = await db.write(
        lambda s: complete_receipt(s, "R-2026/0001", done_us, NOW + HOUR, SETTINGS)
    )
    assert not changed and same == completed
    with pytest.raises(Conflict, match="already completed"):
        await db.write(lambda s: complete_receipt(s, "R-2026/0001", done_us + 1, NOW, SETTINGS))
    # Reposting the opening payload (a retried delivery) is not a conflict.
    again, created = await _post(db, _rin(completed_us=None))
    assert not created and again.completed_us == done_us


async def test_repost_with_completion_completes_an_open_receipt(db: Database) -> None:
    await _setup(db)
    record, _ = await _post(db, _rin(completed_us=None))
    done, created = await _post(db, _rin())
    assert not created and done.completed_us == T0 + 5 * 60 * SECOND
    async with db.read() as s:
        holds = await holds_for_receipt(s, record.id)
    assert [h.end_us for h in holds] == [T0 + 5 * 60 * SECOND + 30 * SECOND] * 2


async def test_completion_errors(db: Database) -> None:
    await _setup(db)
    with pytest.raises(ReceiptNotFound):
        await db.write(lambda s: complete_receipt(s, "R-unknown", T0, NOW, SETTINGS))
    await _post(db, _rin(completed_us=None))
    with pytest.raises(InvalidRecord, match="before accepted_at"):
        await db.write(lambda s: complete_receipt(s, "R-2026/0001", T0 - 1, NOW, SETTINGS))
    with pytest.raises(InvalidRecord, match="in the future"):
        await db.write(
            lambda s: complete_receipt(s, "R-2026/0001", NOW + 301 * SECOND, NOW, SETTINGS)
        )
    with pytest.raises(InvalidRecord, match="longer than the maximum"):
        await db.write(
            lambda s: complete_receipt(s, "R-2026/0001", T0 + 13 * HOUR, T0 + 13 * HOUR, SETTINGS)
        )
    async with db.read() as s:
        assert (await get_receipt(s, "R-2026/0001")).completed_us is None


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"counter": "Z99"}, CounterNotFound, "no counter with code 'Z99'"),
        ({"completed_us": T0 - SECOND}, InvalidRecord, "completed_at is before accepted_at"),
        (
            {"accepted_us": NOW + 301 * SECOND, "completed_us": None},
            InvalidRecord,
            "accepted_at is 301 s in the future",
        ),
        (
            {"completed_us": NOW + 400 * SECOND},
            InvalidRecord,
            "completed_at is 400 s in the future",
        ),
        (
            {"accepted_us": T0 - 12 * HOUR - 1, "completed_us": T0},
            InvalidRecord,
            "longer than the maximum of 12 h",
        ),
        ({"receipt_no": "-R1"}, InvalidRecord, "malformed"),
        ({"receipt_no": "R 1"}, InvalidRecord, "malformed"),
        ({"receipt_no": "R" * 65}, InvalidRecord, "malformed"),
        ({"receipt_no": ""}, InvalidRecord, "malformed"),
        ({"handler": "x" * 201}, InvalidRecord, "handler is longer"),
    ],
)
async def test_validation_errors_write_nothing(
    db: Database, change: dict[str, object], error: type[Exception], message: str
) -> None:
    await _setup(db)
    with pytest.raises(error, match=message):
        await _post(db, _rin(**change))
    assert await _count(db, Receipt) == 0
    assert await _count(db, Hold) == 0


async def test_limits_follow_the_settings(db: Database) -> None:
    await _setup(db)
    tight = ReceiptSettings(max_future_us=0, max_duration_us=60 * SECOND)
    with pytest.raises(InvalidRecord, match="longer than the maximum"):
        await _post(db, _rin(), settings=tight)
    ok, _ = await _post(db, _rin(completed_us=T0 + 60 * SECOND, accepted_us=T0), settings=tight)
    assert ok.completed_us == T0 + 60 * SECOND
    exact = ReceiptIn(receipt_no="R2", counter="A01", accepted_us=NOW + 300 * SECOND)
    await _post(db, exact)  # exactly max_future ahead is accepted


async def test_late_receipt_hours_after_the_footage(db: Database) -> None:
    await _setup(db)
    late_now = T0 + 6 * HOUR
    record, created = await _post(db, _rin(), now_us=late_now)
    assert created and record.created_us == late_now
    async with db.read() as s:
        holds = await holds_for_receipt(s, record.id)
    assert [h.start_us for h in holds] == [T0 - 30 * SECOND] * 2


async def test_failure_mid_transaction_leaves_nothing(db: Database) -> None:
    await _setup(db)

    async def post_then_fail(s: AsyncSession) -> None:
        await record_receipt(s, _rin(), NOW, SETTINGS)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(post_then_fail)
    assert await _count(db, Receipt) == 0
    assert await _count(db, Hold) == 0


async def test_receipt_for_a_counter_without_cameras_has_no_holds(db: Database) -> None:
    await db.write(lambda s: create_counter(s, "X01", "Lonely", None, T0))
    record, created = await _post(db, _rin(counter="X01"))
    assert created
    async with db.read() as s:
        assert await holds_for_receipt(s, record.id) == []


async def test_supervisor_registers_config_counters_and_links(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from surveil.clock import FakeClock
    from surveil.config import parse_config
    from surveil.supervisor import Supervisor

    def config(cam_counters: list[str]):  # type: ignore[no-untyped-def]
        return parse_config(
            {
                "data_dir": str(tmp_path),
                "counters": [{"code": "A01", "name": "Window 1", "site": "Hall 1"}],
                "cameras": [
                    {
                        "name": "cam1",
                        "url": "rtsp://h/1",
                        "counters": cam_counters,
                        "enabled": False,
                    }
                ],
            }
        )

    supervisor = Supervisor(config(["A01", "B07"]), db, FakeClock(T0))
    await supervisor.start()
    await supervisor.stop()
    async with db.read() as s:
        counters = {c.code: c for c in await list_counters(s)}
        assert (counters["A01"].name, counters["A01"].site) == ("Window 1", "Hall 1")
        assert (counters["B07"].name, counters["B07"].site) == ("B07", None)
        linked = await cameras_for_counter(s, counters["B07"].id)
    assert [name for _, name in linked] == ["cam1"]
    # A restart with another list replaces the links.
    supervisor = Supervisor(config(["A01"]), db, FakeClock(T0 + SECOND))
    await supervisor.start()
    await supervisor.stop()
    async with db.read() as s:
        assert await cameras_for_counter(s, counters["B07"].id) == []
        assert len(await cameras_for_counter(s, counters["A01"].id)) == 1
