"""ONVIF probing against a faithful fake device (tests/onvif_device.py) and a real RTSP camera."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import cv2
import numpy as np
import pytest
from aiohttp import web

from cameras.onvif import (
    OnvifAuthError,
    OnvifDevice,
    OnvifNotSupported,
    OnvifUnreachable,
    ProfileInfo,
    choose_profiles,
    stream_url_with_credentials,
    strip_credentials,
)
from cameras.source import CameraRejected, CameraUnreachable
from tests.cameras import CameraFactory, ProbeError
from tests.cameras import probe as ffprobe
from tests.onvif_device import HOST, DevicePool, FakeProfile, OnvifDeviceServer

USER = "operator"
# A canary: it must never show up in an exception's text or repr.
PASSWORD = "Canary-Pw:4@7/x%"


@pytest.fixture
async def devices() -> AsyncIterator[DevicePool]:
    pool = DevicePool()
    yield pool
    await pool.aclose()


async def _device(devices: DevicePool, **kwargs: object) -> OnvifDeviceServer:
    kwargs.setdefault("username", USER)
    kwargs.setdefault("password", PASSWORD)
    return await devices.device(**kwargs)


def _client(server: OnvifDeviceServer, password: str = PASSWORD, **kw: float) -> OnvifDevice:
    return OnvifDevice(HOST, server.port, USER, password, **kw)


async def test_probe_reports_identity_profiles_and_clean_stream_uri(devices: DevicePool) -> None:
    server = await _device(
        devices,
        stream_uri="rtsp://admin:hunter2@127.0.0.1:8554/live/main?channel=1&password=hunter2",
        serial="SN-TEST-777",
        model="Counter Cam 9",
    )
    async with _client(server) as dev:
        probe = await dev.probe()

    assert (probe.manufacturer, probe.model, probe.serial) == (
        "Surveil Test Cameras",
        "Counter Cam 9",
        "SN-TEST-777",
    )
    assert probe.firmware == server.firmware and probe.hardware_id == server.hardware_id
    assert [(p.token, p.encoding, p.width, p.height, p.fps) for p in probe.profiles] == [
        ("Profile_1", "H264", 1920, 1080, 25),
        ("Profile_2", "H264", 640, 360, 15),
    ]
    assert (probe.main_profile_token, probe.sub_profile_token) == ("Profile_1", "Profile_2")
    for p in probe.profiles:
        assert p.stream_uri == "rtsp://127.0.0.1:8554/live/main?channel=1"
        assert p.snapshot_uri == server.snapshot_url(p.token)
    # Asked for unicast RTP over RTSP (interleaved TCP), for every profile.
    assert server.stream_setups == [
        ("Profile_1", "RTP-Unicast", "RTSP"),
        ("Profile_2", "RTP-Unicast", "RTSP"),
    ]
    # The clock is read first and without credentials; nothing was refused.
    assert server.requests[0] == ("GetSystemDateAndTime", False)
    assert all(has_token for op, has_token in server.requests[1:])
    assert server.auth_failures == []
    assert probe.clock_offset_us is not None and abs(probe.clock_offset_us) < 1_000_000


async def test_main_profile_is_the_largest_whatever_the_order(devices: DevicePool) -> None:
    profiles = [
        FakeProfile("sub", "small", "H264", 640, 360, 15),
        FakeProfile("mjpeg", "big jpeg", "JPEG", 3840, 2160, 5),
        FakeProfile("main", "large", "H264", 2560, 1440, 25),
        FakeProfile("mid", "mid", "H265", 1280, 720, 20),
    ]
    server = await _device(devices, profiles=profiles)
    async with _client(server) as dev:
        probe = await dev.probe()
    # JPEG is not recordable, so the 4K MJPEG profile is neither main nor sub.
    assert (probe.main_profile_token, probe.sub_profile_token) == ("main", "sub")
    assert probe.main.width == 2560 and probe.sub is not None and probe.sub.height == 360
    assert probe.profile("mid").encoding == "H265"


async def test_main_profile_by_explicit_token(devices: DevicePool) -> None:
    server = await _device(devices)
    async with _client(server) as dev:
        probe = await dev.probe(profile_token="Profile_2")
        assert (probe.main_profile_token, probe.sub_profile_token) == ("Profile_2", "Profile_1")
        with pytest.raises(OnvifNotSupported, match="no profile 'nope'"):
            await dev.probe(profile_token="nope")


async def test_wrong_password_is_an_auth_error_without_the_password(devices: DevicePool) -> None:
    server = await _device(devices, password="the-right-one")
    async with _client(server, password=PASSWORD) as dev:
        with pytest.raises(OnvifAuthError) as info:
            await dev.probe()
    err = info.value
    assert isinstance(err, CameraRejected)
    assert PASSWORD not in str(err) and PASSWORD not in repr(err)
    assert "the-right-one" not in str(err)
    assert err.__cause__ is None and err.__suppress_context__  # no chained library error
    assert "user name or password" in str(err) and "\n" not in str(err)
    assert server.auth_failures and "wrong user name or password" in server.auth_failures[0]


@pytest.mark.parametrize("skew_s", [300.0, -180.0])
async def test_skewed_camera_clock(devices: DevicePool, skew_s: float) -> None:
    server = await _device(devices, clock_skew_s=skew_s)
    async with _client(server) as dev:
        probe = await dev.probe()
    assert probe.clock_offset_us is not None
    assert abs(probe.clock_offset_us - skew_s * 1_000_000) < 1_000_000
    assert probe.main_profile_token == "Profile_1"
    assert server.auth_failures == []


async def test_device_rejects_timestamps_off_its_own_clock(devices: DevicePool) -> None:
    """Control for the skew test: without the offset the fake device does refuse us."""
    from onvif import ONVIFCamera  # imported here: its import configures root logging
    from zeep.exceptions import Fault

    server = await _device(devices, clock_skew_s=300.0)
    cam = ONVIFCamera(HOST, server.port, USER, PASSWORD, no_cache=True, adjust_time=False)
    try:
        devicemgmt = await cam.create_devicemgmt_service()
        with pytest.raises(Fault, match="not Authorized"):
            await devicemgmt.GetDeviceInformation()
    finally:
        await cam.close()
    assert any("away from the device clock" in why for why in server.auth_failures)


async def test_closed_port_is_unreachable_quickly() -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        async with OnvifDevice(HOST, port, USER, PASSWORD, timeout_s=5.0) as dev:
            with pytest.raises(OnvifUnreachable, match="connection refused") as info:
                await dev.probe()
    assert time.monotonic() - started < 2.0
    assert isinstance(info.value, CameraUnreachable)


async def test_silent_server_times_out() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        async with OnvifDevice(HOST, port, USER, PASSWORD, timeout_s=0.5) as dev:
            with pytest.raises(OnvifUnreachable, match="timed out"):
                await dev.probe()
        assert time.monotonic() - started < 3.0
    finally:
        server.close()


async def _web_stub(status: int, body: str, content_type: str) -> tuple[web.AppRunner, int]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, "<html><body><h1>404 Not Found</h1></body></html>"),
        (404, "<html><body><p>broken<br></body></html>"),  # not even XML
        (200, "<!doctype html><html><body>Router admin</body></html>"),
        # Error pages are not refusals of our credentials, even asked with them.
        (400, "<html><head><title>400 Bad Request</title></head><body><hr></body></html>"),
        (500, "Internal Server Error"),
    ],
)
async def test_http_server_that_is_not_onvif(status: int, body: str) -> None:
    runner, port = await _web_stub(status, body, "text/html")
    try:
        async with OnvifDevice(HOST, port, USER, PASSWORD) as dev:
            with pytest.raises(OnvifNotSupported, match="not an ONVIF device") as info:
                await dev.probe()
        assert PASSWORD not in str(info.value)
    finally:
        await runner.cleanup()


async def test_snapshot_is_a_decodable_jpeg(devices: DevicePool) -> None:
    server = await _device(devices, snapshot_size=(96, 54))
    async with _client(server) as dev:
        data = await dev.snapshot()
    assert data[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[:2] == (54, 96)
    assert server.snapshots_served == 1


async def test_snapshot_with_a_changed_password_is_an_auth_error(devices: DevicePool) -> None:
    server = await _device(devices)
    async with _client(server) as dev:
        await dev.probe()
        server.password = "rotated-on-the-camera"
        with pytest.raises(OnvifAuthError) as info:
            await dev.snapshot("Profile_2")
    assert PASSWORD not in repr(info.value) and server.snapshots_served == 0


def test_stream_url_with_credentials_encodes_and_replaces() -> None:
    url = stream_url_with_credentials("rtsp://old:pw@10.0.0.5:554/Streaming/101", "ad min", "p@:/%")
    assert url == "rtsp://ad%20min:p%40%3A%2F%25@10.0.0.5:554/Streaming/101"
    assert stream_url_with_credentials("rtsp://[fe80::1]:554/s", "u", "p") == (
        "rtsp://u:p@[fe80::1]:554/s"
    )
    assert stream_url_with_credentials("rtsp://h/s", "", "") == "rtsp://h/s"
    assert strip_credentials("rtsp://u:p@h:1/s?user=u&pwd=p&ch=2") == "rtsp://h:1/s?ch=2"


def test_choose_profiles_ties_and_single_profile() -> None:
    def p(token: str, w: int, h: int) -> ProfileInfo:
        return ProfileInfo(token, token, "H264", w, h, None, f"rtsp://h/{token}", None)

    assert choose_profiles([p("a", 640, 480), p("b", 640, 480)]) == ("a", "b")
    assert choose_profiles([p("only", 1920, 1080)]) == ("only", None)


async def test_stream_uri_plays_on_a_real_rtsp_camera(
    devices: DevicePool, rtsp_camera: CameraFactory
) -> None:
    cam_password = "p@ss:w/rd 1"
    cam = rtsp_camera(audio="none", user=USER, password=cam_password, auth_method="digest")
    # The device hands out its URI with credentials embedded, as some cameras do.
    server = await _device(devices, stream_uri=cam.url)
    async with _client(server) as dev:
        probe = await dev.probe()
    uri = probe.main.stream_uri
    assert uri == cam.url_without_credentials and cam_password not in uri

    url = stream_url_with_credentials(uri, USER, cam_password)
    info = await asyncio.to_thread(ffprobe, url)
    assert info["video"] == "h264"
    with pytest.raises(ProbeError, match="401"):
        await asyncio.to_thread(ffprobe, uri)


# -- devices that want credentials even for the clock ------------------------------------

# auth_style values of the fake device whose clock needs a UsernameToken (tests/onvif_device.py).
GUARDED_CLOCK = ["not_authorized", "receiver", "http401"]


def _clock_requests(server: OnvifDeviceServer) -> list[bool]:
    """For each GetSystemDateAndTime the device saw: did it carry a UsernameToken?"""
    return [token for op, token in server.requests if op == "GetSystemDateAndTime"]


@pytest.mark.parametrize("style", GUARDED_CLOCK)
async def test_clock_behind_credentials_is_asked_again_with_them(
    devices: DevicePool, style: str
) -> None:
    server = await _device(devices, auth_style=style)
    async with _client(server) as dev:
        probe = await dev.probe()
    assert probe.serial == server.serial and probe.main_profile_token == "Profile_1"
    # Asked without credentials, refused, asked once with them (stamped with the host clock).
    assert _clock_requests(server) == [False, True]
    assert server.auth_failures == ["GetSystemDateAndTime: no UsernameToken"]
    assert probe.clock_offset_us is not None and abs(probe.clock_offset_us) < 1_000_000


@pytest.mark.parametrize("style", GUARDED_CLOCK)
async def test_wrong_password_on_a_guarded_clock_is_an_auth_error(
    devices: DevicePool, style: str
) -> None:
    server = await _device(devices, auth_style=style, password="the-right-one")
    async with _client(server) as dev:
        with pytest.raises(OnvifAuthError) as info:
            await dev.probe()
    err = info.value
    assert "user name or password" in str(err) and "\n" not in str(err)
    assert PASSWORD not in repr(err) and "the-right-one" not in repr(err)
    assert err.__cause__ is None and err.__suppress_context__
    # The device's Date agrees with the host: its refusal is about the password, not asked twice.
    assert _clock_requests(server) == [False, True]


@pytest.mark.parametrize(
    ("style", "skew_s"), [("not_authorized", 300.0), ("receiver", -180.0), ("http401", 3600.0)]
)
async def test_skewed_clock_behind_credentials_is_read_from_the_http_date(
    devices: DevicePool, style: str, skew_s: float
) -> None:
    server = await _device(devices, auth_style=style, clock_skew_s=skew_s)
    async with _client(server) as dev:
        probe = await dev.probe()
    # Stamped with the host clock, refused for its timestamp; stamped with the offset of the
    # refusal's HTTP Date, accepted. The offset is then measured from the reply itself.
    assert _clock_requests(server) == [False, True, True]
    assert "away from the device clock" in server.auth_failures[1]
    assert len(server.auth_failures) == 2
    assert probe.clock_offset_us is not None
    assert abs(probe.clock_offset_us - skew_s * 1_000_000) < 1_000_000
    assert probe.main_profile_token == "Profile_1"


async def test_small_skew_behind_credentials_is_measured_from_the_reply(
    devices: DevicePool,
) -> None:
    # Within the device's 5 s tolerance: the host-clock token is accepted at once.
    server = await _device(devices, auth_style="receiver", clock_skew_s=3.0)
    async with _client(server) as dev:
        probe = await dev.probe()
    assert _clock_requests(server) == [False, True]
    assert probe.clock_offset_us is not None
    assert abs(probe.clock_offset_us - 3_000_000) < 1_000_000
    assert server.auth_failures == ["GetSystemDateAndTime: no UsernameToken"]


async def test_skewed_guarded_clock_without_a_date_is_an_auth_error(devices: DevicePool) -> None:
    # Nothing tells us the device's time before we log in: we cannot tell skew from password.
    server = await _device(devices, auth_style="receiver", clock_skew_s=300.0, date_header=False)
    async with _client(server) as dev:
        with pytest.raises(OnvifAuthError, match="user name or password"):
            await dev.probe()
    assert _clock_requests(server) == [False, True]


async def test_wrong_password_on_a_skewed_guarded_clock_is_tried_once_more_only(
    devices: DevicePool,
) -> None:
    server = await _device(
        devices, auth_style="not_authorized", clock_skew_s=300.0, password="the-right-one"
    )
    async with _client(server) as dev:
        with pytest.raises(OnvifAuthError, match="user name or password") as info:
            await dev.probe()
    assert PASSWORD not in repr(info.value)
    # One retry in the device's time, then it is the password: lockouts count every try.
    assert _clock_requests(server) == [False, True, True]
    assert "wrong user name or password" in server.auth_failures[-1]
