"""Bad input that must be refused with a clear answer and leave nothing behind (issue 8,
item 9): lone surrogates and NUL characters in any JSON string, form field, query parameter
or path; camera URLs without a valid host or port, wherever a camera URL enters; receipt
numbers in any script, NFKC-normalised into one stored form. On SQLite and PostgreSQL.

A value that breaks the API document (type, pattern, length, unknown key) is 400
``bad_request``; one the document allows but a rule no schema can state refuses (the host
rule, URL credential rules) is 422 ``invalid_value`` (docs/design/api-types.md). Pages show
a refusal by its code in the page's language: the English detail only on English pages."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cameras.credentials import CredentialBox
from cameras.urls import check_stream_url
from index import receipts as receipt_queries
from index.audit import list_audit
from index.cameras import CameraSpec, create_api_camera, ensure_camera, get_camera
from index.counters import ensure_counter, get_counter, link_camera_counters
from index.db import Database
from index.errors import CameraNotFound, CounterNotFound, InvalidRecord
from index.receipts import ReceiptSettings
from index.records import AuditIn
from index.tokens import create_token
from surveil.accounts import add_user, new_token
from surveil.clock import FakeClock
from surveil.config import ConfigError, OnvifConfig, parse_config
from surveil.desk import scan_receipt
from surveil.importer import import_receipts_csv
from surveil.timefmt import us_from_iso
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus, make_config
from web.app import create_app
from web.i18n import error_text, form_error_text, translate

pytest_plugins = ["tests.onvif_device"]

T0 = us_from_iso("2026-11-26T20:00:00+00:00")
SECOND = 1_000_000
ACCEPTED = "2026-11-26T19:50:00+00:00"
ADMIN_PASSWORD = "admin-password-1"
# What a request could write; a refused request must leave all of it as it was (the
# token's last use and the session's logins change with every request, so not those).
TABLES = {
    "cameras": "*",
    "camera_counters": "*",
    "counters": "*",
    "receipts": "*",
    "holds": "*",
    "users": "id, username, password_hash, role, disabled_us",
    "api_tokens": "id, name, role, token_hash, revoked_us",
}
LONE = "\ud800"
NUL = "\x00"


@dataclass
class Control:
    """The supervisor's CameraControl, minus the recorders."""

    credentials: CredentialBox
    onvif: OnvifConfig = field(default_factory=OnvifConfig)

    def camera_url(self, name: str) -> str | None:
        return None

    async def reconcile(self) -> None:
        return None


@dataclass
class Site:
    client: TestClient[Any, Any]
    db: Database
    token: str

    async def send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """A JSON request as raw bytes: json.dumps escapes a lone surrogate as \\ud800."""
        resp = await self.client.request(
            method,
            path,
            data=json.dumps(body).encode("ascii"),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        raw = await resp.read()
        if resp.content_type == "application/json":
            return resp.status, json.loads(raw)
        return resp.status, raw.decode("utf-8", "replace")

    async def snapshot(self) -> dict[str, list[str]]:
        async with self.db.read() as s:
            return {
                t: sorted(repr(tuple(r)) for r in await s.execute(text(f"SELECT {cols} FROM {t}")))
                for t, cols in TABLES.items()
            }


async def _seed(s: AsyncSession) -> None:
    await ensure_counter(s, "A01", "Window 1", "Hall", T0)
    cam = await ensure_camera(s, "cfgcam", "rtsp://10.0.0.9/live", ["A01"], True, T0)
    await link_camera_counters(s, cam.id, ["A01"], T0)
    await create_api_camera(s, CameraSpec(name="apicam", source_url="rtsp://10.0.0.8/s"), T0)
    await receipt_queries.record_receipt(
        s,
        receipt_queries.ReceiptIn("R-1", "A01", us_from_iso(ACCEPTED)),
        T0,
        ReceiptSettings(),
    )


@pytest.fixture
async def site(db: Database, tmp_path: Path) -> AsyncIterator[Site]:
    await db.write(_seed)
    await add_user(db, "root", ADMIN_PASSWORD, "admin", [], T0 - 3600 * SECOND)
    await add_user(db, "clerk", "staff-password-1", "staff", ["A01"], T0 - 3600 * SECOND)
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "admin", "admin", digest, T0))
    control = Control(CredentialBox.open(tmp_path / "keys"))
    app = create_app(db, NoStatus(), tmp_path, FakeClock(T0), cameras=control)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Site(client, db, token)
    finally:
        await client.close()


