"""WS-Discovery against a unicast responder on 127.0.0.1; nothing is sent off loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from cameras.discovery import DiscoveredDevice, discover, parse_probe_matches, parse_scopes
from cameras.onvif import OnvifDevice
from tests.onvif_device import HOST, DevicePool, DiscoveryResponder

SCOPES = [
    "onvif://www.onvif.org/type/video_encoder",
    "onvif://www.onvif.org/name/Counter%2012%20Cam",
    "onvif://www.onvif.org/hardware/DS-2CD2143",
    "onvif://www.onvif.org/location/country/china",
    "onvif://www.onvif.org/location/city/hangzhou",
    "http://example.invalid/not-onvif",
]


@pytest.fixture
async def pool() -> AsyncIterator[DevicePool]:
    p = DevicePool()
    yield p
    await p.aclose()


async def _discover(port: int, timeout_s: float = 0.5, **kw: object) -> list[DiscoveredDevice]:
    return await discover(
        timeout_s=timeout_s, target_host=HOST, target_port=port, bind_host=HOST, **kw
    )


async def test_discovers_the_responder_with_xaddrs_and_scopes(pool: DevicePool) -> None:
    xaddrs = ["http://127.0.0.1:8899/onvif/device_service", "http://[::1]:8899/onvif/x"]
    responder = await pool.responder(xaddrs, SCOPES)
    found = await _discover(responder.port)
    assert len(found) == 1  # the Probe goes out twice; the two answers are merged
    assert len(responder.probes) == 2 and len(set(responder.probes)) == 1
    dev = found[0]
    assert dev.address == responder.endpoint
    assert dev.xaddrs == tuple(xaddrs)
    assert dev.scopes == tuple(SCOPES)
    assert (dev.name, dev.hardware) == ("Counter 12 Cam", "DS-2CD2143")
    assert dev.location == "country/china, city/hangzhou"
    assert dev.sender == HOST
    assert "dn:NetworkVideoTransmitter" in dev.types


async def test_no_responder_returns_empty_after_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))  # bound but never read: nobody answers
        started = time.monotonic()
        found = await _discover(s.getsockname()[1], timeout_s=0.4)
    elapsed = time.monotonic() - started
    assert found == []
    assert 0.35 <= elapsed < 1.5


async def test_probe_types_are_matched_by_the_device(pool: DevicePool) -> None:
    responder = await pool.responder(["http://127.0.0.1:1/onvif/device_service"])
    assert len(await _discover(responder.port, types=("tds:Device",))) == 1
    assert await _discover(responder.port, timeout_s=0.3, types=("tds:Printer",)) == []


async def test_two_devices_are_two_results(pool: DevicePool) -> None:
    a = await pool.responder(["http://127.0.0.1:1/a"])
    b = await pool.responder(["http://127.0.0.1:2/b"])
    found = await _discover(a.port) + await _discover(b.port)
    assert {d.address for d in found} == {a.endpoint, b.endpoint}


def test_replies_to_someone_elses_probe_or_with_a_doctype_are_ignored() -> None:
    responder = DiscoveryResponder(["http://127.0.0.1:1/x"], SCOPES)
    reply = responder._probe_matches("urn:uuid:ours")
    assert len(parse_probe_matches(reply, "urn:uuid:ours", HOST)) == 1
    assert parse_probe_matches(reply, "urn:uuid:theirs", HOST) == []
    evil = reply.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaa">]>', 1)
    assert parse_probe_matches(evil, "urn:uuid:ours", HOST) == []
    assert parse_probe_matches(b"not xml", "urn:uuid:ours", HOST) == []


def test_parse_scopes_without_onvif_scopes() -> None:
    assert parse_scopes(("http://example.invalid/x",)) == (None, None, None)


async def test_discovered_xaddr_probes_as_an_onvif_device(pool: DevicePool) -> None:
    server = await pool.device(username="u", password="pw")
    responder = await pool.responder([server.device_url], server.scopes)
    (found,) = await _discover(responder.port)
    assert found.hardware == server.model
    xaddr = urlsplit(found.xaddrs[0])
    assert xaddr.hostname and xaddr.port
    async with OnvifDevice(xaddr.hostname, xaddr.port, "u", "pw") as dev:
        probe = await dev.probe()
    assert probe.serial == server.serial
