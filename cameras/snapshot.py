"""One JPEG from a camera's RTSP stream, decoded on demand: the first keyframe only.

This is the optional, rate-limited decoding consumer the recording path never is: it opens
its own RTSP session (PyAV, TCP), decodes one keyframe and closes. It is blocking; run it in
a thread. Error messages are scrubbed of the URL's credentials.
"""

from __future__ import annotations

import time
from typing import Any

import av
import av.error
import cv2

from cameras.source import CameraError, CameraRejected, CameraUnreachable
from cameras.urls import scrub, url_secrets

JPEG_QUALITY = 85


class SnapshotError(CameraError):
    """The stream opened but gave no decodable keyframe in time."""


def keyframe_jpeg(url: str, timeout_s: float = 5.0) -> bytes:
    """JPEG bytes of the first decodable keyframe of url's video; CameraError on failure."""
    secrets = url_secrets(url)
    deadline = time.monotonic() + timeout_s
    try:
        container: Any = av.open(
            url,
            options={
                "rtsp_transport": "tcp",
                "timeout": str(int(timeout_s * 1_000_000)),
                "analyzeduration": "1000000",
                "probesize": "1000000",
            },
        )
    except (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError) as exc:
        raise CameraRejected(f"camera refused the stream: {scrub(str(exc), secrets)}") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise CameraUnreachable(f"cannot open stream: {scrub(str(exc), secrets)}") from None
    try:
        if not container.streams.video:
            raise SnapshotError("the stream has no video")
        video = container.streams.video[0]
        for packet in container.demux(video):
            if time.monotonic() > deadline:
                break
            if not packet.is_keyframe:
                continue
            for frame in packet.decode():
                image = frame.to_ndarray(format="bgr24")
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    return bytes(buf.tobytes())
        raise SnapshotError(f"no decodable keyframe within {timeout_s:g} s")
    except (av.error.FFmpegError, OSError) as exc:
        raise SnapshotError(f"stream broke: {scrub(str(exc), secrets)}") from None
    finally:
        container.close()
