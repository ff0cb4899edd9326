"""The users, API tokens and audit log pages, on SQLite and PostgreSQL.

Server-rendered forms posted as a browser would (form fields with the CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from index.audit import add_audit
from index.db import Database
from index.records import AuditIn
from tests.test_accounts_api import MINUTE, NEW_PASSWORD, T0, Hall, csrf_of, open_hall


@pytest.fixture
async def hall(db: Database, tmp_path: Path) -> AsyncIterator[Hall]:
    h = await open_hall(db, tmp_path)
    try:
        yield h
    finally:
        await h.client.close()


async def _page(hall: Hall, path: str, status: int = 200) -> str:
    resp = await hall.client.get(path, allow_redirects=False)
    body = await resp.text()
    assert resp.status == status, body
    return body


async def _signed_in_admin(hall: Hall) -> str:
    """Sign in as root; the session's CSRF token."""
    assert await hall.login("root") == 303
    return csrf_of(await _page(hall, "/users"))


def _nav(page: str) -> set[str]:
    header = page.split("</nav>")[0]
    return set(re.findall(r'<a href="(/[a-z]+)"', header))


# --- rendering and access ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh", {"/users": "添加用户", "/tokens": "创建令牌", "/audit": "审计日志"}),
        ("en", {"/users": "Add a user", "/tokens": "Create a token", "/audit": "Audit log"}),
    ],
)
async def test_pages_render_for_admin_in_both_languages(
    hall: Hall, lang: str, texts: dict[str, str]
) -> None:
    await _signed_in_admin(hall)
    for path, expected in texts.items():
        page = await _page(hall, f"{path}?lang={lang}")
        assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in page
        assert expected in page, path
        assert {"/users", "/tokens", "/audit"} <= _nav(page)
    users = await _page(hall, "/users")
    for name in ("root", "clerk", "eve"):
        assert f'data-user="{name}"' in users
    assert 'value="A01"' in users and 'value="B02"' in users  # counter checkboxes
    tokens = await _page(hall, "/tokens")
    assert all(f">{name}</td>" in tokens for name in ("ops", "review", "desk"))
    assert "$argon2" not in users and hall.tokens["ops"] not in tokens


@pytest.mark.parametrize(
    ("user", "allowed"),
    [("clerk", set[str]()), ("eve", {"/audit"})],
)
async def test_staff_and_auditors_are_refused_the_admin_pages(
    hall: Hall, user: str, allowed: set[str]
) -> None:
    assert await hall.login(user) == 303
    for path in ("/users", "/tokens", "/audit"):
        await _page(hall, path, 200 if path in allowed else 403)
    page = await _page(hall, "/lookup")
    assert _nav(page) & {"/users", "/tokens", "/audit"} == allowed
    csrf = csrf_of(page)
    resp = await hall.client.post(
        "/users",
        data={"username": "mallory", "password": NEW_PASSWORD, "role": "admin", "csrf_token": csrf},
    )
    assert resp.status == 403
    denied = await hall.audit(outcome="denied", actor=user)
    assert {e.target for e in denied} >= {"users_page", "tokens_page", "users_create"}


async def test_forms_without_the_csrf_token_are_refused(hall: Hall) -> None:
    await _signed_in_admin(hall)
    attempts = [
        ("/users", {"username": "mallory", "password": NEW_PASSWORD, "role": "admin"}),
        ("/users/clerk", {"op": "disable"}),
        ("/tokens", {"name": "sneaky", "role": "admin"}),
        ("/tokens/1/revoke", {}),
    ]
    for path, data in attempts:
        for forged in ({}, {"csrf_token": "forged"}):
            resp = await hall.client.post(path, data={**data, **forged}, allow_redirects=False)
            assert resp.status == 403, path
    _, users = await hall.call("GET", "/api/v1/users")
    assert [u["username"] for u in users["users"]] == ["clerk", "eve", "root"]
    assert all(u["active"] for u in users["users"])
    _, tokens = await hall.call("GET", "/api/v1/tokens")
    assert [t["name"] for t in tokens["tokens"]] == ["ops", "review", "desk"]
    assert all(t["active"] for t in tokens["tokens"])
    assert len(await hall.audit(outcome="denied", actor="root")) == 8


