"""A stitched clip plays across a segment boundary in headless Chromium, and Range works."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from index import tokens
from tests.browser import ARTIFACTS, chromium_page
from tests.harness import all_segments, counter_config, wait_for
from web.auth import new_token
from web.timefmt import iso_from_us


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
