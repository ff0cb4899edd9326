"""A damaged segment is an alarm: on the dashboard and in /api/v1/health, until it is intact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from index import cameras, runs, segments
from index.db import Database
from surveil.archive import mark_segment_damaged, mark_segment_missing
from tests.rows import sealed_segment
from tests.test_accounts_api import SECOND, T0, Hall, open_hall


@pytest.fixture
async def hall(db: Database, tmp_path: Path) -> AsyncIterator[Hall]:
    h = await open_hall(db, tmp_path)
    try:
        yield h
    finally:
        await h.client.close()


async def _footage(db: Database, camera: str, n: int) -> list[int]:
    cam = await db.write(
        lambda s: cameras.ensure_camera(s, camera, "rtsp://h/x", ["A01"], True, T0)
    )
    run_id = await db.write(lambda s: runs.start_run(s, cam.id, T0, "connected"))
    ids = []
    for i in range(n):
        start = T0 + i * 60 * SECOND
        row = sealed_segment(cam.id, run_id, i, f"{camera}/{i}.mp4", start, start + 60 * SECOND)
        ids.append(await db.write(lambda s, r=row: segments.upsert_segment(s, r)))
    return ids


async def _dashboard(hall: Hall, lang: str) -> str:
    resp = await hall.client.get(f"/dashboard?lang={lang}")
    body = await resp.text()
    assert resp.status == 200, body
    return body


async def test_damaged_segments_raise_an_alarm(hall: Hall) -> None:
    db = hall.db
    a_ids = await _footage(db, "cam-a", 3)
    b_ids = await _footage(db, "cam-b", 1)
    assert await hall.login("root") == 303
    assert "damaged" not in await _dashboard(hall, "en")
    status, health = await hall.call("GET", "/api/v1/health", token=None)
    assert (status, health["status"], health["damaged_segments"]) == (200, "ok", 0)

    async with db.read() as s:
        a0, a1, a2 = [await segments.get_segment(s, i) for i in a_ids]
        b0 = await segments.get_segment(s, b_ids[0])
    now = T0 + 3600 * SECOND
    await mark_segment_damaged(db, a0, 10, now, "size differs")
    await mark_segment_damaged(db, a1, None, now, "sha256 differs")
    await mark_segment_missing(db, a2, now)  # an event, not this alarm
    await mark_segment_damaged(db, b0, 10, now, "size differs")

    en = await _dashboard(hall, "en")
    assert "Camera cam-a: 2 damaged segment files" in en
    assert "Camera cam-b: 1 damaged segment files" in en
    zh = await _dashboard(hall, "zh")
    assert "摄像机 cam-a 有 2 个录像文件已损坏" in zh
    status, health = await hall.call("GET", "/api/v1/health", token=None)
    # Degraded, not down: recording goes on; no camera names for an anonymous caller.
    assert (status, health["status"], health["damaged_segments"]) == (200, "degraded", 3)
    assert "cam-a" not in str(health)
