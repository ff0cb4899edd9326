"""The supervisor: one recorder per enabled camera, isolated from each other."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.file import FileSource
from cameras.rtsp import RtspSource
from cameras.source import PacketSource
from cameras.synthetic import SyntheticSource
from cameras.urls import redact_url
from index import cameras as camera_queries
from index import counters as counter_queries
from index.db import Database
from index.records import CameraRecord
from surveil.clock import Clock
from surveil.config import CameraConfig, Config, RecordingConfig
from surveil.recorder import Recorder
from surveil.status import CameraStatus

logger = logging.getLogger(__name__)


def make_source(camera: CameraConfig, recording: RecordingConfig) -> PacketSource:
    """The packet source for a camera URL (rtsp://, file://, synthetic:LABEL)."""
    url = camera.url
    if url.startswith("synthetic:"):
        label = url.removeprefix("synthetic:") or (camera.counters[0] if camera.counters else "A01")
        return SyntheticSource(label)
    if url.startswith("file://"):
        return FileSource(Path(url.removeprefix("file://")), realtime=True)
    return RtspSource(url, timeout_s=recording.rtsp_timeout_seconds)


class Supervisor:
    """Starts, watches and stops recorders; the web API reads its status."""

    def __init__(self, cfg: Config, db: Database, clock: Clock) -> None:
        self.cfg = cfg
        self.db = db
        self.clock = clock
        self.recorders: dict[str, Recorder] = {}
        self._disabled: list[str] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        now = self.clock.now_us()

        async def register_all(s: AsyncSession) -> list[CameraRecord]:
            # One transaction for every camera, before any recorder competes
            # with it for the writer: startup stays flat with 150+ cameras.
            for counter in self.cfg.counters:
                await counter_queries.ensure_counter(
                    s, counter.code, counter.name, counter.site, now
                )
            records = []
            for c in self.cfg.cameras:
                record = await camera_queries.ensure_camera(
                    s, c.name, redact_url(c.url), c.counters, c.enabled, now
                )
                # Receipts find their cameras through these links, not the JSON column.
                await counter_queries.link_camera_counters(s, record.id, c.counters, now)
                records.append(record)
            return records

        records = await self.db.write(register_all)
        for cam, record in zip(self.cfg.cameras, records, strict=True):
            if not cam.enabled:
                self._disabled.append(cam.name)
                continue
            recorder = Recorder(
                name=cam.name,
                camera_id=record.id,
                source=make_source(cam, self.cfg.recording),
                data_dir=self.cfg.data_dir,
                recording=self.cfg.recording,
                db=self.db,
                loop=loop,
                clock=self.clock,
            )
            self.recorders[cam.name] = recorder
            recorder.start()
            logger.info("%s: recorder started for %s", cam.name, recorder.source.description)

    async def stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.stop()
        for name, recorder in self.recorders.items():
            # A blocked RTSP read ends within the socket timeout.
            await asyncio.to_thread(recorder.join, self.cfg.recording.rtsp_timeout_seconds * 3)
            if recorder.alive:
                logger.error("%s: recorder did not stop in time", name)

    def camera_status(self) -> list[CameraStatus]:
        out = [r.status() for r in self.recorders.values()]
        out += [
            CameraStatus(name, "disabled", None, None, None, None, None, None)
            for name in self._disabled
        ]
        return out
