"""Secret canary: a camera password never leaves the config file.

Cameras with right and wrong passwords, and one that cannot be reached, are
recorded by the real service, and requests carrying the password are refused
(400, 422, 502/504); then every log line, API response, page and index row is
searched for the password.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from index import tokens
from index.db import Database
from surveil.accounts import new_token
from tests.harness import make_config, wait_for

CANARY = "canary-Pw_7f3e"
# Every table a camera password could end up in, the audit log included.
TABLES = ("cameras", "runs", "gaps", "segments", "events", "api_tokens", "audit_log", "users")


async def _index_rows(database_url: str) -> str:
    db = await Database.open(database_url)
    try:
        async with db.read() as s:
            rows = []
            for table in TABLES:
                result = await s.execute(text(f"SELECT * FROM {table}"))
                rows += [repr(tuple(r)) for r in result]
    finally:
        await db.close()
    return "\n".join(rows)


def _assert_canary_nowhere(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    bodies: list[str],
    rows: str,
    cameras: Sequence[Any] = (),
) -> None:
    """cameras: the test's RTSP servers, whose own command line holds the password they
    expect (test set-up, not surveil)."""
    out, err = capfd.readouterr()
    haystacks = {
        "log records": "\n".join(r.getMessage() for r in caplog.records),
        "formatted logs": caplog.text,
        "stdout/stderr": out + err,
        "API responses and pages": "\n".join(bodies),
        "index rows": rows,
    }
    for where, text_ in haystacks.items():
        assert CANARY not in text_, f"the camera password leaked into {where}"
    # -ww: without a terminal, ps cuts each line at 80 columns, where a password rarely is.
    ps = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    )
    procs: dict[int, tuple[int, str]] = {}
    for line in ps.stdout.splitlines():
        pid, ppid, args = [*line.split(None, 2), ""][:3]
        procs[int(pid)] = (int(ppid), args)
    # This process and its descendants (other test runs on the machine are not ours), but
    # not the test's own RTSP servers.
    ours = {os.getpid()}
    while True:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in ours} - ours
        if not more:
            break
        ours |= more
    ours -= {cam.pid for cam in cameras}
    leaked = [procs[pid][1] for pid in ours if pid in procs and CANARY in procs[pid][1]]
    assert not leaked, f"the camera password is on a process command line: {leaked}"


async def test_camera_password_appears_nowhere(
    rtsp_camera: Any,
    service_factory: Any,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cam = rtsp_camera(
        video="h264", audio="aac", user="operator", password=CANARY, auth_method="digest"
    )
    wrong = cam.url_with("operator", CANARY + "-wrong")
    unreachable = f"rtsp://operator:{CANARY}@127.0.0.1:9/stream"
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [
            {"name": "right", "url": cam.url},
            {"name": "wrong", "url": wrong},
            {"name": "gone", "url": unreachable},
        ],
    )
    service = await service_factory(cfg)
    assert service.supervisor is not None and service.db is not None
    recs = service.supervisor.recorders

    async def states_settled() -> bool:
        return (
            recs["right"].status().state == "recording"
            and recs["wrong"].status().error is not None
            and recs["gone"].status().error is not None
        )

    await wait_for(states_settled, 20, "one camera recording, two failing")
    assert "401" in (recs["wrong"].status().error or "") or "credential" in (
        recs["wrong"].status().error or ""
    )

    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "admin", digest, 1))
    bodies: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for path, status in (
            ("api/v1/cameras", 200),
            (
                "api/v1/recordings?start=2000-01-01T00:00:00%2B00:00&end=2000-01-02T00:00:00%2B00:00",
                200,
            ),
            ("api/v1/health", 200),
            ("api/v1/openapi.json", 200),
            ("api/v1/recordings?camera=nope&start=x&end=y", 400),
        ):
            async with http.get(service.url + path) as resp:
                bodies.append(await resp.text())
                assert resp.status == status, (path, bodies[-1])
    assert any('"right"' in b for b in bodies)

    await asyncio.sleep(1.0)  # let failed reconnects log a few more times
    await service.stop()

    rows = await _index_rows(cfg.effective_database_url)
    assert "wrong" in rows  # the search really covers the failing cameras
    _assert_canary_nowhere(caplog, capfd, bodies, rows, [cam])


async def test_camera_password_given_through_the_api_appears_nowhere(
    rtsp_camera: Any,
    onvif_device: Any,
    service_factory: Any,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Cameras added by ONVIF and by URL through the API, right and wrong passwords,
    then the API, the pages, the index (audit log included) and ps are searched."""
    caplog.set_level(logging.DEBUG)
    cam = rtsp_camera(
        video="h264", audio="aac", user="operator", password=CANARY, auth_method="digest"
    )
    device = await onvif_device(
        username="operator", password=CANARY, stream_uri=cam.url_without_credentials
    )
    cfg = make_config(tmp_path / "data", database_url, [])
    service = await service_factory(cfg)
    assert service.db is not None and service.supervisor is not None
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "admin", digest, 1))
    onvif = {"host": "127.0.0.1", "port": device.port, "username": "operator"}
    bodies: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def call(method: str, path: str, body: object = None) -> int:
            async with http.request(method, service.url + path, json=body) as resp:
                bodies.append((await resp.read()).decode("utf-8", "replace"))
                return resp.status

        wrong = {"name": "onvif-wrong", "onvif": {**onvif, "password": CANARY + "-x"}}
        assert await call("POST", "api/v1/cameras", wrong) == 422
        assert await call("POST", "api/v1/camera-probes", {**onvif, "password": "nope-x"}) == 422
        right = {"name": "onvif-right", "onvif": {**onvif, "password": CANARY}}
        assert await call("POST", "api/v1/cameras", right) == 201, bodies[-1]
        by_url = {"name": "url-wrong", "url": cam.url_with("operator", CANARY + "-y")}
        assert await call("POST", "api/v1/cameras", by_url) == 201, bodies[-1]
        gone = {"name": "gone", "url": "rtsp://127.0.0.1:9/s", "username": "u", "password": CANARY}
        assert await call("POST", "api/v1/cameras", gone) == 201, bodies[-1]
        recs = service.supervisor.recorders

        async def settled() -> bool:
            return (
                "onvif-right" in recs
                and recs["onvif-right"].status().state == "recording"
                and recs["url-wrong"].status().error is not None
                and recs["gone"].status().error is not None
            )

        await wait_for(settled, 30, "ONVIF camera recording, two failing")
        assert await call("PATCH", "api/v1/cameras/gone", {"password": CANARY + "-z"}) == 200
        for path in (
            "api/v1/cameras",
            "api/v1/cameras/onvif-right",
            "api/v1/cameras/gone",
            "api/v1/cameras/onvif-right/snapshot",
        ):
            assert await call("GET", path) == 200, (path, bodies[-1])
        for page in ("lookup", "desk", "dashboard", "cameras", "counters", "audit"):
            assert await call("GET", page) == 200, page
    assert any("onvif-right" in b for b in bodies)
    await asyncio.sleep(1.0)
    await service.stop()

    rows = await _index_rows(cfg.effective_database_url)
    assert "camera.create" in rows  # the audit log was searched
    _assert_canary_nowhere(caplog, capfd, bodies, rows, [cam])