# A loopback port nothing listens on (discard): a device there is unreachable at once.
CLOSED_PORT = 9
# Every JSON-accepting endpoint, a valid body, and the string fields to spoil in it (a path
# into the body: keys, and list indexes as ints).
ENDPOINTS: list[tuple[str, str, dict[str, Any], list[tuple[Any, ...]]]] = [
    (
        "POST",
        "/api/v1/cameras",
        {"name": "new-cam", "url": "rtsp://10.0.0.7/s", "username": "u", "counters": ["A01"]},
        [("name",), ("url",), ("username",), ("counters", 0)],
    ),
    (
        "POST",
        "/api/v1/cameras",
        {"name": "new-cam", "onvif": {"host": "127.0.0.1", "port": CLOSED_PORT}},
        [("onvif", "host")],
    ),
    (
        "PATCH",
        "/api/v1/cameras/apicam",
        {"url": "rtsp://10.0.0.8/t", "password": "pw"},
        [("url",), ("password",)],
    ),
    (
        "POST",
        "/api/v1/camera-probes",
        {"host": "127.0.0.1", "port": CLOSED_PORT, "username": "u"},
        [("host",), ("username",)],
    ),
    (
        "POST",
        "/api/v1/counters",
        {"code": "B02", "name": "Window 2", "site": "Hall"},
        [("code",), ("name",), ("site",)],
    ),
    ("PUT", "/api/v1/counters/A01", {"name": "Window 1", "site": "Hall"}, [("name",), ("site",)]),
    (
        "POST",
        "/api/v1/receipts",
        {
            "receipt_no": "R-2",
            "counter": "A01",
            "accepted_at": ACCEPTED,
            "case_no": "c",
            "service": "s",
            "handler": "h",
        },
        [("receipt_no",), ("counter",), ("case_no",), ("service",), ("handler",)],
    ),
    (
        "POST",
        "/api/v1/receipts/R-1/complete",
        {"completed_at": "2026-11-26T19:55:00+00:00"},
        [("completed_at",)],
    ),
    (
        "POST",
        "/api/v1/users",
        {"username": "newbie", "password": "long-password-9", "role": "staff", "counters": ["A01"]},
        [("username",), ("password",), ("role",), ("counters", 0)],
    ),
    (
        "PATCH",
        "/api/v1/users/clerk",
        {"role": "staff", "password": "other-password-9", "counters": ["A01"]},
        [("role",), ("password",), ("counters", 0)],
    ),
    ("POST", "/api/v1/tokens", {"name": "acceptance", "role": "staff"}, [("name",), ("role",)]),
]


def _spoiled(body: dict[str, Any], where: tuple[Any, ...], bad: str) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    node = out
    for step in where[:-1]:
        node = node[step]
    value = node[where[-1]]
    node[where[-1]] = value[:1] + bad + value[1:]
    assert isinstance(out, dict)
    return out


def _shown(where: tuple[Any, ...]) -> str:
    """The JSON path as the error names it: name, onvif.host, counters[0]."""
    out = ""
    for step in where:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


@pytest.mark.parametrize("bad", [LONE, NUL], ids=["lone-surrogate", "nul"])
async def test_every_json_endpoint_refuses_bad_text_naming_the_field(site: Site, bad: str) -> None:
    before = await site.snapshot()
    for method, path, body, fields in ENDPOINTS:
        for where in fields:
            status, answer = await site.send(method, path, _spoiled(body, where, bad))
            assert status == 400, (method, path, where, answer)
            assert answer["error"]["code"] == "bad_request", answer
            message = answer["error"]["message"]
            assert f"'{_shown(where)}'" in message, (where, message)
            assert bad not in message
    # Keys are strings too.
    status, answer = await site.send("POST", "/api/v1/counters", {"code": "B03", "n" + bad: "x"})
    assert status == 400 and answer["error"]["code"] == "bad_request", answer
    assert bad not in answer["error"]["message"], answer
    assert await site.snapshot() == before


async def test_the_valid_bodies_are_accepted(site: Site) -> None:
    """The bodies above are good apart from the spoiled field (so the 400s are about it).
    The ONVIF ones get as far as the device, on a closed loopback port: the camera's
    failure (502, or 504 on a timeout), never a 400 and never 200."""
    for method, path, body, _ in ENDPOINTS:
        status, answer = await site.send(method, path, body)
        if "onvif" in body or path == "/api/v1/camera-probes":
            assert status in (502, 504), (method, path, answer)
            assert answer["error"]["code"] == "camera_unreachable", (method, path, answer)
        else:
            assert status in (200, 201), (method, path, answer)


