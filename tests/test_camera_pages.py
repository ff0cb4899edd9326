"""The dashboard, cameras and counters pages over HTTP, on SQLite and PostgreSQL.

The camera control is a small stand-in for the supervisor (a real credential box, the ONVIF
settings, a reconcile counter); ONVIF requests go to the faithful fake device of
tests/onvif_device.py on 127.0.0.1. tests/test_camera_pages_browser.py drives the same
pages in Chromium against the real recording service.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from cameras.credentials import CredentialBox
from index import cameras as camera_queries
from index import counters as counter_queries
from index.audit import list_audit
from index.cameras import ensure_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.receipts import ReceiptIn, ReceiptSettings, record_receipt
from index.records import AuditRecord, CameraRecord
from surveil.accounts import add_user
from surveil.clock import FakeClock
from surveil.config import OnvifConfig
from surveil.status import CameraStatus
from surveil.timefmt import us_from_iso
from tests.forms import csrf_of, form_login
from web import camera_pages
from web.app import create_app

pytest_plugins = ["tests.onvif_device"]

T0 = us_from_iso("2026-11-26T02:00:00+00:00")
SECOND = 1_000_000
PASSWORDS = {"root": "admin-password-1", "clerk": "staff-password-1", "eve": "audit-password-1"}
CAM_PASSWORD = "cam-Secret_31x"
ONVIF_PASSWORD = "onvif-Canary_42"
WRONG = "wrong-Canary_77"
ADMIN_PAGES = ("/dashboard", "/cameras", "/counters")


class Status:
    def __init__(self) -> None:
        self.items: list[CameraStatus] = []

    def camera_status(self) -> list[CameraStatus]:
        return list(self.items)


@dataclass
class Control:
    """The supervisor's CameraControl, minus the recorders."""

    credentials: CredentialBox
    onvif: OnvifConfig
    reconciles: int = 0
    urls: dict[str, str] = field(default_factory=dict)

    def camera_url(self, name: str) -> str | None:
        return self.urls.get(name)

    async def reconcile(self) -> None:
        self.reconciles += 1


@dataclass
class Site:
    client: TestClient
    db: Database
    status: Status
    control: Control
    clock: FakeClock
    bodies: list[str] = field(default_factory=list)

    async def login(self, user: str) -> None:
        resp = await form_login(self.client, user, PASSWORDS[user])
        assert resp.status == 303, await resp.text()

    async def get(self, path: str) -> tuple[int, str]:
        resp = await self.client.get(path)
        text = await resp.text()
        self.bodies.append(text)
        return resp.status, text

    async def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> Any:
        """POST a form with the session's CSRF token (read from the cameras or counters page)."""
        page = await (await self.client.get("/counters")).text()
        items = list(data.items()) if isinstance(data, dict) else list(data)
        items.append(("csrf_token", csrf_of(page)))
        resp = await self.client.post(path, data=items)
        self.bodies.append(await resp.text())
        return resp

    async def audit(self, **kw: Any) -> list[AuditRecord]:
        async with self.db.read() as s:
            return await list_audit(s, **kw)

    async def camera(self, name: str) -> CameraRecord:
        async with self.db.read() as s:
            return await camera_queries.get_camera(s, name)


async def _seed(s: AsyncSession) -> None:
    await ensure_counter(s, "A01", "Window 1", "Hall", T0)
    await ensure_counter(s, "B02", "Window 2", "Hall", T0)
    cam = await ensure_camera(s, "cfg-cam", "rtsp://10.0.0.9/live", ["A01"], True, T0)
    await link_camera_counters(s, cam.id, ["A01"], T0)


async def _start(db: Database, tmp_path: Path, onvif: OnvifConfig | None = None) -> Site:
    await db.write(_seed)
    for user, role, counters in (
        ("root", "admin", []),
        ("clerk", "staff", ["A01"]),
        ("eve", "auditor", []),
    ):
        await add_user(db, user, PASSWORDS[user], role, counters, T0 - 3600 * SECOND)
    status = Status()
    control = Control(CredentialBox.open(tmp_path / "keys"), onvif or OnvifConfig())
    clock = FakeClock(T0 + 400 * SECOND)
    app = create_app(db, status, tmp_path, clock, cameras=control)
    client = TestClient(TestServer(app))
    await client.start_server()
    return Site(client, db, status, control, clock)


