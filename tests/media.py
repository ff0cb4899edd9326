"""Test media made with the ffmpeg CLI, and helpers to run it through the segment writer.

Registered from tests/conftest.py via pytest_plugins. Files are made once per
session, on first use, in a pytest temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cameras.file import FileSource
from cameras.source import CameraDisconnected
from segmenter.records import FragmentReady, SegmentFinished, SegmentStarted, WriterOutput
from segmenter.writer import SegmentWriter, to_us

US = 1_000_000
FPS = 25
SECONDS = 12

_TESTSRC = ["-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}"]
_SINE_48K = ["-f", "lavfi", "-i", "sine=r=48000"]
_X264 = ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast"]

# name → ffmpeg arguments between the inputs and the output file.
MEDIA: dict[str, list[str]] = {
    # H.264 + AAC, one keyframe a second, no B-frames.
    "h264_aac.mkv": [*_TESTSRC, *_SINE_48K, *_X264, "-g", "25", "-bf", "0", "-c:a", "aac"],
    # H.265 (with x265's default B-frames) + G.711 µ-law in 20 ms packets, as cameras send it.
    "hevc_mulaw.mkv": [
        *_TESTSRC,
        "-f",
        "lavfi",
        "-i",
        "sine=r=8000",
        "-af",
        "asetnsamples=n=160",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "keyint=25:min-keyint=25:log-level=error",
        "-c:a",
        "pcm_mulaw",
        "-ac",
        "1",
    ],
    # H.264 with B-frames: decode order differs from presentation order.
    "h264_bframes.mkv": [*_TESTSRC, *_SINE_48K, *_X264, "-g", "25", "-bf", "2", "-c:a", "aac"],
    # H.264 with no audio at all.
    "h264_noaudio.mkv": [*_TESTSRC, *_X264, "-g", "25", "-bf", "0"],
    # H.264 whose keyframes come at irregular times (GOPs of 0.1 s to 2.9 s).
    "h264_vargop.mkv": [
        *_TESTSRC,
        *_SINE_48K,
        *_X264,
        "-g",
        "1000",
        "-sc_threshold",
        "0",
        "-force_key_frames",
        "0,0.4,1.5,1.9,3.7,3.8,6.1,9,9.2,11",
        "-bf",
        "0",
        "-c:a",
        "aac",
    ],
    # H.264 + AAC in MP4 (90 kHz-ish video time base rather than Matroska's ms).
    "h264_aac.mp4": [*_TESTSRC, *_SINE_48K, *_X264, "-g", "25", "-bf", "0", "-c:a", "aac"],
    # Audio only: nothing a recorder can store.
    "aac_only.mka": [*_SINE_48K, "-c:a", "aac"],
}


class MediaLibrary:
    """Makes each test file on first use; safe to share across a session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        out = self.root / name
        with self._lock:
            if not out.exists():
                tmp = out.with_name("tmp-" + name)
                cmd = ["ffmpeg", "-v", "error", "-y", *MEDIA[name], "-t", str(SECONDS), str(tmp)]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                if done.returncode != 0:
                    raise RuntimeError(f"ffmpeg failed making {name}: {done.stderr.strip()}")
                tmp.rename(out)
        return out


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> MediaLibrary:
    """Test media files made with the ffmpeg CLI: media.path('h264_aac.mkv')."""
    return MediaLibrary(tmp_path_factory.mktemp("media"))


# -- running the writer ------------------------------------------------------


@dataclass(frozen=True)
class SourcePacket:
    """A packet as the source gave it, noted before the writer saw (and changed) it."""

    kind: str  # 'video' | 'audio'
    dts_us: int | None
    pts_us: int | None
    dts: int | None
    keyframe: bool
    size: int
    time_base: Any


