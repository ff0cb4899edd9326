"""Sign-in, sessions, CSRF, the login limit, staff scope, and the lookup and desk pages.

Server-side behaviour over HTTP with aiohttp's client, on SQLite and PostgreSQL; the
browser tests (tests/test_pages_browser.py) cover what only a browser can show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import list_audit
from index.cameras import ensure_camera, get_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.models import WebSession
from index.receipts import ReceiptIn, ReceiptSettings, get_receipt, record_receipt
from index.runs import end_run, start_run
from index.segments import upsert_segment
from surveil.accounts import add_user, token_hash
from surveil.clock import FakeClock
from surveil.config import WebSettings
from surveil.timefmt import us_from_iso
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.rows import sealed_segment
from web.app import create_app
from web.auth import SESSION_COOKIE
from web.i18n import CATALOG, error_text, form_error_text, translate

T0 = us_from_iso("2026-11-26T02:00:00+00:00")  # 10:00 in Asia/Shanghai
SECOND = 1_000_000
MINUTE = 60 * SECOND
PASSWORDS = {"root": "admin-password-1", "clerk": "staff-password-1", "eve": "audit-password-1"}


@dataclass
class Site:
    client: TestClient
    db: Database
    clock: FakeClock

    async def login(self, user: str, password: str | None = None) -> Any:
        secret = PASSWORDS[user] if password is None else password
        return await form_login(self.client, user, secret, "/lookup")

    def csrf_of(self, page: str) -> str:
        return csrf_of(page)

    async def audit(self, **kw: Any) -> list[Any]:
        async with self.db.read() as s:
            return await list_audit(s, **kw)


async def _seed(s: AsyncSession) -> None:
    await ensure_counter(s, "A01", "Window 1", "Hall", T0 - 3600 * SECOND)
    await ensure_counter(s, "B02", "Window 2", "Hall", T0 - 3600 * SECOND)
    cam = await ensure_camera(s, "cam-a", "rtsp://h/a", ["A01"], True, T0 - 3600 * SECOND)
    camb = await ensure_camera(s, "cam-b", "rtsp://h/b", ["B02"], True, T0 - 3600 * SECOND)
    await link_camera_counters(s, cam.id, ["A01"], T0)
    await link_camera_counters(s, camb.id, ["B02"], T0)
    # cam-a recorded 09:50-09:58 (local), was down until 09:59, then recorded again.
    for run_no, (start, end) in enumerate(((-600, -120), (-60, 300))):
        run = await start_run(s, cam.id, T0 + start * SECOND, "startup")
        for i, seg_start in enumerate(range(start, end, 60)):
            seg_end = min(seg_start + 60, end)
            await upsert_segment(
                s,
                sealed_segment(
                    cam.id,
                    run,
                    i,
                    f"cam-a/r{run_no}/{i}.mp4",
                    T0 + seg_start * SECOND,
                    T0 + seg_end * SECOND,
                ),
            )
        if run_no == 0:
            await end_run(s, run, T0 + end * SECOND, "camera unreachable: connection refused")


@pytest.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    await db.write(_seed)
    for user, role, counters in (
        ("root", "admin", []),
        ("clerk", "staff", ["A01"]),
        ("eve", "auditor", []),
    ):
        await add_user(db, user, PASSWORDS[user], role, counters, T0 - 3600 * SECOND)
    clock = FakeClock(T0 + 400 * SECOND)
    settings = WebSettings(
        session_idle_us=30 * MINUTE, session_max_us=120 * MINUTE, login_max_failures=3
    )
    receipts = ReceiptSettings(pre_roll_us=30 * SECOND, post_roll_us=30 * SECOND)
    app = create_app(db, NoStatus(), tmp_path, clock, receipts, settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Site(client, db, clock)
    finally:
        await client.close()


# --- language ----------------------------------------------------------------


def test_catalogs_have_the_same_keys() -> None:
    assert set(CATALOG["zh"]) == set(CATALOG["en"])


async def test_login_page_is_chinese_by_default_and_switches_to_english(site: Site) -> None:
    page = await (await site.client.get("/login")).text()
    assert '<html lang="zh-CN">' in page and "登录" in page
    resp = await site.client.get("/login?lang=en")
    page = await resp.text()
    assert '<html lang="en">' in page and "Sign in" in page
    # The choice sticks (cookie) for the next page.
    page = await (await site.client.get("/login")).text()
    assert '<html lang="en">' in page


# --- sign in and sessions ------------------------------------------------------


async def test_pages_redirect_to_login_when_signed_out(site: Site) -> None:
    resp = await site.client.get("/lookup?receipt=R1", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login?next=")


async def test_login_sets_a_strict_httponly_session_and_stores_only_its_hash(site: Site) -> None:
    resp = await site.login("root")
    assert resp.status == 303 and resp.headers["Location"] == "/lookup"
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    sid = cookie.value
    assert len(sid) >= 43  # 32 random bytes, url-safe base64: 256 bits
    async with site.db.read() as s:
        stored = list((await s.execute(select(WebSession.sid_hash))).scalars())
    assert stored == [token_hash(sid)] and sid not in stored
    page = await (await site.client.get("/lookup")).text()
    assert "root" in page
    [entry] = await site.audit(action="login")
    assert (entry.actor, entry.outcome) == ("root", "ok")


async def test_each_login_gets_a_new_session_id(site: Site) -> None:
    first = (await site.login("root")).cookies[SESSION_COOKIE].value
    second = (await site.login("root")).cookies[SESSION_COOKIE].value
    assert first != second


async def test_wrong_password_fails_and_is_audited_without_the_password(site: Site) -> None:
    resp = await site.login("root", "not-the-password")
    assert resp.status == 401
    assert SESSION_COOKIE not in resp.cookies
    [entry] = await site.audit(action="login")
    assert (entry.actor, entry.target, entry.outcome) == ("-", "root", "failed")
    assert "not-the-password" not in str(entry)
    resp = await site.login("nobody", "whatever-password")
    assert resp.status == 401


async def test_login_rate_limit_refuses_even_the_right_password(site: Site) -> None:
    for _ in range(3):
        assert (await site.login("root", "wrong-password-x")).status == 401
    resp = await site.login("root")
    assert resp.status == 429
    assert "秒" in await resp.text()
    denied = await site.audit(action="login", outcome="denied")
    assert denied and denied[0].detail["why"] == "rate limited"
    # The window passes: the right password works again.
    site.clock.advance(16 * MINUTE)
    assert (await site.login("root")).status == 303


async def test_login_form_needs_its_csrf_cookie(site: Site) -> None:
    resp = await site.client.post(
        "/login",
        data={"username": "root", "password": PASSWORDS["root"], "csrf_token": "forged"},
        allow_redirects=False,
    )
    assert resp.status == 403


async def test_idle_and_absolute_timeouts_end_sessions(site: Site) -> None:
    await site.login("root")
    site.clock.advance(29 * MINUTE)
    assert (await site.client.get("/lookup", allow_redirects=False)).status == 200
    site.clock.advance(31 * MINUTE)
    assert (await site.client.get("/lookup", allow_redirects=False)).status == 303
    async with site.db.read() as s:
        reasons = list((await s.execute(select(WebSession.end_reason))).scalars())
    assert reasons == ["idle"]
    # Active all along, but past the absolute limit (120 min in this site).
    await site.login("root")
    for _ in range(6):
        site.clock.advance(20 * MINUTE)
        assert (await site.client.get("/lookup", allow_redirects=False)).status == 200
    site.clock.advance(20 * MINUTE + SECOND)
    assert (await site.client.get("/lookup", allow_redirects=False)).status == 303


async def test_logout_needs_csrf_and_ends_the_session(site: Site) -> None:
    await site.login("root")
    page = await (await site.client.get("/lookup")).text()
    resp = await site.client.post("/logout", data={}, allow_redirects=False)
    assert resp.status == 403
    resp = await site.client.post(
        "/logout", data={"csrf_token": site.csrf_of(page)}, allow_redirects=False
    )
    assert resp.status == 303
    assert (await site.client.get("/lookup", allow_redirects=False)).status == 303
    async with site.db.read() as s:
        ends = list((await s.execute(select(WebSession.end_reason))).scalars())
    assert ends == ["logout"]


async def test_session_api_calls_need_the_csrf_header_for_changes(site: Site) -> None:
    await site.login("clerk")
    assert (await site.client.get("/api/v1/counters")).status == 200
    body = {"receipt_no": "R-77", "counter": "A01", "accepted_at": "2026-11-26T02:01:00Z"}
    resp = await site.client.post("/api/v1/receipts", json=body)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf"
    csrf = site.csrf_of(await (await site.client.get("/desk")).text())
    resp = await site.client.post("/api/v1/receipts", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()


async def test_audit_log_refuses_updates_and_deletes(site: Site) -> None:
    await site.login("root", "wrong-password-y")
    before = await site.audit()
    for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            await site.db.write(lambda s, q=statement: s.execute(text(q)))
    assert await site.audit() == before


# --- staff scope ---------------------------------------------------------------


async def test_staff_see_only_their_counters(site: Site) -> None:
    async def seed_receipts(s: AsyncSession) -> None:
        settings = ReceiptSettings()
        for no, counter in (("A-1", "A01"), ("B-1", "B02")):
            rin = ReceiptIn(no, counter, T0 - 5 * MINUTE, T0)
            await record_receipt(s, rin, T0, settings)

    await site.db.write(seed_receipts)
    await site.login("clerk")
    assert (await site.client.get("/lookup?receipt=A-1")).status == 200
    resp = await site.client.get("/lookup?receipt=B-1")
    assert resp.status == 403
    assert (await site.client.get("/api/v1/receipts/B-1")).status == 403
    assert (
        await site.client.get(
            "/api/v1/clips/cam-b.mp4?start=2026-11-26T01:50:00Z&end=2026-11-26T01:55:00Z"
        )
    ).status == 403
    page = await (await site.client.get("/lookup")).text()
    assert "A01" in page and "B02" not in page
    denied = await site.audit(outcome="denied")
    assert {e.target for e in denied} >= {"lookup_page", "receipt", "clip"}
    assert all(e.actor == "clerk" for e in denied)


async def test_staff_cannot_reach_admin_only_routes(site: Site) -> None:
    await site.login("clerk")
    csrf = site.csrf_of(await (await site.client.get("/desk")).text())
    resp = await site.client.post(
        "/api/v1/counters",
        json={"code": "C03", "name": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 403


# --- lookup page ----------------------------------------------------------------


async def test_lookup_by_receipt_shows_window_coverage_and_explained_gap(site: Site) -> None:
    async def seed_receipt(s: AsyncSession) -> None:
        rin = ReceiptIn("SL-2026-0001", "A01", T0 - 3 * MINUTE, T0, service="passport")
        await record_receipt(s, rin, T0, ReceiptSettings(30 * SECOND, 30 * SECOND))

    await site.db.write(seed_receipt)
    await site.login("clerk")
    resp = await site.client.get("/lookup?receipt=SL-2026-0001&lang=en")
    page = await resp.text()
    assert resp.status == 200, page
    assert "SL-2026-0001" in page and "passport" in page
    # Window 09:56:30-10:00:30 local; the camera was down 09:58-09:59.
    assert "2026-11-26 09:56:30" in page and "10:00:30" in page
    assert 'data-camera="cam-a"' in page
    assert "camera offline: camera unreachable: connection refused" in page
    assert 'class="span gap"' in page and 'class="span receipt"' in page
    # 240 s window, 60 s gap: 75 % recorded; two clips (one per run).
    assert 'data-pct="75.0"' in page
    assert page.count("<video") == 2
    assert "/api/v1/clips/cam-a.mp4?start=" in page


async def test_lookup_unknown_receipt_says_so(site: Site) -> None:
    await site.login("root")
    resp = await site.client.get("/lookup?receipt=NOPE-1")
    assert resp.status == 404
    page = await resp.text()
    assert translate("zh", "lookup.not_found", no="NOPE-1") in page
    assert 'id="by-receipt"' in page  # the search form stays, for the next number
    resp = await site.client.get("/lookup?receipt=" + "N" * 65)
    assert resp.status == 400
    label = translate("zh", "lookup.receipt_no")
    assert form_error_text("zh", label, "string_too_long") in await resp.text()


async def test_lookup_by_unknown_counter_is_shown_by_code(site: Site) -> None:
    await site.login("root")
    resp = await site.client.get("/lookup?counter=Z9&start=2026-11-26T09:55&end=2026-11-26T10:02")
    assert resp.status == 404
    page = await resp.text()
    assert error_text("zh", "counter_not_found", 404) in page
    assert "no counter with code" not in page  # no English on a Chinese page


async def test_lookup_by_counter_and_local_time(site: Site) -> None:
    await site.login("root")
    resp = await site.client.get(
        "/lookup?counter=A01&start=2026-11-26T09:55&end=2026-11-26T10:02&lang=en"
    )
    page = await resp.text()
    assert resp.status == 200, page
    assert "Counter A01: 2026-11-26 09:55:00 to 2026-11-26 10:02:00" in page
    resp = await site.client.get("/lookup?counter=A01&start=yesterday&end=2026-11-26T10:02&lang=zh")
    assert resp.status == 400
    page = await resp.text()
    assert 'value="yesterday"' in page  # the form keeps what was typed
    assert form_error_text("zh", translate("zh", "lookup.start"), "datetime_parsing") in page
    assert "is not a time like" not in page  # no English on a Chinese page


@pytest.mark.parametrize(
    ("start", "end", "detail"),
    [
        ("2026-11-26T10:02", "2026-11-26T09:55", "'end' must be later than 'start'"),
        ("2026-10-01T10:00", "2026-11-26T10:00", "at most 31 days"),
        ("2026-11-26T11:00", "2026-11-26T12:00", "'start' must be earlier than now"),
    ],
)
async def test_lookup_by_counter_refuses_what_the_api_refuses(
    site: Site, start: str, end: str, detail: str
) -> None:
    """The page validates with the API's LookupQuery: the same rules, answered by code."""
    await site.login("root")
    url = f"/lookup?counter=A01&start={start}&end={end}"
    resp = await site.client.get(url)
    assert resp.status == 422
    page = await resp.text()
    assert error_text("zh", "invalid_value", 422) in page and detail not in page
    resp = await site.client.get(url + "&lang=en")
    assert resp.status == 422 and escape(detail) in await resp.text()
    assert await site.audit(action="footage.") == []


