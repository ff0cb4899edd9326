"""The menu is the access policy: each role sees exactly the pages ROUTE_ROLES lets it open."""

from __future__ import annotations

import re

import pytest

from tests.test_pages import Site, site  # noqa: F401  (the signed-in site fixture)
from web.access import ROUTE_ROLES
from web.pages import NAV

ROLE_OF = {"root": "admin", "clerk": "staff", "eve": "auditor"}
_NAV_RE = re.compile(r"<nav>(.*?)</nav>", re.S)
_HREF_RE = re.compile(r'href="([^"]+)"')


@pytest.mark.parametrize("user", sorted(ROLE_OF))
async def test_each_roles_menu_is_what_the_policy_allows(site: Site, user: str) -> None:  # noqa: F811
    await site.login(user)
    page = await (await site.client.get("/lookup")).text()
    nav = _NAV_RE.search(page)
    assert nav is not None, "no menu on the page"
    shown = _HREF_RE.findall(nav.group(1))
    names = site.client.app.router.named_resources()
    expected = [
        str(names[route].url_for()) for route, _ in NAV if ROLE_OF[user] in ROUTE_ROLES[route]
    ]
    assert shown == expected
    # And every entry shown opens for this role.
    for href in shown:
        resp = await site.client.get(href, allow_redirects=False)
        assert resp.status == 200, href
