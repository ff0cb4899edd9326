"""The users, API tokens and audit log API, on SQLite and PostgreSQL.

Most requests use an admin API token (no CSRF, no argon2 verification per request);
sessions are used where the behaviour is about sessions. Argon2 hashing costs ~0.15 s,
so the tests create few accounts.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import add_audit, list_audit
from index.counters import ensure_counter
from index.db import Database
from index.models import WebSession
from index.records import AuditIn, AuditRecord
from index.tokens import create_token
from index.users import create_user
from surveil.accounts import new_token, token_hash
from surveil.clock import FakeClock
from surveil.config import WebSettings
from surveil.passwords import hash_password
from surveil.timefmt import us_from_iso
from tests.forms import csrf_of, form_login
from tests.harness import NoStatus
from web.app import create_app

T0 = us_from_iso("2026-11-26T02:00:00+00:00")  # 10:00 in Asia/Shanghai
SECOND = 1_000_000
MINUTE = 60 * SECOND
PASSWORDS = {"root": "admin-password-1", "clerk": "staff-password-1", "eve": "audit-password-1"}
NEW_PASSWORD = "Fresh-Secret-Pw-42"


@dataclass
class Hall:
    """A running app with counters A01/B02, users root (admin), clerk (staff, A01) and
    eve (auditor), and API tokens: admin 'ops', auditor 'review', staff 'desk'."""

    client: TestClient
    db: Database
    clock: FakeClock
    tokens: dict[str, str]

    def auth(self, name: str = "ops") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = "ops"
    ) -> tuple[int, Any]:
        headers = self.auth(token) if token else {}
        resp = await self.client.request(method, path, json=body, headers=headers)
        payload = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, payload

    async def raw(self, path: str, token: str = "ops") -> str:
        resp = await self.client.get(path, headers=self.auth(token))
        assert resp.status == 200, await resp.text()
        return await resp.text()

    async def login(self, user: str, password: str | None = None) -> int:
        secret = PASSWORDS[user] if password is None else password
        return int((await form_login(self.client, user, secret)).status)

    async def audit(self, **kw: Any) -> list[AuditRecord]:
        async with self.db.read() as s:
            return await list_audit(s, **kw)

    async def signed_in(self) -> bool:
        resp = await self.client.get("/lookup", allow_redirects=False)
        return resp.status == 200


@functools.cache
def digest_of(password: str) -> str:
    """argon2 costs ~0.15 s: hash each fixture password once per test run."""
    return hash_password(password)


async def open_hall(db: Database, tmp_path: Path) -> Hall:
    async def seed(s: AsyncSession) -> None:
        await ensure_counter(s, "A01", "Window 1", "Hall", T0 - 3600 * SECOND)
        await ensure_counter(s, "B02", "Window 2", "Hall", T0 - 3600 * SECOND)

        for user, role, counters in (
            ("root", "admin", []),
            ("clerk", "staff", ["A01"]),
            ("eve", "auditor", []),
        ):
            digest = digest_of(PASSWORDS[user])
            await create_user(s, user, digest, role, counters, T0 - 3600 * SECOND)

    await db.write(seed)
    tokens: dict[str, str] = {}
    for name, role in (("ops", "admin"), ("review", "auditor"), ("desk", "staff")):
        token, digest = new_token()
        tokens[name] = token
        await db.write(
            lambda s, n=name, r=role, d=digest: create_token(s, n, r, d, T0 - 3600 * SECOND)
        )
    clock = FakeClock(T0)
    settings = WebSettings(session_idle_us=30 * MINUTE, session_max_us=120 * MINUTE)
    app = create_app(db, NoStatus(), tmp_path, clock, settings=settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    return Hall(client, db, clock, tokens)


@pytest.fixture
async def hall(db: Database, tmp_path: Path) -> AsyncIterator[Hall]:
    h = await open_hall(db, tmp_path)
    try:
        yield h
    finally:
        await h.client.close()


USER_KEYS = {
    "username",
    "role",
    "counters",
    "permissions",
    "active",
    "created",
    "created_us",
    "disabled",
    "disabled_us",
    "last_login",
    "last_login_us",
}


# --- users -----------------------------------------------------------------------------


async def test_create_list_and_get_users(hall: Hall) -> None:
    status, body = await hall.call(
        "POST",
        "/api/v1/users",
        {"username": "amy", "password": NEW_PASSWORD, "role": "staff", "counters": ["B02"]},
    )
    assert status == 201, body
    assert set(body) == USER_KEYS
    assert (body["username"], body["role"], body["counters"], body["active"]) == (
        "amy",
        "staff",
        ["B02"],
        True,
    )
    assert body["created_us"] == T0 and body["last_login"] is None
    status, body = await hall.call("GET", "/api/v1/users")
    assert status == 200
    assert [u["username"] for u in body["users"]] == ["amy", "clerk", "eve", "root"]
    assert all(set(u) == USER_KEYS for u in body["users"])
    status, body = await hall.call("GET", "/api/v1/users/clerk")
    assert status == 200 and body["counters"] == ["A01"] and body["role"] == "staff"
    status, body = await hall.call("GET", "/api/v1/users/nobody")
    assert status == 404 and body["error"]["code"] == "user_not_found"
    [entry] = await hall.audit(action="user.create", actor="ops")
    assert (entry.actor_kind, entry.target, entry.outcome) == ("token", "amy", "ok")
    assert entry.detail == {"role": "staff", "counters": ["B02"]}
    # The new account can sign in.
    assert await hall.login("amy", NEW_PASSWORD) == 303


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        # The schema's rules (400, naming the field): length, type, pattern, enum, keys.
        ({"password": "short-1"}, 400, "bad_request", "at least 10 characters"),
        ({"password": "x" * 257}, 400, "bad_request", "at most 256 characters"),
        ({"password": None}, 400, "bad_request", "'password'"),
        ({"role": "boss"}, 400, "bad_request", "'role'"),
        ({"username": "no spaces"}, 400, "bad_request", "'username'"),
        ({"counters": "A01"}, 400, "bad_request", "'counters'"),
        ({"counters": ["A 01"]}, 400, "bad_request", "'counters[0]'"),
        ({"counters": ["A01"] * 257}, 400, "bad_request", "'counters'"),
        ({"colour": "red"}, 400, "bad_request", "unknown body field 'colour'"),
        # The password rule beyond its length, which no schema states: 422.
        (
            {"username": "amelia", "password": "my-name-is-amelia"},
            422,
            "password_rejected",
            "user name",
        ),
        # Blanks at either end: the document's pattern says it (every str.isspace blank).
        (
            {"password": " padded-password "},
            400,
            "bad_request",
            "without white space at either end",
        ),
        ({"password": "padded-password\u3000"}, 400, "bad_request", "white space"),
        ({"username": "clerk"}, 409, "conflict", "already exists"),
        ({"counters": ["Z99"]}, 404, "counter_not_found", "Z99"),
    ],
)
async def test_create_user_refusals(
    hall: Hall, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    request = {"username": "amy", "password": NEW_PASSWORD, "role": "staff", **body}
    got, answer = await hall.call("POST", "/api/v1/users", request)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert message in answer["error"]["message"]
    assert await hall.audit(action="user.", actor="ops") == []
    _, listing = await hall.call("GET", "/api/v1/users")
    assert "amy" not in [u["username"] for u in listing["users"]]


async def test_patch_role_and_counters_is_audited_once_per_change(hall: Hall) -> None:
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"counters": ["B02", "A01"]})
    assert status == 200, body
    assert body["counters"] == ["A01", "B02"] and body["role"] == "staff"
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"counters": ["A01", "B02"]})
    assert status == 200  # the same values again: no change, no audit row
    status, body = await hall.call("PATCH", "/api/v1/users/eve", {"role": "staff"})
    assert status == 200 and body["role"] == "staff"
    entries = await hall.audit(action="user.update")
    assert [(e.target, e.detail) for e in entries] == [
        ("eve", {"role": {"from": "auditor", "to": "staff"}}),
        ("clerk", {"counters": {"from": ["A01"], "to": ["A01", "B02"]}}),
    ]
    assert all((e.actor, e.actor_kind) == ("ops", "token") for e in entries)


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/users/clerk", {}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"role": "boss"}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"role": None}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"counters": None}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"counters": ["A01"] * 257}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"disabled": "yes"}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"username": "x"}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"password": "short"}, 400, "bad_request"),
        ("/api/v1/users/no%20such", {"role": "staff"}, 400, "bad_request"),
        ("/api/v1/users/clerk", {"counters": ["Z99"]}, 404, "counter_not_found"),
        ("/api/v1/users/clerk", {"password": "Clerk-password-1"}, 422, "password_rejected"),
        ("/api/v1/users/nobody", {"role": "staff"}, 404, "user_not_found"),
    ],
)
async def test_patch_refusals_change_nothing(
    hall: Hall, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    got, answer = await hall.call("PATCH", path, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    _, clerk = await hall.call("GET", "/api/v1/users/clerk")
    assert (clerk["role"], clerk["counters"], clerk["active"]) == ("staff", ["A01"], True)
    assert await hall.audit(action="user.", actor="ops") == []


async def test_last_active_admin_cannot_be_demoted_or_disabled(hall: Hall) -> None:
    for change in ({"role": "staff"}, {"disabled": True}):
        status, body = await hall.call("PATCH", "/api/v1/users/root", change)
        assert status == 409, body
        assert body["error"]["code"] == "last_admin"
        assert "last active admin" in body["error"]["message"]
    # With a second admin, root may step down; then clerk is the last one.
    assert (await hall.call("PATCH", "/api/v1/users/clerk", {"role": "admin"}))[0] == 200
    assert (await hall.call("PATCH", "/api/v1/users/root", {"role": "auditor"}))[0] == 200
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"disabled": True})
    assert status == 409 and "'clerk' is the last active admin" in body["error"]["message"]
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"role": "staff"})
    assert status == 409
    _, clerk = await hall.call("GET", "/api/v1/users/clerk")
    assert (clerk["role"], clerk["active"]) == ("admin", True)


async def test_an_admin_cannot_disable_their_own_account(hall: Hall) -> None:
    # Another admin exists, so only the self rule can refuse this.
    assert (await hall.call("PATCH", "/api/v1/users/eve", {"role": "admin"}))[0] == 200
    assert await hall.login("root") == 303
    csrf = csrf_of(await (await hall.client.get("/lookup")).text())
    resp = await hall.client.patch("/api/v1/users/root", json={"disabled": True})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf"
    resp = await hall.client.patch(
        "/api/v1/users/root", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
    )
    body = await resp.json()
    assert resp.status == 409 and "your own account" in body["error"]["message"]
    assert body["error"]["code"] == "self_disable"
    # The same admin may disable someone else through their session.
    resp = await hall.client.patch(
        "/api/v1/users/eve", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200
    [entry] = await hall.audit(action="user.disable")
    assert (entry.actor, entry.actor_kind, entry.target) == ("root", "user", "eve")


async def test_disabling_ends_sessions_and_refuses_login_until_enabled(hall: Hall) -> None:
    assert await hall.login("clerk") == 303
    assert await hall.signed_in()
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"disabled": True})
    assert status == 200 and body["active"] is False and body["disabled_us"] == T0
    # Ended by the change itself, not only refused at the session's next request.
    async with hall.db.read() as s:
        ends = list((await s.execute(select(WebSession.end_reason, WebSession.ended_us))).all())
    assert [tuple(e) for e in ends] == [("disabled", T0)]
    assert not await hall.signed_in()
    assert await hall.login("clerk") == 401
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"disabled": False})
    assert status == 200 and body["active"] is True
    assert await hall.login("clerk") == 303
    actions = [e.action for e in await hall.audit(actor="ops")]
    assert actions == ["user.enable", "user.disable"]


async def test_new_password_ends_sessions_and_only_it_signs_in(hall: Hall) -> None:
    assert await hall.login("clerk") == 303
    status, body = await hall.call("PATCH", "/api/v1/users/clerk", {"password": NEW_PASSWORD})
    assert status == 200, body
    assert not await hall.signed_in()
    async with hall.db.read() as s:
        reasons = list((await s.execute(select(WebSession.end_reason))).scalars())
    assert reasons == ["password changed"]
    assert await hall.login("clerk") == 401
    assert await hall.login("clerk", NEW_PASSWORD) == 303
    [entry] = await hall.audit(action="user.password")
    assert (entry.actor, entry.target, entry.detail) == ("ops", "clerk", {})


# --- tokens --------------------------------------------------------------------------------


TOKEN_KEYS = {
    "id",
    "name",
    "role",
    "active",
    "created",
    "created_us",
    "last_used",
    "last_used_us",
    "revoked",
    "revoked_us",
}


async def test_token_create_use_list_and_revoke(hall: Hall) -> None:
    status, body = await hall.call(
        "POST", "/api/v1/tokens", {"name": "acceptance system", "role": "staff"}
    )
    assert status == 201, body
    secret = body.pop("token")
    assert set(body) == TOKEN_KEYS and body["active"] is True and body["role"] == "staff"
    token_id = body["id"]
    hall.tokens["new"] = secret
    assert (await hall.call("GET", "/api/v1/counters", token="new"))[0] == 200
    listing = await hall.raw("/api/v1/tokens")
    assert secret not in listing and token_hash(secret) not in listing
    _, tokens = await hall.call("GET", "/api/v1/tokens")
    assert [t["name"] for t in tokens["tokens"]] == ["ops", "review", "desk", "acceptance system"]
    assert all(set(t) == TOKEN_KEYS for t in tokens["tokens"])

    hall.clock.advance(MINUTE)
    status, body = await hall.call("DELETE", f"/api/v1/tokens/{token_id}")
    assert status == 200 and body["active"] is False and body["revoked_us"] == T0 + MINUTE
    status, body = await hall.call("GET", "/api/v1/counters", token="new")
    assert status == 401
    # Revoking again keeps the first time and writes no second row; the row stays listed.
    hall.clock.advance(MINUTE)
    status, body = await hall.call("DELETE", f"/api/v1/tokens/{token_id}")
    assert status == 200 and body["revoked_us"] == T0 + MINUTE
    _, tokens = await hall.call("GET", "/api/v1/tokens")
    assert len(tokens["tokens"]) == 4
    entries = await hall.audit(action="token.", actor="ops")
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("token.revoke", "acceptance system", {"id": token_id, "role": "staff"}),
        ("token.create", "acceptance system", {"id": token_id, "role": "staff"}),
    ]


async def test_a_token_name_is_stored_without_the_blanks_around_it(hall: Hall) -> None:
    status, body = await hall.call("POST", "/api/v1/tokens", {"name": "  desk 2 ", "role": "staff"})
    assert status == 201, body
    assert body["name"] == "desk 2"
    [entry] = await hall.audit(action="token.create")
    assert entry.target == "desk 2"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/api/v1/tokens", {"name": "x", "role": "root"}, 400, "bad_request"),
        ("POST", "/api/v1/tokens", {"name": "", "role": "staff"}, 400, "bad_request"),
        ("POST", "/api/v1/tokens", {"name": "a\nb", "role": "staff"}, 400, "bad_request"),
        ("POST", "/api/v1/tokens", {"name": "a\u0085b", "role": "staff"}, 400, "bad_request"),
        ("POST", "/api/v1/tokens", {"name": "x" * 201, "role": "staff"}, 400, "bad_request"),
        ("POST", "/api/v1/tokens", {"name": "x", "role": "staff", "a": 1}, 400, "bad_request"),
        # One line as the schema says, but nothing once the blanks around it are removed.
        ("POST", "/api/v1/tokens", {"name": " \u3000 ", "role": "staff"}, 422, "invalid_value"),
        ("DELETE", "/api/v1/tokens/999", None, 404, "token_not_found"),
        ("DELETE", "/api/v1/tokens/abc", None, 400, "bad_request"),
        ("DELETE", "/api/v1/tokens/0", None, 400, "bad_request"),
    ],
)
async def test_token_refusals(
    hall: Hall, method: str, path: str, body: Any, status: int, code: str
) -> None:
    got, answer = await hall.call(method, path, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert await hall.audit(action="token.") == []


@pytest.mark.parametrize(
    ("token", "method", "path", "status"),
    [
        ("review", "GET", "/api/v1/users", 403),
        ("desk", "GET", "/api/v1/users", 403),
        ("review", "GET", "/api/v1/users/root", 403),
        ("review", "PATCH", "/api/v1/users/clerk", 403),
        ("review", "POST", "/api/v1/users", 403),
        ("review", "GET", "/api/v1/tokens", 403),
        ("desk", "POST", "/api/v1/tokens", 403),
        ("review", "DELETE", "/api/v1/tokens/1", 403),
        ("desk", "GET", "/api/v1/audit", 403),
        ("review", "GET", "/api/v1/audit", 200),
        (None, "GET", "/api/v1/audit", 401),
        (None, "GET", "/api/v1/users", 401),
    ],
)
async def test_roles(hall: Hall, token: str | None, method: str, path: str, status: int) -> None:
    got, _ = await hall.call(method, path, {"role": "staff"} if method != "GET" else None, token)
    assert got == status
    if status != 200:
        [denied] = await hall.audit(outcome="denied")
        assert denied.action == f"{method} {path}"


# --- audit log -----------------------------------------------------------------------------


async def _seed_audit(hall: Hall) -> list[int]:
    """Seven rows a minute apart after the fixture's own (T0+1 min ... T0+7 min)."""
    rows = [
        ("ann", "user.create", "ok"),
        ("bob", "user.update", "ok"),
        ("ann", "login", "failed"),
        ("bob", "GET /api/v1/users", "denied"),
        ("ann", "token.create", "ok"),
        ("ann", "user_x.odd", "ok"),  # '_' is not a wildcard in the action prefix
        ("bob", "user.password", "ok"),
    ]
    ids = []
    for i, (actor, action, outcome) in enumerate(rows, start=1):
        entry = AuditIn(actor=actor, actor_kind="user", action=action, outcome=outcome)
        record = await hall.db.write(lambda s, e=entry, n=i: add_audit(s, e, T0 + n * MINUTE))
        ids.append(record.id)
    return ids


