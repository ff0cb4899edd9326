"""Web accounts and their counter scope. Password hashing happens above this layer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import Conflict, CounterNotFound, InvalidRecord, RecordNotFound
from index.models import Counter, User, UserCounter, UserPermission
from index.records import PERMISSIONS, USER_ROLES, UserRecord

# \Z, not $: "$" also matches before a final newline (here only fullmatch stops that).
USERNAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"  # portable: see index/cameras.py
USERNAME_RE = re.compile(rf"^{USERNAME_PATTERN}\Z")


class UserNotFound(RecordNotFound):
    """No account with that name."""

    code: ClassVar[str] = "user_not_found"


def validate_username(username: str) -> None:
    """InvalidRecord unless username is 1-64 letters, digits, '.', '_', '@' or '-'."""
    if not USERNAME_RE.fullmatch(username):
        raise InvalidRecord(
            "username must be 1-64 characters of letters, digits, '.', '_', '@', '-' "
            "and start with a letter or digit"
        )


def validate_role(role: str) -> None:
    if role not in USER_ROLES:
        raise InvalidRecord(f"role must be one of {', '.join(USER_ROLES)}, not {role!r}")


async def _counter_codes(s: AsyncSession, user_id: int) -> tuple[str, ...]:
    stmt = (
        select(Counter.code)
        .join(UserCounter, UserCounter.counter_id == Counter.id)
        .where(UserCounter.user_id == user_id)
        .order_by(Counter.code)
    )
    return tuple((await s.execute(stmt)).scalars())


def validate_permissions(role: str, permissions: Sequence[str]) -> None:
    """InvalidRecord for an unknown permission, or one granted to an auditor: reviewing and
    approving exports are acts of the administration, and auditors only watch."""
    if isinstance(permissions, str):
        raise TypeError("permissions must be a sequence of names, not a string")
    for p in permissions:
        if p not in PERMISSIONS:
            raise InvalidRecord(f"permission must be one of {', '.join(PERMISSIONS)}, not {p!r}")
    if permissions and role == "auditor":
        raise InvalidRecord("an auditor account cannot be granted permissions")


async def _permissions(s: AsyncSession, user_id: int) -> tuple[str, ...]:
    stmt = (
        select(UserPermission.permission)
        .where(UserPermission.user_id == user_id)
        .order_by(UserPermission.permission)
    )
    return tuple((await s.execute(stmt)).scalars())


async def _set_permissions(s: AsyncSession, user_id: int, permissions: Sequence[str]) -> None:
    await s.execute(delete(UserPermission).where(UserPermission.user_id == user_id))
    for p in sorted(set(permissions)):
        s.add(UserPermission(user_id=user_id, permission=p))
    await s.flush()


async def _record(s: AsyncSession, row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        role=row.role,
        counters=await _counter_codes(s, row.id),
        permissions=await _permissions(s, row.id),
        created_us=row.created_us,
        disabled_us=row.disabled_us,
        last_login_us=row.last_login_us,
    )


async def _row(s: AsyncSession, username: str) -> User:
    row = (await s.execute(select(User).where(User.username == username))).scalar_one_or_none()
    if row is None:
        raise UserNotFound(f"no user named {username!r}")
    return row


async def _set_counters(s: AsyncSession, user_id: int, codes: Sequence[str]) -> None:
    if isinstance(codes, str):
        raise TypeError("counters must be a sequence of counter codes, not a string")
    wanted = sorted(set(codes))
    ids: list[int] = []
    for code in wanted:
        cid = (await s.execute(select(Counter.id).where(Counter.code == code))).scalar()
        if cid is None:
            raise CounterNotFound(f"no counter with code {code!r}")
        ids.append(int(cid))
    await s.execute(delete(UserCounter).where(UserCounter.user_id == user_id))
    for cid in ids:
        s.add(UserCounter(user_id=user_id, counter_id=cid))
    await s.flush()


async def create_user(
    s: AsyncSession,
    username: str,
    password_hash: str,
    role: str,
    counters: Sequence[str],
    now_us: int,
    permissions: Sequence[str] = (),
) -> UserRecord:
    """A new account; Conflict if the name is taken, CounterNotFound for an unknown counter."""
    validate_username(username)
    validate_role(role)
    validate_permissions(role, permissions)
    taken = (await s.execute(select(User.id).where(User.username == username))).first()
    if taken is not None:
        raise Conflict(f"a user named {username!r} already exists")
    row = User(username=username, password_hash=password_hash, role=role, created_us=now_us)
    s.add(row)
    await s.flush()
    await _set_counters(s, row.id, counters)
    await _set_permissions(s, row.id, permissions)
    return await _record(s, row)


async def get_user(s: AsyncSession, username: str) -> UserRecord:
    """The account called username; raises UserNotFound."""
    return await _record(s, await _row(s, username))


async def get_user_by_id(s: AsyncSession, user_id: int) -> UserRecord:
    row = await s.get(User, user_id)
    if row is None:
        raise UserNotFound(f"no user with id {user_id}")
    return await _record(s, row)


async def password_hash_for(s: AsyncSession, username: str) -> tuple[UserRecord, str] | None:
    """The account and its stored hash, for checking a login; None if no such account."""
    row = (await s.execute(select(User).where(User.username == username))).scalar_one_or_none()
    if row is None:
        return None
    return await _record(s, row), row.password_hash


async def list_users(s: AsyncSession) -> list[UserRecord]:
    rows = list((await s.execute(select(User).order_by(User.username))).scalars())
    return [await _record(s, row) for row in rows]


async def update_user(
    s: AsyncSession,
    username: str,
    *,
    role: str | None = None,
    counters: Sequence[str] | None = None,
    disabled: bool | None = None,
    permissions: Sequence[str] | None = None,
    now_us: int,
) -> UserRecord:
    """Change role, counter scope, permissions or disabled state; None leaves a field as it
    is. An auditor keeps no permission: demoting an account to auditor needs its
    permissions removed in the same change."""
    row = await _row(s, username)
    if role is not None:
        validate_role(role)
        row.role = role
    if permissions is not None:
        validate_permissions(row.role, permissions)
        await _set_permissions(s, row.id, permissions)
    elif role is not None:
        validate_permissions(row.role, await _permissions(s, row.id))
    if disabled is not None and disabled != (row.disabled_us is not None):
        row.disabled_us = now_us if disabled else None
    if counters is not None:
        await _set_counters(s, row.id, counters)
    await s.flush()
    return await _record(s, row)


async def set_password_hash(s: AsyncSession, username: str, password_hash: str) -> UserRecord:
    row = await _row(s, username)
    row.password_hash = password_hash
    await s.flush()
    return await _record(s, row)


async def record_login(s: AsyncSession, user_id: int, now_us: int) -> None:
    row = await s.get(User, user_id)
    if row is None:
        raise UserNotFound(f"no user with id {user_id}")
    row.last_login_us = now_us
    await s.flush()


async def count_admins(s: AsyncSession) -> int:
    """Active admin accounts (the last one may not be demoted or disabled)."""
    stmt = select(User.id).where(User.role == "admin", User.disabled_us.is_(None))
    return len(list((await s.execute(stmt)).scalars()))