async def _admin_session(site: Site) -> str:
    resp = await form_login(site.client, "root", ADMIN_PASSWORD)
    assert resp.status == 303, await resp.text()
    return csrf_of(await (await site.client.get("/counters")).text())


async def test_forms_query_strings_and_paths_refuse_nul(site: Site) -> None:
    before = await site.snapshot()
    csrf = await _admin_session(site)
    for path, form in (
        ("/counters", {"code": "B02", "name": "Win" + NUL + "dow", "site": ""}),
        ("/counters/A01/edit", {"name": "Window" + NUL, "site": ""}),
        ("/cameras/add-url", {"name": "cam-f", "url": "rtsp://10.0.0.7/s" + NUL}),
        ("/users", {"username": "new" + NUL, "password": "long-password-9", "role": "staff"}),
    ):
        field_name = next(k for k, v in form.items() if NUL in v)
        data = {**form, "csrf_token": csrf}
        # English: the refusal by its code, with the detail naming the field.
        resp = await site.client.post(f"{path}?lang=en", data=data)
        page = await resp.text()
        assert resp.status == 400, (path, page)
        assert str(escape(error_text("en", "bad_request", 400))) in page, (path, page)
        assert f"&#39;{field_name}&#39;" in page, (path, page)
        # Chinese: the same refusal in Chinese, and no English text from the server.
        resp = await site.client.post(f"{path}?lang=zh", data=data)
        page = await resp.text()
        assert resp.status == 400, (path, page)
        assert error_text("zh", "bad_request", 400) in page, (path, page)
        assert "NUL" not in page and f"&#39;{field_name}&#39;" not in page, (path, page)
    headers = {"Authorization": f"Bearer {site.token}"}
    resp = await site.client.get(
        "/api/v1/recordings?start=2026-11-26T19:00:00%2B00:00%00&end=2026-11-26T20:00:00%2B00:00",
        headers=headers,
    )
    answer = await resp.json()
    assert resp.status == 400 and "'start'" in answer["error"]["message"], answer
    assert answer["error"]["code"] == "bad_request", answer
    # A path with NUL, with and without credentials: 400, not a 500 from the database.
    for auth in (headers, {}):
        for path in ("/api/v1/cameras/ab%00cd", "/api/v1/receipts/R%00-1", "/counters/A%0001/edit"):
            resp = await site.client.get(path, headers=auth)
            assert resp.status == 400, (path, resp.status, await resp.text())
            if path.startswith("/api/"):
                assert (await resp.json())["error"]["code"] == "bad_request", path
    assert await site.snapshot() == before


async def test_undecodable_form_bodies_are_400_not_500(site: Site) -> None:
    csrf = await _admin_session(site)
    for content_type, raw in (
        (
            "application/x-www-form-urlencoded",
            b"code=B02&name=\xff\xfe&csrf_token=" + csrf.encode(),
        ),
        ("application/x-www-form-urlencoded; charset=no-such-charset", b"code=B02&name=x"),
        # Multipart without a boundary, or with one the body never uses (found by fuzzing).
        ("multipart/form-data", b"code=B02&name=x"),
        ("multipart/form-data; boundary=zz", b"--yy\r\n\r\nx\r\n--yy--\r\n"),
    ):
        resp = await site.client.post("/counters", data=raw, headers={"Content-Type": content_type})
        assert resp.status == 400, (content_type, await resp.text())


# -- camera URLs ---------------------------------------------------------------------------

# A control character or a space breaks the document (RtspUrl's pattern): 400 bad_request.
URLS_OFF_THE_PATTERN = [
    "rtsp://\x07",
    "rtsp://\x07/stream",
    "rtsp://cam\x1b[31m.local/stream",
    "rtsp://10.0.0.7/str\x07eam",
    "rtsp://bad host/stream",
]
# The pattern admits these, but they have no valid host or port (the host rule, beyond a
# schema): 422 invalid_value.
URLS_OFF_THE_HOST_RULE = [
    "rtsp:///stream",
    "rtsp://10.0.0.7:0/stream",
    "rtsp://10.0.0.7:65536/stream",
    "rtsp://10.0.0.7:port/stream",
    "rtsp://999.0.0.1/stream",
    "rtsp://exa$mple.com/stream",
    "rtsp://-cam.local/stream",
    "rtsp://[::1/stream",
    "rtsp://[not-ipv6]/stream",
    "rtsp://user:pw@/stream",
]
BAD_URLS = [*URLS_OFF_THE_PATTERN, *URLS_OFF_THE_HOST_RULE]
GOOD_URLS = [
    "rtsp://10.0.0.7/stream",
    "rtsp://10.0.0.7:554/Streaming/Channels/101?transportmode=unicast",
    "rtsps://cam-1.hall.example:322/live",
    "rtsp://[fe80::1]:554/s",
    "rtsp://CAM_2.local/s",
]


