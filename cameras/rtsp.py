"""RtspSource: RTSP over TCP through PyAV (FFmpeg), never decoding."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import av
import av.error

from cameras.source import CameraDisconnected, CameraRejected, CameraUnreachable
from cameras.urls import redact_url, scrub, url_secrets

logger = logging.getLogger(__name__)


def _describe_error(e: BaseException, secrets: list[str]) -> str:
    text = str(e)
    if isinstance(e, av.error.ExitError):
        text = "timed out (no data)"
    return scrub(text, secrets)


class RtspSource:
    """One RTSP camera. A read that stalls past timeout_s is a disconnect."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self._url = url
        self._secrets = url_secrets(url)
        self.timeout_s = timeout_s
        self._container: Any = None
        self._streams: list[Any] = []

    @property
    def description(self) -> str:
        return redact_url(self._url)

    def open(self) -> Sequence[Any]:
        self.close()
        timeout_us = str(int(self.timeout_s * 1_000_000))
        try:
            self._container = av.open(
                self._url,
                options={
                    "rtsp_transport": "tcp",
                    # Socket I/O timeout enforced inside FFmpeg. PyAV's own
                    # timeout= would install an interrupt callback that takes the
                    # GIL on every network wait: measurable CPU at many cameras.
                    "timeout": timeout_us,
                    "analyzeduration": "1000000",
                    "probesize": "1000000",
                },
            )
        except av.error.HTTPUnauthorizedError as e:
            why = _describe_error(e, self._secrets)
            raise CameraRejected(f"camera refused the credentials: {why}") from None
        except (av.error.HTTPNotFoundError, av.error.HTTPForbiddenError) as e:
            why = _describe_error(e, self._secrets)
            raise CameraRejected(f"camera refused the stream: {why}") from None
        except (av.error.FFmpegError, OSError) as e:
            why = _describe_error(e, self._secrets)
            raise CameraUnreachable(f"cannot open stream: {why}") from None
        self._streams = [s for s in self._container.streams if s.type in ("video", "audio")]
        for s in self._streams:
            s.thread_type = "SLICE"  # irrelevant (no decoding) but avoids frame threads
        return self._streams

    def packets(self) -> Iterator[Any]:
        if self._container is None:
            raise CameraDisconnected("not connected")
        try:
            for packet in self._container.demux(self._streams):
                if packet.size == 0 and packet.dts is None:
                    continue  # demuxer flush marker at end of stream
                yield packet
        except (av.error.FFmpegError, OSError) as e:
            raise CameraDisconnected(f"stream broke: {_describe_error(e, self._secrets)}") from None
        # A demux loop that simply ends is a camera that went away.
        raise CameraDisconnected("stream ended")

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (av.error.FFmpegError, OSError):
                logger.debug("%s: error while closing", self.description, exc_info=True)
