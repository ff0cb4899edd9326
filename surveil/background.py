"""One background task of a service: started once, cancelled and awaited when it stops.

The scrub, the checkpointer, the space monitor, retention and transfer each run one loop
for the life of the service; this is their shared start/stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run loop() as the task, unless it runs already."""
        if self._task is None:
            self._task = asyncio.create_task(loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
