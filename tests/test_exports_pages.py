"""The export pages, on SQLite and PostgreSQL, posted as a browser would: the form from a
receipt and from a counter search (window and cameras shown, refusals shown in the form
with the entries kept, CSRF), the request page with only the viewer's steps, the list's
filters, counter scope, the "waiting for you" counts (menu, list, dashboard), the lookup
page's "Request export" link, and the users page's permission boxes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from index import counters, receipts
from index.audit import list_audit
from index.counters import ensure_counter
from index.db import Database
from index.receipts import ReceiptIn, ReceiptSettings
from index.records import AuditRecord
from index.users import create_user, get_user
from surveil.clock import FakeClock
from surveil.config import WebSettings
from surveil.timefmt import datetime_from_us
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.test_accounts_api import MINUTE, SECOND, T0, digest_of
from tests.test_index import add_camera
from web.app import create_app

ZONE = ZoneInfo(WebSettings().timezone)
PASSWORD = "export-pages-pw-1"
RS = ReceiptSettings(pre_roll_us=30 * SECOND, post_roll_us=30 * SECOND)
# name: (role, counters, permissions)
ACCOUNTS: dict[str, tuple[str, list[str], list[str]]] = {
    "root": ("admin", [], []),
    "clerk": ("staff", ["A01"], []),
    "rev": ("staff", ["A01"], ["export.review"]),
    "boss": ("admin", [], ["export.approve"]),
    "both": ("staff", ["A01"], ["export.review", "export.approve"]),
    "other": ("staff", ["B02"], ["export.review"]),
    "eve": ("auditor", [], []),
}
FORM = {
    "kind": "copy",
    "party_name": "张三",
    "party_id_type": "居民身份证",
    "party_id_number": "110101199001011234",
    "party_relation": "申请人本人",
    "purpose": "行政复议",
    "legal_basis": "《条例》第二十四条",
    "case_no": "",
}


def local(us: int) -> str:
    return datetime_from_us(us).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def shown(us: int) -> str:
    return datetime_from_us(us).astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Hall:
    """Counters A01 (camera cam-a) and B02 (cam-b), receipt R-1 at A01, the ACCOUNTS."""

    db: Database
    clock: FakeClock
    data_dir: Path
    server: TestServer
    clients: dict[str, TestClient]

    async def as_(self, user: str) -> TestClient:
        """A browser signed in as user (one cookie jar each)."""
        if user not in self.clients:
            client = TestClient(self.server)
            await client.start_server()
            resp = await form_login(client, user, PASSWORD)
            assert resp.status == 303, await resp.text()
            self.clients[user] = client
        return self.clients[user]

    async def page(self, user: str, path: str, status: int = 200) -> str:
        resp = await (await self.as_(user)).get(path, allow_redirects=False)
        body = await resp.text()
        assert resp.status == status, body
        return body

    async def post(
        self, user: str, path: str, data: dict[str, str], *, csrf: bool = True
    ) -> tuple[int, str, str]:
        """(status, Location, body) of a form posted with the session's CSRF token."""
        client = await self.as_(user)
        fields = dict(data)
        if csrf:
            fields["csrf_token"] = csrf_of(await (await client.get("/exports")).text())
        resp = await client.post(path, data=fields, allow_redirects=False)
        return resp.status, resp.headers.get("Location", ""), await resp.text()

    async def audit(self, **kw: Any) -> list[AuditRecord]:
        async with self.db.read() as s:
            return await list_audit(s, limit=500, **kw)

    async def file(self, user: str = "clerk", **overrides: str) -> int:
        """File a request from receipt R-1 through the form; its id."""
        status, location, body = await self.post(
            user, "/exports/new", {"receipt": "R-1", **FORM, **overrides}
        )
        assert status == 303, body
        found = re.fullmatch(r"/exports/(\d+)\?done=submitted", location)
        assert found, location
        return int(found.group(1))


