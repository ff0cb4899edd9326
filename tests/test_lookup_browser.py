"""The lookup page plays an acceptance that ended moments ago, in headless Chromium.

With the default 60 s segments, the segment holding a just-completed acceptance is still
being written; the page must offer its footage anyway (the durable fragments), and keep
the "still being written" note for the last second of a window that reaches now only.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from index import tokens
from surveil.accounts import add_user, new_token
from surveil.clock import SystemClock
from surveil.config import parse_config
from surveil.timefmt import iso_from_us
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.harness import all_segments, wait_for

PASSWORD = "window-one-secret-42"
US = 1_000_000


async def test_just_completed_acceptance_plays_before_its_segment_is_sealed(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "web": {"listen": "127.0.0.1:0"},
            "recording": {"rtsp_timeout_seconds": 2.0},  # segment_seconds: the default 60
            "counters": [{"code": "A01", "name": "一号窗口"}],
            "cameras": [{"name": "a01", "url": cam.url, "counters": ["A01"]}],
            "receipts": {"pre_roll_seconds": 0.0, "post_roll_seconds": 0.5},
        }
    )
    service = await service_factory(cfg)
    assert service.db is not None
    await add_user(service.db, "clerk", PASSWORD, "staff", ["A01"], SystemClock().now_us())

    async def recording() -> bool:
        return any(s.state == "open" for s in await all_segments(service))

    await wait_for(recording, 20, "the first fragments indexed")
    accepted_us = time.time_ns() // 1000
    await asyncio.sleep(4.0)
    completed_us = time.time_ns() // 1000
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "desk", "staff", digest, 1))
    receipt = {
        "receipt_no": "SL-2026-0777",
        "counter": "A01",
        "accepted_at": iso_from_us(accepted_us),
        "completed_at": iso_from_us(completed_us),
    }
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.post(f"{service.url}api/v1/receipts", json=receipt) as resp,
    ):
        assert resp.status == 201, await resp.text()
    # The post-roll ends 0.5 s after completion; its footage is durable about a second later.
    await asyncio.sleep(2.5)
    assert not any(s.state == "sealed" for s in await all_segments(service))

    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{service.url}lookup")
        await sign_in(page, "clerk", PASSWORD, "lookup")
        await page.fill("#receipt", "SL-2026-0777")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("section.camera[data-camera='a01']")
        assert await page.locator("video").count() == 1, await page.inner_text("main")
        # The whole window is durable: no "still being written" note.
        assert await page.locator("section.camera .note.pending").count() == 0
        coverage = float(await page.get_attribute(".coverage", "data-pct") or "0")
        assert coverage > 95.0, coverage
        await page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }"
        )
        state: dict[str, Any] = {}
        for _ in range(100):
            state = await page.evaluate(
                "() => { const v = document.querySelector('video');"
                " return {t: v.currentTime, err: v.error && v.error.message, d: v.duration}; }"
            )
            assert not state["err"], f"media error: {state['err']}"
            if state["t"] > 3.0:
                break
            await asyncio.sleep(0.1)
        assert state["t"] > 3.0, f"playback stalled: {state}"
        # The clip is the acceptance (4 s) and its post-roll, up to the keyframe before.
        assert 4.0 <= state["d"] <= 6.0, state
        await page.screenshot(path=str(ARTIFACTS / "lookup-open-segment.png"), full_page=True)

        # A window that reaches now: its last second is still being written, and says so.
        await page.goto(f"{service.url}lookup?counter=A01&lang=en")
        await page.wait_for_selector("section.camera[data-camera='a01']")
        note = page.locator("section.camera .note.pending")
        assert await note.count() == 1
        assert "last second" in await note.inner_text()
        assert await page.locator("video").count() == 1
    assert errors == []
