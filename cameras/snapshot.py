"""One JPEG from a camera's RTSP stream, decoded on demand: the first keyframe only.

This is the optional, rate-limited decoding consumer the recording path never is: it opens
its own RTSP session (PyAV, TCP), decodes one keyframe and closes. It is blocking; run it in
a thread. Error messages are scrubbed of the URL's credentials.

A ``synthetic:`` URL (the built-in test pattern) has no stream to open: its own source
encodes a keyframe, which is decoded the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import av
import av.error
import cv2

from cameras.rtsp import check_rtsp_server
from cameras.source import CameraDisconnected, CameraError, CameraRejected, CameraUnreachable
from cameras.synthetic import SCHEME as SYNTHETIC_SCHEME
from cameras.synthetic import SyntheticSource, synthetic_label
from cameras.urls import scrub, url_secrets

JPEG_QUALITY = 85


class SnapshotError(CameraError):
    """The stream opened but gave no decodable keyframe in time."""

    code: ClassVar[str] = "camera_error"


def _jpeg(frame: Any) -> bytes | None:
    image = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return bytes(buf.tobytes()) if ok else None


def keyframe_jpeg(url: str, timeout_s: float = 5.0, counters: Sequence[str] = ()) -> bytes:
    """JPEG bytes of the first decodable keyframe of url's video; CameraError on failure.

    counters: the camera's counter codes, which name a ``synthetic:`` camera without a label.
    """
    if url.startswith(SYNTHETIC_SCHEME):
        return synthetic_jpeg(synthetic_label(url, counters))
    secrets = url_secrets(url)
    deadline = time.monotonic() + timeout_s
    # A silent or non-RTSP server would keep FFmpeg reading; ask it once, as recording does.
    check_rtsp_server(url, timeout_s)
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
                jpeg = _jpeg(frame)
                if jpeg is not None:
                    return jpeg
        raise SnapshotError(f"no decodable keyframe within {timeout_s:g} s")
    except (av.error.FFmpegError, OSError) as exc:
        raise SnapshotError(f"stream broke: {scrub(str(exc), secrets)}") from None
    finally:
        container.close()


def synthetic_jpeg(label: str) -> bytes:
    """JPEG of the test pattern's first keyframe, as the synthetic source encodes it for the
    recorder (same size and picture), decoded with H.264 like a camera's keyframe."""
    source = SyntheticSource(label, realtime=False, max_frames=1)
    try:
        (stream,) = source.open()
        # The source encodes with libx264; its packets carry no decoder, so make one.
        decoder: Any = av.CodecContext.create("h264", "r")
        decoder.extradata = stream.codec_context.extradata
        try:
            for packet in source.packets():
                if not packet.is_keyframe:
                    continue
                for frame in [*decoder.decode(packet), *decoder.decode(None)]:
                    jpeg = _jpeg(frame)
                    if jpeg is not None:
                        return jpeg
        except CameraDisconnected:
            pass  # the one-frame source has ended
        raise SnapshotError(f"the synthetic source {label!r} gave no decodable keyframe")
    except av.error.FFmpegError as exc:
        raise SnapshotError(f"synthetic source {label!r}: {exc}") from None
    finally:
        source.close()