def _no_control(text_: str) -> bool:
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text_)


def _url_refusal(url: str) -> tuple[int, str]:
    """The status and code a bad camera URL gets, from the API and the pages alike."""
    return (400, "bad_request") if url in URLS_OFF_THE_PATTERN else (422, "invalid_value")


async def test_camera_urls_without_a_valid_host_or_port_are_refused_by_the_api(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = await site.snapshot()
    for url in BAD_URLS:
        for method, path, body in (
            ("POST", "/api/v1/cameras", {"name": "bad-cam", "url": url}),
            ("PATCH", "/api/v1/cameras/apicam", {"url": url}),
            ("POST", "/api/v1/camera-probes", {"url": url}),
        ):
            status, answer = await site.send(method, path, body)
            assert (status, answer["error"]["code"]) == _url_refusal(url), (url, path, answer)
            message = answer["error"]["message"]
            assert "'url'" in message and _no_control(message), (url, message)
    assert await site.snapshot() == before
    assert _no_control(caplog.text.replace("\n", ""))
    for i, url in enumerate(GOOD_URLS):
        status, answer = await site.send("POST", "/api/v1/cameras", {"name": f"ok-{i}", "url": url})
        assert status == 201, (url, answer)
        assert answer["url"] == url


async def test_camera_urls_without_a_valid_host_are_refused_by_the_pages(site: Site) -> None:
    """As the API refuses them (same status and code); the Chinese page says so in Chinese:
    a refused field by its label, a broken rule by its code."""
    before = await site.snapshot()
    csrf = await _admin_session(site)
    pattern_headline = form_error_text("zh", translate("zh", "cams.url"), "string_pattern_mismatch")
    rule_headline = translate("zh", "cams.fail.invalid_value")  # what to check, in Chinese
    for url in BAD_URLS:
        resp = await site.client.post(
            "/cameras/add-url?lang=zh", data={"name": "bad-cam", "url": url, "csrf_token": csrf}
        )
        page = await resp.text()
        status, code = _url_refusal(url)
        assert resp.status == status and f'data-code="{code}"' in page, (url, resp.status, page)
        headline = pattern_headline if status == 400 else rule_headline
        assert f'<p class="error">{escape(headline)}</p>' in page, (url, page)
        assert "camera url" not in page and "should match" not in page, (url, page)  # English
        assert _no_control(page.replace("\n", "").replace("\r", "").replace("\t", "")), url
    assert await site.snapshot() == before


def test_camera_urls_without_a_valid_host_are_refused_in_the_config_file(tmp_path: Path) -> None:
    for url in BAD_URLS:
        raw: dict[str, object] = {"data_dir": str(tmp_path), "cameras": [{"name": "c", "url": url}]}
        with pytest.raises(ConfigError) as info:
            parse_config(raw)
        message = str(info.value)
        assert "cameras.0.url" in message and _no_control(message.replace("\n", "")), url
    for url in (*GOOD_URLS, "rtsp://u:p%40ss@10.0.0.7/s", "synthetic:", "file:///tmp/x.mp4"):
        parse_config({"data_dir": str(tmp_path), "cameras": [{"name": "c", "url": url}]})


async def test_an_onvif_stream_uri_without_a_valid_host_is_refused(
    site: Site, onvif_device: Any
) -> None:
    device = await onvif_device(
        username="operator", password="onvif-pass-1", stream_uri="rtsp://10.0.0.7:99999/s"
    )
    before = await site.snapshot()
    body = {
        "name": "onvif-bad",
        "onvif": {
            "host": "127.0.0.1",
            "port": device.port,
            "username": "operator",
            "password": "onvif-pass-1",
        },
    }
    status, answer = await site.send("POST", "/api/v1/cameras", body)
    assert status == 422 and answer["error"]["code"] == "not_onvif", answer
    assert "port" in answer["error"]["message"], answer
    assert (await site.snapshot())["cameras"] == before["cameras"]


# -- receipt numbers -------------------------------------------------------------------------


def test_receipt_numbers_are_nfkc_normalised_and_may_use_any_script() -> None:
    assert (
        receipt_queries.normalize_receipt_no("２０２６－Ａ０１－０００１２３") == "2026-A01-000123"
    )
    assert receipt_queries.normalize_receipt_no("京2026-000123") == "京2026-000123"
    assert receipt_queries.normalize_receipt_no("受理/２０２６/٣") == "受理/2026/٣"
    assert receipt_queries.normalize_receipt_no("ｶﾅ-1") == "カナ-1"  # half-width katakana composes
    for bad in ("", "-1", "a b", "a\x00b", "a\tb", "R-1!", "京" * 65, "\ud800", "①②③" * 22):
        with pytest.raises(InvalidRecord, match="receipt_no"):
            receipt_queries.normalize_receipt_no(bad)


async def test_nfkc_equal_receipt_numbers_are_one_receipt_everywhere(
    site: Site, tmp_path: Path, database_url: str
) -> None:
    # Through the API: full-width digits are stored as ASCII digits.
    body = {
        "receipt_no": "２０２６－Ａ０１－０００１２３",
        "counter": "A01",
        "accepted_at": ACCEPTED,
    }
    status, answer = await site.send("POST", "/api/v1/receipts", body)
    assert status == 201 and answer["receipt_no"] == "2026-A01-000123", answer
    status, answer = await site.send(
        "POST", "/api/v1/receipts", {**body, "receipt_no": "2026-A01-000123"}
    )
    assert status == 200 and answer["receipt_no"] == "2026-A01-000123", answer  # the same one
    headers = {"Authorization": f"Bearer {site.token}"}
    for shown in ("2026-A01-000123", "２０２６－Ａ０１－０００１２３"):
        resp = await site.client.get(f"/api/v1/receipts/{quote(shown)}", headers=headers)
        assert resp.status == 200, (shown, await resp.text())
        assert (await resp.json())["receipt_no"] == "2026-A01-000123"

    # A CJK-prefixed number round-trips.
    cjk = {"receipt_no": "京受2026-000777", "counter": "A01", "accepted_at": ACCEPTED}
    status, answer = await site.send("POST", "/api/v1/receipts", cjk)
    assert status == 201 and answer["receipt_no"] == "京受2026-000777", answer
    resp = await site.client.get(f"/api/v1/receipts/{quote('京受2026-000777')}", headers=headers)
    assert resp.status == 200 and (await resp.json())["receipt_no"] == "京受2026-000777"
    # Completing by the full-width form completes the stored one.
    status, answer = await site.send(
        "POST",
        f"/api/v1/receipts/{quote('２０２６－Ａ０１－０００１２３')}/complete",
        {"completed_at": "2026-11-26T19:55:00+00:00"},
    )
    assert status == 200 and answer["completed_at"] is not None, answer

    # The desk scan and the CSV import use the same rule.
    entry = AuditIn(actor="clerk", actor_kind="user", action="", outcome="ok")
    result = await scan_receipt(
        site.db, "A01", "京受２０２６－０００７７７", T0, ReceiptSettings(), entry
    )
    assert result.outcome == "completed" and result.receipt.receipt_no == "京受2026-000777"
    async with site.db.read() as s:
        targets = [e.target for e in await list_audit(s, limit=100)]
    assert "京受2026-000777" in targets and "京受２０２６－０００７７７" not in targets
    csv_path = tmp_path / "receipts.csv"
    csv_path.write_text(
        "receipt_no,counter,accepted_at\n"
        f"２０２６－Ａ０１－０００１２３,A01,{ACCEPTED}\n"
        f"Ｂ－９,A01,{ACCEPTED}\n",
        encoding="utf-8",
    )
    out: list[str] = []
    cfg = make_config(tmp_path / "data", database_url, [])
    assert await import_receipts_csv(cfg, csv_path, out.append), out
    async with site.db.read() as s:
        rows = list(await s.execute(text("SELECT receipt_no FROM receipts ORDER BY receipt_no")))
        assert (await receipt_queries.get_receipt(s, "Ｂ－９")).receipt_no == "B-9"
    assert sorted(r[0] for r in rows) == sorted(
        ["R-1", "2026-A01-000123", "京受2026-000777", "B-9"]
    ), out


async def test_names_and_codes_with_a_trailing_newline_or_control_characters_are_refused(
    site: Site,
) -> None:
    """'$' in a pattern matches before a final newline: 'A01\\n' passed the code rule."""
    before = await site.snapshot()
    for method, path, body in (
        ("POST", "/api/v1/counters", {"code": "B02\n", "name": "Window 2"}),
        ("POST", "/api/v1/counters", {"code": "B02", "name": "Window\x1b[31m 2"}),
        ("POST", "/api/v1/counters", {"code": "B02", "name": "Window 2", "site": "Hall\x07"}),
        ("PUT", "/api/v1/counters/A01", {"name": "Window\r1"}),
        ("POST", "/api/v1/cameras", {"name": "cam\n", "url": "rtsp://10.0.0.7/s"}),
        (
            "POST",
            "/api/v1/users",
            {"username": "newbie\n", "password": "long-password-9", "role": "staff"},
        ),
    ):
        status, answer = await site.send(method, path, body)
        assert status == 400 and answer["error"]["code"] == "bad_request", (path, body, answer)
    assert await site.snapshot() == before
    with pytest.raises(ConfigError):
        parse_config({"data_dir": "/tmp/x", "cameras": [{"name": "c\n", "url": "synthetic:"}]})
    with pytest.raises(ConfigError):
        parse_config({"data_dir": "/tmp/x", "counters": [{"code": "A01\n", "name": "W"}]})


async def test_a_reprobe_that_gets_an_unusable_stream_uri_marks_that_camera_only(
    service_factory: Any, onvif_device: Any, tmp_path: Path, database_url: str
) -> None:
    """The ONVIF re-probe round goes on past a device whose new stream URI is not a valid
    URL: that camera gets an alarm and keeps its stored URL; the others are probed."""
    devices = [
        await onvif_device(username="operator", password="onvif-pass-1", stream_uri=uri)
        for uri in ("rtsp://127.0.0.1:9/a", "rtsp://127.0.0.1:9/b")
    ]
    service = await service_factory(make_config(tmp_path / "data", database_url, []))
    sup = service.supervisor
    assert service.db is not None and sup is not None
    token, digest = new_token()
    await service.db.write(lambda s: create_token(s, "t", "admin", digest, T0))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for name, dev in zip(("ov-a", "ov-b"), devices, strict=True):
            onvif = {"host": "127.0.0.1", "port": dev.port, "username": "operator"}
            body = {"name": name, "onvif": {**onvif, "password": "onvif-pass-1"}}
            async with http.post(service.url + "api/v1/cameras", json=body) as resp:
                assert resp.status == 201, await resp.text()
    devices[0].stream_uri = "rtsp://127.0.0.1:99999/a"
    devices[1].clock_skew_s = 5.0
    await sup.reprobe()  # must not stop at ov-a
    statuses = {st.name: st for st in sup.camera_status()}
    assert any("stream URI is unusable" in a for a in statuses["ov-a"].alarms), statuses["ov-a"]
    offset = statuses["ov-b"].clock_offset_s
    assert offset is not None and 4.0 <= offset <= 6.0, statuses["ov-b"]
    async with service.db.read() as s:
        assert (await get_camera(s, "ov-a")).source_url == "rtsp://127.0.0.1:9/a"


def test_a_url_error_explains_a_raw_slash_in_the_password_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="percent-encode") as info:
        check_stream_url("rtsp://admin:se/cret@10.0.0.7/s")
    assert "se/cret" not in str(info.value) and "cret" not in str(info.value)


