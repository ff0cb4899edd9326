"""SegmentWriter on real media made by ffmpeg: cuts, fragments, tiling, nothing lost or repeated."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from segmenter.boxes import scan_file
from segmenter.errors import Discontinuity, UnsupportedStream
from segmenter.writer import SegmentWriter
from tests.media import US, MediaLibrary, Recording, SourcePacket, probe, record

AAC_FRAME = 1024  # samples per AAC frame


def _run_start(rec: Recording) -> int:
    """Index in rec.pushed of the first video keyframe (where the run starts)."""
    return next(i for i, p in enumerate(rec.pushed) if p.kind == "video" and p.keyframe)


def _origin_us(p: SourcePacket) -> int:
    t = p.dts_us if p.dts_us is not None else p.pts_us
    assert t is not None
    return t


def _is_late(p: SourcePacket, origin_us: int) -> bool:
    """An audio packet stamped before the run's first keyframe."""
    assert p.dts is not None
    return Fraction(p.dts) * p.time_base * US < origin_us


def _expected_cuts(rec: Recording, segment_us: int) -> list[int]:
    """Media times the segments should start at: 0, then the first keyframe ≥ segment_us later."""
    first = _run_start(rec)
    origin = _origin_us(rec.pushed[first])
    cuts = [0]
    for p in rec.pushed[first + 1 :]:
        if p.kind == "video" and p.keyframe:
            assert p.dts_us is not None
            t = p.dts_us - origin
            if t - cuts[-1] >= segment_us:
                cuts.append(t)
    return cuts


def _check_recording(rec: Recording, tmp_path: Path, segment_us: int, fragment_us: int) -> None:
    """Invariants every recording must satisfy, whatever the source."""
    assert rec.error is None, rec.error
    writer = rec.writer
    seqs = [s.sequence for s in rec.started]
    assert seqs == list(range(len(seqs))) and len(seqs) >= 2
    assert [f.sequence for f in rec.finished] == seqs

    # Records come in order: started, its fragments, finished; segments never overlap.
    open_seq: int | None = None
    for out in rec.outputs:
        kind = type(out).__name__
        if kind == "SegmentStarted":
            assert open_seq is None
            open_seq = out.sequence
        else:
            assert out.sequence == open_seq, f"{kind} for {out.sequence} while {open_seq} open"
            if kind == "SegmentFinished":
                open_seq = None
    assert open_seq is None

    # Cuts only at keyframes, the first at or after segment_us of media time.
    assert [s.start_media_us for s in rec.started] == _expected_cuts(rec, segment_us)

    # Segments tile the run's media time exactly; fragments tile their segment.
    for a, b in itertools.pairwise(rec.started):
        fin = rec.finished[a.sequence]
        assert fin.end_media_us == b.start_media_us
    for start, fin in zip(rec.started, rec.finished, strict=True):
        frags = rec.fragments[start.sequence]
        assert frags and fin.fragments == len(frags)
        assert fin.video_frames == sum(f.video_frames for f in frags)
        assert frags[0].start_media_us == start.start_media_us
        assert frags[0].video_frames > 0
        position = start.start_media_us
        for f in frags:
            assert f.start_media_us == position, "fragments must tile the segment"
            assert f.end_media_us >= f.start_media_us
            if f.video_frames == 0:
                assert f.audio_frames > 0 and f.end_media_us == f.start_media_us
            assert f.end_media_us - f.start_media_us <= fragment_us
            position = f.end_media_us
        assert position == fin.end_media_us, "the last fragment ends where the segment does"

    # Every file parses; every segment begins with a sync sample at decode time 0.
    paths = rec.write(tmp_path / "segments")
    probes = [probe(p) for p in paths]
    for path, pr, fin in zip(paths, probes, rec.finished, strict=True):
        layout = scan_file(path.read_bytes())
        assert layout.trailing == 0 and len(layout.fragments) == fin.fragments
        video_track = next(t for t in layout.tracks.values() if t.handler == "vide")
        first_run = next(r for r in layout.fragments[0].runs if r.track_id == video_track.track_id)
        assert first_run.first_is_sync and first_run.base_decode_time == 0
        video = pr.of("video")
        assert video[0].keyframe, f"{path.name} does not start with a keyframe"
        assert len(video) == fin.video_frames
        dts = [p.dts for p in video]
        assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(dts))
        assert all(p.pts is not None and p.dts is not None and p.pts >= p.dts for p in video)

    # Every video packet after the first keyframe is in exactly one file, in order.
    first = _run_start(rec)
    run = rec.pushed[first:]
    src_video = [p.size for p in run if p.kind == "video"]
    out_video = [p.size for pr in probes for p in pr.of("video")]
    assert writer.video_accepted == len(src_video)
    assert out_video == src_video
    dropped_before = first
    assert writer.dropped >= dropped_before


