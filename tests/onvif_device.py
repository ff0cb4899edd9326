"""A faithful ONVIF device for tests, bound to 127.0.0.1 only.

- ``OnvifDeviceServer``: an aiohttp server speaking SOAP 1.2 like a camera does.
  ``/onvif/device_service`` answers GetSystemDateAndTime (no authentication, UTC shifted by
  ``clock_skew_s``), GetDeviceInformation, GetCapabilities, GetServices and GetScopes;
  ``/onvif/media_service`` answers GetProfiles, GetStreamUri and GetSnapshotUri. Every other
  request needs a WS-Security UsernameToken whose PasswordDigest is
  Base64(SHA-1(nonce + created + password)), whose nonce is fresh and whose Created is within
  ``max_token_age_s`` of the *device's* clock; otherwise the reply is what real devices send:
  HTTP 400 with the SOAP fault env:Sender / ter:NotAuthorized. ``auth_style`` makes it behave
  like firmwares that want a token even for the clock, and refuse in their own way (see
  AUTH_STYLES). Every HTTP reply carries a ``Date`` in the device's clock, as a camera's web
  server does (``date_header=False``: none). ``/onvif/snapshot`` serves a real JPEG (made with
  OpenCV) behind HTTP Digest authentication (MD5, qop=auth).
- ``DiscoveryResponder``: a UDP WS-Discovery responder on 127.0.0.1 that answers a unicast
  Probe with ProbeMatches. It never joins a multicast group.

Message shapes follow the WSDLs bundled with onvif-zeep-async (devicemgmt.wsdl, media.wsdl,
onvif.xsd), since that is what the client validates against.

Fixtures (register with ``pytest_plugins = ["tests.onvif_device"]``): ``onvif_device``,
an async factory ``await onvif_device(password=..., clock_skew_s=..., ...)`` returning a
started server, and ``discovery_responder``, an async factory
``await discovery_responder(xaddrs=[...], scopes=[...])``. Both stop everything at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import io
import re
import secrets
import socket
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import cv2
import numpy as np
import pytest
from aiohttp import web

HOST = "127.0.0.1"

ENV = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN = "http://www.onvif.org/ver10/network/wsdl"
SOAP_CT = "application/soap+xml; charset=utf-8"
# Operations any client may call (ONVIF access class PRE_AUTH, as cameras implement it).
PRE_AUTH = frozenset({"GetSystemDateAndTime"})
# How a device guards its operations, as real firmwares differ (the value of auth_style):
AUTH_STYLES = {
    # The ONVIF core spec: anyone may read the clock; a refusal is HTTP 400 with the SOAP fault
    # env:Sender / ter:NotAuthorized.
    "onvif": "clock open, refusals are env:Sender/ter:NotAuthorized",
    # A token even for the clock; refusals as the spec says.
    "not_authorized": "clock needs a token, refusals are env:Sender/ter:NotAuthorized",
    # A token even for the clock; a refusal is HTTP 500 with env:Receiver and no subcode,
    # reason "Sender not authorized" (seen from a third-party device service).
    "receiver": "clock needs a token, refusals are env:Receiver without a subcode",
    # A token even for the clock; a refusal is an HTTP 401 HTML page with a Digest challenge.
    "http401": "clock needs a token, refusals are HTTP 401 pages",
}


@dataclass(frozen=True)
class FakeProfile:
    """One media profile of the fake device."""

    token: str
    name: str
    encoding: str = "H264"
    width: int = 1920
    height: int = 1080
    fps: int = 25
    bitrate_kbps: int = 4096


DEFAULT_PROFILES = (
    FakeProfile("Profile_1", "mainStream", "H264", 1920, 1080, 25, 4096),
    FakeProfile("Profile_2", "subStream", "H264", 640, 360, 15, 512),
)


def make_jpeg(width: int = 160, height: int = 90) -> bytes:
    """A small real JPEG: a gradient with a white box."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    img = np.dstack([np.tile(x, (height, 1))] * 3)
    cv2.rectangle(img, (width // 4, height // 4), (width // 2, height // 2), (255, 255, 255), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def free_tcp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, status: int) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.status = code, subcode, reason, status


def _t(tag: str, value: object) -> str:
    return f"<tt:{tag}>{escape(str(value))}</tt:{tag}>"


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _datetime(when: dt.datetime) -> str:
    return (
        f"<tt:Time>{_t('Hour', when.hour)}{_t('Minute', when.minute)}{_t('Second', when.second)}"
        f"</tt:Time><tt:Date>{_t('Year', when.year)}{_t('Month', when.month)}"
        f"{_t('Day', when.day)}</tt:Date>"
    )


def envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{ENV}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" '
        f'xmlns:tt="{TT}" xmlns:ter="{TER}"><env:Header/><env:Body>{body}</env:Body>'
        "</env:Envelope>"
    )


def fault_envelope(code: str, subcode: str, reason: str) -> str:
    return envelope(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value>"
        f"<env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )


def parse_created(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class OnvifDeviceServer:
    """An ONVIF camera's device and media services on 127.0.0.1:<free port>.

    Mutable while running: ``clock_skew_s``, ``password``, ``auth_style``, ``date_header``.
    Observable: ``calls``
    (operations served, in order), ``requests`` ((operation, carried a UsernameToken) for
    every known operation asked), ``auth_failures`` (why requests were refused),
    ``stream_setups`` (StreamSetup of each GetStreamUri), ``snapshots_served``.
    """

    def __init__(
        self,
        username: str = "admin",
        password: str = "secret",
        stream_uri: str = "rtsp://127.0.0.1:8554/stream",
        *,
        clock_skew_s: float = 0.0,
        profiles: Sequence[FakeProfile] = DEFAULT_PROFILES,
        stream_uris: Mapping[str, str] | None = None,
        manufacturer: str = "Surveil Test Cameras",
        model: str = "FakeCam FC-1080",
        firmware: str = "V5.7.3 build 240101",
        serial: str = "FC1080-0001-ABCD",
        hardware_id: str = "FC-HW-42",
        scopes: Sequence[str] | None = None,
        max_token_age_s: float = 5.0,
        snapshot_size: tuple[int, int] = (160, 90),
        auth_style: str = "onvif",
        date_header: bool = True,
    ) -> None:
        if auth_style not in AUTH_STYLES:
            raise ValueError(f"auth_style must be one of {sorted(AUTH_STYLES)}")
        self.auth_style = auth_style
        self.date_header = date_header
        self.username = username
        self.password = password
        self.stream_uri = stream_uri
        self.stream_uris = dict(stream_uris or {})
        self.clock_skew_s = clock_skew_s
        self.profiles = list(profiles)
        self.manufacturer, self.model, self.firmware = manufacturer, model, firmware
        self.serial, self.hardware_id = serial, hardware_id
        self.scopes = list(
            scopes
            if scopes is not None
            else [
                "onvif://www.onvif.org/type/video_encoder",
                "onvif://www.onvif.org/Profile/Streaming",
                f"onvif://www.onvif.org/hardware/{quote(model)}",
                f"onvif://www.onvif.org/name/{quote(manufacturer)}",
                "onvif://www.onvif.org/location/country/china",
            ]
        )
        self.max_token_age_s = max_token_age_s
        self.jpeg = make_jpeg(*snapshot_size)
        self.realm = "FakeCam"
        self.calls: list[str] = []
        self.requests: list[tuple[str, bool]] = []
        self.auth_failures: list[str] = []
        self.stream_setups: list[tuple[str, str, str]] = []
        self.snapshots_served = 0
        self._nonces: set[bytes] = set()
        self._digest_nonces: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> OnvifDeviceServer:
        app = web.Application()
        app.on_response_prepare.append(self._stamp_date)
        app.router.add_post("/onvif/device_service", self._device_service)
        app.router.add_post("/onvif/media_service", self._media_service)
        app.router.add_get("/onvif/snapshot", self._snapshot)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = free_tcp_socket()
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OnvifDeviceServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/onvif/device_service"

    @property
    def media_url(self) -> str:
        return f"{self.base_url}/onvif/media_service"

    def snapshot_url(self, token: str) -> str:
        return f"{self.base_url}/onvif/snapshot?profile={quote(token)}"

    def now(self) -> dt.datetime:
        """The device's clock: the host's UTC time plus clock_skew_s."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_skew_s)

    async def _stamp_date(self, request: web.Request, response: web.StreamResponse) -> None:
        # aiohttp has set Date from the host clock by now; a camera's server uses its own.
        if self.date_header:
            response.headers["Date"] = email.utils.format_datetime(self.now(), usegmt=True)
        else:
            response.headers.popall("Date", None)

    # -- SOAP -----------------------------------------------------------------------------

    async def _device_service(self, request: web.Request) -> web.Response:
        return await self._soap(request, TDS, self._device_ops)

    async def _media_service(self, request: web.Request) -> web.Response:
        return await self._soap(request, TRT, self._media_ops)

    @property
    def _device_ops(self) -> dict[str, Callable[[ET.Element], str]]:
        return {
            "GetSystemDateAndTime": self._get_system_date_and_time,
            "GetDeviceInformation": self._get_device_information,
            "GetCapabilities": self._get_capabilities,
            "GetServices": self._get_services,
            "GetScopes": self._get_scopes,
        }

    @property
    def _media_ops(self) -> dict[str, Callable[[ET.Element], str]]:
        return {
            "GetProfiles": self._get_profiles,
            "GetStreamUri": self._get_stream_uri,
            "GetSnapshotUri": self._get_snapshot_uri,
        }

    async def _soap(
        self, request: web.Request, ns: str, ops: Mapping[str, Callable[[ET.Element], str]]
    ) -> web.Response:
        try:
            root = ET.fromstring(await request.read())
            header = root.find(f"{{{ENV}}}Header")
            body = root.find(f"{{{ENV}}}Body")
            if root.tag != f"{{{ENV}}}Envelope" or body is None or len(body) == 0:
                raise SoapFault("env:Sender", "ter:WellFormed", "Not a SOAP 1.2 envelope", 400)
            op = body[0]
            op_ns, _, name = op.tag[1:].partition("}")
            handler = ops.get(name) if op_ns == ns else None
            if handler is None:
                raise SoapFault(
                    "env:Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented", 500
                )
            has_token = (
                header is not None and header.find(f".//{{{WSSE}}}UsernameToken") is not None
            )
            self.requests.append((name, has_token))
            if name not in PRE_AUTH or self.auth_style != "onvif":
                why = self._check_username_token(header)
                if why is not None:
                    self.auth_failures.append(f"{name}: {why}")
                    return self._refusal()
            reply = handler(op)
        except ET.ParseError:
            return self._fault(SoapFault("env:Sender", "ter:WellFormed", "Not well-formed", 400))
        except SoapFault as fault:
            return self._fault(fault)
        self.calls.append(name)
        return web.Response(text=envelope(reply), content_type=None, headers=_soap_headers())

    @staticmethod
    def _fault(fault: SoapFault) -> web.Response:
        text = fault_envelope(fault.code, fault.subcode, fault.reason)
        return web.Response(status=fault.status, text=text, headers=_soap_headers())

    def _refusal(self) -> web.Response:
        """What this device answers a request without a valid token (see AUTH_STYLES)."""
        if self.auth_style == "receiver":
            text = envelope(
                "<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code>"
                '<env:Reason><env:Text xml:lang="en">Sender not authorized</env:Text>'
                "</env:Reason></env:Fault>"
            )
            return web.Response(status=500, text=text, headers=_soap_headers())
        if self.auth_style == "http401":
            challenge = f'Digest realm="{self.realm}", qop="auth", nonce="{secrets.token_hex(16)}"'
            return web.Response(
                status=401,
                text="<html><head><title>401 Unauthorized</title></head>"
                "<body><h1>401 Unauthorized</h1></body></html>",
                content_type="text/html",
                headers={"WWW-Authenticate": challenge},
            )
        return self._fault(
            SoapFault("env:Sender", "ter:NotAuthorized", "Sender not Authorized", 400)
        )

    def _check_username_token(self, header: ET.Element | None) -> str | None:
        """None if the UsernameToken is valid, else why not."""
        token = (
            None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        )
        if token is None:
            return "no UsernameToken"
        username = token.findtext(f"{{{WSSE}}}Username") or ""
        password = token.find(f"{{{WSSE}}}Password")
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if password is None or nonce_text is None or created is None:
            return "incomplete UsernameToken"
        if not password.get("Type", "").endswith("#PasswordDigest"):
            return "password is not a digest"
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
            when = parse_created(created)
        except ValueError:
            return "malformed nonce or Created"
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.strip().encode() + self.password.encode()).digest()
        ).decode()
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        if not (user_ok and hmac.compare_digest(expected, (password.text or "").strip())):
            return "wrong user name or password"
        skew = abs((when - self.now()).total_seconds())
        if skew > self.max_token_age_s:
            return f"Created is {skew:.1f} s away from the device clock"
        if nonce in self._nonces:
            return "nonce replayed"
        self._nonces.add(nonce)
        return None

    # device service

    def _get_system_date_and_time(self, op: ET.Element) -> str:
        utc = self.now()
        local = utc + dt.timedelta(hours=8)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{_datetime(utc)}</tt:UTCDateTime>"
            f"<tt:LocalDateTime>{_datetime(local)}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _get_device_information(self, op: ET.Element) -> str:
        def tds(tag: str, v: str) -> str:
            return f"<tds:{tag}>{escape(v)}</tds:{tag}>"

        return (
            "<tds:GetDeviceInformationResponse>"
            f"{tds('Manufacturer', self.manufacturer)}{tds('Model', self.model)}"
            f"{tds('FirmwareVersion', self.firmware)}{tds('SerialNumber', self.serial)}"
            f"{tds('HardwareId', self.hardware_id)}</tds:GetDeviceInformationResponse>"
        )

    def _get_capabilities(self, op: ET.Element) -> str:
        categories = {c.text or "" for c in op if c.tag == f"{{{TDS}}}Category"} or {"All"}
        parts = []
        if categories & {"All", "Device"}:
            parts.append(
                f"<tt:Device>{_t('XAddr', self.device_url)}<tt:Network>"
                "<tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
                "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
                "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve>"
                "<tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery>"
                "<tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging>"
                "<tt:FirmwareUpgrade>false</tt:FirmwareUpgrade><tt:SupportedVersions>"
                "<tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>"
                "</tt:Device>"
            )
        if categories & {"All", "Media"}:
            parts.append(
                f"<tt:Media>{_t('XAddr', self.media_url)}<tt:StreamingCapabilities>"
                "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
                "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            )
        if not parts:
            raise SoapFault("env:Receiver", "ter:ActionNotSupported", "No such capability", 500)
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            + "".join(parts)
            + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _get_services(self, op: ET.Element) -> str:
        def service(ns: str, xaddr: str) -> str:
            return (
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace>"
                f"<tds:XAddr>{escape(xaddr)}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
                "</tds:Service>"
            )

        return (
            "<tds:GetServicesResponse>"
            f"{service(TDS, self.device_url)}{service(TRT, self.media_url)}"
            "</tds:GetServicesResponse>"
        )

    def _get_scopes(self, op: ET.Element) -> str:
        items = "".join(
            f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef>{_t('ScopeItem', s)}</tds:Scopes>"
            for s in self.scopes
        )
        return f"<tds:GetScopesResponse>{items}</tds:GetScopesResponse>"

    # media service

    def _profile_xml(self, p: FakeProfile) -> str:
        h264 = (
            "<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
            if p.encoding == "H264"
            else ""
        )
        return (
            f'<trt:Profiles token={quoteattr(p.token)} fixed="true">{_t("Name", p.name)}'
            '<tt:VideoSourceConfiguration token="VideoSourceConfig_1">'
            "<tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>2</tt:UseCount>"
            "<tt:SourceToken>VideoSource_1</tt:SourceToken>"
            '<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>'
            f"<tt:VideoEncoderConfiguration token={quoteattr('VEC_' + p.token)}>"
            f"{_t('Name', 'VideoEncoder_' + p.token)}<tt:UseCount>1</tt:UseCount>"
            f"{_t('Encoding', p.encoding)}"
            f"<tt:Resolution>{_t('Width', p.width)}{_t('Height', p.height)}</tt:Resolution>"
            "<tt:Quality>4</tt:Quality>"
            f"<tt:RateControl>{_t('FrameRateLimit', p.fps)}<tt:EncodingInterval>1"
            f"</tt:EncodingInterval>{_t('BitrateLimit', p.bitrate_kbps)}</tt:RateControl>"
            f"{h264}<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
            "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
            "<tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
            "</trt:Profiles>"
        )

    def _get_profiles(self, op: ET.Element) -> str:
        body = "".join(self._profile_xml(p) for p in self.profiles)
        return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"

    def _profile(self, op: ET.Element) -> FakeProfile:
        token = (op.findtext(f"{{{TRT}}}ProfileToken") or "").strip()
        for p in self.profiles:
            if p.token == token:
                return p
        raise SoapFault("env:Sender", "ter:InvalidArgVal", "No such profile", 400)

    @staticmethod
    def _media_uri(uri: str) -> str:
        return (
            f"<trt:MediaUri>{_t('Uri', uri)}<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>"
        )

    def _get_stream_uri(self, op: ET.Element) -> str:
        profile = self._profile(op)
        stream = op.findtext(f"{{{TRT}}}StreamSetup/{{{TT}}}Stream") or ""
        protocol = op.findtext(f"{{{TRT}}}StreamSetup/{{{TT}}}Transport/{{{TT}}}Protocol") or ""
        self.stream_setups.append((profile.token, stream, protocol))
        uri = self.stream_uris.get(profile.token, self.stream_uri)
        return f"<trt:GetStreamUriResponse>{self._media_uri(uri)}</trt:GetStreamUriResponse>"

    def _get_snapshot_uri(self, op: ET.Element) -> str:
        uri = self.snapshot_url(self._profile(op).token)
        return f"<trt:GetSnapshotUriResponse>{self._media_uri(uri)}</trt:GetSnapshotUriResponse>"

    # -- snapshot over HTTP Digest --------------------------------------------------------

    async def _snapshot(self, request: web.Request) -> web.Response:
        if not self._digest_ok(request):
            nonce = secrets.token_hex(16)
            self._digest_nonces.add(nonce)
            challenge = (
                f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
                f'opaque="{secrets.token_hex(8)}", algorithm=MD5'
            )
            return web.Response(
                status=401, text="401 Unauthorized", headers={"WWW-Authenticate": challenge}
            )
        self.snapshots_served += 1
        return web.Response(body=self.jpeg, content_type="image/jpeg")

    def _digest_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = {
            k.lower(): v[1:-1] if v.startswith('"') else v
            for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]*)', header[7:])
        }
        if fields.get("nonce") not in self._digest_nonces or fields.get("uri") != request.path_qs:
            return False
        if fields.get("username") != self.username or fields.get("realm") != self.realm:
            return False

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = md5(f"{request.method}:{fields['uri']}")
        if fields.get("qop") == "auth":
            parts = [fields["nonce"], fields.get("nc", ""), fields.get("cnonce", ""), "auth"]
            expected = md5(":".join([ha1, *parts, ha2]))
        else:
            expected = md5(f"{ha1}:{fields['nonce']}:{ha2}")
        return hmac.compare_digest(expected, fields.get("response", ""))


def _soap_headers() -> dict[str, str]:
    return {"Content-Type": SOAP_CT}


# -- WS-Discovery -------------------------------------------------------------------------


def _parse_with_prefixes(data: bytes) -> tuple[ET.Element, dict[str, str]]:
    """The document and every prefix it declares (ElementTree drops them otherwise)."""
    prefixes: dict[str, str] = {}
    root: ET.Element | None = None
    for event, item in ET.iterparse(io.BytesIO(data), events=("start-ns", "start")):
        if event == "start-ns":
            prefix, uri = item
            prefixes.setdefault(prefix, uri)
        elif root is None:
            root = item
    assert root is not None
    return root, prefixes


def _resolve(qnames: str, prefixes: Mapping[str, str]) -> set[tuple[str, str]]:
    out = set()
    for q in qnames.split():
        prefix, _, local = q.rpartition(":")
        out.add((prefixes.get(prefix, ""), local))
    return out


class DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers WS-Discovery Probes sent by unicast to 127.0.0.1:<port>; no multicast."""

    def __init__(
        self,
        xaddrs: Sequence[str],
        scopes: Sequence[str] = (),
        *,
        endpoint: str | None = None,
        types: Sequence[tuple[str, str]] = ((DN, "NetworkVideoTransmitter"), (TDS, "Device")),
    ) -> None:
        self.xaddrs = list(xaddrs)
        self.scopes = list(scopes)
        self.endpoint = endpoint or f"urn:uuid:{uuid.uuid4()}"
        self.types = set(types)
        self.probes: list[str] = []  # MessageIDs of the probes answered
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._message_number = 0

    async def start(self) -> DiscoveryResponder:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, 0))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            root, prefixes = _parse_with_prefixes(data)
        except ET.ParseError:
            return
        action = root.findtext(f"{{{ENV}}}Header/{{{WSA}}}Action") or ""
        message_id = root.findtext(f"{{{ENV}}}Header/{{{WSA}}}MessageID") or ""
        probe = root.find(f"{{{ENV}}}Body/{{{WSD}}}Probe")
        if action.strip() != f"{WSD}/Probe" or probe is None or not message_id:
            return
        wanted = _resolve(probe.findtext(f"{{{WSD}}}Types") or "", prefixes)
        if not wanted <= self.types:
            return
        self.probes.append(message_id.strip())
        if self._transport is not None:
            self._transport.sendto(self._probe_matches(message_id.strip()), addr)

    def _probe_matches(self, relates_to: str) -> bytes:
        self._message_number += 1
        names = {DN: "dn", TDS: "tds"}
        types = " ".join(f"{names.get(ns, 'ns')}:{local}" for ns, local in sorted(self.types))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<env:Envelope xmlns:env="{ENV}" xmlns:wsa="{WSA}" xmlns:d="{WSD}" '
            f'xmlns:dn="{DN}" xmlns:tds="{TDS}"><env:Header>'
            f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
            f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
            f"<wsa:To>{WSA}/role/anonymous</wsa:To>"
            f"<wsa:Action>{WSD}/ProbeMatches</wsa:Action>"
            f'<d:AppSequence InstanceId="1" MessageNumber="{self._message_number}"/>'
            "</env:Header><env:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<wsa:EndpointReference><wsa:Address>{escape(self.endpoint)}</wsa:Address>"
            f"</wsa:EndpointReference><d:Types>{types}</d:Types>"
            f"<d:Scopes>{escape(' '.join(self.scopes))}</d:Scopes>"
            f"<d:XAddrs>{escape(' '.join(self.xaddrs))}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"
        ).encode()


