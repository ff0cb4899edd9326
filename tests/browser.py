"""Headless Debian Chromium for page tests: one launch recipe and the sign-in steps.

Playwright drives /usr/bin/chromium (never a downloaded browser). Screenshots go to
ARTIFACTS, kept by CI as test artifacts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
]


@asynccontextmanager
async def chromium_page(
    headers: dict[str, str] | None = None, viewport: tuple[int, int] = (1366, 768)
) -> AsyncIterator[Any]:
    """A fresh page in a fresh headless Chromium (an office screen's size by default)."""
    playwright = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed; run scripts/setup --test")
    ARTIFACTS.mkdir(exist_ok=True)
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]},
                extra_http_headers=headers or {},
            )
            yield await context.new_page()
        finally:
            await browser.close()


async def sign_in(page: Any, username: str, password: str, lands_on: str) -> None:
    """Fill the login form the page was redirected to and wait for the target page."""
    assert "/login" in page.url, page.url
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(f"**/{lands_on}")
