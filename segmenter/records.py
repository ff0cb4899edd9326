"""What the segment writer emits: plain records of bytes and media times.

Media times are µs relative to the run's origin (the first keyframe's decode
time); the recorder maps them to wall time (see docs/design/time.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentStarted:
    sequence: int
    start_media_us: int
    init: bytes  # ftyp + moov
    video_codec: str
    audio_codec: str | None


@dataclass(frozen=True)
class FragmentReady:
    sequence: int
    data: bytes  # moof + mdat
    start_media_us: int
    end_media_us: int
    video_frames: int
    audio_frames: int


@dataclass(frozen=True)
class SegmentFinished:
    sequence: int
    end_media_us: int
    fragments: int
    video_frames: int


WriterOutput = SegmentStarted | FragmentReady | SegmentFinished