@pytest.fixture
async def hall(db: Database, tmp_path: Path) -> AsyncIterator[Hall]:
    async def seed(s: AsyncSession) -> None:
        await ensure_counter(s, "A01", "一号窗口", "Hall", T0 - 60 * MINUTE)
        await ensure_counter(s, "B02", "二号窗口", "Hall", T0 - 60 * MINUTE)
        for name, (role, scope, perms) in ACCOUNTS.items():
            digest = digest_of(PASSWORD)
            await create_user(s, name, digest, role, scope, T0 - 60 * MINUTE, perms)

    await db.write(seed)
    for name, code in (("cam-a", "A01"), ("cam-b", "B02")):
        cam = await add_camera(db, name, (code,))
        await db.write(lambda s, c=cam, k=code: counters.link_camera_counters(s, c, [k]))
    rin = ReceiptIn(
        receipt_no="R-1", counter="A01", accepted_us=T0 - 30 * MINUTE, completed_us=T0 - 20 * MINUTE
    )
    await db.write(lambda s: receipts.record_receipt(s, rin, T0 - 20 * MINUTE, RS))
    clock = FakeClock(T0)
    settings = WebSettings(session_idle_us=30 * MINUTE, session_max_us=120 * MINUTE)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = create_app(db, NoStatus(), data_dir, clock, RS, settings=settings)
    server = TestServer(app, host="127.0.0.1")
    h = Hall(db, clock, data_dir, server, {})
    try:
        yield h
    finally:
        for client in h.clients.values():
            await client.close()
        await server.close()


def _actions(page: str) -> set[str]:
    """The ids of the step buttons the request page offers."""
    found = re.search(r'<section class="card" id="export-actions">(.*?)</section>', page, re.S)
    if found is None:
        return set()
    return set(re.findall(r'<button type="submit"[^>]*id="([a-z-]+)"', found.group(1)))


# --- the form ---------------------------------------------------------------------------------


async def test_a_clerk_files_a_request_from_a_receipt(hall: Hall) -> None:
    # The lookup result offers it, prefilled with the receipt.
    lookup = await hall.page("clerk", "/lookup?receipt=R-1&lang=en")
    assert '<a href="/exports/new?receipt=R-1" class="button" id="request-export">' in lookup
    assert "Request export</a>" in lookup
    assert "申请导出</a>" in await hall.page("clerk", "/lookup?receipt=R-1&lang=zh")
    # An auditor may look it up, but not file.
    assert 'id="request-export"' not in await hall.page("eve", "/lookup?receipt=R-1")

    form = await hall.page("clerk", "/exports/new?receipt=R-1&lang=en")
    start, end = T0 - 30 * MINUTE - 30 * SECOND, T0 - 20 * MINUTE + 30 * SECOND
    assert f'<dd id="cover-window">{shown(start)} – {shown(end)}</dd>' in form
    assert '<dd class="mono" id="cover-cameras">cam-a</dd>' in form
    assert '<input type="hidden" name="receipt" value="R-1">' in form

    rid = await hall.file()
    page = await hall.page("clerk", f"/exports/{rid}?done=submitted&lang=en")
    assert 'id="export-message">The request is filed; it waits for review.<' in page
    assert 'data-state="submitted"' in page and "张三" in page and "110101199001011234" in page
    assert f"{shown(start)} – {shown(end)}" in page
    assert re.search(r'<tr data-step="submit" data-actor="clerk">\s*<td>filed</td>', page)
    assert _actions(page) == {"withdraw"}  # the requester may only withdraw
    assert 'data-camera="cam-a" data-active="yes"' in page  # the export hold
    [entry] = await hall.audit(action="export.submit")
    assert (entry.actor, entry.target) == ("clerk", f"export {rid}")


