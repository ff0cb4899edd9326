"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

import hashlib
import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from index.db import Database
from index.tokens import token_by_hash, touch_token
from surveil.clock import Clock
from web.errors import Unauthorized
from web.keys import CLOCK_KEY, DB_KEY, ROLE_KEY, TOKEN_KEY

logger = logging.getLogger(__name__)

API_V1 = "/api/v1"
# Readable without a token: a load balancer's probe and the API description.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", f"{API_V1}/health"),
        ("HEAD", f"{API_V1}/health"),
        ("GET", f"{API_V1}/openapi.json"),
        ("HEAD", f"{API_V1}/openapi.json"),
    }
)
TOUCH_INTERVAL_US = 60_000_000


def new_token() -> tuple[str, str]:
    """A fresh API token and its sha256 hex; only the hash is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """The sha256 hex under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenToucher:
    """Records a token's last use at most once per interval, so reads do not become writes."""

    def __init__(self, interval_us: int = TOUCH_INTERVAL_US) -> None:
        self._interval_us = interval_us
        self._last_mono_us: dict[int, int] = {}

    def touch(self, db: Database, clock: Clock, token_id: int) -> None:
        mono_us = clock.monotonic_us()
        last = self._last_mono_us.get(token_id)
        if last is not None and mono_us - last < self._interval_us:
            return
        self._last_mono_us[token_id] = mono_us
        now_us = clock.now_us()
        db.submit(lambda s: touch_token(s, token_id, now_us))


TOUCHER_KEY = web.AppKey("token_toucher", TokenToucher)


def _bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization")
    if header is None:
        raise _unauthorized("missing Authorization: Bearer <token> header", invalid=False)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'", invalid=True)
    return token


def _unauthorized(message: str, *, invalid: bool) -> Unauthorized:
    # RFC 6750 §3: error="invalid_token" only when a token was presented.
    challenge = 'Bearer realm="surveil"' + (', error="invalid_token"' if invalid else "")
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a valid, unrevoked bearer token on /api/v1 except the public routes."""
    path = request.path
    is_api = path == API_V1 or path.startswith(API_V1 + "/")
    if not is_api or (request.method, path) in PUBLIC_ROUTES:
        return await handler(request)
    token = _bearer_token(request)
    app = request.app
    db = app[DB_KEY]
    async with db.read() as s:
        record = await token_by_hash(s, token_hash(token))
    if record is None:
        raise _unauthorized("the token is unknown or revoked", invalid=True)
    app[TOUCHER_KEY].touch(db, app[CLOCK_KEY], record.id)
    request[TOKEN_KEY] = record
    request[ROLE_KEY] = record.role
    return await handler(request)