@dataclass
class Recording:
    """Everything a SegmentWriter produced from one source."""

    writer: SegmentWriter
    outputs: list[WriterOutput]
    pushed: list[SourcePacket]  # every packet pushed, in push order
    error: Exception | None = None  # what push() raised, if anything
    started: list[SegmentStarted] = field(default_factory=list)
    fragments: dict[int, list[FragmentReady]] = field(default_factory=dict)
    finished: list[SegmentFinished] = field(default_factory=list)

    def __post_init__(self) -> None:
        for out in self.outputs:
            if isinstance(out, SegmentStarted):
                self.started.append(out)
                self.fragments[out.sequence] = []
            elif isinstance(out, FragmentReady):
                self.fragments[out.sequence].append(out)
            else:
                self.finished.append(out)

    def file_bytes(self, sequence: int) -> bytes:
        start = next(s for s in self.started if s.sequence == sequence)
        return start.init + b"".join(f.data for f in self.fragments[sequence])

    def write(self, directory: Path) -> list[Path]:
        """Each segment as DIR/seg_N.mp4, in sequence order."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for start in self.started:
            path = directory / f"seg_{start.sequence}.mp4"
            path.write_bytes(self.file_bytes(start.sequence))
            paths.append(path)
        return paths


def record(
    path: Path,
    *,
    segment_us: int,
    fragment_us: int = US,
    transform: Callable[[int, Any], Any | None] | None = None,
    skip: int = 0,
) -> Recording:
    """Replay a file through a SegmentWriter as fast as possible.

    transform(i, packet) may change a packet or return None to leave it out;
    skip leaves out the first packets (to start mid-GOP). A Discontinuity or
    other writer error stops the replay, is kept in .error, and the writer is
    finished as the recorder would.
    """
    source = FileSource(path, realtime=False)
    streams = source.open()
    writer = SegmentWriter(streams, segment_us=segment_us, fragment_us=fragment_us)
    outputs: list[WriterOutput] = []
    pushed: list[SourcePacket] = []
    error: Exception | None = None
    try:
        for i, packet in enumerate(source.packets()):
            if i < skip:
                continue
            if transform is not None:
                packet = transform(i, packet)
                if packet is None:
                    continue
            tb = packet.time_base
            pushed.append(
                SourcePacket(
                    kind=packet.stream.type,
                    dts_us=None if packet.dts is None else to_us(packet.dts, tb),
                    pts_us=None if packet.pts is None else to_us(packet.pts, tb),
                    dts=packet.dts,
                    keyframe=bool(packet.is_keyframe),
                    size=packet.size,
                    time_base=tb,
                )
            )
            try:
                outputs += writer.push(packet)
            except Exception as e:
                error = e
                break
    except CameraDisconnected:
        pass
    outputs += writer.finish()
    source.close()
    return Recording(writer=writer, outputs=outputs, pushed=pushed, error=error)


# -- reading files back with ffprobe ---------------------------------------


@dataclass(frozen=True)
class ProbedPacket:
    kind: str
    dts: float | None  # seconds
    pts: float | None
    duration: float | None
    size: int
    keyframe: bool


@dataclass(frozen=True)
class Probe:
    streams: list[dict[str, Any]]
    packets: list[ProbedPacket]

    def codec(self, kind: str) -> str | None:
        return next((s["codec_name"] for s in self.streams if s["codec_type"] == kind), None)

    def stream(self, kind: str) -> dict[str, Any]:
        return next(s for s in self.streams if s["codec_type"] == kind)

    def of(self, kind: str) -> list[ProbedPacket]:
        return [p for p in self.packets if p.kind == kind]


def _float(v: object) -> float | None:
    return None if v in (None, "N/A") else float(str(v))


def probe(path: Path) -> Probe:
    """Streams and packets of a media file; fails the test if ffprobe cannot read it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_packets", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0 or out.stderr.strip():
        raise AssertionError(f"ffprobe failed on {path}: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    streams = info.get("streams", [])
    kinds = {s["index"]: s["codec_type"] for s in streams}
    packets = [
        ProbedPacket(
            kind=kinds[p["stream_index"]],
            dts=_float(p.get("dts_time")),
            pts=_float(p.get("pts_time")),
            duration=_float(p.get("duration_time")),
            size=int(p["size"]),
            keyframe="K" in p.get("flags", ""),
        )
        for p in info.get("packets", [])
    ]
    return Probe(streams, packets)
