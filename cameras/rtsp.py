"""RtspSource: RTSP over TCP through PyAV (FFmpeg), never decoding."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import av
import av.error

from cameras.source import (
    CameraDisconnected,
    CameraNotRtsp,
    CameraRejected,
    CameraTimeout,
    CameraUnreachable,
)
from cameras.urls import redact_url, scrub, url_secrets

logger = logging.getLogger(__name__)

RTSP_DEFAULT_PORT = 554
# Enough of an answer to tell RTSP ("RTSP/1.0 200 OK") from anything else.
_STATUS_PREFIX = b"RTSP/"


def _describe_error(e: BaseException, secrets: list[str]) -> str:
    text = str(e)
    if isinstance(e, av.error.ExitError):
        text = "timed out (no data)"
    return scrub(text, secrets)


def check_rtsp_server(url: str, timeout_s: float) -> None:
    """Ask the server at url for OPTIONS, and raise unless it answers as RTSP in time.

    FFmpeg reports a server that accepts and never answers, and one that answers with
    something else, both as "Invalid data found when processing input", and keeps reading
    a peer that sends endless text lines for as long as it sends them. One OPTIONS round
    trip (no credentials, no query string) before FFmpeg opens the stream names the real
    reason and bounds the wait: CameraUnreachable "timeout: no answer within N s", or
    CameraNotRtsp "not an RTSP server". Other schemes and URLs without a usable host are
    left to FFmpeg.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or RTSP_DEFAULT_PORT
    except ValueError:
        return
    if parts.scheme.lower() != "rtsp" or not host:
        return
    hostport = parts.netloc.rpartition("@")[2]
    request = f"OPTIONS rtsp://{hostport}{parts.path or '/'} RTSP/1.0\r\nCSeq: 1\r\n"
    request += "User-Agent: surveil\r\n\r\n"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except TimeoutError:
        raise CameraTimeout(f"timeout: no connection within {timeout_s:g} s") from None
    except OSError as e:
        raise CameraUnreachable(f"cannot open stream: {e.strerror or e}") from None
    answer = b""
    with sock:
        try:
            sock.sendall(request.encode("ascii", "backslashreplace"))
            deadline = time.monotonic() + timeout_s
            while len(answer) < len(_STATUS_PREFIX):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            raise CameraTimeout(f"timeout: no answer within {timeout_s:g} s") from None
        except OSError as e:
            raise CameraUnreachable(f"cannot open stream: {e.strerror or e}") from None
    if not answer:
        raise CameraUnreachable("cannot open stream: the camera closed the connection unanswered")
    if not answer.startswith(_STATUS_PREFIX):
        spoke = " (it answered HTTP)" if answer.startswith(b"HTTP/") else ""
        raise CameraNotRtsp(f"not an RTSP server{spoke}")


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
        check_rtsp_server(self._url, self.timeout_s)
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
