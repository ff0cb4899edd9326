"""Signed checkpoints of the log: issued on a timer when it grew, at shutdown, on demand.

A checkpoint commits to the log's size and root (C2SP tlog-checkpoint), signed with the
installation's Ed25519 key and any configured co-signers (SM2); with a TSA configured it
also gets an RFC 3161 token over the note. Each one is kept forever (``checkpoints``).
Issuing one is not itself audited: an audit entry is a leaf, so the log would grow with
every checkpoint and never stand still. A checkpoint asked for over the API is audited by
the access log like any other request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from index import merkle
from index.db import Database
from index.merkle import CheckpointRecord
from surveil.background import Background
from surveil.clock import Clock
from tlog.note import Checkpoint, NoteSigner, sign

logger = logging.getLogger(__name__)

Stamp = Callable[[bytes], Awaitable[bytes]]  # note bytes -> RFC 3161 token (DER)


@dataclass(frozen=True)
class CheckpointAlarm:
    """The last thing that went wrong while issuing, until an issue succeeds again."""

    at_us: int
    code: str
    message: str


class Checkpointer:
    """Issues checkpoints; one per instance runs its timer."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        origin: str,
        signers: Sequence[NoteSigner],
        *,
        interval_s: float = 60.0,
        stamp: Stamp | None = None,
    ) -> None:
        if not signers:
            raise ValueError("a checkpoint needs at least one signer")
        self._db = db
        self._clock = clock
        self._origin = origin
        self._signers = tuple(signers)
        self._interval_s = interval_s
        self._stamp = stamp
        self._lock = asyncio.Lock()
        self._bg = Background("checkpointer")
        self.alarm: CheckpointAlarm | None = None

    async def issue(self, *, force: bool = False) -> CheckpointRecord | None:
        """A checkpoint of the log as it is now. Without force, None when the latest one
        already has this size; with force, that latest one is returned instead."""
        async with self._lock:
            async with self._db.read() as s:
                compact = await merkle.compact_range(s)
                latest = await merkle.latest_checkpoint(s)
            if latest is not None and latest.size == compact.size:
                return latest if force else None
            root = compact.root()
            text = Checkpoint(self._origin, compact.size, root).text()
            # Off the loop: an SM2 co-signature runs openssl (about 12 ms).
            note = await asyncio.to_thread(sign, text, self._signers)
            token = await self._timestamp(note)
            now = self._clock.now_us()

            async def write(s: AsyncSession) -> CheckpointRecord:
                try:
                    return await merkle.checkpoint_at(s, compact.size)
                except merkle.CheckpointNotFound:
                    return await merkle.add_checkpoint(s, compact.size, root, note, now, token)

            record = await self._db.write(write)
            logger.debug("checkpoint at size %d", record.size)
            return record

    async def _timestamp(self, note: str) -> bytes | None:
        if self._stamp is None:
            return None
        try:
            token = await self._stamp(note.encode())
        except Exception as exc:  # a TSA that fails never stops a checkpoint
            code = str(getattr(exc, "code", "timestamp_failed"))
            self.alarm = CheckpointAlarm(self._clock.now_us(), code, f"timestamp: {exc}")
            logger.warning("checkpoint issued without a timestamp: %s", exc)
            return None
        self.alarm = None
        return token

    def start(self) -> None:
        self._bg.start(self._run)

    async def stop(self) -> None:
        """Stop the timer and issue a last checkpoint (clean shutdown)."""
        await self._bg.stop()
        try:
            await self.issue()
        except Exception:
            logger.exception("could not issue the shutdown checkpoint")

    async def _run(self) -> None:
        while True:
            try:
                await self.issue()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.alarm = CheckpointAlarm(self._clock.now_us(), "checkpoint_failed", str(exc))
                logger.exception("could not issue a checkpoint")
            await asyncio.sleep(self._interval_s)
