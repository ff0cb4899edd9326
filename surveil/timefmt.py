"""Conversion between the API's ISO 8601 times and the index's integer microseconds."""

from __future__ import annotations

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


def us_from_iso(text: str) -> int:
    """Microseconds since the epoch from ISO 8601 text that includes a UTC offset.

    Raises ValueError with a message fit to show the client.
    """
    shown = repr(text if len(text) <= 64 else text[:64] + "...")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        hint = ""
        if " " in text.strip():
            # A literal '+' in a query string arrives as a space.
            hint = "; a '+' in a query string must be sent as %2B"
        raise ValueError(
            f"{shown} is not an ISO 8601 time like 2026-11-26T20:41:00+00:00{hint}"
        ) from None
    if moment.utcoffset() is None:
        raise ValueError(f"{shown} must include a UTC offset, e.g. +00:00 or Z")
    return (moment - _EPOCH) // _ONE_US
