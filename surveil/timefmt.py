"""Conversion between the API's ISO 8601 times and the index's integer microseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def datetime_from_us(us: int) -> datetime:
    """The UTC datetime of µs since the epoch, exactly."""
    # Integer arithmetic: datetime.fromtimestamp(us / 1e6) rounds through a float.
    return _EPOCH + timedelta(microseconds=us)


def iso_from_us(us: int) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-11-26T20:41:00.123456+00:00."""
    return datetime_from_us(us).isoformat(timespec="microseconds")


# RFC 3339 (section 5.6): 'T' and 'Z' in either case, and a leap second (:60).
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<hm>[0-9]{2}:[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?P<frac>\.[0-9]+)?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(text: str) -> str:
    """text in the form datetime.fromisoformat reads: upper-case T and Z; a leap second
    read as the last microsecond of second 59 (the index has no 61st second)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return text
    seconds, frac = m["s"], m["frac"] or ""
    if seconds == "60":
        seconds, frac = "59", ".999999"
    return f"{m['date']}T{m['hm']}:{seconds}{frac}{m['zone'].upper()}"


def us_from_iso(text: str) -> int:
    """Microseconds since the epoch from ISO 8601 / RFC 3339 text that includes a UTC offset.

    Raises ValueError with a message fit to show the client; it says the rule, never
    quoting the text (which the caller names by its field).
    """
    try:
        moment = datetime.fromisoformat(_rfc3339(text))
    except ValueError:
        hint = ""
        if " " in text.strip():
            # A literal '+' in a query string arrives as a space.
            hint = "; a '+' in a query string must be sent as %2B"
        raise ValueError(f"is not an ISO 8601 time like 2026-11-26T20:41:00+00:00{hint}") from None
    if moment.utcoffset() is None:
        raise ValueError("must include a UTC offset, e.g. +00:00 or Z")
    return (moment - _EPOCH) // _ONE_US
