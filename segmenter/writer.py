"""The segment writer: a pure state machine from demuxed packets to fMP4 bytes.

Packets go in (stream copy; nothing is decoded except G.711 audio, which MP4
cannot carry and is converted alone to AAC); out come `SegmentStarted`,
`FragmentReady` and `SegmentFinished` records holding the exact bytes to
store. It does no file, network or database I/O: the muxer writes into
memory and the caller decides where bytes go and when they are durable.

Cutting rules (docs/design/recording.md):
- a run starts at the first video keyframe; earlier packets are dropped;
- a segment is cut at the first video keyframe at or after `segment_us` of
  media time; audio packets stamped before the cut still go to the old
  segment, so segments tile the timeline with nothing lost or repeated;
- within a segment the muxer cuts a fragment at every keyframe and after at
  most `fragment_us`;
- each packet's duration is set from the next packet of its stream, so
  segment durations add up to the run's media duration exactly.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import av
import av.error

from segmenter.boxes import BoxStream, TrackRun
from segmenter.errors import Discontinuity, SegmenterError, UnsupportedStream
from segmenter.records import FragmentReady, SegmentFinished, SegmentStarted, WriterOutput

logger = logging.getLogger(__name__)

US = 1_000_000
VIDEO_CODECS = {"h264", "hevc"}
COPY_AUDIO_CODECS = {"aac"}
TRANSCODE_AUDIO_CODECS = {"pcm_mulaw", "pcm_alaw"}
# A backwards step larger than this, or a forward jump larger than
# MAX_FORWARD_JUMP_US, is a timestamp discontinuity (camera restart, wrap).
MAX_BACKWARD_US = 500_000
MAX_FORWARD_JUMP_US = 10 * US
# How long the old segment waits for audio stamped before the cut.
MAX_CUT_WAIT_US = 2 * US


def to_us(ts: int, time_base: Fraction) -> int:
    """Timestamp in time_base units → µs (floor, exact integer arithmetic)."""
    return ts * time_base.numerator * US // time_base.denominator


def from_us(us: int, time_base: Fraction) -> int:
    return us * time_base.denominator // (time_base.numerator * US)


def codec_name(stream: Any) -> str | None:
    """The codec's canonical name ('h264', not the encoder's 'libx264')."""
    ctx = stream.codec_context
    if ctx is None:
        return None
    return str(ctx.codec.canonical_name)


class _Sink:
    """Write-only, non-seekable byte sink for the muxer (so it never seeks back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


@dataclass
class _Track:
    """One input stream as the writer stores it."""

    kind: str  # 'video' | 'audio'
    index: int  # input stream index
    time_base: Fraction
    template: Any  # PyAV stream to copy codec parameters from
    extradata: bytes | None
    codec: str  # codec as stored
    last_dts: int | None = None
    last_duration: int = 0
    held: Any = None  # the packet waiting for its successor (to learn its duration)
    held_guessed: bool = False  # the held packet came without a dts
    released_dts: int | None = None  # dts of the last packet released


class _AudioToAac:
    """G.711 → AAC, the only decode/encode in the recording path (MP4 has no G.711)."""

    def __init__(self, stream: Any) -> None:
        ctx = stream.codec_context
        self.sample_rate = int(ctx.sample_rate or 8000)
        self.decoder = cast(Any, av.CodecContext.create(str(codec_name(stream)), "r"))
        self.decoder.sample_rate = self.sample_rate
        self.decoder.layout = "mono"
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        enc = self._holder.add_stream("aac", rate=self.sample_rate, layout="mono")
        enc.bit_rate = 32000
        enc.codec_context.time_base = Fraction(1, self.sample_rate)
        # Open now: the AAC AudioSpecificConfig (extradata) exists only once the
        # encoder is open, and the first segment's esds needs it before any
        # audio has been encoded.
        enc.codec_context.open()
        self.stream = enc
        self.time_base = Fraction(1, self.sample_rate)

    def convert(self, packet: Any) -> list[Any]:
        out: list[Any] = []
        for frame in self.decoder.decode(packet):
            frame.pts = packet.dts
            frame.time_base = packet.time_base
            out.extend(self.stream.encode(frame))
        return [p for p in out if p.dts is not None and p.dts >= 0]

    def flush(self) -> list[Any]:
        return [p for p in self.stream.encode(None) if p.dts is not None and p.dts >= 0]

    @property
    def extradata(self) -> bytes | None:
        data = self.stream.codec_context.extradata
        return bytes(data) if data else None


@dataclass
class _SegmentMux:
    """One output file being muxed in memory."""

    sequence: int
    start_abs_us: int  # stream time of the first keyframe, µs
    start_media_us: int  # relative to the run origin
    origin: dict[str, int]  # per kind: timestamp subtracted to start at zero
    tracks: dict[str, _Track]
    fragment_us: int
    audio_aac: _AudioToAac | None
    sink: _Sink = field(default_factory=_Sink)
    boxes: BoxStream = field(default_factory=BoxStream)
    fragments: int = 0
    video_frames: int = 0
    video_duration_us: int = 0
    started: bool = False

    def __post_init__(self) -> None:
        self.container = av.open(
            self.sink,
            "w",
            format="mp4",
            options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof+skip_trailer",
                "frag_duration": str(self.fragment_us),
                "flush_packets": "1",
                "max_interleave_delta": "1000000",
            },
        )
        self.out: dict[str, Any] = {}
        for kind, track in self.tracks.items():
            if kind == "audio" and self.audio_aac is not None:
                template = self.audio_aac.stream
                extradata = self.audio_aac.extradata
            else:
                template = track.template
                extradata = track.extradata
            stream = self.container.add_stream_from_template(template)
            if extradata:
                stream.codec_context.extradata = extradata
            if kind == "video" and track.codec == "hevc":
                stream.codec_tag = "hvc1"  # what Safari and most players expect in MP4
            self.out[kind] = stream

    def mux(self, packet: Any, kind: str, time_base: Fraction) -> list[WriterOutput]:
        origin = self.origin[kind]
        dts = packet.dts - origin
        if dts < 0:
            return []  # stamped before this segment: belongs to no file
        pts = packet.pts - origin if packet.pts is not None else dts
        packet.dts = dts
        packet.pts = max(pts, dts)
        packet.stream = self.out[kind]
        packet.time_base = time_base
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as e:
            raise Discontinuity(f"muxer refused a {kind} packet: {e}") from e
        return self._drain()

    def close(self, end_media_us: int | None = None) -> list[WriterOutput]:
        """Finish the file. end_media_us, when the next segment's start is known,
        makes the two meet exactly instead of differing by rounding."""
        try:
            self.container.close()
        except av.error.FFmpegError as e:
            raise SegmenterError(f"muxer failed to finish segment {self.sequence}: {e}") from e
        out = self._drain()
        out.append(
            SegmentFinished(
                sequence=self.sequence,
                end_media_us=(
                    end_media_us
                    if end_media_us is not None
                    else self.start_media_us + self.video_duration_us
                ),
                fragments=self.fragments,
                video_frames=self.video_frames,
            )
        )
        return out

    def _drain(self) -> list[WriterOutput]:
        data = self.sink.take()
        if not data:
            return []
        out: list[WriterOutput] = []
        for chunk, runs in self.boxes.feed(data):
            if not runs and not self.started:
                self.started = True
                out.append(
                    SegmentStarted(
                        sequence=self.sequence,
                        start_media_us=self.start_media_us,
                        init=chunk,
                        video_codec=self.tracks["video"].codec,
                        audio_codec="aac" if "audio" in self.tracks else None,
                    )
                )
            elif runs:
                out.append(self._fragment(chunk, runs))
        return out

    def _fragment(self, chunk: bytes, runs: list[TrackRun]) -> FragmentReady:
        video_frames = audio_frames = 0
        start_us = end_us = None
        for run in runs:
            track = self.boxes.tracks.get(run.track_id)
            if track is None:
                continue
            if track.handler == "vide":
                video_frames += run.samples
                start_us = run.base_decode_time * US // track.timescale
                end_us = (run.base_decode_time + run.duration) * US // track.timescale
            elif track.handler == "soun":
                audio_frames += run.samples
        if start_us is None or end_us is None:
            # An audio-only fragment (the tail after the last video sample).
            start_us = end_us = self.video_duration_us
        self.fragments += 1
        self.video_frames += video_frames
        self.video_duration_us = max(self.video_duration_us, end_us)
        return FragmentReady(
            sequence=self.sequence,
            data=chunk,
            start_media_us=self.start_media_us + start_us,
            end_media_us=self.start_media_us + end_us,
            video_frames=video_frames,
            audio_frames=audio_frames,
        )


