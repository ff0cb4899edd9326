"""The PacketSource protocol: where demuxed, still-compressed packets come from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Protocol


class CameraError(Exception):
    """A camera could not be read. Messages are already free of credentials."""

    code: ClassVar[str] = "camera_error"


class CameraUnreachable(CameraError):
    """Connecting failed (refused, timed out, unknown host); worth retrying."""

    code: ClassVar[str] = "camera_unreachable"


class CameraTimeout(CameraUnreachable):
    """The camera did not answer in time (the gateway-timeout kind of unreachable)."""

    code: ClassVar[str] = "camera_unreachable"


class CameraRejected(CameraError):
    """The camera answered but refused us (bad credentials, unknown path)."""

    code: ClassVar[str] = "camera_rejected"


class CameraNotRtsp(CameraRejected):
    """Something answered at the camera's address, but not an RTSP server (wrong port or
    device); retried like any failure, in case the camera comes up there later."""

    code: ClassVar[str] = "camera_rejected"


class CameraDisconnected(CameraError):
    """A connected stream ended, stalled past the timeout or broke."""

    code: ClassVar[str] = "camera_error"


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
