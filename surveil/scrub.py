"""Scrub: re-hash sealed segments in the background, in a cycle, at a bounded rate.

A disk that rots, or a file changed behind the recorder's back, is found within one cycle
instead of when someone asks for the footage. The rate is a token bucket on bytes read
(``[integrity] scrub_mb_per_s``), so recording never waits for it: one 4 Mbit/s camera
writes 0.5 MB/s and the default reads 4. A mismatch marks the segment ``damaged`` (as
serving and verify do) with an audit entry in the same transaction, so the finding is in
the log; a file that is gone is marked ``missing``. Progress is kept in
``integrity_runs``, so a restart continues the cycle where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass

from index import merkle, segments
from index.db import Database
from index.records import AuditIn, SegmentRecord
from surveil.archive import mark_segment_damaged, mark_segment_missing
from surveil.background import Background
from surveil.clock import Clock
from surveil.volumes import Storage, as_volumes

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PAGE = 200
_SAVE_EVERY_S = 10.0
_IDLE_S = 60.0  # between cycles, and when there is nothing sealed yet
_SCRUBBED_STATES = ("sealed", "recovered")


@dataclass(frozen=True)
class ScrubMismatch:
    at_us: int
    segment_id: int
    path: str
    reason: str


class Scrubber:
    """Runs the scrub cycle; start() and stop()."""

    def __init__(
        self,
        db: Database,
        data_dir: Storage,
        clock: Clock,
        mb_per_s: float,
    ) -> None:
        self._db = db
        self._volumes = as_volumes(data_dir)
        self._clock = clock
        self._rate = mb_per_s * 1_000_000
        self._bg = Background("scrub")
        self.last_mismatch: ScrubMismatch | None = None

    def start(self) -> None:
        if self._rate > 0:
            self._bg.start(self._run)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scrub cycle failed; it starts again in %.0f s", _IDLE_S)
            await asyncio.sleep(_IDLE_S)

    async def cycle(self) -> merkle.IntegrityRunRecord:
        """One pass over the sealed segments, continuing an unfinished one."""
        async with self._db.read() as s:
            last = next(iter(await merkle.latest_runs(s, "scrub")), None)
        if last is not None and last.finished_us is None:
            run_id, after = last.id, last.position
            checked, size, findings = last.checked, last.bytes, last.findings
        else:
            now = self._clock.now_us()
            run_id = await self._db.write(lambda s: merkle.start_run(s, "scrub", now))
            after, checked, size, findings = 0, 0, 0, 0
        saved = asyncio.get_running_loop().time()
        while True:
            async with self._db.read() as s:
                page = await segments.segments_page(s, after, _PAGE)
            if not page:
                break
            for seg in page:
                after = seg.id
                if seg.state not in _SCRUBBED_STATES or seg.sha256 is None:
                    continue
                read, bad = await self._check(seg)
                checked, size, findings = checked + 1, size + read, findings + bad
                now_loop = asyncio.get_running_loop().time()
                if now_loop - saved >= _SAVE_EVERY_S:
                    saved = now_loop
                    await self._save(run_id, checked, size, findings, after, None)
        await self._save(run_id, checked, size, findings, after, self._clock.now_us())
        async with self._db.read() as s:
            [done] = await merkle.latest_runs(s, "scrub")
        return done

    async def _save(
        self, run_id: int, checked: int, size: int, findings: int, after: int, end: int | None
    ) -> None:
        summary: dict[str, object] = {"mismatches": findings}
        await self._db.write(
            lambda s: merkle.update_run(
                s,
                run_id,
                checked=checked,
                size=size,
                findings=findings,
                position=after,
                summary=summary,
                finished_us=end,
            )
        )

    async def _check(self, seg: SegmentRecord) -> tuple[int, int]:
        """(bytes read, 1 if the file does not match its row else 0)."""
        if seg.volume not in self._volumes:
            return 0, 0  # a volume that is not configured: verify reports it
        path = self._volumes.file(seg.volume, seg.path)
        h = hashlib.sha256()
        read = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        except FileNotFoundError:
            await mark_segment_missing(self._db, seg, self._clock.now_us())
            return 0, 1
        except OSError as exc:
            logger.warning("scrub: cannot open %s: %s", seg.path, exc)
            return 0, 0
        try:
            while block := await asyncio.to_thread(os.read, fd, _CHUNK):
                h.update(block)
                read += len(block)
                ahead = read / self._rate - (loop.time() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        except OSError as exc:
            logger.warning("scrub: cannot read %s: %s", seg.path, exc)
            return read, 0
        finally:
            os.close(fd)
        if read == seg.bytes and h.hexdigest() == seg.sha256:
            return read, 0
        reason = "size differs" if read != seg.bytes else "sha256 differs"
        now = self._clock.now_us()
        entry = AuditIn(
            actor="scrub",
            actor_kind="system",
            action="segment.scrub_mismatch",
            outcome="failed",
            target=seg.path,
            detail={
                "segment_id": seg.id,
                "camera": seg.camera,
                "reason": reason,
                "recorded_bytes": seg.bytes,
                "actual_bytes": read,
                "recorded_sha256": seg.sha256,
                "actual_sha256": h.hexdigest(),
            },
        )
        await mark_segment_damaged(self._db, seg, read, now, reason, entry)
        self.last_mismatch = ScrubMismatch(now, seg.id, seg.path, reason)
        return read, 1
