"""A token bucket that bounds the bytes per second of every upload sharing it.

Recording must never be starved by the transfer to central storage (``transfer.max_mbit_s``): one
:class:`Throttle` is shared by all concurrent uploads, so the bound is on their sum. A target calls
:meth:`Throttle.take` with a chunk's size before sending it.

It is kept as a virtual schedule (the generic cell rate algorithm, equivalent to a token bucket):
``_free_at`` is the moment all bytes granted so far will have been paid for at the rate. Each
caller reserves its slot when it asks, in one step with no await in between, then sleeps until
the slot. So callers are served in the order they asked (a task sending many chunks cannot
overtake one that asked first; with equal chunks concurrent uploads get equal shares), the rate
holds across tasks without a lock, and a large chunk simply waits longer.
"""

from __future__ import annotations

import asyncio
import math
import time


class Throttle:
    """Bytes-per-second limit over all callers; ``bytes_per_s=None`` means no limit.

    At most ``burst`` bytes of credit build up while idle (full at the start), so over any
    interval of t seconds at most ``burst + rate × t`` bytes are let through: sending N bytes
    takes at least ``(N − burst) / rate`` seconds.
    """

    def __init__(self, bytes_per_s: float | None, burst: int = 1 << 20) -> None:
        if bytes_per_s is not None and not (bytes_per_s > 0 and math.isfinite(bytes_per_s)):
            raise ValueError("bytes_per_s must be positive, or None for no limit")
        if burst < 1:
            raise ValueError("burst must be at least 1 byte")
        self.bytes_per_s = bytes_per_s
        self.burst = burst
        self._free_at = -math.inf  # monotonic seconds; nothing granted yet

    async def take(self, n: int) -> None:
        """Wait until n more bytes may be sent (the slot is reserved at once, in arrival order).

        A caller cancelled while waiting keeps its reservation: the bound errs on the slow side.
        """
        if self.bytes_per_s is None or n <= 0:
            return
        now = time.monotonic()
        # Idle time earns credit up to the burst: the schedule never lags now by more than that.
        start = max(self._free_at, now - self.burst / self.bytes_per_s)
        self._free_at = start + n / self.bytes_per_s
        wait = self._free_at - now
        if wait > 0:
            await asyncio.sleep(wait)
