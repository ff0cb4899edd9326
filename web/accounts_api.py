"""Users, API tokens and the audit log over JSON: validated models in, surveil.accounts, models out.

Every change goes through surveil.accounts, which writes it and its audit row in one
transaction. No response carries a password hash, and a token's secret is in exactly one
response: the 201 that created it. Not-found and rule errors propagate: web/errors.py maps
them (user_not_found, token_not_found, counter_not_found, password_rejected, conflict).
"""

from __future__ import annotations

from aiohttp import web

from index import tokens as token_queries
from index import users as user_queries
from index.errors import Conflict, CounterNotFound, InvalidRecord
from index.tokens import TokenNotFound
from index.users import UserNotFound
from surveil.accounts import (
    LastAdmin,
    SelfDisable,
    add_token,
    add_user,
    change_account,
    new_token,
    read_audit,
    revoke_api_token,
)
from surveil.passwords import PasswordRejected
from web.access import audit_entry
from web.errors import Unprocessable
from web.keys import CLOCK_KEY, DB_KEY
from web.openapi import Op
from web.wire.accounts import (
    AuditEntry,
    AuditPage,
    AuditQuery,
    NewToken,
    Token,
    TokenCreate,
    TokenList,
    TokenPath,
    User,
    UserCreate,
    UserList,
    UserPatch,
    UserPath,
)
from web.wire.base import reply

# -- users ---------------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    """Every account, by name; never a password hash."""
    async with request.app[DB_KEY].read() as s:
        records = await user_queries.list_users(s)
    return reply(UserList(users=[User.of(u) for u in records]))


async def create_user(request: web.Request, *, body: UserCreate) -> web.Response:
    """Audited as user.create. 400 for a password outside 10-256 characters or with white
    space at either end (the schema says both); 422 password_rejected when it contains the
    user name, invalid_value for permissions granted to an auditor; 404 for an unknown
    counter; 409 for a taken name."""
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "user.create", "ok")
    record = await add_user(
        request.app[DB_KEY],
        body.username,
        body.password,
        body.role,
        body.counters,
        now_us,
        actor,
        permissions=body.permissions,
    )
    return reply(User.of(record), status=201)


async def get_user(request: web.Request, *, path: UserPath) -> web.Response:
    """One account by its user name; never its password hash."""
    async with request.app[DB_KEY].read() as s:
        record = await user_queries.get_user(s, path.username)
    return reply(User.of(record))


async def update_user(request: web.Request, *, path: UserPath, body: UserPatch) -> web.Response:
    """Audited as user.update (role, counters, permissions), user.disable, user.enable and
    user.password. Disabling or a new password ends the account's sessions. 409 when it
    would demote or disable the last active admin, or disable the caller's own account;
    422 invalid_value for permissions on an auditor (demoting to auditor removes them in
    the same change)."""
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "user.update", "ok")
    record = await change_account(request.app[DB_KEY], path.username, body.change(), now_us, actor)
    return reply(User.of(record))


# -- tokens --------------------------------------------------------------------------------


async def list_tokens(request: web.Request) -> web.Response:
    """Oldest first; never a secret or a hash."""
    async with request.app[DB_KEY].read() as s:
        records = await token_queries.list_tokens(s)
    return reply(TokenList(tokens=[Token.of(t) for t in records]))


async def create_token(request: web.Request, *, body: TokenCreate) -> web.Response:
    """Audited as token.create. The name is stored without the blanks around it; a name
    of blanks only is 422 invalid_value."""
    token, digest = new_token()
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "token.create", "ok")
    record = await add_token(request.app[DB_KEY], body.name, body.role, digest, now_us, actor)
    return reply(NewToken.of_new(record, token), status=201)


async def revoke_token(request: web.Request, *, path: TokenPath) -> web.Response:
    """Audited as token.revoke; takes effect on the next request. Revoking again keeps the
    first revocation time and writes no second row."""
    now_us = request.app[CLOCK_KEY].now_us()
    actor = audit_entry(request, "token.revoke", "ok")
    record = await revoke_api_token(request.app[DB_KEY], path.id, now_us, actor)
    return reply(Token.of(record))


# -- audit log -----------------------------------------------------------------------------


async def audit_log(request: web.Request, *, query: AuditQuery) -> web.Response:
    """Filters combine; 'next' is the path of the next (older) page. 422 invalid_value
    when 'end' is not later than 'start'."""
    page = await read_audit(request.app[DB_KEY], query.filter(), query.limit)
    next_url = None
    if page.next_before is not None:
        next_url = str(request.rel_url.update_query(before=str(page.next_before)))
    return reply(
        AuditPage(
            entries=[AuditEntry.of(a) for a in page.entries],
            next_before=page.next_before,
            next=next_url,
        )
    )


OPS = (
    Op(
        "GET",
        "/api/v1/users",
        "users",
        list_users,
        "Every account, by name (admin)",
        ok={200: UserList},
    ),
    Op(
        "POST",
        "/api/v1/users",
        "create_user",
        create_user,
        "Create an account (admin)",
        body_model=UserCreate,
        ok={201: User},
        errors=(PasswordRejected, CounterNotFound, Conflict, InvalidRecord),
    ),
    Op(
        "GET",
        "/api/v1/users/{username}",
        "user",
        get_user,
        "One account (admin)",
        path_model=UserPath,
        ok={200: User},
        errors=(UserNotFound,),
    ),
    Op(
        "PATCH",
        "/api/v1/users/{username}",
        "update_user",
        update_user,
        "Change role, counters, permissions, disabled state or password (admin)",
        path_model=UserPath,
        body_model=UserPatch,
        ok={200: User},
        errors=(
            PasswordRejected,
            UserNotFound,
            CounterNotFound,
            SelfDisable,
            LastAdmin,
            InvalidRecord,
        ),
    ),
    Op(
        "GET",
        "/api/v1/tokens",
        "tokens",
        list_tokens,
        "Every API token, revoked ones included (admin)",
        ok={200: TokenList},
    ),
    Op(
        "POST",
        "/api/v1/tokens",
        "create_token",
        create_token,
        "Create an API token (admin); the secret is in this answer only",
        body_model=TokenCreate,
        ok={201: NewToken},
        errors=(InvalidRecord,),
    ),
    Op(
        "DELETE",
        "/api/v1/tokens/{id}",
        "revoke_token",
        revoke_token,
        "Revoke an API token (admin); its row stays",
        path_model=TokenPath,
        ok={200: Token},
        errors=(TokenNotFound,),
    ),
    Op(
        "GET",
        "/api/v1/audit",
        "audit_log",
        audit_log,
        "The audit log, newest first (admin, auditor)",
        query_model=AuditQuery,
        ok={200: AuditPage},
        errors=(Unprocessable,),
    ),
)