# -- one text rule in the index, whatever the entry point (review of items 9/10) -------------


@pytest.mark.parametrize(
    ("field_name", "bad"),
    [
        ("handler", "Li\x00Lei"),
        ("service", "pass\x07port"),
        ("case_no", "C\x1b[31m1"),
        ("handler", "Li\nLei"),
        ("case_no", "C" + LONE),
        ("counter", "A0\x001"),
    ],
    ids=["nul", "bell", "escape", "newline", "lone-surrogate", "nul-in-counter"],
)
async def test_record_receipt_refuses_nul_and_control_characters_in_its_text(
    db: Database, field_name: str, bad: str
) -> None:
    """surveil.receipts.record_receipt (what the API and the CSV import call) applies the
    text rule itself: SQLite stored a NUL, PostgreSQL raised DBAPIError."""
    from surveil.accounts import SYSTEM_ACTOR
    from surveil.receipts import record_receipt

    await db.write(lambda s: ensure_counter(s, "A01", "Window 1", None, T0))
    good = receipt_queries.ReceiptIn("R-9", "A01", us_from_iso(ACCEPTED), None, "C1", "s", "h")
    rin = replace(good, **{field_name: bad})
    with pytest.raises(InvalidRecord, match=field_name) as info:
        await record_receipt(db, rin, SYSTEM_ACTOR, T0, ReceiptSettings())
    assert bad not in str(info.value)
    async with db.read() as s:
        assert list(await s.execute(text("SELECT receipt_no FROM receipts"))) == []
        assert await list_audit(s, action="receipt.create") == []
    record, created = await record_receipt(db, good, SYSTEM_ACTOR, T0, ReceiptSettings())
    assert created and record.handler == "h"


