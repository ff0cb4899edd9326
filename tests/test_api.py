"""The JSON API against a real database (SQLite and PostgreSQL) and real segment files."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import OperationalError

from index.cameras import ensure_camera
from index.db import Database
from index.records import SegmentRow
from index.runs import start_run
from index.segments import open_segment, update_segment
from index.tokens import create_token, list_tokens, revoke_token
from surveil.accounts import new_token, token_hash
from surveil.clock import FakeClock
from surveil.status import CameraStatus
from surveil.timefmt import iso_from_us, us_from_iso
from web.access import ROUTE_ROLES
from web.app import create_app
from web.files import sealed_etag
from web.keys import PRINCIPAL_KEY
from web.routes import api_document

T0 = us_from_iso("2026-11-26T20:00:00+00:00")
SECOND = 1_000_000
MINUTE = 60 * SECOND
SECRET = "secretpw"
SEGMENT_BYTES = bytes(range(256)) * 40 + b"tail"  # any bytes serve for Range tests


class StubStatus:
    """Fixed camera status, standing in for the supervisor (tested on its own)."""

    def __init__(self, statuses: list[CameraStatus]) -> None:
        self.statuses = statuses

    def camera_status(self) -> list[CameraStatus]:
        return list(self.statuses)


class FailingStatus:
    def camera_status(self) -> list[CameraStatus]:
        raise RuntimeError(f"cannot reach rtsp://u:{SECRET}@10.0.0.9/stream")


def _status() -> StubStatus:
    return StubStatus(
        [
            CameraStatus(
                name="cam1",
                state="recording",
                last_packet_us=T0 - 2_500_000,
                fps=25.0,
                bitrate_bps=2_000_000.0,
                current_segment="cam1/open.mp4",
                error=None,
                run_id=1,
            ),
            # Known to the supervisor only (e.g. just added to the config).
            CameraStatus(
                name="ghost",
                state="connecting",
                last_packet_us=None,
                fps=None,
                bitrate_bps=float("nan"),
                current_segment=None,
                # Status errors are redacted by contract; this one deliberately is not.
                error=f"connection refused: rtsp://u:{SECRET}@h/",
                run_id=None,
            ),
        ]
    )


def _row(camera_id: int, run_id: int, sequence: int, start_us: int, path: str) -> SegmentRow:
    return SegmentRow(
        camera_id=camera_id,
        run_id=run_id,
        sequence=sequence,
        path=path,
        start_us=start_us,
        end_us=start_us + MINUTE,
        duration_us=MINUTE,
        bytes=0,
        sha256=None,
        state="open",
        video_codec="h264",
        audio_codec=None,
        fragments=0,
        clock_sync="synced",
        camera_clock_offset_us=None,
        created_us=start_us,
        sealed_us=None,
    )


def _sealed(row: SegmentRow, data: bytes) -> SegmentRow:
    from dataclasses import replace

    return replace(
        row,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        state="sealed",
        fragments=60,
        sealed_us=row.end_us + SECOND,
    )


class World:
    """Everything a test needs: app client, ids, tokens, clock."""

    client: TestClient
    clock: FakeClock
    db: Database
    data_dir: Path
    status: StubStatus
    token: str
    auditor_token: str
    revoked_token: str
    sealed_id: int
    sealed_sha: str
    open_id: int
    missing_id: int
    cam2_id: int

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def etag(self) -> str:
        """The sealed segment's ETag: derived from its recorded size and hash."""
        return f'"{sealed_etag(self.sealed_sha, len(SEGMENT_BYTES))}"'


