"""A live snapshot of the built-in synthetic camera: a real JPEG of its test pattern."""

from __future__ import annotations

import cv2
import numpy as np

from cameras.snapshot import keyframe_jpeg
from tests.test_cameras_api import ApiFactory, api  # noqa: F401


def _image(data: bytes) -> np.ndarray:
    assert data[:2] == b"\xff\xd8", data[:20]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _is_the_test_pattern(image: np.ndarray) -> bool:
    """Grey (40, 40, 40) background with the orange (BGR 0, 160, 255) moving box."""
    background = np.median(image.reshape(-1, 3), axis=0)
    orange = np.all(np.abs(image.astype(int) - (0, 160, 255)) < 40, axis=2)
    return bool(np.all(np.abs(background - 40) < 12) and orange.sum() > 200)


def test_keyframe_jpeg_of_a_synthetic_url() -> None:
    image = _image(keyframe_jpeg("synthetic:B07", timeout_s=5.0))
    assert image.shape[:2] == (180, 320)
    assert _is_the_test_pattern(image)


def _label_band(image: np.ndarray) -> np.ndarray:
    """The "counter LABEL  #0" line of the first frame (the clock line above it moves)."""
    return image[34:58].astype(int)


async def test_snapshot_of_a_config_file_synthetic_camera(api: ApiFactory) -> None:  # noqa: F811
    a = await api()  # cfgcam is "synthetic:" on counter A02
    status, data = await a.call("GET", "/api/v1/cameras/cfgcam/snapshot")
    assert status == 200, data
    image = _image(data)
    assert image.shape[:2] == (180, 320)
    assert _is_the_test_pattern(image)
    # An empty label is the first counter's code, as for the recorded stream.
    band = _label_band(image)
    a02 = _label_band(_image(keyframe_jpeg("synthetic:A02")))
    a01 = _label_band(_image(keyframe_jpeg("synthetic:A01")))
    assert np.abs(band - a02).mean() < 0.5 < np.abs(band - a01).mean()
    # A live picture of a counter is an access to footage: audited, with its source.
    (row,) = [r for r in await a.audit() if r.action == "camera.snapshot"]
    assert row.target == "cfgcam" and row.actor == "a" and row.actor_kind == "token"
    assert row.detail == {"cameras": ["cfgcam"], "source": "keyframe"}
