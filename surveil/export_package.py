"""The export package: one zip a party can check offline (docs/design/export-package.md).

``build_package`` gathers, for an approved copy request, the original segment files of the
window (byte for byte), one stitched clip per camera and unbroken stretch (never bridging a
gap), the log's leaves and inclusion proofs against a fresh signed checkpoint, and the
custody chain, and writes them with ``manifest.json``, its detached Ed25519 signature, an
optional RFC 3161 token, ``VERIFY.txt`` and ``verify.py`` (surveil/export_verify.py, the
same file ``surveil verify PACKAGE.zip`` runs). Files are streamed into the zip in chunks
off the event loop, so memory stays flat however long the window; the zip is hashed as it
is written (no second read) and appears under its name only once complete (.part, fsync,
rename). The work is spread over two cores: the clips are planned while the segments are
copied, and each chunk is read, hashed and CRC'd on one thread while the previous one is
hashed into the zip's SHA-256 and written on another (docs/design/export-package.md,
"Performance").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import queue
import threading
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, ClassVar, Final, TypeVar

import surveil
from index import merkle
from index.audit import audit_by_ids
from index.db import Database
from index.records import SegmentRecord
from segmenter.clip import (
    ClipError,
    ClipPlan,
    ClipSource,
    SegmentFileError,
    open_source,
    plan_clip,
)
from surveil import export_texts
from surveil.archive import mark_segment_damaged, mark_segment_missing
from surveil.checkpoints import Checkpointer, Stamp
from surveil.clock import SystemClock
from surveil.export_verify import (
    CLIPS_DIR,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SEGMENTS_DIR,
    SIGNATURE,
    TIMESTAMP,
)
from surveil.lookup import CameraLookup, CameraRef, lookup_window, playable_runs
from surveil.serving import HASHED_STATES, segment_file_path
from surveil.volumes import Volumes
from tlog.note import Signer

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Chunk size and how many chunk buffers exist (one being filled, the rest queued for or
# being written): memory for file data is fixed at CHUNK * BUFFERS however long the window.
# Measured with bench/export.py's 2 h window: 512 KiB to 8 MiB build in about the same
# time, and up to 1 MiB with the least CPU (the chunk stays in cache between the threads).
CHUNK: Final = 1 << 20
BUFFERS: Final = 4
# Every this many bytes written, the writer asks the kernel to start writing them to disk
# (on Linux POSIX_FADV_DONTNEED starts writeback of dirty pages), so the fsync at the end
# has little left to wait for (2 h window: 0.1 s instead of 2-3 s) and the package does
# not crowd the page cache.
WRITEBACK_EVERY: Final = 64 << 20
VERIFY_TXT: Final = "VERIFY.txt"
VERIFY_PY: Final = "verify.py"
G711_ENTRIES: Final = (b"ulaw", b"alaw")  # sample entry types of stored G.711 audio
_VERIFIER_SOURCE: Final = Path(__file__).with_name("export_verify.py")


class PackageNotReady(Exception):
    """The window's footage cannot be packaged yet (a segment is still being written, or
    a file was just found not as indexed and marked): retry later."""

    code: ClassVar[str] = "package_not_ready"


@dataclass(frozen=True)
class CustodyEntry:
    """One workflow step of the request, oldest first."""

    step: str  # submit, review, return, resubmit, approve, reject, withdraw, package, deliver
    actor: str  # account name
    role: str  # admin / staff / auditor / system
    at_us: int
    decision: str | None  # e.g. "pass", "returned", "approved", "rejected"
    reason: str | None
    audit_id: int | None  # the audit row of the step (its Merkle leaf proves it)


@dataclass(frozen=True)
class PackageSpec:
    """What to package: the approved request's window, cameras, party and custody."""

    request_id: int
    receipt_no: str | None
    counter: str
    cameras: tuple[CameraRef, ...]
    start_us: int  # requested window [start_us, end_us)
    end_us: int
    party: Mapping[str, str]  # name, id_type, id_number, relation
    purpose: str
    legal_basis: str
    kind: str  # "copy" (view requests are never packaged)
    custody: tuple[CustodyEntry, ...]


@dataclass(frozen=True)
class PackageResult:
    path: Path
    bytes: int
    sha256: str
    segments: int
    gaps: int
    checkpoint_size: int


