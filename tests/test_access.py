"""The access matrix: every named route × every role (and no caller) against ROUTE_ROLES.

Walks the application's own route table, so a new route is covered the moment it is
added, and one without a policy fails here. Denials must be 401/403 and audited;
allowed calls must get past the guard (their status may still be 400/404/503 from the
handler, since the requests carry placeholder values). A second test checks staff
counter scope on every route that takes a counter, camera, receipt or segment.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import list_audit
from index.cameras import ensure_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.receipts import ReceiptIn, ReceiptSettings, record_receipt
from index.runs import start_run
from index.segments import upsert_segment
from index.tokens import create_token
from surveil.accounts import add_user, new_token
from surveil.clock import FakeClock
from surveil.timefmt import us_from_iso
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.rows import sealed_segment
from web.access import PUBLIC, ROUTE_ROLES
from web.app import create_app

T0 = us_from_iso("2026-11-26T02:00:00+00:00")
SECOND = 1_000_000
ROLES = ("admin", "staff", "auditor")
# Placeholder values for path parameters.
PARAMS = {
    "camera": "cam-b",
    "name": "cam-b",
    "code": "B02",
    "receipt_no": "R-B",
    "id": "1",
    "username": "nobody",
    "filename": "surveil.css",
    "step": "review",
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The specification, written out independently of web/access.py: who may call what.
# "public" needs no caller. Staff are further confined to their counters (tested below).
A, S, U = "admin", "staff", "auditor"
SPEC: dict[str, tuple[str, ...] | str] = {
    "health": "public",
    "openapi": "public",
    "static": "public",
    "login": "public",
    "login_submit": "public",
    "home": (A, S, U),
    "logout": (A, S, U),
    "lookup_page": (A, S, U),
    "desk_page": (A, S),
    "desk_scan": (A, S),
    "cameras": (A, S, U),
    "recordings": (A, S, U),
    "segment_file": (A, S, U),
    "lookup": (A, S, U),
    "clip": (A, S, U),
    "counters": (A, S, U),
    "counter": (A, S, U),
    "create_counter": (A,),
    "update_counter": (A,),
    "delete_counter": (A,),
    "post_receipt": (A, S),
    "receipt": (A, S, U),
    "receipt_clip": (A, S, U),
    "complete_receipt": (A, S),
    "create_camera": (A,),
    "probe_camera": (A,),
    "camera": (A, S, U),
    "update_camera": (A,),
    "delete_camera": (A,),
    "camera_snapshot": (A, U),
    "discover_cameras": (A,),
    # Dashboard, cameras and counters pages.
    "dashboard_page": (A, U),
    "cameras_page": (A,),
    "camera_discover": (A,),
    "camera_probe": (A,),
    "camera_add_onvif": (A,),
    "camera_add_url": (A,),
    "camera_edit_page": (A,),
    "camera_edit": (A,),
    "camera_enable": (A,),
    "camera_delete_page": (A,),
    "camera_delete": (A,),
    "counters_page": (A,),
    "counter_create": (A,),
    "counter_update": (A,),
    "counter_delete": (A,),
    "counter_cameras": (A,),
    # Users, API tokens and the audit log.
    "users": (A,),
    "create_user": (A,),
    "user": (A,),
    "update_user": (A,),
    "tokens": (A,),
    "create_token": (A,),
    "revoke_token": (A,),
    "audit_log": (A, U),
    "integrity_checkpoint": (A, U),
    "integrity_timestamp": (A, U),
    "integrity_key": (A, U),
    "integrity_inclusion": (A, U),
    "integrity_consistency": (A, U),
    "integrity_checkpoints": (A, U),
    "issue_checkpoint": (A,),
    "integrity_status": (A, U),
    "start_verify": (A, U),
    "users_page": (A,),
    "users_create": (A,),
    "users_update": (A,),
    "tokens_page": (A,),
    "tokens_create": (A,),
    "tokens_revoke": (A,),
    "audit_page": (A, U),
    "integrity_page": (A, U),
    "integrity_verify": (A, U),
    "integrity_issue": (A,),
    "integrity_help": (A, U),
    # The storage lifecycle: oversight reads, admins change; a case is desk work.
    "storage": (A, U),
    "retention_rules": (A, U),
    "set_installation_rule": (A,),
    "remove_installation_rule": (A,),
    "set_counter_rule": (A,),
    "remove_counter_rule": (A,),
    "set_camera_rule": (A,),
    "remove_camera_rule": (A,),
    "retention_plan": (A, U),
    "retention_passes": (A, U),
    "run_retention_pass": (A,),
    "holds": (A, U),
    "place_holds": (A,),
    "release_hold": (A,),
    "receipt_case": (A, S),
    "storage_page": (A, U),
    "storage_rule_set": (A,),
    "storage_rule_remove": (A,),
    "storage_hold_place": (A,),
    "storage_hold_release": (A,),
    "storage_pass_run": (A,),
    # Export requests' API: everyone reads what is in their scope; filing, the steps, the
    # package and a viewing are desk work (the service's rules decide the rest).
    "create_export": (A, S),
    "exports": (A, S, U),
    "export": (A, S, U),
    "review_export": (A, S),
    "approve_export": (A, S),
    "reject_export": (A, S),
    "withdraw_export": (A, S),
    "resubmit_export": (A, S),
    "deliver_export": (A, S),
    "export_package": (A, S),
    "exports_page": (A, S, U),
    "export_page": (A, S, U),
    "export_new_page": (A, S),
    "export_create": (A, S),
    "export_step": (A, S),
    "export_download": (A, S),
    "view_export": (A, S),
    "export_clip": (A, S),
    # The handler decides (web/metrics.py): a loopback peer needs no credentials, and
    # credentials must be admin or auditor; the peer cases are in tests/test_metrics.py.
    "metrics": "public",
}


@dataclass
class Matrix:
    client: TestClient
    app: web.Application
    db: Database
    tokens: dict[str, str]


async def _seed(s: AsyncSession) -> None:
    for code in ("A01", "B02"):
        await ensure_counter(s, code, f"counter {code}", None, T0)
    for name, code in (("cam-a", "A01"), ("cam-b", "B02")):
        cam = await ensure_camera(s, name, f"rtsp://h/{name}", [code], True, T0)
        await link_camera_counters(s, cam.id, [code], T0)
        run = await start_run(s, cam.id, T0, "startup")
        await upsert_segment(
            s,
            sealed_segment(cam.id, run, 0, f"{name}/0.mp4", T0, T0 + 60 * SECOND),
        )
    for no, code in (("R-A", "A01"), ("R-B", "B02")):
        await record_receipt(s, ReceiptIn(no, code, T0 + 10 * SECOND), T0, ReceiptSettings())


@pytest.fixture
async def matrix(db: Database, tmp_path: Path) -> AsyncIterator[Matrix]:
    await db.write(_seed)
    tokens: dict[str, str] = {}
    # Token id 1 (the placeholder id) is a spare: the matrix revokes it.
    _, spare = new_token()
    await db.write(lambda s: create_token(s, "spare", "staff", spare, T0))
    for role in ROLES:
        token, digest = new_token()
        tokens[role] = token
        await db.write(lambda s, r=role, d=digest: create_token(s, f"tok-{r}", r, d, T0))
    # No camera control: camera changes answer 503 and discovery sends nothing.
    app = create_app(db, NoStatus(), tmp_path, FakeClock(T0 + 120 * SECOND))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Matrix(client, app, db, tokens)
    finally:
        await client.close()


def _routes(app: web.Application) -> list[tuple[str, str, str]]:
    """(name, method, path) for every named route, with placeholders filled in."""
    out = []
    for route in app.router.routes():
        name = route.name
        if name is None or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        if "path" in info:
            path = info["path"]
        elif "formatter" in info:
            path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAMS[m.group(1)], info["formatter"])
        else:  # static
            path = f"{info['prefix']}/{PARAMS['filename']}"
        out.append((name, route.method, path))
    return out


async def _call(m: Matrix, method: str, path: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kw: dict[str, Any] = {"headers": headers, "allow_redirects": False}
    if method in UNSAFE:
        kw["json"] = {}
    async with m.client.request(method, path, **kw) as resp:
        await resp.read()
        return resp.status


def test_every_route_has_a_policy(tmp_path: Path) -> None:
    app = create_app(None, NoStatus(), tmp_path, FakeClock(T0))  # type: ignore[arg-type]
    names = {name for name, _, _ in _routes(app)}
    assert names - set(ROUTE_ROLES) == set(), "routes without an access policy"
    assert set(ROUTE_ROLES) - names == set(), "policies for routes that do not exist"


def test_policy_matches_the_specification(tmp_path: Path) -> None:
    app = create_app(None, NoStatus(), tmp_path, FakeClock(T0))  # type: ignore[arg-type]
    names = {name for name, _, _ in _routes(app)}
    assert names - set(SPEC) == set(), "routes missing from this test's SPEC"
    for name in names:
        expected = SPEC[name]
        actual = ROUTE_ROLES[name]
        if expected == "public":
            assert actual is PUBLIC, name
        else:
            assert actual == frozenset(expected), name


async def test_access_matrix(matrix: Matrix) -> None:
    routes = _routes(matrix.app)
    assert len(routes) >= 25
    problems: list[str] = []
    for name, method, path in routes:
        spec = SPEC[name]
        roles = PUBLIC if spec == "public" else frozenset(spec)
        for role in (None, *ROLES):
            status = await _call(matrix, method, path, matrix.tokens[role] if role else None)
            if roles is PUBLIC:
                ok = status not in (401, 403) or name == "login_submit"
                ok = ok or (name == "metrics" and role == "staff" and status == 403)
            elif role is None:
                ok = status == 401 or (status == 303 and method == "GET" and "/api/" not in path)
            elif role in roles:
                ok = status not in (401, 403)
            else:
                ok = status == 403
            if not ok:
                problems.append(f"{role or 'anonymous'} {method} {path} ({name}) -> {status}")
    assert problems == []
    # Every refusal is in the audit log, attributed to the caller.
    async with matrix.db.read() as s:
        denied = await list_audit(s, outcome="denied", limit=1000)
    by_actor = {(e.actor, e.target) for e in denied}
    for name, _method, _path in routes:
        roles = SPEC[name]
        if roles == "public":
            continue
        for role in ROLES:
            if role not in roles:
                assert (f"tok-{role}", name) in by_actor, (role, name)
    assert all(e.remote == "127.0.0.1" for e in denied)


STAFF_PASSWORD = "counter-a-password"


async def test_staff_are_confined_to_their_counters(matrix: Matrix) -> None:
    await add_user(matrix.db, "clerk", STAFF_PASSWORD, "staff", ["A01"], T0)
    resp = await form_login(matrix.client, "clerk", STAFF_PASSWORD)
    assert resp.status == 303
    desk = await (await matrix.client.get("/desk")).text()
    hdr = {"X-CSRF-Token": csrf_of(desk)}
    window = "start=2026-11-26T02:00:00Z&end=2026-11-26T02:01:00Z"
    ids = {}
    async with matrix.client.get(f"/api/v1/recordings?camera=cam-a&{window}") as r:
        ids["a"] = (await r.json())["segments"][0]["id"]
    theirs_ok = [
        ("GET", f"/api/v1/lookup?counter=A01&{window}"),
        ("GET", "/api/v1/receipts/R-A"),
        ("GET", "/api/v1/counters/A01"),
        ("GET", "/api/v1/cameras/cam-a"),
        ("GET", f"/api/v1/recordings?camera=cam-a&{window}"),
        ("GET", "/lookup?receipt=R-A"),
    ]
    for method, path in theirs_ok:
        async with matrix.client.request(method, path) as r:
            assert r.status == 200, (path, r.status, await r.text())
    not_theirs = [
        ("GET", f"/api/v1/lookup?counter=B02&{window}"),
        ("GET", "/api/v1/receipts/R-B"),
        ("GET", "/api/v1/counters/B02"),
        ("GET", f"/api/v1/recordings?camera=cam-b&{window}"),
        ("GET", f"/api/v1/recordings?{window}"),
        ("GET", f"/api/v1/segments/{ids['a'] + 1}"),
        ("GET", f"/api/v1/clips/cam-b.mp4?{window}"),
        ("GET", "/api/v1/cameras/cam-b"),
        ("GET", "/api/v1/receipts/R-B/clips/cam-b.mp4"),
        ("GET", "/lookup?receipt=R-B"),
        ("GET", "/desk?counter=B02"),
        ("POST", "/api/v1/receipts/R-B/complete"),
        ("POST", "/api/v1/receipts/R-B/case"),
    ]
    for method, path in not_theirs:
        body = None
        if path.endswith("/complete"):
            body = {"completed_at": "2026-11-26T02:00:30Z"}
        elif path.endswith("/case"):
            body = {"state": "closed", "at": "2026-11-26T02:00:30Z"}
        async with matrix.client.request(method, path, json=body, headers=hdr) as r:
            assert r.status == 403, (path, r.status, await r.text())
    body = {"receipt_no": "R-NEW", "counter": "B02", "accepted_at": "2026-11-26T02:00:30Z"}
    async with matrix.client.post("/api/v1/receipts", json=body, headers=hdr) as r:
        assert r.status == 403
    async with matrix.client.get("/api/v1/cameras") as r:
        assert [c["name"] for c in (await r.json())["cameras"]] == ["cam-a"]
    async with matrix.client.get("/api/v1/counters") as r:
        assert [c["code"] for c in (await r.json())["counters"]] == ["A01"]
    async with matrix.db.read() as s:
        denied = await list_audit(s, outcome="denied", actor="clerk", limit=100)
    assert len(denied) == len(not_theirs) + 1