async def test_the_index_refuses_bad_text_in_token_names_and_camera_fields(db: Database) -> None:
    """Token names, camera usernames and ONVIF profiles follow the same rule in the index,
    not only behind the web's door."""
    bad_names = ["api\x00x", "api\x07x", "api\nx", "api" + LONE]
    for i, name in enumerate(bad_names):
        with pytest.raises(InvalidRecord, match="token name"):
            await db.write(lambda s, n=name, i=i: create_token(s, n, "staff", f"{i:064x}", T0))
    for spec in (
        CameraSpec(name="c1", source_url="rtsp://127.0.0.1/s", username="u\x00"),
        CameraSpec(name="c2", source_url="rtsp://127.0.0.1/s", username="u\x1b[2J"),
        CameraSpec(name="c3", source_url="rtsp://127.0.0.1/s", onvif_profile="p\x00"),
        CameraSpec(name="c4", source_url="rtsp://127.0.0.1/s/" + LONE),
    ):
        with pytest.raises(InvalidRecord, match="camera"):
            await db.write(lambda s, spec=spec: create_api_camera(s, spec, T0))
    async with db.read() as s:
        assert list(await s.execute(text("SELECT name FROM api_tokens"))) == []
        assert list(await s.execute(text("SELECT name FROM cameras"))) == []
        # A lookup by such a name finds nothing (PostgreSQL refused the query: DBAPIError).
        with pytest.raises(CounterNotFound):
            await get_counter(s, "A0\x001")
        with pytest.raises(CameraNotFound):
            await get_camera(s, "c\x001")


