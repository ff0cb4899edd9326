"""Typed keys for application and request state."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from index.db import Database
from index.receipts import ReceiptSettings
from index.records import TokenRecord
from surveil.clock import Clock
from surveil.status import StatusSource

DB_KEY = web.AppKey("db", Database)
STATUS_KEY = web.AppKey("status", StatusSource)
DATA_DIR_KEY = web.AppKey("data_dir", Path)
CLOCK_KEY = web.AppKey("clock", Clock)
RECEIPTS_KEY = web.AppKey("receipts", ReceiptSettings)

# Set by the auth middleware on every authenticated request.
TOKEN_KEY = web.RequestKey("token", TokenRecord)
ROLE_KEY = web.RequestKey("role", str)

# A segment's sha256, applied as its ETag when the response is prepared (FileResponse
# would otherwise stamp an mtime-based one).
CONTENT_ETAG_KEY = web.ResponseKey("content_etag", str)
