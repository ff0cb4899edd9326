"""End to end: real GStreamer RTSP cameras recorded by the real service."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from index.records import SegmentRecord
from surveil.service import Service
from tests.harness import (
    all_segments,
    camera_gaps,
    camera_runs,
    ffprobe_json,
    make_config,
    sha256_file,
    video_packet_times,
    wait_for,
)

US = 1_000_000


async def _record(
    service_factory: Any,
    tmp_path: Path,
    database_url: str | None,
    cameras: list[dict[str, Any]],
    **recording: Any,
) -> Service:
    cfg = make_config(tmp_path / "data", database_url, cameras, **recording)
    service: Service = await service_factory(cfg)
    return service


def _recorder(service: Service, name: str) -> Any:
    assert service.supervisor is not None
    return service.supervisor.recorders[name]


async def _sealed(service: Service, camera: str, n: int) -> list[SegmentRecord]:
    async def enough() -> bool:
        segs = [s for s in await all_segments(service) if s.camera == camera]
        return sum(1 for s in segs if s.state == "sealed") >= n

    await wait_for(enough, 40, f"{n} sealed segments of {camera}")
    return [s for s in await all_segments(service) if s.camera == camera]


def _check_contiguous_frames(data_dir: Path, segs: list[SegmentRecord], fps: int) -> int:
    """Every frame once: timestamps across segment files advance by one frame each."""
    frame_us = US / fps
    times: list[float] = []
    for seg in sorted(segs, key=lambda s: (s.run_id, s.sequence)):
        offset_us = seg.start_us - segs[0].start_us
        times += [offset_us + t * US for t in video_packet_times(data_dir / seg.path)]
    steps = [b - a for a, b in itertools.pairwise(times)]
    bad = [(i, s) for i, s in enumerate(steps) if not 0.5 * frame_us < s < 1.5 * frame_us]
    assert not bad, f"frame steps off at {bad[:5]} (expected {frame_us} µs)"
    return len(times)


@pytest.mark.parametrize(
    ("video", "audio", "expect_video", "expect_audio"),
    [
        ("h264", "aac", "h264", "aac"),
        ("h265", "aac", "hevc", "aac"),
        ("h264", "pcmu", "h264", "aac"),  # G.711 is converted to AAC (MP4 cannot hold it)
    ],
)
async def test_records_camera_into_hashed_contiguous_segments(
    rtsp_camera: Any,
    service_factory: Any,
    tmp_path: Path,
    video: str,
    audio: str,
    expect_video: str,
    expect_audio: str,
) -> None:
    cam = rtsp_camera(video=video, audio=audio, fps=25, gop=25)
    service = await _record(
        service_factory, tmp_path, None, [{"name": "a01", "url": cam.url, "counters": ["A01"]}]
    )
    await _sealed(service, "a01", 4)
    rec = _recorder(service, "a01")
    last_packet_us = rec.status().last_packet_us
    await service.stop()

    segs = await _all_after_stop(service)
    assert {s.state for s in segs} == {"sealed"}
    runs = {s.run_id for s in segs}
    assert len(runs) == 1
    ordered = sorted(segs, key=lambda s: s.sequence)
    for a, b in itertools.pairwise(ordered):
        assert a.end_us == b.start_us, "segments of a run must tile the timeline"
    for seg in ordered[:-1]:
        assert 2 * US <= seg.duration_us <= 2 * US + 1_100_000  # cut at first keyframe ≥ 2 s
    data_dir = service.cfg.data_dir
    for seg in ordered:
        path = data_dir / seg.path
        assert path.stat().st_size == seg.bytes
        assert sha256_file(path) == seg.sha256
        info = ffprobe_json(path, "-show_streams")
        codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
        assert codecs == {"video": expect_video, "audio": expect_audio}
        assert seg.video_codec == expect_video and seg.audio_codec == expect_audio

    frames = _check_contiguous_frames(data_dir, ordered, 25)
    assert frames == rec.frames_by_run[ordered[0].run_id], "every accepted frame is in a file"

    total_media_us = sum(s.duration_us for s in ordered)
    wall_us = last_packet_us - ordered[0].start_us
    assert abs(total_media_us - wall_us) <= 0.01 * wall_us + 40_000, (total_media_us, wall_us)


async def _all_after_stop(service: Service) -> list[SegmentRecord]:
    from index.db import Database
    from index.segments import all_segments as q_all

    db = await Database.open(service.cfg.effective_database_url)
    try:
        async with db.read() as s:
            return await q_all(s)
    finally:
        await db.close()


async def test_open_segment_row_is_extended_while_recording(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    service = await _record(
        service_factory,
        tmp_path,
        database_url,
        [{"name": "a01", "url": cam.url}],
        segment_seconds=60,
    )
    rec = _recorder(service, "a01")

    async def open_row() -> bool:
        return any(s.state == "open" for s in await all_segments(service))

    await wait_for(open_row, 15, "an open segment row")
    # While the segment is still being written, its row keeps up with capture
    # (how fast is measured by bench/ingest.py, not asserted here).
    ends = []
    for _ in range(8):
        await asyncio.sleep(0.5)
        seg = next(s for s in await all_segments(service) if s.state == "open")
        ends.append(seg.end_us)
        assert seg.bytes <= (service.cfg.data_dir / (seg.path + ".part")).stat().st_size
    assert ends == sorted(ends) and ends[-1] - ends[0] >= 2 * US, ends
    assert time.time_ns() // 1000 - ends[-1] < 10 * US
    assert rec.freshness_us, "freshness is measured for every indexed frame"


async def test_killed_camera_leaves_a_gap_and_recording_resumes(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    service = await _record(
        service_factory, tmp_path, database_url, [{"name": "a01", "url": cam.url}]
    )
    await _sealed(service, "a01", 1)
    rec = _recorder(service, "a01")
    camera_id = rec.camera_id
    cam.kill()
    await wait_for(_async(lambda: rec.status().state != "recording"), 10, "camera offline")
    await asyncio.sleep(2)
    cam.restart()
    back = time.monotonic()

    async def second_run() -> bool:
        return len(await camera_runs(service, camera_id)) >= 2

    await wait_for(second_run, 10, "a new run")
    resumed_after = time.monotonic() - back
    assert resumed_after <= 3.0, f"recording resumed {resumed_after:.2f} s after the camera"
    runs = await camera_runs(service, camera_id)
    gaps = await camera_gaps(service, camera_id)
    assert runs[0].end_us is not None and runs[0].end_reason
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap.start_us == runs[0].end_us and gap.end_us == runs[1].start_us
    assert "stream" in gap.reason or "ended" in gap.reason or "timed out" in gap.reason
    await _sealed(service, "a01", 2)


async def test_frozen_camera_is_detected_and_recording_resumes(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="none", fps=25, gop=25)
    service = await _record(
        service_factory, tmp_path, None, [{"name": "a01", "url": cam.url}], rtsp_timeout_seconds=1.0
    )
    await _sealed(service, "a01", 1)
    rec = _recorder(service, "a01")
    cam.freeze()
    frozen_at = time.monotonic()
    await wait_for(_async(lambda: rec.status().state != "recording"), 10, "freeze noticed")
    noticed = time.monotonic() - frozen_at
    assert noticed <= 2 * 1.0 + 1.0, f"a frozen camera was noticed only after {noticed:.1f} s"
    await asyncio.sleep(1.5)
    cam.thaw()

    async def second_run() -> bool:
        return len(await camera_runs(service, rec.camera_id)) >= 2

    await wait_for(second_run, 15, "recording after thaw")
    gaps = await camera_gaps(service, rec.camera_id)
    assert gaps and "timed out" in gaps[0].reason


async def test_one_failing_camera_does_not_disturb_another(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path
) -> None:
    good = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    bad = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    service = await _record(
        service_factory,
        tmp_path,
        None,
        [
            {"name": "good", "url": good.url},
            {"name": "bad", "url": bad.url},
            {"name": "nowhere", "url": "rtsp://127.0.0.1:9/none"},
        ],
    )
    await _sealed(service, "bad", 1)
    bad_rec = _recorder(service, "bad")
    for i in range(3):
        bad.kill()
        await asyncio.sleep(0.5)
        bad.restart()

        async def new_run(n: int = i + 2) -> bool:
            return len(await camera_runs(service, bad_rec.camera_id)) >= n

        await wait_for(new_run, 15, f"run {i + 2} of the failing camera")
    await _sealed(service, "good", 5)
    good_rec = _recorder(service, "good")
    await service.stop()
    segs = await _all_after_stop(service)
    good_segs = [s for s in segs if s.camera == "good"]
    assert len({s.run_id for s in good_segs}) == 1, "the good camera was never interrupted"
    frames = _check_contiguous_frames(service.cfg.data_dir, good_segs, 25)
    assert frames == good_rec.frames_by_run[good_segs[0].run_id]


def _async(fn: Any) -> Any:
    async def wrapper() -> bool:
        return bool(fn())

    return wrapper
