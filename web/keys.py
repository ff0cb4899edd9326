"""Typed keys for application and request state."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from index.db import Database
from index.receipts import ReceiptSettings
from surveil.clock import Clock
from surveil.status import StatusSource
from web.principal import Principal
from web.settings import AuthSettings

DB_KEY = web.AppKey("db", Database)
STATUS_KEY = web.AppKey("status", StatusSource)
DATA_DIR_KEY = web.AppKey("data_dir", Path)
CLOCK_KEY = web.AppKey("clock", Clock)
RECEIPTS_KEY = web.AppKey("receipts", ReceiptSettings)
AUTH_KEY = web.AppKey("auth", AuthSettings)

# Set by the auth middleware on every authenticated request.
PRINCIPAL_KEY = web.RequestKey("principal", Principal)

# A segment's sha256, applied as its ETag when the response is prepared (FileResponse
# would otherwise stamp an mtime-based one).
CONTENT_ETAG_KEY = web.ResponseKey("content_etag", str)
