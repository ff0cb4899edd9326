"""The storage lifecycle over the JSON API, on SQLite and PostgreSQL: volumes and retention
per camera, retention rules, the plan and manual passes, legal holds, and a receipt's case
lifecycle, with a real Lifecycle over the test database, real segment files and a fake
clock. Every change must be audited; a legal hold and an open case keep old footage from a
pass, their end lets it go.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession

from index import runs, segments
from index.audit import list_audit
from index.cameras import ensure_camera
from index.counters import ensure_counter, link_camera_counters
from index.db import Database
from index.records import AuditRecord
from index.tokens import create_token
from index.users import create_user
from surveil.accounts import new_token
from surveil.clock import FakeClock
from surveil.config import WebSettings, parse_config
from surveil.lifecycle import Lifecycle
from surveil.retention import DAY_US
from surveil.timefmt import iso_from_us
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from tests.rows import sealed_segment
from tests.test_accounts_api import MINUTE, PASSWORDS, SECOND, T0, digest_of
from web.app import create_app

SEG_US = 60 * SECOND
SIZE = 2048
RETAIN_DAYS = 30
ARCHIVE_DAYS = 10


def days_ago(n: float) -> int:
    return T0 - int(n * DAY_US)


def iso(us: int) -> str:
    return iso_from_us(us)


@dataclass
class Store:
    """A running app with a storage lifecycle over tmp_path/data: counters A01 and B02,
    cameras cam-a (A01) and cam-b (B02), users root (admin), clerk (staff, A01) and eve
    (auditor), and API tokens ops (admin), review (auditor), desk (staff)."""

    client: TestClient
    db: Database
    clock: FakeClock
    lifecycle: Lifecycle | None
    data_dir: Path
    tokens: dict[str, str]
    cameras: dict[str, int] = field(default_factory=dict)

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = "ops"
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        resp = await self.client.request(method, path, json=body, headers=headers)
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, payload

    async def audit(self, **kw: Any) -> list[AuditRecord]:
        async with self.db.read() as s:
            return await list_audit(s, limit=500, **kw)

    async def login(self, user: str) -> str:
        """Sign in with the form; the session's CSRF token."""
        resp = await form_login(self.client, user, PASSWORDS[user])
        assert resp.status == 303, await resp.text()
        page = await self.client.get("/lookup")
        return csrf_of(await page.text())

    async def footage(self, camera: str, starts: list[int]) -> list[int]:
        """One-minute sealed segments of camera starting at starts, with real files."""
        cam_id = self.cameras[camera]
        run_id = await self.db.write(lambda s: runs.start_run(s, cam_id, starts[0], "test"))
        ids = []
        for seq, start in enumerate(starts):
            rel = f"{camera}/{start}.mp4"
            body = os.urandom(SIZE)
            (self.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.data_dir / rel).write_bytes(body)
            row = replace(
                sealed_segment(cam_id, run_id, seq, rel, start, start + SEG_US),
                bytes=SIZE,
                sha256=hashlib.sha256(body).hexdigest(),
            )
            ids.append(await self.db.write(lambda s, row=row: segments.upsert_segment(s, row)))
        return ids

    def on_disk(self, camera: str, start: int) -> bool:
        return (self.data_dir / f"{camera}/{start}.mp4").exists()

    async def states(self, ids: list[int]) -> list[str]:
        async with self.db.read() as s:
            found = await segments.segments_by_ids(s, ids)
        return [found[i].state for i in ids]


async def _seed(s: AsyncSession) -> dict[str, int]:
    for code in ("A01", "B02"):
        await ensure_counter(s, code, f"Window {code}", "Hall", T0 - 90 * DAY_US)
    out = {}
    for name, code in (("cam-a", "A01"), ("cam-b", "B02")):
        cam = await ensure_camera(s, name, f"rtsp://h/{name}", [code], True, T0 - 90 * DAY_US)
        await link_camera_counters(s, cam.id, [code], T0 - 90 * DAY_US)
        out[name] = cam.id
    for user, role, counters in (("root", "admin", []), ("clerk", "staff", ["A01"])):
        await create_user(s, user, digest_of(PASSWORDS[user]), role, counters, T0 - MINUTE)
    await create_user(s, "eve", digest_of(PASSWORDS["eve"]), "auditor", [], T0 - MINUTE)
    return out