def _check_aac_copied(rec: Recording, tmp_path: Path) -> None:
    """AAC is stream-copied: the audio packets of the run appear once each, in order."""
    first = _run_start(rec)
    origin = _origin_us(rec.pushed[first])
    run = rec.pushed[first:]
    late = [p for p in run if p.kind == "audio" and _is_late(p, origin)]
    src_audio = [p.size for p in run if p.kind == "audio" and not _is_late(p, origin)]
    probes = [probe(p) for p in sorted((tmp_path / "segments").glob("seg_*.mp4"))]
    out_audio = [p.size for pr in probes for p in pr.of("audio")]
    assert out_audio == src_audio
    # Nothing vanishes unaccounted: every packet pushed is stored or counted as dropped.
    assert rec.writer.dropped == first + len(late)
    stored = sum(len(pr.packets) for pr in probes)
    assert stored + rec.writer.dropped == len(rec.pushed)


@pytest.mark.parametrize(
    ("name", "segment_s", "video", "audio"),
    [
        ("h264_aac.mkv", 3.0, "h264", "aac"),
        ("h264_aac.mp4", 2.0, "h264", "aac"),
        ("h264_bframes.mkv", 2.0, "h264", "aac"),
        ("h264_vargop.mkv", 2.0, "h264", "aac"),
        ("h264_noaudio.mkv", 4.0, "h264", None),
    ],
)
def test_stream_copy_segments(
    media: MediaLibrary,
    tmp_path: Path,
    name: str,
    segment_s: float,
    video: str,
    audio: str | None,
) -> None:
    segment_us = int(segment_s * US)
    rec = record(media.path(name), segment_us=segment_us)
    _check_recording(rec, tmp_path, segment_us, US)
    assert {(s.video_codec, s.audio_codec) for s in rec.started} == {(video, audio)}
    for path in sorted((tmp_path / "segments").glob("seg_*.mp4")):
        pr = probe(path)
        assert pr.codec("video") == video and pr.codec("audio") == audio
        if video == "h264":
            assert pr.stream("video")["codec_tag_string"] == "avc1"
    if audio == "aac":
        _check_aac_copied(rec, tmp_path)
    else:
        assert rec.writer.dropped == _run_start(rec)


def _check_presentation_order(rec: Recording, first_seg: Path) -> None:
    """Presentation times of the first segment's frames follow the source's (ms time base)."""
    out = [round(p.pts * 1000) for p in probe(first_seg).of("video") if p.pts is not None]
    origin = _origin_us(rec.pushed[_run_start(rec)])
    src = [
        (p.pts_us - origin) // 1000
        for p in rec.pushed
        if p.kind == "video" and p.pts_us is not None
    ][: len(out)]
    # Presentation times may be offset by the reorder delay but keep their order and spacing.
    shift = out[0] - src[0]
    assert [t - shift for t in out] == src


@pytest.mark.parametrize("name", ["h264_bframes.mkv", "hevc_mulaw.mkv"])
def test_bframes_keep_presentation_order(media: MediaLibrary, tmp_path: Path, name: str) -> None:
    """The first packets of a B-frame stream come without dts; their order must survive."""
    rec = record(media.path(name), segment_us=2 * US)
    assert any(p.dts is None for p in rec.pushed[:5]), "test media should lack early dts"
    _check_presentation_order(rec, rec.write(tmp_path / "segments")[0])


def test_hevc_with_g711_audio(media: MediaLibrary, tmp_path: Path) -> None:
    segment_us = 2_500_000
    rec = record(media.path("hevc_mulaw.mkv"), segment_us=segment_us)
    _check_recording(rec, tmp_path, segment_us, US)
    assert {(s.video_codec, s.audio_codec) for s in rec.started} == {("hevc", "aac")}
    assert rec.writer.video_codec == "hevc" and rec.writer.audio_codec == "pcm_mulaw"
    paths = sorted((tmp_path / "segments").glob("seg_*.mp4"))
    aac_frames = 0
    for path in paths:
        pr = probe(path)
        assert pr.codec("video") == "hevc" and pr.codec("audio") == "aac"
        assert pr.stream("video")["codec_tag_string"] == "hvc1"
        assert int(pr.stream("audio")["sample_rate"]) == 8000
        tracks = scan_file(path.read_bytes()).tracks.values()
        assert {t.sample_entry for t in tracks} == {"hvc1", "mp4a"}
        aac_frames += len(pr.of("audio"))
    # G.711 becomes AAC: compare durations, not packets. µ-law mono is one byte a sample.
    first = _run_start(rec)
    samples = sum(p.size for p in rec.pushed[first:] if p.kind == "audio")
    assert abs(aac_frames * AAC_FRAME - samples) <= AAC_FRAME, (aac_frames, samples)


def test_fragments_shorter_than_a_gop(media: MediaLibrary, tmp_path: Path) -> None:
    rec = record(media.path("h264_aac.mkv"), segment_us=3 * US, fragment_us=400_000)
    _check_recording(rec, tmp_path, 3 * US, 400_000)
    assert max(len(f) for f in rec.fragments.values()) >= 6  # 3 s in ≤ 0.4 s pieces