def _iso(us: int) -> str:
    from surveil.timefmt import iso_from_us

    return iso_from_us(us).replace("+", "%2B")


async def test_audit_filters(hall: Hall) -> None:
    ids = await _seed_audit(hall)

    async def actions(query: str) -> list[str]:
        status, body = await hall.call("GET", f"/api/v1/audit?{query}", token="review")
        assert status == 200, body
        return [e["action"] for e in body["entries"]]

    assert await actions("actor=bob") == ["user.password", "GET /api/v1/users", "user.update"]
    assert await actions("action=user.&actor=ann") == ["user.create"]
    assert await actions("action=user_") == ["user_x.odd"]
    assert await actions("outcome=denied") == ["GET /api/v1/users"]
    assert await actions("outcome=failed&actor=ann") == ["login"]
    window = f"start={_iso(T0 + 2 * MINUTE)}&end={_iso(T0 + 4 * MINUTE)}"
    assert await actions(window) == ["login", "user.update"]  # end is exclusive
    _, body = await hall.call("GET", "/api/v1/audit?limit=1", token="review")
    [newest] = body["entries"]
    assert newest["id"] == ids[-1] and set(newest) == {
        "id",
        "at",
        "at_us",
        "actor",
        "actor_kind",
        "remote",
        "action",
        "target",
        "outcome",
        "detail",
        "leaf_index",
    }
    assert isinstance(newest["leaf_index"], int)
    assert newest["at_us"] == T0 + 7 * MINUTE


