"""Camera sources: RTSP, file replay and a synthetic test pattern."""

from cameras.source import (
    CameraDisconnected,
    CameraError,
    CameraRejected,
    CameraUnreachable,
    PacketSource,
)

__all__ = [
    "CameraDisconnected",
    "CameraError",
    "CameraRejected",
    "CameraUnreachable",
    "PacketSource",
]
