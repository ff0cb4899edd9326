"""Plan one MP4 stitched from consecutive segments of one run, without transcoding.

A clip is the init segment (ftyp+moov) of the first segment it uses, with an
``mehd`` box giving the clip's duration, then the selected moof+mdat
fragments. Each moof is rewritten: ``mfhd`` sequence numbers run 1..n and
every ``tfdt`` is shifted so decode times are continuous across segment
boundaries and the first fragment starts at 0. mdat bytes are never copied
into memory up front: the plan is a list of pieces (rewritten headers held in
memory, spans of segment files read on demand), so ``read()`` serves any
HTTP Range.

A segment still being written is planned from the durable prefix its index row
describes, never from bytes past it (a fragment may be half written there). Its
file is NAME.part until the seal renames it to NAME, which holds the same bytes
as that prefix; every read looks for NAME.part first and then NAME, so a read
across the rename is still byte-exact.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from segmenter.boxes import Box, FileLayout, Track, child, children, iter_boxes, read_box_header
from segmenter.errors import SegmenterError
from segmenter.paths import PART_SUFFIX
from segmenter.recovery import scan_open

US = 1_000_000
_U32 = 0xFFFFFFFF


class ClipError(SegmenterError):
    """The requested clip cannot be made from these segments."""


class SegmentFileError(ClipError):
    """A segment's file is not as its index row describes: gone, or not that file.

    gone: nothing is at its path (a dangling symlink included). Otherwise something is
    there but is not the segment as indexed (problem says what: another size, not a
    regular file, cannot be opened); actual_bytes is its size when it has one.
    """

    def __init__(
        self,
        index: int,
        path: Path,
        actual_bytes: int | None,
        message: str,
        *,
        problem: str,
        gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.index = index  # into the segments given to plan_clip
        self.path = path
        self.actual_bytes = actual_bytes
        self.gone = gone
        self.problem = problem


@dataclass(frozen=True)
class ClipSource:
    """One segment for plan_clip, as its index row describes it."""

    path: Path  # the sealed file's name; it also names the bytes in the ETag
    start_us: int  # relative to the first segment's start
    size: int | None = None  # bytes the row vouches for; None: the whole file as found
    # Still being written: the file is NAME.part (or NAME once sealed) and may be longer
    # than size; only its first size bytes are durable and indexed.
    growing: bool = False

    def candidates(self) -> tuple[Path, ...]:
        """Where the file may be, in the order to look."""
        if not self.growing:
            return (self.path,)
        # .part first: the seal renames it to NAME atomically, so looking in this order
        # never misses the file, and both hold the same bytes up to size.
        return (self.path.with_name(self.path.name + PART_SUFFIX), self.path)


@dataclass(frozen=True)
class _Span:
    """Bytes [offset, offset + length) of a segment file, read on demand."""

    name: Path  # the segment's sealed name (for the ETag)
    paths: tuple[Path, ...]  # where to look for the file, in order
    offset: int
    length: int


_Piece = bytes | _Span


@dataclass(frozen=True)
class _Fragment:
    segment: int  # index into the segments given
    offset: int  # of the moof in the file
    end: int  # end of the mdat
    start_us: int  # first video decode time, relative to the first segment's start
    end_us: int  # end of the last video sample, same origin
    sync: bool  # first video sample is a sync sample
    video_samples: int
    video_tfdt: int  # the video track's original baseMediaDecodeTime
    has_video: bool  # False: an audio-only fragment; the times above mean nothing


@dataclass(frozen=True)
class _Segment:
    path: Path  # sealed name
    paths: tuple[Path, ...]  # where to read it from, in order
    start_us: int
    init_end: int
    tracks: dict[int, Track]


def _read_at(paths: tuple[Path, ...], offset: int, length: int) -> bytes:
    """length bytes at offset of the first of paths that exists; ClipError if short or gone."""
    with _Reader() as reader:
        return reader.read(paths, offset, length)


class _Reader:
    """Reads spans of segment files, keeping the last file open for the next span of it.

    A clip's pieces come many to a segment in a row (one moof and one mdat per fragment),
    so this opens each file once per run of its spans instead of once per span. The file
    is the first of its paths that exists when the run starts; a file open across the
    seal's rename still reads the same bytes (see the module docstring)."""

    def __init__(self) -> None:
        self._paths: tuple[Path, ...] | None = None
        self._path = Path()
        self._file: BufferedReader | None = None

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._paths = self._file = None

    def _open(self, paths: tuple[Path, ...]) -> BufferedReader:
        if self._file is not None and self._paths == paths:
            return self._file
        self.close()
        for path in paths:
            try:
                self._file, _ = _open_regular(path)
            except FileNotFoundError:
                continue
            self._paths, self._path = paths, path
            return self._file
        raise ClipError(f"{paths[-1]} is gone since the clip was planned")

    def read(self, paths: tuple[Path, ...], offset: int, length: int) -> bytes:
        """length bytes at offset; ClipError if the file is shorter or gone."""
        f = self._open(paths)
        f.seek(offset)
        data = f.read(length)
        if len(data) != length:
            raise ClipError(f"{self._path} is shorter than when the clip was planned")
        return data

    def readinto(self, paths: tuple[Path, ...], offset: int, out: memoryview) -> None:
        """Fill out with the bytes at offset, without an intermediate copy."""
        f = self._open(paths)
        f.seek(offset)
        if f.readinto(out) != len(out):
            raise ClipError(f"{self._path} is shorter than when the clip was planned")


