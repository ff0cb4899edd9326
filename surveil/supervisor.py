"""The supervisor: one recorder per enabled camera, isolated from each other.

The cameras to record are the config file's plus the API's (not deleted). reconcile() brings
the running recorders in line with that set: it starts recorders for new or re-enabled
cameras, stops those of removed, disabled or deleted ones, and restarts a camera whose stream
(URL, credentials, ONVIF profile) changed; every other recorder keeps running untouched. The
API calls it after each committed camera change.

ONVIF cameras are probed again every [onvif] reprobe_minutes: the camera's clock offset is
stored and raises an alarm past clock_alarm_seconds, and a moved stream URI is followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.credentials import CredentialBox, CredentialError
from cameras.file import FileSource
from cameras.onvif import OnvifError
from cameras.rtsp import RtspSource
from cameras.source import PacketSource
from cameras.synthetic import SCHEME as SYNTHETIC_SCHEME
from cameras.synthetic import SyntheticSource, synthetic_label
from cameras.urls import redact_url
from index import cameras as camera_queries
from index import counters as counter_queries
from index.db import Database
from index.records import CameraRecord
from surveil.camera_setup import (
    device_json,
    device_stream_url,
    onvif_target,
    probe_onvif,
    stream_url,
)
from surveil.clock import Clock
from surveil.config import CameraConfig, Config, OnvifConfig, RecordingConfig
from surveil.recorder import Recorder
from surveil.space import SpaceMonitor
from surveil.status import STORAGE_ALARMS, CameraStatus

logger = logging.getLogger(__name__)
US = 1_000_000


def make_source(camera: CameraConfig, recording: RecordingConfig) -> PacketSource:
    """The packet source for a config camera (rtsp://, file://, synthetic:LABEL)."""
    return source_for_url(camera.url, camera.counters, recording)


def source_for_url(url: str, counters: list[str], recording: RecordingConfig) -> PacketSource:
    if url.startswith(SYNTHETIC_SCHEME):
        return SyntheticSource(synthetic_label(url, counters))
    if url.startswith("file://"):
        return FileSource(Path(url.removeprefix("file://")), realtime=True)
    return RtspSource(url, timeout_s=recording.rtsp_timeout_seconds)


@dataclass(frozen=True)
class _Wanted:
    """A camera that should exist, with its stream URL (credentials in memory only)."""

    name: str
    camera_id: int
    enabled: bool
    url: str
    counters: tuple[str, ...]
    clock_offset_us: int | None = None

    @property
    def fingerprint(self) -> str:
        # Compared, never shown: a changed URL or password means a reconnect.
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _ProbeStore:
    camera_id: int
    device: dict[str, object]
    clock_offset_us: int | None
    probed_us: int
    stream_uri: str

    async def write(self, s: AsyncSession) -> CameraRecord:
        return await camera_queries.store_probe(
            s, self.camera_id, self.device, self.clock_offset_us, self.probed_us, self.stream_uri
        )


class Supervisor:
    """Starts, watches and stops recorders; the web API reads its status and asks it to
    reconcile after camera changes (it is the app's CameraControl)."""

    def __init__(
        self,
        cfg: Config,
        db: Database,
        clock: Clock,
        credentials: CredentialBox | None = None,
        space: SpaceMonitor | None = None,
    ) -> None:
        self.cfg = cfg
        self.db = db
        self.clock = clock
        self.space = space
        self._box = credentials
        self.recorders: dict[str, Recorder] = {}
        self._fingerprints: dict[str, str] = {}
        self._disabled: list[str] = []
        self._failed: dict[str, str] = {}  # camera → why it cannot start (redacted)
        self._config_records: list[CameraRecord] = []
        self._urls: dict[str, str] = {}  # camera → stream URL with credentials (memory only)
        self._clock_offsets: dict[str, int | None] = {}
        self._probe_errors: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._reprobe_task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- CameraControl -----------------------------------------------------------------

    @property
    def credentials(self) -> CredentialBox:
        if self._box is None:
            self._box = CredentialBox.open(self.cfg.data_dir)
        return self._box

    @property
    def onvif(self) -> OnvifConfig:
        return self.cfg.onvif

    def camera_url(self, name: str) -> str | None:
        """The stream URL (with credentials: never log it) of a configured camera."""
        return self._urls.get(name)

    async def reconcile(self) -> None:
        """Make the running recorders match the config cameras plus the API's cameras."""
        async with self._lock:
            if self._stopped:
                return
            async with self.db.read() as s:
                api_records = await camera_queries.list_api_cameras(s)
            wanted = self._wanted(api_records)
            await self._apply(wanted)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock.now_us()
        _ = self.credentials  # a broken key file stops the service here, not at first use

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

        self._config_records = await self.db.write(register_all)
        await self.reconcile()
        if self.cfg.onvif.reprobe_minutes > 0:
            self._reprobe_task = asyncio.create_task(self._reprobe_loop(), name="onvif-reprobe")

    async def stop(self) -> None:
        async with self._lock:
            self._stopped = True
        task, self._reprobe_task = self._reprobe_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_recorders(list(self.recorders))

    def camera_status(self) -> list[CameraStatus]:
        out = [self._decorate(r.status()) for r in self.recorders.values()]
        out += [
            self._decorate(CameraStatus(name, "disabled", None, None, None, None, None, None))
            for name in self._disabled
        ]
        out += [
            self._decorate(CameraStatus(name, "offline", None, None, None, None, error, None))
            for name, error in self._failed.items()
        ]
        return out

    # -- ONVIF re-probe ----------------------------------------------------------------

    async def reprobe(self) -> None:
        """Probe every ONVIF camera once: store clock offset and profiles, follow a moved
        stream URI (reconnecting that camera), note failures as alarms."""
        async with self.db.read() as s:
            records = [r for r in await camera_queries.list_api_cameras(s) if r.onvif_host]
        moved = False
        for record in records:
            try:
                target = onvif_target(record, self.credentials)
                assert target is not None
                probe = await probe_onvif(target, self.cfg.onvif.timeout_seconds)
            except (OnvifError, CredentialError) as exc:
                self._probe_errors[record.name] = str(exc)
                logger.warning("%s: ONVIF re-probe failed: %s", record.name, exc)
                continue
            self._probe_errors.pop(record.name, None)
            self._clock_offsets[record.name] = probe.clock_offset_us
            if record.name in self.recorders:
                self.recorders[record.name].camera_clock_offset_us = probe.clock_offset_us
            profile = probe.profile(record.onvif_profile or probe.main_profile_token)
            try:
                uri = device_stream_url(profile.stream_uri)
            except OnvifError as exc:
                # The stored URL stays: a device's bad answer must not stop its recording.
                self._probe_errors[record.name] = str(exc)
                logger.warning("%s: ONVIF re-probe failed: %s", record.name, exc)
                continue
            now_us = self.clock.now_us()
            store = _ProbeStore(record.id, device_json(probe), probe.clock_offset_us, now_us, uri)
            updated = await self.db.write(store.write)
            if updated.source_url != record.source_url:
                logger.info("%s: ONVIF stream URI changed; reconnecting", record.name)
                moved = True
        if moved:
            await self.reconcile()

    async def _reprobe_loop(self) -> None:
        interval_s = self.cfg.onvif.reprobe_minutes * 60
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reprobe()
            except Exception:
                logger.exception("ONVIF re-probe round failed")

    # -- internals ---------------------------------------------------------------------

    def _alarms(self, name: str, storage_error: str | None = None) -> tuple[str, ...]:
        alarms: list[str] = []
        if storage_error is not None:
            alarms.append(STORAGE_ALARMS.get(storage_error, storage_error))
        if self.space is not None:
            allowed = set(self.space.allowed(name))
            alarms.extend(a.message for a in self.space.alarms() if a.volume in allowed)
        offset_us = self._clock_offsets.get(name)
        if offset_us is not None and abs(offset_us) > self.cfg.onvif.clock_alarm_seconds * US:
            direction = "ahead" if offset_us > 0 else "behind"
            alarms.append(f"camera clock off by {abs(offset_us) / US:.1f} s ({direction})")
        if name in self._probe_errors:
            alarms.append(f"ONVIF probe failed: {self._probe_errors[name]}")
        return tuple(alarms)

    def _decorate(self, status: CameraStatus) -> CameraStatus:
        offset_us = self._clock_offsets.get(status.name)
        return replace(
            status,
            clock_offset_s=None if offset_us is None else round(offset_us / US, 3),
            alarms=self._alarms(status.name, status.storage_error),
        )

    def _wanted(self, api_records: list[CameraRecord]) -> list[_Wanted]:
        by_name = {c.name: c for c in self.cfg.cameras}
        wanted = [
            _Wanted(r.name, r.id, by_name[r.name].enabled, by_name[r.name].url, r.counters)
            for r in self._config_records
        ]
        config_names = set(by_name)
        failed: dict[str, str] = {}
        for r in api_records:
            if r.name in config_names:
                continue  # the config file owns this name (ensure_camera took the row over)
            self._clock_offsets.setdefault(r.name, r.clock_offset_us)
            try:
                url = stream_url(r, self.credentials)
            except CredentialError as exc:
                failed[r.name] = str(exc)
                continue
            wanted.append(_Wanted(r.name, r.id, r.enabled, url, r.counters, r.clock_offset_us))
        self._failed = failed
        return wanted

    async def _apply(self, wanted: list[_Wanted]) -> None:
        loop = asyncio.get_running_loop()
        want = {w.name: w for w in wanted if w.enabled}
        stale = [
            name
            for name in self.recorders
            if name not in want or self._fingerprints.get(name) != want[name].fingerprint
        ]
        await self._stop_recorders(stale)
        self._disabled = [w.name for w in wanted if not w.enabled]
        self._urls = {w.name: w.url for w in wanted}
        for name in list(self._clock_offsets):
            if name not in {w.name for w in wanted}:
                self._clock_offsets.pop(name, None)
                self._probe_errors.pop(name, None)
        for name, w in want.items():
            if name in self.recorders:
                continue
            recorder = Recorder(
                name=name,
                camera_id=w.camera_id,
                source=source_for_url(w.url, list(w.counters), self.cfg.recording),
                data_dir=self.cfg.data_dir,
                recording=self.cfg.recording,
                db=self.db,
                loop=loop,
                clock=self.clock,
                space=self.space,
            )
            recorder.camera_clock_offset_us = self._clock_offsets.get(name, w.clock_offset_us)
            self.recorders[name] = recorder
            self._fingerprints[name] = w.fingerprint
            recorder.start()
            logger.info("%s: recorder started for %s", name, recorder.source.description)

    async def _stop_recorders(self, names: list[str]) -> None:
        stopping = [(n, self.recorders.pop(n)) for n in names if n in self.recorders]
        for name, recorder in stopping:
            self._fingerprints.pop(name, None)
            recorder.stop()
        for name, recorder in stopping:
            # A blocked RTSP read ends within the socket timeout.
            await asyncio.to_thread(recorder.join, self.cfg.recording.rtsp_timeout_seconds * 3)
            if recorder.alive:
                logger.error("%s: recorder did not stop in time", name)
            else:
                logger.info("%s: recorder stopped", name)