async def test_camera_password_in_the_url_query_appears_nowhere(
    rtsp_camera: Any,
    service_factory: Any,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Cameras whose password is a query parameter (rtsp://host/s?user=admin&password=...),
    from the config file and through the API, reachable and not: the password is stored
    encrypted, put back for the recorder, and found nowhere else."""
    caplog.set_level(logging.DEBUG)
    cam = rtsp_camera(video="h264", audio="aac")  # it ignores the query, as many servers do
    base = cam.url_without_credentials
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [
            {"name": "cfg-query", "url": f"{base}?user=operator&password={CANARY}&ch=1"},
            {"name": "cfg-gone", "url": f"rtsp://127.0.0.1:9/s?PWD={CANARY}"},
        ],
    )
    service = await service_factory(cfg)
    sup = service.supervisor
    assert service.db is not None and sup is not None
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "admin", digest, 1))
    bodies: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def call(method: str, path: str, body: object = None) -> tuple[int, Any]:
            async with http.request(method, service.url + path, json=body) as resp:
                raw = (await resp.read()).decode("utf-8", "replace")
                bodies.append(raw)
                is_json = resp.content_type == "application/json"
                return resp.status, json.loads(raw) if is_json else raw

        query_url = f"{base}?user=operator&Token={CANARY}&ch=1"
        status, body = await call("POST", "api/v1/cameras", {"name": "api-query", "url": query_url})
        assert status == 201, body
        assert body["url"] == f"{base}?user=operator&Token=***&ch=1" and body["has_password"]
        gone = {"name": "api-gone", "url": f"rtsp://127.0.0.1:9/x?passwd={CANARY}"}
        assert (await call("POST", "api/v1/cameras", gone))[0] == 201
        probe = {"url": f"{base}?pass={CANARY}", "snapshot": True}
        status, body = await call("POST", "api/v1/camera-probes", probe)
        assert status == 200 and body["url"] == f"{base}?pass=***", body

        async def settled() -> bool:
            recs = sup.recorders
            return (
                all(n in recs for n in ("cfg-query", "api-query", "cfg-gone", "api-gone"))
                and recs["cfg-query"].status().state == "recording"
                and recs["api-query"].status().state == "recording"
                and recs["cfg-gone"].status().error is not None
                and recs["api-gone"].status().error is not None
            )

        await wait_for(settled, 30, "two query-password cameras recording, two failing")
        # The recorder opens the URL with the password put back where the query had it.
        assert sup.camera_url("api-query") == query_url
        # What GET shows can be sent back: *** keeps the stored password.
        shown = f"{base}?user=operator&Token=***&ch=2"
        status, body = await call("PATCH", "api/v1/cameras/api-query", {"url": shown})
        assert status == 200 and body["url"] == shown and body["has_password"], body
        assert sup.camera_url("api-query") == query_url.replace("ch=1", "ch=2")
        for path in (
            "api/v1/cameras",
            "api/v1/cameras/api-query",
            "api/v1/cameras/cfg-gone",
            "api/v1/cameras/api-gone",
            "api/v1/health",
        ):
            status, _ = await call("GET", path)
            assert status == 200, path
        for page in ("dashboard", "cameras", "cameras/api-query/edit", "audit"):
            status, _ = await call("GET", page)
            assert status == 200, page
    assert any("api-gone" in b and "error" in b for b in bodies)
    await asyncio.sleep(1.0)  # let failed reconnects log a few more times
    await service.stop()

    rows = await _index_rows(cfg.effective_database_url)
    assert "cfg-gone" in rows and "camera.create" in rows  # the search covers them
    _assert_canary_nowhere(caplog, capfd, bodies, rows, [cam])


async def test_camera_password_in_refused_requests_appears_nowhere(
    service_factory: Any,
    tmp_path: Path,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Requests carrying the password that are refused: the document broken (400), a rule
    no schema states broken (422), a device that cannot be reached (502/504, never 200);
    through the API and the pages, in both languages. No refusal quotes the value
    (pydantic's own error text does), and a refused form comes back without the password."""
    caplog.set_level(logging.DEBUG)
    cfg = make_config(tmp_path / "data", database_url, [])
    service = await service_factory(cfg)
    assert service.db is not None
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "t", "admin", digest, 1))
    closed = "rtsp://127.0.0.1:9/s"  # nothing listens on the discard port
    in_url = f"rtsp://operator:{CANARY}@127.0.0.1:9/s"
    onvif = {"host": "127.0.0.1", "port": 9, "username": "operator", "password": CANARY}
    unreachable = ((502, 504), "camera_unreachable")
    document = ((400,), "bad_request")
    rule = ((422,), "invalid_value")
    api: list[tuple[str, str, dict[str, Any], tuple[tuple[int, ...], str]]] = [
        ("POST", "api/v1/cameras", {"name": "c-space", "url": in_url + " x"}, document),
        (
            "POST",
            "api/v1/cameras",
            {"name": "c-long", "url": closed, "password": CANARY * 20},
            document,
        ),
        (
            "POST",
            "api/v1/cameras",
            {"name": "c-type", "url": closed, "password": [CANARY]},
            document,
        ),
        ("POST", "api/v1/cameras", {"name": "c-key", "url": closed, "secret": CANARY}, document),
        ("POST", "api/v1/camera-probes", {**onvif, "port": "9"}, document),  # strict: not 9
        ("PATCH", "api/v1/cameras/api-cam", {"password": CANARY * 20}, document),
        ("POST", "api/v1/cameras", {"name": "c-port", "url": in_url.replace(":9/", ":0/")}, rule),
        ("POST", "api/v1/camera-probes", {"url": in_url + "?password=other"}, rule),
        ("PATCH", "api/v1/cameras/api-cam", {"url": in_url.replace("127.0.0.1:9", "[::1")}, rule),
        ("POST", "api/v1/camera-probes", {"url": in_url}, unreachable),
        ("POST", "api/v1/camera-probes", {"url": closed, "password": CANARY}, unreachable),
        ("POST", "api/v1/camera-probes", onvif, unreachable),
        ("POST", "api/v1/cameras", {"name": "onvif-gone", "onvif": onvif}, unreachable),
    ]
    form_onvif = {"host": "127.0.0.1", "port": "9", "username": "operator", "password": CANARY}
    pages: list[tuple[str, dict[str, str], tuple[tuple[int, ...], str]]] = [
        ("cameras/add-url", {"name": "c-long", "url": closed, "password": CANARY * 20}, document),
        ("cameras/api-cam/edit", {"url": closed, "password": CANARY * 20}, document),
        ("cameras/add-url", {"name": "c-port", "url": in_url.replace(":9/", ":0/")}, rule),
        ("cameras/probe", {"url": in_url + "?password=other"}, rule),
        ("cameras/probe", {"url": in_url}, unreachable),
        ("cameras/probe", form_onvif, unreachable),
        ("cameras/add-onvif", {"name": "onvif-gone", **form_onvif}, unreachable),
    ]
    bodies: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def send(method: str, path: str, **kw: Any) -> tuple[int, str]:
            async with http.request(method, service.url + path, **kw) as resp:
                bodies.append((await resp.read()).decode("utf-8", "replace"))
                return resp.status, bodies[-1]

        status, body = await send("POST", "api/v1/cameras", json={"name": "api-cam", "url": closed})
        assert status == 201, body
        for method, path, request, (statuses, code) in api:
            status, body = await send(method, path, json=request)
            assert status in statuses and json.loads(body)["error"]["code"] == code, (path, body)
        for path, form, (statuses, code) in pages:
            for lang in ("en", "zh"):
                status, body = await send("POST", f"{path}?lang={lang}", data=form)
                assert status in statuses and f'data-code="{code}"' in body, (path, lang, body)
        status, body = await send("GET", "api/v1/cameras")
        assert status == 200 and [c["name"] for c in json.loads(body)["cameras"]] == ["api-cam"]
    await asyncio.sleep(0.5)  # let the api-cam recorder log a failed connect or two
    await service.stop()

    rows = await _index_rows(cfg.effective_database_url)
    assert "onvif-gone" in rows and "camera.create" in rows  # the failed create is audited
    _assert_canary_nowhere(caplog, capfd, bodies, rows)