@pytest.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    s = await _start(db, tmp_path)
    try:
        yield s
    finally:
        await s.client.close()


# --- access and languages --------------------------------------------------------------


async def test_admin_sees_all_three_pages_in_chinese_and_english(site: Site) -> None:
    await site.login("root")
    expected = {
        "/dashboard": ("运行状态", "Dashboard"),
        "/cameras": ("通过 ONVIF 添加", "Add by ONVIF"),
        "/counters": ("新建受理窗口", "New counter"),
    }
    for path, (zh, en) in expected.items():
        status, page = await site.get(path)
        assert status == 200, page
        assert '<html lang="zh-CN">' in page and zh in page, path
        status, page = await site.get(path + "?lang=en")
        assert status == 200
        assert '<html lang="en">' in page and en in page, path
        await site.get(path + "?lang=zh")
    # The menu links the new pages for an admin.
    _, page = await site.get("/dashboard")
    for path in ADMIN_PAGES:
        assert f'href="{path}"' in page


async def test_staff_and_auditor_access(site: Site) -> None:
    await site.login("clerk")
    for path in ADMIN_PAGES:
        status, _ = await site.get(path)
        assert status == 403, path
    await site.login("eve")
    assert (await site.get("/dashboard"))[0] == 200
    for path in ("/cameras", "/counters"):
        assert (await site.get(path))[0] == 403, path
    denied = await site.audit(outcome="denied")
    assert {(e.actor, e.target) for e in denied} >= {
        ("clerk", "dashboard_page"),
        ("clerk", "cameras_page"),
        ("clerk", "counters_page"),
        ("eve", "cameras_page"),
        ("eve", "counters_page"),
    }


async def test_forms_without_csrf_are_refused(site: Site) -> None:
    await site.login("root")
    posts = {
        "/cameras/add-url": {"name": "x1", "url": "rtsp://127.0.0.1:9/x"},
        "/cameras/probe": {"host": "127.0.0.1"},
        "/cameras/discover": {},
        "/counters": {"code": "C03", "name": "x"},
        "/counters/A01/delete": {},
        "/counters/A01/cameras": {"cameras": "x1"},
    }
    for path, data in posts.items():
        resp = await site.client.post(path, data=data)
        assert resp.status == 403, path
    async with site.db.read() as s:
        assert await camera_queries.list_api_cameras(s) == []
        assert [c.code for c in await counter_queries.list_counters(s)] == ["A01", "B02"]


# --- dashboard -------------------------------------------------------------------------


