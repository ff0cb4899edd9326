"""Posting the pages' forms as a browser would: the CSRF field and the login form."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token in a rendered page's forms."""
    found = _CSRF_RE.search(page)
    assert found, page
    return found.group(1)


async def form_login(client: TestClient, user: str, password: str, next_path: str = "/") -> Any:
    """Fetch the login form (for its CSRF cookie and field) and submit it; the response."""
    page = await (await client.get("/login")).text()
    return await client.post(
        "/login",
        data={
            "username": user,
            "password": password,
            "csrf_token": csrf_of(page),
            "next": next_path,
        },
        allow_redirects=False,
    )
