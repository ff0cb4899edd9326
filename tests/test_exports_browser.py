"""The export workflow end to end in headless Chromium (Debian's /usr/bin/chromium through
Playwright), on SQLite and PostgreSQL, against the real service recording a real RTSP
camera: a clerk looks a receipt up and requests an export of its footage; a reviewer and
an approver (two more accounts) sign in and act; the service's packager builds the
package, whose progress the page follows; the approver downloads it, a zip holding the
signed manifest and the original segments.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp

from index import exports as export_queries
from index import tokens
from index.audit import list_audit
from surveil.accounts import add_user, new_token
from surveil.clock import SystemClock
from surveil.timefmt import iso_from_us
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.harness import all_segments, make_config, wait_for

PASSWORDS = {
    "clerk": "window-one-secret-42",
    "rev": "reviewer-secret-42",
    "boss": "approver-secret-42",
}
RECEIPT = "SL-2026-0912"
US = 1_000_000


async def _sign_out(page: Any) -> None:
    await page.click("#logout")
    await page.wait_for_url("**/login")


async def test_a_receipt_is_requested_reviewed_approved_and_downloaded(
    rtsp_camera: Any, service_factory: Any, database_url: str, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [{"name": "a01", "url": cam.url, "counters": ["A01"]}],
        sections={
            "counters": [{"code": "A01", "name": "一号窗口"}],
            "receipts": {"pre_roll_seconds": 0.0, "post_roll_seconds": 0.5},
        },
    )
    service = await service_factory(cfg)
    db = service.db
    assert db is not None
    now = SystemClock().now_us()
    await add_user(db, "clerk", PASSWORDS["clerk"], "staff", ["A01"], now)
    await add_user(
        db, "rev", PASSWORDS["rev"], "staff", ["A01"], now, permissions=["export.review"]
    )
    await add_user(db, "boss", PASSWORDS["boss"], "admin", [], now, permissions=["export.approve"])

    async def recording() -> bool:
        return any(s.state in ("open", "sealed") for s in await all_segments(service))

    await wait_for(recording, 20, "the first fragments indexed")
    accepted_us = time.time_ns() // 1000
    await asyncio.sleep(4.0)
    completed_us = time.time_ns() // 1000
    token, digest = new_token()
    await db.write(lambda s: tokens.create_token(s, "desk", "staff", digest, 1))
    receipt = {
        "receipt_no": RECEIPT,
        "counter": "A01",
        "accepted_at": iso_from_us(accepted_us),
        "completed_at": iso_from_us(completed_us),
    }
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(f"{service.url}api/v1/receipts", json=receipt) as resp,
    ):
        assert resp.status == 201, await resp.text()
    window_end = completed_us + US // 2

    async def sealed_past_the_window() -> bool:
        return any(
            s.state == "sealed" and s.end_us >= window_end for s in await all_segments(service)
        )

    # The package is built from sealed segments only: wait until the window's are.
    await wait_for(sealed_past_the_window, 20, "the receipt's footage sealed")

    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The clerk: lookup → Request export → the form → the request page.
        await page.goto(f"{service.url}lookup?lang=en")
        await sign_in(page, "clerk", PASSWORDS["clerk"], "lookup?lang=en")
        await page.fill("#receipt", RECEIPT)
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#request-export")
        await page.click("#request-export")
        await page.wait_for_url(f"**/exports/new?receipt={RECEIPT}")
        assert await page.inner_text("#cover-cameras") == "a01"
        await page.check("#kind-copy")
        await page.fill("#party-name", "张三")
        await page.fill("#party-id-type", "居民身份证")
        await page.fill("#party-id-number", "110101199001011234")
        await page.fill("#party-relation", "申请人本人")
        await page.fill("#purpose", "行政复议")
        await page.fill("#legal-basis", "《政府信息公开条例》第二十七条")
        await page.screenshot(path=str(ARTIFACTS / "export-form.png"), full_page=True)
        await page.click("#export-submit")
        await page.wait_for_url("**/exports/*?done=submitted")
        path = page.url.split(service.url.rstrip("/"))[1].split("?")[0]  # /exports/N
        assert await page.get_attribute("#export-state", "data-state") == "submitted"
        assert await page.locator("#export-actions button").all_inner_texts() == [
            "Withdraw the request"
        ]
        await page.screenshot(path=str(ARTIFACTS / "export-submitted.png"), full_page=True)
        await _sign_out(page)

        # The reviewer: the menu counts the request; they pass it.
        await page.goto(f"{service.url}{path.lstrip('/')}?lang=en")
        await sign_in(page, "rev", PASSWORDS["rev"], f"{path.lstrip('/')}?lang=en")
        assert await page.inner_text("nav a[href='/exports'] .badge") == "1"
        await page.fill("#review-reason", "身份与回执已核对")
        await page.click("#review-pass")
        await page.wait_for_url("**/exports/*?done=review")
        assert await page.get_attribute("#export-state", "data-state") == "reviewed"
        assert await page.locator("#export-actions").count() == 0
        await _sign_out(page)

        # The approver approves; the page follows the package until it can be downloaded.
        await page.goto(f"{service.url}{path.lstrip('/')}?lang=en")
        await sign_in(page, "boss", PASSWORDS["boss"], f"{path.lstrip('/')}?lang=en")
        await page.click("#approve")
        await page.wait_for_url("**/exports/*?done=approve")
        await page.wait_for_selector("#export-download", timeout=90_000)
        assert await page.get_attribute("#export-state", "data-state") == "packaged"
        steps = await page.locator("#custody tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.step, r.dataset.actor])"
        )
        assert steps == [
            ["submit", "clerk"],
            ["review", "rev"],
            ["approve", "boss"],
            ["package", "surveil"],
        ]
        await page.screenshot(path=str(ARTIFACTS / "export-packaged.png"), full_page=True)
        async with page.expect_download() as info:
            await page.click("#export-download")
        download = await info.value
        saved = tmp_path / "package.zip"
        await download.save_as(str(saved))
        assert errors == []

    with zipfile.ZipFile(saved) as z:
        names = z.namelist()
        assert "manifest.json" in names and "manifest.sig" in names, names
        manifest = json.loads(z.read("manifest.json"))
        assert any(n.startswith("segments/") for n in names), names
    assert manifest["receipt_no"] == RECEIPT
    # The bytes downloaded are the package the request records, and the download is audited.
    async with db.read() as s:
        r = await export_queries.get_request(s, int(path.rsplit("/", 1)[1]))
        downloads = await list_audit(s, action="export.download", limit=10)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == r.package_sha256
    assert [(e.actor, e.target) for e in downloads] == [("boss", f"export {r.id}")]
