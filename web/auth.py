"""Authentication: API bearer tokens, browser sessions, CSRF tokens and the login rate limit.

Two kinds of caller reach surveil. Integrations (the acceptance system, scripts) send an
API token in ``Authorization: Bearer``; it is never sent by a browser on its own, so token
requests need no CSRF token. People sign in on the login page and get a session cookie
(256-bit random id, HttpOnly, SameSite=Strict; only its sha256 is stored); every state
change they make must also carry the session's CSRF token, in the ``X-CSRF-Token`` header
or a ``csrf_token`` form field.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import deque
from dataclasses import dataclass

from aiohttp import web

from index.db import Database
from index.records import UserRecord
from index.sessions import active_session, create_session, end_session, touch_session
from index.tokens import token_by_hash, touch_token
from index.users import UserNotFound, get_user_by_id
from surveil.accounts import token_hash
from surveil.clock import Clock
from surveil.config import WebSettings
from web.errors import CsrfRefused, Unauthorized
from web.keys import CLOCK_KEY, DB_KEY, SETTINGS_KEY
from web.principal import Principal

logger = logging.getLogger(__name__)

SESSION_COOKIE = "surveil_session"
LOGIN_CSRF_COOKIE = "surveil_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOUCH_INTERVAL_US = 60_000_000
SESSION_TOUCH_INTERVAL_US = 15_000_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Toucher:
    """Records a token's or session's last use at most once per interval per id."""

    def __init__(self, interval_us: int) -> None:
        self._interval_us = interval_us
        self._last_mono_us: dict[int, int] = {}

    def due(self, clock: Clock, key: int) -> bool:
        mono_us = clock.monotonic_us()
        last = self._last_mono_us.get(key)
        if last is not None and mono_us - last < self._interval_us:
            return False
        self._last_mono_us[key] = mono_us
        return True


class TokenToucher(Toucher):
    """Records a token's last use at most once per interval, so reads do not become writes."""

    def __init__(self, interval_us: int = TOUCH_INTERVAL_US) -> None:
        super().__init__(interval_us)

    def touch(self, db: Database, clock: Clock, token_id: int) -> None:
        if self.due(clock, token_id):
            now_us = clock.now_us()
            db.submit(lambda s: touch_token(s, token_id, now_us))


TOUCHER_KEY = web.AppKey("token_toucher", TokenToucher)
SESSION_TOUCHER_KEY = web.AppKey("session_toucher", Toucher)


def unauthorized(message: str, *, invalid: bool) -> Unauthorized:
    # RFC 6750 §3: error="invalid_token" only when a token was presented.
    challenge = 'Bearer realm="surveil"' + (', error="invalid_token"' if invalid else "")
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


async def _token_principal(request: web.Request, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("the Authorization header must be 'Bearer <token>'", invalid=True)
    app = request.app
    db = app[DB_KEY]
    async with db.read() as s:
        record = await token_by_hash(s, token_hash(token))
    if record is None:
        raise unauthorized("the token is unknown or revoked", invalid=True)
    app[TOUCHER_KEY].touch(db, app[CLOCK_KEY], record.id)
    return Principal(kind="token", name=record.name, role=record.role)


def user_principal(user: UserRecord, session_id: int, csrf_token: str) -> Principal:
    return Principal(
        kind="user",
        name=user.username,
        role=user.role,
        counters=frozenset(user.counters) if user.role == "staff" else None,
        user_id=user.id,
        session_id=session_id,
        csrf_token=csrf_token,
        permissions=frozenset(user.permissions),
    )


async def _session_principal(request: web.Request, sid: str) -> Principal | None:
    """The signed-in user for this cookie, or None; ends sessions that timed out."""
    app = request.app
    db, clock, settings = app[DB_KEY], app[CLOCK_KEY], app[SETTINGS_KEY]
    now_us = clock.now_us()
    async with db.read() as s:
        session = await active_session(s, token_hash(sid))
        if session is None:
            return None
        try:
            user = await get_user_by_id(s, session.user_id)
        except UserNotFound:
            return None
    reason = None
    if now_us - session.created_us > settings.session_max_us:
        reason = "expired"
    elif now_us - session.last_seen_us > settings.session_idle_us:
        reason = "idle"
    elif user.disabled_us is not None:
        reason = "disabled"
    if reason is not None:
        session_id = session.id
        await db.write(lambda s: end_session(s, session_id, reason, now_us))
        return None
    if app[SESSION_TOUCHER_KEY].due(clock, session.id):
        # Awaited, not submitted: the idle timeout of the next request reads this row.
        session_id = session.id
        await db.write(lambda s: touch_session(s, session_id, now_us))
    return user_principal(user, session.id, session.csrf_token)


async def authenticate(request: web.Request) -> Principal | None:
    """The caller: bearer token first, then session cookie; None when neither is present.

    A malformed or unknown bearer token is Unauthorized, not anonymous.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        return await _token_principal(request, header)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        return await _session_principal(request, sid)
    return None


async def check_csrf(request: web.Request, principal: Principal) -> None:
    """Refuse a session's state change that does not echo the session's CSRF token."""
    if request.method in SAFE_METHODS or principal.kind != "user":
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("missing or wrong CSRF token: reload the page and try again")


@dataclass
class SessionStart:
    """A new session: the cookie value (never stored) and its CSRF token."""

    sid: str
    session_id: int
    csrf_token: str


async def start_session(request: web.Request, user: UserRecord) -> SessionStart:
    """Create a fresh session for user (a new id at every login: no session fixation)."""
    db, clock = request.app[DB_KEY], request.app[CLOCK_KEY]
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now_us = clock.now_us()
    remote = request.remote
    record = await db.write(
        lambda s: create_session(s, token_hash(sid), user.id, csrf, remote, now_us)
    )
    return SessionStart(sid=sid, session_id=record.id, csrf_token=csrf)


def set_session_cookie(response: web.StreamResponse, sid: str, settings: WebSettings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        httponly=True,
        samesite="Strict",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


class LoginLimiter:
    """Refuses logins after too many recent failures for a user name or from an address.

    In memory: a restart forgets failures, which the audit log keeps regardless.
    """

    def __init__(self, max_failures: int, window_us: int) -> None:
        self._max = max_failures
        self._window_us = window_us
        self._failures: dict[tuple[str, str], deque[int]] = {}

    def _recent(self, key: tuple[str, str], mono_us: int) -> deque[int]:
        q = self._failures.setdefault(key, deque())
        while q and mono_us - q[0] > self._window_us:
            q.popleft()
        return q

    def retry_after_s(self, username: str, remote: str | None, mono_us: int) -> int:
        """0 when a login may be tried now, else seconds until the oldest failure expires."""
        worst = 0
        for key in self._keys(username, remote):
            q = self._recent(key, mono_us)
            if len(q) >= self._max:
                worst = max(worst, (q[0] + self._window_us - mono_us) // 1_000_000 + 1)
        return worst

    def failed(self, username: str, remote: str | None, mono_us: int) -> None:
        for key in self._keys(username, remote):
            self._recent(key, mono_us).append(mono_us)

    def succeeded(self, username: str) -> None:
        self._failures.pop(("user", username.lower()), None)

    @staticmethod
    def _keys(username: str, remote: str | None) -> list[tuple[str, str]]:
        keys = [("user", username.lower())]
        if remote:
            keys.append(("remote", remote))
        return keys


LIMITER_KEY = web.AppKey("login_limiter", LoginLimiter)