class SegmentWriter:
    """Packets in, fMP4 segment records out. One writer per run."""

    def __init__(
        self,
        streams: Sequence[Any],
        *,
        segment_us: int = 60 * US,
        fragment_us: int = US,
        first_sequence: int = 0,
    ) -> None:
        if segment_us < fragment_us:
            raise ValueError("segment_us must be at least fragment_us")
        self.segment_us = segment_us
        self.fragment_us = fragment_us
        self.tracks: dict[str, _Track] = {}
        self.audio_aac: _AudioToAac | None = None
        self.ignored: list[str] = []
        for stream in streams:
            name = codec_name(stream)
            kind = stream.type
            if kind == "video" and "video" not in self.tracks and name in VIDEO_CODECS:
                self.tracks["video"] = self._track("video", stream, name)
            elif kind == "audio" and "audio" not in self.tracks and name in COPY_AUDIO_CODECS:
                self.tracks["audio"] = self._track("audio", stream, name)
            elif kind == "audio" and "audio" not in self.tracks and name in TRANSCODE_AUDIO_CODECS:
                self.audio_aac = _AudioToAac(stream)
                self.tracks["audio"] = self._track("audio", stream, name)
            else:
                self.ignored.append(f"{kind}:{name}")
        if "video" not in self.tracks:
            raise UnsupportedStream(
                "no H.264 or H.265 video stream among: "
                + ", ".join(f"{s.type}:{codec_name(s)}" for s in streams)
            )
        self._by_index = {t.index: t for t in self.tracks.values()}
        self._sequence = first_sequence
        self._origin_abs_us: int | None = None
        self._cur: _SegmentMux | None = None
        self._next: _SegmentMux | None = None  # a cut waiting for audio stamped before it
        self._pending: list[Any] = []  # video packets for self._next
        self.dropped = 0  # packets dropped (before the first keyframe, late, no timestamp)
        self.video_accepted = 0  # video packets taken into the run (each ends up in a file)

    @staticmethod
    def _track(kind: str, stream: Any, name: str) -> _Track:
        extradata = stream.codec_context.extradata
        return _Track(
            kind=kind,
            index=stream.index,
            time_base=stream.time_base,
            template=stream,
            extradata=bytes(extradata) if extradata else None,
            codec=name,
        )

    @property
    def video_codec(self) -> str:
        return self.tracks["video"].codec

    @property
    def audio_codec(self) -> str | None:
        audio = self.tracks.get("audio")
        return None if audio is None else audio.codec

    def video_media_us(self, dts: int) -> int:
        """Media time (µs since the run origin) of a video decode timestamp."""
        assert self._origin_abs_us is not None
        return to_us(dts, self.tracks["video"].time_base) - self._origin_abs_us

    @property
    def started(self) -> bool:
        return self._origin_abs_us is not None

    def push(self, packet: Any) -> list[WriterOutput]:
        """Feed one demuxed packet; return whatever became complete."""
        track = self._by_index.get(packet.stream_index)
        if track is None or packet.size == 0:
            return []
        guessed = packet.dts is None
        if guessed:
            if packet.pts is None:
                self.dropped += 1
                return []
            packet.dts = packet.pts  # settled by _settle_guess if a real dts shows it too late
        if self._origin_abs_us is None:
            if track.kind != "video" or not packet.is_keyframe:
                self.dropped += 1
                return []
            self._origin_abs_us = to_us(packet.dts, track.time_base)
            # Open the first segment now: audio stamped after this keyframe may be
            # released before the keyframe itself (each packet waits for its successor).
            self._cur = self._new_mux(packet, self._origin_abs_us)
        if not guessed:
            self._settle_guess(track, packet.dts)
        self._check_monotonic(track, packet)
        if track.kind == "video":
            self.video_accepted += 1
        held, track.held = track.held, packet
        track.held_guessed = guessed
        if held is None:
            return []
        track.released_dts = held.dts
        held.duration = packet.dts - held.dts
        track.last_duration = held.duration
        return self._release(track, held)

    def finish(self) -> list[WriterOutput]:
        """End the run: flush held packets and close the open segment."""
        out: list[WriterOutput] = []
        for track in self.tracks.values():
            held, track.held = track.held, None
            if held is not None:
                held.duration = track.last_duration or 1
                out += self._release(track, held)
        if self.audio_aac is not None and self._cur is not None:
            for p in self.audio_aac.flush():
                out += self._route_audio(p, self.audio_aac.time_base)
        if self._next is not None:
            out += self._complete_cut()
        if self._cur is not None:
            out += self._cur.close()
            self._cur = None
        return out

    def _settle_guess(self, track: _Track, dts: int) -> None:
        """Pull back a held packet's guessed dts that a real dts shows was too late.

        Demuxers leave dts unset until they know the B-frame reorder delay, so the
        first packets of a run may come with pts only. Their pts is an upper bound
        on their dts; kept, it would force the next real dts (and so their pts)
        forward, and frames would be shown out of order.
        """
        held = track.held
        if held is None or not track.held_guessed or track.released_dts is None:
            return
        if dts <= held.dts:
            held.dts = max(track.released_dts + 1, min(held.dts, dts - 1))
            track.last_dts = held.dts

    def _check_monotonic(self, track: _Track, packet: Any) -> None:
        last = track.last_dts
        if last is not None:
            step_us = to_us(packet.dts - last, track.time_base)
            if step_us < -MAX_BACKWARD_US or step_us > MAX_FORWARD_JUMP_US:
                raise Discontinuity(f"{track.kind} timestamps jumped by {step_us / US:+.3f} s")
            if packet.dts <= last:
                # Small reorders and repeats happen on lossy links; keep the
                # sample and nudge it forward so the file stays valid.
                packet.dts = last + 1
                if packet.pts is not None and packet.pts < packet.dts:
                    packet.pts = packet.dts
        track.last_dts = packet.dts

    def _release(self, track: _Track, packet: Any) -> list[WriterOutput]:
        if track.kind == "video":
            return self._route_video(packet, track.time_base)
        if self.audio_aac is not None:
            out: list[WriterOutput] = []
            for p in self.audio_aac.convert(packet):
                out += self._route_audio(p, self.audio_aac.time_base)
            return out
        return self._route_audio(packet, track.time_base)

    def _route_video(self, packet: Any, time_base: Fraction) -> list[WriterOutput]:
        t_us = to_us(packet.dts, time_base)
        assert self._cur is not None
        if self._next is not None:
            self._pending.append(packet)
            if t_us - self._next.start_abs_us > MAX_CUT_WAIT_US:
                return self._complete_cut()
            return []
        if packet.is_keyframe and t_us - self._cur.start_abs_us >= self.segment_us:
            self._next = self._new_mux(packet, t_us)
            self._pending = [packet]
            if "audio" not in self.tracks:
                return self._complete_cut()
            return []
        return self._cur.mux(packet, "video", time_base)

    def _route_audio(self, packet: Any, time_base: Fraction) -> list[WriterOutput]:
        if self._cur is None:
            self.dropped += 1
            return []
        t_us = to_us(packet.dts, time_base)
        if self._next is not None and t_us >= self._next.start_abs_us:
            out = self._complete_cut()
            return out + self._mux_audio(packet, time_base)
        return self._mux_audio(packet, time_base)

    def _mux_audio(self, packet: Any, time_base: Fraction) -> list[WriterOutput]:
        assert self._cur is not None
        if packet.dts < self._cur.origin["audio"]:
            self.dropped += 1  # late: stamped before the segment that is open now
            return []
        return self._cur.mux(packet, "audio", time_base)

    def _complete_cut(self) -> list[WriterOutput]:
        assert self._cur is not None and self._next is not None
        out = self._cur.close(end_media_us=self._next.start_media_us)
        self._cur, self._next = self._next, None
        pending, self._pending = self._pending, []
        video_tb = self.tracks["video"].time_base
        for p in pending:
            out += self._cur.mux(p, "video", video_tb)
        return out

    def _new_mux(self, keyframe: Any, t_us: int) -> _SegmentMux:
        assert self._origin_abs_us is not None
        origin = {"video": keyframe.dts}
        if "audio" in self.tracks:
            audio_tb = (
                self.audio_aac.time_base
                if self.audio_aac is not None
                else self.tracks["audio"].time_base
            )
            origin["audio"] = -(-t_us * audio_tb.denominator // (audio_tb.numerator * US))
        mux = _SegmentMux(
            sequence=self._sequence,
            start_abs_us=t_us,
            start_media_us=t_us - self._origin_abs_us,
            origin=origin,
            tracks=self.tracks,
            fragment_us=self.fragment_us,
            audio_aac=self.audio_aac,
        )
        self._sequence += 1
        return mux
