"""Run the real service in-process against real cameras, and read what it wrote."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from index import runs, segments
from index.records import GapRecord, RunRecord, SegmentRecord
from surveil.config import Config, parse_config
from surveil.service import Service


class NoStatus:
    """No cameras' live status: for apps tested without a supervisor."""

    def camera_status(self) -> list[Any]:
        return []


def make_config(
    data_dir: Path,
    database_url: str | None,
    cameras: list[dict[str, Any]],
    *,
    sections: dict[str, Any] | None = None,
    **recording: Any,
) -> Config:
    """A service config on loopback; recording holds [recording] settings, sections other
    top-level tables (e.g. {"storage": {...}})."""
    rec = {"segment_seconds": 2.0, "rtsp_timeout_seconds": 2.0, **recording}
    raw: dict[str, Any] = {
        "data_dir": str(data_dir),
        "web": {"listen": "127.0.0.1:0"},
        "recording": rec,
        "cameras": cameras,
        **(sections or {}),
    }
    if database_url:
        raw["database_url"] = database_url
    return parse_config(raw)


def counter_config(data_dir: Path, camera_url: str, roll_s: float) -> Config:
    """One camera 'a01' covering counter A01, 2 s segments, pre- and post-roll roll_s."""
    return parse_config(
        {
            "data_dir": str(data_dir),
            "web": {"listen": "127.0.0.1:0"},
            "recording": {"segment_seconds": 2.0, "rtsp_timeout_seconds": 2.0},
            "counters": [{"code": "A01", "name": "一号窗口"}],
            "cameras": [{"name": "a01", "url": camera_url, "counters": ["A01"]}],
            "receipts": {"pre_roll_seconds": roll_s, "post_roll_seconds": roll_s},
        }
    )


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str, step_s: float = 0.1
) -> float:
    """Poll until predicate() is true; return the seconds it took; fail with `what`."""
    start = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(step_s)


async def all_segments(service: Service) -> list[SegmentRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        return await segments.all_segments(s)


async def camera_runs(service: Service, camera_id: int) -> list[RunRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        return await runs.runs_for_camera(s, camera_id)


async def camera_gaps(service: Service, camera_id: int) -> list[GapRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        return await runs.gaps_overlapping(s, camera_id, 0, 2**62)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ffprobe_json(path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        raise AssertionError(f"ffprobe failed on {path}: {out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def video_packet_times(path: Path) -> list[float]:
    """Decode timestamps (s, relative to the file) of every video packet in a segment."""
    info = ffprobe_json(
        path, "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-show_packets"
    )
    return [float(p["dts_time"]) for p in info.get("packets", [])]


@pytest.fixture
async def service_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """start(cfg) → a running Service; all are stopped at teardown."""
    started: list[Service] = []

    async def start(cfg: Config) -> Service:
        svc = Service(cfg)
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        await svc.stop()