def test_one_control_character_rule_for_requests_names_and_urls() -> None:
    """web.params, index.counters and cameras.urls had three rules; now there is one."""
    from cameras.urls import escape_controls, is_control
    from index.text import text_problem
    from web import params

    assert params.text_problem is text_problem
    for code in [*range(0x00, 0xA1), 0x2028, 0x3000, 0xFEFF, 0x1F600]:
        c = chr(code)
        line = text_problem(f"a{c}b", one_line=True)
        assert (line is not None) == is_control(c), hex(code)
        assert (text_problem(f"a{c}b") is not None) == (c == NUL), hex(code)
        if c not in "\n\t":
            assert (escape_controls(c) != c) == is_control(c), hex(code)
    assert text_problem("a" + LONE) is not None
    assert text_problem("a" + LONE, one_line=True) is not None


# -- ONVIF hosts -------------------------------------------------------------------------------

# id: (host, status). A character no host has breaks Host's pattern (400); host characters
# in an arrangement that is not a host break the host rule (422).
BAD_ONVIF_HOSTS = {
    "slash": ("127.0.0.1/x", 400),
    "query": ("127.0.0.1?x=1", 400),
    "fragment": ("127.0.0.1#x", 400),
    "port-in-host": ("127.0.0.1:8080", 422),
    "space": ("127.0.0.1 x", 400),
    "bell": ("127.0.0.1\x07", 400),
    "escape": ("cam\x1b[31m.local", 400),
    "newline": ("127.0.0.1\nx", 400),
    "bad-ipv6": ("[::1", 422),
    "empty-label": ("cam..local", 422),
}


