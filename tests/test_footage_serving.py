"""Serving footage from a real archive: real segment files the writer made, indexed on both
backends. A clip includes the segment still being written (its durable part), plays around
a missing or damaged segment, and marks a file found gone or of the wrong size; a segment
download checks the size first; Range follows RFC 9110 for clips and segments alike."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from index import events, segments
from index.cameras import ensure_camera
from index.db import Database
from index.records import SegmentRecord, SegmentRow
from index.runs import start_run
from index.tokens import create_token
from segmenter.boxes import scan_file
from segmenter.paths import PART_SUFFIX, segment_path
from surveil import serving
from surveil.accounts import new_token
from surveil.archive import mark_segment_missing
from surveil.clock import FakeClock
from surveil.status import CameraStatus
from surveil.timefmt import iso_from_us, us_from_iso
from tests.media import US, MediaLibrary, Recording, record
from web.app import create_app
from web.files import sealed_etag

T0 = us_from_iso("2026-11-26T20:00:00+00:00")
FRAME_US = US // 25
SEGMENTS = 4


class _NoCameras:
    def camera_status(self) -> list[CameraStatus]:
        return []


@pytest.fixture(scope="module")
def recording(media: MediaLibrary) -> Recording:
    rec = record(media.path("h264_aac.mkv"), segment_us=2 * US)
    assert rec.error is None and len(rec.started) > SEGMENTS
    return rec


@dataclass
class Archive:
    client: TestClient[Any, Any]
    db: Database
    data_dir: Path
    rec: Recording
    rows: list[SegmentRow]
    ids: list[int]
    auth: dict[str, str]

    def file(self, i: int) -> Path:
        return self.data_dir / self.rows[i].path

    async def segment(self, i: int) -> SegmentRecord:
        async with self.db.read() as s:
            return await segments.get_segment(s, self.ids[i])

    async def events(self, kind: str) -> list[int | None]:
        async with self.db.read() as s:
            return [e.segment_id for e in await events.list_events(s, kind=kind)]

    async def clip(self, start_us: int, end_us: int, **headers: str) -> Any:
        params = {"start": iso_from_us(start_us), "end": iso_from_us(end_us)}
        return await self.client.get(
            "/api/v1/clips/cam1.mp4", params=params, headers={**self.auth, **headers}
        )

    def fragment_end_us(self, i: int, k: int) -> int:
        """Wall time of the end of fragment k of segment i."""
        first = self.rec.started[0].start_media_us
        return T0 + self.rec.fragments[i][k].end_media_us - first


def _rows(rec: Recording, camera_id: int, run_id: int) -> list[SegmentRow]:
    first = rec.started[0].start_media_us
    out = []
    for started, finished in list(zip(rec.started, rec.finished, strict=False))[:SEGMENTS]:
        data = rec.file_bytes(started.sequence)
        start_us = T0 + started.start_media_us - first
        end_us = T0 + finished.end_media_us - first
        out.append(
            SegmentRow(
                camera_id=camera_id,
                run_id=run_id,
                sequence=started.sequence,
                path=segment_path("cam1", start_us, run_id, started.sequence),
                start_us=start_us,
                end_us=end_us,
                duration_us=end_us - start_us,
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                state="sealed",
                video_codec=started.video_codec,
                audio_codec=started.audio_codec,
                fragments=finished.fragments,
                clock_sync="synced",
                camera_clock_offset_us=None,
                created_us=start_us,
                sealed_us=end_us,
            )
        )
    return out


def _opened(row: SegmentRow, durable: int, fragments: int, end_us: int) -> SegmentRow:
    """The row of a segment still being written, with this much of it durable."""
    return dataclasses.replace(
        row,
        state="open",
        sha256=None,
        sealed_us=None,
        bytes=durable,
        fragments=fragments,
        end_us=end_us,
        duration_us=end_us - row.start_us,
    )


@pytest.fixture
async def archive(
    request: pytest.FixtureRequest, db: Database, tmp_path: Path, recording: Recording
) -> AsyncIterator[Archive]:
    """Segments of one run, all sealed; with param True the last one is still open."""
    data_dir = tmp_path / "data"
    open_last = getattr(request, "param", False)

    async def seed(s: Any) -> tuple[list[SegmentRow], list[int]]:
        cam = await ensure_camera(s, "cam1", "rtsp://10.0.0.1/s", ("A1",), True, T0)
        run_id = await start_run(s, cam.id, T0, "connected")
        rows = _rows(recording, cam.id, run_id)
        ids = []
        for i, row in enumerate(rows):
            ids.append(await segments.open_segment(s, _opened(row, 0, 0, row.start_us)))
            if not (open_last and i == len(rows) - 1):
                await segments.update_segment(s, row)
        return rows, ids

    rows, ids = await db.write(seed)
    for row in rows:
        path = data_dir / row.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(recording.file_bytes(row.sequence))
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "t", "staff", digest, T0))
    app = create_app(db, _NoCameras(), data_dir, FakeClock(T0 + 3600 * US))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Archive(
            client, db, data_dir, recording, rows, ids, {"Authorization": f"Bearer {token}"}
        )
    finally:
        await client.close()


def _clip_span(resp: Any) -> tuple[int, int]:
    start = int(resp.headers["X-Clip-Start-Us"])
    return start, start + int(resp.headers["X-Clip-Duration-Us"])


def _near(a: int, b: int) -> bool:
    return abs(a - b) <= FRAME_US


# --- the segment still being written ---------------------------------------------------


OPEN_LAST = pytest.mark.parametrize("archive", [True], indirect=True, ids=["open_last"])


@OPEN_LAST
async def test_clip_includes_the_durable_part_of_the_open_segment(archive: Archive) -> None:
    last = SEGMENTS - 1
    row = archive.rows[last]
    data = archive.file(last).read_bytes()
    ends = [f.end for f in scan_file(data).fragments]
    # The last segment as the recorder leaves it mid-way: NAME.part holds one durable,
    # indexed fragment, a second written but not yet indexed, and half of a third.
    part = archive.file(last).with_name(archive.file(last).name + PART_SUFFIX)
    archive.file(last).rename(part)
    with open(part, "r+b") as f:
        f.truncate(ends[1] + 100)

    async def set_row(durable: int, fragments: int, end_us: int) -> None:
        open_row = _opened(row, durable, fragments, end_us)
        await archive.db.write(lambda s: segments.update_segment(s, open_row))

    await set_row(ends[0], 1, archive.fragment_end_us(last, 0))
    window = (archive.rows[0].start_us, T0 + 3000 * US)
    resp = await archive.clip(*window)
    assert resp.status == 200, await resp.text()
    first_body, first_etag = await resp.read(), resp.headers["ETag"]
    # Up to the end of the durable fragment, not a byte further.
    assert _near(_clip_span(resp)[1], archive.fragment_end_us(last, 0))

    # The next fragment lands: the row grows, so does the clip, and its ETag changes.
    await set_row(ends[1], 2, archive.fragment_end_us(last, 1))
    resp = await archive.clip(*window)
    grown, grown_etag = await resp.read(), resp.headers["ETag"]
    assert _near(_clip_span(resp)[1], archive.fragment_end_us(last, 1))
    assert len(grown) > len(first_body) and grown_etag != first_etag
    # A Range read validated against the old tag gets the new whole clip (RFC 9110 If-Range).
    resp = await archive.clip(*window, Range="bytes=0-99", **{"If-Range": first_etag})
    assert resp.status == 200 and await resp.read() == grown
    resp = await archive.clip(*window, Range="bytes=1000-", **{"If-Range": grown_etag})
    assert resp.status == 206 and await resp.read() == grown[1000:]

    # The seal renames NAME.part to NAME before the row says so: the same bytes, same tag.
    with open(part, "r+b") as f:
        f.truncate(ends[1])
    part.rename(archive.file(last))
    resp = await archive.clip(*window, Range="bytes=500-4999")
    assert resp.status == 206 and resp.headers["ETag"] == grown_etag
    assert await resp.read() == grown[500:5000]


@OPEN_LAST
async def test_open_segment_shorter_than_its_row_is_left_out(archive: Archive) -> None:
    last = SEGMENTS - 1
    row = _opened(archive.rows[last], archive.rows[last].bytes, 2, archive.rows[last].end_us)
    await archive.db.write(lambda s: segments.update_segment(s, row))
    part = archive.file(last).with_name(archive.file(last).name + PART_SUFFIX)
    archive.file(last).rename(part)
    with open(part, "r+b") as f:
        f.truncate(row.bytes // 2)
    resp = await archive.clip(archive.rows[0].start_us, T0 + 3000 * US)
    assert resp.status == 200
    assert _near(_clip_span(resp)[1], archive.rows[last - 1].end_us)
    # An open segment is left to recovery at the next start, never marked by a reader.
    assert (await archive.segment(last)).state == "open"


# --- holes: a clip never bridges a missing or damaged segment ------------------------


async def test_clip_plays_around_a_missing_segment(archive: Archive) -> None:
    await mark_segment_missing(archive.db, await archive.segment(1), T0)
    whole = (archive.rows[0].start_us, archive.rows[-1].end_us)
    resp = await archive.clip(*whole)
    assert resp.status == 200, await resp.text()
    start, end = _clip_span(resp)
    assert start == archive.rows[0].start_us and _near(end, archive.rows[0].end_us)
    # The stretch after the hole is the next clip.
    resp = await archive.clip(archive.rows[1].start_us, whole[1])
    start, end = _clip_span(resp)
    assert start == archive.rows[2].start_us and _near(end, archive.rows[-1].end_us)


async def test_clip_file_gone_when_served_is_marked_missing(archive: Archive) -> None:
    archive.file(1).unlink()
    resp = await archive.clip(archive.rows[0].start_us, archive.rows[-1].end_us)
    assert resp.status == 200, await resp.text()
    assert _near(_clip_span(resp)[1], archive.rows[0].end_us)
    assert (await archive.segment(1)).state == "missing"
    assert await archive.events("segment_missing") == [archive.ids[1]]
    # Every file gone: nothing to play.
    for i in range(SEGMENTS):
        archive.file(i).unlink(missing_ok=True)
    resp = await archive.clip(archive.rows[0].start_us, archive.rows[-1].end_us)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "no_footage"


@pytest.mark.parametrize("change", ["cut", "grown"])
async def test_clip_file_of_wrong_size_is_marked_damaged(archive: Archive, change: str) -> None:
    data = archive.file(2).read_bytes()
    archive.file(2).write_bytes(data[:-10] if change == "cut" else data + b"\0")
    resp = await archive.clip(archive.rows[0].start_us, archive.rows[-1].end_us)
    assert resp.status == 200, await resp.text()
    assert _near(_clip_span(resp)[1], archive.rows[1].end_us)
    assert (await archive.segment(2)).state == "damaged"
    assert await archive.events("segment_damaged") == [archive.ids[2]]


# --- segment downloads: size checked, an ETag that does not claim a re-hash -------------


async def test_segment_etag_derives_from_size_and_sealed_hash(archive: Archive) -> None:
    row = archive.rows[0]
    resp = await archive.client.get(f"/api/v1/segments/{archive.ids[0]}", headers=archive.auth)
    assert resp.status == 200
    assert await resp.read() == archive.file(0).read_bytes()
    assert resp.headers["ETag"] == f'"{sealed_etag(row.sha256 or "", row.bytes)}"'
    assert row.sha256 is not None and row.sha256 not in resp.headers["ETag"]


@pytest.mark.parametrize("change", ["cut", "grown"])
async def test_segment_of_wrong_size_is_409_and_marked_damaged(
    archive: Archive, change: str
) -> None:
    data = archive.file(0).read_bytes()
    archive.file(0).write_bytes(data[:-1] if change == "cut" else data + b"x")
    url = f"/api/v1/segments/{archive.ids[0]}"
    for _ in range(2):  # found at serve time, then known from the index
        resp = await archive.client.get(url, headers=archive.auth)
        assert resp.status == 409
        assert (await resp.json())["error"]["code"] == "segment_damaged"
    assert (await archive.segment(0)).state == "damaged"
    assert await archive.events("segment_damaged") == [archive.ids[0]]


async def test_segment_gone_is_410_and_marked_missing(archive: Archive) -> None:
    archive.file(0).unlink()
    resp = await archive.client.get(f"/api/v1/segments/{archive.ids[0]}", headers=archive.auth)
    assert resp.status == 410
    assert (await resp.json())["error"]["code"] == "segment_gone"
    assert (await archive.segment(0)).state == "missing"
    assert await archive.events("segment_missing") == [archive.ids[0]]


# --- Range (RFC 9110), one behaviour for clips and segments ----------------------------


async def _target(archive: Archive, kind: str) -> tuple[str, dict[str, str], bytes, str]:
    """URL, query and the whole body and ETag of a segment or a clip."""
    if kind == "segment":
        url, params = f"/api/v1/segments/{archive.ids[0]}", {}
    else:
        url = "/api/v1/clips/cam1.mp4"
        params = {
            "start": iso_from_us(archive.rows[0].start_us),
            "end": iso_from_us(archive.rows[1].end_us),
        }
    resp = await archive.client.get(url, params=params, headers=archive.auth)
    assert resp.status == 200
    return url, params, await resp.read(), resp.headers["ETag"]


@pytest.mark.parametrize("kind", ["segment", "clip"])
async def test_range_requests(archive: Archive, kind: str) -> None:
    url, params, whole, etag = await _target(archive, kind)
    size = len(whole)

    async def get(method: str = "GET", **headers: str) -> Any:
        return await archive.client.request(
            method, url, params=params, headers={**archive.auth, **headers}
        )

    partial = {
        "bytes=0-9": (0, 10),
        "BYTES=0-9": (0, 10),  # range units are case-insensitive
        "bytes=0-9,": (0, 10),  # an empty list element is allowed
        "bytes=-5": (size - 5, size),
        f"bytes=-{size + 10}": (0, size),
        "bytes=10-": (10, size),
        f"bytes={size - 1}-{size + 1000}": (size - 1, size),
    }
    for value, (a, b) in partial.items():
        resp = await get(Range=value)
        assert resp.status == 206, value
        assert resp.headers["Content-Range"] == f"bytes {a}-{b - 1}/{size}", value
        assert await resp.read() == whole[a:b], value
    # Ignored: another unit, a malformed set, several ranges (answered whole, documented).
    for value in ("items=0-5", "bytes=5-3", "bytes=abc", "bytes=", "bytes=0-1,5-9", "0-5"):
        resp = await get(Range=value)
        assert resp.status == 200, value
        assert "Content-Range" not in resp.headers
        assert await resp.read() == whole, value
    for value in ("bytes=-0", f"bytes={size}-", f"bytes={size + 5}-{size + 9}"):
        resp = await get(Range=value)
        assert resp.status == 416, value
        assert resp.headers["Content-Range"] == f"bytes */{size}"
        assert (await resp.json())["error"]["code"] == "range_not_satisfiable"
    # Range is for GET only; HEAD describes the whole body.
    resp = await get("HEAD", Range="bytes=0-9")
    assert resp.status == 200 and resp.headers["Content-Length"] == str(size)
    # If-Range: a strong match keeps the range; a weak tag or a date asks for it all.
    resp = await get(Range="bytes=0-9", **{"If-Range": etag})
    assert resp.status == 206 and await resp.read() == whole[:10]
    for validator in (f"W/{etag}", '"stale"', "Thu, 26 Nov 2026 20:00:00 GMT"):
        resp = await get(Range="bytes=0-9", **{"If-Range": validator})
        assert resp.status == 200 and await resp.read() == whole, validator
    resp = await get(**{"If-None-Match": etag})
    assert resp.status == 304 and resp.headers["ETag"] == etag
    resp = await get(**{"If-Match": '"other"'})
    assert resp.status == 412
    assert (await resp.json())["error"]["code"] == "precondition_failed"


@pytest.mark.parametrize("kind", ["segment", "clip"])
async def test_range_with_an_overlong_number_is_ignored(archive: Archive, kind: str) -> None:
    # int() refuses more than 4300 digits, and no body has 20-digit offsets: a number
    # longer than 19 digits makes the range malformed, which is ignored (whole body).
    url, params, whole, _ = await _target(archive, kind)
    for value in (
        "bytes=0-" + "9" * 20,
        "bytes=" + "0" * 19 + "1-",  # 20 digits, although its value is small
        "bytes=" + "1" * 5000 + "-",
        "bytes=-" + "9" * 4301,
        "bytes=0-" + "9" * 5000,
    ):
        resp = await archive.client.get(
            url, params=params, headers={**archive.auth, "Range": value}
        )
        assert resp.status == 200, (value[:30], resp.status)
        assert "Content-Range" not in resp.headers
        assert await resp.read() == whole
    # 19 digits are still a number.
    resp = await archive.client.get(
        url, params=params, headers={**archive.auth, "Range": "bytes=0-" + "9" * 19}
    )
    assert resp.status == 206 and await resp.read() == whole


# --- a path that is not the file as indexed --------------------------------------------


def _replace_file(path: Path, by: str) -> None:
    """Put something other than the segment's file at its path."""
    path.unlink()
    if by == "directory":
        path.mkdir()
    elif by == "symlink_loop":
        path.symlink_to(path.name)  # opening it fails with ELOOP, not "no such file"
    else:  # dangling symlink: the file is gone
        path.symlink_to(path.with_name("nowhere.mp4"))


