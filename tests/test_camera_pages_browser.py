"""The admin pages in headless Chromium against a real recording service.

An administrator finds a camera by WS-Discovery (a loopback responder, never the multicast
group), lets the result fill in the ONVIF form, first types a wrong password and sees a
clear error (the password not in the page), tests the connection (device facts and a
snapshot preview), adds the camera, and watches the dashboard until the camera records:
the supervisor picks it up without a restart. The ONVIF device is the faithful fake of
tests/onvif_device.py; its stream URI points at a real GStreamer RTSP camera that wants
the same credentials. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from surveil.accounts import add_user
from surveil.clock import SystemClock
from surveil.config import parse_config
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.harness import all_segments, wait_for

pytest_plugins = ["tests.onvif_device"]

ADMIN_PASSWORD = "hall-admin-secret-42"
CAM_USER = "admin"
CAM_PASSWORD = "onvif-Canary_42x"
WRONG = "wrong-Canary_77x"


async def test_admin_adds_an_onvif_camera_and_sees_it_record(
    rtsp_camera: Any,
    onvif_device: Any,
    discovery_responder: Any,
    service_factory: Any,
    tmp_path: Path,
) -> None:
    cam = rtsp_camera(user=CAM_USER, password=CAM_PASSWORD, fps=25, gop=25)
    dev = await onvif_device(
        username=CAM_USER, password=CAM_PASSWORD, stream_uri=cam.url_without_credentials
    )
    responder = await discovery_responder(
        xaddrs=[dev.device_url],
        scopes=["onvif://www.onvif.org/name/FakeCam", "onvif://www.onvif.org/hardware/FC-1080"],
    )
    cfg = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "web": {"listen": "127.0.0.1:0"},
            "recording": {"segment_seconds": 2.0, "rtsp_timeout_seconds": 2.0},
            "counters": [{"code": "A01", "name": "一号窗口"}],
            "cameras": [],
            "onvif": {
                "discovery_address": f"127.0.0.1:{responder.port}",
                "discovery_bind": "127.0.0.1",
                "reprobe_minutes": 0,
            },
        }
    )
    service = await service_factory(cfg)
    assert service.db is not None
    await add_user(service.db, "root", ADMIN_PASSWORD, "admin", [], SystemClock().now_us())
    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        def console(message: Any) -> None:
            # A refused CSP (inline script, a blocked image) shows up here. HTTP error
            # statuses (the 422 of the wrong password, /favicon.ico) are expected.
            if message.type == "error" and "Failed to load resource" not in message.text:
                errors.append(message.text)

        page.on("console", console)
        await page.goto(f"{service.url}cameras")
        assert "/login" in page.url
        await sign_in(page, "root", ADMIN_PASSWORD, "cameras")

        # Discovery (loopback responder) fills the ONVIF form with the device's address.
        await page.click("#discover")
        await page.wait_for_selector("#discovered")
        assert responder.probes
        assert "FakeCam" in await page.inner_text("#discovered")
        await page.click("#discovered a.prefill")
        await page.wait_for_selector("#onvif-host")
        assert await page.input_value("#onvif-host") == "127.0.0.1"
        assert await page.input_value("#onvif-port") == str(dev.port)

        # A wrong password: a clear error, the form kept, the password nowhere.
        await page.fill("#onvif-name", "hall-a01")
        await page.fill("#onvif-username", CAM_USER)
        await page.fill("#onvif-password", WRONG)
        await page.check("#onvif-counter-A01")
        await page.click("#onvif-add")
        await page.wait_for_selector("#camera-error")
        assert await page.get_attribute("#camera-error", "data-code") == "onvif_auth_failed"
        assert "用户名或密码" in await page.inner_text("#camera-error")
        html = await page.content()
        assert WRONG not in html and quote(WRONG) not in html
        assert await page.input_value("#onvif-password") == ""
        assert await page.input_value("#onvif-name") == "hall-a01"
        await page.screenshot(path=str(ARTIFACTS / "camera-onvif-error.png"), full_page=True)

        # Test connection: device facts, profiles, clock offset, a snapshot preview.
        await page.fill("#onvif-password", CAM_PASSWORD)
        await page.click("#onvif-test")
        await page.wait_for_selector("#probe-snapshot")
        result = await page.inner_text("#probe-result")
        assert "FakeCam FC-1080" in result and "Profile_1" in result
        assert "s" in await page.inner_text("#probe-clock")
        width = await page.evaluate("() => document.querySelector('#probe-snapshot').naturalWidth")
        assert width == 160  # the device's JPEG, decoded by the browser
        assert CAM_PASSWORD not in await page.content()

        # Add it for real; recording follows without a restart.
        await page.fill("#onvif-password", CAM_PASSWORD)
        await page.click("#onvif-add")
        await page.wait_for_selector("#cameras-message")
        assert "hall-a01" in await page.inner_text("#cameras-message")
        row = page.locator("#camera-list tr[data-camera='hall-a01']")
        assert "A01" in await row.inner_text()
        assert "ONVIF" in await row.inner_text()
        assert CAM_PASSWORD not in await page.content()
        await page.screenshot(path=str(ARTIFACTS / "cameras.png"), full_page=True)

        # The dashboard: reload until the camera records and segments appear.
        state = ""
        segment = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            await page.goto(f"{service.url}dashboard")
            cell = page.locator("#camera-status tr[data-camera='hall-a01'] .state")
            if await cell.count():
                state = await cell.get_attribute("data-state") or ""
                segment = await page.inner_text(
                    "#camera-status tr[data-camera='hall-a01'] td.segment"
                )
                if state == "recording" and segment.strip() not in ("", "–"):
                    break
            await asyncio.sleep(0.5)
        assert state == "recording", state
        assert "hall-a01" in segment

        async def sealed() -> bool:
            segs = await all_segments(service)
            return any(s.camera == "hall-a01" and s.state == "sealed" for s in segs)

        await wait_for(sealed, 30, "sealed segments of the new camera")
        await page.goto(f"{service.url}dashboard")
        row_text = await page.inner_text("#camera-status tr[data-camera='hall-a01']")
        assert "kbit/s" in row_text, row_text
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        assert errors == []
