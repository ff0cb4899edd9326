"""Strict parsing of JSON request bodies; every failure is a BadRequest naming the key."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from aiohttp import web

from web.errors import BadRequest
from web.timefmt import us_from_iso

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
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown key {unknown[0]!r} in the request body; "
            f"expected: {', '.join(sorted(allowed))}"
        )
    return body


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