def test_packets_before_the_first_keyframe_are_dropped(media: MediaLibrary, tmp_path: Path) -> None:
    # Start mid-GOP: leave out the first 20 packets (the first keyframe among them).
    rec = record(media.path("h264_aac.mkv"), segment_us=3 * US, skip=20)
    first = _run_start(rec)
    assert first > 0 and any(p.kind == "video" for p in rec.pushed[:first])
    assert rec.writer.dropped >= first
    _check_recording(rec, tmp_path, 3 * US, US)
    _check_aac_copied(rec, tmp_path)


def test_no_keyframe_no_output(media: MediaLibrary) -> None:
    rec = record(
        media.path("h264_noaudio.mkv"),
        segment_us=2 * US,
        transform=lambda i, p: None if p.is_keyframe else p,
    )
    assert rec.outputs == [] and not rec.writer.started
    assert rec.writer.dropped == len(rec.pushed) > 0


def _shift_after(n: int, seconds: float) -> Any:
    """A transform moving every packet from the n-th on by `seconds`."""

    def transform(i: int, packet: Any) -> Any:
        if i >= n:
            delta = int(seconds / packet.time_base)
            if packet.dts is not None:
                packet.dts += delta
            if packet.pts is not None:
                packet.pts += delta
        return packet

    return transform


@pytest.mark.parametrize("jump_s", [20.0, -3.0])
def test_timestamp_jump_is_a_discontinuity(
    media: MediaLibrary, tmp_path: Path, jump_s: float
) -> None:
    rec = record(media.path("h264_aac.mkv"), segment_us=2 * US, transform=_shift_after(300, jump_s))
    assert isinstance(rec.error, Discontinuity), rec.error
    # The packet that jumped was refused; what came before is finished cleanly.
    assert len(rec.pushed) == 301  # packets 0..300, the last one refused
    stored_video = 0
    for path in rec.write(tmp_path / "segments"):
        pr = probe(path)
        assert pr.of("video")[0].keyframe
        stored_video += len(pr.of("video"))
    assert stored_video == rec.writer.video_accepted
    times = [f.end_media_us for f in rec.finished]
    assert times == sorted(times) and times[-1] < 10 * US


def test_small_timestamp_wobble_is_absorbed(media: MediaLibrary, tmp_path: Path) -> None:
    """Repeated or slightly reordered dts (lossy links) keep every frame and a valid file."""
    last: dict[int, int] = {}

    def repeat_dts(i: int, packet: Any) -> Any:
        prev = last.get(packet.stream_index)
        last[packet.stream_index] = packet.dts
        if packet.stream.type == "video" and i % 7 == 3 and prev is not None:
            packet.dts = prev
            packet.pts = max(packet.pts, prev)
        return packet

    rec = record(media.path("h264_noaudio.mkv"), segment_us=2 * US, transform=repeat_dts)
    assert rec.error is None
    paths = rec.write(tmp_path / "segments")
    total = 0
    for path in paths:
        video = probe(path).of("video")
        dts = [p.dts for p in video]
        assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(dts))
        total += len(video)
    assert total == rec.writer.video_accepted == sum(1 for p in rec.pushed if p.kind == "video")


def test_audio_only_is_unsupported(media: MediaLibrary) -> None:
    with pytest.raises(UnsupportedStream, match="audio:aac"):
        record(media.path("aac_only.mka"), segment_us=2 * US)


def test_fragment_longer_than_segment_is_refused(media: MediaLibrary) -> None:
    from cameras.file import FileSource

    source = FileSource(media.path("h264_noaudio.mkv"), realtime=False)
    try:
        with pytest.raises(ValueError, match="segment_us"):
            SegmentWriter(source.open(), segment_us=US, fragment_us=2 * US)
    finally:
        source.close()


def _strip_dts(i: int, packet: Any) -> Any:
    packet.dts = None
    return packet


@pytest.mark.parametrize("name", ["h264_noaudio.mkv", "h264_bframes.mkv"])
def test_stream_without_any_dts(media: MediaLibrary, tmp_path: Path, name: str) -> None:
    """A source giving pts only keeps its timeline: media time follows pts, not packet count."""
    normal = record(media.path(name), segment_us=2 * US)
    bare = record(media.path(name), segment_us=2 * US, transform=_strip_dts)
    assert bare.error is None
    assert bare.writer.video_accepted == normal.writer.video_accepted
    end = bare.finished[-1].end_media_us
    assert abs(end - normal.finished[-1].end_media_us) <= 100_000
    if name == "h264_noaudio.mkv":  # no reordering: pts is the dts
        assert [s.start_media_us for s in bare.started] == [
            s.start_media_us for s in normal.started
        ]
    total = 0
    for path in bare.write(tmp_path / "segments"):
        video = probe(path).of("video")
        assert video[0].keyframe
        total += len(video)
    assert total == bare.writer.video_accepted
