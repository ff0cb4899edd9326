"""Disk space: the watermarks of each volume, its alarms, and whether it takes new footage.

Every ``[storage] check_seconds`` each volume is read (statvfs, off the event loop):

- at ``warn_percent`` used: a warning alarm;
- at ``critical_percent``: a critical alarm, and a retention pass on that volume
  (trigger ``disk``) asked to free space down to halfway between the two marks;
- over its ``quota_gb`` of footage: a pass with trigger ``quota``;
- below ``min_free_mb`` free after that: if the pass could free nothing more, the volume is
  *full* — alarm "disk full — evidence protected" — and stops taking new footage: recorders
  on it seal their segments and end their runs with the reason ``disk full``, and resume by
  themselves when the monitor finds space again (nothing held is ever deleted to make room).

A volume whose statvfs fails is in ``error`` and takes no footage. One volume's state never
affects another's (docs/design/storage.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from surveil.background import Background
from surveil.clock import Clock
from surveil.volumes import Volumes, VolumeUsage

logger = logging.getLogger(__name__)

EVIDENCE_PROTECTED = "disk full — evidence protected"

# (trigger, volume, bytes to free) -> bytes freed
FreeSpace = Callable[[str, str, int], Awaitable[int]]
FootageBytes = Callable[[str], Awaitable[int]]


@dataclass(frozen=True)
class VolumeAlarm:
    volume: str
    level: str  # warn, critical, full, error
    message: str


class SpaceMonitor:
    """Watches every volume; accepting(volume) is what recorders ask, from any thread."""

    def __init__(
        self,
        volumes: Volumes,
        clock: Clock,
        *,
        free_space: FreeSpace | None = None,
        footage_bytes: FootageBytes | None = None,
    ) -> None:
        self.volumes = volumes
        self._clock = clock
        self._free_space = free_space
        self._footage_bytes = footage_bytes
        self._lock = threading.Lock()
        self._usage: dict[str, VolumeUsage] = {}
        self._footage: dict[str, int] = {}
        self._full: set[str] = set()
        self._bg = Background("space-monitor")
        self.checked_us: int | None = None

    def bind(self, free_space: FreeSpace, footage_bytes: FootageBytes) -> None:
        """Set what frees space and what measures footage (the lifecycle, built after)."""
        self._free_space = free_space
        self._footage_bytes = footage_bytes

    # -- what recorders and pages ask -------------------------------------------------

    def accepting(self, volume: str) -> bool:
        with self._lock:
            usage = self._usage.get(volume)
            return volume not in self._full and (usage is None or usage.level != "error")

    def choose(self, camera: str) -> tuple[str, Path] | None:
        """The volume a new run of camera records to: among the volumes it may use that take
        footage, the one with the most free space; None when none does."""
        allowed = self.allowed(camera)
        with self._lock:
            full = [v for v in allowed if v in self._full]
        for v in full:
            # A fresh reading (in the recorder's thread): space that came back is used at
            # once, not at the next check. Only the check marks a volume full.
            usage = self.volumes.usage(v)
            if usage.level != "error" and not self.volumes.below_floor(usage):
                with self._lock:
                    self._full.discard(v)
                    self._usage[v] = usage
        with self._lock:
            usable = [v for v in allowed if v not in self._full]
            readings = {v: self._usage.get(v) for v in usable}
        usable = [v for v in usable if readings[v] is None or readings[v].level != "error"]  # type: ignore[union-attr]
        if not usable:
            return None
        best = max(usable, key=lambda v: -1 if readings[v] is None else readings[v].free_bytes)  # type: ignore[union-attr]
        return best, self.volumes.root(best)

    def allowed(self, camera: str) -> list[str]:
        """The volumes camera may record to: its own if a volume names it, else the volumes
        that name no camera."""
        cfg = self.volumes.cfg.volumes
        own = [v.name for v in cfg if camera in v.cameras]
        if own:
            return own
        shared = [v.name for v in cfg if not v.cameras]
        return shared or ([] if cfg else self.volumes.names())

    def usage(self) -> list[VolumeUsage]:
        with self._lock:
            return [self._usage[v] for v in self.volumes.names() if v in self._usage]

    def footage(self, volume: str) -> int | None:
        with self._lock:
            return self._footage.get(volume)

    def alarms(self) -> list[VolumeAlarm]:
        out: list[VolumeAlarm] = []
        cfg = self.volumes.cfg
        for u in self.usage():
            pct = f"{u.used_percent:.0f}%"
            if u.name in self._full:
                out.append(
                    VolumeAlarm(
                        u.name,
                        "full",
                        f"{EVIDENCE_PROTECTED}: volume {u.name} has {u.free_bytes // 1_000_000} "
                        "MB free and nothing on it may be deleted; recording on it is stopped "
                        "and resumes by itself when space returns",
                    )
                )
            elif u.level == "error":
                out.append(VolumeAlarm(u.name, "error", f"volume {u.name}: {u.error}"))
            elif u.level == "critical":
                out.append(
                    VolumeAlarm(
                        u.name,
                        "critical",
                        f"volume {u.name} is {pct} full (critical mark "
                        f"{cfg.critical_percent:g}%); retention frees what it may",
                    )
                )
            elif u.level == "warn":
                out.append(
                    VolumeAlarm(
                        u.name,
                        "warn",
                        f"volume {u.name} is {pct} full (warning mark {cfg.warn_percent:g}%)",
                    )
                )
        return out

    # -- the check ---------------------------------------------------------------------

    async def check(self) -> list[VolumeUsage]:
        """Read every volume, free space where a mark or quota asks for it, and decide which
        volumes take footage. Returns the readings."""
        cfg = self.volumes.cfg
        out: list[VolumeUsage] = []
        for name in self.volumes.names():
            usage = await asyncio.to_thread(self.volumes.usage, name)
            quota = self.volumes.quota_bytes.get(name)
            # Summed only where a quota needs it: a sum over every segment row is not free.
            counting = quota is not None and self._footage_bytes is not None
            footage = await self._footage_bytes(name) if counting else None  # type: ignore[misc]
            freed = 0
            if self._free_space is not None and usage.level != "error":
                if usage.level == "critical":
                    target = usage.total_bytes * (cfg.warn_percent + cfg.critical_percent) / 200
                    freed += await self._free_space("disk", name, int(usage.used_bytes - target))
                if quota is not None and footage is not None and footage > quota:
                    freed += await self._free_space("quota", name, footage - quota)
                if self.volumes.below_floor(usage):
                    floor = int(cfg.min_free_mb * 1e6) - usage.free_bytes
                    freed += await self._free_space("disk", name, floor)
                if freed:
                    usage = await asyncio.to_thread(self.volumes.usage, name)
                    if counting:
                        footage = await self._footage_bytes(name)  # type: ignore[misc]
            full = usage.level != "error" and self.volumes.below_floor(usage)
            with self._lock:
                was_full = name in self._full
                if full:
                    self._full.add(name)
                else:
                    self._full.discard(name)
                self._usage[name] = usage
                if footage is not None:
                    self._footage[name] = footage
            if full and not was_full:
                logger.error("%s: volume %s (%s)", EVIDENCE_PROTECTED, name, usage.path)
            elif was_full and not full:
                logger.warning("volume %s has space again; recording on it resumes", name)
            out.append(usage)
        self.checked_us = self._clock.now_us()
        return out

    def start(self) -> None:
        self._bg.start(self._run)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the disk space check failed")
            await asyncio.sleep(self.volumes.cfg.check_seconds)