async def _seed(world: World) -> None:
    db = world.db
    sealed_path = "cam1/2026/11/26/20-00-00.mp4"
    file = world.data_dir / sealed_path
    file.parent.mkdir(parents=True)
    file.write_bytes(SEGMENT_BYTES)
    world.sealed_sha = hashlib.sha256(SEGMENT_BYTES).hexdigest()

    async def seed(s):  # type: ignore[no-untyped-def]
        cam1 = await ensure_camera(
            s, "cam1", "rtsp://***@10.0.0.1/stream", ("A1", "A2"), True, T0 - 3600 * SECOND
        )
        cam2 = await ensure_camera(
            s, "cam2", "rtsp://***@10.0.0.2/stream", ("B1",), False, T0 - 3600 * SECOND
        )
        run1 = await start_run(s, cam1.id, T0, "startup")
        run2 = await start_run(s, cam2.id, T0, "startup")
        rows = [
            _row(cam1.id, run1, 0, T0, sealed_path),  # [T0, T0+1m) sealed, file present
            _row(cam1.id, run1, 1, T0 + MINUTE, "cam1/2026/11/26/20-01-00.mp4"),  # no file
            _row(cam1.id, run1, 2, T0 + 2 * MINUTE, "cam1/2026/11/26/20-02-00.mp4"),  # open
            _row(cam2.id, run2, 0, T0, "cam2/2026/11/26/20-00-00.mp4"),
        ]
        ids = [await open_segment(s, row) for row in rows]
        await update_segment(s, _sealed(rows[0], SEGMENT_BYTES))
        await update_segment(s, _sealed(rows[1], b"gone"))
        await update_segment(s, _sealed(rows[3], b"cam2"))
        return ids, cam2.id

    (world.sealed_id, world.missing_id, world.open_id, _), world.cam2_id = await db.write(seed)

    tokens = {}
    for name, role in (("staff", "staff"), ("auditor", "auditor"), ("old", "staff")):
        token, digest = new_token()
        tokens[name] = token

        async def add(s, name=name, role=role, digest=digest):  # type: ignore[no-untyped-def]
            return await create_token(s, name, role, digest, T0 - 3600 * SECOND)

        record = await db.write(add)
        if name == "old":
            revoked_id = record.id
    world.token = tokens["staff"]
    world.auditor_token = tokens["auditor"]
    world.revoked_token = tokens["old"]
    await db.write(lambda s: revoke_token(s, revoked_id, T0 - 60 * SECOND))


async def _client(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def world(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[World]:
    w = World()
    w.db = db
    w.clock = FakeClock(T0)
    w.data_dir = tmp_path / "data"
    w.data_dir.mkdir()
    w.status = _status()
    await _seed(w)
    w.client = await _client(create_app(db, w.status, w.data_dir, w.clock))
    try:
        yield w
    finally:
        await w.client.close()
    # A handler fault after the response went out is visible only in the server log.
    server_errors = [r for r in caplog.records if r.name.startswith("aiohttp.server")]
    assert not server_errors, server_errors[0].getMessage()


def _error_code(body: object) -> str:
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


# --- time format -------------------------------------------------------------


def test_time_round_trip_keeps_microseconds() -> None:
    us = us_from_iso("2026-11-26T20:41:00.123456+00:00")
    assert iso_from_us(us) == "2026-11-26T20:41:00.123456+00:00"
    assert us_from_iso("2026-11-27T04:41:00.123456+08:00") == us
    assert us_from_iso("2026-11-26T20:41:00.123456Z") == us
    assert iso_from_us(0) == "1970-01-01T00:00:00.000000+00:00"


@pytest.mark.parametrize("text", ["2026-11-26T20:41:00", "2026-11-26"])
def test_time_without_offset_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must include a UTC offset"):
        us_from_iso(text)


def test_new_token_is_random_and_hashed() -> None:
    token, digest = new_token()
    other, _ = new_token()
    assert token != other
    assert len(token) >= 43
    assert digest == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)


# --- health, auth, headers -----------------------------------------------------


async def test_health_needs_no_token(world: World) -> None:
    resp = await world.client.get("/api/v1/health")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ok",
        "database": "ok",
        "damaged_segments": 0,
        "storage": "ok",
        "reason": None,
        "time": iso_from_us(T0),
    }
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


class _BrokenSession:
    async def __aenter__(self) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("db down"))

    async def __aexit__(self, *exc: object) -> None:
        return None


class _BrokenDatabase:
    """A database whose every read fails, as when the server has gone away."""

    def read(self) -> _BrokenSession:
        return _BrokenSession()


async def test_health_reports_database_failure_with_503(tmp_path: Path) -> None:
    app = create_app(_BrokenDatabase(), StubStatus([]), tmp_path, FakeClock(T0))  # type: ignore[arg-type]
    client = await _client(app)
    try:
        resp = await client.get("/api/v1/health")
        assert resp.status == 503
        body = await resp.json()
        assert body["database"] == "error"
        assert body["status"] == "error"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-real-token"},
    ],
    ids=["missing", "empty", "basic", "unknown"],
)
async def test_api_requires_a_valid_token(world: World, headers: dict[str, str]) -> None:
    for path in ("/api/v1/cameras", "/api/v1/recordings", f"/api/v1/segments/{world.sealed_id}"):
        resp = await world.client.get(path, headers=headers)
        assert resp.status == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.headers["Cache-Control"] == "no-store"
        assert _error_code(await resp.json()) == "unauthorized"


