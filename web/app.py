"""The aiohttp application factory."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from index.db import Database
from index.receipts import ReceiptSettings
from surveil.clock import Clock
from surveil.status import StatusSource
from web.auth import TOUCHER_KEY, TokenToucher, auth_middleware
from web.errors import error_middleware
from web.headers import set_response_headers
from web.keys import CLOCK_KEY, DATA_DIR_KEY, DB_KEY, RECEIPTS_KEY, STATUS_KEY
from web.routes import setup_routes


def create_app(
    db: Database,
    status: StatusSource,
    data_dir: Path,
    clock: Clock,
    receipts: ReceiptSettings | None = None,
) -> web.Application:
    """Build the web application around an opened database; the caller owns db's lifetime."""
    # error_middleware is outermost so that auth failures become JSON errors too.
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[DB_KEY] = db
    app[STATUS_KEY] = status
    app[DATA_DIR_KEY] = data_dir
    app[CLOCK_KEY] = clock
    app[RECEIPTS_KEY] = receipts or ReceiptSettings()
    app[TOUCHER_KEY] = TokenToucher()
    app.on_response_prepare.append(set_response_headers)
    setup_routes(app)
    return app
