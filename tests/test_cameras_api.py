"""Camera management through the API, against the real service, real GStreamer RTSP cameras
and a faithful fake ONVIF device (all on 127.0.0.1)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import cv2
import numpy as np
import pytest

from index import audit as audit_queries
from index import cameras as camera_queries
from index import tokens
from index.records import AuditRecord
from surveil.accounts import new_token
from surveil.config import parse_config
from surveil.service import Service
from tests.harness import all_segments, wait_for

pytest_plugins = ["tests.onvif_device"]

PASSWORD = "canary-Cam_9x!"
ONVIF_PASSWORD = "onvif-Canary_42"
WRONG = "wrong-Canary_77"


@dataclass
class Api:
    service: Service
    http: aiohttp.ClientSession
    staff: dict[str, str]
    bodies: list[str]

    @property
    def url(self) -> str:
        return self.service.url.rstrip("/")

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.http.request(method, self.url + path, json=json, headers=headers) as r:
            raw = await r.read()
            self.bodies.append(raw.decode("utf-8", "replace"))
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, raw

    async def segments(self, camera: str) -> list[Any]:
        return [s for s in await all_segments(self.service) if s.camera == camera]

    async def audit(self) -> list[AuditRecord]:
        assert self.service.db is not None
        async with self.service.db.read() as s:
            return await audit_queries.list_audit(s, limit=1000)


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def api(service_factory: Any, tmp_path: Path, database_url: str) -> AsyncIterator[ApiFactory]:
    sessions: list[aiohttp.ClientSession] = []

    async def start(onvif: dict[str, Any] | None = None) -> Api:
        raw: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            "web": {"listen": "127.0.0.1:0"},
            "recording": {"segment_seconds": 2.0, "rtsp_timeout_seconds": 2.0},
            "counters": [{"code": "A01", "name": "Window 1"}, {"code": "A02", "name": "W2"}],
            "cameras": [{"name": "cfgcam", "url": "synthetic:", "counters": ["A02"]}],
            "onvif": {"reprobe_minutes": 0, **(onvif or {})},
        }
        service: Service = await service_factory(parse_config(raw))
        assert service.db is not None
        admin, admin_digest = new_token()
        staff, staff_digest = new_token()
        await service.db.write(lambda s: tokens.create_token(s, "a", "admin", admin_digest, 1))
        await service.db.write(lambda s: tokens.create_token(s, "s", "staff", staff_digest, 1))
        http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"})
        sessions.append(http)
        return Api(service, http, {"Authorization": f"Bearer {staff}"}, [])

    yield start
    for http in sessions:
        await http.close()


def _decodes_as_jpeg(data: bytes) -> tuple[int, int]:
    assert data[:2] == b"\xff\xd8", data[:20]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.size > 0
    return int(img.shape[1]), int(img.shape[0])


async def test_url_camera_lifecycle_without_restart(
    api: ApiFactory, rtsp_camera: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cam = rtsp_camera(user="operator", password=PASSWORD, fps=25, gop=25)
    a = await api()
    sup = a.service.supervisor
    assert sup is not None

    # Credentials in the URL are accepted but moved out of it.
    status, body = await a.call(
        "POST", "/api/v1/cameras", {"name": "hall-1", "url": cam.url, "counters": ["A01"]}
    )
    assert status == 201, body
    assert body["url"] == cam.url_without_credentials
    assert body["username"] == "operator" and body["has_password"] is True
    assert body["origin"] == "api" and body["counters"] == ["A01"]

    async def sealed() -> bool:
        return any(s.state == "sealed" for s in await a.segments("hall-1"))

    await wait_for(sealed, 30, "segments of the API camera")
    status, body = await a.call("GET", "/api/v1/cameras/hall-1")
    assert status == 200 and body["state"] == "recording", body
    cfg_recorder = sup.recorders["cfgcam"]

    # Disable: the recorder stops, footage stays.
    before = len(await a.segments("hall-1"))
    status, body = await a.call("PATCH", "/api/v1/cameras/hall-1", {"enabled": False})
    assert status == 200 and body["enabled"] is False and body["state"] == "disabled", body
    assert "hall-1" not in sup.recorders
    assert len(await a.segments("hall-1")) >= before

    # Enable with a wrong password: restarted with the new credentials, which fail.
    status, body = await a.call(
        "PATCH", "/api/v1/cameras/hall-1", {"enabled": True, "password": WRONG}
    )
    assert status == 200, body
    rec = sup.recorders["hall-1"]
    await wait_for(
        lambda: _true(rec.status().error is not None), 20, "the wrong password to be refused"
    )
    # The right password again: another restart, and recording resumes.
    status, body = await a.call("PATCH", "/api/v1/cameras/hall-1", {"password": PASSWORD})
    assert status == 200 and body["has_password"] is True
    assert sup.recorders["hall-1"] is not rec
    await wait_for(
        lambda: _true(sup.recorders["hall-1"].status().state == "recording"), 20, "recording"
    )
    assert sup.recorders["cfgcam"] is cfg_recorder  # the other camera was not disturbed

    # Delete: soft, audited, footage still listed.
    status, _ = await a.call("DELETE", "/api/v1/cameras/hall-1")
    assert status == 204
    assert "hall-1" not in sup.recorders
    assert a.service.db is not None
    async with a.service.db.read() as s:
        row = await camera_queries.get_camera(s, "hall-1")
    assert row.deleted_us is not None and row.enabled is False
    status, body = await a.call(
        "GET",
        "/api/v1/recordings?camera=hall-1&start=2000-01-01T00:00:00%2B00:00"
        "&end=2000-01-31T00:00:00%2B00:00",
    )
    assert status == 200
    status, body = await a.call("GET", "/api/v1/cameras")
    assert "hall-1" not in [c["name"] for c in body["cameras"]]
    # A deleted camera is not found (DELETE means what it says); its footage stays.
    status, body = await a.call("GET", "/api/v1/cameras/hall-1")
    assert status == 404 and body["error"]["code"] == "camera_not_found", body
    assert "deleted" in body["error"]["message"]
    segs = await a.segments("hall-1")
    assert segs, "footage of a deleted camera is kept"
    status, body = await a.call("PATCH", "/api/v1/cameras/hall-1", {"enabled": True})
    assert status == 404
    # The name stays taken while its footage exists.
    status, body = await a.call("POST", "/api/v1/cameras", {"name": "hall-1", "url": cam.url})
    assert status == 409 and "deleted" in body["error"]["message"]

    actions = [(e.action, e.target, e.outcome) for e in await a.audit()]
    assert ("camera.create", "hall-1", "ok") in actions
    assert ("camera.delete", "hall-1", "ok") in actions
    updates = [e for e in await a.audit() if e.action == "camera.update"]
    assert len(updates) == 3
    assert any("secret_enc" in e.detail["changed"] for e in updates)  # type: ignore[operator]

    audit_text = "\n".join(repr(e) for e in await a.audit())
    await a.service.stop()
    everything = "\n".join(
        [*a.bodies, caplog.text, audit_text, *(r.getMessage() for r in caplog.records)]
    )
    assert PASSWORD not in everything and WRONG not in everything
    assert quote(PASSWORD, safe="") not in everything


def _true(value: bool) -> Awaitable[bool]:
    async def f() -> bool:
        return value

    return f()


async def test_validation_and_config_cameras(api: ApiFactory) -> None:
    a = await api()
    ok_url = "rtsp://127.0.0.1:9/stream"
    # Breaking the document: 400 naming the field, never echoing the value.
    cases = [
        ({"name": "Bad Name", "url": ok_url}, "'name'"),
        ({"name": "x", "url": f"http://u:{PASSWORD}@h/"}, "'url'"),
        ({"name": "x", "url": ok_url, "colour": "red"}, "unknown body field 'colour'"),
        ({"name": "x"}, "'url' is required"),
        ({"name": "x", "url": ok_url, "onvif": {"host": "h"}}, "either 'url'"),
        ({"name": "x", "onvif": {"host": "h", "port": 0}}, "onvif.port"),
        ({"name": "x", "onvif": {"host": "h", "pw": 1}}, "unknown body field 'onvif.pw'"),
        ({"name": "x", "onvif": {"host": "h"}, "username": "u"}, "unknown body field 'username'"),
        ({"name": "x", "url": ok_url, "enabled": "yes"}, "'enabled'"),
        ({"name": "x", "url": ok_url, "counters": ["bad code!"]}, "counters[0]"),
    ]
    for body, message in cases:
        status, got = await a.call("POST", "/api/v1/cameras", body)
        assert (status, got["error"]["code"]) == (400, "bad_request"), (body, got)
        assert message in got["error"]["message"], (body, got)
        assert PASSWORD not in got["error"]["message"]
    # Keeping the document but breaking a rule no schema states: 422.
    status, got = await a.call(
        "POST", "/api/v1/cameras", {"name": "x", "url": ok_url, "counters": ["NOPE"]}
    )
    assert (status, got["error"]["code"]) == (404, "counter_not_found"), got
    assert "unknown counter 'NOPE'" in got["error"]["message"]
    cases = [
        ({"name": "x", "onvif": {"host": "a..b"}}, "onvif.host"),
        (
            {"name": "x", "url": f"rtsp://u:{PASSWORD}@h/s?password=other-{PASSWORD}"},
            "two different passwords",
        ),
    ]
    for body, message in cases:
        status, got = await a.call("POST", "/api/v1/cameras", body)
        assert (status, got["error"]["code"]) == (422, "invalid_value"), (body, got)
        assert message in got["error"]["message"], (body, got)
        assert PASSWORD not in got["error"]["message"]
    # A change needs something to change; null is not a value to keep.
    for body in ({}, {"enabled": None}, {"url": ok_url, "onvif": {"host": "h"}}):
        status, got = await a.call("PATCH", "/api/v1/cameras/cfgcam", body)
        assert (status, got["error"]["code"]) == (400, "bad_request"), (body, got)

    # A taken name (a config camera's) is a conflict; config cameras are read-only here.
    status, got = await a.call("POST", "/api/v1/cameras", {"name": "cfgcam", "url": ok_url})
    assert status == 409 and "config file" in got["error"]["message"]
    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        status, got = await a.call(method, "/api/v1/cameras/cfgcam", body)
        assert status == 409, got
        assert "managed in the config file" in got["error"]["message"]
    status, got = await a.call("GET", "/api/v1/cameras/cfgcam")
    assert status == 200 and got["origin"] == "config" and got["has_password"] is False
    status, got = await a.call("PATCH", "/api/v1/cameras/nope", {"enabled": False})
    assert status == 404

    # Staff may read a camera but neither manage cameras nor take live snapshots.
    status, got = await a.call(
        "POST", "/api/v1/cameras", {"name": "x", "url": ok_url}, headers=a.staff
    )
    assert status == 403
    status, got = await a.call("GET", "/api/v1/cameras/cfgcam", headers=a.staff)
    assert status == 200
    status, got = await a.call("GET", "/api/v1/cameras/cfgcam/snapshot", headers=a.staff)
    assert status == 403


async def test_add_by_onvif_records_and_snapshots(
    api: ApiFactory, rtsp_camera: Any, onvif_device: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cam = rtsp_camera(user="admin", password=ONVIF_PASSWORD, fps=25, gop=25)
    dev = await onvif_device(
        username="admin", password=ONVIF_PASSWORD, stream_uri=cam.url_without_credentials
    )
    a = await api()
    sup = a.service.supervisor
    assert sup is not None

    # A wrong password: 422 with a clear code, no echo, and a failed attempt in the audit log.
    onvif = {"host": "127.0.0.1", "port": dev.port, "username": "admin", "password": WRONG}
    status, body = await a.call("POST", "/api/v1/cameras", {"name": "ov1", "onvif": onvif})
    assert status == 422, body
    assert body["error"]["code"] == "onvif_auth_failed"
    assert "user name or password" in body["error"]["message"]
    assert ("camera.create", "failed") in [(e.action, e.outcome) for e in await a.audit()]

    # Probe without saving, with a preview.
    onvif["password"] = ONVIF_PASSWORD
    status, body = await a.call("POST", "/api/v1/camera-probes", {**onvif, "snapshot": True})
    assert status == 200, body
    assert body["device"]["model"] == "FakeCam FC-1080"
    assert [p["token"] for p in body["device"]["profiles"]] == ["Profile_1", "Profile_2"]
    assert body["url"] == cam.url_without_credentials
    assert body["snapshot"].startswith("data:image/jpeg;base64,")
    async with a.service.db.read() as s:  # type: ignore[union-attr]
        assert [c.name for c in await camera_queries.list_api_cameras(s)] == []
    # A live picture of the counter, even of a camera not added: an audited access.
    [seen] = [e for e in await a.audit() if e.action == "camera.snapshot"]
    assert seen.target == f"onvif://{onvif['host']}:{onvif['port']}"
    assert seen.detail == {"cameras": [], "probe": "onvif"}

    status, body = await a.call(
        "POST", "/api/v1/cameras", {"name": "ov1", "onvif": onvif, "counters": ["A01"]}
    )
    assert status == 201, body
    assert body["onvif"] == {"host": "127.0.0.1", "port": dev.port, "profile": None}
    assert body["url"] == cam.url_without_credentials and body["has_password"] is True
    assert body["device"]["main_profile"] == "Profile_1"
    # An ONVIF camera's stream comes from the device: a url for it conflicts with that.
    status, body = await a.call("PATCH", "/api/v1/cameras/ov1", {"url": "rtsp://127.0.0.1:9/x"})
    assert (status, body["error"]["code"]) == (409, "conflict"), body
    assert "inside 'onvif'" in body["error"]["message"]
    # A new password is probed first: a wrong one is refused and nothing changes.
    status, body = await a.call("PATCH", "/api/v1/cameras/ov1", {"onvif": {"password": WRONG}})
    assert (status, body["error"]["code"]) == (422, "onvif_auth_failed"), body
    assert [e.action for e in await a.audit()].count("camera.update") == 0

    async def recorded() -> bool:
        return any(s.state == "sealed" for s in await a.segments("ov1"))

    await wait_for(recorded, 30, "the ONVIF camera's footage")

    # Snapshot from the ONVIF snapshot URI (HTTP Digest).
    served = dev.snapshots_served
    status, data = await a.call("GET", "/api/v1/cameras/ov1/snapshot")
    assert status == 200
    assert _decodes_as_jpeg(data) == (160, 90)
    assert dev.snapshots_served == served + 1

    # Re-probe: the camera's clock drifted 5 s ahead → offset and alarm in the status.
    dev.clock_skew_s = 5.0
    await sup.reprobe()
    status, body = await a.call("GET", "/api/v1/cameras/ov1")
    assert 4.0 <= body["clock_offset_s"] <= 6.0, body
    assert any("camera clock off by" in alarm for alarm in body["alarms"]), body
    assert sup.recorders["ov1"].status().state == "recording"

    # Segments written from now on carry the camera's clock offset as evidence.
    async def stamped() -> bool:
        offsets = [s.camera_clock_offset_us for s in await a.segments("ov1")]
        return any(o is not None and 4_000_000 <= o <= 6_000_000 for o in offsets)

    await wait_for(stamped, 15, "a segment row with the camera clock offset")

    # The password only ever left as ciphertext.
    everything = "\n".join(a.bodies) + caplog.text
    assert ONVIF_PASSWORD not in everything and WRONG not in everything


async def test_keyframe_snapshot_of_a_url_camera(api: ApiFactory, rtsp_camera: Any) -> None:
    cam = rtsp_camera(user="operator", password=PASSWORD, width=320, height=240)
    a = await api()
    status, body = await a.call(
        "POST",
        "/api/v1/cameras",
        {"name": "plain", "url": cam.url_without_credentials, "username": "operator",
         "password": PASSWORD, "enabled": False},
    )  # fmt: skip
    assert status == 201, body
    status, data = await a.call("GET", "/api/v1/cameras/plain/snapshot")
    assert status == 200, data
    assert _decodes_as_jpeg(data) == (320, 240)
    # The same through the "test connection" probe of a URL.
    status, body = await a.call(
        "POST",
        "/api/v1/camera-probes",
        {"url": cam.url_with("operator", WRONG), "snapshot": True},
    )
    assert status in (422, 502), body
    assert WRONG not in str(body)
    status, body = await a.call("POST", "/api/v1/camera-probes", {"url": cam.url, "snapshot": True})
    assert status == 200 and body["snapshot"].startswith("data:image/jpeg;base64,")
    previews = [e for e in await a.audit() if e.detail.get("probe") == "stream"]
    assert [e.target for e in previews] == [cam.url_without_credentials]
    assert PASSWORD not in "\n".join(a.bodies)


async def test_discovery_over_loopback(api: ApiFactory, discovery_responder: Any) -> None:
    responder = await discovery_responder(
        xaddrs=["http://127.0.0.1:8899/onvif/device_service"],
        scopes=["onvif://www.onvif.org/name/FakeCam", "onvif://www.onvif.org/hardware/FC-1"],
    )
    a = await api(
        {"discovery_address": f"127.0.0.1:{responder.port}", "discovery_bind": "127.0.0.1"}
    )
    status, body = await a.call("POST", "/api/v1/discover", {"timeout_s": 0.5})
    assert status == 200, body
    [device] = body["devices"]
    assert device["xaddrs"] == ["http://127.0.0.1:8899/onvif/device_service"]
    assert device["name"] == "FakeCam" and device["hardware"] == "FC-1"
    assert responder.probes, "the responder saw the probe"
    status, body = await a.call("POST", "/api/v1/discover", {"timeout_s": 60})
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    # The body is optional (the default timeout).
    async with a.http.post(a.url + "/api/v1/discover") as r:
        assert r.status == 200, await r.text()
        assert [d["name"] for d in (await r.json())["devices"]] == ["FakeCam"]