async def test_revoked_token_is_refused(world: World) -> None:
    resp = await world.client.get("/api/v1/cameras", headers=world.auth(world.revoked_token))
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert "revoked" in (await resp.json())["error"]["message"]


@pytest.mark.undocumented  # the router's own 404 and 405, on purpose
async def test_unknown_api_path_needs_token_before_404(world: World) -> None:
    resp = await world.client.get("/api/v1/nothing-here")
    assert resp.status == 401
    resp = await world.client.get("/api/v1/nothing-here", headers=world.auth())
    assert resp.status == 404
    assert _error_code(await resp.json()) == "not_found"
    resp = await world.client.put("/api/v1/cameras", headers=world.auth())
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert _error_code(await resp.json()) == "method_not_allowed"


async def _last_used(world: World) -> int | None:
    # submit() is ordered with write(), so a write drains the pending touch.
    await world.db.write(lambda s: _noop())
    async with world.db.read() as s:
        tokens = {t.name: t for t in await list_tokens(s)}
    return tokens["staff"].last_used_us


async def _noop() -> None:
    return None


async def test_token_use_is_recorded_at_most_once_a_minute(world: World) -> None:
    assert await _last_used(world) is None
    assert (await world.client.get("/api/v1/cameras", headers=world.auth())).status == 200
    assert await _last_used(world) == T0
    world.clock.advance(30 * SECOND)
    assert (await world.client.get("/api/v1/cameras", headers=world.auth())).status == 200
    assert await _last_used(world) == T0
    world.clock.advance(31 * SECOND)
    assert (await world.client.get("/api/v1/cameras", headers=world.auth())).status == 200
    assert await _last_used(world) == T0 + 61 * SECOND


@pytest.mark.undocumented  # a route of the test's own, outside the document
async def test_role_is_available_to_handlers(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "audit", "auditor", digest, T0))

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"role": request[PRINCIPAL_KEY].role})

    monkeypatch.setitem(ROUTE_ROLES, "whoami", frozenset({"auditor"}))
    app = create_app(db, StubStatus([]), tmp_path, FakeClock(T0))
    app.router.add_get("/api/v1/whoami", whoami, name="whoami")
    client = await _client(app)
    try:
        resp = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert await resp.json() == {"role": "auditor"}
    finally:
        await client.close()


