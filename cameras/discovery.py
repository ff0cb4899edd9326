"""WS-Discovery: find ONVIF cameras by sending a SOAP-over-UDP Probe and reading ProbeMatches.

A small client on the standard library (an asyncio datagram endpoint and xml.etree), not
the ``WSDiscovery`` package from PyPI: that package is a threaded, blocking implementation
built around joining the multicast group on every local interface, which is the wrong shape
for an asyncio service and would make tests send traffic off the loopback interface. Here
the target and the local bind address are parameters: production probes the multicast group
239.255.255.250:3702 (WS-Discovery 2005/04, which ONVIF uses); tests probe a responder on
127.0.0.1 by unicast and nothing leaves the machine.

Only replies whose ``RelatesTo`` names our Probe are accepted, duplicates (the Probe is
sent twice, as SOAP-over-UDP recommends) are merged by endpoint address, and datagrams with
a DOCTYPE are dropped unparsed (no entity expansion from the network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

logger = logging.getLogger(__name__)

MULTICAST_HOST = "239.255.255.250"
MULTICAST_PORT = 3702
DEFAULT_TYPES = ("dn:NetworkVideoTransmitter",)
ONVIF_SCOPE_PREFIX = "onvif://www.onvif.org/"
MAX_DATAGRAM = 65535

_NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
PROBE_ACTION = _NS["d"] + "/Probe"
PROBE_MATCHES_ACTION = _NS["d"] + "/ProbeMatches"


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """One ProbeMatch. name/hardware/location come from the onvif:// scopes."""

    address: str  # EndpointReference address, usually urn:uuid:…; stable per device
    xaddrs: tuple[str, ...]  # device service URLs
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    sender: str  # IP address the reply came from
    name: str | None
    hardware: str | None
    location: str | None


def build_probe(message_id: str, types: tuple[str, ...] = DEFAULT_TYPES) -> bytes:
    """The Probe envelope for the given types (prefixes dn: and tds: are declared)."""
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in _NS.items())
    type_list = escape(" ".join(types))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f"<s:Envelope {ns}><s:Header>"
        f'<a:Action s:mustUnderstand="1">{PROBE_ACTION}</a:Action>'
        f"<a:MessageID>{escape(message_id)}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{_NS['a']}/role/anonymous</a:Address></a:ReplyTo>"
        f'<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        f"</s:Header><s:Body><d:Probe><d:Types>{type_list}</d:Types></d:Probe></s:Body>"
        f"</s:Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    """First direct child with this local name, whatever its namespace (versions vary)."""
    for c in elem:
        if _local(c.tag) == name:
            return c
    return None


def _words(elem: ET.Element | None) -> tuple[str, ...]:
    return tuple((elem.text or "").split()) if elem is not None else ()


def parse_scopes(scopes: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    """(name, hardware, location) from onvif://www.onvif.org/{name,hardware,location}/… scopes.

    Values are percent-decoded; several location scopes are joined with ", ".
    """
    found: dict[str, list[str]] = {"name": [], "hardware": [], "location": []}
    for scope in scopes:
        if not scope.lower().startswith(ONVIF_SCOPE_PREFIX):
            continue
        kind, _, value = scope[len(ONVIF_SCOPE_PREFIX) :].partition("/")
        if kind.lower() in found and value:
            found[kind.lower()].append(unquote(value))
    name = found["name"][0] if found["name"] else None
    hardware = found["hardware"][0] if found["hardware"] else None
    location = ", ".join(found["location"]) or None
    return name, hardware, location


def parse_probe_matches(data: bytes, relates_to: str, sender: str) -> list[DiscoveredDevice]:
    """The devices in a ProbeMatches datagram answering relates_to; [] for anything else."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return []
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    header, body = _child(root, "Header"), _child(root, "Body")
    if header is None or body is None:
        return []
    relates = _child(header, "RelatesTo")
    if relates is None or (relates.text or "").strip() != relates_to:
        return []
    matches = _child(body, "ProbeMatches")
    if matches is None:
        return []
    out: list[DiscoveredDevice] = []
    for match in matches:
        if _local(match.tag) != "ProbeMatch":
            continue
        epr = _child(match, "EndpointReference")
        addr = _child(epr, "Address") if epr is not None else None
        address = (addr.text or "").strip() if addr is not None else ""
        xaddrs = _words(_child(match, "XAddrs"))
        if not address and not xaddrs:
            continue
        scopes = _words(_child(match, "Scopes"))
        name, hardware, location = parse_scopes(scopes)
        out.append(
            DiscoveredDevice(
                address=address or xaddrs[0],
                xaddrs=xaddrs,
                types=_words(_child(match, "Types")),
                scopes=scopes,
                sender=sender,
                name=name,
                hardware=hardware,
                location=location,
            )
        )
    return out


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.devices: dict[str, DiscoveredDevice] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        for device in parse_probe_matches(data, self.message_id, str(addr[0])):
            self.devices.setdefault(device.address, device)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for a unicast probe, for instance: nobody answers.
        logger.debug("ws-discovery: %s", exc)


async def discover(
    *,
    timeout_s: float = 3.0,
    target_host: str = MULTICAST_HOST,
    target_port: int = MULTICAST_PORT,
    bind_host: str = "0.0.0.0",
    bind_port: int = 0,
    types: tuple[str, ...] = DEFAULT_TYPES,
    repeat: int = 2,
) -> list[DiscoveredDevice]:
    """Probe target_host:target_port from bind_host:bind_port and collect ProbeMatches for
    timeout_s. Returns the devices in order of first reply; [] if nobody answered.

    For a multicast target, outgoing packets use the interface of bind_host (when it is not
    0.0.0.0) with TTL 1, so a probe never leaves the local network segment.
    """
    loop = asyncio.get_running_loop()
    message_id = f"urn:uuid:{uuid.uuid4()}"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setblocking(False)
        sock.bind((bind_host, bind_port))
        if _is_multicast(target_host):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            if bind_host not in ("", "0.0.0.0"):
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bind_host)
                )
    except BaseException:
        sock.close()
        raise
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Collector(message_id), sock=sock
    )
    try:
        probe = build_probe(message_id, types)
        gap_s = min(0.1, timeout_s / 4)
        for i in range(max(1, repeat)):
            if i:
                await asyncio.sleep(gap_s)
            transport.sendto(probe, (target_host, target_port))
        await asyncio.sleep(max(0.0, timeout_s - gap_s * (max(1, repeat) - 1)))
    finally:
        transport.close()
    return list(protocol.devices.values())


def _is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False
