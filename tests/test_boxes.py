"""ISO BMFF parsing of real segments: whole, torn at every interesting offset, streamed."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import pytest

from segmenter.boxes import BoxStream, iter_boxes, read_box_header, scan_file
from segmenter.errors import SegmentCorrupt
from tests.media import US, MediaLibrary, Recording, record


@dataclass(frozen=True)
class Segment:
    """One segment's bytes and where its parts lie, known from the writer's records alone."""

    data: bytes
    init_end: int
    ftyp_end: int
    fragment_ends: list[int]  # end of each moof+mdat
    moof_ends: list[int]  # end of each moof (start of its mdat)
    video_frames: list[int]
    audio_frames: list[int]


def _segment(rec: Recording, sequence: int) -> Segment:
    start = next(s for s in rec.started if s.sequence == sequence)
    frags = rec.fragments[sequence]
    pos = len(start.init)
    ends, moof_ends = [], []
    for f in frags:
        (moof_size,) = struct.unpack(">I", f.data[:4])
        assert f.data[4:8] == b"moof"
        moof_ends.append(pos + moof_size)
        pos += len(f.data)
        ends.append(pos)
    (ftyp_size,) = struct.unpack(">I", start.init[:4])
    return Segment(
        data=rec.file_bytes(sequence),
        init_end=len(start.init),
        ftyp_end=ftyp_size,
        fragment_ends=ends,
        moof_ends=moof_ends,
        video_frames=[f.video_frames for f in frags],
        audio_frames=[f.audio_frames for f in frags],
    )


@pytest.fixture(scope="module")
def recordings(media: MediaLibrary) -> dict[str, Recording]:
    return {
        "h264_aac": record(media.path("h264_aac.mkv"), segment_us=3 * US),
        "hevc_mulaw": record(media.path("hevc_mulaw.mkv"), segment_us=2 * US),
        "h264_noaudio": record(media.path("h264_noaudio.mkv"), segment_us=2 * US),
    }


@pytest.mark.parametrize("name", ["h264_aac", "hevc_mulaw", "h264_noaudio"])
def test_scan_complete_segments(recordings: dict[str, Recording], name: str) -> None:
    rec = recordings[name]
    for start in rec.started:
        seg = _segment(rec, start.sequence)
        layout = scan_file(seg.data)
        assert layout.init_end == seg.init_end
        assert layout.complete_end == len(seg.data) and layout.trailing == 0
        assert [f.end for f in layout.fragments] == seg.fragment_ends
        handlers = {t.track_id: t.handler for t in layout.tracks.values()}
        assert sorted(handlers.values()) == (
            ["vide"] if name == "h264_noaudio" else ["soun", "vide"]
        )
        entries = {t.handler: t.sample_entry for t in layout.tracks.values()}
        assert entries["vide"] == ("hvc1" if name == "hevc_mulaw" else "avc1")
        video_id = next(i for i, h in handlers.items() if h == "vide")
        # Sample counts per fragment agree with the writer's records; decode times are contiguous.
        base = 0
        for i, frag in enumerate(layout.fragments):
            runs = {r.track_id: r for r in frag.runs}
            video = runs.get(video_id)
            assert (video.samples if video else 0) == seg.video_frames[i]
            audio = sum(r.samples for r in frag.runs if handlers[r.track_id] == "soun")
            assert audio == seg.audio_frames[i]
            if video is not None:
                assert video.base_decode_time == base
                base += video.duration
        assert layout.fragments[0].runs[0].first_is_sync


def _expected_end(seg: Segment, cut: int) -> tuple[int, int]:
    """(complete_end, complete fragments) of the segment cut after `cut` bytes."""
    if cut < seg.init_end:
        return 0, 0
    done = [e for e in seg.fragment_ends if e <= cut]
    return (done[-1] if done else seg.init_end), len(done)


def _interesting_offsets(seg: Segment) -> set[int]:
    points = {0, 1, 4, 7, 8, 9, seg.ftyp_end, seg.init_end, seg.init_end // 2}
    starts = [seg.init_end, *seg.fragment_ends[:-1]]
    for start, moof_end, end in zip(starts, seg.moof_ends, seg.fragment_ends, strict=True):
        points |= {start, (start + moof_end) // 2, moof_end, (moof_end + end) // 2, end}
    # Each box header torn at each byte, and the last byte of each box.
    out: set[int] = set()
    for p in points:
        out |= {p + d for d in (-1, 0, 1, 3, 4, 7, 8, 15, 16)}
    return {p for p in out if 0 <= p <= len(seg.data)}


@pytest.mark.parametrize("name", ["h264_aac", "hevc_mulaw"])
def test_scan_torn_segments(recordings: dict[str, Recording], name: str) -> None:
    seg = _segment(recordings[name], 0)
    offsets = _interesting_offsets(seg)
    assert len(offsets) > 50
    for cut in sorted(offsets):
        layout = scan_file(seg.data[:cut])
        end, n = _expected_end(seg, cut)
        assert (layout.complete_end, len(layout.fragments)) == (end, n), f"cut at {cut}"
        assert layout.trailing == cut - end
        assert layout.init_end == (seg.init_end if cut >= seg.init_end else 0)


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00" * 4096,  # zero-filled blocks, as a crash can leave them
        bytes(random.Random(7).randrange(256) for _ in range(3000)),
        struct.pack(">I4s", 1 << 30, b"moof") + b"\x01" * 100,  # a box claiming too much
        struct.pack(">I4s", 4, b"mdat"),  # impossible size
        struct.pack(">I4sQ", 1, b"mdat", 3),  # impossible 64-bit size
        b"\x00\x00",  # not even a header
    ],
    ids=["zeros", "random", "huge", "tiny", "tiny64", "half-header"],
)
def test_scan_ignores_junk_after_the_last_fragment(
    recordings: dict[str, Recording], junk: bytes
) -> None:
    seg = _segment(recordings["h264_aac"], 1)
    layout = scan_file(seg.data + junk)
    assert layout.complete_end == len(seg.data)
    assert layout.trailing == len(junk)
    assert len(layout.fragments) == len(seg.fragment_ends)


def test_scan_moof_without_mdat_is_not_a_fragment(recordings: dict[str, Recording]) -> None:
    seg = _segment(recordings["h264_aac"], 0)
    last_start = seg.fragment_ends[-2]
    moof_only = seg.data[last_start : seg.moof_ends[-1]]
    layout = scan_file(seg.data[:last_start] + moof_only + moof_only)
    assert layout.complete_end == last_start
    assert len(layout.fragments) == len(seg.fragment_ends) - 1


def test_scan_needs_an_init_segment(recordings: dict[str, Recording]) -> None:
    seg = _segment(recordings["h264_aac"], 0)
    fragments_only = seg.data[seg.init_end :]
    layout = scan_file(fragments_only)
    assert layout.complete_end == 0 and not layout.fragments
    assert scan_file(b"").complete_end == 0
    # moov before ftyp is not something this writer makes
    moov = seg.data[seg.ftyp_end : seg.init_end]
    assert scan_file(moov + seg.data[: seg.ftyp_end]).complete_end == 0


def test_scan_accepts_a_memoryview(recordings: dict[str, Recording]) -> None:
    seg = _segment(recordings["h264_aac"], 0)
    assert scan_file(memoryview(seg.data)) == scan_file(seg.data)


def _stream(chunks: list[bytes]) -> tuple[BoxStream, list[tuple[bytes, list[object]]]]:
    bs = BoxStream()
    out: list[tuple[bytes, list[object]]] = []
    for c in chunks:
        out += bs.feed(c)  # type: ignore[arg-type]
    return bs, out


@pytest.mark.parametrize("name", ["h264_aac", "h264_noaudio"])
def test_boxstream_byte_by_byte_equals_all_at_once(
    recordings: dict[str, Recording], name: str
) -> None:
    rec = recordings[name]
    seq = min(rec.fragments, key=lambda s: sum(len(f.data) for f in rec.fragments[s]))
    seg = _segment(rec, seq)
    whole_bs, whole = _stream([seg.data])
    bytewise_bs, bytewise = _stream([seg.data[i : i + 1] for i in range(len(seg.data))])
    rng = random.Random(11)
    chunks, pos = [], 0
    while pos < len(seg.data):
        n = rng.choice([1, 3, 8, 9, 100, 4096, 70000])
        chunks.append(seg.data[pos : pos + n])
        pos += n
    _, random_chunks = _stream(chunks)
    assert bytewise == whole == random_chunks
    # First the init segment (no runs), then exactly the writer's fragments.
    assert whole[0] == (seg.data[: seg.init_end], [])
    assert [c for c, _ in whole[1:]] == [f.data for f in rec.fragments[seq]]
    assert all(runs for _, runs in whole[1:])
    assert whole_bs.pending == bytewise_bs.pending == 0
    assert whole_bs.tracks == bytewise_bs.tracks == scan_file(seg.data).tracks


def test_boxstream_keeps_partial_boxes_pending(recordings: dict[str, Recording]) -> None:
    seg = _segment(recordings["h264_aac"], 0)
    bs = BoxStream()
    cut = seg.moof_ends[0] + 10  # inside the first mdat
    out = bs.feed(seg.data[:cut])
    assert len(out) == 1 and out[0][1] == []  # only the init segment so far
    assert bs.pending == cut - seg.init_end
    out = bs.feed(seg.data[cut : seg.fragment_ends[0]])
    assert len(out) == 1 and out[0][0] == seg.data[seg.init_end : seg.fragment_ends[0]]
    assert bs.pending == 0


def test_boxstream_rejects_mdat_without_moof(recordings: dict[str, Recording]) -> None:
    seg = _segment(recordings["h264_aac"], 0)
    bs = BoxStream()
    bs.feed(seg.data[: seg.init_end])
    with pytest.raises(SegmentCorrupt, match="mdat"):
        bs.feed(seg.data[seg.moof_ends[0] : seg.fragment_ends[0]])


def test_box_headers() -> None:
    assert read_box_header(b"\x00\x00\x00", 0) is None
    box = read_box_header(struct.pack(">I4s", 16, b"free") + b"\x00" * 8, 0)
    assert box is not None and (box.type, box.size, box.header, box.end) == (b"free", 16, 8, 16)
    large = struct.pack(">I4sQ", 1, b"mdat", 24) + b"\x00" * 8
    box = read_box_header(large, 0)
    assert box is not None and (box.size, box.header, box.body) == (24, 16, 16)
    assert read_box_header(large[:12], 0) is None  # 64-bit size not all there
    with pytest.raises(SegmentCorrupt):
        read_box_header(struct.pack(">I4s", 0, b"mdat"), 0)  # to end of file
    with pytest.raises(SegmentCorrupt):
        read_box_header(struct.pack(">I4s", 7, b"mdat"), 0)
    two = struct.pack(">I4s", 8, b"free") + struct.pack(">I4s", 12, b"skip") + b"\x00" * 4
    assert [b.type for b in iter_boxes(two)] == [b"free", b"skip"]
    assert [b.type for b in iter_boxes(two, 0, 19)] == [b"free"]  # the second is cut off


class _CountingBytes(bytes):
    """bytes that count how many bytes their slices copied."""

    copied = 0

    def __getitem__(self, key: object) -> object:  # type: ignore[override]
        if isinstance(key, slice):
            self.copied += len(range(*key.indices(len(self))))
        return super().__getitem__(key)  # type: ignore[index]


def test_scan_does_not_copy_the_file_per_box(recordings: dict[str, Recording]) -> None:
    """Scanning must stay linear in file size (it once copied the prefix for every box)."""
    seg = _segment(recordings["h264_noaudio"], 0)
    frag = seg.data[seg.init_end : seg.fragment_ends[0]]
    # Many copies of one fragment behind 1 MB of padding: wrong decode times, right layout.
    padding = struct.pack(">I4s", 1 << 20, b"free") + b"\x00" * ((1 << 20) - 8)
    data = _CountingBytes(seg.data[: seg.init_end] + padding + frag * 200)
    layout = scan_file(data)
    assert len(layout.fragments) == 200 and layout.complete_end == len(data)
    assert data.copied <= len(data), f"copied {data.copied} bytes scanning {len(data)}"