# A directory or an unopenable path is not the segment as indexed: damaged (an alarm),
# with the reason. A dangling symlink is a file that is gone: missing.
NOT_THE_FILE = {
    "directory": ("damaged", "segment_damaged", "not a regular file when served"),
    "symlink_loop": (
        "damaged",
        "segment_damaged",
        "cannot be opened (Too many levels of symbolic links) when served",
    ),
    "dangling_symlink": ("missing", "segment_missing", None),
}


@pytest.mark.parametrize("by", NOT_THE_FILE)
async def test_clip_plays_around_a_path_that_is_not_the_file(archive: Archive, by: str) -> None:
    state, event, reason = NOT_THE_FILE[by]
    _replace_file(archive.file(1), by)
    resp = await archive.clip(archive.rows[0].start_us, archive.rows[-1].end_us)
    assert resp.status == 200, await resp.text()
    assert _near(_clip_span(resp)[1], archive.rows[0].end_us)
    assert (await archive.segment(1)).state == state
    assert await archive.events(event) == [archive.ids[1]]
    if reason is not None:
        async with archive.db.read() as s:
            (found,) = await events.list_events(s, kind=event)
        assert found.detail["reason"] == reason


@pytest.mark.parametrize("by", NOT_THE_FILE)
async def test_segment_at_a_path_that_is_not_the_file_is_refused(archive: Archive, by: str) -> None:
    state, event, _ = NOT_THE_FILE[by]
    _replace_file(archive.file(0), by)
    url = f"/api/v1/segments/{archive.ids[0]}"
    status, code = (409, "segment_damaged") if state == "damaged" else (410, "segment_gone")
    for _ in range(2):  # found at serve time, then known from the index
        resp = await archive.client.get(url, headers=archive.auth)
        assert resp.status == status, await resp.text()
        assert (await resp.json())["error"]["code"] == code
    assert (await archive.segment(0)).state == state
    assert await archive.events(event) == [archive.ids[0]]