async def test_unexpected_error_is_generic_500(db: Database, tmp_path: Path) -> None:
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "t", "staff", digest, T0))
    client = await _client(create_app(db, FailingStatus(), tmp_path, FakeClock(T0)))
    try:
        resp = await client.get("/api/v1/cameras", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 500
        text = await resp.text()
        assert SECRET not in text
        assert "rtsp" not in text
        assert _error_code(json.loads(text)) == "internal_error"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await client.close()


# --- cameras -------------------------------------------------------------------


async def test_cameras_merge_index_and_status(world: World) -> None:
    resp = await world.client.get("/api/v1/cameras", headers=world.auth())
    assert resp.status == 200
    cameras = (await resp.json())["cameras"]
    assert [c["name"] for c in cameras] == ["cam1", "cam2", "ghost"]
    cam1, cam2, ghost = cameras
    assert cam1 == {
        "name": "cam1",
        "state": "recording",
        "last_packet": "2026-11-26T19:59:57.500000+00:00",
        "last_packet_age_s": 2.5,
        "fps": 25.0,
        "bitrate_bps": 2_000_000.0,
        "current_segment": "cam1/open.mp4",
        "error": None,
        "counters": ["A1", "A2"],
        "enabled": True,
        "freshness_p50_s": None,
        "freshness_p99_s": None,
        "frames": 0,
        "clock_offset_s": None,
        "alarms": [],
    }
    # In the index but not reported by the supervisor.
    assert cam2["state"] == "disabled"
    assert cam2["enabled"] is False
    assert cam2["counters"] == ["B1"]
    assert cam2["last_packet"] is None
    # Reported by the supervisor but not (yet) in the index.
    assert ghost["state"] == "connecting"
    assert ghost["enabled"] is True
    assert ghost["counters"] == []
    assert ghost["bitrate_bps"] is None  # NaN is not JSON
    assert ghost["error"] == "connection refused: rtsp://***@h/"


# --- recordings ----------------------------------------------------------------


def _range(start_us: int, end_us: int, **extra: str) -> dict[str, str]:
    return {"start": iso_from_us(start_us), "end": iso_from_us(end_us), **extra}


async def test_recordings_for_one_camera(world: World) -> None:
    resp = await world.client.get(
        "/api/v1/recordings",
        params=_range(T0, T0 + 10 * MINUTE, camera="cam1"),
        headers=world.auth(),
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["truncated"] is False
    segments = body["segments"]
    assert [s["id"] for s in segments] == [world.sealed_id, world.missing_id, world.open_id]
    first = segments[0]
    assert first == {
        "id": world.sealed_id,
        "camera": "cam1",
        "start": "2026-11-26T20:00:00.000000+00:00",
        "end": "2026-11-26T20:01:00.000000+00:00",
        "start_us": T0,
        "end_us": T0 + MINUTE,
        "duration_us": MINUTE,
        "bytes": len(SEGMENT_BYTES),
        "sha256": world.sealed_sha,
        "state": "sealed",
        "video_codec": "h264",
        "audio_codec": None,
        "fragments": 60,
        "clock_sync": "synced",
        "leaf_index": 0,  # the first entry of the log: sealed before anything was audited
        "url": f"/api/v1/segments/{world.sealed_id}",
    }
    assert segments[2]["state"] == "open"
    assert segments[2]["sha256"] is None and segments[2]["leaf_index"] is None


async def test_recordings_range_is_half_open_and_offsets_convert(world: World) -> None:
    # [T0+1m, T0+2m) written in +08:00 touches only the second segment of cam1.
    params = {
        "camera": "cam1",
        "start": "2026-11-27T04:01:00+08:00",
        "end": "2026-11-27T04:02:00+08:00",
    }
    resp = await world.client.get("/api/v1/recordings", params=params, headers=world.auth())
    assert [s["id"] for s in (await resp.json())["segments"]] == [world.missing_id]


async def test_recordings_for_all_cameras(world: World) -> None:
    resp = await world.client.get(
        "/api/v1/recordings", params=_range(T0, T0 + 30 * SECOND), headers=world.auth()
    )
    assert resp.status == 200
    segments = (await resp.json())["segments"]
    assert [s["camera"] for s in segments] == ["cam1", "cam2"]


async def test_recordings_accept_exactly_31_days(world: World) -> None:
    resp = await world.client.get(
        "/api/v1/recordings",
        params=_range(T0 - 31 * 24 * 60 * MINUTE, T0),
        headers=world.auth(),
    )
    assert resp.status == 200


START = "2026-11-26T20:00:00+00:00"
END = "2026-11-26T21:00:00+00:00"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        (f"end={END}", 400, "'start' is required"),
        (f"start={START}", 400, "'end' is required"),
        (f"start=&end={END}", 400, "'start': is not an ISO 8601 time"),
        (f"start=2026-11-26T20:00:00&end={END}", 400, "must include a UTC offset"),
        (f"start={START}&end=2026-11-26T21:00:00", 400, "must include a UTC offset"),
        (f"start=yesterday&end={END}", 400, "not an ISO 8601 time"),
        # An unescaped '+' arrives as a space.
        (f"start=2026-11-26T20:00:00+00:00&end={END}", 400, "%2B"),
        (f"start={START}&end={START}", 422, "'end' must be later than 'start'"),
        (f"start={END}&end={START}", 422, "'end' must be later than 'start'"),
        ("start=2026-10-01T00:00:00Z&end=2026-11-02T00:00:00Z", 422, "at most 31 days"),
        (f"start={START}&end={END}&cam=cam1", 400, "unknown query parameter 'cam'"),
        (f"start={START}&end={END}&camera=cam1&camera=cam2", 400, "more than once"),
    ],
)
async def test_recordings_validation(world: World, query: str, status: int, message: str) -> None:
    # Percent-encode '+' except in the case that tests the unescaped one.
    if "%2B" not in message:
        query = query.replace("+", "%2B")
    resp = await world.client.get(f"/api/v1/recordings?{query}", headers=world.auth())
    assert resp.status == status
    body = await resp.json()
    assert _error_code(body) == ("bad_request" if status == 400 else "invalid_value")
    assert message in body["error"]["message"]