async def test_audit_pages_newest_first_without_overlap(hall: Hall) -> None:
    await _seed_audit(hall)
    everything = [e.id for e in await hall.audit(limit=1000)]
    assert len(everything) == 7
    # 3 does not divide the count, 7 does: neither may end with an empty page.
    for limit in (3, 7):
        seen: list[int] = []
        url: str | None = f"/api/v1/audit?limit={limit}"
        pages = 0
        while url is not None:
            status, body = await hall.call("GET", url, token="review")
            assert status == 200, body
            assert 1 <= len(body["entries"]) <= limit
            seen += [e["id"] for e in body["entries"]]
            url = body["next"]
            if url is not None:
                assert body["next_before"] == body["entries"][-1]["id"]
                assert f"before={body['next_before']}" in url and f"limit={limit}" in url
            pages += 1
        assert seen == everything
        assert pages == -(-len(everything) // limit)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("outcome=maybe", 400, "'outcome'"),
        ("limit=0", 400, "'limit'"),
        ("limit=501", 400, "'limit'"),
        ("limit=1e2", 400, "'limit'"),
        ("before=abc", 400, "'before'"),
        ("before=0", 400, "'before'"),
        ("actor=", 400, "'actor'"),
        ("start=yesterday", 400, "'start'"),
        ("start=2026-11-26T10:00:00", 400, "UTC offset"),
        ("who=me", 400, "unknown query parameter 'who'"),
        ("actor=a&actor=b", 400, "more than once"),
        # Well-formed, but a rule no schema can state: 422.
        (
            "start=2026-11-26T10:00:00Z&end=2026-11-26T09:00:00Z",
            422,
            "'end' must be later than 'start'",
        ),
        ("start=2026-11-26T10:00:00Z&end=2026-11-26T10:00:00Z", 422, "later than"),
    ],
)
async def test_audit_query_refusals(hall: Hall, query: str, status: int, message: str) -> None:
    got, body = await hall.call("GET", f"/api/v1/audit?{query}", token="review")
    assert got == status, body
    assert body["error"]["code"] == ("invalid_value" if status == 422 else "bad_request")
    assert message in body["error"]["message"]