async def test_refusals_are_shown_in_the_form_with_the_entries_kept(hall: Hall) -> None:
    status, _, body = await hall.post(
        "clerk", "/exports/new?lang=zh", {"receipt": "R-1", **FORM, "party_name": " "}
    )
    assert status == 422
    assert "「申请人姓名」为必填项。" in body
    assert 'value="110101199001011234"' in body and "行政复议</textarea>" in body
    status, _, body = await hall.post(
        "clerk", "/exports/new?lang=en", {"receipt": "R-1", **FORM, "purpose": "x" * 2001}
    )
    assert status == 422 and "&#39;Purpose&#39; is too long." in body
    # A window in the future, from a counter search.
    status, _, body = await hall.post(
        "clerk",
        "/exports/new?lang=zh",
        {"counter": "A01", "start": local(T0 - MINUTE), "end": local(T0 + 10 * MINUTE), **FORM},
    )
    assert status == 422 and "时段的结束时间晚于当前时刻。" in body
    status, _, body = await hall.post(
        "clerk", "/exports/new?lang=en", {"receipt": "NO-SUCH", **FORM}
    )
    assert status == 404 and "No such receipt." in body
    assert await hall.audit(action="export.submit") == []


async def test_a_request_for_a_counter_and_a_window(hall: Hall) -> None:
    start, end = local(T0 - 50 * MINUTE), local(T0 - 40 * MINUTE)
    lookup = await hall.page("clerk", f"/lookup?counter=A01&start={start}&end={end}")
    link = re.search(r'<a href="([^"]+)" class="button" id="request-export">', lookup)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith("/exports/new?counter=A01&start=")
    form = await hall.page("clerk", url + "&lang=en")
    assert '<dd class="mono" id="cover-cameras">cam-a</dd>' in form
    status, location, body = await hall.post(
        "clerk", "/exports/new", {"counter": "A01", "start": start, "end": end, **FORM}
    )
    assert status == 303, body
    page = await hall.page("clerk", location.split("?")[0] + "?lang=en")
    assert shown(T0 - 50 * MINUTE) in page and 'id="export-cameras">cam-a<' in page


async def test_the_forms_are_refused_without_the_csrf_token(hall: Hall) -> None:
    status, _, _ = await hall.post("clerk", "/exports/new", {"receipt": "R-1", **FORM}, csrf=False)
    assert status == 403
    rid = await hall.file()
    for step in ("withdraw", "review", "view"):
        user = "rev" if step == "review" else "clerk"
        status, _, _ = await hall.post(user, f"/exports/{rid}/{step}", {}, csrf=False)
        assert status == 403, step
    page = await hall.page("clerk", f"/exports/{rid}")
    assert 'data-state="submitted"' in page
    assert [
        e.action for e in await hall.audit(actor="clerk", outcome="ok") if "export" in e.action
    ] == ["export.submit"]


# --- scope ------------------------------------------------------------------------------------


async def test_staff_of_another_counter_can_neither_request_nor_see(hall: Hall) -> None:
    rid = await hall.file()
    await hall.page("other", "/exports/new?receipt=R-1", status=403)
    status, _, _ = await hall.post("other", "/exports/new", {"receipt": "R-1", **FORM})
    assert status == 403
    page = await hall.page("other", f"/exports/{rid}?lang=en", status=404)
    assert "No such export request." in page and "张三" not in page
    listed = await hall.page("other", "/exports?lang=en")
    assert 'id="no-exports"' in listed and f'data-export="{rid}"' not in listed
    status, _, body = await hall.post("other", f"/exports/{rid}/review", {})
    assert status == 404 and "张三" not in body
    # An auditor sees every request, with no step to take.
    audit_view = await hall.page("eve", f"/exports/{rid}")
    assert "张三" in audit_view and _actions(audit_view) == set()


# --- the steps --------------------------------------------------------------------------------