async def test_cameras_refuse_unknown_parameters(world: World) -> None:
    resp = await world.client.get("/api/v1/cameras?state=recording", headers=world.auth())
    assert resp.status == 400
    assert "unknown query parameter 'state'" in (await resp.json())["error"]["message"]


async def test_recordings_unknown_camera_is_404(world: World) -> None:
    resp = await world.client.get(
        "/api/v1/recordings", params=_range(T0, T0 + MINUTE, camera="nope"), headers=world.auth()
    )
    assert resp.status == 404
    body = await resp.json()
    assert _error_code(body) == "camera_not_found"
    assert "nope" in body["error"]["message"]


# --- segment files ---------------------------------------------------------------


async def test_segment_full_download(world: World) -> None:
    resp = await world.client.get(f"/api/v1/segments/{world.sealed_id}", headers=world.auth())
    assert resp.status == 200
    assert await resp.read() == SEGMENT_BYTES
    assert resp.headers["Content-Type"] == "video/mp4"
    assert resp.headers["ETag"] == world.etag()
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert resp.headers["Content-Length"] == str(len(SEGMENT_BYTES))
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_segment_head(world: World) -> None:
    resp = await world.client.head(f"/api/v1/segments/{world.sealed_id}", headers=world.auth())
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(len(SEGMENT_BYTES))
    assert resp.headers["ETag"] == world.etag()


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, len(SEGMENT_BYTES) - 1),
        ("bytes=-4", len(SEGMENT_BYTES) - 4, len(SEGMENT_BYTES) - 1),
        ("bytes=0-99999999", 0, len(SEGMENT_BYTES) - 1),
    ],
)
async def test_segment_range(world: World, range_header: str, first: int, last: int) -> None:
    resp = await world.client.get(
        f"/api/v1/segments/{world.sealed_id}", headers={**world.auth(), "Range": range_header}
    )
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{len(SEGMENT_BYTES)}"
    assert await resp.read() == SEGMENT_BYTES[first : last + 1]
    assert resp.headers["ETag"] == world.etag()


async def test_segment_range_outside_file_is_416(world: World) -> None:
    resp = await world.client.get(
        f"/api/v1/segments/{world.sealed_id}",
        headers={**world.auth(), "Range": f"bytes={len(SEGMENT_BYTES)}-"},
    )
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(SEGMENT_BYTES)}"


async def test_segment_conditionals_use_the_sha256(world: World) -> None:
    url = f"/api/v1/segments/{world.sealed_id}"
    quoted = world.etag()
    resp = await world.client.get(url, headers={**world.auth(), "If-None-Match": quoted})
    assert resp.status == 304
    assert resp.headers["ETag"] == quoted
    resp = await world.client.get(url, headers={**world.auth(), "If-None-Match": '"other"'})
    assert resp.status == 200
    assert await resp.read() == SEGMENT_BYTES

    resp = await world.client.get(url, headers={**world.auth(), "If-Match": quoted})
    assert resp.status == 200
    resp = await world.client.get(url, headers={**world.auth(), "If-Match": '"other"'})
    assert resp.status == 412
    assert _error_code(await resp.json()) == "precondition_failed"

    ranged = {**world.auth(), "Range": "bytes=0-9"}
    resp = await world.client.get(url, headers={**ranged, "If-Range": quoted})
    assert resp.status == 206
    assert await resp.read() == SEGMENT_BYTES[:10]
    resp = await world.client.get(url, headers={**ranged, "If-Range": '"stale"'})
    assert resp.status == 200
    assert await resp.read() == SEGMENT_BYTES


async def test_compressed_sibling_is_never_served(world: World) -> None:
    # FileResponse would serve x.mp4.gz to a gzip-accepting client in place of x.mp4.
    sibling = world.data_dir / "cam1/2026/11/26/20-00-00.mp4.gz"
    sibling.write_bytes(b"not the evidence")
    resp = await world.client.get(
        f"/api/v1/segments/{world.sealed_id}",
        headers={**world.auth(), "Accept-Encoding": "gzip, br"},
        auto_decompress=False,
    )
    assert resp.status == 200
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == SEGMENT_BYTES


