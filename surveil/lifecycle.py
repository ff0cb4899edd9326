"""The storage lifecycle as one service: volumes and their space, retention, holds and the
transfer to central storage. The API, the pages, the metrics and the service call this.

Start order (surveil/service.py): after recovery and before the recorders, so leftover
garbage is finished and every volume has a reading before the first run picks one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from index import holds as hold_queries
from index import merkle
from index import retention as retention_queries
from index.db import Database
from index.merkle import CheckpointRecord
from index.records import RetentionPassRecord
from surveil.clock import Clock
from surveil.config import Config, TransferConfig
from surveil.retention import DAY_US, CameraPolicy, Retention
from surveil.space import SpaceMonitor, VolumeAlarm
from surveil.transfer import (
    CACHE_DIR,
    TransferConfigError,
    Transferrer,
    TransferStatus,
    open_target,
)
from surveil.volumes import Volumes, VolumeUsage

logger = logging.getLogger(__name__)

# A pressure pass that freed nothing is not repeated for this long (each pass is audited),
# unless the volume fell below its floor since.
_PRESSURE_BACKOFF_S = 300.0


@dataclass(frozen=True)
class CameraFootage:
    """How much footage of a camera is on disk, and how long it is kept."""

    camera: str
    oldest_us: int | None
    segments: int
    bytes: int
    retain_days: int
    rule: str  # where retain_days comes from

    def days_kept(self, now_us: int) -> float | None:
        return None if self.oldest_us is None else max(0.0, (now_us - self.oldest_us) / DAY_US)


@dataclass(frozen=True)
class LifecycleStatus:
    now_us: int
    volumes: list[VolumeUsage]
    quotas: dict[str, int | None]
    alarms: list[VolumeAlarm]
    footage: list[CameraFootage]
    last_pass: RetentionPassRecord | None
    retention_error: str | None
    legal_holds: int  # active legal holds
    deleted_segments: int
    deleted_bytes: int
    require_central: bool
    transfer: TransferStatus | None  # None when transfer is not configured or not set up
    transfer_error: str | None  # why transfer is configured but not running


class Lifecycle:
    def __init__(
        self,
        db: Database,
        volumes: Volumes,
        retention: Retention,
        space: SpaceMonitor,
        clock: Clock,
        transfer: TransferConfig | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.volumes = volumes
        self.retention = retention
        self.space = space
        self.clock = clock
        self._pressure: dict[tuple[str, str], float] = {}
        self._transfer_cfg = (
            transfer if transfer is not None and transfer.target != "none" else None
        )
        self._data_dir = data_dir or volumes.root(volumes.names()[0])
        self.transfer: Transferrer | None = None
        self.transfer_error: str | None = None

    @classmethod
    def configured(cls, db: Database, cfg: Config, clock: Clock) -> Lifecycle:
        volumes = Volumes.configured(cfg.data_dir, cfg.storage)
        retention = Retention(
            db, volumes, clock, cfg.retention, require_central=cfg.transfer.target != "none"
        )
        lifecycle = cls(
            db, volumes, retention, SpaceMonitor(volumes, clock), clock, cfg.transfer, cfg.data_dir
        )
        lifecycle.space.bind(lifecycle.free_space, lifecycle.footage_bytes)
        return lifecycle

    async def start(self) -> None:
        for name in self.volumes.names():
            root = self.volumes.root(name)
            if not root.is_dir():
                logger.error("volume %s: %s is not a directory; it takes no footage", name, root)
        await self.retention.finish_garbage()
        await self.space.check()
        self.space.start()
        self.retention.start()
        if self._transfer_cfg is not None:
            try:
                target = await open_target(self._transfer_cfg, self._data_dir)
            except TransferConfigError as exc:
                # Recording goes on; nothing is deleted that is not confirmed centrally.
                self.transfer_error = str(exc)
                logger.error("transfer to central storage is not running: %s", exc)
            else:
                self.transfer = Transferrer(
                    self.db,
                    self.volumes,
                    self.clock,
                    self._transfer_cfg,
                    target,
                    checkpoints=self._latest_checkpoint,
                    cache_dir=self._data_dir / CACHE_DIR,
                )
                self.transfer.start()

    async def stop(self) -> None:
        if self.transfer is not None:
            await self.transfer.stop()
            self.transfer = None
        await self.retention.stop()
        await self.space.stop()

    async def _latest_checkpoint(self) -> CheckpointRecord | None:
        async with self.db.read() as s:
            return await merkle.latest_checkpoint(s)

    # -- what the space monitor calls --------------------------------------------------

    async def free_space(self, trigger: str, volume: str, need_bytes: int) -> int:
        """A pressure pass on volume; backs off after one that could free nothing."""
        key = (trigger, volume)
        last = self._pressure.get(key)
        if last is not None and time.monotonic() - last < _PRESSURE_BACKOFF_S:
            return 0
        record = await self.retention.run_pass(trigger, volume=volume, need_bytes=need_bytes)
        if record.bytes == 0:
            self._pressure[key] = time.monotonic()
        else:
            self._pressure.pop(key, None)
        return record.bytes

    async def footage_bytes(self, volume: str) -> int:
        async with self.db.read() as s:
            return await retention_queries.footage_bytes(s, volume)

    # -- what pages, the API and metrics read --------------------------------------------

    async def status(self) -> LifecycleStatus:
        now = self.clock.now_us()
        pols: dict[str, CameraPolicy] = {p.camera: p for p in await self.retention.policies()}
        async with self.db.read() as s:
            summary = await retention_queries.footage_summary(s)
            legal = await hold_queries.list_holds(
                s, kinds=("legal",), active_at_us=now, limit=hold_queries.HOLD_PAGE_MAX
            )
            deleted, deleted_bytes = await retention_queries.deletion_totals(s)
        footage = [
            CameraFootage(
                name,
                oldest,
                n,
                size,
                pols[name].retain_days if name in pols else self.retention.cfg.retain_days,
                pols[name].source if name in pols else "config",
            )
            for name, oldest, n, size in summary
        ]
        return LifecycleStatus(
            now_us=now,
            volumes=self.space.usage(),
            quotas=dict(self.volumes.quota_bytes),
            alarms=self.space.alarms(),
            footage=footage,
            last_pass=self.retention.last_pass,
            retention_error=self.retention.last_error,
            legal_holds=len(legal),
            deleted_segments=deleted,
            deleted_bytes=deleted_bytes,
            require_central=self.retention.require_central,
            transfer=None if self.transfer is None else await self.transfer.status(),
            transfer_error=self.transfer_error,
        )

    def alarms(self) -> list[str]:
        out = [a.message for a in self.space.alarms()]
        if self.retention.last_error is not None:
            out.append(f"retention pass failed: {self.retention.last_error}")
        if self.transfer_error is not None:
            out.append(f"transfer to central storage is not running: {self.transfer_error}")
        if self.transfer is not None:
            out.extend(self.transfer.alarms())
        return out

    def problems(self) -> list[str]:
        """The alarms that make the service degraded (a warning mark alone does not): a
        volume critical, full or failing, a failed pass, transfer stopped or past 24 h."""
        out = [a.message for a in self.space.alarms() if a.level in ("critical", "full", "error")]
        if self.retention.last_error is not None:
            out.append(f"retention pass failed: {self.retention.last_error}")
        if self.transfer_error is not None:
            out.append(f"transfer to central storage is not running: {self.transfer_error}")
        if self.transfer is not None:
            st = self.transfer.last_status
            if self.transfer.alarm is not None:
                out.append(self.transfer.alarm.message)
            if st is not None and st.level == "error":
                out.extend(a for a in self.transfer.alarms() if "24 h" in a)
        return out

    def root(self, volume: str) -> Path:
        return self.volumes.root(volume)
