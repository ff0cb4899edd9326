"""API tokens, stored only as hashes."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from index.errors import Conflict, RecordNotFound
from index.models import ApiToken
from index.records import TOKEN_ROLES, TokenRecord
from index.text import check_text


class TokenNotFound(RecordNotFound):
    """No API token with that id."""

    code: ClassVar[str] = "token_not_found"


def _record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        created_us=row.created_us,
        revoked_us=row.revoked_us,
        last_used_us=row.last_used_us,
    )


async def create_token(
    s: AsyncSession, name: str, role: str, token_hash: str, now_us: int
) -> TokenRecord:
    """Store a new token's hash; ValueError for an unknown role, InvalidRecord for a name
    that is not one line of text, Conflict for a reused hash."""
    if role not in TOKEN_ROLES:
        raise ValueError(f"token role {role!r} is not one of {TOKEN_ROLES}")
    check_text(name, "token name")  # shown in the token list and in audit rows
    taken = (await s.execute(select(ApiToken.id).where(ApiToken.token_hash == token_hash))).first()
    if taken is not None:
        raise Conflict("a token with this hash already exists")
    row = ApiToken(name=name, role=role, token_hash=token_hash, created_us=now_us)
    s.add(row)
    await s.flush()
    return _record(row)


async def token_by_hash(s: AsyncSession, token_hash: str) -> TokenRecord | None:
    """The active token with this hash, or None if unknown or revoked."""
    stmt = select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_us.is_(None))
    row = (await s.execute(stmt)).scalar_one_or_none()
    return None if row is None else _record(row)


async def touch_token(s: AsyncSession, token_id: int, now_us: int) -> None:
    """Record a successful use of the token; raises RecordNotFound."""
    row = await s.get(ApiToken, token_id)
    if row is None:
        raise RecordNotFound(f"no token with id {token_id}")
    row.last_used_us = now_us
    await s.flush()


async def revoke_token(s: AsyncSession, token_id: int, now_us: int) -> None:
    """Revoke the token from now_us on (keeping its row for the audit trail); raises RecordNotFound.

    Revoking an already revoked token keeps the first revocation time.
    """
    row = await s.get(ApiToken, token_id)
    if row is None:
        raise RecordNotFound(f"no token with id {token_id}")
    if row.revoked_us is None:
        row.revoked_us = now_us
        await s.flush()


async def list_tokens(s: AsyncSession) -> list[TokenRecord]:
    """Every token, revoked ones included, oldest first."""
    rows = (await s.execute(select(ApiToken).order_by(ApiToken.id))).scalars()
    return [_record(row) for row in rows]


async def get_token(s: AsyncSession, token_id: int) -> TokenRecord:
    """The token with this id, revoked or not (never its hash); raises TokenNotFound."""
    row = await s.get(ApiToken, token_id)
    if row is None:
        raise TokenNotFound(f"no token with id {token_id}")
    return _record(row)