async def test_review_and_approval_through_the_request_page(hall: Hall) -> None:
    rid = await hall.file()
    # The reviewer's menu counts what waits for them; the list filters it.
    lookup = await hall.page("rev", "/lookup?lang=en")
    assert re.search(r'<a href="/exports">Exports <span class="badge" title="1 waiting', lookup)
    listed = await hall.page("rev", "/exports?view=to_review&lang=en")
    assert f'data-export="{rid}"' in listed and 'id="waiting-review">To review: 1<' in listed
    assert 'id="waiting-approve"' not in listed
    page = await hall.page("rev", f"/exports/{rid}")
    assert _actions(page) == {"review-pass", "review-return"}
    # Returning needs a reason: shown on the page, nothing recorded.
    status, _, body = await hall.post("rev", f"/exports/{rid}/return?lang=zh", {"reason": ""})
    assert status == 422 and "「理由」为必填项。" in body
    status, location, _ = await hall.post("rev", f"/exports/{rid}/review", {"reason": "身份已核对"})
    assert (status, location) == (303, f"/exports/{rid}?done=review")
    assert 'class="badge"' not in await hall.page("rev", "/lookup")

    # The approver's dashboard box; staff without the permission are refused, in Chinese.
    dash = await hall.page("boss", "/dashboard?lang=en")
    assert 'id="waiting-approve">To approve: 1<' in dash
    status, _, body = await hall.post("clerk", f"/exports/{rid}/approve?lang=zh", {})
    assert status == 403 and "审批导出申请需要“审批导出申请”权限。" in body
    page = await hall.page("boss", f"/exports/{rid}")
    assert _actions(page) == {"approve", "reject"}
    status, location, _ = await hall.post("boss", f"/exports/{rid}/approve", {})
    assert (status, location) == (303, f"/exports/{rid}?done=approve")
    page = await hall.page("clerk", f"/exports/{rid}?lang=en")
    assert 'data-state="approved"' in page
    steps = re.findall(r'<tr data-step="(\w+)" data-actor="(\w+)">', page)
    assert steps == [("submit", "clerk"), ("review", "rev"), ("approve", "boss")]
    assert "身份已核对" in page
    # Without the integrity log this app has no packager: the page says the package waits.
    assert 'id="package-off"' in page
    # A second approval is a state conflict, shown on the page.
    status, _, body = await hall.post("boss", f"/exports/{rid}/approve?lang=en", {})
    assert status == 409 and 'id="export-error"' in body
    # No download before a package exists.
    status_resp = await (await hall.as_("clerk")).get(f"/exports/{rid}/package.zip")
    assert status_resp.status == 409
    found = await hall.audit(outcome="ok")
    actions = [e.action for e in found if e.target == f"export {rid}"]
    assert sorted(actions) == ["export.approve", "export.review", "export.submit"]


async def test_the_reviewer_cannot_also_approve(hall: Hall) -> None:
    rid = await hall.file()
    status, _, _ = await hall.post("both", f"/exports/{rid}/review", {})
    assert status == 303
    page = await hall.page("both", f"/exports/{rid}")
    assert _actions(page) == set()
    status, _, body = await hall.post("both", f"/exports/{rid}/approve?lang=zh", {})
    assert status == 403 and "审核人不能同时审批：须由第三人审批。" in body
    status, _, body = await hall.post("both", f"/exports/{rid}/approve?lang=en", {})
    assert status == 403 and "The reviewer cannot also approve" in body


async def test_withdraw_and_a_returned_request_resubmitted(hall: Hall) -> None:
    rid = await hall.file()
    status, _, _ = await hall.post("rev", f"/exports/{rid}/return", {"reason": "缺少委托书"})
    assert status == 303
    page = await hall.page("clerk", f"/exports/{rid}?lang=en")
    assert 'data-state="returned"' in page and "缺少委托书" in page
    assert _actions(page) == {"resubmit", "withdraw"}
    status, location, _ = await hall.post(
        "clerk", f"/exports/{rid}/resubmit", {"reason": "已补交委托书"}
    )
    assert (status, location) == (303, f"/exports/{rid}?done=resubmit")
    status, _, _ = await hall.post("clerk", f"/exports/{rid}/withdraw", {"reason": "不再需要"})
    assert status == 303
    page = await hall.page("clerk", f"/exports/{rid}?lang=en")
    assert 'data-state="withdrawn"' in page and _actions(page) == set()
    assert 'data-camera="cam-a" data-active="no"' in page  # the hold is released
    mine = await hall.page("clerk", "/exports?view=mine&state=withdrawn")
    assert f'data-export="{rid}"' in mine
    assert f'data-export="{rid}"' not in await hall.page("clerk", "/exports?state=submitted")
    assert 'id="exports-error"' in await hall.page("clerk", "/exports?view=bogus", status=422)


