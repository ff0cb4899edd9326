"""Logging setup: one format, and a last-line filter that scrubs URL credentials and
escapes control characters."""

from __future__ import annotations

import logging
import sys

from cameras.urls import escape_controls, redact_url


class RedactingFilter(logging.Filter):
    """Redact URL credentials (userinfo and secret query values) in a log record, whatever
    the caller passed, and escape control characters (a camera URL or a device's answer
    may carry them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = escape_controls(redact_url(message))
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = escape_controls(redact_url(text))
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for noisy in ("alembic", "aiosqlite", "asyncio"):
        # Their INFO lines (migration context, every statement) drown ours.
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for secretive in ("botocore", "aiobotocore"):
        # At DEBUG they log request headers, the access key id in Authorization among them.
        logging.getLogger(secretive).setLevel(logging.WARNING)
