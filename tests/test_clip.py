"""Clips stitched from real segments: parse, count, duration, continuity, Range reads, ETag."""

from __future__ import annotations

import itertools
import json
import os
import random
import struct
import subprocess
from pathlib import Path

import av
import pytest

from segmenter.boxes import child, iter_boxes, scan_file
from segmenter.clip import ClipError, ClipPlan, ClipSource, SegmentFileError, plan_clip
from segmenter.paths import PART_SUFFIX
from tests.media import US, MediaLibrary, record

SEGMENT_US = 2 * US
FRAME_US = US // 25

Segments = list[tuple[Path, int]]


def _segments(media: MediaLibrary, name: str, directory: Path) -> Segments:
    rec = record(media.path(name), segment_us=SEGMENT_US)
    assert rec.error is None
    paths = rec.write(directory)
    first = rec.started[0].start_media_us
    return [(p, s.start_media_us - first) for p, s in zip(paths, rec.started, strict=True)]


@pytest.fixture(scope="module")
def h264(media: MediaLibrary, tmp_path_factory: pytest.TempPathFactory) -> Segments:
    return _segments(media, "h264_aac.mkv", tmp_path_factory.mktemp("clip_h264"))


@pytest.fixture(scope="module")
def bframes(media: MediaLibrary, tmp_path_factory: pytest.TempPathFactory) -> Segments:
    return _segments(media, "h264_bframes.mkv", tmp_path_factory.mktemp("clip_bframes"))


@pytest.fixture(scope="module")
def hevc(media: MediaLibrary, tmp_path_factory: pytest.TempPathFactory) -> Segments:
    return _segments(media, "hevc_mulaw.mkv", tmp_path_factory.mktemp("clip_hevc"))


def _write(plan: ClipPlan, path: Path) -> Path:
    path.write_bytes(plan.read(0, plan.size))
    return path


def _ffprobe(*args: str) -> dict[str, object]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def _fragment_starts(segments: Segments) -> list[tuple[int, bool, int]]:
    """(start µs, first video sample is sync, video samples) of every fragment, in order."""
    out = []
    for path, seg_start in segments:
        layout = scan_file(path.read_bytes())
        video = next(t for t in layout.tracks.values() if t.handler == "vide")
        for frag in layout.fragments:
            run = next((r for r in frag.runs if r.track_id == video.track_id), None)
            if run is None:
                continue  # trailing audio-only fragment: not part of a clip
            start = seg_start + run.base_decode_time * US // video.timescale
            out.append((start, run.first_is_sync, run.samples))
    return out


def _check_clip(segments: Segments, start_us: int, end_us: int, path: Path) -> ClipPlan:
    plan = plan_clip(segments, start_us, end_us)
    _write(plan, path)

    # The fragments the rule selects, worked out independently.
    frags = _fragment_starts(segments)
    first = max(i for i, (s, sync, _) in enumerate(frags) if sync and s <= start_us)
    last = max(i for i, (s, _, _) in enumerate(frags) if s < end_us)
    assert plan.start_offset_us == frags[first][0]
    assert plan.start_offset_us <= start_us
    expected_frames = sum(n for _, _, n in frags[first : last + 1])
    # It really crosses a segment boundary.
    assert any(frags[first][0] < seg <= frags[last][0] for _, seg in segments)

    info = _ffprobe(
        "-count_packets",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=nb_read_packets,start_time,duration:format=duration",
        str(path),
    )
    streams = info["streams"]
    assert isinstance(streams, list)
    assert int(streams[0]["nb_read_packets"]) == expected_frames
    fmt = info["format"]
    assert isinstance(fmt, dict)
    assert abs(float(streams[0]["duration"]) * US - plan.duration_us) <= FRAME_US
    # With B-frames the first frame is presented after the composition delay
    # the muxer stored (no edit list), which the format duration includes.
    delay_us = float(streams[0]["start_time"]) * US
    # The format's duration is the longest track's: audio may run up to one AAC
    # frame (1024 samples, 128 ms at 8 kHz) past the last video frame.
    audio_frame_us = 1024 * US / 8000
    tolerance = FRAME_US + delay_us + audio_frame_us
    assert abs(float(fmt["duration"]) * US - plan.duration_us) <= tolerance

    packets = _ffprobe(
        "-select_streams",
        "v:0",
        "-show_packets",
        "-show_entries",
        "packet=dts_time,flags",
        str(path),
    )["packets"]
    assert isinstance(packets, list)
    dts = [float(p["dts_time"]) for p in packets]
    assert all(a < b for a, b in itertools.pairwise(dts)), "dts not strictly increasing"
    assert "K" in packets[0]["flags"]
    # No hole and no overlap at the boundary: steps are one frame everywhere.
    steps = {round((b - a) * US) for a, b in itertools.pairwise(dts)}
    assert steps == {FRAME_US}

    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == expected_frames
    return plan


