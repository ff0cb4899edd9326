"""Web sessions, stored by the hash of their id."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from index.models import WebSession
from index.records import SessionRecord


def _record(row: WebSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        created_us=row.created_us,
        last_seen_us=row.last_seen_us,
        ended_us=row.ended_us,
        end_reason=row.end_reason,
        remote=row.remote,
    )


async def create_session(
    s: AsyncSession, sid_hash: str, user_id: int, csrf_token: str, remote: str | None, now_us: int
) -> SessionRecord:
    row = WebSession(
        sid_hash=sid_hash,
        user_id=user_id,
        csrf_token=csrf_token,
        created_us=now_us,
        last_seen_us=now_us,
        remote=remote,
    )
    s.add(row)
    await s.flush()
    return _record(row)


async def active_session(s: AsyncSession, sid_hash: str) -> SessionRecord | None:
    """The session with this id hash if it has not ended (timeouts are checked by the caller)."""
    stmt = select(WebSession).where(WebSession.sid_hash == sid_hash, WebSession.ended_us.is_(None))
    row = (await s.execute(stmt)).scalar_one_or_none()
    return None if row is None else _record(row)


async def touch_session(s: AsyncSession, session_id: int, now_us: int) -> None:
    await s.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.ended_us.is_(None))
        .values(last_seen_us=now_us)
    )


async def end_session(s: AsyncSession, session_id: int, reason: str, now_us: int) -> None:
    """End the session once; ending an ended session keeps the first end."""
    await s.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.ended_us.is_(None))
        .values(ended_us=now_us, end_reason=reason)
    )


async def end_user_sessions(s: AsyncSession, user_id: int, reason: str, now_us: int) -> None:
    """End every active session of an account (password change, disabling)."""
    await s.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_us.is_(None))
        .values(ended_us=now_us, end_reason=reason)
    )