# --- secrets and completeness ---------------------------------------------------------------


async def test_every_change_is_audited_and_no_secret_is_anywhere(hall: Hall) -> None:
    first_password = "First-Secret-Pw-17"
    steps: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/v1/users",
            {"username": "zed", "password": first_password, "role": "staff"},
        ),
        ("PATCH", "/api/v1/users/zed", {"counters": ["A01"], "password": NEW_PASSWORD}),
        ("PATCH", "/api/v1/users/zed", {"disabled": True}),
        ("PATCH", "/api/v1/users/zed", {"disabled": False, "role": "auditor"}),
        ("POST", "/api/v1/tokens", {"name": "batch", "role": "auditor"}),
    ]
    answers = []
    for method, path, body in steps:
        status, answer = await hall.call(method, path, body)
        assert status in (200, 201), answer
        answers.append(answer)
    secret = answers[-1]["token"]
    status, _ = await hall.call("DELETE", f"/api/v1/tokens/{answers[-1]['id']}")
    assert status == 200
    actions = [e.action for e in reversed(await hall.audit(actor="ops"))]
    assert actions == [
        "user.create",
        "user.update",
        "user.password",
        "user.disable",
        "user.update",
        "user.enable",
        "token.create",
        "token.revoke",
    ]
    secrets = [first_password, NEW_PASSWORD, secret, token_hash(secret), "$argon2"]
    bodies = [str(a) for a in answers[:-1]]
    for path in ("/api/v1/users", "/api/v1/users/zed", "/api/v1/tokens", "/api/v1/audit"):
        bodies.append(await hall.raw(path))
    async with hall.db.read() as s:
        rows = [repr(tuple(r)) for r in await s.execute(text("SELECT * FROM audit_log"))]
    assert len(rows) >= len(actions)
    for haystack in (*bodies, *rows):
        for needle in secrets:
            assert needle not in haystack