class _NotRegularFile(OSError):
    """A directory, FIFO, socket or device where a segment file should be."""


def _open_regular(path: Path) -> tuple[BufferedReader, int]:
    """path opened for reading, and its size, if it is a regular file.

    Opened non-blocking so that a FIFO put in a file's place fails the check instead of
    waiting for a writer forever; raises _NotRegularFile for anything not regular.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def open_source(src: ClipSource, index: int = 0) -> tuple[BufferedReader, int, tuple[Path, ...]]:
    """src's file, open; the bytes its row vouches for; where it was found (see candidates).

    Raises SegmentFileError (index is for the caller's list) when the file is gone, is
    not a regular file, cannot be opened, or is not the size the row says (sealed:
    exactly; growing: at least). The caller closes the file.
    """
    candidates = src.candidates()
    name = src.path.name
    for i, path in enumerate(candidates):
        try:
            f, actual = _open_regular(path)
        except (FileNotFoundError, NotADirectoryError):
            continue  # nothing there: look at the next candidate
        except _NotRegularFile:
            raise SegmentFileError(
                index, src.path, None, f"{name} is not a regular file", problem="not a regular file"
            ) from None
        except OSError as e:  # EACCES, ELOOP, EIO: something is there, but not readable
            problem = f"cannot be opened ({e.strerror})"
            raise SegmentFileError(
                index, src.path, None, f"{name} {problem}", problem=problem
            ) from None
        size = actual if src.size is None else src.size
        if size <= actual and (size == actual or src.growing):
            return f, size, candidates[i:]
        f.close()
        what = "fewer than the" if actual < size else "not the"
        raise SegmentFileError(
            index,
            src.path,
            actual,
            f"{name} has {actual} bytes, {what} {size} its index row records",
            problem="size differs from the index",
        )
    problem = "not on disk"
    raise SegmentFileError(index, src.path, None, f"{name} {problem}", problem=problem, gone=True)


def _scan_source(index: int, src: ClipSource) -> tuple[FileLayout, tuple[Path, ...]]:
    """The layout of the bytes the row vouches for, and where the file was found; raises
    SegmentFileError as open_source does."""
    f, size, paths = open_source(src, index)
    with f:
        return scan_open(f, size), paths


class ClipPlan:
    """The exact bytes of a clip, as pieces; see plan_clip()."""

    def __init__(
        self,
        pieces: list[_Piece],
        *,
        duration_us: int,
        start_offset_us: int,
        video_frames: int,
        fragments: int,
    ) -> None:
        self._pieces = pieces
        self._starts: list[int] = []
        pos = 0
        for piece in pieces:
            self._starts.append(pos)
            pos += len(piece) if isinstance(piece, bytes) else piece.length
        self.size = pos
        self.duration_us = duration_us
        self.start_offset_us = start_offset_us
        self.video_frames = video_frames
        self.fragments = fragments
        # The bytes of a segment file at an offset never change once written (files are
        # append-only and sizes are checked against the index when planning), so a span
        # is named by file and place; the sealed name, so that the rename at the seal
        # does not change the tag. The clip growing changes mehd and adds spans.
        digest = hashlib.sha256(b"surveil-clip-v2\0")
        for piece in pieces:
            if isinstance(piece, bytes):
                digest.update(b"H%d:" % len(piece))
                digest.update(piece)
            else:
                name = os.fsencode(piece.name)
                digest.update(b"S%d:" % len(name))
                digest.update(name)
                digest.update(b"%d:%d;" % (piece.offset, piece.length))
        self.etag = digest.hexdigest()[:32]

    def read(self, offset: int, length: int) -> bytes:
        """length bytes from offset (fewer at the end of the clip)."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        out = bytearray(max(0, min(self.size, offset + length) - offset))
        self.readinto(offset, out)
        return bytes(out)

    def readinto(self, offset: int, buffer: bytearray | memoryview) -> int:
        """Fill buffer with the clip's bytes from offset; how many (fewer at the end of
        the clip). For a caller streaming the whole clip (the export package) through one
        reused buffer: no copy but the file read's, one open per run of a file's spans."""
        if offset < 0:
            raise ValueError("offset must not be negative")
        out = memoryview(buffer)
        end = min(self.size, offset + len(out))
        i = max(0, bisect.bisect_right(self._starts, offset) - 1)
        pos = offset
        with _Reader() as reader:
            while pos < end and i < len(self._pieces):
                piece = self._pieces[i]
                base = self._starts[i]
                plen = len(piece) if isinstance(piece, bytes) else piece.length
                lo = pos - base
                hi = min(plen, end - base)
                if lo < hi:
                    dst = out[pos - offset : base + hi - offset]
                    if isinstance(piece, bytes):
                        dst[:] = piece[lo:hi]
                    else:
                        reader.readinto(piece.paths, piece.offset + lo, dst)
                    pos = base + hi
                i += 1
        return max(0, pos - offset)


def _to_ts(us: int, timescale: int) -> int:
    """µs → ticks of timescale, rounded to nearest (exact for negatives too)."""
    return (us * timescale + US // 2) // US


def _set_size(buf: bytearray, box: Box, size: int) -> None:
    if box.header == 16:
        struct.pack_into(">Q", buf, box.offset + 8, size)
    else:
        if size > _U32:
            raise ClipError("box too large for a 32-bit size")
        struct.pack_into(">I", buf, box.offset, size)


def _stsd_bytes(init: bytes, moov: Box) -> dict[int, bytes]:
    """Track id → its stsd box bytes (the codec parameters)."""
    out: dict[int, bytes] = {}
    for trak in children(init, moov, b"trak"):
        tkhd = child(init, trak, b"tkhd")
        mdia = child(init, trak, b"mdia")
        minf = child(init, mdia, b"minf") if mdia else None
        stbl = child(init, minf, b"stbl") if minf else None
        stsd = child(init, stbl, b"stsd") if stbl else None
        if tkhd is None or stsd is None:
            raise ClipError("init segment has a trak without tkhd or stsd")
        (track_id,) = struct.unpack_from(">I", init, tkhd.body + (20 if init[tkhd.body] else 12))
        out[track_id] = init[stsd.offset : stsd.end]
    return out


def _top_box(init: bytes, typ: bytes) -> Box:
    for box in iter_boxes(init):
        if box.type == typ:
            return box
    raise ClipError(f"init segment has no {typ.decode()} box")


def _init_with_mehd(init: bytes, duration_us: int) -> bytes:
    """The init segment with mvex/mehd saying the clip's duration."""
    moov = _top_box(init, b"moov")
    mvhd = child(init, moov, b"mvhd")
    mvex = child(init, moov, b"mvex")
    if mvhd is None or mvex is None:
        raise ClipError("init segment has no mvhd or mvex")
    (timescale,) = struct.unpack_from(">I", init, mvhd.body + (20 if init[mvhd.body] else 12))
    duration = (duration_us * timescale + US // 2) // US
    if duration > _U32:
        mehd = struct.pack(">I4sIQ", 20, b"mehd", 1 << 24, duration)
    else:
        mehd = struct.pack(">I4sII", 16, b"mehd", 0, duration)
    buf = bytearray(init)
    old = child(init, mvex, b"mehd")
    if old is not None:
        buf[old.offset : old.end] = mehd
        grow = len(mehd) - old.size
    else:
        buf[mvex.body : mvex.body] = mehd
        grow = len(mehd)
    _set_size(buf, mvex, mvex.size + grow)
    _set_size(buf, moov, moov.size + grow)
    return bytes(buf)


def _rewrite_moof(moof_bytes: bytes, sequence: int, shifts: dict[int, int]) -> bytes:
    """The moof renumbered, each tfdt moved by its track's shift (track timescale)."""
    moof = read_box_header(moof_bytes, 0)
    if moof is None or moof.type != b"moof" or moof.size != len(moof_bytes):
        raise ClipError("not a moof box")
    buf = bytearray(moof_bytes)
    mfhd = child(moof_bytes, moof, b"mfhd")
    if mfhd is None:
        raise ClipError("moof without mfhd")
    struct.pack_into(">I", buf, mfhd.body + 4, sequence)
    # Walk trafs from the last so earlier offsets stay valid while inserting bytes.
    trafs = children(moof_bytes, moof, b"traf")
    grown = 0
    for traf in reversed(trafs):
        # One pass over all of the traf's boxes for its first tfhd and tfdt.
        tfhd = tfdt = None
        for box in iter_boxes(moof_bytes, traf.body, traf.end):
            if box.type == b"tfhd" and tfhd is None:
                tfhd = box
            elif box.type == b"tfdt" and tfdt is None:
                tfdt = box
        if tfhd is None or tfdt is None:
            raise ClipError("traf without tfhd or tfdt")
        (flags_word, track_id) = struct.unpack_from(">II", moof_bytes, tfhd.body)
        if flags_word & 0x1:
            raise ClipError("tfhd with an explicit base_data_offset is not supported")
        if track_id not in shifts:
            raise ClipError(f"fragment has track {track_id} that the init segment lacks")
        version = moof_bytes[tfdt.body]
        if version == 1:
            (base,) = struct.unpack_from(">Q", moof_bytes, tfdt.body + 4)
        else:
            (base,) = struct.unpack_from(">I", moof_bytes, tfdt.body + 4)
        new = base + shifts[track_id]
        if new < 0:
            new = 0  # a track starting a hair before the video keyframe
        if version == 1:
            struct.pack_into(">Q", buf, tfdt.body + 4, new)
        elif new <= _U32:
            struct.pack_into(">I", buf, tfdt.body + 4, new)
        else:
            flags = struct.unpack_from(">I", moof_bytes, tfdt.body)[0] & 0xFFFFFF
            body = struct.pack(">IQ", (1 << 24) | flags, new)
            header = bytes(buf[tfdt.offset : tfdt.body])
            new_box = bytearray(header + body)
            _set_size(new_box, Box(b"tfdt", 0, tfdt.size, tfdt.header), tfdt.size + 4)
            buf[tfdt.offset : tfdt.end] = new_box
            _set_size(buf, traf, traf.size + 4)
            grown += 4
    if grown:
        _set_size(buf, moof, moof.size + grown)
        # data_offset is relative to the moof start (default-base-is-moof):
        # the mdat moved by as much as the moof grew. Find the truns anew.
        new_moof = read_box_header(buf, 0)
        assert new_moof is not None
        for traf in children(bytes(buf), new_moof, b"traf"):
            for trun in children(bytes(buf), traf, b"trun"):
                (vflags,) = struct.unpack_from(">I", buf, trun.body)
                if vflags & 0x1:
                    (off,) = struct.unpack_from(">i", buf, trun.body + 8)
                    struct.pack_into(">i", buf, trun.body + 8, off + grown)
    return bytes(buf)


def plan_clip(
    segments: Sequence[ClipSource | tuple[Path, int]], start_offset_us: int, end_offset_us: int
) -> ClipPlan:
    """Plan the clip of [start_offset_us, end_offset_us) from segments of one run.

    segments: ClipSources, or (file, segment start) for whole files, in order; starts
    in µs relative to the first segment's start, like the offsets. The clip starts at
    the last fragment at or before start_offset_us whose first video sample is a sync
    sample (or the first such fragment if none is that early) and ends with the last
    fragment that starts before end_offset_us. Raises SegmentFileError for a file that
    is gone or not its indexed size, ClipError when no clip can be made.
    """
    if end_offset_us <= start_offset_us:
        raise ClipError("empty selection: end is not after start")
    sources = [s if isinstance(s, ClipSource) else ClipSource(Path(s[0]), s[1]) for s in segments]
    segs: list[_Segment] = []
    frags: list[_Fragment] = []
    for index, src in enumerate(sources):
        layout, paths = _scan_source(index, src)
        path, seg_start = src.path, src.start_us
        if not layout.init_end:
            raise ClipError(f"{path} has no init segment")
        video = next((t for t in layout.tracks.values() if t.handler == "vide"), None)
        if video is None:
            raise ClipError(f"{path} has no video track")
        segs.append(_Segment(path, paths, seg_start, layout.init_end, layout.tracks))
        pending: list[_Fragment] = []  # fragments without video, kept if video follows
        for info in layout.fragments:
            run = next((r for r in info.runs if r.track_id == video.track_id), None)
            if run is None or run.samples == 0:
                # Audio alone: kept between video fragments, but not at the end
                # of a segment, where it would overlap the next segment's audio.
                pending.append(_Fragment(index, info.offset, info.end, 0, 0, False, 0, 0, False))
                continue
            frags += pending
            pending = []
            start = seg_start + run.base_decode_time * US // video.timescale
            end = seg_start + (run.base_decode_time + run.duration) * US // video.timescale
            frags.append(
                _Fragment(
                    index,
                    info.offset,
                    info.end,
                    start,
                    end,
                    run.first_is_sync,
                    run.samples,
                    run.base_decode_time,
                    True,
                )
            )
    syncs = [i for i, f in enumerate(frags) if f.has_video and f.sync]
    if not syncs:
        raise ClipError("empty selection: no keyframe fragment in these segments")
    at_or_before = [i for i in syncs if frags[i].start_us <= start_offset_us]
    first = at_or_before[-1] if at_or_before else syncs[0]
    before_end = [i for i, f in enumerate(frags) if f.has_video and f.start_us < end_offset_us]
    last = before_end[-1] if before_end else -1
    if last < first:
        raise ClipError("empty selection: no fragment in the window")
    chosen = frags[first : last + 1]

    head = segs[chosen[0].segment]
    init = _read_at(head.paths, 0, head.init_end)
    moov = _top_box(init, b"moov")
    stsd = _stsd_bytes(init, moov)
    timescales = {t.track_id: t.timescale for t in head.tracks.values()}
    checked: dict[int, bytes] = {chosen[0].segment: init}
    for frag in chosen:
        if frag.segment in checked:
            continue
        seg = segs[frag.segment]
        other = _read_at(seg.paths, 0, seg.init_end)
        checked[frag.segment] = other
        same_tracks = {t.track_id: t.timescale for t in seg.tracks.values()} == timescales
        if not same_tracks or _stsd_bytes(other, _top_box(other, b"moov")) != stsd:
            raise ClipError(
                "segments differ in codec parameters; split the clip at "
                f"{seg.start_us} µs ({seg.path.name})"
            )

    clip_start = chosen[0].start_us
    video_id = next(t.track_id for t in head.tracks.values() if t.handler == "vide")
    # Each track's clip origin in its own timescale. Video's is exact (the
    # first fragment's tfdt), so the first video sample decodes at 0.
    origin = {tid: _to_ts(clip_start, ts) for tid, ts in timescales.items()}
    origin[video_id] = _to_ts(head.start_us, timescales[video_id]) + chosen[0].video_tfdt
    duration_us = chosen[-1].end_us - clip_start
    pieces: list[_Piece] = [_init_with_mehd(init, duration_us)]
    with _Reader() as reader:
        for n, frag in enumerate(chosen, start=1):
            seg = segs[frag.segment]
            # The scan found the whole fragment inside the durable bytes, so its header is
            # there.
            header = reader.read(seg.paths, frag.offset, min(16, frag.end - frag.offset))
            box = read_box_header(header, 0)
            if box is None or box.type != b"moof":
                raise ClipError(f"{seg.path}: no moof at {frag.offset}")
            moof_bytes = reader.read(seg.paths, frag.offset, box.size)
            shifts = {tid: _to_ts(seg.start_us, ts) - origin[tid] for tid, ts in timescales.items()}
            pieces.append(_rewrite_moof(moof_bytes, n, shifts))
            span = frag.end - frag.offset - box.size
            pieces.append(_Span(seg.path, seg.paths, frag.offset + box.size, span))
    return ClipPlan(
        pieces,
        duration_us=duration_us,
        start_offset_us=clip_start,
        video_frames=sum(f.video_samples for f in chosen),
        fragments=len(chosen),
    )