@pytest.mark.parametrize(
    ("bad", "status"), list(BAD_ONVIF_HOSTS.values()), ids=list(BAD_ONVIF_HOSTS)
)
async def test_an_onvif_host_that_is_not_a_host_is_refused_wherever_it_enters(
    site: Site, caplog: pytest.LogCaptureFixture, bad: str, status: int
) -> None:
    """onvif.host and the host form field go into SOAP URLs, messages and onvif_host: the
    host rule of camera URLs applies (API, pages, index), before anything is probed."""
    code = "bad_request" if status == 400 else "invalid_value"
    kind = "string_pattern_mismatch" if status == 400 else "invalid_value"
    caplog.set_level(logging.DEBUG)
    spec = CameraSpec(
        name="ovcam", source_url="rtsp://127.0.0.1:9/s", onvif_host="127.0.0.1", onvif_port=9
    )
    await site.db.write(lambda s: create_api_camera(s, spec, T0))
    before = await site.snapshot()
    onvif = {"host": bad, "port": 9, "username": "operator", "password": "onvif-pass-1"}
    # The field as the body names it: the probe's body is the device itself.
    for method, path, body, field_name in (
        ("POST", "/api/v1/cameras", {"name": "onvif-bad", "onvif": onvif}, "onvif.host"),
        ("POST", "/api/v1/camera-probes", onvif, "host"),
        ("PATCH", "/api/v1/cameras/ovcam", {"onvif": {"host": bad}}, "onvif.host"),
    ):
        answered, answer = await site.send(method, path, body)
        assert answered == status and answer["error"]["code"] == code, (path, answer)
        message = answer["error"]["message"]
        assert f"'{field_name}'" in message and _no_control(message), (path, message)
        assert bad not in message
    csrf = await _admin_session(site)
    form = {"host": bad, "port": "9", "username": "operator", "csrf_token": csrf}
    # The Chinese page names the refused field by its label, and says why by the kind.
    headline = form_error_text("zh", translate("zh", "cams.host"), kind)
    for path, extra in (
        ("/cameras/probe", {}),
        ("/cameras/add-onvif", {"name": "onvif-bad"}),
        ("/cameras/ovcam/edit", {"enabled": "1"}),
    ):
        data = {**form, **extra, "password": "onvif-pass-1"}
        resp = await site.client.post(f"{path}?lang=zh", data=data)
        page = await resp.text()
        assert resp.status == status, (path, resp.status, page)
        assert f'data-code="{code}"' in page, (path, page)
        assert f'<p class="error">{escape(headline)}</p>' in page, (path, page)
        assert _no_control(page.replace("\n", "").replace("\r", "").replace("\t", "")), path
    assert await site.snapshot() == before
    bad_spec = CameraSpec(name="ovcam2", source_url="rtsp://127.0.0.1:9/s", onvif_host=bad)
    with pytest.raises(InvalidRecord, match="ONVIF host"):
        await site.db.write(lambda s: create_api_camera(s, bad_spec, T0))
    assert _no_control(caplog.text.replace("\n", ""))


# -- *** in a stream URL needs a password: one rule for the API and the pages ------------------

PLACEHOLDER_URL = "rtsp://127.0.0.1:9/live?user=admin&pwd=***"


async def test_a_password_placeholder_needs_a_password_alike_in_the_api_and_the_pages(
    site: Site,
) -> None:
    from surveil.camera_setup import stream_credentials

    before = await site.snapshot()
    # The document allows the URL; the credential rule (beyond a schema) refuses it: 422.
    status, answer = await site.send(
        "POST", "/api/v1/cameras", {"name": "ph-cam", "url": PLACEHOLDER_URL}
    )
    assert status == 422 and answer["error"]["code"] == "invalid_value", answer
    api_message = answer["error"]["message"]
    status, answer = await site.send("POST", "/api/v1/camera-probes", {"url": PLACEHOLDER_URL})
    assert status == 422 and answer["error"] == {"code": "invalid_value", "message": api_message}
    # apicam has no password stored: *** has nothing to stand for.
    status, answer = await site.send("PATCH", "/api/v1/cameras/apicam", {"url": PLACEHOLDER_URL})
    assert status == 422 and answer["error"] == {"code": "invalid_value", "message": api_message}
    sentence = api_message.removeprefix("'url': ")
    assert sentence != api_message and "give the password" in sentence
    csrf = await _admin_session(site)
    for path, form in (
        ("/cameras/add-url", {"name": "ph-cam", "url": PLACEHOLDER_URL}),
        ("/cameras/probe", {"url": PLACEHOLDER_URL}),
        ("/cameras/apicam/edit", {"url": PLACEHOLDER_URL, "enabled": "1"}),
    ):
        data = {**form, "csrf_token": csrf}
        # English: the code's text and the API's sentence.
        resp = await site.client.post(f"{path}?lang=en", data=data)
        page = await resp.text()
        assert resp.status == 422 and 'data-code="invalid_value"' in page, (path, page)
        assert str(escape(translate("en", "cams.fail.invalid_value"))) in page, (path, page)
        assert str(escape(sentence)) in page, (path, page)
        # Chinese: the code's text, without the English sentence.
        resp = await site.client.post(f"{path}?lang=zh", data=data)
        page = await resp.text()
        assert resp.status == 422 and 'data-code="invalid_value"' in page, (path, page)
        assert translate("zh", "cams.fail.invalid_value") in page, (path, page)
        assert "give the password" not in page, (path, page)
    assert await site.snapshot() == before
    # The one function both call: a password given beside the URL, or one stored, fills ***.
    assert stream_credentials(PLACEHOLDER_URL, "pw", stored=False).password == "pw"
    assert stream_credentials(PLACEHOLDER_URL, None, stored=True).password is None
    assert stream_credentials("rtsp://u:p@127.0.0.1/s?pwd=***", None, stored=False).password == "p"
    with pytest.raises(ValueError, match="give the password"):
        stream_credentials(PLACEHOLDER_URL, "", stored=False)