async def open_store(
    db: Database,
    tmp_path: Path,
    *,
    storage: dict[str, Any] | None = None,
    lifecycle: bool = True,
) -> Store:
    cameras = await db.write(_seed)
    tokens: dict[str, str] = {}
    for name, role in (("ops", "admin"), ("review", "auditor"), ("desk", "staff")):
        token, digest = new_token()
        tokens[name] = token
        await db.write(lambda s, n=name, r=role, d=digest: create_token(s, n, r, d, T0 - MINUTE))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    cfg = parse_config(
        {
            "data_dir": str(data_dir),
            "web": {"listen": "127.0.0.1:0"},
            "retention": {"retain_days": RETAIN_DAYS, "archive_retain_days": ARCHIVE_DAYS},
            "storage": storage or {},
        }
    )
    clock = FakeClock(T0)
    # Not started: no timers; a test reads the volumes (space.check) when it needs them.
    life = Lifecycle.configured(db, cfg, clock) if lifecycle else None
    settings = WebSettings(session_idle_us=30 * MINUTE, session_max_us=120 * MINUTE)
    app = create_app(db, NoStatus(), data_dir, clock, settings=settings, lifecycle=life)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Store(client, db, clock, life, data_dir, tokens, cameras)


@pytest.fixture
async def store(db: Database, tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(db, tmp_path)
    try:
        yield s
    finally:
        await s.client.close()


def _lifecycle(store: Store) -> Lifecycle:
    assert store.lifecycle is not None
    return store.lifecycle


# --- status ------------------------------------------------------------------------------


async def test_status_reports_volumes_footage_per_camera_and_the_last_pass(store: Store) -> None:
    await _lifecycle(store).space.check()
    await store.footage("cam-a", [days_ago(40), days_ago(2)])
    await store.footage("cam-b", [days_ago(3)])
    status, body = await store.call("GET", "/api/v1/storage", token="review")
    assert status == 200, body
    [main] = body["volumes"]
    assert main["name"] == "main" and main["path"] == str(store.data_dir)
    assert main["level"] in ("ok", "warn", "critical") and main["total_bytes"] > 0
    assert main["free_bytes"] + main["used_bytes"] == main["total_bytes"]
    cams = {c["camera"]: c for c in body["cameras"]}
    assert cams["cam-a"]["oldest_us"] == days_ago(40) and cams["cam-a"]["days_kept"] == 40.0
    assert (cams["cam-a"]["segments"], cams["cam-a"]["bytes"]) == (2, 2 * SIZE)
    assert (cams["cam-a"]["retain_days"], cams["cam-a"]["rule"]) == (RETAIN_DAYS, "config")
    assert cams["cam-b"]["days_kept"] == 3.0
    assert body["last_pass"] is None and body["deleted_segments"] == 0
    assert (body["retain_days"], body["archive_retain_days"]) == (RETAIN_DAYS, ARCHIVE_DAYS)
    assert body["legal_holds"] == 0 and body["require_central"] is False
    assert body["now_us"] == T0 and body["now"] == iso(T0)

    status, run = await store.call("POST", "/api/v1/retention/passes")
    assert status == 201 and (run["trigger"], run["deleted"], run["bytes"]) == (
        "manual",
        1,
        SIZE,
    )
    _, body = await store.call("GET", "/api/v1/storage")
    assert body["last_pass"]["id"] == run["id"] and body["deleted_segments"] == 1
    assert body["deleted_bytes"] == SIZE
    assert {c["camera"]: c["days_kept"] for c in body["cameras"]} == {"cam-a": 2.0, "cam-b": 3.0}
    assert (await store.call("GET", "/api/v1/storage", token="desk"))[0] == 403
    assert (await store.call("GET", "/api/v1/storage", token=None))[0] == 401


async def test_without_the_lifecycle_its_endpoints_answer_503(db: Database, tmp_path: Path) -> None:
    store = await open_store(db, tmp_path, lifecycle=False)
    try:
        calls = [
            ("GET", "/api/v1/storage", None),
            ("GET", "/api/v1/retention/rules", None),
            ("PUT", "/api/v1/retention/rules/installation", {"retain_days": 10}),
            ("DELETE", "/api/v1/retention/rules/counters/A01", None),
            ("GET", "/api/v1/retention/plan", None),
            ("GET", "/api/v1/retention/passes", None),
            ("POST", "/api/v1/retention/passes", None),
            ("GET", "/api/v1/holds", None),
            ("POST", "/api/v1/holds", {"cameras": ["cam-a"], "start": iso(T0), "reason": "x"}),
            ("POST", "/api/v1/holds/1/release", {"reason": "x"}),
        ]
        for method, path, body in calls:
            status, reply = await store.call(method, path, body)
            assert (status, reply["error"]["code"]) == (503, "lifecycle_unavailable"), path
        await store.call(
            "POST",
            "/api/v1/receipts",
            {"receipt_no": "R-1", "counter": "A01", "accepted_at": iso(days_ago(1))},
        )
        status, reply = await store.call(
            "POST", "/api/v1/receipts/R-1/case", {"state": "closed", "at": iso(T0)}
        )
        assert (status, reply["error"]["code"]) == (503, "lifecycle_unavailable")
    finally:
        await store.client.close()


# --- rules ---------------------------------------------------------------------------------


async def test_rules_are_set_listed_applied_and_removed_with_audit(store: Store) -> None:
    rules = "/api/v1/retention/rules"
    status, body = await store.call("PUT", f"{rules}/installation", {"retain_days": 60})
    assert status == 200, body
    assert (body["scope"], body["ref"], body["retain_days"], body["updated_by"]) == (
        "installation",
        "",
        60,
        "ops",
    )
    assert (await store.call("PUT", f"{rules}/counters/A01", {"retain_days": 90}))[0] == 200
    # A JSON integer may be written 7.0 (JSON Schema counts it as one).
    assert (await store.call("PUT", f"{rules}/cameras/cam-b", {"retain_days": 7.0}))[0] == 200
    assert (await store.call("PUT", f"{rules}/counters/A01", {"retain_days": 120}))[0] == 200
    status, body = await store.call("GET", rules, token="review")
    assert status == 200
    assert (body["retain_days"], body["archive_retain_days"]) == (RETAIN_DAYS, ARCHIVE_DAYS)
    assert [(r["scope"], r["ref"], r["retain_days"]) for r in body["rules"]] == [
        ("camera", "cam-b", 7),
        ("counter", "A01", 120),
        ("installation", "", 60),
    ]
    assert {c["camera"]: (c["retain_days"], c["rule"]) for c in body["cameras"]} == {
        "cam-a": (120, "counter A01"),
        "cam-b": (7, "camera cam-b"),
    }
    assert (await store.call("DELETE", f"{rules}/cameras/cam-b"))[0] == 204
    status, body = await store.call("DELETE", f"{rules}/cameras/cam-b")
    assert (status, body["error"]["code"]) == (404, "retention_rule_not_found")
    _, body = await store.call("GET", rules)
    assert {c["camera"]: c["rule"] for c in body["cameras"]}["cam-b"] == "installation"
    assert (await store.call("DELETE", f"{rules}/installation"))[0] == 204
    assert (await store.call("DELETE", f"{rules}/counters/A01"))[0] == 204
    _, body = await store.call("GET", rules)
    assert body["rules"] == [] and {c["rule"] for c in body["cameras"]} == {"config"}

    set_entries = await store.audit(action="retention.rule_set")
    assert [(e.target, e.detail["retain_days"], e.detail["was"]) for e in set_entries] == [
        ("counter A01", 120, 90),
        ("camera cam-b", 7, None),
        ("counter A01", 90, None),
        ("installation", 60, None),
    ]
    assert all((e.actor, e.actor_kind, e.outcome) == ("ops", "token", "ok") for e in set_entries)
    removed = await store.audit(action="retention.rule_removed")
    assert [(e.target, e.detail["was"]) for e in removed] == [
        ("counter A01", 120),
        ("installation", 60),
        ("camera cam-b", 7),
    ]


RULE_REFUSALS: list[tuple[str, str, Any, int, str]] = [
    ("PUT", "installation", {"retain_days": 0}, 400, "bad_request"),
    ("PUT", "installation", {"retain_days": 36_501}, 400, "bad_request"),
    ("PUT", "installation", {"retain_days": "30"}, 400, "bad_request"),
    ("PUT", "installation", {"retain_days": 30.5}, 400, "bad_request"),
    ("PUT", "installation", {}, 400, "bad_request"),
    ("PUT", "installation", {"retain_days": 30, "ref": "A01"}, 400, "bad_request"),
    ("PUT", "counters/Z99", {"retain_days": 30}, 404, "counter_not_found"),
    ("PUT", "counters/A 1", {"retain_days": 30}, 400, "bad_request"),
    ("PUT", "cameras/nope", {"retain_days": 30}, 404, "camera_not_found"),
    ("PUT", "cameras/Cam-A", {"retain_days": 30}, 400, "bad_request"),
    ("DELETE", "counters/A01", None, 404, "retention_rule_not_found"),
    ("DELETE", "installation", None, 404, "retention_rule_not_found"),
]


async def test_rule_refusals(store: Store) -> None:
    for method, path, body, status, code in RULE_REFUSALS:
        got, reply = await store.call(method, f"/api/v1/retention/rules/{path}", body)
        assert (got, reply["error"]["code"]) == (status, code), (path, body, reply)
    # Reading is oversight, changing is admin work.
    body = {"retain_days": 5}
    assert (await store.call("PUT", "/api/v1/retention/rules/installation", body, "review"))[
        0
    ] == 403
    assert (await store.call("GET", "/api/v1/retention/rules", token="desk"))[0] == 403
    assert await store.audit(action="retention.rule") == []


# --- holds and passes ------------------------------------------------------------------------


async def test_a_legal_hold_keeps_old_footage_from_a_manual_pass_and_its_release_lets_it_go(
    store: Store,
) -> None:
    held = [days_ago(40), days_ago(39)]
    old_a = await store.footage("cam-a", [*held, days_ago(35), days_ago(1)])
    old_b = await store.footage("cam-b", [days_ago(50)])
    status, body = await store.call(
        "POST",
        "/api/v1/holds",
        {
            "cameras": ["cam-a"],
            "start": iso(days_ago(41)),
            "end": iso(days_ago(38)),
            "reason": "  court order 2026-17  ",
        },
    )
    assert status == 201, body
    [hold] = body["holds"]
    assert (hold["kind"], hold["camera"], hold["reason"], hold["active"]) == (
        "legal",
        "cam-a",
        "court order 2026-17",
        True,
    )
    assert (hold["start_us"], hold["end_us"], hold["created_by"]) == (
        days_ago(41),
        days_ago(38),
        "ops",
    )
    # The plan says what a pass would delete, and why the rest stays; it deletes nothing.
    status, plan = await store.call("GET", "/api/v1/retention/plan", token="review")
    assert status == 200
    by_cam = {c["camera"]: c for c in plan["cameras"]}
    assert (by_cam["cam-a"]["eligible"], by_cam["cam-a"]["kept"]) == (
        1,
        {"held": {"segments": 2, "bytes": 2 * SIZE}},
    )
    assert by_cam["cam-b"]["eligible"] == 1 and plan["eligible"] == 2
    assert by_cam["cam-a"]["cutoff_us"] == T0 - RETAIN_DAYS * DAY_US
    assert [(f["segment"]["id"], f["reason"]) for f in plan["first"]] == [
        (old_b[0], f"older than {RETAIN_DAYS} days (config)"),
        (old_a[2], f"older than {RETAIN_DAYS} days (config)"),
    ]
    status, plan = await store.call("GET", "/api/v1/retention/plan?limit=1")
    assert status == 200 and len(plan["first"]) == 1 and plan["eligible"] == 2
    assert await store.states([*old_a, *old_b]) == ["sealed"] * 5

    status, run = await store.call("POST", "/api/v1/retention/passes")
    assert status == 201 and (run["deleted"], run["bytes"]) == (2, 2 * SIZE)
    assert run["finished_us"] == T0 and run["summary"]["trigger"] == "manual"
    assert await store.states([*old_a, *old_b]) == [
        "sealed",
        "sealed",
        "deleted",
        "sealed",
        "deleted",
    ]
    assert all(store.on_disk("cam-a", t) for t in held)
    assert not store.on_disk("cam-a", days_ago(35)) and not store.on_disk("cam-b", days_ago(50))

    status, listed = await store.call("GET", "/api/v1/holds?kind=legal&active=true", token="review")
    assert status == 200 and [h["id"] for h in listed["holds"]] == [hold["id"]]
    status, listed = await store.call("GET", "/api/v1/holds?active=false")
    assert listed["holds"] == []
    # Released with a reason: it stays on record, no longer protecting.
    status, released = await store.call(
        "POST", f"/api/v1/holds/{hold['id']}/release", {"reason": "case closed by the court"}
    )
    assert status == 200, released
    assert (released["active"], released["released_by"], released["release_reason"]) == (
        False,
        "ops",
        "case closed by the court",
    )
    assert released["released_us"] == T0
    status, again = await store.call(
        "POST", f"/api/v1/holds/{hold['id']}/release", {"reason": "twice"}
    )
    assert (status, again["error"]["code"]) == (409, "conflict")
    _, listed = await store.call("GET", "/api/v1/holds?active=false&camera=cam-a")
    assert [h["id"] for h in listed["holds"]] == [hold["id"]]
    _, listed = await store.call("GET", "/api/v1/holds?active=true")
    assert listed["holds"] == []

    status, run2 = await store.call("POST", "/api/v1/retention/passes")
    assert status == 201 and run2["deleted"] == 2
    assert not any(store.on_disk("cam-a", t) for t in held)
    assert store.on_disk("cam-a", days_ago(1))
    _, passes = await store.call("GET", "/api/v1/retention/passes?limit=5", token="review")
    assert [p["id"] for p in passes["passes"]] == [run2["id"], run["id"]]

    [placed] = await store.audit(action="hold.place")
    assert (placed.actor, placed.target) == ("ops", f"hold {hold['id']}")
    assert placed.detail["camera"] == "cam-a" and placed.detail["reason"] == "court order 2026-17"
    [rel] = await store.audit(action="hold.release")
    assert rel.detail["release_reason"] == "case closed by the court" and rel.actor == "ops"
    assert len(await store.audit(action="hold.release", outcome="ok")) == 1
    assert [e.actor for e in await store.audit(action="retention.run")] == ["ops", "ops"]
    passes_audit = await store.audit(action="retention.pass")
    assert [e.detail["deleted"] for e in passes_audit] == [2, 2]


async def test_holds_are_listed_newest_first_in_pages_and_placed_all_or_none(store: Store) -> None:
    ids = []
    for n in range(3):
        body = {"cameras": ["cam-a", "cam-b"], "start": iso(days_ago(10 - n)), "reason": f"r{n}"}
        status, placed = await store.call("POST", "/api/v1/holds", body)
        assert status == 201 and [h["camera"] for h in placed["holds"]] == ["cam-a", "cam-b"]
        assert all(h["end"] is None for h in placed["holds"])
        ids += [h["id"] for h in placed["holds"]]
    _, page = await store.call("GET", "/api/v1/holds?limit=4", token="review")
    assert [h["id"] for h in page["holds"]] == ids[::-1][:4]
    assert page["next_before"] == ids[2]
    _, rest = await store.call("GET", f"/api/v1/holds?limit=4&before={page['next_before']}")
    assert [h["id"] for h in rest["holds"]] == ids[1::-1] and rest["next_before"] is None
    _, cam_b = await store.call("GET", "/api/v1/holds?camera=cam-b&kind=legal")
    assert [h["id"] for h in cam_b["holds"]] == ids[::-2]
    _, none = await store.call("GET", "/api/v1/holds?kind=export")
    assert none["holds"] == []
    # One unknown camera: nothing is placed, not even on the others.
    body = {"cameras": ["cam-a", "nope"], "start": iso(days_ago(1)), "reason": "x"}
    status, reply = await store.call("POST", "/api/v1/holds", body)
    assert (status, reply["error"]["code"]) == (404, "camera_not_found")
    _, all_holds = await store.call("GET", "/api/v1/holds")
    assert len(all_holds["holds"]) == 6
    assert len(await store.audit(action="hold.place")) == 6


HOLD_REFUSALS: list[tuple[dict[str, Any], int, str]] = [
    ({"cameras": [], "start": "S", "reason": "x"}, 400, "'cameras'"),
    ({"cameras": ["cam-a"], "reason": "x"}, 400, "'start'"),
    ({"cameras": ["cam-a"], "start": "2026-11-20T00:00:00", "reason": "x"}, 400, "'start'"),
    ({"cameras": ["cam-a"], "start": "S", "end": "S", "reason": "x"}, 422, "'end'"),
    ({"cameras": ["cam-a"], "start": "9999-12-31T23:00:00-23:00", "reason": "x"}, 422, "'start'"),
    ({"cameras": ["cam-a"], "start": "S", "reason": ""}, 400, "'reason'"),
    ({"cameras": ["cam-a"], "start": "S", "reason": " \u3000 "}, 400, "'reason'"),
    ({"cameras": ["cam-a"], "start": "S", "reason": "a\nb"}, 400, "'reason'"),
    ({"cameras": ["cam-a"], "start": "S", "reason": "x" * 201}, 400, "'reason'"),
    ({"cameras": ["Cam A"], "start": "S", "reason": "x"}, 400, "'cameras[0]'"),
    ({"cameras": ["cam-a"], "start": "S", "reason": "x", "kind": "x"}, 400, "'kind'"),
]


async def test_hold_refusals_name_the_field(store: Store) -> None:
    for raw, status, where in HOLD_REFUSALS:
        body = {k: iso(days_ago(1)) if v == "S" else v for k, v in raw.items()}
        got, reply = await store.call("POST", "/api/v1/holds", body)
        assert got == status and where in reply["error"]["message"], (raw, reply)
        assert reply["error"]["code"] == ("invalid_value" if status == 422 else "bad_request")
    body = {"cameras": ["cam-a"], "start": iso(days_ago(1)), "reason": "x"}
    assert (await store.call("POST", "/api/v1/holds", body, token="review"))[0] == 403
    assert await store.audit(action="hold.place") == []


async def test_release_and_list_refusals(store: Store) -> None:
    status, reply = await store.call("POST", "/api/v1/holds/999/release", {"reason": "x"})
    assert (status, reply["error"]["code"]) == (404, "hold_not_found")
    for bad in ({}, {"reason": "  "}, {"reason": "x", "why": "y"}):
        assert (await store.call("POST", "/api/v1/holds/1/release", bad))[0] == 400
    # A receipt's hold ends with its case, never by hand.
    body = {"receipt_no": "R-1", "counter": "A01", "accepted_at": iso(days_ago(1))}
    assert (await store.call("POST", "/api/v1/receipts", body, token="desk"))[0] == 201
    _, receipt_holds = await store.call("GET", "/api/v1/holds?kind=receipt")
    [receipt_hold] = receipt_holds["holds"]
    assert receipt_hold["camera"] == "cam-a" and receipt_hold["active"] is True
    status, reply = await store.call(
        "POST", f"/api/v1/holds/{receipt_hold['id']}/release", {"reason": "x"}
    )
    assert (status, reply["error"]["code"]) == (409, "conflict")
    for query in ("limit=0", "limit=1001", "kind=court", "active=maybe", "before=0", "color=red"):
        status, reply = await store.call("GET", f"/api/v1/holds?{query}")
        assert (status, reply["error"]["code"]) == (400, "bad_request"), query
    status, reply = await store.call("GET", "/api/v1/holds?camera=nope")
    assert (status, reply["error"]["code"]) == (404, "camera_not_found")
    for path in ("/api/v1/retention/plan?limit=0", "/api/v1/retention/passes?limit=101"):
        assert (await store.call("GET", path))[0] == 400, path
    assert (await store.call("POST", "/api/v1/retention/passes", token="review"))[0] == 403
    assert await store.audit(action="hold.release") == []


# --- the case lifecycle ------------------------------------------------------------------------


async def test_archiving_a_case_makes_its_holds_expire_and_its_footage_go(store: Store) -> None:
    accepted = days_ago(40)
    ids = await store.footage("cam-a", [accepted])
    receipt = {
        "receipt_no": "R-7",
        "counter": "A01",
        "accepted_at": iso(accepted + 10 * SECOND),
        "completed_at": iso(accepted + 40 * SECOND),
    }
    assert (await store.call("POST", "/api/v1/receipts", receipt, token="desk"))[0] == 201
    status, got = await store.call("GET", "/api/v1/receipts/R-7", token="review")
    assert (got["case_state"], got["case_closed_at"], got["case_archived_us"]) == (
        "open",
        None,
        None,
    )
    [hold] = got["holds"]
    assert (hold["kind"], hold["expires"], hold["released"], hold["active"]) == (
        "receipt",
        None,
        None,
        True,
    )
    assert (await store.call("POST", "/api/v1/retention/passes"))[1]["deleted"] == 0

    case = "/api/v1/receipts/R-7/case"
    closed_at = days_ago(30)
    status, body = await store.call("POST", case, {"state": "closed", "at": iso(closed_at)}, "desk")
    assert status == 200, body
    assert (body["case_state"], body["case_closed_us"], body["case_archived_at"]) == (
        "closed",
        closed_at,
        None,
    )
    # The same again changes nothing; another time, or a step back, is a conflict.
    same = await store.call("POST", case, {"state": "closed", "at": iso(closed_at)})
    assert same[0] == 200 and same[1]["updated"] == body["updated"]
    other = await store.call("POST", case, {"state": "closed", "at": iso(closed_at + SECOND)})
    assert (other[0], other[1]["error"]["code"]) == (409, "conflict")
    for at, why in (
        (accepted - DAY_US, "acceptance"),
        (T0 + DAY_US, "future"),
        (closed_at - SECOND, "closed"),
    ):
        status, reply = await store.call("POST", case, {"state": "archived", "at": iso(at)})
        assert (status, reply["error"]["code"]) == (422, "invalid_value"), why
        assert why in reply["error"]["message"]
    archived_at = days_ago(5)
    status, body = await store.call("POST", case, {"state": "archived", "at": iso(archived_at)})
    assert status == 200 and body["case_state"] == "archived"
    assert body["case_archived_us"] == archived_at and body["case_closed_us"] == closed_at
    back = await store.call("POST", case, {"state": "closed", "at": iso(closed_at + 1)})
    assert (back[0], back[1]["error"]["code"]) == (409, "conflict")

    expires = archived_at + ARCHIVE_DAYS * DAY_US
    _, got = await store.call("GET", "/api/v1/receipts/R-7")
    assert [(h["expires_us"], h["active"]) for h in got["holds"]] == [(expires, True)]
    assert got["holds"][0]["expires"] == iso(expires)
    assert (await store.call("POST", "/api/v1/retention/passes"))[1]["deleted"] == 0
    assert await store.states(ids) == ["sealed"]
    store.clock.advance(expires - T0 + SECOND)  # the archive period is over
    _, got = await store.call("GET", "/api/v1/receipts/R-7")
    assert got["holds"][0]["active"] is False
    run = (await store.call("POST", "/api/v1/retention/passes"))[1]
    assert run["deleted"] == 1 and await store.states(ids) == ["deleted"]
    entries = await store.audit(action="receipt.case")
    assert [(e.action, e.actor, e.outcome, e.detail["changed"]) for e in entries] == [
        ("receipt.case_archived", "ops", "ok", True),
        ("receipt.case_closed", "ops", "ok", False),
        ("receipt.case_closed", "desk", "ok", True),
    ]
    assert entries[0].detail["hold_expires_us"] == expires and entries[0].target == "R-7"


async def test_case_refusals_and_staff_scope(store: Store) -> None:
    for no, code in (("R-A", "A01"), ("R-B", "B02")):
        body = {"receipt_no": no, "counter": code, "accepted_at": iso(days_ago(1))}
        assert (await store.call("POST", "/api/v1/receipts", body, token="desk"))[0] == 201
    at = iso(T0 - SECOND)
    for bad in (
        {"state": "open", "at": at},
        {"state": "closed"},
        {"at": at},
        {"state": "closed", "at": "yesterday"},
        {"state": "closed", "at": at, "x": 1},
    ):
        status, reply = await store.call("POST", "/api/v1/receipts/R-A/case", bad)
        assert (status, reply["error"]["code"]) == (400, "bad_request"), bad
    status, reply = await store.call(
        "POST", "/api/v1/receipts/R-9/case", {"state": "closed", "at": at}
    )
    assert (status, reply["error"]["code"]) == (404, "receipt_not_found")
    assert (
        await store.call(
            "POST", "/api/v1/receipts/R-A/case", {"state": "closed", "at": at}, token="review"
        )
    )[0] == 403
    # A staff account only for its counters (clerk: A01), as completing.
    csrf = await store.login("clerk")
    headers = {"X-CSRF-Token": csrf}
    for no, expected in (("R-B", 403), ("R-A", 200)):
        resp = await store.client.post(
            f"/api/v1/receipts/{no}/case", json={"state": "archived", "at": at}, headers=headers
        )
        assert resp.status == expected, await resp.text()
    body = await resp.json()
    assert body["case_state"] == "archived" and body["case_closed_at"] == body["case_archived_at"]
    [entry] = await store.audit(action="receipt.case_archived")
    assert (entry.actor, entry.actor_kind, entry.target) == ("clerk", "user", "R-A")