# --- the serving service, without HTTP -------------------------------------------------


async def test_serving_service_answers_with_domain_errors(archive: Archive) -> None:
    now_us = T0 + 3600 * US
    seg = await archive.segment(0)
    opened = await serving.open_sealed_segment(archive.db, seg, archive.data_dir, now_us)
    with opened.file:
        assert opened.size == archive.rows[0].bytes
        assert opened.file.read() == archive.file(0).read_bytes()
    clip = await serving.plan_playable_clip(
        archive.db,
        archive.data_dir,
        "cam1",
        archive.rows[0].start_us,
        archive.rows[1].end_us,
        now_us,
    )
    assert clip.origin_us == archive.rows[0].start_us
    assert clip.start_us == clip.origin_us + clip.plan.start_offset_us
    assert clip.plan.size > 0

    archive.file(0).unlink()
    with pytest.raises(serving.SegmentGone) as gone:
        await serving.open_sealed_segment(archive.db, seg, archive.data_dir, now_us)
    assert gone.value.code == "segment_gone"
    assert (await archive.segment(0)).state == "missing"
    archive.file(1).write_bytes(b"\0")
    with pytest.raises(serving.SegmentDamaged) as damaged:
        await serving.open_sealed_segment(
            archive.db, await archive.segment(1), archive.data_dir, now_us
        )
    assert damaged.value.code == "segment_damaged"
    opening = dataclasses.replace(await archive.segment(2), state="open")
    with pytest.raises(serving.SegmentOpen) as still_open:
        await serving.open_sealed_segment(archive.db, opening, archive.data_dir, now_us)
    assert still_open.value.code == "segment_open"
    escaping = dataclasses.replace(await archive.segment(2), path="../../etc/passwd")
    with pytest.raises(serving.InvalidSegmentPath):
        await serving.open_sealed_segment(archive.db, escaping, archive.data_dir, now_us)
    with pytest.raises(serving.NoFootage) as nothing:
        await serving.plan_playable_clip(
            archive.db, archive.data_dir, "cam1", T0 - 100 * US, T0 - 50 * US, now_us
        )
    assert nothing.value.code == "no_footage"
    assert all(
        isinstance(e, serving.ServingError) for e in (gone.value, damaged.value, nothing.value)
    )
