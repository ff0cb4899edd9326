"""One camera's recorder: source → segment writer → segment files → index.

Each recorder owns one thread that demuxes, muxes, writes and fsyncs (all
blocking, none of it touching the event loop). Index writes are handed to
the event loop's single database writer, in order. A failure of one camera
stays in its thread: the supervisor never sees an exception from here.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.source import CameraError, PacketSource
from index import events, runs, segments
from index.db import Database
from index.records import SegmentRow
from segmenter.errors import SegmenterError, UnsupportedStream
from segmenter.paths import segment_path
from segmenter.records import FragmentReady, SegmentFinished, SegmentStarted, WriterOutput
from segmenter.storage import SegmentFile
from segmenter.writer import SegmentWriter
from surveil.clock import Clock
from surveil.config import RecordingConfig
from surveil.status import CameraStatus
from surveil.timesync import host_clock_sync

logger = logging.getLogger(__name__)
US = 1_000_000
STABLE_RUN_SECONDS = 10.0


@dataclass
class _OpenSegment:
    sequence: int
    file: SegmentFile
    start_us: int
    video_codec: str
    audio_codec: str | None
    end_us: int
    fragments: int = 0
    durable_end_us: int = 0
    durable_fragments: int = 0
    row_written: bool = False


@dataclass
class _Stats:
    """Rolling packet statistics for the status API (written by one thread)."""

    window: collections.deque[tuple[float, int, bool]] = field(
        default_factory=lambda: collections.deque(maxlen=2048)
    )

    def add(self, mono: float, size: int, is_video: bool) -> None:
        self.window.append((mono, size, is_video))

    def rates(self, now: float, span: float = 5.0) -> tuple[float | None, float | None]:
        recent = [w for w in list(self.window) if now - w[0] <= span]
        if len(recent) < 2:
            return None, None
        elapsed = max(now - recent[0][0], 1e-3)
        frames = sum(1 for w in recent if w[2])
        bits = sum(w[1] for w in recent) * 8
        return frames / elapsed, bits / elapsed


class Recorder:
    """Records one camera until stopped; reconnects with capped backoff."""

    def __init__(
        self,
        *,
        name: str,
        camera_id: int,
        source: PacketSource,
        data_dir: Path,
        recording: RecordingConfig,
        db: Database,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
    ) -> None:
        self.name = name
        self.camera_id = camera_id
        self.source = source
        self.data_dir = data_dir
        self.cfg = recording
        self.db = db
        self.loop = loop
        self.clock = clock
        # Camera clock minus host clock from the last ONVIF probe (None: unknown); set by
        # the supervisor, stamped on each segment row so evidence carries the camera's
        # own notion of time next to ours.
        self.camera_clock_offset_us: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"rec-{name}", daemon=True)
        self._state = "connecting"
        self._error: str | None = None
        self._last_packet_us: int | None = None
        self._stats = _Stats()
        self._segment: _OpenSegment | None = None
        self._run_id: int | None = None
        self._last_sync_mono = 0.0
        self._last_end_us: int | None = None
        self._pending_media_us = 0
        self._clock_sync = "unknown"
        # (media µs of a video packet, its arrival in monotonic µs) awaiting indexing
        self._arrivals: collections.deque[tuple[int, int]] = collections.deque(maxlen=100_000)
        self.freshness_us: collections.deque[int] = collections.deque(maxlen=5000)
        # Video frames accepted by each run's writer, by run id (tests, benchmarks).
        self.frames_by_run: dict[int, int] = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        interrupt = getattr(self.source, "interrupt", None)
        if interrupt is not None:
            interrupt()  # sources that can be woken safely from another thread

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> CameraStatus:
        fps, bitrate = self._stats.rates(time.monotonic())
        seg = self._segment
        return CameraStatus(
            name=self.name,
            state=self._state,
            last_packet_us=self._last_packet_us,
            fps=round(fps, 2) if fps is not None else None,
            bitrate_bps=round(bitrate) if bitrate is not None else None,
            current_segment=seg.file.rel_path if seg else None,
            error=self._error,
            run_id=self._run_id,
            freshness_p50_s=_percentile_s(self.freshness_us, 0.50),
            freshness_p99_s=_percentile_s(self.freshness_us, 0.99),
            frames=sum(list(self.frames_by_run.values())),
        )

    # -- the camera thread -------------------------------------------------

    def _main(self) -> None:
        delay = self.cfg.reconnect_initial_seconds
        last_failure: str | None = None
        while not self._stop.is_set():
            self._state = "connecting"
            try:
                streams = self.source.open()
                writer = SegmentWriter(
                    streams,
                    segment_us=int(self.cfg.segment_seconds * US),
                    fragment_us=int(self.cfg.fragment_seconds * US),
                )
            except (CameraError, UnsupportedStream) as e:
                self.source.close()
                reason = str(e)
                self._state, self._error = "offline", reason
                if reason != last_failure:
                    logger.warning("%s: %s", self.name, reason)
                    self._event("connect_failed", {"reason": reason})
                    last_failure = reason
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.cfg.reconnect_max_seconds)
                continue
            started = time.monotonic()
            ended = self._record(writer)
            self.source.close()
            if self._run_id is not None and time.monotonic() - started >= STABLE_RUN_SECONDS:
                # A run that lasted resets the backoff: the next outage starts fresh.
                delay = self.cfg.reconnect_initial_seconds
                last_failure = None
            elif not self._stop.is_set():
                # No keyframe, or a run that broke at once (full disk, bad stream):
                # back off like a failed connect so a persistent fault cannot spin.
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.cfg.reconnect_max_seconds)
            self._run_id = None
            if ended is not None:
                self._state, self._error = "offline", ended
        self._state = "disabled" if self._stop.is_set() else "offline"

    def _record(self, writer: SegmentWriter) -> str | None:
        """One connection: returns why it ended (None when stopped)."""
        reason: str | None = None
        wall0 = 0
        video_index = writer.tracks["video"].index
        stop = self._stop
        try:
            for packet in self.source.packets():
                if stop.is_set():
                    break
                now_us = self.clock.now_us()
                mono = time.monotonic()
                self._last_packet_us = now_us
                is_video = packet.stream_index == video_index
                self._stats.add(mono, packet.size, is_video)
                was_started = writer.started
                dts = packet.dts
                outs = writer.push(packet)
                if not was_started and writer.started:
                    wall0 = now_us
                    self._start_run(wall0)
                if is_video and dts is not None and writer.started:
                    self._arrivals.append((writer.video_media_us(dts), int(mono * US)))
                if outs:
                    self._handle(outs, wall0)
                    if self._run_id is not None:
                        self.frames_by_run[self._run_id] = writer.video_accepted
                seg = self._segment
                if seg is not None and seg.fragments != seg.durable_fragments:
                    self._maybe_sync()
        except CameraError as e:
            reason = str(e)
        except SegmenterError as e:
            reason = f"stream error: {e}"
        except Exception as e:  # keep the thread alive whatever happens
            logger.exception("%s: recorder failed", self.name)
            reason = f"internal error: {type(e).__name__}"
        try:
            self._handle(writer.finish(), wall0)
            if self._run_id is not None:
                self.frames_by_run[self._run_id] = writer.video_accepted
        except Exception:
            logger.exception("%s: could not finish the last segment", self.name)
            if self._segment is not None:
                self._segment.file.abandon()  # left as .part for recovery
                self._segment = None
        if self._stop.is_set():
            reason = None  # a requested stop, whatever the source said on the way out
        self._end_run(reason or "recorder stopped")
        if reason:
            logger.warning("%s: disconnected: %s", self.name, reason)
        return reason

    def _handle(self, outs: list[WriterOutput], wall0: int) -> None:
        for out in outs:
            if isinstance(out, SegmentStarted):
                self._begin_segment(out, wall0)
            elif isinstance(out, FragmentReady):
                self._fragment(out, wall0)
            elif isinstance(out, SegmentFinished):
                self._seal(out, wall0)

    def _begin_segment(self, out: SegmentStarted, wall0: int) -> None:
        assert self._run_id is not None
        start_us = wall0 + out.start_media_us
        rel = segment_path(self.name, start_us, self._run_id, out.sequence)
        file = SegmentFile(self.data_dir, rel)
        file.append(out.init)
        self._segment = _OpenSegment(
            sequence=out.sequence,
            file=file,
            start_us=start_us,
            video_codec=out.video_codec,
            audio_codec=out.audio_codec,
            end_us=start_us,
        )
        self._state, self._error = "recording", None

    def _fragment(self, out: FragmentReady, wall0: int) -> None:
        seg = self._segment
        assert seg is not None
        seg.file.append(out.data)
        seg.end_us = wall0 + out.end_media_us
        seg.fragments += 1
        self._maybe_sync(out.end_media_us)

    def _maybe_sync(self, end_media_us: int | None = None) -> None:
        """fsync what has been written if the policy allows, then extend the index row.

        Called at fragment boundaries and on every packet, so a fragment skipped
        by the rate limit is made durable as soon as the interval has passed,
        not only at the next fragment.
        """
        seg = self._segment
        if seg is None or self.cfg.fsync != "fragment" or seg.fragments == seg.durable_fragments:
            return  # nothing new, or only the init segment: a row needs a whole fragment
        mono = time.monotonic()
        if mono - self._last_sync_mono < self.cfg.fsync_interval_seconds:
            if end_media_us is not None:
                self._pending_media_us = end_media_us
            return
        if end_media_us is None:
            end_media_us = self._pending_media_us
        seg.file.sync()
        self._last_sync_mono = mono
        seg.durable_end_us, seg.durable_fragments = seg.end_us, seg.fragments
        row = self._row(seg, state="open", sha256=None, sealed_us=None)
        committed = self._note_indexed(end_media_us, seg.end_us)
        if seg.row_written:
            self._submit(lambda s: segments.update_segment(s, row), committed)
        else:
            seg.row_written = True
            self._submit(lambda s: segments.open_segment(s, row), committed)

    def _seal(self, out: SegmentFinished, wall0: int) -> None:
        seg = self._segment
        assert seg is not None
        self._segment = None
        sealed = seg.file.seal()
        seg.end_us = wall0 + out.end_media_us
        seg.fragments = out.fragments
        seg.durable_end_us, seg.durable_fragments = seg.end_us, seg.fragments
        row = self._row(seg, state="sealed", sha256=sealed.sha256, sealed_us=self.clock.now_us())
        committed = self._note_indexed(out.end_media_us, seg.end_us)
        if seg.row_written:
            self._submit(lambda s: segments.update_segment(s, row), committed)
        else:
            self._submit(lambda s: segments.upsert_segment(s, row), committed)

    def _row(
        self, seg: _OpenSegment, *, state: str, sha256: str | None, sealed_us: int | None
    ) -> SegmentRow:
        assert self._run_id is not None
        return SegmentRow(
            camera_id=self.camera_id,
            run_id=self._run_id,
            sequence=seg.sequence,
            path=seg.file.rel_path,
            start_us=seg.start_us,
            end_us=seg.durable_end_us,
            duration_us=seg.durable_end_us - seg.start_us,
            bytes=seg.file.durable_bytes,
            sha256=sha256,
            state=state,
            video_codec=seg.video_codec,
            audio_codec=seg.audio_codec,
            fragments=seg.durable_fragments,
            clock_sync=self._clock_sync,
            camera_clock_offset_us=self.camera_clock_offset_us,
            created_us=self.clock.now_us(),
            sealed_us=sealed_us,
        )

    # -- index hand-off ----------------------------------------------------

    def _start_run(self, start_us: int) -> None:
        self._clock_sync = host_clock_sync()
        future = asyncio.run_coroutine_threadsafe(
            self.db.write(lambda s: runs.start_run(s, self.camera_id, start_us, "connected")),
            self.loop,
        )
        self._run_id = future.result(timeout=60)
        self._last_end_us = None
        self._arrivals.clear()
        logger.info("%s: recording (run %d)", self.name, self._run_id)

    def _end_run(self, reason: str) -> None:
        run_id = self._run_id
        if run_id is None:
            return
        end_us = self._last_end_us if self._last_end_us is not None else self.clock.now_us()
        self._submit(lambda s: runs.end_run(s, run_id, end_us, reason))

    def _note_indexed(self, end_media_us: int, end_us: int) -> Callable[[], None] | None:
        """Freshness bookkeeping: a callback for when the row covering these frames commits."""
        self._last_end_us = end_us
        covered: list[int] = []
        while self._arrivals and self._arrivals[0][0] < end_media_us:
            covered.append(self._arrivals.popleft()[1])
        if not covered:
            return None

        def committed() -> None:
            now = int(time.monotonic() * US)
            self.freshness_us.extend(now - t for t in covered)

        return committed

    def _submit(
        self,
        fn: Callable[[AsyncSession], Awaitable[Any]],
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.loop.call_soon_threadsafe(self.db.submit, fn, on_commit)

    def _event(self, kind: str, detail: dict[str, object]) -> None:
        now = self.clock.now_us()
        cam = self.camera_id
        self._submit(lambda s: events.add_event(s, kind, now, camera_id=cam, detail=detail))


def _percentile_s(samples_us: collections.deque[int], q: float) -> float | None:
    values = sorted(list(samples_us))
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))] / US, 3)