@dataclass(frozen=True)
class _SegmentMember:
    seg: SegmentRecord
    source: Path
    name: str  # inside the zip


@dataclass
class _ClipMember:
    camera: str
    name: str
    plan: ClipPlan
    start_us: int
    segments: tuple[str, ...]  # member names of the segments it is cut from
    sha256: str = ""


@dataclass
class _Written:
    """What the data phase found: the hashes of the clips, and any file not as indexed."""

    # (segment, gone, its size when it has one, what is wrong)
    bad: list[tuple[SegmentRecord, bool, int | None, str]] = field(default_factory=list)
    g711: bool = False


class _Sink:
    """The zip's output stream: zipfile writes into it, a thread of its own hashes the
    bytes (the zip's SHA-256) and writes them to the file, in the order written.

    That hash and the write then run on the second core while the caller reads, hashes
    and CRCs the next chunk (hashlib, zlib and file I/O release the GIL on large
    buffers). The caller reads file data into a buffer taken with buffer(), has zipfile
    write it, then hands it back with give_back(); the writer frees it once it has written
    what was queued before, so at most BUFFERS chunks exist and a slow disk holds the
    reader back instead of filling memory.

    It has no seek, so zipfile writes sequentially (data descriptors after each member)
    instead of going back to patch headers: the zip's SHA-256 is then known when the last
    byte is written, without reading the package again."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._sha = hashlib.sha256()
        self.size = 0  # bytes written by zipfile so far (its tell())
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(BUFFERS):
            self._free.put(bytearray(CHUNK))
        # (data to write, None) | (None, a buffer to free) | (None, None): stop
        self._queue: queue.SimpleQueue[tuple[bytes | memoryview | None, bytearray | None]]
        self._queue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="export-zip-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        written = hinted = 0
        while True:
            data, buf = self._queue.get()
            if data is None and buf is None:
                return
            if buf is not None:
                self._free.put(buf)
                continue
            assert data is not None
            if self._error is not None:
                continue  # drain, so the caller never waits for a buffer that will not come
            try:
                self._sha.update(data)
                self._f.write(data)
                written += len(data)
                if written - hinted >= WRITEBACK_EVERY:
                    self._f.flush()
                    os.posix_fadvise(self._f.fileno(), hinted, 0, os.POSIX_FADV_DONTNEED)
                    hinted = written
            except BaseException as exc:  # reported to the caller by write() and close()
                self._error = exc

    def buffer(self) -> bytearray:
        """A chunk buffer to read into (waits while all are queued or being written)."""
        buf = self._free.get()
        if self._stopped:  # a copy still running after the build gave up: end it
            raise ValueError("the package's writer is stopped")
        return buf

    def give_back(self, buf: bytearray) -> None:
        """buf may be reused once what zipfile wrote from it is written."""
        self._queue.put((None, buf))

    def write(self, data: bytes | memoryview) -> int:
        if self._error is not None:
            raise self._error
        if self._stopped:
            raise ValueError("the package's writer is stopped")
        n = memoryview(data).nbytes
        self._queue.put((data, None))
        self.size += n
        return n

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        """zipfile flushes after its end record; finish() writes and flushes everything."""

    def close(self) -> None:
        """zipfile closes only streams it opened itself; the caller ends the writer with
        finish() or abort()."""

    def finish(self) -> str:
        """Wait for every queued byte to be written and flush the file; the zip's SHA-256."""
        self.abort()
        if self._error is not None:
            raise self._error
        self._f.flush()
        return self._sha.hexdigest()

    def abort(self) -> None:
        """Stop the writer thread once it has gone through what is queued; later writes
        fail (a copy thread still running when the build is cancelled ends there)."""
        self._stopped = True
        if self._thread.is_alive():
            self._queue.put((None, None))
            self._thread.join()
        self._free.put(bytearray())  # wakes a copy thread waiting for a buffer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _zip_time(us: int) -> tuple[int, int, int, int, int, int]:
    t = datetime.fromtimestamp(max(us, 315_532_800_000_000) / 1e6, UTC)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


