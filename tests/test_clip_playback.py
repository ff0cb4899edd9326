"""A stitched clip plays across a segment boundary in headless Chromium, and Range works;
footage still being written plays within 2 s, from a real recording camera."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import av

from index import tokens
from surveil.accounts import new_token
from surveil.timefmt import iso_from_us
from tests.browser import ARTIFACTS, chromium_page
from tests.harness import all_segments, counter_config, make_config, wait_for

US = 1_000_000


async def test_clip_plays_across_segment_boundary_in_chromium(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = counter_config(tmp_path / "data", cam.url, roll_s=0.0)
    service = await service_factory(cfg)
    assert service.db is not None

    async def three_sealed() -> bool:
        return sum(s.state == "sealed" for s in await all_segments(service)) >= 3

    await wait_for(three_sealed, 40, "three sealed segments")
    sealed = sorted(
        (s for s in await all_segments(service) if s.state == "sealed"), key=lambda s: s.start_us
    )
    boundary_us = sealed[1].start_us
    start, end = sealed[0].start_us + 500_000, sealed[2].end_us - 100_000
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "staff", digest, 1))
    auth = {"Authorization": f"Bearer {token}"}
    url = (
        f"{service.url}api/v1/clips/a01.mp4?start={iso_from_us(start)}&end={iso_from_us(end)}"
    ).replace("+", "%2B")

    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(url) as resp:
            assert resp.status == 200, await resp.text()
            whole = await resp.read()
            etag = resp.headers["ETag"]
            clip_start_us = int(resp.headers["X-Clip-Start-Us"])
            clip_duration_s = int(resp.headers["X-Clip-Duration-Us"]) / 1e6
            assert int(resp.headers["Content-Length"]) == len(whole)
        async with http.get(url, headers={"Range": "bytes=100-1099"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
            assert await resp.read() == whole[100:1100]
        async with http.get(url, headers={"Range": "bytes=-500"}) as resp:
            assert resp.status == 206 and await resp.read() == whole[-500:]
        async with http.get(url, headers={"Range": f"bytes={len(whole)}-"}) as resp:
            assert resp.status == 416
        async with http.get(url) as resp:
            assert resp.headers["ETag"] == etag and await resp.read() == whole
        # The receipt form: a receipt whose window is exactly [start, end) gives the same
        # bytes (no pre- or post-roll in this service's config).
        receipt = {
            "receipt_no": "CLIP-1",
            "counter": "A01",
            "accepted_at": iso_from_us(start),
            "completed_at": iso_from_us(end),
        }
        async with http.post(f"{service.url}api/v1/receipts", json=receipt) as resp:
            assert resp.status == 201, await resp.text()
        async with http.get(f"{service.url}api/v1/receipts/CLIP-1/clips/a01.mp4") as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["ETag"] == etag and await resp.read() == whole
        async with http.get(f"{service.url}api/v1/receipts/CLIP-1/clips/zz.mp4") as resp:
            assert resp.status == 404

    boundary_s = (boundary_us - clip_start_us) / 1e6
    assert boundary_s > 0
    async with chromium_page(headers=auth) as page:
        await page.set_content(
            f'<video id="v" src="{url}" muted autoplay playsinline style="width:320px"></video>'
        )
        # Play until well past the boundary between the first two segments.
        target = boundary_s + 1.0
        for _ in range(200):
            state = await page.evaluate(
                "() => { const v = document.getElementById('v');"
                " return {t: v.currentTime, err: v.error && v.error.message,"
                " d: v.duration, rs: v.readyState}; }"
            )
            assert not state["err"], f"media error: {state['err']}"
            if state["t"] > target:
                break
            await asyncio.sleep(0.1)
        assert state["t"] > target, f"playback stalled at {state} (boundary {boundary_s} s)"
        # The browser knows the clip's length (mehd), so it can seek in it.
        assert abs(state["d"] - clip_duration_s) < 0.2, (state, clip_duration_s)
        await page.screenshot(path=str(ARTIFACTS / "clip-playback.png"))


async def test_footage_being_written_plays_within_2_s(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    """The open segment's durable fragments are in the clip: footage captured 2 s ago
    plays, the ETag changes as the clip grows, Range reads are byte-exact across a seal."""
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [{"name": "a01", "url": cam.url, "counters": ["A01"]}],
        segment_seconds=5.0,
    )
    service = await service_factory(cfg)
    assert service.db is not None

    async def first_open() -> bool:
        return any(s.state == "open" for s in await all_segments(service))

    await wait_for(first_open, 20, "the first fragments indexed")
    run_start_us = min(s.start_us for s in await all_segments(service))
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "staff", digest, 1))
    url = f"{service.url}api/v1/clips/a01.mp4"
    params = {"start": iso_from_us(run_start_us), "end": iso_from_us(run_start_us + 3600 * US)}
    versions: dict[str, bytes] = {}  # ETag → the whole clip it names
    lags_s: list[float] = []
    rng = random.Random(5)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        deadline = time.monotonic() + 9.0  # across at least one seal at 5 s
        while time.monotonic() < deadline:
            asked_us = time.time_ns() // 1000
            async with http.get(url, params=params) as resp:
                assert resp.status == 200, await resp.text()
                body, etag = await resp.read(), resp.headers["ETag"]
                end_us = int(resp.headers["X-Clip-Start-Us"]) + int(
                    resp.headers["X-Clip-Duration-Us"]
                )
            lags_s.append((asked_us - end_us) / US)
            assert versions.setdefault(etag, body) == body, "one ETag, two bodies"
            a = rng.randrange(len(body))
            b = rng.randrange(a, len(body))
            ranged = {"Range": f"bytes={a}-{b}", "If-Range": etag}
            async with http.get(url, params=params, headers=ranged) as resp:
                got = await resp.read()
                if resp.status == 206:
                    assert resp.headers["ETag"] == etag and got == body[a : b + 1]
                else:  # grown since: If-Range gives the new whole clip
                    assert resp.status == 200 and resp.headers["ETag"] != etag
                    assert versions.setdefault(resp.headers["ETag"], got) == got
            await asyncio.sleep(0.2)
    assert max(lags_s[1:]) <= 2.0, f"footage older than 2 s missing from the clip: {lags_s}"
    sizes = [len(b) for b in versions.values()]  # in the order first seen
    assert len(sizes) >= 5 and sizes == sorted(sizes), sizes
    sealed = [s for s in await all_segments(service) if s.state == "sealed"]
    assert sealed, "no segment was sealed during the test"
    # The last clip runs from the sealed segment into the open one and decodes whole.
    last = list(versions.values())[-1]
    path = tmp_path / "grown.mp4"
    path.write_bytes(last)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 25 * 8, frames