async def test_dashboard_shows_status_and_alarms(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.status.items = [
        CameraStatus(
            "cfg-cam", "recording", T0 + 399 * SECOND, 25.0, 2_000_000.0,
            "cfg-cam/2026/11/26/seg-0001.mp4", None, 1, clock_offset_s=3.2,
            alarms=("camera clock off by 3.2 s (ahead)",),
        ),
        CameraStatus(
            "door", "offline", None, None, None, None, "camera unreachable: connection refused",
            None,
        ),
    ]  # fmt: skip
    await site.login("eve")
    resp = await site.client.get("/dashboard?lang=en")
    page = await resp.text()
    assert resp.status == 200 and resp.headers["Refresh"] == "5"
    assert 'data-state="recording"' in page and "25.0" in page and "2000 kbit/s" in page
    assert "1.0 s ago" in page and "seg-0001.mp4" in page and "+3.2 s" in page
    assert "Camera door is not recording: camera unreachable: connection refused" in page
    assert "Camera cfg-cam: clock off by +3.2 s" in page
    assert "Data disk" in page and "full (over" not in page
    monkeypatch.setattr(camera_pages, "_disk", lambda _d: camera_pages.Disk(100, 95, 5))
    page = await (await site.client.get("/dashboard?lang=en")).text()
    assert "Data disk 95.0% full (over 90%)" in page
    site.status.items = [site.status.items[0]]
    monkeypatch.setattr(camera_pages, "_disk", lambda _d: camera_pages.Disk(100, 10, 90))
    page = await (await site.client.get("/dashboard?lang=zh")).text()
    assert "摄像机 cfg-cam 的时钟偏差 +3.2 秒" in page and "未在录像" not in page


# --- cameras ---------------------------------------------------------------------------


async def test_add_camera_by_url_through_the_form(site: Site) -> None:
    await site.login("root")
    resp = await site.post(
        "/cameras/add-url",
        [
            ("name", "hall-2"),
            ("url", f"rtsp://operator:{CAM_PASSWORD}@127.0.0.1:8554/hall"),
            ("counters", "A01"),
            ("counters", "B02"),
        ],
    )
    assert resp.status == 200
    assert resp.url.path == "/cameras" and resp.url.query["done"] == "created"
    page = site.bodies[-1]
    assert "已添加摄像机 hall-2。" in page
    assert "rtsp://127.0.0.1:8554/hall" in page
    record = await site.camera("hall-2")
    assert record.origin == "api" and record.counters == ("A01", "B02")
    assert record.username == "operator" and record.secret_enc is not None
    assert record.source_url == "rtsp://127.0.0.1:8554/hall"
    assert site.control.credentials.decrypt(record.secret_enc) == CAM_PASSWORD
    assert site.control.reconciles == 1
    [entry] = await site.audit(action="camera.create")
    assert (entry.actor, entry.target, entry.outcome) == ("root", "hall-2", "ok")
    # A taken name and a bad URL are refused with a message; nothing is saved.
    # Chinese pages say it by the code, English pages add the detail.
    resp = await site.post("/cameras/add-url", {"name": "hall-2", "url": "rtsp://h/x"})
    assert resp.status == 409 and 'data-code="conflict"' in site.bodies[-1]
    assert "与现有记录冲突。" in site.bodies[-1] and "already exists" not in site.bodies[-1]
    resp = await site.post("/cameras/add-url?lang=en", {"name": "hall-2", "url": "rtsp://h/x"})
    assert resp.status == 409 and "already exists" in site.bodies[-1]
    resp = await site.post("/cameras/add-url?lang=en", {"name": "cfg-cam", "url": "rtsp://h/x"})
    assert resp.status == 409 and "config file" in site.bodies[-1]
    resp = await site.post(
        "/cameras/add-url?lang=zh", {"name": "h3", "url": f"http://u:{WRONG}@h/"}
    )
    assert resp.status == 400 and 'data-code="bad_request"' in site.bodies[-1]
    assert "「RTSP 地址」格式不正确。" in site.bodies[-1]
    resp = await site.post("/cameras/add-url?lang=en", {"name": "Bad Name", "url": "rtsp://h/x"})
    assert resp.status == 400 and "&#39;Name&#39; is not in the right form." in site.bodies[-1]
    # A URL the schema admits but the credential rules refuse: 422, the page says why.
    two = f"rtsp://u:{WRONG}@h/s?password=other"
    resp = await site.post("/cameras/add-url?lang=en", {"name": "h4", "url": two})
    assert resp.status == 422 and "two different passwords" in site.bodies[-1]
    # A counter deleted since the page was loaded: the form comes back with what was typed.
    gone = [("name", "h5"), ("url", "rtsp://h/x"), ("counters", "ZZ9")]
    resp = await site.post("/cameras/add-url?lang=zh", gone)
    assert resp.status == 404 and 'data-code="counter_not_found"' in site.bodies[-1]
    assert "所选受理窗口不存在" in site.bodies[-1] and 'value="h5"' in site.bodies[-1]
    # The config camera is listed read-only; the API camera has edit/delete.
    _, page = await site.get("/cameras?lang=en")
    assert "managed in the config file" in page
    assert 'href="/cameras/hall-2/edit"' in page and 'href="/cameras/cfg-cam/edit"' not in page
    assert (await site.get("/cameras/cfg-cam/edit"))[0] == 409
    assert CAM_PASSWORD not in "\n".join(site.bodies) and WRONG not in "\n".join(site.bodies)


async def test_edit_disable_and_delete_a_camera(site: Site) -> None:
    await site.login("root")
    await site.post(
        "/cameras/add-url",
        {"name": "desk-1", "url": "rtsp://127.0.0.1:9/a", "username": "u",
         "password": CAM_PASSWORD},
    )  # fmt: skip
    before = await site.camera("desk-1")
    status, page = await site.get("/cameras/desk-1/edit?lang=en")
    assert status == 200 and CAM_PASSWORD not in page and "(unchanged)" in page
    # Empty password: unchanged; counters and URL change.
    site.clock.advance(SECOND)
    resp = await site.post(
        "/cameras/desk-1/edit",
        [("url", "rtsp://127.0.0.1:9/b"), ("username", "u"), ("password", ""),
         ("counters", "B02"), ("enabled", "1"), ("updated_us", str(before.updated_us))],
    )  # fmt: skip
    assert resp.status == 200 and resp.url.query["done"] == "updated", site.bodies[-1]
    after = await site.camera("desk-1")
    assert after.counters == ("B02",) and after.source_url == "rtsp://127.0.0.1:9/b"
    assert after.secret_enc == before.secret_enc
    # A stale form (the camera changed since) is refused.
    resp = await site.post(
        "/cameras/desk-1/edit?lang=en",
        {"url": "rtsp://127.0.0.1:9/c", "updated_us": str(before.updated_us)},
    )
    assert resp.status == 409 and "changed meanwhile" in site.bodies[-1]
    # A refused field re-renders the edit form, translated.
    resp = await site.post("/cameras/desk-1/edit?lang=zh", {"url": "http://127.0.0.1:9/c"})
    assert resp.status == 400 and "「RTSP 地址」格式不正确。" in site.bodies[-1]
    # Disable, then delete after the confirmation page; footage rows are kept (soft delete).
    resp = await site.post("/cameras/desk-1/enable", {"enabled": "0"})
    assert resp.url.query["done"] == "disabled"
    assert (await site.camera("desk-1")).enabled is False
    status, page = await site.get("/cameras/desk-1/delete?lang=en")
    assert status == 200 and "footage" in page
    resp = await site.post("/cameras/desk-1/delete", {})
    assert resp.url.query["done"] == "deleted"
    assert (await site.camera("desk-1")).deleted_us is not None
    _, page = await site.get("/cameras")
    assert 'data-camera="desk-1"' not in page
    actions = [e.action for e in await site.audit(actor="root") if e.target == "desk-1"]
    assert actions == ["camera.delete", "camera.update", "camera.update", "camera.create"]
    assert site.control.reconciles == 4


async def test_onvif_wrong_password_probe_and_add(site: Site, onvif_device: Any) -> None:
    dev = await onvif_device(
        username="admin", password=ONVIF_PASSWORD, stream_uri="rtsp://127.0.0.1:9/main"
    )
    await site.login("root")
    form = {"name": "ov-1", "host": "127.0.0.1", "port": str(dev.port), "username": "admin"}
    resp = await site.post("/cameras/add-onvif?lang=en", {**form, "password": WRONG})
    page = site.bodies[-1]
    assert resp.status == 422
    assert 'data-code="onvif_auth_failed"' in page
    assert "The camera refused the user name or password." in page
    assert 'value="ov-1"' in page and f'value="{dev.port}"' in page  # the form is kept
    assert WRONG not in page
    [failed] = await site.audit(action="camera.create")
    assert failed.outcome == "failed" and failed.detail == {"reason": "onvif_auth_failed"}
    # Unreachable: a closed port.
    resp = await site.post("/cameras/probe?lang=en", {**form, "port": "9", "password": WRONG})
    assert resp.status == 502 and 'data-code="camera_unreachable"' in site.bodies[-1]
    # Test connection: device facts, profiles, clock offset and a snapshot preview.
    resp = await site.post("/cameras/probe?lang=en", {**form, "password": ONVIF_PASSWORD})
    page = site.bodies[-1]
    assert resp.status == 200, page
    assert "FakeCam FC-1080" in page and "Profile_1" in page and "Profile_2" in page
    assert 'id="probe-snapshot"' in page and 'src="data:image/jpeg;base64,/9j/' in page
    assert "rtsp://127.0.0.1:9/main" in page
    async with site.db.read() as s:
        assert await camera_queries.list_api_cameras(s) == []
    [preview] = await site.audit(action="camera.snapshot")
    assert preview.target == f"onvif://127.0.0.1:{dev.port}" and preview.actor == "root"
    resp = await site.post(
        "/cameras/add-onvif", {**form, "password": ONVIF_PASSWORD, "counters": "A01"}
    )
    assert resp.status == 200 and resp.url.query["done"] == "created", site.bodies[-1]
    record = await site.camera("ov-1")
    assert record.onvif_host == "127.0.0.1" and record.onvif_port == dev.port
    assert record.source_url == "rtsp://127.0.0.1:9/main" and record.counters == ("A01",)
    assert record.device is not None and record.device["model"] == "FakeCam FC-1080"
    _, page = await site.get("/cameras/ov-1/edit")
    assert "Profile_2" in page and ONVIF_PASSWORD not in page
    # Choose the sub profile: probed again with the stored password.
    resp = await site.post(
        "/cameras/ov-1/edit",
        {"host": "127.0.0.1", "port": str(dev.port), "username": "admin", "password": "",
         "profile": "Profile_2", "counters": "A01", "enabled": "1"},
    )  # fmt: skip
    assert resp.url.query["done"] == "updated", site.bodies[-1]
    assert (await site.camera("ov-1")).onvif_profile == "Profile_2"
    everything = "\n".join(site.bodies) + repr(await site.audit())
    assert ONVIF_PASSWORD not in everything and WRONG not in everything


async def test_discovery_over_loopback_prefills_the_form(
    db: Database, tmp_path: Path, discovery_responder: Any
) -> None:
    responder = await discovery_responder(
        xaddrs=["http://127.0.0.1:8899/onvif/device_service"],
        scopes=["onvif://www.onvif.org/name/FakeCam", "onvif://www.onvif.org/hardware/FC-1"],
    )
    onvif = OnvifConfig(discovery_address=f"127.0.0.1:{responder.port}", discovery_bind="127.0.0.1")
    site = await _start(db, tmp_path, onvif)
    try:
        await site.login("root")
        resp = await site.post("/cameras/discover", {})
        page = site.bodies[-1]
        assert resp.status == 200, page
        assert responder.probes
        assert "FakeCam FC-1" in page
        link = re.search(r'href="(/cameras\?host=[^"]+)"', page)
        assert link, page
        _, page = await site.get(link.group(1).replace("&amp;", "&"))
        assert 'id="onvif-host" value="127.0.0.1"' in page
        assert 'id="onvif-port" value="8899"' in page
    finally:
        await site.client.close()


# --- counters --------------------------------------------------------------------------


async def test_counter_create_edit_delete(site: Site) -> None:
    await site.login("root")
    await site.get("/counters?lang=en")  # English from now on (cookie)
    resp = await site.post("/counters", {"code": "C03", "name": "Window 3", "site": "2F"})
    assert resp.url.query["done"] == "created"
    assert "Counter C03 created." in site.bodies[-1]
    resp = await site.post("/counters/C03/edit", {"name": "Window three", "site": ""})
    assert resp.url.query["done"] == "updated"
    async with site.db.read() as s:
        c03 = await counter_queries.get_counter(s, "C03")
    assert (c03.name, c03.site) == ("Window three", None)
    # Refusals come back as codes in the redirect (never a message), shown translated.
    resp = await site.post("/counters", {"code": "C03", "name": "again"})
    assert resp.url.query["error"] == "conflict"
    assert 'id="counters-error"' in site.bodies[-1]
    assert "This conflicts with what is stored." in site.bodies[-1]
    resp = await site.post("/counters", {"code": "bad code!", "name": "x"})
    assert dict(resp.url.query) == {
        "error": "bad_request",
        "field": "code",
        "kind": "string_pattern_mismatch",
    }
    assert "&#39;Code&#39; is not in the right form." in site.bodies[-1]
    resp = await site.post("/counters/C03/edit", {"name": "", "site": "2F"})
    assert resp.url.query["field"] == "name" and resp.url.query["kind"] == "missing"
    assert "&#39;Name&#39; is required." in site.bodies[-1]
    _, page = await site.get(f"/counters?{resp.url.query_string}&lang=zh")
    assert "「名称」为必填项。" in page
    await site.get("/counters?lang=en")

    async def receipt(s: AsyncSession) -> None:
        await record_receipt(s, ReceiptIn("R-1", "B02", T0), T0, ReceiptSettings())

    await site.db.write(receipt)
    resp = await site.post("/counters/B02/delete", {})
    assert resp.url.query["error"] == "conflict"
    resp = await site.post("/counters/C03/delete", {})
    assert resp.url.query["done"] == "deleted"
    async with site.db.read() as s:
        codes = [c.code for c in await counter_queries.list_counters(s)]
    assert codes == ["A01", "B02"]
    actions = [(e.action, e.target) for e in await site.audit(actor="root")]
    assert ("counter.create", "C03") in actions and ("counter.update", "C03") in actions
    assert ("counter.delete", "C03") in actions and ("counter.delete", "B02") not in actions


async def test_map_cameras_to_counters(site: Site) -> None:
    await site.login("root")
    for name in ("cam-x", "cam-y"):
        await site.post("/cameras/add-url", {"name": name, "url": f"rtsp://127.0.0.1:9/{name}"})
    _, page = await site.get("/counters?lang=en")
    # The config camera's link is shown, read-only.
    a01 = page.split('data-counter="A01"')[1].split("</section>")[0]
    assert "cfg-cam (config file)" in a01 and "disabled" in a01
    resp = await site.post("/counters/A01/cameras", [("cameras", "cam-x"), ("cameras", "cam-y")])
    assert resp.url.query["done"] == "mapped"
    assert (await site.camera("cam-x")).counters == ("A01",)
    assert (await site.camera("cam-y")).counters == ("A01",)
    assert (await site.camera("cfg-cam")).counters == ("A01",)
    resp = await site.post("/counters/B02/cameras", [("cameras", "cam-y")])
    resp = await site.post("/counters/A01/cameras", [("cameras", "cam-x")])
    assert (await site.camera("cam-x")).counters == ("A01",)
    assert (await site.camera("cam-y")).counters == ("B02",)
    # Config cameras cannot be linked here.
    resp = await site.post("/counters/B02/cameras", [("cameras", "cfg-cam")])
    assert resp.url.query["error"] == "conflict"
    assert (await site.camera("cfg-cam")).counters == ("A01",)
    _, page = await site.get("/counters")
    b02 = page.split('data-counter="B02"')[1].split("</section>")[0]
    assert 'value="cam-y" checked' in b02 and 'value="cam-x">' in b02
    updates = [e for e in await site.audit(action="camera.update") if e.target == "cam-y"]
    assert len(updates) == 3
    # Deleting a counter unlinks it from the API cameras that covered it.
    resp = await site.post("/counters", {"code": "C03", "name": "Window 3"})
    await site.post("/counters/C03/cameras", [("cameras", "cam-x")])
    assert (await site.camera("cam-x")).counters == ("A01", "C03")
    await site.post("/counters/C03/delete", {})
    assert (await site.camera("cam-x")).counters == ("A01",)
