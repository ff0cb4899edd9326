"""Users, API tokens and the audit log over JSON: parse, call surveil.accounts, serialize.

Every change goes through surveil.accounts, which writes it and its audit row in one
transaction. No response carries a password hash, and a token's secret is in exactly one
response: the 201 that created it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from index import tokens as token_queries
from index import users as user_queries
from index.counters import COUNTER_CODE_MAX
from index.errors import CounterNotFound
from index.records import AuditRecord, TokenRecord, UserRecord
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
from surveil.timefmt import iso_from_us, us_from_iso
from web.access import audit_entry
from web.body import json_object, optional_str, required_str
from web.errors import ApiError, BadRequest
from web.keys import CLOCK_KEY, DB_KEY
from web.params import optional_str as query_str
from web.params import positive_id, reject_unknown

USER_CREATE_KEYS = ("username", "password", "role", "counters")
USER_UPDATE_KEYS = ("role", "counters", "disabled", "password")
TOKEN_CREATE_KEYS = ("name", "role")
AUDIT_QUERY = ("start", "end", "actor", "action", "outcome", "before", "limit")
MAX_COUNTERS = 256
PASSWORD_FIELD_MAX = 1024  # longer than the rule allows, so the rule's message is the answer
AUDIT_LIMIT_DEFAULT = 100
AUDIT_LIMIT_MAX = 500


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


def user_json(u: UserRecord) -> dict[str, object]:
    return {
        "username": u.username,
        "role": u.role,
        "counters": list(u.counters),
        "active": u.disabled_us is None,
        "created": iso_from_us(u.created_us),
        "created_us": u.created_us,
        "disabled": _iso(u.disabled_us),
        "disabled_us": u.disabled_us,
        "last_login": _iso(u.last_login_us),
        "last_login_us": u.last_login_us,
    }


def token_json(t: TokenRecord) -> dict[str, object]:
    return {
        "id": t.id,
        "name": t.name,
        "role": t.role,
        "active": t.revoked_us is None,
        "created": iso_from_us(t.created_us),
        "created_us": t.created_us,
        "last_used": _iso(t.last_used_us),
        "last_used_us": t.last_used_us,
        "revoked": _iso(t.revoked_us),
        "revoked_us": t.revoked_us,
    }


def audit_json(a: AuditRecord) -> dict[str, object]:
    return {
        "id": a.id,
        "at": iso_from_us(a.at_us),
        "at_us": a.at_us,
        "actor": a.actor,
        "actor_kind": a.actor_kind,
        "remote": a.remote,
        "action": a.action,
        "target": a.target,
        "outcome": a.outcome,
        "detail": a.detail,
    }


# -- errors shared with the pages ---------------------------------------------------------


def password_rejected(exc: PasswordRejected) -> ApiError:
    return ApiError(str(exc), status=400, code="password_rejected")


def user_not_found(username: str) -> ApiError:
    return ApiError(f"no user named {username!r}", status=404, code="user_not_found")


def counter_not_found(exc: CounterNotFound) -> ApiError:
    return ApiError(str(exc), status=404, code="counter_not_found")


def token_not_found(token_id: int) -> ApiError:
    return ApiError(f"no token with id {token_id}", status=404, code="token_not_found")


# -- body parsing --------------------------------------------------------------------------


def _counters(body: Mapping[str, object]) -> tuple[str, ...] | None:
    value = body.get("counters")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise BadRequest("'counters' must be a list of counter codes")
    if len(value) > MAX_COUNTERS:
        raise BadRequest(f"'counters' may list at most {MAX_COUNTERS} counters")
    codes = tuple(str(c) for c in value)
    if any(not c or len(c) > COUNTER_CODE_MAX for c in codes):
        raise BadRequest(f"each counter code must be 1-{COUNTER_CODE_MAX} characters")
    return codes


def _disabled(body: Mapping[str, object]) -> bool | None:
    value = body.get("disabled")
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"'disabled' must be true or false, got {type(value).__name__}")
    return value


def _password(body: Mapping[str, object]) -> str | None:
    value = body.get("password")
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'password' must be a string, got {type(value).__name__}")
    if len(value) > PASSWORD_FIELD_MAX:
        raise BadRequest(f"'password' must be at most {PASSWORD_FIELD_MAX} characters")
    return value


# -- users ---------------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    """Every account, by name (admin)."""
    reject_unknown(request.query, ())
    async with request.app[DB_KEY].read() as s:
        records = await user_queries.list_users(s)
    return web.json_response({"users": [user_json(u) for u in records]})


async def create_user(request: web.Request) -> web.Response:
    """Create an account: 201; 400 password rule; 404 unknown counter; 409 name taken."""
    body = await json_object(request, USER_CREATE_KEYS)
    username = required_str(body, "username", 64)
    password = _password(body)
    if not password:
        raise BadRequest("'password' is required")
    role = required_str(body, "role", 16)
    counters = _counters(body) or ()
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "user.create", "ok")
    try:
        record = await add_user(
            request.app[DB_KEY], username, password, role, counters, now_us, actor
        )
    except PasswordRejected as exc:
        raise password_rejected(exc) from None
    except CounterNotFound as exc:
        raise counter_not_found(exc) from None
    return web.json_response(user_json(record), status=201)


async def get_user(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    async with request.app[DB_KEY].read() as s:
        try:
            record = await user_queries.get_user(s, username)
        except UserNotFound:
            raise user_not_found(username) from None
    return web.json_response(user_json(record))


async def update_user(request: web.Request) -> web.Response:
    """Change role, counters, disabled state or password; 409 for the last active admin."""
    username = request.match_info["username"]
    body = await json_object(request, USER_UPDATE_KEYS)
    change = AccountChange(
        role=optional_str(body, "role", 16),
        counters=_counters(body),
        disabled=_disabled(body),
        password=_password(body),
    )
    if change.is_empty():
        raise BadRequest(f"nothing to change; expected one of: {', '.join(USER_UPDATE_KEYS)}")
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "user.update", "ok")
    try:
        record = await change_account(request.app[DB_KEY], username, change, now_us, actor)
    except PasswordRejected as exc:
        raise password_rejected(exc) from None
    except UserNotFound:
        raise user_not_found(username) from None
    except CounterNotFound as exc:
        raise counter_not_found(exc) from None
    return web.json_response(user_json(record))


# -- tokens --------------------------------------------------------------------------------


async def list_tokens(request: web.Request) -> web.Response:
    """Every token, revoked ones included, oldest first; never a secret or a hash (admin)."""
    reject_unknown(request.query, ())
    async with request.app[DB_KEY].read() as s:
        records = await token_queries.list_tokens(s)
    return web.json_response({"tokens": [token_json(t) for t in records]})


async def create_token(request: web.Request) -> web.Response:
    """A new token: 201 with the secret in 'token', shown only in this response."""
    body = await json_object(request, TOKEN_CREATE_KEYS)
    name = required_str(body, "name", 200)
    role = required_str(body, "role", 16)
    token, digest = new_token()
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "token.create", "ok")
    record = await add_token(request.app[DB_KEY], name, role, digest, now_us, actor)
    return web.json_response({**token_json(record), "token": token}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    """Revoke a token from now on; its row stays. Revoking twice keeps the first time."""
    token_id = positive_id(request.match_info["id"], "token id")
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "token.revoke", "ok")
    try:
        record = await revoke_api_token(request.app[DB_KEY], token_id, now_us, actor)
    except TokenNotFound:
        raise token_not_found(token_id) from None
    return web.json_response(token_json(record))


# -- audit log -----------------------------------------------------------------------------


def _query_time(request: web.Request, name: str) -> int | None:
    text = query_str(request.query, name)
    if text is None:
        return None
    try:
        return us_from_iso(text)
    except ValueError as exc:
        raise BadRequest(f"query parameter {name!r}: {exc}") from None


def _limit(request: web.Request) -> int:
    text = query_str(request.query, "limit")
    if text is None:
        return AUDIT_LIMIT_DEFAULT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= AUDIT_LIMIT_MAX:
        raise BadRequest(f"query parameter 'limit' must be an integer from 1 to {AUDIT_LIMIT_MAX}")
    return int(text)


async def audit_log(request: web.Request) -> web.Response:
    """Audit rows newest first, filtered; 'next' pages to older rows (admin, auditor)."""
    query = request.query
    reject_unknown(query, AUDIT_QUERY)
    before = query_str(query, "before")
    wanted = AuditFilter(
        start_us=_query_time(request, "start"),
        end_us=_query_time(request, "end"),
        actor=query_str(query, "actor"),
        action=query_str(query, "action"),
        outcome=query_str(query, "outcome"),
        before_id=None if before is None else positive_id(before, "query parameter 'before'"),
    )
    page = await read_audit(request.app[DB_KEY], wanted, _limit(request))
    next_url = None
    if page.next_before is not None:
        next_url = str(request.rel_url.update_query(before=str(page.next_before)))
    return web.json_response(
        {
            "entries": [audit_json(a) for a in page.entries],
            "next_before": page.next_before,
            "next": next_url,
        }
    )
