"""Just enough ISO BMFF (MP4) parsing to find fragments and their media times.

Used by the writer to see which moof+mdat pairs the muxer has emitted, by
recovery to find the last complete fragment of a torn file, and by verify.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from segmenter.errors import SegmentCorrupt

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex", b"edts"}


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int  # of the box header in the buffer/file
    size: int  # whole box, header included
    header: int  # header length (8 or 16)

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def body(self) -> int:
        return self.offset + self.header


def read_box_header(buf: bytes | bytearray | memoryview, offset: int) -> Box | None:
    """The box starting at offset, or None if its header is not all there yet."""
    if len(buf) - offset < 8:
        return None
    size, typ = struct.unpack_from(">I4s", buf, offset)
    header = 8
    if size == 1:
        if len(buf) - offset < 16:
            return None
        (size,) = struct.unpack_from(">Q", buf, offset + 8)
        header = 16
    elif size == 0:
        raise SegmentCorrupt(f"box {typ!r} at {offset} extends to end of file; not produced here")
    if size < header:
        raise SegmentCorrupt(f"box {typ!r} at {offset} has impossible size {size}")
    return Box(bytes(typ), offset, size, header)


def iter_boxes(buf: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Complete boxes laid end to end in buf[start:end]; stops at a partial one."""
    end = len(buf) if end is None else end
    # A memoryview bounds reads at end without copying; slicing bytes here would
    # copy everything before end for every box (quadratic in the file size).
    bounded = memoryview(buf)[:end]
    pos = start
    while pos < end:
        box = read_box_header(bounded, pos)
        if box is None or box.end > end:
            return
        yield box
        pos = box.end


def child(buf: bytes | memoryview, parent: Box, typ: bytes) -> Box | None:
    for box in iter_boxes(buf, parent.body, parent.end):
        if box.type == typ:
            return box
    return None


def children(buf: bytes | memoryview, parent: Box, typ: bytes) -> list[Box]:
    return [b for b in iter_boxes(buf, parent.body, parent.end) if b.type == typ]


@dataclass(frozen=True)
class Track:
    track_id: int
    timescale: int
    handler: str  # 'vide' | 'soun' | ...
    sample_entry: str  # 'avc1' | 'hvc1' | 'hev1' | 'mp4a' | ...


def parse_moov(buf: bytes | memoryview, moov: Box) -> dict[int, Track]:
    """Track id → timescale and handler from a moov box."""
    tracks: dict[int, Track] = {}
    for trak in children(buf, moov, b"trak"):
        tkhd = child(buf, trak, b"tkhd")
        mdia = child(buf, trak, b"mdia")
        if tkhd is None or mdia is None:
            raise SegmentCorrupt("trak without tkhd or mdia")
        version = buf[tkhd.body]
        (track_id,) = struct.unpack_from(">I", buf, tkhd.body + (20 if version == 1 else 12))
        mdhd = child(buf, mdia, b"mdhd")
        hdlr = child(buf, mdia, b"hdlr")
        if mdhd is None or hdlr is None:
            raise SegmentCorrupt("mdia without mdhd or hdlr")
        version = buf[mdhd.body]
        (timescale,) = struct.unpack_from(">I", buf, mdhd.body + (20 if version == 1 else 12))
        handler = bytes(buf[hdlr.body + 8 : hdlr.body + 12]).decode("ascii", "replace")
        entry = ""
        minf = child(buf, mdia, b"minf")
        stbl = child(buf, minf, b"stbl") if minf else None
        stsd = child(buf, stbl, b"stsd") if stbl else None
        if stsd is not None and stsd.size >= 24:
            entry = bytes(buf[stsd.body + 12 : stsd.body + 16]).decode("ascii", "replace")
        tracks[track_id] = Track(track_id, timescale, handler, entry)
    return tracks


@dataclass(frozen=True)
class TrackRun:
    track_id: int
    base_decode_time: int  # in the track's timescale
    duration: int  # sum of sample durations, track timescale
    samples: int
    first_is_sync: bool


