"""One camera's recorder: source → segment writer → segment files → index.

Each recorder owns one thread that demuxes, muxes, writes and fsyncs (all
blocking, none of it touching the event loop). Index writes are handed to
the event loop's single database writer, in order. A failure of one camera
stays in its thread: the supervisor never sees an exception from here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from cameras.source import CameraError, PacketSource
from index import events, runs, segments
from index.db import Database
from index.errors import Conflict
from index.records import DEFAULT_VOLUME, SegmentRow
from segmenter.errors import SegmenterError, UnsupportedStream
from segmenter.paths import segment_path
from segmenter.records import FragmentReady, SegmentFinished, SegmentStarted, WriterOutput
from segmenter.recovery import quarantine_file
from segmenter.storage import DISK_ERROR, DISK_FULL, SegmentFile, StorageError
from segmenter.writer import SegmentWriter
from surveil.clock import Clock
from surveil.config import RecordingConfig
from surveil.space import SpaceMonitor
from surveil.status import CameraStatus
from surveil.timesync import host_clock_sync

logger = logging.getLogger(__name__)
US = 1_000_000
STABLE_RUN_SECONDS = 10.0
# After a full disk, recording resumes once this much is free, or 5 % of a smaller
# filesystem: resuming at the first free byte would fail again at once, run after run.
RESUME_FREE_BYTES = 64 * 1024 * 1024
RESUME_FREE_FRACTION = 0.05
STORAGE_POLL_SECONDS = 1.0
# Index writes that must not be lost (a run's end) are retried, backing off up to this.
INDEX_RETRY_MAX_SECONDS = 5.0
# Index failures worth retrying: the database is full, gone or slow; not a bug in the write.
_RETRYABLE = (SQLAlchemyError, OSError, TimeoutError)
_Write = Callable[[AsyncSession], Awaitable[Any]]


class IndexUnavailable(Exception):
    """The index refused a write the recorder cannot go on without (a run's start)."""


@dataclass
class _OpenSegment:
    sequence: int
    file: SegmentFile
    volume: str
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
        space: SpaceMonitor | None = None,
    ) -> None:
        self.name = name
        self.camera_id = camera_id
        self.source = source
        self.data_dir = data_dir
        # Where the current run records: a volume the space monitor lets it use (the data
        # directory when there is no monitor).
        self._space = space
        self._volume = DEFAULT_VOLUME
        self._root = data_dir
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
        self._next_sync_mono = 0.0  # earliest monotonic time the next fsync may run
        self._last_end_us: int | None = None
        self._pending_media_us = 0
        self._clock_sync = "unknown"
        self._run_start_us = 0
        # DISK_FULL or DISK_ERROR while segment files cannot be written, else None.
        self._storage_error: str | None = None
        # (volume root, .part file) a storage failure left without a whole fragment:
        # quarantined once the disk takes writes again (else by startup recovery).
        self._leftovers: list[tuple[Path, Path]] = []
        # (media µs of a video packet, its arrival in monotonic µs) awaiting indexing
        self._arrivals: collections.deque[tuple[int, int]] = collections.deque(maxlen=100_000)
        self.freshness_us: collections.deque[int] = collections.deque(maxlen=5000)
        # Video frames accepted by each run's writer, by run id (tests, benchmarks).
        self.frames_by_run: dict[int, int] = {}
        # Since this recorder started, for the metrics (written by the camera thread only):
        # bytes appended to segment files, complete fragments appended, and connection
        # attempts after the first one (docs/ref/metrics.md, surveil_camera_reconnects_total).
        self._bytes_written = 0
        self._fragments_written = 0
        self._reconnects = 0

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
            storage_error=self._storage_error,
            bytes_written=self._bytes_written,
            fragments_written=self._fragments_written,
            reconnects=self._reconnects,
        )

    # -- the camera thread -------------------------------------------------

    def _main(self) -> None:
        delay = self.cfg.reconnect_initial_seconds
        last_failure: str | None = None
        attempted = False
        # 'connecting' only until the first attempt fails: a camera that keeps failing
        # stays 'offline' with its reason, it does not flip back at every retry.
        while not self._stop.is_set():
            if self._storage_error is not None:
                # Reconnecting to the camera cannot help while nothing can be written.
                if not self._wait_for_storage():
                    break
                delay = self.cfg.reconnect_initial_seconds
                last_failure = None
            if not self._place():
                self._storage_error = DISK_FULL
                self._state, self._error = "offline", DISK_FULL
                continue
            if attempted:
                self._reconnects += 1
            attempted = True
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
            if self._storage_error is not None:
                pass  # waits for the disk at the top of the loop
            elif self._run_id is not None and time.monotonic() - started >= STABLE_RUN_SECONDS:
                # A run that lasted resets the backoff: the next outage starts fresh.
                delay = self.cfg.reconnect_initial_seconds
                last_failure = None
            elif not self._stop.is_set():
                # No keyframe, or a run that broke at once (bad stream, index down):
                # back off like a failed connect so a persistent fault cannot spin.
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.cfg.reconnect_max_seconds)
            self._run_id = None
            if ended is not None:
                self._state, self._error = "offline", ended
        self._state = "disabled" if self._stop.is_set() else "offline"

    def _wait_for_storage(self) -> bool:
        """Wait until footage can be written again; False if stopped meanwhile."""
        while True:
            problem = self._storage_problem()
            if problem is None:
                logger.warning("%s: the data directory takes writes again; resuming", self.name)
                self._storage_error = None
                self._quarantine_leftovers()
                return True
            self._storage_error = problem
            if self._stop.wait(STORAGE_POLL_SECONDS):
                return False

    def _quarantine_leftovers(self) -> None:
        leftovers, self._leftovers = self._leftovers, []
        for root, part in leftovers:
            try:
                moved = quarantine_file(root, part, part.stat().st_size, "no complete fragment")
            except OSError as e:
                logger.warning("%s: %s stays for startup recovery: %s", self.name, part, e)
                continue
            self._event("segment_quarantined", moved.detail())

    def _place(self) -> bool:
        """Choose the volume the next run records to; False when no volume takes footage."""
        if self._space is None:
            return True
        choice = self._space.choose(self.name)
        if choice is None:
            return False
        self._volume, self._root = choice
        return True

    def _storage_problem(self) -> str | None:
        """DISK_FULL until enough space is free, DISK_ERROR while a test write fails."""
        if self._space is not None:
            if not self._place():
                return DISK_FULL  # the monitor decides; it knows what may still be deleted
        else:
            try:
                usage = shutil.disk_usage(self._root)
            except OSError:
                return DISK_ERROR
            if usage.free < min(RESUME_FREE_BYTES, int(usage.total * RESUME_FREE_FRACTION)):
                return DISK_FULL
        # Free space does not prove that writes work (an I/O error, a read-only remount).
        probe = self._root / f".write-check-{self.name}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, bytes(4096))
                os.fsync(fd)
            finally:
                os.close(fd)
                probe.unlink()
        except OSError as e:
            return StorageError("cannot write", probe.name, e).reason
        return None

    def _record(self, writer: SegmentWriter) -> str | None:
        """One connection: returns why it ended (None when stopped)."""
        reason: str | None = None
        storage: StorageError | None = None
        wall0 = 0
        video_index = writer.tracks["video"].index
        stop = self._stop
        space, volume = self._space, self._volume
        full = False
        try:
            for packet in self.source.packets():
                if stop.is_set():
                    break
                if space is not None and not space.accepting(volume):
                    # The monitor found the volume full with nothing it may delete: stop
                    # cleanly (the segment is sealed below), before a write fails.
                    full = True
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
        except StorageError as e:
            storage = e
        except IndexUnavailable as e:
            reason = str(e)
        except CameraError as e:
            reason = str(e)
        except SegmenterError as e:
            reason = f"stream error: {e}"
        except Exception as e:  # keep the thread alive whatever happens
            logger.exception("%s: recorder failed", self.name)
            reason = f"internal error: {type(e).__name__}"
        if storage is None and self._run_id is not None:
            try:
                self._handle(writer.finish(), wall0)
                self.frames_by_run[self._run_id] = writer.video_accepted
            except StorageError as e:
                storage = e
            except Exception:
                logger.exception("%s: could not finish the last segment", self.name)
                if self._segment is not None:
                    self._segment.file.abandon()  # left as .part for recovery
                    self._segment = None
        else:
            _discard(writer)  # no run (never started) or no disk: the output has nowhere to go
        if full and storage is None:
            reason = DISK_FULL
            self._storage_error = DISK_FULL
            logger.error(
                "%s: volume %s is full and nothing on it may be deleted; recording stops "
                "until space returns",
                self.name,
                volume,
            )
        if self._stop.is_set():
            reason = None  # a requested stop, whatever the source said on the way out
        loss: _Write | None = None
        if storage is not None:
            reason = storage.reason
            loss = self._storage_failed(storage)
        self._end_run(reason or "recorder stopped", loss)
        if reason:
            logger.warning("%s: disconnected: %s", self.name, reason)
        return reason

    def _storage_failed(self, exc: StorageError) -> _Write:
        """Seal the open segment at its last durable fragment after a write or fsync
        failed; returns the index write that records it and the loss (in the run's end)."""
        self._storage_error = exc.reason
        self._state, self._error = "offline", exc.reason
        logger.error(
            "%s: %s; recording stops until the data directory takes writes again", self.name, exc
        )
        seg, self._segment = self._segment, None
        detail: dict[str, object] = {"reason": exc.reason, "error": str(exc)}
        row: SegmentRow | None = None
        if seg is not None:
            written = seg.fragments
            seg.file.salvage()
            if seg.file.durable_bytes == seg.file.bytes:
                seg.durable_end_us, seg.durable_fragments = seg.end_us, seg.fragments
            detail.update(
                segment=seg.file.rel_path,
                kept_fragments=seg.durable_fragments,
                kept_bytes=seg.file.durable_bytes,
                # Written, but not provably on disk (an fsync failed): not kept.
                dropped_fragments=written - seg.durable_fragments,
            )
            if seg.durable_fragments == 0:
                # No whole fragment: nothing to seal, the .part goes to quarantine.
                seg.file.abandon(cut_to_durable=True)
                self._leftovers.append((seg.file.data_dir, seg.file.part_path))
            else:
                try:
                    sealed = seg.file.seal_durable()
                except StorageError as again:
                    # The .part keeps its durable fragments and the open row (if any)
                    # covers no more than them; startup recovery seals it.
                    seg.file.abandon()
                    logger.error("%s: %s; left for recovery", self.name, again)
                else:
                    now_us = self.clock.now_us()
                    row = self._row(seg, state="sealed", sha256=sealed.sha256, sealed_us=now_us)
                    self._last_end_us = seg.durable_end_us
        now_us = self.clock.now_us()
        camera_id = self.camera_id

        async def record_loss(s: AsyncSession) -> None:
            if row is not None:
                await segments.upsert_segment(s, row)
            await events.add_event(s, "write_failed", now_us, camera_id=camera_id, detail=detail)

        return record_loss

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
        self._segment = _OpenSegment(
            sequence=out.sequence,
            file=SegmentFile(self._root, rel),
            volume=self._volume,
            start_us=start_us,
            video_codec=out.video_codec,
            audio_codec=out.audio_codec,
            end_us=start_us,
        )
        # Current before the first write: if it fails, _storage_failed finds the file.
        self._segment.file.append(out.init)
        self._bytes_written += len(out.init)
        self._state, self._error = "recording", None

    def _fragment(self, out: FragmentReady, wall0: int) -> None:
        seg = self._segment
        assert seg is not None
        seg.file.append(out.data)
        self._bytes_written += len(out.data)
        self._fragments_written += 1
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
        if mono < self._next_sync_mono:
            if end_media_us is not None:
                self._pending_media_us = end_media_us
            return
        if end_media_us is None:
            end_media_us = self._pending_media_us
        seg.file.sync()
        # A fixed cadence, not "interval since the last fsync": counted from the last one,
        # a fragment that lands a little early waits for the next packet, every fsync
        # slips by that wait, and the durable point falls up to a fragment behind
        # (measured by bench/playable.py). After a stall the cadence restarts from now.
        nxt = self._next_sync_mono + self.cfg.fsync_interval_seconds
        self._next_sync_mono = nxt if nxt > mono else mono
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
        sealed = seg.file.seal()  # on StorageError seg stays current, for _storage_failed
        self._segment = None
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
            volume=seg.volume,
        )

    # -- index hand-off ----------------------------------------------------

    def _start_run(self, start_us: int) -> None:
        self._clock_sync = host_clock_sync()
        try:
            future = asyncio.run_coroutine_threadsafe(
                self.db.write(lambda s: runs.start_run(s, self.camera_id, start_us, "connected")),
                self.loop,
            )
            self._run_id = future.result(timeout=60)
        except (*_RETRYABLE, Conflict, RuntimeError) as e:
            # The reason is logged once, as the disconnect's; the text may hold SQL.
            raise IndexUnavailable(f"index error: cannot start a run ({type(e).__name__})") from e
        self._run_start_us = start_us
        self._last_end_us = None
        self._arrivals.clear()
        logger.info("%s: recording (run %d)", self.name, self._run_id)

    def _end_run(self, reason: str, before: _Write | None = None) -> None:
        """End the run at the end of its last indexed segment, retrying until the index
        has it: a run left open would block the camera's next run, and recovery would
        later call the gap 'recorder down' instead of its reason."""
        run_id = self._run_id
        if run_id is None:
            if before is not None:
                self._submit(before)
            return
        # A run none of whose footage reached the index ends where it started.
        end_us = self._last_end_us if self._last_end_us is not None else self._run_start_us

        async def end(s: AsyncSession) -> None:
            if before is not None:
                await before(s)
            # Conflict: ended by an earlier attempt whose answer was lost (a timeout).
            with contextlib.suppress(Conflict):
                await runs.end_run(s, run_id, end_us, reason)

        self._write_until_done(end, f"the end of run {run_id}")

    def _write_until_done(self, fn: _Write, what: str) -> bool:
        """Write fn from the camera thread, retrying index failures with backoff until it
        commits; a stop allows one last attempt. False if it was given up."""
        delay = self.cfg.reconnect_initial_seconds
        attempts = 0
        while True:
            attempts += 1
            try:
                asyncio.run_coroutine_threadsafe(self.db.write(fn), self.loop).result(timeout=60)
            except _RETRYABLE as e:
                if attempts == 1:
                    logger.warning(
                        "%s: cannot write %s to the index (%s); retrying until it is written",
                        self.name,
                        what,
                        type(e).__name__,
                    )
                if self._stop.is_set():
                    logger.error("%s: %s not written: stopping", self.name, what)
                    return False
                self._stop.wait(delay)  # a stop wakes this for one last attempt
                delay = min(delay * 2, INDEX_RETRY_MAX_SECONDS)
                continue
            except Exception:
                logger.exception("%s: %s not written", self.name, what)
                return False
            if attempts > 1:
                logger.warning("%s: %s written after %d attempts", self.name, what, attempts)
            return True

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
        try:
            self.loop.call_soon_threadsafe(self.db.submit, fn, on_commit)
        except RuntimeError:  # the loop has closed: the service is gone
            logger.error("%s: index write dropped: the event loop has stopped", self.name)

    def _event(self, kind: str, detail: dict[str, object]) -> None:
        now = self.clock.now_us()
        cam = self.camera_id
        self._submit(lambda s: events.add_event(s, kind, now, camera_id=cam, detail=detail))


def _discard(writer: SegmentWriter) -> None:
    """Close the writer's muxer, dropping what it still holds."""
    try:
        writer.finish()
    except Exception:
        logger.debug("closing a discarded segment writer failed", exc_info=True)


def _percentile_s(samples_us: collections.deque[int], q: float) -> float | None:
    values = sorted(list(samples_us))
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))] / US, 3)