async def test_an_approved_viewing_plays_for_its_requester(hall: Hall) -> None:
    rid = await hall.file(kind="view")
    for user, step in (("rev", "review"), ("boss", "approve")):
        status, _, body = await hall.post(user, f"/exports/{rid}/{step}", {})
        assert status == 303, body
    page = await hall.page("clerk", f"/exports/{rid}")
    assert "view-open" in _actions(page) and 'id="view-until"' in page
    assert "view-open" not in _actions(await hall.page("boss", f"/exports/{rid}"))
    status, _, body = await hall.post("clerk", f"/exports/{rid}/view?lang=en", {})
    assert status == 200, body
    assert 'id="export-player"' in body and 'data-camera="cam-a"' in body
    [viewed] = await hall.audit(action="export.view")
    assert viewed.actor == "clerk"
    status, _, body = await hall.post("boss", f"/exports/{rid}/view?lang=en", {})
    assert status == 403 and "Only the requester can open an approved viewing." in body
    # Shown on site: the hand-over is recorded (who, to whom, how).
    assert "deliver" in _actions(await hall.page("clerk", f"/exports/{rid}"))
    status, location, body = await hall.post(
        "clerk", f"/exports/{rid}/deliver", {"recipient": "张三", "method": "现场查看"}
    )
    assert (status, location) == (303, f"/exports/{rid}?done=deliver"), body
    page = await hall.page("clerk", f"/exports/{rid}?lang=zh")
    assert 'data-state="delivered"' in page and "交付给 张三（现场查看）" in page


# --- the users page ---------------------------------------------------------------------------


async def test_the_users_page_grants_the_export_permissions(hall: Hall) -> None:
    page = await hall.page("root", "/users?lang=en")
    assert 'id="new-export-review"' in page and "review export requests" in page
    data = {
        "username": "newrev",
        "role": "staff",
        "password": "Fresh-Secret-Pw-42",
        "counters": "A01",
        "permissions": "export.review",
    }
    status, _, body = await hall.post("root", "/users", data)
    assert status == 303, body
    async with hall.db.read() as s:
        assert (await get_user(s, "newrev")).permissions == ("export.review",)
    # The edit form sends every box: ticking approve and unticking review.
    status, _, body = await hall.post(
        "root",
        "/users/newrev",
        {"op": "scope", "role": "staff", "counters": "A01", "permissions": "export.approve"},
    )
    assert status == 303, body
    async with hall.db.read() as s:
        assert (await get_user(s, "newrev")).permissions == ("export.approve",)
    status, _, body = await hall.post(
        "root", "/users/newrev?lang=en", {"op": "scope", "role": "staff", "counters": "A01"}
    )
    assert status == 303
    async with hall.db.read() as s:
        assert (await get_user(s, "newrev")).permissions == ()
    # An auditor cannot be granted them: refused on the page.
    status, _, body = await hall.post(
        "root",
        "/users/eve?lang=en",
        {"op": "scope", "role": "auditor", "permissions": "export.review"},
    )
    assert status == 422 and 'id="users-error"' in body


def test_every_forbidden_reason_has_its_chinese_sentence() -> None:
    from surveil.exports import REASONS
    from web.i18n import EXPORT_REASONS_ZH

    assert set(EXPORT_REASONS_ZH) == set(REASONS)