# --- desk ----------------------------------------------------------------------


async def test_desk_scan_starts_then_completes_a_receipt(site: Site) -> None:
    await site.login("clerk")
    page = await (await site.client.get("/desk?lang=en")).text()
    csrf = site.csrf_of(page)

    async def scan(no: str) -> str:
        resp = await site.client.post(
            "/desk", data={"counter": "A01", "receipt_no": no, "csrf_token": csrf}
        )
        assert resp.status == 200
        return await resp.text()

    page = await scan("SCAN-001")
    assert "Receipt SCAN-001: acceptance started at 2026-11-26 10:06:40" in page
    site.clock.advance(5 * MINUTE)
    page = await scan("SCAN-001")
    assert "acceptance completed at 2026-11-26 10:11:40" in page
    page = await scan("SCAN-001")
    assert "already completed" in page
    page = await scan("bad number with spaces")
    assert 'id="desk-error"' in page
    assert escape(form_error_text("en", translate("en", "desk.scan"), "invalid_value")) in page
    actions = [e.action for e in await site.audit(actor="clerk")]
    assert actions == ["receipt.complete", "receipt.start", "login"]


async def test_desk_refusals_travel_as_codes_and_are_shown_in_the_page_language(
    site: Site,
) -> None:
    async def seed(s: AsyncSession) -> None:
        rin = ReceiptIn("B-7", "B02", T0, None)
        await record_receipt(s, rin, T0, ReceiptSettings())

    await site.db.write(seed)
    await site.login("root")
    csrf = site.csrf_of(await (await site.client.get("/desk")).text())

    async def scan(no: str) -> tuple[str, str]:
        resp = await site.client.post(
            "/desk",
            data={"counter": "A01", "receipt_no": no, "csrf_token": csrf},
            allow_redirects=False,
        )
        assert resp.status == 303
        location = resp.headers["Location"]
        return location, await (await site.client.get(location)).text()

    location, page = await scan("bad number with spaces")
    assert "error=invalid_value" in location and "field=receipt_no" in location
    assert "malformed" not in location and "malformed" not in page
    assert form_error_text("zh", translate("zh", "desk.scan"), "invalid_value") in page
    location, page = await scan("R" * 65)
    assert form_error_text("zh", translate("zh", "desk.scan"), "string_too_long") in page
    # Full width is the same receipt: it belongs to another counter, and nothing changes.
    location, page = await scan("Ｂ－７")
    assert "error=other_counter" in location
    assert translate("zh", "desk.other_counter", no="B-7", counter="B02") in page
    async with site.db.read() as s:
        assert (await get_receipt(s, "B-7")).completed_us is None
    # A crafted URL shows only catalog texts, never its own.
    page = await (await site.client.get("/desk?error=<b>own%20text</b>")).text()
    assert "own text" not in page and error_text("zh", "<b>", 400) in page
    page = await (await site.client.get("/desk?error=other_counter&no=a%20b&owner=B02")).text()
    assert "a b" not in page and error_text("zh", "conflict", 409) in page


