"""Strict parsing of JSON request bodies; every failure is a BadRequest naming the key.

Every JSON body goes through :func:`json_object`, which applies the index's text rule
(index/text.py: no NUL, no lone surrogate) to every key and string, however deep, so that
the 400 names the JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from aiohttp import web

from surveil.timefmt import us_from_iso
from web.errors import BadRequest
from web.params import check_text

MAX_BODY_BYTES = 64 * 1024


async def json_object(request: web.Request, allowed: Collection[str]) -> dict[str, object]:
    """The body as a JSON object with only the allowed keys."""
    if request.content_type != "application/json":
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    _check_strings(body, "")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown key {unknown[0]!r} in the request body; "
            f"expected: {', '.join(sorted(allowed))}"
        )
    return body


def _check_strings(value: object, path: str) -> None:
    """Apply the text rule (index/text.py) to every key and string in the body, naming the
    JSON path of the first offender: name, onvif.host, counters[0]."""
    if isinstance(value, str):
        check_text(value, repr(path))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a key in {path!r}" if path else "a key of the request body")
            _check_strings(item, f"{path}.{key}" if path else key)


def optional_str(body: Mapping[str, object], key: str, max_length: int = 200) -> str | None:
    """A string value or null/absent; empty strings count as absent."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise BadRequest(f"{key!r} must be at most {max_length} characters")
    return value or None


def required_str(body: Mapping[str, object], key: str, max_length: int = 200) -> str:
    value = optional_str(body, key, max_length)
    if value is None:
        raise BadRequest(f"{key!r} is required")
    return value


def optional_time_us(body: Mapping[str, object], key: str) -> int | None:
    """An ISO 8601 time with UTC offset as µs since the epoch, or null/absent."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        return us_from_iso(value)
    except ValueError as exc:
        raise BadRequest(f"{key!r}: {exc}") from None


def required_time_us(body: Mapping[str, object], key: str) -> int:
    value = optional_time_us(body, key)
    if value is None:
        raise BadRequest(f"{key!r} is required")
    return value