# -- pools and fixtures -------------------------------------------------------------------


class DevicePool:
    """Starts devices and responders; ``aclose()`` stops them all."""

    def __init__(self) -> None:
        self._devices: list[OnvifDeviceServer] = []
        self._responders: list[DiscoveryResponder] = []

    async def device(self, *args: Any, **kwargs: Any) -> OnvifDeviceServer:
        server = OnvifDeviceServer(*args, **kwargs)
        self._devices.append(server)
        return await server.start()

    async def responder(self, *args: Any, **kwargs: Any) -> DiscoveryResponder:
        responder = DiscoveryResponder(*args, **kwargs)
        self._responders.append(responder)
        return await responder.start()

    async def aclose(self) -> None:
        for r in self._responders:
            await r.stop()
        for d in self._devices:
            await d.stop()


DeviceFactory = Callable[..., Awaitable[OnvifDeviceServer]]
ResponderFactory = Callable[..., Awaitable[DiscoveryResponder]]


@pytest.fixture
async def onvif_device() -> AsyncIterator[DeviceFactory]:
    """Factory: ``dev = await onvif_device(password="pw", clock_skew_s=300)``; see
    OnvifDeviceServer for the keyword arguments. All devices stop at teardown."""
    pool = DevicePool()
    yield pool.device
    await pool.aclose()


@pytest.fixture
async def discovery_responder() -> AsyncIterator[ResponderFactory]:
    """Factory: ``r = await discovery_responder(xaddrs=[...], scopes=[...])`` on 127.0.0.1."""
    pool = DevicePool()
    yield pool.responder
    await pool.aclose()