def parse_moof(buf: bytes | memoryview, moof: Box) -> list[TrackRun]:
    """Per track in a moof: decode time, total duration and sample count."""
    runs: list[TrackRun] = []
    for traf in children(buf, moof, b"traf"):
        tfhd = child(buf, traf, b"tfhd")
        if tfhd is None:
            raise SegmentCorrupt("traf without tfhd")
        (flags_word, track_id) = struct.unpack_from(">II", buf, tfhd.body)
        flags = flags_word & 0xFFFFFF
        pos = tfhd.body + 8
        if flags & 0x1:
            pos += 8  # base_data_offset
        if flags & 0x2:
            pos += 4  # sample_description_index
        default_duration = 0
        if flags & 0x8:
            (default_duration,) = struct.unpack_from(">I", buf, pos)
            pos += 4
        if flags & 0x10:
            pos += 4  # default_sample_size
        default_flags = 0
        if flags & 0x20:
            (default_flags,) = struct.unpack_from(">I", buf, pos)
        base = 0
        tfdt = child(buf, traf, b"tfdt")
        if tfdt is not None:
            version = buf[tfdt.body]
            if version == 1:
                (base,) = struct.unpack_from(">Q", buf, tfdt.body + 4)
            else:
                (base,) = struct.unpack_from(">I", buf, tfdt.body + 4)
        duration = 0
        samples = 0
        first_sync: bool | None = None
        for trun in children(buf, traf, b"trun"):
            (vflags, count) = struct.unpack_from(">II", buf, trun.body)
            tflags = vflags & 0xFFFFFF
            p = trun.body + 8
            if tflags & 0x1:
                p += 4  # data_offset
            first_flags: int | None = None
            if tflags & 0x4:
                (first_flags,) = struct.unpack_from(">I", buf, p)
                p += 4
            per = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if tflags & bit)
            for i in range(count):
                q = p + i * per
                if tflags & 0x100:
                    (d,) = struct.unpack_from(">I", buf, q)
                    q += 4
                else:
                    d = default_duration
                duration += d
                if i == 0 and first_sync is None:
                    sf = default_flags
                    if first_flags is not None:
                        sf = first_flags
                    elif tflags & 0x400:
                        q += 4 if tflags & 0x200 else 0
                        (sf,) = struct.unpack_from(">I", buf, q)
                    first_sync = not (sf >> 16) & 0x1  # sample_is_non_sync_sample
            samples += count
        runs.append(TrackRun(track_id, base, duration, samples, bool(first_sync)))
    return runs


@dataclass(frozen=True)
class FragmentInfo:
    offset: int  # of the moof
    end: int  # end of the mdat
    runs: tuple[TrackRun, ...]


@dataclass(frozen=True)
class FileLayout:
    init_end: int  # end of moov; 0 if ftyp/moov are not complete
    tracks: dict[int, Track]
    fragments: tuple[FragmentInfo, ...]  # complete moof+mdat pairs, in order
    complete_end: int  # end of the last complete fragment (or of moov)
    trailing: int  # bytes after complete_end that do not form a complete fragment


def scan_file(buf: bytes | memoryview) -> FileLayout:
    """Lay out a (possibly torn) fMP4 file: init segment, complete fragments, junk."""
    tracks: dict[int, Track] = {}
    init_end = 0
    fragments: list[FragmentInfo] = []
    pending_moof: Box | None = None
    complete_end = 0
    seen_ftyp = False
    try:
        for box in iter_boxes(buf):
            if box.type == b"ftyp":
                seen_ftyp = True
            elif box.type == b"moov":
                if not seen_ftyp:
                    break
                tracks = parse_moov(buf, box)
                init_end = complete_end = box.end
            elif box.type == b"moof" and init_end:
                pending_moof = box
            elif box.type == b"mdat" and pending_moof is not None:
                runs = parse_moof(buf, pending_moof)
                fragments.append(FragmentInfo(pending_moof.offset, box.end, tuple(runs)))
                complete_end = box.end
                pending_moof = None
            elif box.type in (b"mfra", b"free", b"skip") and init_end and pending_moof is None:
                complete_end = box.end
            else:
                break
    except (SegmentCorrupt, struct.error):
        pass
    return FileLayout(init_end, tracks, tuple(fragments), complete_end, len(buf) - complete_end)


class BoxStream:
    """Incremental top-level box splitter over bytes arriving in pieces.

    Yields complete (moof, mdat) fragment byte strings as they complete; the
    init segment (ftyp+moov) is reported once.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.init: bytes | None = None
        self.tracks: dict[int, Track] = {}
        self._moof: bytes | None = None

    def feed(self, data: bytes) -> list[tuple[bytes, list[TrackRun]]]:
        self._buf += data
        out: list[tuple[bytes, list[TrackRun]]] = []
        while True:
            box = read_box_header(self._buf, 0)
            if box is None or box.size > len(self._buf):
                return out
            raw = bytes(self._buf[: box.size])
            del self._buf[: box.size]
            if box.type == b"ftyp":
                self._ftyp = raw
            elif box.type == b"moov":
                self.tracks = parse_moov(raw, Box(b"moov", 0, box.size, box.header))
                self.init = self._ftyp + raw
                out.append((self.init, []))
            elif box.type == b"moof":
                self._moof = raw
            elif box.type == b"mdat":
                if self._moof is None:
                    raise SegmentCorrupt("mdat without a preceding moof")
                moof = self._moof
                runs = parse_moof(moof, Box(b"moof", 0, len(moof), 8))
                self._moof = None
                out.append((moof + raw, runs))
            # mfra and anything else after the last fragment is dropped: a
            # segment is ftyp, moov, then moof+mdat pairs and nothing else.

    @property
    def pending(self) -> int:
        return len(self._buf) + (len(self._moof) if self._moof else 0)
