"""Parsing of path and query parameters; every failure is a BadRequest naming the parameter.

Also the middleware that applies the index's text rule (:func:`index.text.text_problem`:
no NUL, no lone surrogate) to the path, the query string and form bodies before any handler
runs; JSON bodies get the same rule in web/body.py. The index applies the rule again to what
it stores; here it only makes the 400 name the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiMapping

from index.text import text_problem
from surveil.timefmt import us_from_iso
from web.errors import BadRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

_POSITIVE_INT_RE = re.compile(r"[1-9][0-9]{0,18}")
_MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL


def reject_unknown(query: MultiMapping[str], allowed: Collection[str]) -> None:
    """Refuse parameters this endpoint does not know, so a typo is not silently ignored."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        expected = ", ".join(sorted(allowed)) or "none"
        raise BadRequest(f"unknown query parameter {unknown[0]!r}; expected: {expected}")


def optional_str(query: MultiMapping[str], name: str) -> str | None:
    """A parameter given at most once; empty counts as a mistake, not as absent."""
    values = query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"query parameter {name!r} is given more than once")
    value = values[0]
    if not value:
        raise BadRequest(f"query parameter {name!r} is empty")
    return value


def required_str(query: MultiMapping[str], name: str) -> str:
    value = optional_str(query, name)
    if value is None:
        raise BadRequest(f"query parameter {name!r} is required")
    return value


def required_time_us(query: MultiMapping[str], name: str) -> int:
    """A required ISO 8601 time with UTC offset, as µs since the epoch."""
    text = required_str(query, name)
    try:
        return us_from_iso(text)
    except ValueError as exc:
        raise BadRequest(f"query parameter {name!r}: {exc}") from None


# Longest range one query may cover: an unbounded one would read the whole index.
MAX_RANGE_US = 31 * 24 * 3600 * 1_000_000


def time_range_us(query: MultiMapping[str]) -> tuple[int, int]:
    """The required 'start' and 'end' parameters: end after start, at most 31 days."""
    start_us = required_time_us(query, "start")
    end_us = required_time_us(query, "end")
    if end_us <= start_us:
        raise BadRequest("'end' must be later than 'start'")
    if end_us - start_us > MAX_RANGE_US:
        raise BadRequest("the range from 'start' to 'end' must be at most 31 days")
    return start_us, end_us


def positive_id(text: str, what: str) -> int:
    """A database id from a path segment: decimal digits only, 1 to 2**63-1."""
    # int() alone would accept '+1', ' 1', '1_0' and non-ASCII digits.
    if not _POSITIVE_INT_RE.fullmatch(text) or int(text) > _MAX_ID:
        raise BadRequest(f"{what} must be a positive integer, got {text[:40]!r}")
    return int(text)


# -- the text rule of every request -------------------------------------------------------


def check_text(value: str, what: str) -> None:
    """BadRequest naming `what` (never quoting the value) if value breaks the index's text
    rule for any string (index.text.text_problem); one-line fields are checked by the index."""
    problem = text_problem(value)
    if problem is not None:
        raise BadRequest(f"{what} {problem}")


def _check_pairs(pairs: Iterable[tuple[str, object]], kind: str) -> None:
    for key, value in pairs:
        check_text(key, f"a {kind} name")
        if isinstance(value, str):
            check_text(value, f"{kind} {key!r}")


@web.middleware
async def text_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse NUL and lone surrogates in the path, the query string and form fields (400
    naming where), before authentication: a denial's audit row records the path, and the
    guard reads the form for its CSRF field."""
    check_text(request.path, "the path")
    _check_pairs(request.query.items(), "query parameter")
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.content_type in FORM_TYPES:
        try:
            form = await request.post()  # cached on the request: handlers read it again
        except (UnicodeDecodeError, LookupError):
            raise BadRequest(
                "the form body is not text in its declared charset (UTF-8 if none)"
            ) from None
        _check_pairs(form.items(), "form field")
    return await handler(request)
