"""Every access to footage and every receipt change is audited (art. 4, art. 25).

Real segment files written by the SegmentWriter, a real index on SQLite and PostgreSQL,
the real web app: each lookup, listing, clip, segment download and page view writes one
audit row naming who, from where and what; a video element's many Range requests for one
clip are one viewing; an access whose row cannot be written is refused with 503.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import list_audit
from index.cameras import ensure_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.records import AuditRecord, SegmentRow
from index.runs import end_run, start_run
from index.segments import upsert_segment
from index.tokens import create_token
from surveil.accounts import new_token
from surveil.clock import FakeClock
from surveil.timefmt import iso_from_us
from tests.harness import NoStatus
from tests.media import MediaLibrary, record
from web.app import create_app

SECOND = 1_000_000
SEGMENT_US = 2 * SECOND


@dataclass
class World:
    client: TestClient
    db: Database
    clock: FakeClock
    tokens: dict[str, str]
    start_us: int
    end_us: int
    segment_ids: list[int]

    def auth(self, who: str = "staff") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def post(self, path: str, body: object) -> ClientResponse:
        return await self.client.post(path, json=body, headers=self.auth())

    async def rows(self, action: str | None = None) -> list[AuditRecord]:
        async with self.db.read() as s:
            rows = await list_audit(s, limit=1000)
        return sorted((a for a in rows if action is None or a.action == action), key=lambda a: a.id)


@pytest.fixture
async def world(db: Database, tmp_path: Path, media: MediaLibrary) -> AsyncIterator[World]:
    rec = record(media.path("h264_aac.mkv"), segment_us=SEGMENT_US)
    data_dir = tmp_path / "data"
    files = rec.write(data_dir / "cam1")
    t0 = 1_800_000_000_000_000
    ids: list[int] = []

    async def seed(s: AsyncSession) -> None:
        await ensure_counter(s, "A01", "Counter 1", None, t0)
        cam = await ensure_camera(s, "cam1", "rtsp://h/1", ["A01"], True, t0)
        await link_camera_counters(s, cam.id, ["A01"], t0)
        run_id = await start_run(s, cam.id, t0, "start")
        for started, done, path in zip(rec.started, rec.finished, files, strict=True):
            data = path.read_bytes()
            start = t0 + started.start_media_us
            duration_us = done.end_media_us - started.start_media_us
            row = SegmentRow(
                camera_id=cam.id,
                run_id=run_id,
                sequence=started.sequence,
                path=path.relative_to(data_dir).as_posix(),
                start_us=start,
                end_us=start + duration_us,
                duration_us=duration_us,
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                state="sealed",
                video_codec="h264",
                audio_codec="aac",
                fragments=len(rec.fragments[started.sequence]),
                clock_sync="synced",
                camera_clock_offset_us=None,
                created_us=start,
                sealed_us=start + duration_us,
            )
            ids.append(await upsert_segment(s, row))
        await end_run(s, run_id, t0 + rec.finished[-1].end_media_us, "stop")

    await db.write(seed)
    end = t0 + rec.finished[-1].end_media_us
    tokens: dict[str, str] = {}
    for name, role in (("staff", "staff"), ("other", "staff"), ("admin", "admin")):
        token, digest = new_token()
        tokens[name] = token
        await db.write(
            lambda s, n=name, r=role, d=digest: create_token(s, n, r, d, t0)  # type: ignore[misc]
        )
    clock = FakeClock(end + 60 * SECOND)
    client = TestClient(TestServer(create_app(db, NoStatus(), data_dir, clock)))
    await client.start_server()
    try:
        yield World(client, db, clock, tokens, t0, end, ids)
    finally:
        await client.close()


def _window(w: World, start_us: int, end_us: int) -> dict[str, str]:
    return {"start": iso_from_us(start_us), "end": iso_from_us(end_us)}


async def test_clip_range_requests_are_one_viewing(world: World) -> None:
    params = _window(world, world.start_us, world.end_us - SECOND)
    url = "/api/v1/clips/cam1.mp4"
    resp = await world.client.get(url, params=params, headers=world.auth())
    assert resp.status == 200, await resp.text()
    whole = await resp.read()
    for lo in range(0, len(whole), max(1, len(whole) // 6)):
        headers = {**world.auth(), "Range": f"bytes={lo}-{lo + 999}"}
        resp = await world.client.get(url, params=params, headers=headers)
        assert resp.status == 206
    rows = await world.rows("footage.clip")
    assert len(rows) == 1, rows
    (row,) = rows
    assert row.actor == "staff" and row.remote is not None and row.target == "cam1"
    assert row.detail["cameras"] == ["cam1"]
    assert row.detail["start_us"] == world.start_us
    assert row.detail["end_us"] == world.end_us - SECOND

    # Another window is another viewing; so is another caller; so is the same one later.
    other = _window(world, world.start_us + SECOND, world.end_us - SECOND)
    assert (await world.client.get(url, params=other, headers=world.auth())).status == 200
    assert (await world.client.get(url, params=params, headers=world.auth("other"))).status == 200
    world.clock.advance(6 * 60 * SECOND)
    assert (await world.client.get(url, params=params, headers=world.auth())).status == 200
    rows = await world.rows("footage.clip")
    assert [(r.actor, r.detail["start_us"]) for r in rows] == [
        ("staff", world.start_us),
        ("staff", world.start_us + SECOND),
        ("other", world.start_us),
        ("staff", world.start_us),
    ]


async def test_concurrent_range_requests_of_one_clip_are_one_row(world: World) -> None:
    params = _window(world, world.start_us, world.end_us - SECOND)

    async def fetch(lo: int) -> int:
        headers = {**world.auth(), "Range": f"bytes={lo}-{lo + 99}"}
        resp = await world.client.get("/api/v1/clips/cam1.mp4", params=params, headers=headers)
        await resp.read()
        return resp.status

    assert await asyncio.gather(*(fetch(i * 100) for i in range(8))) == [206] * 8
    assert len(await world.rows("footage.clip")) == 1


async def test_segment_download_is_audited_once_per_viewing(world: World) -> None:
    url = f"/api/v1/segments/{world.segment_ids[0]}"
    assert (await world.client.get(url, headers=world.auth())).status == 200
    headers = {**world.auth(), "Range": "bytes=0-99"}
    assert (await world.client.get(url, headers=headers)).status == 206
    rows = await world.rows("footage.segment")
    assert len(rows) == 1
    assert rows[0].target == str(world.segment_ids[0])
    assert rows[0].detail["cameras"] == ["cam1"]


async def test_lookups_and_listings_are_audited(world: World) -> None:
    window = _window(world, world.start_us, world.end_us)
    resp = await world.client.get(
        "/api/v1/lookup", params={"counter": "A01", **window}, headers=world.auth()
    )
    assert resp.status == 200, await resp.text()
    resp = await world.client.get(
        "/api/v1/recordings", params={"camera": "cam1", **window}, headers=world.auth()
    )
    assert resp.status == 200, await resp.text()
    body = {
        "receipt_no": "R-1",
        "counter": "A01",
        "accepted_at": iso_from_us(world.start_us + SECOND),
        "completed_at": iso_from_us(world.start_us + 3 * SECOND),
    }
    resp = await world.client.post("/api/v1/receipts", json=body, headers=world.auth())
    assert resp.status == 201, await resp.text()
    resp = await world.client.get("/api/v1/receipts/R-1", headers=world.auth())
    assert resp.status == 200, await resp.text()

    lookups = await world.rows("footage.lookup")
    assert [(r.target, r.detail.get("counter"), r.detail["cameras"]) for r in lookups] == [
        ("A01", "A01", ["cam1"]),
        ("R-1", "A01", ["cam1"]),
    ]
    assert lookups[0].detail["start_us"] == world.start_us
    assert lookups[1].detail["receipt"] == "R-1"
    resp = await world.client.get("/api/v1/receipts/R-1/clips/cam1.mp4", headers=world.auth())
    assert resp.status == 200, await resp.text()
    (clip,) = await world.rows("footage.clip")
    assert clip.detail["receipt"] == "R-1" and clip.detail["counter"] == "A01"
    assert clip.detail["start_us"] == world.start_us + SECOND - 30 * SECOND  # the pre-roll
    (listing,) = await world.rows("footage.recordings")
    assert listing.target == "cam1" and listing.detail["segments"] == len(world.segment_ids)
    assert all(r.actor == "staff" and r.actor_kind == "token" for r in [*lookups, listing])


async def test_receipt_changes_through_the_api_are_audited_with_the_change(world: World) -> None:
    body = {
        "receipt_no": "R-2",
        "counter": "A01",
        "accepted_at": iso_from_us(world.start_us + SECOND),
    }
    assert (await world.post("/api/v1/receipts", body)).status == 201
    # The same receipt again: unchanged, but delivered, so traced.
    assert (await world.post("/api/v1/receipts", body)).status == 200
    done = {"completed_at": iso_from_us(world.start_us + 2 * SECOND)}
    resp = await world.client.post("/api/v1/receipts/R-2/complete", json=done, headers=world.auth())
    assert resp.status == 200, await resp.text()
    # A conflicting one changes nothing, so it leaves no "ok" row either.
    changed = {**body, "accepted_at": iso_from_us(world.start_us)}
    resp = await world.client.post("/api/v1/receipts", json=changed, headers=world.auth())
    assert resp.status == 409
    creates = await world.rows("receipt.create")
    assert [(r.target, r.detail["created"]) for r in creates] == [("R-2", True), ("R-2", False)]
    (complete,) = await world.rows("receipt.complete")
    assert complete.detail["completed_us"] == world.start_us + 2 * SECOND
    assert complete.actor == "staff"


async def _refuse_footage_audit(db: Database) -> None:
    """Make the database refuse audit rows of footage accesses, as a failing disk would."""
    if db.dialect == "sqlite":
        stmts = [
            "CREATE TRIGGER refuse_footage BEFORE INSERT ON audit_log "
            "WHEN NEW.action LIKE 'footage.%' BEGIN SELECT RAISE(ABORT, 'disk failure'); END"
        ]
    else:
        stmts = [
            "CREATE FUNCTION refuse_footage() RETURNS trigger AS $$ BEGIN "
            "IF NEW.action LIKE 'footage.%' THEN RAISE EXCEPTION 'disk failure'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_footage BEFORE INSERT ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION refuse_footage()",
        ]

    async def run(s: AsyncSession) -> None:
        for stmt in stmts:
            await s.execute(text(stmt))

    await db.write(run)


async def test_footage_is_refused_when_its_access_cannot_be_audited(world: World) -> None:
    await _refuse_footage_audit(world.db)
    window = _window(world, world.start_us, world.end_us - SECOND)
    for path, params in (
        ("/api/v1/clips/cam1.mp4", window),
        (f"/api/v1/segments/{world.segment_ids[0]}", {}),
        ("/api/v1/recordings", {"camera": "cam1", **window}),
        ("/api/v1/lookup", {"counter": "A01", **window}),
    ):
        resp = await world.client.get(path, params=params, headers=world.auth())
        assert resp.status == 503, (path, resp.status)
        body = await resp.json()
        assert body["error"]["code"] == "audit_unavailable"
        assert resp.headers["Content-Type"].startswith("application/json")


async def test_lookup_page_views_are_audited(world: World) -> None:
    body = {
        "receipt_no": "R-3",
        "counter": "A01",
        "accepted_at": iso_from_us(world.start_us + SECOND),
        "completed_at": iso_from_us(world.start_us + 3 * SECOND),
    }
    assert (await world.post("/api/v1/receipts", body)).status == 201
    resp = await world.client.get("/lookup", params={"receipt": "R-3"}, headers=world.auth())
    assert resp.status == 200, await resp.text()
    (row,) = await world.rows("footage.lookup")
    assert row.target == "R-3" and row.detail["counter"] == "A01"
    assert row.detail["cameras"] == ["cam1"] and row.actor == "staff"
    # An unknown receipt shows nothing, so there is no access to record.
    resp = await world.client.get("/lookup", params={"receipt": "R-404"}, headers=world.auth())
    assert resp.status == 404
    assert len(await world.rows("footage.lookup")) == 1
