"""FileSource: replay a media file as if it were a camera (tests, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import av.error

from cameras.source import CameraDisconnected, CameraUnreachable

US = 1_000_000


class FileSource:
    """Packets from a file (MP4/MKV with raw AAC), in real time or as fast as possible."""

    def __init__(self, path: Path, *, realtime: bool = True) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self._container: Any = None
        self._streams: list[Any] = []

    @property
    def description(self) -> str:
        return f"file:{self.path.name}"

    def open(self) -> Sequence[Any]:
        self.close()
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as e:
            raise CameraUnreachable(f"cannot open {self.path.name}: {e}") from None
        self._streams = [s for s in self._container.streams if s.type in ("video", "audio")]
        return self._streams

    def packets(self) -> Iterator[Any]:
        if self._container is None:
            raise CameraDisconnected("not open")
        start_wall = time.monotonic()
        first_us: int | None = None
        for packet in self._container.demux(self._streams):
            if packet.size == 0 and packet.dts is None:
                continue
            if self.realtime and packet.dts is not None and packet.time_base is not None:
                t_us = int(packet.dts * packet.time_base * US)
                if first_us is None:
                    first_us = t_us
                delay = (t_us - first_us) / US - (time.monotonic() - start_wall)
                if delay > 0:
                    time.sleep(delay)
            yield packet
        raise CameraDisconnected("end of file")

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.close()
