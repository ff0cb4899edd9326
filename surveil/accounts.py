"""Creating and changing web accounts: the password rule, hashing, the audit row.

Used by `surveil user add`, `surveil demo` and the users API/pages alike, so an account
made anywhere obeys the same rule and leaves the same audit trail.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.urls import is_control
from index import tokens as token_queries
from index import users as user_queries
from index.audit import AUDIT_PAGE_MAX, add_audit, list_audit, write_audited
from index.db import Database
from index.errors import Conflict, InvalidRecord
from index.records import AUDIT_OUTCOMES, TOKEN_ROLES, AuditIn, AuditRecord, TokenRecord, UserRecord
from index.sessions import end_user_sessions
from surveil.passwords import PasswordRejected, check_password_rule, hash_password

SYSTEM_ACTOR = AuditIn(actor="cli", actor_kind="system", action="", outcome="ok")


def new_token() -> tuple[str, str]:
    """A fresh API token and its sha256 hex; only the hash is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The sha256 hex under which a token (or a session id) is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_password(username: str = "") -> str:
    """A random 20-character password (120 bits) that passes the rule for username."""
    while True:
        password = secrets.token_urlsafe(15)
        try:
            check_password_rule(password, username)
        except PasswordRejected:
            continue  # it happens to contain the user name: draw again
        return password


async def add_user(
    db: Database,
    username: str,
    password: str,
    role: str,
    counters: Sequence[str],
    now_us: int,
    actor: AuditIn = SYSTEM_ACTOR,
    permissions: Sequence[str] = (),
) -> UserRecord:
    """Create an account; PasswordRejected, InvalidRecord, Conflict or CounterNotFound."""
    user_queries.validate_username(username)
    user_queries.validate_role(role)
    user_queries.validate_permissions(role, permissions)
    check_password_rule(password, username)
    digest = await asyncio.to_thread(hash_password, password)
    detail: dict[str, object] = {"role": role, "counters": sorted(counters)}
    if permissions:
        detail["permissions"] = sorted(set(permissions))
    entry = replace(actor, action="user.create", target=username, outcome="ok", detail=detail)
    return await write_audited(
        db,
        lambda s: user_queries.create_user(
            s, username, digest, role, counters, now_us, permissions
        ),
        entry,
        now_us,
    )


async def change_password(
    db: Database,
    username: str,
    password: str,
    now_us: int,
    actor: AuditIn = SYSTEM_ACTOR,
) -> UserRecord:
    """Set a new password and end the account's sessions everywhere."""
    check_password_rule(password, username)
    digest = await asyncio.to_thread(hash_password, password)

    async def change(s: AsyncSession) -> UserRecord:
        record = await user_queries.set_password_hash(s, username, digest)
        await end_user_sessions(s, record.id, "password changed", now_us)
        entry = replace(actor, action="user.password", target=username, outcome="ok", detail={})
        await add_audit(s, entry, now_us)
        return record

    return await db.write(change)


class AccountRuleBroken(Conflict):
    """The change would leave no active admin, or an admin would lock themselves out."""

    code: ClassVar[str] = "conflict"


class SelfDisable(AccountRuleBroken):
    """An admin tried to disable their own account."""

    code: ClassVar[str] = "self_disable"


class LastAdmin(AccountRuleBroken):
    """The change would leave the installation without an active admin."""

    code: ClassVar[str] = "last_admin"


@dataclass(frozen=True)
class AccountChange:
    """What to change in an account; None leaves a field as it is."""

    role: str | None = None
    counters: tuple[str, ...] | None = None
    disabled: bool | None = None
    password: str | None = None
    permissions: tuple[str, ...] | None = None

    def is_empty(self) -> bool:
        return (
            self.role is None
            and self.counters is None
            and self.permissions is None
            and self.disabled is None
            and self.password is None
        )


def _guard_admins(before: UserRecord, change: AccountChange, admins: int, actor: AuditIn) -> None:
    """AccountRuleBroken if the change would lock the installation or the actor out."""
    disabling = change.disabled is True and before.disabled_us is None
    if disabling and actor.actor_kind == "user" and actor.actor == before.username:
        raise SelfDisable("you cannot disable your own account")
    active_admin = before.role == "admin" and before.disabled_us is None
    demoting = change.role is not None and change.role != "admin"
    if active_admin and (demoting or disabling) and admins <= 1:
        raise LastAdmin(f"{before.username!r} is the last active admin; make another admin first")


def _changes(before: UserRecord, after: UserRecord) -> dict[str, object]:
    detail: dict[str, object] = {}
    if before.role != after.role:
        detail["role"] = {"from": before.role, "to": after.role}
    if before.counters != after.counters:
        detail["counters"] = {"from": list(before.counters), "to": list(after.counters)}
    if before.permissions != after.permissions:
        detail["permissions"] = {"from": list(before.permissions), "to": list(after.permissions)}
    return detail


