"""SyntheticSource: a built-in test-pattern camera for `surveil demo`.

Encodes a small moving pattern with a burned-in clock and counter label using
libx264 (cheap: low resolution and frame rate). Pixels are drawn with numpy
and OpenCV; this is a camera stand-in, not part of the recording path.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import av
import cv2
import numpy as np

from cameras.source import CameraDisconnected

TIME_BASE = Fraction(1, 90_000)
SCHEME = "synthetic:"
DEFAULT_LABEL = "A01"


def synthetic_label(url: str, counters: Sequence[str] = ()) -> str:
    """The label a ``synthetic:LABEL`` URL burns in; empty: the first counter's code."""
    return url.removeprefix(SCHEME) or (counters[0] if counters else DEFAULT_LABEL)


class SyntheticSource:
    def __init__(
        self,
        label: str = DEFAULT_LABEL,
        *,
        fps: int = 10,
        width: int = 320,
        height: int = 180,
        gop_seconds: float = 1.0,
        realtime: bool = True,
        max_frames: int | None = None,
    ) -> None:
        self.label = label
        self.fps = fps
        self.width = width
        self.height = height
        self.gop = max(1, int(fps * gop_seconds))
        self.realtime = realtime
        self.max_frames = max_frames
        self._stream: Any = None
        self._holder: Any = None
        self._closed = threading.Event()

    @property
    def description(self) -> str:
        return f"{SCHEME}{self.label}"

    def open(self) -> Sequence[Any]:
        self._closed.clear()
        # The encoder stream lives in a never-written holder container so it
        # looks like a demuxed stream to the segment writer (a template with
        # codec parameters and global-header extradata).
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        stream = self._holder.add_stream("libx264", rate=self.fps)
        stream.width = self.width
        stream.height = self.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "g": str(self.gop),
            "bf": "0",
            "crf": "30",
        }
        self._stream = stream
        # Encode one frame so extradata (SPS/PPS) exists before the writer
        # copies codec parameters; the packet is kept and yielded first.
        self._first = list(stream.encode(self._frame(0, time.time())))
        return [stream]

    def _frame(self, n: int, wall: float) -> Any:
        img = np.zeros((self.height, self.width, 3), np.uint8)
        img[:, :] = (40, 40, 40)
        x = int((n * 4) % max(1, self.width - 40))
        cv2.rectangle(img, (x, self.height - 50), (x + 40, self.height - 20), (0, 160, 255), -1)
        stamp = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-4] + "Z"
        cv2.putText(img, stamp, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        cv2.putText(
            img,
            f"counter {self.label}  #{n}",
            (8, 50),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
        )
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = int(n * 90_000 / self.fps)
        frame.time_base = TIME_BASE
        return frame

    def packets(self) -> Iterator[Any]:
        if self._stream is None:
            raise CameraDisconnected("not open")
        yield from self._first
        start = time.monotonic()
        n = 1
        while not self._closed.is_set():
            if self.max_frames is not None and n >= self.max_frames:
                break
            due = start + n / self.fps
            if self.realtime:
                delay = due - time.monotonic()
                if delay > 0 and self._closed.wait(delay):
                    break
            yield from self._stream.encode(self._frame(n, time.time()))
            n += 1
        yield from self._stream.encode(None)
        raise CameraDisconnected("synthetic source stopped")

    def interrupt(self) -> None:
        """Wake the packet loop from another thread so it ends promptly."""
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        self._stream = None
        self._holder = None
