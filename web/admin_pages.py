"""Pages for accounts, API tokens and the audit log.

Plain forms: each change posts to a page route that calls surveil.accounts (the same
functions as the JSON API, so the change and its audit row share one transaction) and
redirects back with a message (post/redirect/get). A refused change renders the page
again with the reason. A new API token is the one exception to the redirect: it is shown
in the POST's own response, never in a URL.

The forms are validated with the JSON API's own models (web.wire.accounts, through
web.wire.forms), so a page and the API refuse the same things; a refusal is shown by its
code or field (web.i18n), never as the server's English on a Chinese page.
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
from index.records import (
    AUDIT_OUTCOMES,
    PERMISSIONS,
    TOKEN_ROLES,
    USER_ROLES,
    TokenRecord,
    UserRecord,
)
from surveil.accounts import (
    add_token,
    add_user,
    change_account,
    new_token,
    read_audit,
    revoke_api_token,
)
from surveil.passwords import PasswordRejected
from surveil.timefmt import iso_from_us
from web.access import audit_entry
from web.errors import code_of, status_of
from web.i18n import error_text, form_error_text, request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY
from web.pages import local_us, render
from web.wire.accounts import AuditQuery, TokenCreate, TokenPath, UserCreate, UserPatch
from web.wire.forms import FormInvalid, form_data, validate_form

AUDIT_PAGE_ROWS = 100
# Messages a redirect may ask for (?done=...): a fixed set, so a link cannot put text on
# the page.
USER_DONE = frozenset({"created", "updated", "password", "disabled", "enabled"})
TOKEN_DONE = frozenset({"revoked"})


class BadOp(Exception):
    """A users form posted an 'op' the page does not offer (never a browser's doing)."""

    code = "bad_request"


# Refusals shown on the form's own page (the entries kept), with the status the JSON API
# would give. A missing user or token named by the URL is not one: it propagates to the
# error page (404), as over the API.
FORM_REFUSALS: tuple[type[Exception], ...] = (
    FormInvalid,
    BadOp,
    PasswordRejected,
    InvalidRecord,
    Conflict,
    CounterNotFound,
)
# The label (i18n key) of each form field, to name it in a refusal.
FIELD_LABELS = {
    "username": "users.username",
    "password": "users.password",
    "role": "users.role",
    "counters": "users.counters",
    "permissions": "users.permissions",
    "name": "tokens.name",
    "actor": "audit.actor",
    "action": "audit.action",
    "outcome": "audit.outcome",
    "start": "audit.from",
    "end": "audit.to",
    "before": "audit.older",
}
USER_FIELDS = ("username", "password", "role", "counters", "permissions")
AUDIT_FILTERS = ("actor", "action", "outcome", "start", "end")


def _form_refusal(lang: str, exc: FormInvalid) -> tuple[str, int]:
    """A field named by its label and the kind of failure; a rule of the whole form (end
    after start) by its code. English pages add pydantic's rule, as error_text does."""
    status = exc.status
    label_key = FIELD_LABELS.get(exc.field.split(".")[0])
    if label_key is None:
        return error_text(lang, exc.code, status, exc.message), status
    text = form_error_text(lang, translate(lang, label_key), exc.kind)
    return (f"{text} ({exc.message})" if lang == "en" else text), status


def _refused(lang: str, exc: Exception) -> tuple[str, int]:
    """The page's text for a refusal, by code (never str(exc) on a Chinese page), and the
    status the JSON API would answer."""
    if isinstance(exc, FormInvalid):
        return _form_refusal(lang, exc)
    if isinstance(exc, BadOp):
        return error_text(lang, exc.code, 400, str(exc)), 400
    status = status_of(type(exc)) or 500
    return error_text(lang, code_of(type(exc)), status, str(exc)), status


def _text(form: MultiDictProxy[Any], name: str) -> str:
    """A field to show back in the form (not validated: validate_form does that)."""
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


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
        "draft": draft or {"username": "", "role": "staff", "counters": (), "permissions": ()},
        "permissions": PERMISSIONS,
    }
    return render(request, "users.html", context, status=status)


async def users_page(request: web.Request) -> web.Response:
    """GET /users: every account with role, counters, last sign-in and state; forms."""
    return await _users_view(request)


