"""Prometheus metrics: one collector over pluggable sources, and the built-in sources.

Whatever has something to report (the recorders, the integrity service, the volumes; the
transfer and retention workers later) is a :class:`MetricsSource`: asked at each scrape,
it builds metric families (``prometheus_client.core`` GaugeMetricFamily,
CounterMetricFamily) from its current state. Nothing is kept between scrapes, so a
metric can never disagree with the status the API and the pages show.

:class:`SurveilCollector` owns a private ``CollectorRegistry`` per application, never
prometheus_client's global ``REGISTRY``: several apps in one process (the tests) do not
clash. One failing source costs only its own metrics: it is logged once per failure
streak and counted in ``surveil_metrics_source_errors_total{source}``.

A scrape runs in a thread of its own (see :meth:`SurveilCollector.exposition`): a source
that blocks (``statvfs`` on a hung network mount) holds up that thread, never the event
loop, and concurrent scrapes wait for the same collection instead of starting more
threads. The names, types and labels are documented in docs/ref/metrics.md; a test
fails when an exported metric is missing there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from surveil import __version__
from surveil.clock import Clock, SystemClock
from surveil.integrity import Integrity
from surveil.lifecycle import Lifecycle
from surveil.status import CameraStatus, StatusSource
from surveil.transfer import TransferStatus
from surveil.volumes import LEVELS

logger = logging.getLogger(__name__)

T = TypeVar("T")
US: Final = 1_000_000
# The states of CameraStatus.state: surveil_camera_state has one series per state.
CAMERA_STATES: Final = ("recording", "connecting", "offline", "disabled")
# How long a source may wait for the event loop (on_loop): an index read, a status.
LOOP_TIMEOUT_S: Final = 5.0
SOURCE_ERRORS: Final = "surveil_metrics_source_errors"
BUILD_INFO: Final = "surveil_build_info"

# The event loop of the scrape being collected, in its collection thread (see on_loop).
_SCRAPE_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar(
    "surveil_scrape_loop"
)


class MetricsSource(Protocol):
    """Something with metrics to export, asked once per scrape.

    collect_metrics runs in the scrape's thread, not on the event loop: it may block
    briefly (a statvfs, a lock); for state only the loop can read, use :func:`on_loop`.
    It returns complete metric families; the collector labels its failures with the
    class name (``source="DiskMetrics"``).
    """

    def collect_metrics(self) -> Iterable[Metric]: ...


class MetricNameClash(Exception):
    """A source exported a metric name already exported in this scrape (a defect)."""


def on_loop(fn: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = LOOP_TIMEOUT_S) -> T:
    """Run the coroutine fn() on the event loop whose scrape this is, and wait for it.

    For sources whose state needs the loop (an index read, the integrity status). Only
    from collect_metrics during SurveilCollector.exposition(); RuntimeError otherwise;
    TimeoutError (the coroutine cancelled) after timeout_s.
    """
    loop = _SCRAPE_LOOP.get(None)
    if loop is None:
        raise RuntimeError("on_loop() outside a scrape started by SurveilCollector.exposition()")
    future = asyncio.run_coroutine_threadsafe(fn(), loop)
    try:
        return future.result(timeout_s)
    except TimeoutError:
        future.cancel()
        raise


def source_name(source: MetricsSource) -> str:
    """The value of the ``source`` label for a source: its class name."""
    return type(source).__name__


class SurveilCollector:
    """A prometheus_client collector over the sources, with its own registry.

    Sources may be added after construction (add_source) by what is built later.
    """

    def __init__(self, sources: Sequence[MetricsSource] = (), version: str = __version__) -> None:
        self._sources: list[MetricsSource] = list(sources)
        self._version = version
        self._lock = threading.Lock()
        self._errors: dict[str, int] = {}
        self._failing: set[str] = set()
        # One collection per content type at a time; later scrapes wait for it.
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    @property
    def sources(self) -> tuple[MetricsSource, ...]:
        return tuple(self._sources)

    def add_source(self, source: MetricsSource) -> None:
        with self._lock:
            self._sources.append(source)

    def collect(self) -> Iterator[Metric]:
        """The build info, each source's families (skipping failed sources), the errors."""
        info = GaugeMetricFamily(BUILD_INFO, "surveil's version (always 1)", labels=["version"])
        info.add_metric([self._version], 1)
        yield info
        with self._lock:
            sources = list(self._sources)
        seen = {BUILD_INFO, SOURCE_ERRORS}
        for source in sources:
            name = source_name(source)
            try:
                families = list(source.collect_metrics())
                names = [f.name for f in families]
                clash = sorted({n for n in names if n in seen or names.count(n) > 1})
                if clash:
                    raise MetricNameClash(f"metric names exported twice: {', '.join(clash)}")
            except Exception:
                self._failed(name)
                continue
            self._recovered(name)
            seen.update(names)
            yield from families
        errors = CounterMetricFamily(
            SOURCE_ERRORS,
            "Scrapes in which a metrics source failed (its metrics were left out)",
            labels=["source"],
        )
        with self._lock:
            counts = {source_name(s): 0 for s in self._sources} | self._errors
        for name in sorted(counts):
            errors.add_metric([name], counts[name])
        yield errors

    def _failed(self, name: str) -> None:
        with self._lock:
            self._errors[name] = self._errors.get(name, 0) + 1
            first = name not in self._failing
            self._failing.add(name)
        if first:  # once per streak: a source that stays broken does not flood the log
            logger.exception("metrics: source %s failed; its metrics are left out", name)

    def _recovered(self, name: str) -> None:
        with self._lock:
            if name not in self._failing:
                return
            self._failing.discard(name)
        logger.warning("metrics: source %s works again", name)

    def generate(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for an Accept header, and its content type, in this thread."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    async def exposition(self, accept: str, timeout_s: float) -> tuple[bytes, str]:
        """generate() in a thread, shared by concurrent scrapes of one content type.

        TimeoutError after timeout_s; the collection goes on, and the next scrape waits
        for it rather than starting another, so a hung source holds at most one thread
        per format. The thread is a daemon: a hung statvfs never blocks the shutdown.
        """
        _, content_type = choose_encoder(accept)
        future = self._inflight.get(content_type)
        if future is None:
            future = self._start(accept, content_type)
        body = await asyncio.wait_for(asyncio.shield(future), timeout_s)
        return body, content_type

    def _start(self, accept: str, content_type: str) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._inflight[content_type] = future

        def settle(body: bytes | None, exc: BaseException | None) -> None:
            if self._inflight.get(content_type) is future:
                del self._inflight[content_type]
            if future.cancelled():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(body or b"")

        def run() -> None:
            _SCRAPE_LOOP.set(loop)  # a new thread has a context of its own
            try:
                body, _ = self.generate(accept)
            except BaseException as exc:  # the scrape gets it as a 500, logged there
                result: tuple[bytes | None, BaseException | None] = (None, exc)
            else:
                result = (body, None)
            # RuntimeError: the loop closed while this scrape ran; nobody is waiting.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, *result)

        threading.Thread(target=run, name="metrics-scrape", daemon=True).start()
        return future


# -- built-in sources ---------------------------------------------------------------


class CameraMetrics:
    """Per-camera recording state and counters, from the supervisor's camera_status()."""

    def __init__(self, status: StatusSource, clock: Clock | None = None) -> None:
        self._status = status
        self._clock = clock or SystemClock()

    def collect_metrics(self) -> Iterable[Metric]:
        statuses: dict[str, CameraStatus] = {}
        for st in self._status.camera_status():
            statuses.setdefault(st.name, st)  # one series per camera, whatever the source
        now_us = self._clock.now_us()
        cam = ["camera"]

        def gauge(name: str, doc: str, labels: Sequence[str] = cam) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        def counter(name: str, doc: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=cam)

        up = gauge("surveil_camera_up", "1 while the camera is recording, else 0")
        state = gauge(
            "surveil_camera_state",
            "1 for the camera's current state, 0 for the others",
            ["camera", "state"],
        )
        written = counter(
            "surveil_camera_bytes", "Bytes appended to segment files since the recorder started"
        )
        fragments = counter(
            "surveil_camera_fragments",
            "Complete fragments appended to segment files since the recorder started",
        )
        reconnects = counter(
            "surveil_camera_reconnects",
            "Connection attempts after the recorder's first one, successful or not",
        )
        frames = counter(
            "surveil_camera_frames", "Video frames recorded since the recorder started"
        )
        freshness = gauge(
            "surveil_camera_freshness_seconds",
            "Capture to queryable in the index, over recent frames, by quantile",
            ["camera", "quantile"],
        )
        packet_age = gauge(
            "surveil_camera_last_packet_age_seconds", "Seconds since the camera's last packet"
        )
        storage = gauge(
            "surveil_camera_storage_error",
            "1 while the recorder cannot write to the data directory (disk full or error)",
        )
        fps = gauge("surveil_camera_frames_per_second", "Video frame rate over the last 5 seconds")
        bitrate = gauge(
            "surveil_camera_bitrate_bits_per_second", "Stream bit rate over the last 5 seconds"
        )
        offset = gauge(
            "surveil_camera_clock_offset_seconds",
            "Camera clock minus host clock at the last ONVIF probe",
        )
        alarms = gauge("surveil_camera_alarms", "Alarms the camera shows on the dashboard")
        for name in sorted(statuses):
            st = statuses[name]
            up.add_metric([name], 1 if st.state == "recording" else 0)
            states = CAMERA_STATES if st.state in CAMERA_STATES else (*CAMERA_STATES, st.state)
            for s in states:
                state.add_metric([name, s], 1 if s == st.state else 0)
            written.add_metric([name], st.bytes_written)
            fragments.add_metric([name], st.fragments_written)
            reconnects.add_metric([name], st.reconnects)
            frames.add_metric([name], st.frames)
            for quantile, value in (("0.5", st.freshness_p50_s), ("0.99", st.freshness_p99_s)):
                if value is not None:
                    freshness.add_metric([name, quantile], value)
            if st.last_packet_us is not None:
                packet_age.add_metric([name], max(0, now_us - st.last_packet_us) / US)
            storage.add_metric([name], 1 if st.storage_error else 0)
            if st.fps is not None:
                fps.add_metric([name], st.fps)
            if st.bitrate_bps is not None:
                bitrate.add_metric([name], st.bitrate_bps)
            if st.clock_offset_s is not None:
                offset.add_metric([name], st.clock_offset_s)
            alarms.add_metric([name], len(st.alarms))
        return [
            up,
            state,
            written,
            fragments,
            reconnects,
            frames,
            freshness,
            packet_age,
            storage,
            fps,
            bitrate,
            offset,
            alarms,
        ]


class DiskMetrics:
    """Used, free and total bytes of each volume's filesystem (shutil.disk_usage).

    A volume whose statvfs fails (gone, no permission) has surveil_volume_error 1 and no
    byte counts; the others are unaffected. A statvfs that hangs (a dead network mount)
    holds up the scrape's thread: the scrape answers 503 after its timeout, the event
    loop and the recorders carry on (SurveilCollector.exposition).
    """

    def __init__(self, paths: Mapping[str, Path]) -> None:
        self._paths = dict(paths)
        self._failing: set[str] = set()

    def collect_metrics(self) -> Iterable[Metric]:
        vol = ["volume"]
        used = GaugeMetricFamily(
            "surveil_volume_used_bytes", "Bytes used on the volume's filesystem", labels=vol
        )
        free = GaugeMetricFamily(
            "surveil_volume_free_bytes",
            "Bytes free on the volume's filesystem for surveil (not the root reserve)",
            labels=vol,
        )
        total = GaugeMetricFamily(
            "surveil_volume_total_bytes", "Size of the volume's filesystem", labels=vol
        )
        error = GaugeMetricFamily(
            "surveil_volume_error",
            "1 when the volume's filesystem could not be read (statvfs failed)",
            labels=vol,
        )
        for name in sorted(self._paths):
            path = self._paths[name]
            try:
                usage = shutil.disk_usage(path)
            except OSError as exc:
                if name not in self._failing:
                    self._failing.add(name)
                    logger.warning("metrics: volume %s: cannot read %s: %s", name, path, exc)
                error.add_metric([name], 1)
                continue
            self._failing.discard(name)
            error.add_metric([name], 0)
            used.add_metric([name], usage.used)
            free.add_metric([name], usage.free)
            total.add_metric([name], usage.total)
        return [used, free, total, error]


class IntegrityMetrics:
    """The integrity log: its size, the last checkpoint, the scrub cycle, verify."""

    def __init__(self, integrity: Integrity) -> None:
        self._integrity = integrity

    def collect_metrics(self) -> Iterable[Metric]:
        integrity = self._integrity
        status = on_loop(integrity.status)
        now_us = integrity.clock.now_us()
        running = status.verify_running

        def gauge(name: str, doc: str, value: float | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, value=value)

        def age_s(us: int) -> float:
            return max(0, now_us - us) / US

        out: list[Metric] = [
            gauge("surveil_log_size", "Leaves in the integrity log", status.log_size),
            CounterMetricFamily(
                "surveil_checkpoints", "Checkpoints issued", value=status.checkpoints
            ),
            gauge(
                "surveil_checkpoint_failing",
                "1 while the checkpointer has an alarm (a failed checkpoint or timestamp)",
                1 if integrity.checkpointer.alarm is not None else 0,
            ),
            gauge("surveil_integrity_alarms", "Alarms of the integrity page", len(status.alarms)),
            gauge(
                "surveil_verify_running",
                "1 while a verify started from the page or the API runs",
                1 if running is not None and running.finished_us is None else 0,
            ),
        ]
        checkpoint = status.checkpoint
        if checkpoint is not None:
            out.append(
                gauge(
                    "surveil_checkpoint_age_seconds",
                    "Seconds since the last checkpoint was issued",
                    age_s(checkpoint.issued_us),
                )
            )
            out.append(
                gauge(
                    "surveil_checkpoint_log_size",
                    "Leaves the last checkpoint covers",
                    checkpoint.size,
                )
            )
        scrub = status.scrub
        if scrub is not None:
            out += [
                gauge(
                    "surveil_scrub_running",
                    "1 while the latest scrub cycle has not finished",
                    1 if scrub.finished_us is None else 0,
                ),
                gauge(
                    "surveil_scrub_position",
                    "Segment id the latest scrub cycle has reached",
                    scrub.position,
                ),
                gauge(
                    "surveil_scrub_checked_segments",
                    "Segments re-hashed in the latest scrub cycle",
                    scrub.checked,
                ),
                gauge(
                    "surveil_scrub_checked_bytes",
                    "Bytes re-hashed in the latest scrub cycle",
                    scrub.bytes,
                ),
                gauge(
                    "surveil_scrub_mismatches",
                    "Segments found gone or not as sealed in the latest scrub cycle",
                    scrub.findings,
                ),
                gauge(
                    "surveil_scrub_cycle_age_seconds",
                    "Seconds since the latest scrub cycle started",
                    age_s(scrub.started_us),
                ),
            ]
        verify = status.verify
        if verify is not None and verify.finished_us is not None:
            out += [
                gauge(
                    "surveil_verify_findings",
                    "Findings of the last finished verify",
                    verify.findings,
                ),
                gauge(
                    "surveil_verify_age_seconds",
                    "Seconds since the last verify finished",
                    age_s(verify.finished_us),
                ),
            ]
        return out


class LifecycleMetrics:
    """The storage lifecycle: each volume's level and quota, retention's deletions and last
    pass, the footage kept per camera, active legal holds."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self._lifecycle = lifecycle

    def collect_metrics(self) -> Iterable[Metric]:
        status = on_loop(self._lifecycle.status)
        now_us = status.now_us
        vol, cam = ["volume"], ["camera"]
        level = GaugeMetricFamily(
            "surveil_volume_level",
            "1 for the volume's current level (ok, warn, critical, full, error)",
            labels=["volume", "level"],
        )
        full = {a.volume for a in status.alarms if a.level == "full"}
        for u in status.volumes:
            current = "full" if u.name in full else u.level
            for name in LEVELS:
                level.add_metric([u.name, name], 1 if name == current else 0)
        quota = GaugeMetricFamily(
            "surveil_volume_quota_bytes", "The volume's footage quota, when set", labels=vol
        )
        for name, q in status.quotas.items():
            if q is not None:
                quota.add_metric([name], q)
        oldest = GaugeMetricFamily(
            "surveil_footage_oldest_age_seconds",
            "Age of the camera's oldest footage still on disk",
            labels=cam,
        )
        kept = GaugeMetricFamily(
            "surveil_footage_bytes", "Bytes of the camera's footage still on disk", labels=cam
        )
        retain = GaugeMetricFamily(
            "surveil_retention_days", "Days the camera's footage is kept at least", labels=cam
        )
        for f in status.footage:
            if f.oldest_us is not None:
                oldest.add_metric([f.camera], max(0, now_us - f.oldest_us) / US)
            kept.add_metric([f.camera], f.bytes)
            retain.add_metric([f.camera], f.retain_days)
        out: list[Metric] = [level, quota, oldest, kept, retain]
        out.append(
            CounterMetricFamily(
                "surveil_retention_deleted_segments",
                "Segment files deleted under the retention policy",
                value=status.deleted_segments,
            )
        )
        out.append(
            CounterMetricFamily(
                "surveil_retention_deleted_bytes",
                "Bytes of segment files deleted under the retention policy",
                value=status.deleted_bytes,
            )
        )
        if status.last_pass is not None and status.last_pass.finished_us is not None:
            out.append(
                GaugeMetricFamily(
                    "surveil_retention_last_pass_age_seconds",
                    "Time since the last retention pass finished",
                    value=max(0, now_us - status.last_pass.finished_us) / US,
                )
            )
        out.append(
            GaugeMetricFamily(
                "surveil_retention_failing",
                "1 while the last retention pass failed",
                value=0 if status.retention_error is None else 1,
            )
        )
        out.append(
            GaugeMetricFamily("surveil_legal_holds", "Active legal holds", value=status.legal_holds)
        )
        out += _transfer_metrics(status.transfer)
        return out


def _transfer_metrics(t: TransferStatus | None) -> list[Metric]:
    if t is None:
        return []
    out: list[Metric] = [
        GaugeMetricFamily(
            "surveil_transfer_backlog_segments",
            "Sealed segments not yet confirmed in central storage",
            value=t.backlog_segments,
        ),
        GaugeMetricFamily(
            "surveil_transfer_backlog_bytes",
            "Bytes of sealed segments not yet confirmed in central storage",
            value=t.backlog_bytes,
        ),
        GaugeMetricFamily(
            "surveil_transfer_failing_segments",
            "Of those, segments whose last upload failed",
            value=t.failing,
        ),
        CounterMetricFamily(
            "surveil_transfer_confirmed_segments",
            "Segments confirmed in central storage",
            value=t.confirmed_segments,
        ),
        CounterMetricFamily(
            "surveil_transfer_confirmed_bytes",
            "Bytes confirmed in central storage",
            value=t.confirmed_bytes,
        ),
        GaugeMetricFamily(
            "surveil_transfer_alarm",
            "1 while transfer has an alarm (refused credentials, unreachable store...)",
            value=0 if t.alarm is None else 1,
        ),
    ]
    if t.lag_s is not None:
        out.append(
            GaugeMetricFamily(
                "surveil_transfer_lag_seconds",
                "Age of the oldest sealed segment not yet confirmed centrally",
                value=t.lag_s,
            )
        )
    return out
