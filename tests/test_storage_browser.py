"""An admin places a legal hold on /storage and releases it, in headless Chromium
(Debian's /usr/bin/chromium through Playwright; never a downloaded browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from index.db import Database
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.test_accounts_api import PASSWORDS
from tests.test_storage_api import Store, days_ago, open_store
from tests.test_storage_pages import local


@pytest.fixture
async def store(db: Database, tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(db, tmp_path)
    try:
        yield s
    finally:
        await s.client.close()


async def test_admin_places_and_releases_a_legal_hold_in_chromium(store: Store) -> None:
    base = str(store.client.make_url("/"))
    await store.footage("cam-a", [days_ago(40), days_ago(12)])
    assert store.lifecycle is not None
    await store.lifecycle.space.check()  # the volumes' first reading, as at service start
    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}storage?lang=en")
        await sign_in(page, "root", PASSWORDS["root"], "storage?lang=en")
        assert await page.is_visible("#no-active-holds")
        await page.select_option("#hold-cameras", ["cam-a", "cam-b"])
        await page.fill("#hold-start", local(days_ago(41)))
        await page.fill("#hold-reason", "court order 2026-17")
        await page.click("#hold-submit")
        await page.wait_for_url("**/storage?done=hold_placed&n=2")
        assert await page.inner_text("#storage-message") == "Legal hold placed (2 cameras)."
        rows = page.locator("#active-holds tbody tr")
        assert await rows.count() == 2
        assert await page.locator("#active-holds tr[data-camera='cam-a']").count() == 1
        assert "until released" in await page.inner_text("#active-holds")
        await page.screenshot(path=str(ARTIFACTS / "storage-holds.png"), full_page=True)

        row = page.locator("#active-holds tr[data-camera='cam-b']")
        hold = await row.get_attribute("data-hold")
        await row.locator("input[name='reason']").fill("lifted by the court")
        await row.locator("button[type='submit']").click()
        await page.wait_for_url(f"**/storage?done=hold_released&n={hold}")
        assert await page.locator("#active-holds tbody tr").count() == 1
        ended = page.locator(f"#ended-holds tr[data-hold='{hold}']")
        assert "lifted by the court" in await ended.inner_text()
        # The dashboard's storage box says the same.
        await page.click("nav a[href='/dashboard']")
        await page.wait_for_selector("#storage")
        assert await page.inner_text("#legal-holds") == "Active legal holds: 1"
        assert "40.0 / 30 days" in await page.inner_text("#retention-status")
        assert await page.is_visible("#storage .volume[data-volume='main'] .meter")
        await page.screenshot(path=str(ARTIFACTS / "storage-dashboard.png"), full_page=True)
        assert errors == []
    released = await store.audit(action="hold.release")
    assert [(e.actor, e.target) for e in released] == [("root", f"hold {hold}")]
