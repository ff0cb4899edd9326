"""The PacketSource protocol: where demuxed, still-compressed packets come from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol


class CameraError(Exception):
    """A camera could not be read. Messages are already free of credentials."""


class CameraUnreachable(CameraError):
    """Connecting failed (refused, timed out, unknown host); worth retrying."""


class CameraTimeout(CameraUnreachable):
    """The camera did not answer in time (the gateway-timeout kind of unreachable)."""


class CameraRejected(CameraError):
    """The camera answered but refused us (bad credentials, unknown path)."""


class CameraNotRtsp(CameraRejected):
    """Something answered at the camera's address, but not an RTSP server (wrong port or
    device); retried like any failure, in case the camera comes up there later."""


class CameraDisconnected(CameraError):
    """A connected stream ended, stalled past the timeout or broke."""


class PacketSource(Protocol):
    """A camera or replay that yields PyAV packets without decoding them."""

    @property
    def description(self) -> str:
        """A human-readable name for logs and the API, never containing secrets."""
        ...

    def open(self) -> Sequence[Any]:
        """Connect and return the PyAV streams on offer. Raises CameraError."""
        ...

    def packets(self) -> Iterator[Any]:
        """Yield packets until the stream ends; ending is CameraDisconnected."""
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...