async def users_create(request: web.Request) -> web.StreamResponse:
    """POST /users: add an account (validated as the API's UserCreate), then back to the list."""
    form = await request.post()
    draft: dict[str, Any] = {
        "username": _text(form, "username"),
        "role": _text(form, "role") or "staff",
        "counters": tuple(c for c in form.getall("counters", []) if isinstance(c, str)),
        "permissions": tuple(p for p in form.getall("permissions", []) if isinstance(p, str)),
    }
    try:
        lists = ("counters", "permissions")
        body = validate_form(UserCreate, form_data(form, USER_FIELDS, lists=lists))
        await add_user(
            request.app[DB_KEY],
            body.username,
            body.password,
            body.role,
            body.counters,
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "user.create", "ok"),
            permissions=body.permissions,
        )
    except FORM_REFUSALS as exc:
        error, status = _refused(request_lang(request), exc)
        return await _users_view(request, error=error, status=status, draft=draft)
    raise _back(request, "users_page", "created", body.username)


def _form_change(form: MultiDictProxy[Any]) -> tuple[UserPatch, str]:
    """The change one of a user's edit forms asks for, as the API's UserPatch."""
    op = form.get("op")
    if op == "scope":
        # The form always sends all three: no box ticked means no counters (permissions).
        lists = ("counters", "permissions")
        fields = ("role", *lists)
        data = {"counters": [], "permissions": [], **form_data(form, fields, lists=lists)}
        return validate_form(UserPatch, data), "updated"
    if op == "password":
        data = form_data(form, ("password",))
        if "password" not in data:
            raise FormInvalid("password", "missing", "Field required")
        return validate_form(UserPatch, data), "password"
    if op in ("disable", "enable"):
        return UserPatch(disabled=op == "disable"), f"{op}d"
    raise BadOp("'op' must be scope, password, disable or enable")


async def users_update(request: web.Request) -> web.StreamResponse:
    """POST /users/{username}: role and counters, a new password, or disable/enable."""
    username = request.match_info["username"]
    form = await request.post()
    try:
        patch, done = _form_change(form)
        await change_account(
            request.app[DB_KEY],
            username,
            patch.change(),
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "user.update", "ok"),
        )
    except FORM_REFUSALS as exc:
        error, status = _refused(request_lang(request), exc)
        return await _users_view(request, error=error, status=status)
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
    """POST /tokens: a new token (validated as the API's TokenCreate), shown once in this
    response (not in a redirect URL)."""
    form = await request.post()
    token, digest = new_token()
    try:
        body = validate_form(TokenCreate, form_data(form, ("name", "role")))
        record = await add_token(
            request.app[DB_KEY],
            body.name,
            body.role,
            digest,
            request.app[CLOCK_KEY].now_us(),
            audit_entry(request, "token.create", "ok"),
        )
    except FORM_REFUSALS as exc:
        error, status = _refused(request_lang(request), exc)
        return await _tokens_view(request, error=error, status=status)
    return await _tokens_view(request, created=(record, token))


async def tokens_revoke(request: web.Request) -> web.StreamResponse:
    """POST /tokens/{id}/revoke: revoke, then back to the list; an unknown id is a 404."""
    try:
        path = validate_form(TokenPath, {"id": request.match_info["id"]})
    except FormInvalid as exc:
        error, status = _refused(request_lang(request), exc)
        return await _tokens_view(request, error=error, status=status)
    record = await revoke_api_token(
        request.app[DB_KEY],
        path.id,
        request.app[CLOCK_KEY].now_us(),
        audit_entry(request, "token.revoke", "ok"),
    )
    raise _back(request, "tokens_page", "revoked", record.name)


# -- audit log -----------------------------------------------------------------------------


def _audit_query(request: web.Request) -> AuditQuery:
    """The filter form as the API's AuditQuery; its times are local (datetime-local, in the
    configured zone), so they are turned into RFC 3339 first. FormInvalid."""
    data = form_data(request.query, ("actor", "action", "outcome", "before"))
    for name in ("start", "end"):
        text = request.query.get(name, "").strip()
        if not text:
            continue
        try:
            data[name] = iso_from_us(local_us(request, text, name))
        except ValueError:
            raise FormInvalid(name, "invalid", "not a time like 2026-11-26T09:30") from None
    return validate_form(AuditQuery, {**data, "limit": AUDIT_PAGE_ROWS})


async def audit_page(request: web.Request) -> web.Response:
    """GET /audit?actor&action&outcome&start&end&before: the log, newest first, in pages."""
    query = request.query
    filters = {name: query.get(name, "").strip()[:200] for name in AUDIT_FILTERS}
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
        wanted = _audit_query(request)
    except FormInvalid as exc:
        context["error"], status = _refused(request_lang(request), exc)
    else:
        page = await read_audit(request.app[DB_KEY], wanted.filter(), wanted.limit)
        context["entries"] = page.entries
        if page.next_before is not None:
            context["older"] = str(request.rel_url.update_query(before=str(page.next_before)))
    return render(request, "audit.html", context, status=status)