def _members(
    looked: Sequence[CameraLookup], volumes: Volumes
) -> tuple[dict[str, list[_SegmentMember]], list[dict[str, object]]]:
    """Per camera the segment files to include; every gap in the window with its reason.
    PackageNotReady for a segment still being written."""
    members: dict[str, list[_SegmentMember]] = {}
    gaps: list[dict[str, object]] = []
    for cam in looked:
        cov = cam.coverage
        still = [s for s in cov.segments if s.state == "open"]
        if still:
            raise PackageNotReady(
                f"camera {cam.camera!r}: segment {still[0].id} in the window is still being "
                "written; the package can be built once it is sealed"
            )
        out = members.setdefault(cam.camera, [])
        for seg in cov.segments:
            if seg.state not in HASHED_STATES:
                continue  # missing, damaged, deleted: its time is a gap with that reason
            if seg.leaf_index is None or seg.sha256 is None:
                raise PackageNotReady(f"segment {seg.id} is sealed but not yet in the log")
            if seg.volume not in volumes:
                gaps.append(
                    {
                        "camera": cam.camera,
                        "start_us": max(seg.start_us, cov.window_start_us),
                        "end_us": min(seg.end_us, cov.window_end_us),
                        "reason": f"segment on volume {seg.volume!r}, not configured here",
                    }
                )
                continue
            source = segment_file_path(volumes.root(seg.volume), seg.path, seg.id)
            out.append(_SegmentMember(seg, source, f"{SEGMENTS_DIR}{cam.camera}/{source.name}"))
        gaps += [
            {"camera": cam.camera, "start_us": g.start_us, "end_us": g.end_us, "reason": g.reason}
            for g in cov.gaps
        ]
    return members, gaps


def _plan_clips(
    camera: str, members: Sequence[_SegmentMember], start_us: int, end_us: int
) -> tuple[list[_ClipMember], list[dict[str, object]]]:
    """One clip per unbroken stretch (playable_runs: one run, consecutive sequence
    numbers), trimmed to the window at keyframes; a stretch whose segments cannot be
    stitched (codec parameters change) is planned segment by segment. Runs in a thread."""
    by_id = {m.seg.id: m for m in members}
    clips: list[_ClipMember] = []
    unclipped: list[dict[str, object]] = []
    for group in playable_runs([m.seg for m in members]):
        parts = [by_id[s.id] for s in group]
        pending = [parts]
        while pending:
            part = pending.pop(0)
            first = part[0].seg.start_us
            sources = [ClipSource(m.source, m.seg.start_us - first, m.seg.bytes) for m in part]
            try:
                plan = plan_clip(sources, max(0, start_us - first), end_us - first)
            except SegmentFileError:
                raise
            except ClipError as exc:
                if len(part) > 1:
                    pending[:0] = [[m] for m in part]
                    continue
                unclipped.append({"segment": part[0].name, "reason": str(exc)})
                continue
            clip_start = first + plan.start_offset_us
            clips.append(
                _ClipMember(
                    camera,
                    f"{CLIPS_DIR}{camera}/{clip_start:016d}.mp4",
                    plan,
                    clip_start,
                    tuple(m.name for m in part),
                )
            )
    return clips, unclipped


def _stream(
    zf: zipfile.ZipFile,
    sink: _Sink,
    name: str,
    created: tuple[int, ...],
    fill: Callable[[bytearray], int],
    tick: Callable[[int], None],
    first: Callable[[bytearray, int], None] | None = None,
) -> tuple[str, int]:
    """Write one stored member whose bytes fill() reads into a chunk buffer, until it
    reads none; the member's SHA-256 and size. first sees the first chunk."""
    info = zipfile.ZipInfo(name, date_time=created)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_STORED
    digest, size = hashlib.sha256(), 0
    with zf.open(info, "w", force_zip64=True) as dst:
        while True:
            buf = sink.buffer()
            try:
                n = fill(buf)
                if n == 0:
                    break
                if size == 0 and first is not None:
                    first(buf, n)
                chunk = memoryview(buf)[:n]
                digest.update(chunk)
                dst.write(chunk)  # zipfile: CRC-32 here, then the sink queues it
            finally:
                sink.give_back(buf)
            size += n
            tick(n)
    return digest.hexdigest(), size


