"""Every access to footage leaves an audit row: who, from where, and what they saw.

Art. 25 of the measure makes the records confidential, accessed by permission; art. 4
makes every stage traceable. So each lookup (by receipt, or by counter and time), each
recordings listing, clip, segment download and snapshot writes one audit row before the
answer is sent, and an access whose row cannot be written is refused (AuditUnavailable),
never served untraced.

A browser's video element fetches one clip as many Range requests (and again on every
seek); those are one viewing. A caller passes a viewing key (who, which session, which
clip and window) and the row is written once per key within ``dedup_us``; the memory
this takes is bounded, and forgetting a key early only costs one more row, never one less.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar, Final

from sqlalchemy.exc import SQLAlchemyError

from cameras.urls import redact_url
from index.audit import add_audit
from index.db import Database
from index.records import AuditIn
from surveil.lookup import CameraLookup, ReceiptFootage

logger = logging.getLogger(__name__)

US: Final = 1_000_000
VIEWING_DEDUP_US: Final = 5 * 60 * US
MAX_VIEWINGS: Final = 50_000


_REFUSED: Final = (
    "the request cannot be recorded in the audit log, so it is refused; see the server log"
)


class AuditUnavailable(Exception):
    """The audit row of an access could not be written, so the access is refused."""

    code: ClassVar[str] = "audit_unavailable"


@dataclass(frozen=True)
class FootageAccess:
    """What an access touched: the footage of cameras over a window, found by a key."""

    action: str  # footage.lookup | footage.recordings | footage.clip | footage.segment | ...
    target: str  # the key it was found by: a receipt number, counter code, camera, segment id
    receipt: str | None = None
    counter: str | None = None
    cameras: tuple[str, ...] = ()
    start_us: int | None = None
    end_us: int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def detail(self) -> dict[str, object]:
        out: dict[str, object] = {"cameras": list(self.cameras)}
        if self.receipt is not None:
            out["receipt"] = self.receipt
        if self.counter is not None:
            out["counter"] = self.counter
        if self.start_us is not None:
            out["start_us"] = self.start_us
        if self.end_us is not None:
            out["end_us"] = self.end_us
        out.update(self.extra)
        return out


async def append_audit(db: Database, entry: AuditIn, now_us: int) -> None:
    """Append one audit row in its own transaction; AuditUnavailable when it cannot be
    written (e.g. the index's disk is full): what cannot be traced is refused."""
    try:
        await db.write(lambda s: add_audit(s, entry, now_us))
    except (SQLAlchemyError, OSError) as exc:
        logger.error(
            "audit: cannot record %s of %s by %s: %s",
            entry.action,
            entry.target,
            entry.actor,
            type(exc).__name__,
        )
        raise AuditUnavailable(_REFUSED) from exc


class AccessLog:
    """Writes the audit rows of footage accesses; one per viewing of a clip."""

    def __init__(
        self,
        db: Database,
        dedup_us: int = VIEWING_DEDUP_US,
        max_viewings: int = MAX_VIEWINGS,
    ) -> None:
        self._db = db
        self._dedup_us = dedup_us
        self._max = max_viewings
        self._seen: OrderedDict[Hashable, int] = OrderedDict()  # viewing key -> last row µs
        self._pending: dict[Hashable, asyncio.Event] = {}  # viewing key -> row being written

    async def record(
        self,
        who: AuditIn,
        access: FootageAccess,
        now_us: int,
        viewing: Hashable | None = None,
    ) -> None:
        """Append the access's audit row, unless viewing names one already logged within
        dedup_us; raises AuditUnavailable when the row cannot be written."""
        if viewing is None:
            await self._write(who, access, now_us)
            return
        key = (viewing, access.action, access.target, access.start_us, access.end_us)
        last = self._seen.get(key)
        if last is not None and 0 <= now_us - last < self._dedup_us:
            return
        pending = self._pending.get(key)
        if pending is not None:
            # A video element's first Range requests arrive together: they wait for the
            # one row being written, and share its outcome.
            await pending.wait()
            if key not in self._seen:
                raise AuditUnavailable(_REFUSED)
            return
        done = self._pending[key] = asyncio.Event()
        try:
            await self._write(who, access, now_us)
            self._remember(key, now_us)
        finally:
            del self._pending[key]
            done.set()

    async def _write(self, who: AuditIn, access: FootageAccess, now_us: int) -> None:
        entry = replace(who, action=access.action, target=access.target, detail=access.detail())
        await append_audit(self._db, entry, now_us)

    def _remember(self, key: Hashable, now_us: int) -> None:
        self._seen[key] = now_us
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)


def receipt_lookup(found: ReceiptFootage) -> FootageAccess:
    """The access of looking a receipt up: its counter's cameras over its window."""
    windows = [c.coverage for c in found.cameras]
    return FootageAccess(
        action="footage.lookup",
        target=found.receipt.receipt_no,
        receipt=found.receipt.receipt_no,
        counter=found.receipt.counter,
        cameras=tuple(c.camera for c in found.cameras),
        start_us=min((w.window_start_us for w in windows), default=None),
        end_us=max((w.window_end_us for w in windows), default=None),
    )


def counter_lookup(
    counter: str, found: Sequence[CameraLookup], start_us: int, end_us: int
) -> FootageAccess:
    """The access of looking a counter up over [start_us, end_us)."""
    return FootageAccess(
        action="footage.lookup",
        target=counter,
        counter=counter,
        cameras=tuple(c.camera for c in found),
        start_us=start_us,
        end_us=end_us,
    )


def probe_preview(source: str, how: str) -> FootageAccess:
    """The access of a live picture taken while testing a camera not yet added.

    source names where it came from, without credentials (a stream URL as stored, or
    onvif://host:port); how is 'stream' or 'onvif'.
    """
    return FootageAccess(
        action="camera.snapshot", target=redact_url(source)[:300], extra={"probe": how}
    )
