"""The pages in headless Chromium against a real recording service and a real RTSP camera.

A clerk signs in, scans a receipt at the desk page (typing and Enter, as a barcode scanner
does), scans it again to complete it, then finds it on the lookup page: the player plays
across a segment boundary, the timeline shows the window. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from surveil.accounts import add_user
from surveil.clock import SystemClock
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.harness import all_segments, counter_config, wait_for

PASSWORD = "window-one-secret-42"


async def test_clerk_scans_a_receipt_and_plays_it_on_the_lookup_page(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = counter_config(tmp_path / "data", cam.url, roll_s=1.0)
    service = await service_factory(cfg)
    assert service.db is not None
    await add_user(service.db, "clerk", PASSWORD, "staff", ["A01"], SystemClock().now_us())

    async def sealed(n: int) -> bool:
        return sum(s.state == "sealed" for s in await all_segments(service)) >= n

    await wait_for(lambda: sealed(1), 30, "first sealed segment")
    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{service.url}desk")
        assert "/login" in page.url
        await sign_in(page, "clerk", PASSWORD, "desk")
        # The scanner types the number and presses Enter.
        await page.click("#receipt_no")
        await page.keyboard.type("SL-2026-0042")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#desk-message")
        assert "SL-2026-0042" in await page.inner_text("#desk-message")
        # Let the acceptance last across several segments, then complete it.
        await asyncio.sleep(5.0)
        await page.click("#receipt_no")
        await page.keyboard.type("SL-2026-0042")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#desk-message")
        assert "完成" in await page.inner_text("#desk-message")
        await page.screenshot(path=str(ARTIFACTS / "desk-page.png"))

        # Footage is playable once the segments holding the window have sealed.
        receipt_end_us = SystemClock().now_us() + 1_000_000

        async def window_sealed() -> bool:
            segs = [s for s in await all_segments(service) if s.state == "sealed"]
            return any(s.end_us >= receipt_end_us for s in segs)

        await wait_for(window_sealed, 20, "footage of the whole window sealed")
        await page.goto(f"{service.url}lookup")
        await page.fill("#receipt", "SL-2026-0042")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("section.camera[data-camera='a01']")
        coverage = float(await page.get_attribute(".coverage", "data-pct") or "0")
        assert coverage > 90.0, coverage
        assert await page.locator(".timeline .span.receipt").count() == 1
        assert await page.locator("video").count() == 1
        segs = sorted(
            (s for s in await all_segments(service) if s.state == "sealed"),
            key=lambda s: s.start_us,
        )
        state: dict[str, Any] = {}
        await page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }"
        )
        for _ in range(150):
            state = await page.evaluate(
                "() => { const v = document.querySelector('video');"
                " return {t: v.currentTime, err: v.error && v.error.message,"
                " d: v.duration}; }"
            )
            assert not state["err"], f"media error: {state['err']}"
            if state["t"] > 3.0:  # segments are 2 s: past at least one boundary
                break
            await asyncio.sleep(0.1)
        assert state["t"] > 3.0, f"playback stalled: {state}"
        assert len(segs) >= 3
        await page.screenshot(path=str(ARTIFACTS / "lookup-page.png"), full_page=True)
        # English on request, same content.
        await page.click("#lang-switch")
        await page.wait_for_selector("html[lang='en']")
        assert "Find footage" in await page.inner_text("header")
        assert errors == []