def _copy_segment(
    zf: zipfile.ZipFile,
    sink: _Sink,
    m: _SegmentMember,
    created: tuple[int, ...],
    tick: Callable[[int], None],
) -> tuple[str, int, bool]:
    """Stream one segment file into the zip; its SHA-256, size and whether it stores
    G.711 audio (a ulaw/alaw sample entry in its init segment)."""
    g711 = False

    def sniff(buf: bytearray, n: int) -> None:
        nonlocal g711
        moof = buf.find(b"moof", 0, n)
        head = n if moof < 0 else moof
        g711 = any(buf.find(entry, 0, head) >= 0 for entry in G711_ENTRIES)

    # Checked as serving checks (a regular file of the indexed size), then hashed as copied.
    src, _size, _paths = open_source(ClipSource(m.source, 0, m.seg.bytes))
    with src:
        os.posix_fadvise(src.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest, size = _stream(zf, sink, m.name, created, src.readinto, tick, sniff)
    return digest, size, g711


def _copy_clip(
    zf: zipfile.ZipFile,
    sink: _Sink,
    clip: _ClipMember,
    created: tuple[int, ...],
    tick: Callable[[int], None],
) -> None:
    pos = 0

    def fill(buf: bytearray) -> int:
        nonlocal pos
        n = clip.plan.readinto(pos, buf)
        pos += n
        return n

    clip.sha256, _size = _stream(zf, sink, clip.name, created, fill, tick)


def _write_segments(
    zf: zipfile.ZipFile,
    sink: _Sink,
    members: Sequence[_SegmentMember],
    created: tuple[int, ...],
    tick: Callable[[int], None],
) -> _Written:
    out = _Written()
    for m in members:
        try:
            digest, size, g711 = _copy_segment(zf, sink, m, created, tick)
        except SegmentFileError as exc:
            out.bad.append((m.seg, exc.gone, exc.actual_bytes, f"{exc.problem} when packaged"))
            continue
        out.g711 = out.g711 or g711
        if digest != m.seg.sha256 or size != m.seg.bytes:
            out.bad.append((m.seg, False, size, "sha256 differs from the index when packaged"))
    return out


def _write_clips(
    zf: zipfile.ZipFile,
    sink: _Sink,
    clips: Sequence[_ClipMember],
    created: tuple[int, ...],
    tick: Callable[[int], None],
) -> None:
    for clip in clips:
        _copy_clip(zf, sink, clip, created, tick)


def _plan_all(
    cameras: Sequence[CameraRef],
    members_by_cam: Mapping[str, Sequence[_SegmentMember]],
    start_us: int,
    end_us: int,
) -> tuple[list[_ClipMember], list[dict[str, object]]]:
    """Every camera's clips and unclipped segments (in a thread, beside the copy)."""
    clips: list[_ClipMember] = []
    unclipped: list[dict[str, object]] = []
    for cam in cameras:
        cam_clips, cam_unclipped = _plan_clips(
            cam.name, members_by_cam.get(cam.name, []), start_us, end_us
        )
        clips += cam_clips
        unclipped += cam_unclipped
    return clips, unclipped


def _add_bytes(zf: zipfile.ZipFile, name: str, data: bytes, created: tuple[int, ...]) -> None:
    info = zipfile.ZipInfo(name, date_time=created)  # type: ignore[arg-type]
    info.compress_type = (
        zipfile.ZIP_DEFLATED if name.endswith((".txt", ".py")) else zipfile.ZIP_STORED
    )
    zf.writestr(info, data)


def manifest_bytes(manifest: Mapping[str, object]) -> bytes:
    """The canonical bytes of the manifest: UTF-8, sorted keys, two-space indent."""
    return (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def _file_entry(name: str, data: bytes) -> dict[str, object]:
    return {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


async def build_package(
    db: Database,
    volumes: Volumes,
    checkpointer: Checkpointer,
    signer: Signer,
    spec: PackageSpec,
    out_path: Path,
    *,
    stamp: Stamp | None = None,
    progress: Callable[[float], None] | None = None,
    software: str = surveil.__version__,
) -> PackageResult:
    """Write the package of spec to out_path (atomically); PackageNotReady to retry later."""
    if spec.kind != "copy":
        raise ValueError(f"only copy requests are packaged, not {spec.kind!r}")
    looked = await lookup_window(db, list(spec.cameras), spec.start_us, spec.end_us)
    members_by_cam, gaps = _members(looked, volumes)
    audit_ids = [c.audit_id for c in spec.custody if c.audit_id is not None]
    async with db.read() as s:
        audits = await audit_by_ids(s, audit_ids)
    # After every leaf to include exists: a checkpoint whose size covers them all.
    checkpoint = await checkpointer.issue(force=True)
    if checkpoint is None:
        raise PackageNotReady("the log has no checkpoint yet")
    members = [m for cam in spec.cameras for m in members_by_cam.get(cam.name, [])]
    wanted = [m.seg.leaf_index for m in members] + [a.leaf_index for a in audits.values()]
    if any(i is not None and i >= checkpoint.size for i in wanted):
        raise PackageNotReady("the checkpoint does not cover every leaf yet")

    # The clips are planned on a thread of their own while the segments are copied, and
    # the proofs are read meanwhile.
    planning = _in_thread(_plan_all, spec.cameras, members_by_cam, spec.start_us, spec.end_us)
    now = SystemClock().now_us()
    created = _zip_time(now)
    segment_bytes = sum(m.seg.bytes for m in members)
    # Until the clips are planned, their size is taken to be the segments' (about what a
    # window of whole segments gives); progress never goes back.
    total = 2 * segment_bytes or 1
    loop = asyncio.get_running_loop()
    done = 0
    shown = 0.0

    def tick(n: int) -> None:
        nonlocal done, shown
        done += n
        shown = max(shown, min(1.0, done / total))
        if progress is not None:
            loop.call_soon_threadsafe(progress, shown)

    part = out_path.with_suffix(".part")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        raw = await asyncio.to_thread(open, part, "wb")
    except BaseException:
        planning.cancel()
        raise
    sink = _Sink(raw)
    zf = zipfile.ZipFile(sink, "w", allowZip64=True)  # writes nothing yet
    try:
        copying = _in_thread(_write_segments, zf, sink, members, created, tick)
        proofs = await _proofs(db, wanted, checkpoint.size)
        written = await copying
        unplannable: SegmentFileError | None = None
        try:
            clips, unclipped = await planning
        except SegmentFileError as exc:
            unplannable, clips, unclipped = exc, [], []
        if written.bad:
            for seg, gone, actual, why in written.bad:
                if gone:
                    await mark_segment_missing(db, seg, now)
                else:
                    await mark_segment_damaged(db, seg, actual, now, why)
            seg, _gone, _actual, why = written.bad[0]
            raise PackageNotReady(
                f"segment {seg.id} was found not as indexed ({why}); it is marked, and "
                "the package will be built again without it"
            )
        if unplannable is not None:
            await _mark_unplannable(db, members, unplannable)
            raise PackageNotReady(f"a segment file was found not as indexed: {unplannable}")
        total = segment_bytes + sum(c.plan.size for c in clips) or 1
        await asyncio.to_thread(_write_clips, zf, sink, clips, created, tick)
        verify_txt = export_texts.verify_text(
            g711=written.g711, key_line=signer.verifier().line(), timestamped=stamp is not None
        ).encode()
        verify_py = await asyncio.to_thread(_VERIFIER_SOURCE.read_bytes)
        manifest = _manifest(
            spec,
            members,
            clips,
            unclipped,
            gaps,
            checkpoint,
            proofs,
            audits,
            signer,
            software,
            now,
            [_file_entry(VERIFY_TXT, verify_txt), _file_entry(VERIFY_PY, verify_py)],
        )
        body = manifest_bytes(manifest)
        token = None if stamp is None else await stamp(body)

        def finish() -> str:
            _add_bytes(zf, VERIFY_TXT, verify_txt, created)
            _add_bytes(zf, VERIFY_PY, verify_py, created)
            _add_bytes(zf, MANIFEST, body, created)
            _add_bytes(zf, SIGNATURE, signer.sign(body), created)
            if token is not None:
                _add_bytes(zf, TIMESTAMP, token, created)
            zf.close()
            sha256 = sink.finish()
            os.fsync(raw.fileno())
            raw.close()
            os.replace(part, out_path)
            fd = os.open(out_path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return sha256

        sha256 = await asyncio.to_thread(finish)
    except BaseException:
        planning.cancel()
        await asyncio.to_thread(_discard, zf, sink)
        raw.close()
        part.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(1.0)
    logger.info(
        "request %d: package %s, %d segments, %d clips, %d gaps",
        spec.request_id,
        out_path.name,
        len(members),
        len(clips),
        len(gaps),
    )
    return PackageResult(out_path, sink.size, sha256, len(members), len(gaps), checkpoint.size)


def _discard(zf: zipfile.ZipFile, sink: _Sink) -> None:
    """End a failed build's zip: closed once here (its directory goes to the part file
    about to be removed), so that it does not try again when collected, then the writer
    stopped."""
    with contextlib.suppress(Exception):
        zf.close()
    sink.abort()


def _in_thread(fn: Callable[..., _T], *args: object) -> asyncio.Future[_T]:
    """fn(*args) started on a thread, to await later. If the build fails before awaiting
    it, its outcome is of no interest (and is not reported as never retrieved); a copy
    still running then ends at its next write (_Sink.abort)."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task


async def _proofs(
    db: Database, wanted: Sequence[int | None], size: int
) -> dict[int, tuple[bytes, list[bytes]]]:
    """Leaf index → its leaf input and inclusion proof for a tree of size, in one read
    transaction."""
    proofs: dict[int, tuple[bytes, list[bytes]]] = {}
    async with db.read() as s:
        for idx in wanted:
            if idx is not None and idx not in proofs:
                leaf = await merkle.leaf_at(s, idx)
                proofs[idx] = (leaf.leaf, await merkle.inclusion(s, idx, size))
    return proofs


async def _mark_unplannable(
    db: Database, members: Sequence[_SegmentMember], exc: SegmentFileError
) -> None:
    seg = next((m.seg for m in members if m.source == exc.path), None)
    if seg is None:
        return
    now = SystemClock().now_us()
    if exc.gone:
        await mark_segment_missing(db, seg, now)
    else:
        await mark_segment_damaged(db, seg, exc.actual_bytes, now, f"{exc.problem} when packaged")


def _manifest(
    spec: PackageSpec,
    members: Sequence[_SegmentMember],
    clips: Sequence[_ClipMember],
    unclipped: Sequence[dict[str, object]],
    gaps: Sequence[dict[str, object]],
    checkpoint: merkle.CheckpointRecord,
    proofs: Mapping[int, tuple[bytes, list[bytes]]],
    audits: Mapping[int, object],
    signer: Signer,
    software: str,
    now_us: int,
    files: list[dict[str, object]],
) -> dict[str, object]:
    def proven(idx: int | None) -> dict[str, object]:
        if idx is None or idx not in proofs:
            return {"leaf_index": None, "leaf": None, "inclusion_proof": None}
        leaf, path = proofs[idx]
        return {"leaf_index": idx, "leaf": _b64(leaf), "inclusion_proof": [_b64(h) for h in path]}

    custody = []
    for c in spec.custody:
        record = audits.get(c.audit_id) if c.audit_id is not None else None
        idx = getattr(record, "leaf_index", None)
        custody.append(
            {
                "step": c.step,
                "actor": c.actor,
                "role": c.role,
                "at_us": c.at_us,
                "decision": c.decision,
                "reason": c.reason,
                "audit_id": c.audit_id,
                **proven(idx),
            }
        )
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "package_id": str(uuid.uuid4()),
        "request_id": spec.request_id,
        "receipt_no": spec.receipt_no,
        "counter": spec.counter,
        "cameras": [{"id": c.id, "name": c.name} for c in spec.cameras],
        "window": {"start_us": spec.start_us, "end_us": spec.end_us},
        "gaps": list(gaps),
        "segments": [
            {
                "file": m.name,
                "camera": m.seg.camera,
                "segment_id": m.seg.id,
                "run": m.seg.run_id,
                "seq": m.seg.sequence,
                "sha256": m.seg.sha256,
                "bytes": m.seg.bytes,
                "start_us": m.seg.start_us,
                "end_us": m.seg.end_us,
                "state": m.seg.state,
                "video_codec": m.seg.video_codec,
                "audio_codec": m.seg.audio_codec,
                **proven(m.seg.leaf_index),
            }
            for m in members
        ],
        "clips": [
            {
                "file": c.name,
                "camera": c.camera,
                "sha256": c.sha256,
                "bytes": c.plan.size,
                "start_us": c.start_us,
                "end_us": c.start_us + c.plan.duration_us,
                "video_frames": c.plan.video_frames,
                "segments": list(c.segments),
            }
            for c in clips
        ],
        "unclipped": list(unclipped),
        "files": files,
        "checkpoint": checkpoint.note,
        "log_key": signer.verifier().line(),
        "custody": custody,
        "party": dict(spec.party),
        "purpose": spec.purpose,
        "legal_basis": spec.legal_basis,
        "kind": spec.kind,
        "software": f"surveil {software}",
        "created_us": now_us,
    }
