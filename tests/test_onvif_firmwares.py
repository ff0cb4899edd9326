"""Adding a camera through the API against each way ONVIF firmwares guard their clock
(tests/onvif_device.py AUTH_STYLES), with the right and a wrong password."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.onvif_device import AUTH_STYLES
from tests.test_cameras_api import ONVIF_PASSWORD, WRONG, ApiFactory, api  # noqa: F401

pytest_plugins = ["tests.onvif_device"]


@pytest.mark.parametrize("style", sorted(AUTH_STYLES))
async def test_add_camera_against_each_clock_guard(
    api: ApiFactory,  # noqa: F811
    onvif_device: Any,
    style: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dev = await onvif_device(username="admin", password=ONVIF_PASSWORD, auth_style=style)
    a = await api()
    onvif = {"host": "127.0.0.1", "port": dev.port, "username": "admin", "password": WRONG}
    # Disabled: only the probe matters here, not recording from the device's stream URI.
    camera = {"name": "fw1", "onvif": onvif, "enabled": False}

    status, body = await a.call("POST", "/api/v1/cameras", camera)
    assert status == 422, body
    assert body["error"]["code"] == "onvif_auth_failed"
    assert "user name or password" in body["error"]["message"]

    onvif["password"] = ONVIF_PASSWORD
    status, body = await a.call("POST", "/api/v1/cameras", camera)
    assert status == 201, body
    assert body["device"]["model"] == dev.model and body["device"]["main_profile"] == "Profile_1"
    assert body["has_password"] is True
    assert abs(body["clock_offset_s"]) < 1.0

    everything = "\n".join(a.bodies) + caplog.text
    assert ONVIF_PASSWORD not in everything and WRONG not in everything


async def test_add_camera_with_a_skewed_clock_behind_credentials(
    api: ApiFactory,  # noqa: F811
    onvif_device: Any,
) -> None:
    dev = await onvif_device(
        username="admin", password=ONVIF_PASSWORD, auth_style="receiver", clock_skew_s=-240.0
    )
    a = await api()
    onvif = {"host": "127.0.0.1", "port": dev.port, "username": "admin", "password": ONVIF_PASSWORD}
    status, body = await a.call(
        "POST", "/api/v1/cameras", {"name": "fw2", "onvif": onvif, "enabled": False}
    )
    assert status == 201, body
    assert -241.0 <= body["clock_offset_s"] <= -239.0, body