# --- users ------------------------------------------------------------------------------


async def test_a_user_added_with_the_form_can_sign_in(hall: Hall) -> None:
    csrf = await _signed_in_admin(hall)
    form = {
        "csrf_token": csrf,
        "username": "nina",
        "role": "staff",
        "counters": "B02",
        "password": NEW_PASSWORD,
    }
    resp = await hall.client.post("/users", data=form, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/users?done=created&target=nina"
    page = await _page(hall, resp.headers["Location"])
    assert "已添加用户 nina。" in page
    row = page.split('data-user="nina"')[1].split("</tr>")[0]
    assert "B02" in row and "窗口人员" in row
    [entry] = await hall.audit(action="user.create", actor="root")
    assert entry.target == "nina" and entry.detail == {"role": "staff", "counters": ["B02"]}
    assert await hall.login("nina", NEW_PASSWORD) == 303
    desk = await _page(hall, "/desk")
    assert 'value="B02"' in desk and 'value="A01"' not in desk


async def test_a_refused_form_says_why_and_keeps_the_entries(hall: Hall) -> None:
    csrf = await _signed_in_admin(hall)
    form = {"csrf_token": csrf, "username": "nina", "role": "auditor", "password": "short"}
    resp = await hall.client.post("/users?lang=en", data=form, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 400  # the API's UserCreate refuses it, as over JSON
    assert 'id="users-error"' in page and "&#39;Password&#39; is too short." in page
    assert 'value="nina"' in page and 'value="auditor" selected' in page
    assert "short" not in page.split('id="add-user"')[1]  # the password is not echoed
    form.update(username="clerk", password=NEW_PASSWORD)
    resp = await hall.client.post("/users?lang=en", data=form, allow_redirects=False)
    assert resp.status == 409 and "already exists" in await resp.text()
    # A Chinese page says why by the code, in Chinese, never with the server's English.
    resp = await hall.client.post("/users?lang=zh", data=form, allow_redirects=False)
    error = (await resp.text()).split('id="users-error">')[1].split("</p>")[0]
    assert resp.status == 409 and error == "与现有记录冲突。"
    form.update(username="nina", password="short")
    resp = await hall.client.post("/users?lang=zh", data=form, allow_redirects=False)
    error = (await resp.text()).split('id="users-error">')[1].split("</p>")[0]
    assert resp.status == 400 and error == "「密码」太短。"
    form.update(password="nina-password-1")
    resp = await hall.client.post("/users?lang=zh", data=form, allow_redirects=False)
    error = (await resp.text()).split('id="users-error">')[1].split("</p>")[0]
    assert resp.status == 422 and error.startswith("密码不符合要求")
    assert await hall.audit(action="user.", actor="root") == []


async def test_edit_forms_change_scope_password_and_state(hall: Hall) -> None:
    csrf = await _signed_in_admin(hall)

    async def edit(user: str, *counters: str, **data: str) -> str:
        fields = [("csrf_token", csrf), *data.items(), *(("counters", c) for c in counters)]
        resp = await hall.client.post(f"/users/{user}?lang=en", data=fields, allow_redirects=False)
        if resp.status != 303:
            return f"{resp.status} {await resp.text()}"
        return await _page(hall, resp.headers["Location"] + "&lang=en")

    page = await edit("clerk", "A01", "B02", op="scope", role="staff")
    assert "User clerk: role and counters saved." in page
    assert "A01, B02" in page.split('data-user="clerk"')[1].split("</tr>")[0]
    page = await edit("clerk", op="scope", role="staff")  # no box ticked: no counters
    assert "A01" not in page.split('data-user="clerk"')[1].split("<details")[0]
    page = await edit("clerk", op="password", password=NEW_PASSWORD)
    assert "User clerk: password set" in page
    page = await edit("clerk", op="disable")
    assert "User clerk disabled" in page
    assert 'class="off"' in page.split('data-user="clerk"')[1].split(">")[0]
    assert await hall.login("clerk", NEW_PASSWORD) == 401
    csrf = await _signed_in_admin(hall)
    page = await edit("clerk", op="enable")
    assert "User clerk enabled." in page
    assert await hall.login("clerk", NEW_PASSWORD) == 303
    actions = [e.action for e in reversed(await hall.audit(actor="root", outcome="ok"))]
    assert [a for a in actions if a.startswith("user.")] == [
        "user.update",
        "user.update",
        "user.password",
        "user.disable",
        "user.enable",
    ]


async def test_edit_form_refusals_render_the_reason(hall: Hall) -> None:
    csrf = await _signed_in_admin(hall)
    for data, status, en, zh in (
        ({"op": "disable"}, 409, "your own account", "不能停用您自己的账号。"),
        (
            {"op": "scope", "role": "staff"},
            409,
            "last active admin",
            "这是最后一个启用的管理员，请先设置另一个管理员。",
        ),
        ({"op": "scope", "role": "boss"}, 400, "not one of the choices", "「角色」不是可选的值。"),
        (
            {"op": "scope", "counters": "A 1"},
            400,
            "not in the right form",
            "「受理窗口」格式不正确。",
        ),
        ({"op": "password"}, 400, "is required", "「密码」为必填项。"),
        ({"op": "password", "password": "root-password-x"}, 422, "user name", "密码不符合要求"),
        ({"op": "explode"}, 400, "must be scope, password, disable or enable", "请求参数不正确。"),
    ):
        for lang, text in (("en", en), ("zh", zh)):
            resp = await hall.client.post(
                f"/users/root?lang={lang}", data={"csrf_token": csrf, **data}
            )
            assert resp.status == status, data
            error = (await resp.text()).split('id="users-error">')[1].split("</p>")[0]
            assert text in error.replace("&#39;", "'"), (lang, data)
            if lang == "zh":
                assert not any(c.isascii() and c.isalpha() for c in error), error
    resp = await hall.client.post("/users/ghost", data={"csrf_token": csrf, "op": "enable"})
    assert resp.status == 404  # the error page, as GET /api/v1/users/ghost
    assert "找不到该用户。" in await resp.text()
    assert await hall.audit(action="user.", actor="root") == []


# --- tokens -----------------------------------------------------------------------------


async def test_a_new_token_is_shown_once_in_the_response_and_can_be_revoked(hall: Hall) -> None:
    csrf = await _signed_in_admin(hall)
    resp = await hall.client.post(
        "/tokens?lang=en",
        data={"csrf_token": csrf, "name": "acceptance system", "role": "staff"},
        allow_redirects=False,
    )
    page = await resp.text()
    assert resp.status == 200 and "Location" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"
    found = re.search(r'id="token-value" readonly value="([^"]+)"', page)
    assert found and "shown only this once" in page
    secret = found.group(1)
    hall.tokens["new"] = secret
    assert (await hall.call("GET", "/api/v1/counters", token="new"))[0] == 200
    listing = await _page(hall, "/tokens")
    assert secret not in listing and "acceptance system" in listing
    [entry] = await hall.audit(action="token.create", actor="root")
    assert secret not in str(entry)
    token_id = entry.detail["id"]
    resp = await hall.client.post(
        f"/tokens/{token_id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    page = await _page(hall, resp.headers["Location"] + "&lang=en")
    assert "Token acceptance system revoked." in page
    row = page.split(f'data-token="{token_id}"')[1].split("</tr>")[0]
    assert "revoked 2026-11-26 10:00:00" in row and "<button" not in row
    assert (await hall.call("GET", "/api/v1/counters", token="new"))[0] == 401
    resp = await hall.client.post(
        "/tokens?lang=en", data={"csrf_token": csrf, "name": "x", "role": "superuser"}
    )
    assert resp.status == 400 and "&#39;Role&#39; is not one of the choices." in await resp.text()
    resp = await hall.client.post(
        "/tokens?lang=zh", data={"csrf_token": csrf, "name": "x\ty", "role": "staff"}
    )
    error = (await resp.text()).split('id="tokens-error">')[1].split("</p>")[0]
    assert resp.status == 400 and error == "「名称」格式不正确。"
    resp = await hall.client.post(
        "/tokens", data={"csrf_token": csrf, "name": "  second desk  ", "role": "staff"}
    )
    assert resp.status == 200 and "新令牌：second desk<" in await resp.text()
    resp = await hall.client.post("/tokens/abc/revoke", data={"csrf_token": csrf})
    assert resp.status == 400
    resp = await hall.client.post("/tokens/999/revoke", data={"csrf_token": csrf})
    assert resp.status == 404 and "找不到该令牌。" in await resp.text()


# --- audit log --------------------------------------------------------------------------


async def test_audit_page_filters_and_pages_older(hall: Hall) -> None:
    async def seed(s: AsyncSession) -> None:
        for i in range(105):
            outcome = "denied" if i % 10 == 0 else "ok"
            entry = AuditIn(actor=f"u{i % 3}", actor_kind="user", action=f"x.{i}", outcome=outcome)
            await add_audit(s, entry, T0 - (200 - i) * MINUTE)

    await hall.db.write(seed)
    assert await hall.login("eve") == 303

    def actions(page: str) -> list[str]:
        return re.findall(r'<td class="mono">(x\.\d+|login)</td>', page)

    first = await _page(hall, "/audit?lang=en")
    rows = actions(first)
    assert rows[0] == "login" and len(rows) == 100
    older = re.search(r'href="([^"]+)" id="audit-older"', first)
    assert older
    second = await _page(hall, older.group(1).replace("&amp;", "&"))
    assert actions(second) == [f"x.{i}" for i in range(5, -1, -1)]
    assert 'id="audit-older"' not in second and 'id="audit-newest"' in second
    denied = await _page(hall, "/audit?outcome=denied&actor=u0")
    assert actions(denied) == [f"x.{i}" for i in (90, 60, 30, 0)]
    # Local time (Asia/Shanghai): 10:00 is T0; x.104 is at T0 - 96 min = 08:24.
    window = await _page(hall, "/audit?start=2026-11-26T08:22&end=2026-11-26T08:24&action=x.")
    assert actions(window) == ["x.103", "x.102"]
    bad = await _page(hall, "/audit?start=yesterday&lang=en", status=400)
    assert 'id="audit-error"' in bad and "&#39;From&#39; is not valid." in bad
    assert 'value="yesterday"' in bad  # the filter is kept to be corrected
    bad = await _page(hall, "/audit?start=yesterday&lang=zh", status=400)
    assert bad.split('id="audit-error">')[1].split("</p>")[0] == "「从」的值不正确。"
    bad = await _page(hall, "/audit?outcome=maybe&before=7", status=400)
    assert bad.split('id="audit-error">')[1].split("</p>")[0] == "「结果」不是可选的值。"
    # The API's AuditQuery rules: the end after the start (422), in local time here.
    bad = await _page(hall, "/audit?start=2026-11-26T08:24&end=2026-11-26T08:22", status=422)
    assert bad.split('id="audit-error">')[1].split("</p>")[0] == "填写的值不符合规则。"
    bad = await _page(hall, "/audit?start=2026-11-26T08:24&end=2026-11-26T08:22&lang=en", 422)
    assert "later than" in bad.split('id="audit-error">')[1]
    assert 'id="audit-empty"' in await _page(hall, "/audit?actor=nobody")
