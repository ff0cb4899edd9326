"""Credentials in stream URLs: redaction for anything a person or a log can see."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# userinfo in any scheme://user:pass@host URL, wherever it appears in a string
# (FFmpeg error text, exception messages, pydantic messages).
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]*)@")

REDACTED = "***"


def redact_url(text: str) -> str:
    """Replace the user:password part of every URL in text with ***."""
    return _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def url_secrets(url: str) -> list[str]:
    """The secret strings in a URL (password, raw and percent-decoded), for scrubbing."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    secrets: list[str] = []
    if parts.password:
        secrets.append(parts.password)
        decoded = unquote(parts.password)
        if decoded != parts.password:
            secrets.append(decoded)
    return secrets


def scrub(text: str, secrets: list[str]) -> str:
    """Redact URLs and any literal occurrence of the given secrets."""
    out = redact_url(text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, REDACTED)
    return out
