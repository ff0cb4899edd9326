"""Lookup against a real recording: a camera killed mid-window shows as an explained gap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from index import cameras, tokens
from surveil.accounts import new_token
from surveil.coverage import NOTHING_RECORDED
from surveil.lookup import CameraRef, lookup_window
from surveil.timefmt import iso_from_us
from tests.harness import camera_runs, make_config, wait_for

US = 1_000_000


async def test_camera_killed_mid_window_is_an_explained_gap(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data", database_url, [{"name": "a01", "url": cam.url, "counters": ["A01"]}]
    )
    service = await service_factory(cfg)
    assert service.db is not None and service.supervisor is not None
    rec = service.supervisor.recorders["a01"]

    await wait_for(_async(lambda: rec.status().state == "recording"), 20, "recording")
    await asyncio.sleep(3)
    cam.kill()
    killed_us = time.time_ns() // 1000
    await wait_for(_async(lambda: rec.status().state != "recording"), 10, "camera offline")
    await asyncio.sleep(2)
    cam.restart()

    async def second_run() -> bool:
        return len(await camera_runs(service, rec.camera_id)) >= 2

    await wait_for(second_run, 15, "recording again")
    await asyncio.sleep(3)

    runs = await camera_runs(service, rec.camera_id)
    window_start = runs[0].start_us - 2 * US  # starts before the first footage
    window_end = time.time_ns() // 1000 - 500_000
    async with service.db.read() as s:
        camera = await cameras.get_camera(s, "a01")
    ref = CameraRef(camera.id, camera.name)

    async def indexed_to_window_end() -> bool:
        # Footage reaches the index about a second after it is recorded; until then the
        # window's tail is (rightly) 'nothing recorded', and two lookups could differ.
        [r] = await lookup_window(service.db, [ref], window_start, window_end)
        return all(g.end_us < window_end for g in r.coverage.gaps)

    await wait_for(indexed_to_window_end, 10, "footage indexed up to the window's end")
    [result] = await lookup_window(service.db, [ref], window_start, window_end)
    cov = result.coverage

    reasons = [g.reason for g in cov.gaps]
    assert reasons[0] == NOTHING_RECORDED  # before the camera's first run
    outage = [g for g in cov.gaps if g.reason not in (NOTHING_RECORDED,)]
    assert len(outage) == 1, cov.gaps
    gap = outage[0]
    assert gap.reason == runs[0].end_reason
    assert gap.start_us == runs[0].end_us and gap.end_us == runs[1].start_us
    assert abs(gap.start_us - killed_us) < 2 * US
    assert cov.recorded_us + sum(g.duration_us for g in cov.gaps) == window_end - window_start
    assert 0 < cov.coverage_pct < 100
    assert {s.run_id for s in cov.segments} == {runs[0].id, runs[1].id}

    # The same through the API: by counter and time, and by a receipt whose
    # acceptance spans the outage (posted late, after the footage).
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "staff", digest, 1))
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        params = {
            "counter": "A01",
            "start": iso_from_us(window_start),
            "end": iso_from_us(window_end),
        }
        async with http.get(service.url + "api/v1/lookup", params=params) as resp:
            assert resp.status == 200, await resp.text()
            by_time = (await resp.json())["cameras"]
        assert [c["camera"] for c in by_time] == ["a01"]
        assert [g["reason"] for g in by_time[0]["gaps"]] == reasons
        assert by_time[0]["coverage_pct"] == cov.coverage_pct

        receipt = {
            "receipt_no": "R-2026-0001",
            "counter": "A01",
            "accepted_at": iso_from_us(runs[0].start_us + US),
            "completed_at": iso_from_us(runs[1].start_us + 2 * US),
        }
        async with http.post(service.url + "api/v1/receipts", json=receipt) as resp:
            assert resp.status == 201, await resp.text()
        async with http.get(service.url + "api/v1/receipts/R-2026-0001") as resp:
            assert resp.status == 200, await resp.text()
            footage = (await resp.json())["cameras"]
    [a01] = footage
    # The pre-roll reaches back before the camera's first run.
    assert a01["gaps"][0]["reason"] == NOTHING_RECORDED
    [outage_gap] = [g for g in a01["gaps"] if g["reason"] == runs[0].end_reason]
    assert (outage_gap["start_us"], outage_gap["end_us"]) == (runs[0].end_us, runs[1].start_us)
    assert a01["window"]["end_us"] <= time.time_ns() // 1000, "no footage claimed from the future"
    assert a01["segments"] and 0 < a01["coverage_pct"] < 100


async def test_window_validation(db: Any) -> None:
    with pytest.raises(ValueError, match="after its start"):
        await lookup_window(db, [], 10, 10)
    with pytest.raises(ValueError, match="31 days"):
        await lookup_window(db, [], 0, 32 * 24 * 3600 * US)


def _async(fn: Any) -> Any:
    async def wrapper() -> bool:
        return bool(fn())

    return wrapper