async def test_desk_refuses_a_counter_outside_the_staff_scope(site: Site) -> None:
    await site.login("clerk")
    csrf = site.csrf_of(await (await site.client.get("/desk")).text())
    resp = await site.client.post(
        "/desk", data={"counter": "B02", "receipt_no": "X-1", "csrf_token": csrf}
    )
    assert resp.status == 403
    resp = await site.client.post("/desk", data={"counter": "A01", "receipt_no": "X-1"})
    assert resp.status == 403


async def test_h265_footage_says_the_browser_may_not_play_it_and_offers_the_download(
    site: Site,
) -> None:
    async def seed(s: AsyncSession) -> None:
        cam = await get_camera(s, "cam-b")
        run = await start_run(s, cam.id, T0, "startup")
        for i in range(3):
            start = T0 + i * 60 * SECOND
            row = sealed_segment(
                cam.id, run, i, f"cam-b/{i}.mp4", start, start + 60 * SECOND, "hevc"
            )
            await upsert_segment(s, row)
        rin = ReceiptIn("HEVC-1", "B02", T0 + 30 * SECOND, T0 + 150 * SECOND)
        await record_receipt(s, rin, T0 + 200 * SECOND, ReceiptSettings(0, 0))

    await site.db.write(seed)
    await site.login("root")
    page = await (await site.client.get("/lookup?receipt=HEVC-1&lang=en")).text()
    assert "This footage is H.265" in page
    assert page.count("<video") == 1 and " download>" in page
    h264 = await (
        await site.client.get(
            "/lookup?counter=A01&start=2026-11-26T09:55&end=2026-11-26T10:02&lang=en"
        )
    ).text()
    assert "This footage is H.265" not in h264
