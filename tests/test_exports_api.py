"""Export requests over the JSON API, on SQLite and PostgreSQL, with real segment files the
writer made: the whole workflow with three accounts signed in (a clerk, a reviewer, an
approver, all staff of counter A01), every step in the audit log and the Merkle log, the
rule of distinct people, counter scope, the holds placed and released, the package's
absence before it is built, and the playback of an approved viewing, which serves only the
request's footage and only to its requester.

The package itself (building, verifying) is tested with the packager in
tests/test_export_package.py; here the packager is never started, so an approved copy stays
approved with no package.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from index import exports as export_queries
from index import segments
from index.cameras import ensure_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.receipts import ReceiptIn, ReceiptSettings, record_receipt
from index.runs import start_run
from index.tokens import create_token
from index.users import create_user, get_user
from surveil.accounts import new_token
from surveil.clock import FakeClock
from surveil.timefmt import iso_from_us
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.media import US, Recording
from tests.test_accounts_api import digest_of
from tests.test_cli import surveil
from tests.test_footage_serving import T0, _opened, _rows, recording  # noqa: F401
from web.app import create_app

HOUR = 3600 * US
NOW = T0 + HOUR
PASSWORD = "export-password-1"
# name -> (role, counters, permissions)
ACCOUNTS: dict[str, tuple[str, list[str], list[str]]] = {
    "clerk": ("staff", ["A01"], []),
    "reviewer": ("staff", ["A01"], ["export.review"]),
    "approver": ("staff", ["A01"], ["export.approve"]),
    "both": ("staff", ["A01"], ["export.review", "export.approve"]),
    "outsider": ("staff", ["B02"], ["export.review", "export.approve"]),
    "root": ("admin", [], []),
    "eve": ("auditor", [], []),
}
PARTY = {
    "name": "张三",
    "id_type": "居民身份证",
    "id_number": "110101199001011234",
    "relation": "applicant",
}
EXPORTS = "/api/v1/exports"


@dataclass
class Hall:
    """A running app over the test database: counters A01 (camera cam1, with four real
    segments from T0) and B02 (cam-b, no footage), receipt R-A at A01, the ACCOUNTS, and an
    admin API token. Each account signs in on its own client (cookies are per client)."""

    server: TestServer
    db: Database
    clock: FakeClock
    data_dir: Path
    token: str
    clients: dict[str, TestClient[Any, Any]] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> web.Application:
        return self.server.app

    async def client(self, user: str) -> TestClient[Any, Any]:
        if user not in self.clients:
            client: TestClient[Any, Any] = TestClient(self.server)
            await client.start_server()
            self.clients[user] = client
            await self.login(user)
        return self.clients[user]

    async def login(self, user: str) -> None:
        """Sign in (again) on the user's client, and keep the session's CSRF token."""
        client = self.clients[user]
        client.session.cookie_jar.clear()
        resp = await form_login(client, user, PASSWORD)
        assert resp.status == 303, await resp.text()
        self.csrf[user] = csrf_of(await (await client.get("/lookup")).text())

    async def call(
        self, user: str | None, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        """As the signed-in user (None: the admin API token); (status, JSON or None)."""
        if user is None:
            client = await self.client_for_token()
            headers = {"Authorization": f"Bearer {self.token}"}
        else:
            client = await self.client(user)
            headers = {"X-CSRF-Token": self.csrf[user]}
        resp = await client.request(method, path, json=body, headers=headers)
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, payload

    async def client_for_token(self) -> TestClient[Any, Any]:
        if "" not in self.clients:
            self.clients[""] = TestClient(self.server)
            await self.clients[""].start_server()
        return self.clients[""]

    async def file(self, user: str, **fields: Any) -> dict[str, Any]:
        body = {
            "kind": "copy",
            "party": PARTY,
            "purpose": "诉讼举证 / evidence for a lawsuit",
            "legal_basis": "《政府信息公开条例》第二十四条",
            **fields,
        }
        status, reply = await self.call(user, "POST", EXPORTS, body)
        assert status == 201, reply
        return dict(reply)

    async def step(
        self, user: str, rid: int, step: str, body: Any = None, status: int = 200
    ) -> dict[str, Any]:
        got, reply = await self.call(user, "POST", f"{EXPORTS}/{rid}/{step}", body)
        assert got == status, (user, step, reply)
        return dict(reply)

    async def audit(self, rid: int) -> list[dict[str, Any]]:
        status, page = await self.call(None, "GET", "/api/v1/audit?action=export.&limit=500")
        assert status == 200, page
        return [e for e in page["entries"] if e["target"] == f"export {rid}"][::-1]


async def _seed(s: AsyncSession, rec: Recording) -> list[int]:
    for code in ("A01", "B02"):
        await ensure_counter(s, code, f"Window {code}", "Hall", T0 - HOUR)
    cam = await ensure_camera(s, "cam1", "rtsp://10.0.0.1/s", ["A01"], True, T0 - HOUR)
    await link_camera_counters(s, cam.id, ["A01"], T0 - HOUR)
    other = await ensure_camera(s, "cam-b", "rtsp://10.0.0.2/s", ["B02"], True, T0 - HOUR)
    await link_camera_counters(s, other.id, ["B02"], T0 - HOUR)
    run_id = await start_run(s, cam.id, T0, "connected")
    ids = []
    for row in _rows(rec, cam.id, run_id):
        ids.append(await segments.open_segment(s, _opened(row, 0, 0, row.start_us)))
        await segments.update_segment(s, row)
    receipt = ReceiptIn("R-A", "A01", T0 + 2 * US, T0 + 6 * US)
    await record_receipt(s, receipt, T0 + 7 * US, ReceiptSettings())
    for name, (role, counters, perms) in ACCOUNTS.items():
        await create_user(s, name, digest_of(PASSWORD), role, counters, T0 - HOUR, perms)
    return ids


@pytest.fixture
async def hall(db: Database, tmp_path: Path, recording: Recording) -> AsyncIterator[Hall]:  # noqa: F811
    data_dir = tmp_path / "data"
    await db.write(lambda s: _seed(s, recording))
    async with db.read() as s:
        rows = await segments.segments_overlapping(s, "cam1", T0, T0 + HOUR)
    for row in rows:
        path = data_dir / row.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(recording.file_bytes(row.sequence))
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "ops", "admin", digest, T0 - HOUR))
    clock = FakeClock(NOW)
    app = create_app(db, NoStatus(), data_dir, clock)
    server = TestServer(app, host="127.0.0.1")
    hall = Hall(server, db, clock, data_dir, token)
    try:
        yield hall
    finally:
        for client in hall.clients.values():
            await client.close()
        await server.close()


def _window(start_us: int, end_us: int, **extra: Any) -> dict[str, Any]:
    return {"counter": "A01", "start": iso_from_us(start_us), "end": iso_from_us(end_us), **extra}


# --- the workflow ----------------------------------------------------------------------------


async def test_a_copy_request_goes_through_review_and_approval_all_audited(hall: Hall) -> None:
    req = await hall.file("clerk", receipt_no="R-A")
    rid = req["id"]
    assert (req["state"], req["kind"], req["counter"], req["receipt_no"]) == (
        "submitted",
        "copy",
        "A01",
        "R-A",
    )
    # The receipt's window: accepted − pre-roll to completed + post-roll (30 s each).
    assert (req["start_us"], req["end_us"]) == (T0 - 28 * US, T0 + 36 * US)
    assert req["cameras"] == ["cam1"] and req["case_no"] == "R-A"
    assert req["party"] == PARTY and req["created_by"] == "clerk"
    assert [s["step"] for s in req["steps"]] == ["submit"]
    assert req["actions"] == ["withdraw"]
    assert req["package"] == {
        "state": "none",
        "bytes": None,
        "sha256": None,
        "progress": None,
        "error": None,
        "url": None,
    }
    [hold] = req["holds"]
    assert (hold["kind"], hold["camera"], hold["active"]) == ("export", "cam1", True)
    assert (hold["start_us"], hold["end_us"]) == (req["start_us"], req["end_us"])

    # The reviewer sees it in their work list; the approver does not (yet).
    _, mine = await hall.call("reviewer", "GET", f"{EXPORTS}?view=to_review")
    assert [e["id"] for e in mine["exports"]] == [rid]
    _, theirs = await hall.call("approver", "GET", f"{EXPORTS}?view=to_review")
    assert theirs["exports"] == []
    _, seen = await hall.call("reviewer", "GET", f"{EXPORTS}/{rid}")
    assert seen["actions"] == ["return", "review"]
    # The requester has no permission to review, nor does the approver.
    for who in ("clerk", "approver"):
        refused = await hall.step(who, rid, "review", {"decision": "pass"}, status=403)
        assert refused["error"]["code"] == "export_forbidden"

    reviewed = await hall.step("reviewer", rid, "review", {"decision": "pass", "reason": "ok"})
    assert reviewed["state"] == "reviewed" and reviewed["actions"] == []
    refused = await hall.step("reviewer", rid, "approve", status=403)
    assert refused["error"]["code"] == "export_forbidden"
    assert "export.approve" in refused["error"]["message"]
    _, waiting = await hall.call("approver", "GET", f"{EXPORTS}?view=to_approve")
    assert [e["id"] for e in waiting["exports"]] == [rid]

    approved = await hall.step("approver", rid, "approve", {"reason": "依法可提供"})
    assert approved["state"] == "approved"
    # The packager is not running in this app: no package yet, nothing to download.
    assert approved["package"]["state"] == "none" and approved["package"]["url"] is None
    status, body = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}/package")
    assert (status, body["error"]["code"]) == (409, "export_state")
    # After approval it can no longer be withdrawn.
    refused = await hall.step("clerk", rid, "withdraw", status=409)
    assert refused["error"]["code"] == "export_state"

    _, detail = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}")
    steps = [(s["step"], s["actor"], s["actor_role"]) for s in detail["steps"]]
    assert steps == [
        ("submit", "clerk", "staff"),
        ("review", "reviewer", "staff"),
        ("approve", "approver", "staff"),
    ]
    assert [s["reason"] for s in detail["steps"]] == [None, "ok", "依法可提供"]
    # Every step is an audit entry (the refusals are not steps), and a leaf of the log.
    entries = await hall.audit(rid)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("export.submit", "clerk"),
        ("export.review", "reviewer"),
        ("export.approve", "approver"),
    ]
    assert [e["id"] for e in entries] == [s["audit_id"] for s in detail["steps"]]
    assert all(e["leaf_index"] is not None for e in entries)
    assert entries[0]["detail"]["state"] == {"from": "submitted", "to": "submitted"}
    assert entries[2]["detail"]["state"] == {"from": "reviewed", "to": "approved"}
    assert all(e["remote"] == "127.0.0.1" for e in entries)


async def test_the_reviewer_cannot_also_approve(hall: Hall) -> None:
    rid = (await hall.file("clerk", **_window(T0, T0 + 8 * US)))["id"]
    await hall.step("both", rid, "review", {"decision": "pass"})
    _, waiting = await hall.call("both", "GET", f"{EXPORTS}?view=to_approve")
    assert waiting["exports"] == []  # not their work: they reviewed it
    # min_people 3 (the default): a third person approves.
    refused = await hall.step("both", rid, "approve", status=403)
    assert refused["error"]["code"] == "export_forbidden"
    assert "reviewer" in refused["error"]["message"]
    refused = await hall.step("both", rid, "reject", {"reason": "x"}, status=403)
    assert "reviewer" in refused["error"]["message"]
    assert (await hall.step("approver", rid, "approve"))["state"] == "approved"


async def test_a_returned_request_is_resubmitted_and_the_requester_cannot_approve(
    hall: Hall,
) -> None:
    rid = (await hall.file("both", **_window(T0, T0 + 8 * US)))["id"]
    refused = await hall.step("both", rid, "review", {"decision": "pass"}, status=403)
    assert "requester" in refused["error"]["message"]
    # A return needs a reason: a rule of the service (422), not of the schema.
    bad = await hall.step("reviewer", rid, "review", {"decision": "return"}, status=422)
    assert bad["error"]["code"] == "invalid_value"
    returned = await hall.step(
        "reviewer", rid, "review", {"decision": "return", "reason": "补充授权委托书"}
    )
    assert returned["state"] == "returned"
    refused = await hall.step("clerk", rid, "resubmit", status=403)
    assert refused["error"]["code"] == "export_forbidden"
    assert (await hall.step("both", rid, "resubmit", {"reason": "已补充"}))["state"] == "submitted"
    await hall.step("reviewer", rid, "review", {"decision": "pass"})
    refused = await hall.step("both", rid, "approve", status=403)
    assert "requester" in refused["error"]["message"]
    assert (await hall.step("approver", rid, "approve"))["state"] == "approved"
    actions = [e["action"] for e in await hall.audit(rid)]
    assert actions == [
        "export.submit",
        "export.return",
        "export.resubmit",
        "export.review",
        "export.approve",
    ]


async def test_rejected_and_withdrawn_requests_release_their_holds_and_have_no_package(
    hall: Hall,
) -> None:
    rejected = (await hall.file("clerk", receipt_no="R-A"))["id"]
    withdrawn = (await hall.file("clerk", **_window(T0, T0 + 4 * US)))["id"]
    await hall.step("reviewer", rejected, "review", {"decision": "pass"})
    # A rejection needs a reason (the schema says so: 400).
    bad = await hall.step("approver", rejected, "reject", {}, status=400)
    assert bad["error"]["code"] == "bad_request"
    done = await hall.step("approver", rejected, "reject", {"reason": "与本案无关"})
    assert done["state"] == "rejected" and done["actions"] == []
    refused = await hall.step("reviewer", withdrawn, "withdraw", status=403)
    assert refused["error"]["code"] == "export_forbidden"
    gone = await hall.step("clerk", withdrawn, "withdraw", {"reason": "当事人撤回"})
    assert gone["state"] == "withdrawn"
    for req in (done, gone):
        [hold] = req["holds"]
        assert hold["kind"] == "export" and hold["active"] is False
        assert hold["released_by"] in ("approver", "clerk") and hold["released_us"] == NOW
        for who in ("clerk", "root"):
            status, body = await hall.call(who, "GET", f"{EXPORTS}/{req['id']}/package")
            assert (status, body["error"]["code"]) == (409, "export_state")
        # Final states: nothing more may happen to them.
        refused = await hall.step("approver", req["id"], "approve", status=409)
        assert refused["error"]["code"] == "export_state"
    _, listed = await hall.call("clerk", "GET", f"{EXPORTS}?state=rejected,withdrawn")
    assert [e["id"] for e in listed["exports"]] == [withdrawn, rejected]
    _, listed = await hall.call("clerk", "GET", f"{EXPORTS}?state=withdrawn&state=submitted")
    assert [e["id"] for e in listed["exports"]] == [withdrawn]


async def test_staff_of_another_counter_can_neither_file_nor_see_nor_act(hall: Hall) -> None:
    for fields in ({"receipt_no": "R-A"}, _window(T0, T0 + 4 * US)):
        body = {"kind": "copy", "party": PARTY, "purpose": "x", "legal_basis": "y", **fields}
        status, reply = await hall.call("outsider", "POST", EXPORTS, body)
        assert (status, reply["error"]["code"]) == (403, "export_forbidden"), reply
    rid = (await hall.file("clerk", receipt_no="R-A"))["id"]
    status, reply = await hall.call("outsider", "GET", f"{EXPORTS}/{rid}")
    assert (status, reply["error"]["code"]) == (404, "export_not_found")
    for view in ("all", "mine", "to_review", "to_approve"):
        _, listed = await hall.call("outsider", "GET", f"{EXPORTS}?view={view}")
        assert listed["exports"] == [], view
    refused = await hall.step("outsider", rid, "review", {"decision": "pass"}, status=404)
    assert refused["error"]["code"] == "export_not_found"
    status, _ = await hall.call("outsider", "GET", f"{EXPORTS}/{rid}/package")
    assert status == 404
    # Oversight sees every request; an auditor acts on none (the route is desk work).
    _, listed = await hall.call("eve", "GET", EXPORTS)
    assert [e["id"] for e in listed["exports"]] == [rid]
    status, _ = await hall.call("eve", "POST", f"{EXPORTS}/{rid}/review", {"decision": "pass"})
    assert status == 403
    status, reply = await hall.call("eve", "POST", EXPORTS, {"kind": "copy"})
    assert status == 403
    # An unknown id is the same 404 as one out of scope.
    status, reply = await hall.call("clerk", "GET", f"{EXPORTS}/999999")
    assert (status, reply["error"]["code"]) == (404, "export_not_found")


async def test_request_bodies_are_checked_by_shape_and_by_rule(hall: Hall) -> None:
    base = {"kind": "copy", "party": PARTY, "purpose": "p", "legal_basis": "b"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**base, "receipt_no": "R-A", "counter": "A01"}, 400, "counter"),
        ({**base}, 400, "counter"),
        ({**base, "receipt_no": "R-A", "kind": "stream"}, 400, "kind"),
        ({**base, "receipt_no": "R-A", "party": {**PARTY, "name": "  "}}, 400, "name"),
        ({**base, "receipt_no": "R-A", "purpose": "a\u0000b"}, 400, "purpose"),
        ({**base, **_window(T0 + 4 * US, T0)}, 422, "later than"),
        ({**base, **_window(NOW - US, NOW + HOUR)}, 422, "future"),
        ({**base, **_window(T0 - 30 * HOUR, T0)}, 422, "at most 24 hours"),
        ({**base, **_window(T0, T0 + US, cameras=["cam-b"])}, 422, "does not cover"),
        ({**base, "receipt_no": "R-NONE"}, 404, "R-NONE"),
        ({**base, **_window(T0, T0 + US, cameras=["nope"])}, 404, "nope"),
    ]
    for body, status, words in cases:
        got, reply = await hall.call("clerk", "POST", EXPORTS, body)
        assert (got, words in reply["error"]["message"]) == (status, True), (body, reply)
    # Multi-line text is allowed where the service allows it.
    req = await hall.file("clerk", receipt_no="R-A", purpose="第一行\n第二行", case_no="(2026)01")
    assert req["purpose"] == "第一行\n第二行" and req["case_no"] == "(2026)01"
    # Nothing was filed by the refused bodies.
    _, listed = await hall.call("root", "GET", EXPORTS)
    assert [e["id"] for e in listed["exports"]] == [req["id"]]


async def test_a_packaged_copy_downloads_audited_and_is_handed_over(hall: Hall) -> None:
    rid = (await hall.file("clerk", receipt_no="R-A"))["id"]
    await hall.step("reviewer", rid, "review", {"decision": "pass"})
    await hall.step("approver", rid, "approve")
    # What the packager records once a build is done (tests/test_export_package.py builds
    # real ones): a file under data_dir/exports and the request packaged.
    body = b"PK\x05\x06" + bytes(18)  # an empty zip
    package = hall.data_dir / "exports" / f"export-{rid}.zip"
    package.parent.mkdir(parents=True)
    package.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()

    async def packaged(s: AsyncSession) -> None:
        await export_queries.set_package(
            s, rid, "ready", file=package.name, size=len(body), sha256=digest
        )
        await export_queries.set_state(s, rid, "packaged", NOW)

    await hall.db.write(packaged)
    _, detail = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}")
    assert detail["package"]["url"] == f"/api/v1/exports/{rid}/package"
    assert (detail["package"]["bytes"], detail["package"]["sha256"]) == (len(body), digest)
    assert detail["actions"] == ["deliver", "download"]
    for who in ("clerk", "reviewer", "approver", "root"):
        client = await hall.client(who)
        resp = await client.get(detail["package"]["url"])
        assert resp.status == 200, (who, await resp.text())
        assert resp.content_type == "application/zip"
        assert resp.headers["Content-Disposition"] == f'attachment; filename="export-{rid}.zip"'
        assert resp.headers["X-Package-SHA256"] == digest
        assert await resp.read() == body
    # Not one of its people (nor an admin): refused, and so is oversight by role.
    status, reply = await hall.call("both", "GET", f"{EXPORTS}/{rid}/package")
    assert (status, reply["error"]["code"]) == (403, "export_forbidden")
    assert (await hall.call("eve", "GET", f"{EXPORTS}/{rid}/package"))[0] == 403
    downloads = [e for e in await hall.audit(rid) if e["action"] == "export.download"]
    assert [e["actor"] for e in downloads] == ["clerk", "reviewer", "approver", "root"]
    assert all(e["detail"]["sha256"] == digest for e in downloads)

    delivered = await hall.step(
        "clerk", rid, "deliver", {"recipient": "李四律师", "method": "U盘", "reason": "代理人"}
    )
    assert delivered["state"] == "delivered"
    # Made from a receipt: its export hold ends, the receipt's case hold keeps the footage.
    assert [h["active"] for h in delivered["holds"]] == [False]
    package.unlink()
    status, reply = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}/package")
    assert (status, reply["error"]["code"]) == (409, "package_missing")
    after = [e["action"] for e in await hall.audit(rid)]
    assert after.count("export.download") == 4 and after[-1] == "export.deliver"


# --- viewing on site ---------------------------------------------------------------------------


async def _approved_viewing(hall: Hall, end_us: int) -> int:
    rid = (await hall.file("clerk", kind="view", **_window(T0, end_us)))["id"]
    await hall.step("reviewer", rid, "review", {"decision": "pass"})
    approved = await hall.step("approver", rid, "approve")
    assert approved["view_until_us"] == NOW + 24 * HOUR
    assert approved["actions"] == ["deliver"]  # only the requester views it
    return int(rid)


async def test_an_approved_viewing_plays_only_its_footage_for_its_requester(hall: Hall) -> None:
    end = T0 + 5 * US
    rid = await _approved_viewing(hall, end)
    _, seen = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}")
    assert seen["actions"] == ["deliver", "view"]
    status, viewing = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}/view")
    assert status == 200, viewing
    [cam] = viewing["cameras"]
    assert cam["camera"] == "cam1" and cam["window"]["end_us"] == end
    [clip] = cam["clips"]
    assert clip["start_us"] == T0 and clip["end_us"] == end
    assert clip["url"].startswith(f"/api/v1/exports/{rid}/clips/cam1.mp4?")
    client = await hall.client("clerk")
    resp = await client.get(clip["url"])
    assert resp.status == 200 and resp.content_type == "video/mp4"
    data = await resp.read()
    assert data[4:8] == b"ftyp"
    start = int(resp.headers["X-Clip-Start-Us"])
    duration = int(resp.headers["X-Clip-Duration-Us"])
    # The clip ends at the request's end (to the frame), though footage goes on after it.
    assert start == T0 and abs(start + duration - end) <= US // 25 + 1
    # Asking for more than the request is cut to the request.
    wider = f"{EXPORTS}/{rid}/clips/cam1.mp4?start={iso_from_us(T0 - HOUR)}&end={iso_from_us(NOW)}"
    resp = await client.get(wider.replace("+", "%2B"))
    assert resp.status == 200
    assert int(resp.headers["X-Clip-Duration-Us"]) == duration
    outside = f"{EXPORTS}/{rid}/clips/cam1.mp4?start={iso_from_us(end + US)}&end={iso_from_us(NOW)}"
    resp = await client.get(outside.replace("+", "%2B"))
    assert resp.status == 422
    resp = await client.get(f"{EXPORTS}/{rid}/clips/cam-b.mp4")
    assert resp.status == 404
    # Nobody else plays it: not the reviewer, not an admin.
    for who in ("reviewer", "root"):
        status, reply = await hall.call(who, "GET", f"{EXPORTS}/{rid}/view")
        assert (status, reply["error"]["code"]) == (403, "export_forbidden")
        other = await hall.client(who)
        resp = await other.get(clip["url"])
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "export_forbidden"
    # Opening the viewing is a step of the custody chain; playing it is audited as a clip.
    entries = await hall.audit(rid)
    assert [e["action"] for e in entries][-1] == "export.view"
    status, page = await hall.call(None, "GET", "/api/v1/audit?action=footage.clip&actor=clerk")
    assert {(e["target"], e["detail"]["start_us"]) for e in page["entries"]} == {("cam1", T0)}

    # The hand-over; a request for a window keeps its hold (nothing else protects it).
    delivered = await hall.step(
        "clerk", rid, "deliver", {"recipient": "张三本人", "method": "现场查看"}
    )
    assert delivered["state"] == "delivered"
    assert delivered["steps"][-1]["recipient"] == "张三本人"
    assert [h["active"] for h in delivered["holds"]] == [True]
    # Still viewable after the hand-over, until view_until.
    assert (await hall.call("clerk", "GET", f"{EXPORTS}/{rid}/view"))[0] == 200


async def test_a_viewing_expires(hall: Hall) -> None:
    rid = await _approved_viewing(hall, T0 + 4 * US)
    hall.clock.advance(24 * HOUR)
    await hall.login("clerk")  # the session ended too
    status, reply = await hall.call("clerk", "GET", f"{EXPORTS}/{rid}/view")
    assert (status, reply["error"]["code"]) == (403, "export_forbidden")
    assert "expired" in reply["error"]["message"]
    client = await hall.client("clerk")
    resp = await client.get(f"{EXPORTS}/{rid}/clips/cam1.mp4")
    assert resp.status == 403
    # A copy request has no viewing at all.
    cid = (await hall.file("clerk", **_window(T0, T0 + 4 * US)))["id"]
    status, reply = await hall.call("clerk", "GET", f"{EXPORTS}/{cid}/view")
    assert (status, reply["error"]["code"]) == (409, "export_state")


# --- accounts carry their permissions ------------------------------------------------------


async def test_accounts_are_granted_permissions_through_the_users_api(hall: Hall) -> None:
    body = {
        "username": "newrev",
        "password": "a-long-passphrase",
        "role": "staff",
        "counters": ["A01"],
        "permissions": ["export.review"],
    }
    status, user = await hall.call(None, "POST", "/api/v1/users", body)
    assert (status, user["permissions"]) == (201, ["export.review"]), user
    status, user = await hall.call(
        None, "PATCH", "/api/v1/users/newrev", {"permissions": ["export.approve", "export.review"]}
    )
    assert (status, user["permissions"]) == (200, ["export.approve", "export.review"])
    status, reply = await hall.call(None, "PATCH", "/api/v1/users/newrev", {"role": "auditor"})
    assert (status, reply["error"]["code"]) == (422, "invalid_value")
    status, user = await hall.call(
        None, "PATCH", "/api/v1/users/newrev", {"role": "auditor", "permissions": []}
    )
    assert (status, user["role"], user["permissions"]) == (200, "auditor", [])
    status, reply = await hall.call(
        None, "POST", "/api/v1/users", {**body, "username": "aud", "role": "auditor"}
    )
    assert (status, reply["error"]["code"]) == (422, "invalid_value")
    status, reply = await hall.call(
        None, "POST", "/api/v1/users", {**body, "username": "x2", "permissions": ["export.all"]}
    )
    assert status == 400
    _, listed = await hall.call(None, "GET", "/api/v1/users")
    perms = {u["username"]: u["permissions"] for u in listed["users"]}
    assert perms["both"] == ["export.approve", "export.review"] and perms["clerk"] == []
    entries = (await hall.call(None, "GET", "/api/v1/audit?action=user.update"))[1]["entries"]
    assert entries[-1]["detail"]["permissions"] == {
        "from": ["export.review"],
        "to": ["export.approve", "export.review"],
    }


def test_user_add_grants_permissions_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = surveil(
        "user",
        "add",
        "--data",
        str(data),
        "wang",
        "--role",
        "admin",
        "--permission",
        "export.approve",
        "--permission",
        "export.review",
        "--generate",
    )
    assert done.returncode == 0, done.stderr
    assert "granted export.approve, export.review" in done.stdout

    async def stored() -> tuple[str, ...]:
        db = await Database.open(f"sqlite+aiosqlite:///{data / 'index.sqlite3'}")
        try:
            async with db.read() as s:
                return (await get_user(s, "wang")).permissions
        finally:
            await db.close()

    assert asyncio.run(stored()) == ("export.approve", "export.review")
    auditor = surveil(
        "user", "add", "--data", str(data), "li", "--role", "auditor", "--permission",
        "export.review", "--generate",
    )  # fmt: skip
    assert auditor.returncode == 1 and "auditor" in auditor.stderr
    unknown = surveil(
        "user", "add", "--data", str(data), "zhao", "--role", "staff", "--permission", "x",
        "--generate",
    )  # fmt: skip
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