async def test_segment_path_outside_data_dir_is_refused(world: World, tmp_path: Path) -> None:
    (tmp_path / "outside.mp4").write_bytes(b"private")

    async def add(s):  # type: ignore[no-untyped-def]
        row = _row(world.cam2_id, 2, 7, T0 + 9 * MINUTE, "../outside.mp4")
        segment_id = await open_segment(s, row)
        await update_segment(s, _sealed(row, b"private"))
        return segment_id

    segment_id = await world.db.write(add)
    resp = await world.client.get(f"/api/v1/segments/{segment_id}", headers=world.auth())
    assert resp.status == 500
    assert b"private" not in await resp.read()


async def test_open_segment_is_409(world: World) -> None:
    resp = await world.client.get(f"/api/v1/segments/{world.open_id}", headers=world.auth())
    assert resp.status == 409
    body = await resp.json()
    assert _error_code(body) == "segment_open"
    assert f"segment {world.open_id} is still being written" in body["error"]["message"]


async def test_segment_file_missing_on_disk_is_410(world: World) -> None:
    resp = await world.client.get(f"/api/v1/segments/{world.missing_id}", headers=world.auth())
    assert resp.status == 410
    body = await resp.json()
    assert _error_code(body) == "segment_gone"
    assert "no longer on disk" in body["error"]["message"]


@pytest.mark.parametrize("segment_id", ["0", "-1", "abc", "1.5", "%2B1", "1e3", "9" * 20])
async def test_segment_id_must_be_positive_integer(world: World, segment_id: str) -> None:
    resp = await world.client.get(f"/api/v1/segments/{segment_id}", headers=world.auth())
    assert resp.status == 400
    body = await resp.json()
    assert _error_code(body) == "bad_request"
    message = body["error"]["message"]
    assert "path parameter 'id'" in message
    assert "positive integer" in message or "greater than or equal to 1" in message


async def test_unknown_segment_is_404(world: World) -> None:
    resp = await world.client.get("/api/v1/segments/999999", headers=world.auth())
    assert resp.status == 404
    assert _error_code(await resp.json()) == "segment_not_found"


# --- OpenAPI -------------------------------------------------------------------


def _registered_operations(app: web.Application) -> set[tuple[str, str]]:
    ops = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        # HEAD is added implicitly with every GET.
        if path.startswith("/api/v1") and route.method != "HEAD":
            ops.add((route.method.lower(), path))
    return ops


def _documented_operations(doc: dict[str, object]) -> set[tuple[str, str]]:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(m, path) for path, item in paths.items() for m in item if m in methods}


async def test_openapi_lists_exactly_the_registered_routes(world: World) -> None:
    resp = await world.client.get("/api/v1/openapi.json")  # no token needed
    assert resp.status == 200
    doc = await resp.json()
    assert doc == api_document()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    app = create_app(world.db, StubStatus([]), world.data_dir, world.clock)
    registered = _registered_operations(app)
    assert registered, "no API routes registered"
    assert registered == _documented_operations(doc)


def test_openapi_path_parameters_are_declared() -> None:
    doc = api_document()
    for path, item in doc["paths"].items():
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            in_path = set(re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path))
            assert declared == in_path, path
            if op.get("security") != []:
                assert "401" in op["responses"], path


# --- secrets -------------------------------------------------------------------


async def test_no_response_contains_a_camera_password(world: World) -> None:
    sealed = f"/api/v1/segments/{world.sealed_id}"
    requests = [
        ("/api/v1/health", {}),
        ("/api/v1/openapi.json", {}),
        ("/api/v1/cameras", world.auth()),
        ("/api/v1/cameras", {}),
        (f"/api/v1/recordings?start={START}&end={END}".replace("+", "%2B"), world.auth()),
        (f"/api/v1/recordings?start={START}&end=x", world.auth()),
        (f"/api/v1/segments/{world.open_id}", world.auth()),
        (f"/api/v1/segments/{world.missing_id}", world.auth()),
        (sealed, world.auth()),
    ]
    for path, headers in requests:
        resp = await world.client.get(path, headers=headers)
        raw = await resp.read()
        assert SECRET.encode() not in raw, path
        assert SECRET not in str(resp.headers), path