def test_clip_across_boundary(h264: Segments, tmp_path: Path) -> None:
    plan = _check_clip(h264, int(1.5 * US), int(4.5 * US), tmp_path / "clip.mp4")
    assert plan.start_offset_us == 1 * US  # keyframe each second, fragment per keyframe
    assert plan.duration_us == 4 * US  # fragments at 1, 2, 3, 4 s


def test_clip_with_bframes(bframes: Segments, tmp_path: Path) -> None:
    _check_clip(bframes, int(1.2 * US), int(3.3 * US), tmp_path / "clip.mp4")


def test_clip_hevc(hevc: Segments, tmp_path: Path) -> None:
    # From the very first segment: its G.711 → AAC esds carries the
    # AudioSpecificConfig like every later one, so the run stitches whole.
    # (The run's first frames carry provisional timestamps, nudged one tick
    # apart by the writer, so the strict frame-step check starts at segment 1.)
    s1, s2 = hevc[1][1], hevc[2][1]
    plan = plan_clip(hevc, US // 2, s1 + US // 2)
    path = tmp_path / "clip01.mp4"
    path.write_bytes(plan.read(0, plan.size))
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == plan.video_frames
    _check_clip(hevc, s1 + US // 2, s2 + US + US // 2, tmp_path / "clip12.mp4")


def test_init_has_mehd_and_fragments_renumbered(h264: Segments) -> None:
    plan = plan_clip(h264, int(1.5 * US), int(4.5 * US))
    data = plan.read(0, plan.size)
    boxes = list(iter_boxes(data))
    assert sum(b.size for b in boxes) == len(data) == plan.size
    moov = next(b for b in boxes if b.type == b"moov")
    mvex = child(data, moov, b"mvex")
    mvhd = child(data, moov, b"mvhd")
    assert mvex is not None and mvhd is not None
    mehd = child(data, mvex, b"mehd")
    assert mehd is not None
    (timescale,) = struct.unpack_from(">I", data, mvhd.body + 12)
    (duration,) = struct.unpack_from(">I", data, mehd.body + 4)
    assert duration == plan.duration_us * timescale // US
    seqs = []
    for moof in (b for b in boxes if b.type == b"moof"):
        mfhd = child(data, moof, b"mfhd")
        assert mfhd is not None
        seqs.append(struct.unpack_from(">I", data, mfhd.body + 4)[0])
    assert seqs == list(range(1, plan.fragments + 1))
    layout = scan_file(data)
    assert layout.trailing == 0 and len(layout.fragments) == plan.fragments
    video = next(t for t in layout.tracks.values() if t.handler == "vide")
    first = next(r for r in layout.fragments[0].runs if r.track_id == video.track_id)
    assert first.base_decode_time == 0 and first.first_is_sync


def test_range_reads_match_whole(h264: Segments) -> None:
    plan = plan_clip(h264, int(1.5 * US), int(6.5 * US))
    whole = plan.read(0, plan.size)
    assert len(whole) == plan.size
    rng = random.Random(7)
    for _ in range(300):
        offset = rng.randrange(plan.size)
        length = rng.choice([1, 7, 100, 4096, rng.randrange(plan.size)])
        assert plan.read(offset, length) == whole[offset : offset + length]
    assert plan.read(plan.size - 3, 100) == whole[-3:]
    assert plan.read(plan.size, 10) == b""


def test_etag_stable(h264: Segments) -> None:
    a = plan_clip(h264, int(1.5 * US), int(4.5 * US))
    b = plan_clip(h264, int(1.5 * US), int(4.5 * US))
    assert a.etag == b.etag and a.size == b.size
    # Same keyframe and last fragment: the same bytes, so the same tag.
    assert plan_clip(h264, int(1.9 * US), int(4.2 * US)).etag == a.etag
    assert plan_clip(h264, int(2.5 * US), int(4.5 * US)).etag != a.etag
    assert plan_clip(h264, int(1.5 * US), int(6.5 * US)).etag != a.etag


def test_mismatched_codecs(h264: Segments, hevc: Segments) -> None:
    mixed = [h264[0], (hevc[1][0], h264[1][1])]
    with pytest.raises(ClipError, match="segments differ in codec parameters; split the clip at"):
        plan_clip(mixed, int(0.5 * US), int(3.5 * US))
    # A window inside one of them is fine.
    assert plan_clip(mixed, int(0.5 * US), int(1.5 * US)).fragments == 2


def test_empty_selection(h264: Segments) -> None:
    with pytest.raises(ClipError):
        plan_clip([], 0, US)
    with pytest.raises(ClipError):
        plan_clip(h264, 3 * US, 3 * US)
    with pytest.raises(ClipError):
        plan_clip(h264, -5 * US, -4 * US)  # ends before the first fragment


def test_tfdt_grows_to_64_bits(h264: Segments, tmp_path: Path) -> None:
    # The second segment placed so far after the first that its decode times
    # no longer fit 32 bits: its tfdt boxes become version 1 and the moofs grow.
    far = 400_000 * US
    segs = [h264[0], (h264[1][0], far)]
    plan = plan_clip(segs, 0, far + US // 2)
    path = _write(plan, tmp_path / "far.mp4")
    data = path.read_bytes()
    layout = scan_file(data)
    assert layout.trailing == 0 and len(layout.fragments) == plan.fragments == 3
    video = next(t for t in layout.tracks.values() if t.handler == "vide")
    last = next(r for r in layout.fragments[-1].runs if r.track_id == video.track_id)
    assert last.base_decode_time == far * video.timescale // US
    assert last.base_decode_time > 0xFFFFFFFF
    packets = _ffprobe("-select_streams", "v:0", "-show_packets", str(path))["packets"]
    assert isinstance(packets, list)
    assert len(packets) == 75
    dts = [float(p["dts_time"]) for p in packets]
    assert all(a < b for a, b in itertools.pairwise(dts))
    assert dts[-1] == pytest.approx(far / US + 0.96, abs=0.001)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 75


# --- footage still being written, and files that are not what the index says ------------


def _fragment_ends(path: Path) -> list[int]:
    return [f.end for f in scan_file(path.read_bytes()).fragments]


def _open_copy(src: Path, final: Path, durable: int, written: int) -> Path:
    """final's .part as a recorder leaves it: written bytes of src, durable of them indexed."""
    assert durable <= written
    part = final.with_name(final.name + PART_SUFFIX)
    part.write_bytes(src.read_bytes()[:written])
    return part


def test_growing_segment_uses_only_the_durable_prefix(h264: Segments, tmp_path: Path) -> None:
    (p0, s0), (p1, s1), (p2, s2) = h264[:3]
    ends = _fragment_ends(p2)
    durable = ends[0]
    # A whole further fragment is on disk but not yet in the index (not fsynced), and
    # half of another is being written: neither may be served.
    written = ends[1] + (ends[1] - ends[0]) // 2 if len(ends) > 1 else durable + 100
    final = tmp_path / "seg_2.mp4"
    _open_copy(p2, final, durable, written)
    sources = [
        ClipSource(p0, s0, p0.stat().st_size),
        ClipSource(p1, s1, p1.stat().st_size),
        ClipSource(final, s2, durable, growing=True),
    ]
    plan = plan_clip(sources, int(0.5 * US), 60 * US)

    reference = tmp_path / "ref" / "seg_2.mp4"
    reference.parent.mkdir()
    reference.write_bytes(p2.read_bytes()[:durable])
    ref = plan_clip([h264[0], h264[1], (reference, s2)], int(0.5 * US), 60 * US)
    assert plan.read(0, plan.size) == ref.read(0, ref.size)
    assert (plan.fragments, plan.duration_us) == (ref.fragments, ref.duration_us)
    assert plan.start_offset_us + plan.duration_us == s2 + US  # the first fragment of seg 2


def test_read_across_the_seal_rename_is_byte_exact(h264: Segments, tmp_path: Path) -> None:
    (p0, s0), (p1, s1) = h264[:2]
    ends = _fragment_ends(p1)
    final = tmp_path / "seg_1.mp4"
    part = _open_copy(p1, final, ends[0], ends[0])
    sources = [ClipSource(p0, s0, p0.stat().st_size), ClipSource(final, s1, ends[0], growing=True)]
    plan = plan_clip(sources, 0, 60 * US)
    whole = plan.read(0, plan.size)
    half = plan.size - (ends[0] // 3)
    first = plan.read(0, half)
    # The recorder writes the rest of the segment and seals it: fsync, rename to NAME.
    with open(part, "ab") as f:
        f.write(p1.read_bytes()[ends[0] :])
    part.rename(final)
    assert first + plan.read(half, plan.size) == whole

    # Planned again while the row still says 'open' (the seal is not yet indexed): the
    # sealed file is found, the same bytes are served under the same ETag.
    again = plan_clip(sources, 0, 60 * US)
    assert (again.etag, again.read(0, again.size)) == (plan.etag, whole)
    # Once the row is sealed, the clip grows, and so does its ETag.
    sealed = [sources[0], ClipSource(final, s1, final.stat().st_size)]
    grown = plan_clip(sealed, 0, 60 * US)
    assert grown.size > plan.size and grown.etag != plan.etag


def test_etag_changes_when_the_growing_clip_does(h264: Segments, tmp_path: Path) -> None:
    (p0, s0), (p1, s1) = h264[:2]
    ends = _fragment_ends(p1)
    final = tmp_path / "seg_1.mp4"
    _open_copy(p1, final, ends[-1], ends[-1])
    head = ClipSource(p0, s0, p0.stat().st_size)
    versions: dict[str, bytes] = {}
    for durable in ends:
        plan = plan_clip([head, ClipSource(final, s1, durable, growing=True)], 0, 60 * US)
        body = plan.read(0, plan.size)
        assert versions.setdefault(plan.etag, body) == body
    # Each durable fragment with video grows the clip (a trailing audio-only one does
    # not: it is never the end of a clip) and gives it a new tag.
    assert len(set(versions.values())) == len(versions) >= 2


def test_file_not_as_indexed_is_reported(h264: Segments, tmp_path: Path) -> None:
    (p0, s0), (p1, s1) = h264[:2]
    size = p1.stat().st_size
    short = tmp_path / "short.mp4"
    short.write_bytes(p1.read_bytes()[:-10])
    cases: list[tuple[ClipSource, int | None]] = [
        (ClipSource(short, s1, size), size - 10),  # cut short
        (ClipSource(p1, s1, size - 1), size),  # longer than sealed
        (ClipSource(tmp_path / "gone.mp4", s1, size), None),  # deleted
        # Still being written, but shorter than what the index says is durable.
        (ClipSource(short, s1, size, growing=True), size - 10),
        (ClipSource(tmp_path / "gone.mp4", s1, size, growing=True), None),
    ]
    for source, actual in cases:
        with pytest.raises(SegmentFileError) as err:
            plan_clip([ClipSource(p0, s0, p0.stat().st_size), source], 0, 60 * US)
        assert (err.value.index, err.value.actual_bytes) == (1, actual), source


def test_path_that_is_not_a_readable_file_is_reported(h264: Segments, tmp_path: Path) -> None:
    """A directory, a FIFO or an unopenable path where the file should be is not the
    segment as indexed (damaged, not gone); a dangling symlink is a file gone. A FIFO
    must not block the planner waiting for a writer."""
    (p0, s0), (p1, s1) = h264[:2]
    size = p1.stat().st_size
    directory = tmp_path / "dir.mp4"
    directory.mkdir()
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop.name)
    dangling = tmp_path / "dangling.mp4"
    dangling.symlink_to(tmp_path / "nowhere.mp4")
    cases = {
        directory: (False, "not a regular file"),
        fifo: (False, "not a regular file"),
        loop: (False, "cannot be opened (Too many levels of symbolic links)"),
        dangling: (True, "not on disk"),
    }
    head = ClipSource(p0, s0, p0.stat().st_size)
    for path, (gone, problem) in cases.items():
        for growing in (False, True):
            with pytest.raises(SegmentFileError) as err:
                plan_clip([head, ClipSource(path, s1, size, growing=growing)], 0, 60 * US)
            found = err.value
            assert (found.index, found.actual_bytes, found.gone) == (1, None, gone), path
            assert found.problem == problem, path
