"""Clocks, injectable so the recording path can be tested with simulated time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Wall time, µs since the Unix epoch (UTC)."""
        ...

    def monotonic_us(self) -> int:
        """A monotonic clock in µs, for intervals only."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000

    def monotonic_us(self) -> int:
        return time.monotonic_ns() // 1000


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now_us: int = 1_700_000_000_000_000) -> None:
        self._now_us = now_us
        self._mono_us = 0

    def now_us(self) -> int:
        return self._now_us

    def monotonic_us(self) -> int:
        return self._mono_us

    def advance(self, us: int) -> None:
        self._now_us += us
        self._mono_us += us
