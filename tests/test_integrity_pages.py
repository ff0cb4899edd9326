"""The integrity pages (/integrity, /integrity/help) and the dashboard's integrity box, on
SQLite and PostgreSQL, with a real Integrity service over the test database.

Forms are posted as a browser would (the CSRF field); a verify started from the page runs
for real (over the audit entries the sign-ins wrote, and a segment when a test adds one).
One test drives the page in headless Chromium.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import list_audit
from index.cameras import ensure_camera
from index.counters import ensure_counter
from index.db import Database
from index.records import AuditRecord
from index.runs import start_run
from index.segments import upsert_segment
from index.tokens import create_token
from index.users import create_user
from surveil.accounts import new_token
from surveil.clock import FakeClock
from surveil.config import IntegrityConfig, WebSettings
from surveil.integrity import Integrity
from surveil.log_verify import IntegrityReport, Progress
from tests.browser import ARTIFACTS, chromium_page, sign_in
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.rows import sealed_segment
from tests.test_accounts_api import MINUTE, PASSWORDS, SECOND, T0, digest_of
from tlog.note import Signer
from web.app import create_app


@dataclass
class Site:
    client: TestClient
    db: Database
    integrity: Integrity

    async def login(self, user: str) -> None:
        resp = await form_login(self.client, user, PASSWORDS[user])
        assert resp.status == 303, await resp.text()

    async def page(self, path: str, status: int = 200) -> str:
        resp = await self.client.get(path, allow_redirects=False)
        body = await resp.text()
        assert resp.status == status, body
        return body

    async def post(self, path: str, csrf: str | None) -> tuple[int, str]:
        data = {} if csrf is None else {"csrf_token": csrf}
        resp = await self.client.post(path, data=data, allow_redirects=False)
        return resp.status, resp.headers.get("Location", "")

    async def audit(self, action: str) -> list[AuditRecord]:
        async with self.db.read() as s:
            return await list_audit(s, action=action)


async def _seed(s: AsyncSession) -> None:
    await ensure_counter(s, "A01", "Window 1", "Hall", T0 - 3600 * SECOND)
    for user, role, counters in (("root", "admin", []), ("clerk", "staff", ["A01"])):
        await create_user(s, user, digest_of(PASSWORDS[user]), role, counters, T0 - MINUTE)
    await create_user(s, "eve", digest_of(PASSWORDS["eve"]), "auditor", [], T0 - MINUTE)


async def _open_site(db: Database, tmp_path: Path, *, integrity: bool = True) -> Site:
    await db.write(_seed)
    clock = FakeClock(T0)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    service = Integrity(db, data_dir, clock, IntegrityConfig(), Signer.generate("test/log"))
    settings = WebSettings(session_idle_us=30 * MINUTE, session_max_us=120 * MINUTE)
    app = create_app(
        db, NoStatus(), data_dir, clock, settings=settings, integrity=service if integrity else None
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Site(client, db, service)


@pytest.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    s = await _open_site(db, tmp_path)
    try:
        yield s
    finally:
        await s.client.close()
        await s.integrity.stop()  # a verify still running is cancelled


async def _verify_done(site: Site, path: str = "/integrity?lang=en") -> str:
    """The page once no verify is running any more (the page reloads itself until then)."""
    for _ in range(200):
        resp = await site.client.get(path)
        page = await resp.text()
        if "Refresh" not in resp.headers:
            return page
        assert 'id="verify-running"' in page
        await asyncio.sleep(0.05)
    raise AssertionError("the verify did not finish")


def _rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-size="(\d+)">', page)]


# --- the page -----------------------------------------------------------------------


async def test_the_page_lists_checkpoints_newest_first_with_the_key(site: Site) -> None:
    await site.login("eve")
    empty = await site.page("/integrity?lang=en")
    assert 'id="no-checkpoints"' in empty and _rows(empty) == []
    first = await site.integrity.checkpoint_now()
    await site.login("root")  # the log grows: the sign-in is an audit entry, so a leaf
    second = await site.integrity.checkpoint_now()
    assert first.size < second.size
    page = await site.page("/integrity?lang=en")
    assert _rows(page) == [second.size, first.size]
    key = site.integrity.verifier_key
    assert f'<pre class="mono" id="verifier-key">{key}</pre>' in page
    assert key.startswith("test/log+")
    assert 'href="/api/v1/integrity/key"' in page
    assert 'href="/api/v1/integrity/checkpoint"' in page
    assert f'href="/api/v1/integrity/checkpoint?size={second.size}"' in page
    status = await site.integrity.status()
    assert f'id="log-size" data-size="{status.log_size}"' in page
    assert status.log_size >= second.size
    assert 'href="/integrity/help"' in page
    assert "No integrity alarms." in page
    zh = await site.page("/integrity?lang=zh")
    assert "完整性日志" in zh and "运行校验" in zh and key in zh
    # The links serve what the page says.
    resp = await site.client.get(f"/api/v1/integrity/checkpoint?size={first.size}")
    assert resp.status == 200 and await resp.text() == first.note


async def test_checkpoints_are_paged_with_before(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.integrity_pages.CHECKPOINT_ROWS", 2)
    await site.login("root")
    sizes = []
    for _ in range(3):
        sizes.append((await site.integrity.checkpoint_now()).size)
        await site.login("root")  # grow the log between checkpoints
    newest = await site.page("/integrity?lang=en")
    assert _rows(newest) == sizes[::-1][:2]
    older = re.search(r'href="([^"]+)" id="checkpoints-older"', newest)
    assert older is not None
    href = older.group(1).replace("&amp;", "&")
    assert f"before={sizes[1]}" in href
    rest = await site.page(href)
    assert _rows(rest) == [sizes[0]]
    assert 'id="checkpoints-newest"' in rest and 'id="checkpoints-older"' not in rest
    await site.page("/integrity?before=x", 400)


async def test_run_verify_starts_one_shows_progress_then_the_result(site: Site) -> None:
    await site.login("eve")
    await site.integrity.checkpoint_now()  # as the service does at start: the log is covered
    page = await site.page("/integrity?lang=en")
    assert "No verify has run yet." in page and 'id="run-verify"' in page
    # Without the CSRF field the guard refuses it, and nothing starts.
    assert (await site.post("/integrity/verify", None))[0] == 403
    assert (await site.post("/integrity/verify", "forged"))[0] == 403
    assert (await site.integrity.status()).verify_running is None
    status, location = await site.post("/integrity/verify", csrf_of(page))
    assert (status, location) == (303, "/integrity?started=1")
    running = (await site.integrity.status()).verify_running
    assert running is not None  # started (it may be done already: the log is small)
    [entry] = await site.audit("integrity.verify")
    assert (entry.actor, entry.outcome) == ("eve", "ok")
    done = await _verify_done(site)
    result = re.search(r'<span class="ok" data-result="ok">([^<]+)</span>', done)
    assert result is not None, done
    assert "everything holds" in result.group(1)
    assert 'id="run-verify"' in done and 'id="verify-running"' not in done
    status_after = await site.integrity.status()
    assert status_after.verify is not None and status_after.verify.findings == 0
    assert status_after.verify.finished_us is not None
    zh = await site.page("/integrity?lang=zh")
    assert "全部一致" in zh


async def test_a_verify_with_findings_says_how_many(site: Site) -> None:
    # A sealed segment whose file is not there: verify must find it.
    async def segment(s: AsyncSession) -> None:
        cam = await ensure_camera(s, "cam-a", "rtsp://h/a", ["A01"], True, T0)
        run = await start_run(s, cam.id, T0, "startup")
        await upsert_segment(s, sealed_segment(cam.id, run, 0, "cam-a/0.mp4", T0, T0 + MINUTE))

    await site.db.write(segment)
    await site.login("root")
    await site.integrity.checkpoint_now()
    page = await site.page("/integrity?lang=en")
    assert (await site.post("/integrity/verify", csrf_of(page)))[0] == 303
    done = await _verify_done(site)
    found = re.search(r'data-result="findings" data-findings="(\d+)">([^<]+)<', done)
    assert found is not None, done
    assert int(found.group(1)) >= 1 and f"{found.group(1)} findings" in found.group(2)
    # The dashboard carries the verify's alarm.
    dash = await site.page("/dashboard?lang=en")
    assert '<li class="alarm integrity">Integrity log: verify:' in dash


async def test_the_page_reloads_itself_while_a_verify_runs(site: Site) -> None:
    await site.login("root")
    await site.integrity.checkpoint_now()
    gate = asyncio.Event()
    real_verify = site.integrity.verify

    async def held(progress: Progress | None = None) -> IntegrityReport:
        assert progress is not None
        progress("log", 3, 7)
        await gate.wait()
        return await real_verify(progress)

    site.integrity.verify = held  # type: ignore[method-assign]
    page = await site.page("/integrity?lang=en")
    assert (await site.post("/integrity/verify", csrf_of(page)))[0] == 303
    await asyncio.sleep(0.05)
    resp = await site.client.get("/integrity?lang=en")
    running = await resp.text()
    assert resp.headers.get("Refresh") == "3"
    assert 'data-stage="log" data-done="3" data-total="7"' in running
    assert "Verify running: checking log entries, 3 / 7" in running
    assert 'id="run-verify"' not in running
    gate.set()
    done = await _verify_done(site)
    assert 'data-result="ok"' in done


async def test_a_verify_that_fails_says_so(site: Site) -> None:
    await site.login("eve")

    async def broken(progress: Progress | None = None) -> IntegrityReport:
        raise OSError("the index went away")

    site.integrity.verify = broken  # type: ignore[method-assign]
    page = await site.page("/integrity?lang=en")
    assert (await site.post("/integrity/verify", csrf_of(page)))[0] == 303
    done = await _verify_done(site)
    assert 'data-result="failed"' in done and "verify failed, see the server log" in done
    assert "中断" in await site.page("/integrity?lang=zh")


async def test_issue_checkpoint_is_for_admins(site: Site) -> None:
    await site.login("root")
    page = await site.page("/integrity?lang=en")
    assert 'id="issue-checkpoint"' in page
    assert (await site.post("/integrity/checkpoint", None))[0] == 403
    status, location = await site.post("/integrity/checkpoint", csrf_of(page))
    latest = (await site.integrity.status()).checkpoint
    assert latest is not None
    assert (status, location) == (303, f"/integrity?issued={latest.size}")
    after = await site.page(location + "&lang=en")
    assert f"Checkpoint issued at size {latest.size}." in after
    assert _rows(after) == [latest.size]
    [entry] = await site.audit("integrity.checkpoint")
    assert (entry.actor, entry.detail) == ("root", {"size": latest.size})
    # An auditor sees no button, and posting it anyway is refused (and audited).
    await site.login("eve")
    page = await site.page("/integrity?lang=en")
    assert 'id="issue-checkpoint"' not in page and 'id="run-verify"' in page
    assert (await site.post("/integrity/checkpoint", csrf_of(page)))[0] == 403
    assert (await site.integrity.status()).checkpoints == 1
    async with site.db.read() as s:
        denied = await list_audit(s, outcome="denied", actor="eve")
    assert [e.target for e in denied] == ["integrity_issue"]


async def test_staff_are_refused_the_integrity_pages(site: Site) -> None:
    await site.login("clerk")
    for path in ("/integrity", "/integrity/help", "/integrity?lang=en"):
        await site.page(path, 403)
    lookup = await site.page("/lookup")
    assert 'href="/integrity"' not in lookup
    assert (await site.post("/integrity/verify", csrf_of(lookup)))[0] == 403
    assert (await site.integrity.status()).verify_running is None


async def test_menu_links_the_page_for_admin_and_auditor(site: Site) -> None:
    for user, text in (("root", "Integrity"), ("eve", "Integrity")):
        await site.login(user)
        page = await site.page("/lookup?lang=en")
        nav = page.split("</nav>")[0]
        assert f'<a href="/integrity">{text}</a>' in nav
        zh = await site.page("/lookup?lang=zh")
        assert '<a href="/integrity">完整性</a>' in zh.split("</nav>")[0]


# --- help ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh", ("如何独立核验录像", "为什么要在录像机以外保存检查点", "RFC 9162", "C2SP")),
        ("en", ("How to check footage independently", "Why to keep a checkpoint", "RFC 9162")),
    ],
)
async def test_help_page_in_both_languages_shows_the_key(
    site: Site, lang: str, texts: tuple[str, ...]
) -> None:
    await site.login("eve")
    page = await site.page(f"/integrity/help?lang={lang}")
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
    assert f'<pre class="mono" id="verifier-key">{site.integrity.verifier_key}</pre>' in page
    for text in texts:
        assert text in page, text
    for step in (
        "/api/v1/integrity/checkpoint",
        "/api/v1/integrity/key",
        "/api/v1/recordings",
        "/api/v1/integrity/proof/inclusion?index=I&amp;size=N",
        "leaf_index",
        "SHA-256(0x00 ‖",
        "§2.1.3.2",
        "surveil verify --checkpoint",
    ):
        assert step in page, step


# --- dashboard ----------------------------------------------------------------------


async def test_dashboard_shows_the_log(site: Site) -> None:
    await site.login("root")
    record = await site.integrity.checkpoint_now()
    page = await site.page("/dashboard?lang=en")
    size = (await site.integrity.status()).log_size
    assert size > 0
    assert f'<p id="log-size" data-size="{size}">Log entries: {size}</p>' in page
    assert f'id="last-checkpoint" data-size="{record.size}"' in page
    assert f"(size {record.size})" in page
    assert "No scrub has finished yet." in page
    assert 'href="/integrity"' in page
    zh = await site.page("/dashboard?lang=zh")
    assert f"日志条目：{size}" in zh


async def test_without_the_service_the_pages_say_so(db: Database, tmp_path: Path) -> None:
    site = await _open_site(db, tmp_path, integrity=False)
    try:
        await site.login("root")
        page = await site.page("/integrity?lang=en")
        assert 'id="integrity-unavailable"' in page and "not available" in page
        assert 'id="integrity-unavailable"' in await site.page("/integrity/help?lang=en")
        assert 'id="integrity-unavailable"' in await site.page("/dashboard?lang=en")
        assert (await site.post("/integrity/verify", csrf_of(page)))[0] == 503
        assert (await site.post("/integrity/checkpoint", csrf_of(page)))[0] == 503
    finally:
        await site.client.close()


# --- in a browser -------------------------------------------------------------------


async def test_admin_runs_verify_in_chromium(site: Site) -> None:
    base = str(site.client.make_url("/"))
    await site.integrity.checkpoint_now()
    async with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}integrity?lang=en")
        await sign_in(page, "root", PASSWORDS["root"], "integrity?lang=en")
        assert await page.inner_text("#last-verify") == "No verify has run yet."
        await page.click("#run-verify")
        await page.wait_for_url("**/integrity?started=1")
        # The Refresh header reloads the page until the verify is done.
        await page.wait_for_selector("#last-verify [data-result='ok']", timeout=15_000)
        assert "everything holds" in await page.inner_text("#last-verify")
        assert await page.is_visible("#run-verify")
        await page.screenshot(path=str(ARTIFACTS / "integrity-page.png"), full_page=True)
        assert errors == []


# --- the guide's script -------------------------------------------------------------


def _guide_script() -> str:
    guide = Path(__file__).resolve().parents[1] / "docs" / "guide" / "verify.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    return str(blocks[0])


async def test_the_guides_script_checks_a_served_segment(site: Site, tmp_path: Path) -> None:
    """docs/guide/verify.md's check.py, run as an auditor would on what the API serves:
    OK for the real file, and a failure for a changed file, proof or key."""
    footage = bytes(range(256)) * 40
    data_dir = tmp_path / "data"
    (data_dir / "cam-a").mkdir()
    (data_dir / "cam-a" / "0.mp4").write_bytes(footage)

    async def segment(s: AsyncSession) -> None:
        cam = await ensure_camera(s, "cam-a", "rtsp://h/a", ["A01"], True, T0)
        run = await start_run(s, cam.id, T0, "startup")
        row = sealed_segment(cam.id, run, 0, "cam-a/0.mp4", T0, T0 + MINUTE)
        sha = hashlib.sha256(footage).hexdigest()
        await upsert_segment(s, replace(row, bytes=len(footage), sha256=sha))

    await site.db.write(segment)
    await site.login("eve")  # audit entries: leaves around the segment's
    token, digest = new_token()
    await site.db.write(lambda s: create_token(s, "auditor", "auditor", digest, T0))
    await site.integrity.checkpoint_now()
    auth = {"Authorization": f"Bearer {token}"}

    async def get(path: str) -> bytes:
        resp = await site.client.get(path, headers=auth)
        assert resp.status == 200, await resp.text()
        return await resp.read()

    work = tmp_path / "auditor"
    work.mkdir()
    checkpoint = await get("/api/v1/integrity/checkpoint")
    size = int(checkpoint.decode().splitlines()[1])
    window = "start=2026-11-26T02:00:00Z&end=2026-11-26T02:10:00Z"
    [seg] = json.loads(await get(f"/api/v1/recordings?camera=cam-a&{window}"))["segments"]
    files = {
        "key.txt": await get("/api/v1/integrity/key"),
        "checkpoint.txt": checkpoint,
        "proof.json": await get(
            f"/api/v1/integrity/proof/inclusion?index={seg['leaf_index']}&size={size}"
        ),
        "segment.mp4": await get(seg["url"]),
        "check.py": _guide_script().encode(),
    }
    for name, body in files.items():
        (work / name).write_bytes(body)

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "check.py", *args]
        return subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=60)

    ok = check("key.txt", "checkpoint.txt", "proof.json", "segment.mp4")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"OK: segment.mp4 is leaf {seg['leaf_index']} of test/log")
    changed = bytearray(footage)
    changed[1000] ^= 1
    (work / "changed.mp4").write_bytes(bytes(changed))
    bad = check("key.txt", "checkpoint.txt", "proof.json", "changed.mp4")
    assert bad.returncode != 0 and "SHA-256 is not the logged one" in bad.stderr
    proof = json.loads(files["proof.json"])
    assert proof["proof"]  # the sign-ins' audit entries are leaves too
    proof["proof"][0] = base64.b64encode(b"\x00" * 32).decode()
    (work / "forged.json").write_text(json.dumps(proof))
    bad = check("key.txt", "checkpoint.txt", "forged.json", "segment.mp4")
    assert bad.returncode != 0 and "signed root" in bad.stderr
    (work / "other.txt").write_text(Signer.generate("test/log").verifier().line() + "\n")
    bad = check("other.txt", "checkpoint.txt", "proof.json", "segment.mp4")
    assert bad.returncode != 0 and "no signature by this key" in bad.stderr
