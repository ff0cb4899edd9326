"""Pages for accounts, API tokens and the audit log.

Plain forms: each change posts to a page route that calls surveil.accounts (the same
functions as the JSON API, so the change and its audit row share one transaction) and
redirects back with a message (post/redirect/get). A refused change renders the page
again with the reason. A new API token is the one exception to the redirect: it is shown
in the POST's own response, never in a URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from index import counters as counter_queries
from index import tokens as token_queries
from index import users as user_queries
from index.errors import Conflict, CounterNotFound, InvalidRecord
from index.records import AUDIT_OUTCOMES, TOKEN_ROLES, USER_ROLES, TokenRecord, UserRecord
from index.tokens import TokenNotFound
from index.users import UserNotFound
from surveil.accounts import (
    AccountChange,
    AuditFilter,
    add_token,
    add_user,
    change_account,
    new_token,
    read_audit,
    revoke_api_token,
)
from surveil.passwords import PasswordRejected
from web.access import audit_entry
from web.accounts_api import token_not_found, user_not_found
from web.errors import BadRequest
from web.i18n import request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY
from web.pages import local_us, render
from web.params import positive_id

AUDIT_PAGE_ROWS = 100
# Messages a redirect may ask for (?done=...): a fixed set, so a link cannot put text on
# the page.
USER_DONE = frozenset({"created", "updated", "password", "disabled", "enabled"})
TOKEN_DONE = frozenset({"revoked"})
# Domain refusals shown on the form's page, with the status the JSON API would give.
FORM_ERRORS: tuple[type[Exception], ...] = (
    PasswordRejected,
    InvalidRecord,
    Conflict,
    CounterNotFound,
    BadRequest,
)


def _error_status(exc: Exception) -> int:
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, CounterNotFound):
        return 404
    return 400


def _field(form: MultiDictProxy[Any], name: str, max_length: int = 200) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"{name!r} must be text")
    if len(value) > max_length:
        raise BadRequest(f"{name!r} must be at most {max_length} characters")
    return value


def _codes(form: MultiDictProxy[Any]) -> tuple[str, ...]:
    return tuple(str(c) for c in form.getall("counters", []))


def _done(request: web.Request, prefix: str, allowed: frozenset[str]) -> str | None:
    done, target = request.query.get("done"), request.query.get("target", "")
    if done not in allowed:
        return None
    return translate(request_lang(request), f"{prefix}.done_{done}", name=target)


def _back(request: web.Request, route: str, done: str, target: str) -> web.HTTPSeeOther:
    url = (
        str(request.app.router[route].url_for()) + "?" + urlencode({"done": done, "target": target})
    )
    return web.HTTPSeeOther(url)


# -- users ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    user: UserRecord
    action: str  # where this user's edit forms post


async def _users_view(
    request: web.Request,
    *,
    error: str | None = None,
    status: int = 200,
    draft: dict[str, Any] | None = None,
) -> web.Response:
    async with request.app[DB_KEY].read() as s:
        users = await user_queries.list_users(s)
        counters = await counter_queries.list_counters(s)
    router = request.app.router["users_update"]
    rows = [UserRow(u, str(router.url_for(username=u.username))) for u in users]
    context = {
        "users": rows,
        "counters": counters,
        "roles": USER_ROLES,
        "message": _done(request, "users", USER_DONE),
        "error": error,
        "draft": draft or {"username": "", "role": "staff", "counters": ()},
    }
    return render(request, "users.html", context, status=status)


async def users_page(request: web.Request) -> web.Response:
    """GET /users: every account with role, counters, last sign-in and state; forms."""
    return await _users_view(request)


async def users_create(request: web.Request) -> web.StreamResponse:
    """POST /users: add an account, then back to the list."""
    form = await request.post()
    draft: dict[str, Any] = {"username": "", "role": "staff", "counters": ()}
    try:
        draft = {
            "username": _field(form, "username", 64).strip(),
            "role": _field(form, "role", 16),
            "counters": _codes(form),
        }
        password = _field(form, "password", 1024)
        await add_user(
            request.app[DB_KEY],
            draft["username"],
            password,
            draft["role"],
            draft["counters"],
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "user.create", "ok"),
        )
    except FORM_ERRORS as exc:
        return await _users_view(request, error=str(exc), status=_error_status(exc), draft=draft)
    raise _back(request, "users_page", "created", draft["username"])


def _form_change(form: MultiDictProxy[Any]) -> tuple[AccountChange, str]:
    op = _field(form, "op", 16)
    if op == "scope":
        return AccountChange(role=_field(form, "role", 16), counters=_codes(form)), "updated"
    if op == "password":
        return AccountChange(password=_field(form, "password", 1024)), "password"
    if op == "disable":
        return AccountChange(disabled=True), "disabled"
    if op == "enable":
        return AccountChange(disabled=False), "enabled"
    raise BadRequest("'op' must be scope, password, disable or enable")


async def users_update(request: web.Request) -> web.StreamResponse:
    """POST /users/{username}: role and counters, a new password, or disable/enable."""
    username = request.match_info["username"]
    form = await request.post()
    try:
        change, done = _form_change(form)
        await change_account(
            request.app[DB_KEY],
            username,
            change,
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "user.update", "ok"),
        )
    except UserNotFound:
        raise user_not_found(username) from None
    except FORM_ERRORS as exc:
        return await _users_view(request, error=str(exc), status=_error_status(exc))
    raise _back(request, "users_page", done, username)


# -- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    token: TokenRecord
    revoke: str  # where this token's revoke form posts


async def _tokens_view(
    request: web.Request,
    *,
    created: tuple[TokenRecord, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[DB_KEY].read() as s:
        tokens = await token_queries.list_tokens(s)
    router = request.app.router["tokens_revoke"]
    rows = [TokenRow(t, str(router.url_for(id=str(t.id)))) for t in reversed(tokens)]
    context = {
        "tokens": rows,
        "roles": TOKEN_ROLES,
        "message": _done(request, "tokens", TOKEN_DONE),
        "error": error,
        "created": created[0] if created else None,
        "secret": created[1] if created else None,
    }
    return render(request, "tokens.html", context, status=status)


async def tokens_page(request: web.Request) -> web.Response:
    """GET /tokens: every token (newest first) with its use and state; forms."""
    return await _tokens_view(request)


async def tokens_create(request: web.Request) -> web.Response:
    """POST /tokens: a new token, shown once in this response (not in a redirect URL)."""
    form = await request.post()
    token, digest = new_token()
    try:
        record = await add_token(
            request.app[DB_KEY],
            _field(form, "name").strip(),
            _field(form, "role", 16),
            digest,
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "token.create", "ok"),
        )
    except FORM_ERRORS as exc:
        return await _tokens_view(request, error=str(exc), status=_error_status(exc))
    return await _tokens_view(request, created=(record, token))


async def tokens_revoke(request: web.Request) -> web.StreamResponse:
    """POST /tokens/{id}/revoke: revoke, then back to the list."""
    token_id = positive_id(request.match_info["id"], "token id")
    try:
        record = await revoke_api_token(
            request.app[DB_KEY],
            token_id,
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "token.revoke", "ok"),
        )
    except TokenNotFound:
        raise token_not_found(token_id) from None
    raise _back(request, "tokens_page", "revoked", record.name)


# -- audit log -----------------------------------------------------------------------------


def _local_us(request: web.Request, text: str, what: str) -> int | None:
    if not text:
        return None
    try:
        return local_us(request, text, what)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def audit_page(request: web.Request) -> web.Response:
    """GET /audit?actor&action&outcome&start&end&before: the log, newest first, in pages."""
    lang = request_lang(request)
    query = request.query
    filters = {
        name: query.get(name, "").strip()[:200]
        for name in ("actor", "action", "outcome", "start", "end")
    }
    context: dict[str, Any] = {
        "filters": filters,
        "outcomes": AUDIT_OUTCOMES,
        "entries": [],
        "older": None,
        "paged": "before" in query,
        "newest": str(
            request.rel_url.with_query([(k, v) for k, v in query.items() if k != "before"])
        ),
        "error": None,
        "detail": lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True) if d else "",
    }
    status = 200
    try:
        before = query.get("before", "")
        wanted = AuditFilter(
            start_us=_local_us(request, filters["start"], translate(lang, "audit.from")),
            end_us=_local_us(request, filters["end"], translate(lang, "audit.to")),
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            outcome=filters["outcome"] or None,
            before_id=positive_id(before, "before") if before else None,
        )
        page = await read_audit(request.app[DB_KEY], wanted, AUDIT_PAGE_ROWS)
    except (BadRequest, InvalidRecord) as exc:
        context["error"] = str(exc)
        status = 400
    else:
        context["entries"] = page.entries
        if page.next_before is not None:
            context["older"] = str(request.rel_url.update_query(before=str(page.next_before)))
    return render(request, "audit.html", context, status=status)
