"""Parsing of path and query parameters; every failure is a BadRequest naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Collection

from multidict import MultiMapping

from web.errors import BadRequest
from web.timefmt import us_from_iso

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