async def change_account(
    db: Database,
    username: str,
    change: AccountChange,
    now_us: int,
    actor: AuditIn = SYSTEM_ACTOR,
) -> UserRecord:
    """Apply change in one transaction with its audit rows; end sessions when needed.

    Raises UserNotFound, InvalidRecord, PasswordRejected, CounterNotFound, or
    AccountRuleBroken (demoting or disabling the last active admin; disabling oneself).
    Audit actions: user.update (role, counters, permissions), user.disable, user.enable,
    user.password; a field given with its current value changes nothing and writes no row.
    """
    if change.role is not None:
        user_queries.validate_role(change.role)
    digest = None
    if change.password is not None:
        check_password_rule(change.password, username)
        digest = await asyncio.to_thread(hash_password, change.password)

    def entry(action: str, detail: dict[str, object]) -> AuditIn:
        return replace(actor, action=action, target=username, outcome="ok", detail=detail)

    async def apply(s: AsyncSession) -> UserRecord:
        before = await user_queries.get_user(s, username)
        _guard_admins(before, change, await user_queries.count_admins(s), actor)
        after = await user_queries.update_user(
            s,
            username,
            role=change.role,
            counters=change.counters,
            disabled=change.disabled,
            permissions=change.permissions,
            now_us=now_us,
        )
        detail = _changes(before, after)
        if detail:
            await add_audit(s, entry("user.update", detail), now_us)
        if before.disabled_us is None and after.disabled_us is not None:
            await end_user_sessions(s, after.id, "disabled", now_us)
            await add_audit(s, entry("user.disable", {}), now_us)
        elif before.disabled_us is not None and after.disabled_us is None:
            await add_audit(s, entry("user.enable", {}), now_us)
        if digest is not None:
            after = await user_queries.set_password_hash(s, username, digest)
            await end_user_sessions(s, after.id, "password changed", now_us)
            await add_audit(s, entry("user.password", {}), now_us)
        return after

    return await db.write(apply)


TOKEN_NAME_MAX = 200


def validate_token(name: str, role: str) -> str:
    """The token's name without the blanks around it; InvalidRecord unless it is one line
    (no control character, as cameras.urls.is_control) of 1-200 characters and role is a
    token role.

    A rule a schema can state (web.wire.accounts.TokenName), so the API refuses what the
    service would; stripping is done here, so " x" from a form or the CLI is "x".
    """
    if any(is_control(c) for c in name):
        raise InvalidRecord("a token's name must be one line, without control characters")
    name = name.strip()
    if not 1 <= len(name) <= TOKEN_NAME_MAX:
        raise InvalidRecord(
            f"a token's name must be 1-{TOKEN_NAME_MAX} characters, not counting blanks around it"
        )
    if role not in TOKEN_ROLES:
        raise InvalidRecord(f"role must be one of {', '.join(TOKEN_ROLES)}, not {role!r}")
    return name


async def add_token(
    db: Database, name: str, role: str, digest: str, now_us: int, actor: AuditIn = SYSTEM_ACTOR
) -> TokenRecord:
    """Store a new token by its hash (the caller shows the token once) and audit it.

    The name is stored without the blanks around it (validate_token); InvalidRecord.
    """
    name = validate_token(name, role)

    async def create(s: AsyncSession) -> TokenRecord:
        record = await token_queries.create_token(s, name, role, digest, now_us)
        detail: dict[str, object] = {"id": record.id, "role": role}
        entry = replace(actor, action="token.create", target=name, outcome="ok", detail=detail)
        await add_audit(s, entry, now_us)
        return record

    return await db.write(create)


async def revoke_api_token(
    db: Database, token_id: int, now_us: int, actor: AuditIn = SYSTEM_ACTOR
) -> TokenRecord:
    """Revoke a token (its row stays); revoking a revoked one changes and audits nothing.

    Raises TokenNotFound.
    """

    async def revoke(s: AsyncSession) -> TokenRecord:
        before = await token_queries.get_token(s, token_id)
        if before.revoked_us is not None:
            return before
        await token_queries.revoke_token(s, token_id, now_us)
        detail: dict[str, object] = {"id": token_id, "role": before.role}
        entry = replace(
            actor, action="token.revoke", target=before.name, outcome="ok", detail=detail
        )
        await add_audit(s, entry, now_us)
        return await token_queries.get_token(s, token_id)

    return await db.write(revoke)


@dataclass(frozen=True)
class AuditFilter:
    """Which audit rows to read; None means no limit on that field."""

    start_us: int | None = None
    end_us: int | None = None
    actor: str | None = None
    action: str | None = None  # a prefix: "user." matches user.create, user.update, ...
    outcome: str | None = None
    before_id: int | None = None


@dataclass(frozen=True)
class AuditPage:
    """Newest first; next_before is the cursor for the next (older) page, None at the end."""

    entries: list[AuditRecord]
    next_before: int | None


async def read_audit(db: Database, query: AuditFilter, limit: int) -> AuditPage:
    """One page of the audit log; InvalidRecord for a bad outcome, limit or range."""
    if query.outcome is not None and query.outcome not in AUDIT_OUTCOMES:
        raise InvalidRecord(f"outcome must be one of {', '.join(AUDIT_OUTCOMES)}")
    if not 1 <= limit < AUDIT_PAGE_MAX:
        raise InvalidRecord(f"limit must be between 1 and {AUDIT_PAGE_MAX - 1}")
    if query.start_us is not None and query.end_us is not None and query.end_us <= query.start_us:
        raise InvalidRecord("the end of the range must be later than its start")
    async with db.read() as s:
        rows = await list_audit(
            s,
            start_us=query.start_us,
            end_us=query.end_us,
            actor=query.actor,
            action=query.action,
            outcome=query.outcome,
            before_id=query.before_id,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more and rows else None)
