"""ONVIF probing of one camera: identity, clock offset, media profiles, stream and snapshot URIs.

Built on onvif-zeep-async (``onvif.ONVIFCamera``), which brings zeep, the ONVIF WSDLs and
aiohttp sessions. This module adds what a recorder needs on top of it:

- **Clock first.** ``GetSystemDateAndTime`` is sent without WS-Security (ONVIF lets any client
  read the clock), and the camera's UTC time is compared with the midpoint of the host's
  round trip. The library's own ``adjust_time`` does not use the midpoint and drops the
  camera's sub-second part, so the offset is computed here and handed to the library as
  ``ONVIFCamera.dt_diff``; every service created afterwards stamps its UsernameToken
  ``Created`` (and so the PasswordDigest) in camera time. A camera whose clock is minutes
  off therefore still accepts our credentials. Devices that want credentials even for the
  clock (any answer but the time or none at all) are asked again with them, stamped with
  the host clock, and once more in the time of the refusal's HTTP ``Date`` if that was far
  off.
- **Typed results.** ``probe()`` returns a frozen :class:`DeviceProbe`; stream URIs are
  requested as RTP-Unicast over RTSP (interleaved TCP) and come back without credentials.
  :func:`stream_url_with_credentials` builds the URL the recorder opens; it must never be
  logged.
- **Errors a supervisor can act on.** :class:`OnvifUnreachable` (retry later),
  :class:`OnvifAuthError` and :class:`OnvifNotSupported` (fatal until someone changes the
  configuration). Messages are one line and scrubbed of the password and of URL userinfo;
  exception chains are cut (``from None``) so a logged traceback cannot leak either.
- **Timeouts.** Every exchange is bounded by ``timeout_s`` (default 5 s) on top of the
  library's own, much longer, session timeouts.

Only Media (ver10) is used: onvif-zeep-async bundles no Media2 WSDL. Media1 knows JPEG,
MPEG4 and H264 encodings; cameras that report ``H265`` there anyway are passed through as is.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import aiohttp
import zeep.exceptions

from cameras.source import CameraError, CameraRejected, CameraTimeout, CameraUnreachable
from cameras.urls import SECRET_QUERY_PARAMS, scrub

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
# An HTTP Date this far from the host clock makes a refused clock request worth one retry
# stamped in the device's time; nearer, the refusal is about the password (Date has whole
# seconds, and devices accept at least a few seconds of skew).
DATE_RETRY_MIN_US = 2_000_000
MAX_SNAPSHOT_BYTES = 20 * 1024 * 1024
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
# Encodings a recorder can stream-copy into fMP4; preferred when choosing profiles.
RECORDABLE_ENCODINGS = frozenset({"H264", "H265"})
# Query parameters some cameras use to carry credentials in stream/snapshot URIs.
_CREDENTIAL_PARAMS = frozenset({"user", "username", *SECRET_QUERY_PARAMS})
# SOAP fault subcodes (local names) that mean "this device does not do that".
_UNSUPPORTED_SUBCODES = frozenset({"ActionNotSupported", "UnknownAction", "NoSuchService"})

T = TypeVar("T")


def _onvif() -> Any:
    """onvif-zeep-async, imported on first use: importing it runs
    ``logging.basicConfig(level=INFO)`` (onvif/client.py), which must not happen merely
    because the web app or the CLI imported this module."""
    import onvif
    import onvif.exceptions
    import onvif.util

    return onvif


class OnvifError(CameraError):
    """An ONVIF exchange failed. The message is one line, free of credentials."""

    code: ClassVar[str] = "onvif_error"


class OnvifUnreachable(OnvifError, CameraUnreachable):
    """No answer: connection refused, timed out, host not found. Worth retrying."""

    code: ClassVar[str] = "camera_unreachable"


class OnvifTimeout(OnvifUnreachable, CameraTimeout):
    """The device did not answer in time."""

    code: ClassVar[str] = "camera_unreachable"


class OnvifAuthError(OnvifError, CameraRejected):
    """The device refused our credentials (ter:NotAuthorized, HTTP 401/403, or any fault to
    the authenticated clock request of a device that guards its clock)."""

    code: ClassVar[str] = "onvif_auth_failed"


class OnvifNotSupported(OnvifError, CameraRejected):
    """The peer is not an ONVIF device, or lacks what we need (media profiles, snapshots)."""

    code: ClassVar[str] = "not_onvif"


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """One media profile, as the device describes it. URIs carry no credentials."""

    token: str
    name: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: int | None
    stream_uri: str
    snapshot_uri: str | None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True, slots=True)
class DeviceProbe:
    """What probe() learned about a device."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str
    # Camera UTC clock minus host clock, in µs; None if the device reports no UTC time
    # (unless its HTTP Date had to be used to log in: then that one's offset).
    clock_offset_us: int | None
    # Round trip of the clock request; the offset is uncertain by about half of it
    # plus the half second that whole-second device clocks cannot resolve.
    clock_rtt_us: int | None
    profiles: tuple[ProfileInfo, ...]
    main_profile_token: str
    sub_profile_token: str | None

    def profile(self, token: str) -> ProfileInfo:
        for p in self.profiles:
            if p.token == token:
                return p
        raise KeyError(token)

    @property
    def main(self) -> ProfileInfo:
        return self.profile(self.main_profile_token)

    @property
    def sub(self) -> ProfileInfo | None:
        return None if self.sub_profile_token is None else self.profile(self.sub_profile_token)


def strip_credentials(uri: str) -> str:
    """The URI without userinfo and without credential query parameters."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if k.lower() not in _CREDENTIAL_PARAMS]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def stream_url_with_credentials(uri: str, username: str, password: str) -> str:
    """The URI with percent-encoded ``username:password@`` userinfo. Never log the result."""
    parts = urlsplit(strip_credentials(uri))
    if not username:
        return urlunsplit(parts)
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    netloc = f"{userinfo}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def choose_profiles(
    profiles: Sequence[ProfileInfo], main_token: str | None = None
) -> tuple[str, str | None]:
    """(main, sub) tokens: main is main_token or the largest recordable profile, sub the
    smallest other recordable one. Ties go to the device's order."""
    if not profiles:
        raise ValueError("no profiles")
    recordable = [p for p in profiles if (p.encoding or "").upper() in RECORDABLE_ENCODINGS]
    pool = recordable or list(profiles)
    if main_token is None:
        main = max(pool, key=lambda p: p.pixels)  # max() keeps the first of equals
    else:
        found = [p for p in profiles if p.token == main_token]
        if not found:
            raise KeyError(main_token)
        main = found[0]
    others = [p for p in pool if p.token != main.token]
    sub = min(others, key=lambda p: p.pixels) if others else None
    return main.token, None if sub is None else sub.token


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _subcodes(fault: Any) -> list[str]:
    """Local names of a zeep Fault's subcodes (QNames or strings)."""
    out: list[str] = []
    for code in getattr(fault, "subcodes", None) or []:
        text = str(getattr(code, "localname", None) or getattr(code, "text", None) or code)
        out.append(text.rpartition("}")[2].rpartition(":")[2])
    return out


class _DateWatch:
    """The HTTP Date of a service's last SOAP answer, with the host clock around it.

    Wraps the transport's ``post_xml`` (the one call zeep makes per operation) so that even
    a refusal without a SOAP body (an HTTP 401 page) leaves the device's time behind.
    """

    def __init__(self, service: Any) -> None:
        self.last: tuple[str | None, int, int] | None = None
        transport = service.transport
        post_xml = transport.post_xml

        async def watched(address: str, envelope: Any, headers: dict[str, str]) -> Any:
            self.last = None
            t0 = time.time_ns()
            response = await post_xml(address, envelope, headers)
            self.last = (response.headers.get("Date"), t0, time.time_ns())
            return response

        transport.post_xml = watched

    def offset_us(self) -> int | None:
        """Device Date (+0.5 s: whole seconds) minus the midpoint of the exchange, or None."""
        if self.last is None:
            return None
        date, t0, t1 = self.last
        if not date:
            return None
        try:
            when = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None  # RFC 9110 dates are GMT; a zoneless one is not trustworthy
        return int(when.timestamp()) * 1_000_000 + 500_000 - (t0 + t1) // 2000


class OnvifDevice:
    """One ONVIF device, reached at host:port with one account. Use ``async with``.

    Construction does no I/O. ``probe()`` connects, measures the clock and reads profiles;
    ``snapshot()`` fetches a JPEG. Both raise only :class:`OnvifError` subclasses.
    """

    def __init__(
        self,
        host: str,
        port: int = 80,
        username: str = "",
        password: str = "",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        snapshot_basic_auth: bool = False,
    ) -> None:
        """snapshot_basic_auth: use HTTP Basic instead of Digest for snapshots; the
        password then crosses the network in clear text, so it is off by default."""
        self.host = host
        self.port = int(port)
        self._username = username
        self._password = password
        self.timeout_s = timeout_s
        self._snapshot_basic_auth = snapshot_basic_auth
        self._secrets = [password] if password else []
        self._cam: Any = None
        self._devicemgmt: Any = None
        self._clock: tuple[int | None, int | None] | None = None
        self._media_ready = False
        self._probe: DeviceProbe | None = None
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"OnvifDevice({self.host}:{self.port})"

    @property
    def where(self) -> str:
        return f"ONVIF {self.host}:{self.port}"

    async def __aenter__(self) -> OnvifDevice:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every HTTP session; safe to call twice."""
        cam, self._cam = self._cam, None
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        self._devicemgmt = None
        self._clock = None
        self._media_ready = False
        if cam is not None:
            try:
                await cam.close()
            except Exception as exc:  # closing must not mask the caller's error
                logger.debug("%s: close failed: %s", self.where, type(exc).__name__)

    # -- public operations -------------------------------------------------------------

    async def probe(self, profile_token: str | None = None) -> DeviceProbe:
        """Identity, clock offset and profiles; main is profile_token or the largest."""
        offset_us, rtt_us = await self.measure_clock()
        devicemgmt = await self._device_service()
        info = await self._call("GetDeviceInformation", devicemgmt.GetDeviceInformation)
        media = await self._media_service()
        raw_profiles = await self._call("GetProfiles", media.GetProfiles)
        profiles = await self._profiles(media, raw_profiles or [])
        if not profiles:
            raise OnvifNotSupported(f"{self.where}: no video profile with an RTSP stream")
        try:
            main, sub = choose_profiles(profiles, profile_token)
        except KeyError:
            have = ", ".join(p.token for p in profiles)
            raise OnvifNotSupported(
                f"{self.where}: no profile {self._scrub(repr(profile_token))} (has {have})"
            ) from None
        self._probe = DeviceProbe(
            manufacturer=_text(getattr(info, "Manufacturer", None)),
            model=_text(getattr(info, "Model", None)),
            firmware=_text(getattr(info, "FirmwareVersion", None)),
            serial=_text(getattr(info, "SerialNumber", None)),
            hardware_id=_text(getattr(info, "HardwareId", None)),
            clock_offset_us=offset_us,
            clock_rtt_us=rtt_us,
            profiles=tuple(profiles),
            main_profile_token=main,
            sub_profile_token=sub,
        )
        return self._probe

    async def measure_clock(self) -> tuple[int | None, int | None]:
        """(camera UTC minus host clock, round trip), both in µs, from GetSystemDateAndTime;
        applied to every WS-Security timestamp from then on.

        Asked without credentials first. Any answer but silence that is not the time (a SOAP
        fault of any kind, an HTTP error, a page that is not SOAP) means the device wants
        credentials even for the clock: see _authenticated_clock.
        """
        service = await self._rebuild_services(None)
        date_offset_us: int | None = None
        try:
            reply, t0, t1 = await self._timed_clock(service.authless_GetSystemDateAndTime)
        except OnvifUnreachable:
            raise
        except OnvifError as exc:
            logger.debug("%s: clock refused without credentials (%s)", self.where, exc)
            reply, t0, t1, date_offset_us = await self._authenticated_clock(service)
        rtt_us = (t1 - t0) // 1000
        camera_us = self._utc_us(reply)
        offset_us = None if camera_us is None else camera_us - (t0 + t1) // 2000
        if offset_us is None:
            # No UTC time in the reply: keep stamping in the time the device accepted.
            offset_us = date_offset_us
        # Services stamp UsernameTokens with the dt_diff they were built with: rebuild them.
        self._devicemgmt = await self._rebuild_services(offset_us)
        self._clock = (offset_us, rtt_us)
        if offset_us is not None:
            logger.debug(
                "%s: camera clock offset %+d µs (rtt %d µs)", self.where, offset_us, rtt_us
            )
        return offset_us, rtt_us

    async def _timed_clock(
        self, operation: Callable[..., Awaitable[Any]], *, refusal_is_auth: bool = False
    ) -> tuple[Any, int, int]:
        """(GetSystemDateAndTime reply, host ns before, host ns after)."""
        t0 = time.time_ns()
        reply = await self._call("GetSystemDateAndTime", operation, refusal_is_auth=refusal_is_auth)
        return reply, t0, time.time_ns()

    async def _authenticated_clock(self, service: Any) -> tuple[Any, int, int, int | None]:
        """The clock asked with credentials: (reply, t0, t1, offset the tokens were stamped with).

        Stamped first with the host clock: most cameras keep NTP time, and an HTTP Date is
        not always the camera's UTC. The device checks the token's Created against its own
        clock, so a refusal can mean skew as well as a wrong password, and it tells us
        nothing else before we log in. If the refusal's HTTP Date is DATE_RETRY_MIN_US or
        more off, the request is retried once stamped in that time; one retry only, since
        devices that lock accounts count every failed attempt. Any refusal of the
        authenticated request is an OnvifAuthError.
        """
        watch = _DateWatch(service)
        try:
            reply, t0, t1 = await self._timed_clock(
                service.GetSystemDateAndTime, refusal_is_auth=True
            )
            return reply, t0, t1, None
        except OnvifAuthError:
            date_offset_us = watch.offset_us()
            if date_offset_us is None or abs(date_offset_us) < DATE_RETRY_MIN_US:
                raise
        logger.info(
            "%s: clock request refused; the device's HTTP Date is %+.1f s off, "
            "asking once more in its time",
            self.where,
            date_offset_us / 1e6,
        )
        service = await self._rebuild_services(date_offset_us)
        reply, t0, t1 = await self._timed_clock(service.GetSystemDateAndTime, refusal_is_auth=True)
        return reply, t0, t1, date_offset_us

    async def _rebuild_services(self, offset_us: int | None) -> Any:
        """Close every service and return a new device service stamping tokens at offset_us
        (None: the host clock)."""
        cam = await self._camera()
        for key, old in list(cam.services.items()):
            cam.services.pop(key, None)
            await self._call("closing a service", old.close, timed=False)
        cam.dt_diff = None if offset_us is None else dt.timedelta(microseconds=offset_us)
        return await self._call("device service", cam.create_devicemgmt_service, timed=False)

    async def snapshot(self, profile_token: str | None = None) -> bytes:
        """A JPEG from the profile's snapshot URI (HTTP Digest, or Basic if configured).

        Fetched here rather than with ONVIFCamera.get_snapshot (which uses the same aiohttp
        DigestAuthMiddleware): that one re-asks GetSnapshotUri and turns a NotAuthorized
        fault into "no snapshot", where we need an OnvifAuthError.
        """
        probe = self._probe or await self.probe()
        token = profile_token or probe.main_profile_token
        try:
            uri = probe.profile(token).snapshot_uri
        except KeyError:
            raise OnvifNotSupported(
                f"{self.where}: no profile {self._scrub(repr(token))}"
            ) from None
        if uri is None:
            raise OnvifNotSupported(f"{self.where}: profile {token!r} has no snapshot URI")
        status, data = await self._call("snapshot", self._fetch, uri)
        if status in (401, 403):
            raise OnvifAuthError(f"{self.where}: snapshot refused the user name or password")
        if status != 200:
            raise OnvifNotSupported(f"{self.where}: snapshot of {token!r} got HTTP {status}")
        if not data.startswith(b"\xff\xd8"):
            raise OnvifNotSupported(f"{self.where}: snapshot of {token!r} is not a JPEG")
        return data

    # -- internals ----------------------------------------------------------------------

    async def _camera(self) -> Any:
        if self._cam is None:
            # Created here, not in __init__: its aiohttp sessions belong to the running loop.
            self._cam = _onvif().ONVIFCamera(
                self.host,
                self.port,
                self._username,
                self._password or None,
                no_cache=True,  # the WSDLs are local; no sqlite cache in the user's home
                adjust_time=False,  # we compute the offset ourselves (see measure_clock)
            )
        return self._cam

    async def _fetch(self, uri: str) -> tuple[int, bytes]:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        auth: aiohttp.BasicAuth | None = None
        middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
        if self._username and self._snapshot_basic_auth:
            auth = aiohttp.BasicAuth(self._username, self._password)
        elif self._username:
            middlewares = (aiohttp.DigestAuthMiddleware(self._username, self._password),)
        async with self._http.get(uri, auth=auth, middlewares=middlewares) as resp:
            if resp.status != 200:
                return resp.status, b""
            if (resp.content_length or 0) > MAX_SNAPSHOT_BYTES:
                return 413, b""
            return resp.status, await resp.read()

    async def _device_service(self) -> Any:
        if self._clock is None or self._devicemgmt is None:
            await self.measure_clock()
        return self._devicemgmt

    async def _media_service(self) -> Any:
        cam = await self._camera()
        if not self._media_ready:
            await self._find_media_xaddr(await self._device_service())
            self._media_ready = True
        return await self._call("media service", cam.create_media_service, timed=False)

    async def _find_media_xaddr(self, devicemgmt: Any) -> None:
        """GetServices (the recommended way), falling back to GetCapabilities."""
        cam = await self._camera()
        xaddr: str | None = None
        try:
            services = await self._call(
                "GetServices", devicemgmt.GetServices, {"IncludeCapability": False}
            )
        except (OnvifAuthError, OnvifUnreachable):
            raise
        except OnvifError:
            services = []
        for service in services or []:
            if _text(getattr(service, "Namespace", None)) == MEDIA_NS:
                xaddr = _text(getattr(service, "XAddr", None)) or None
        if xaddr is None:
            caps = await self._call(
                "GetCapabilities", devicemgmt.GetCapabilities, {"Category": "Media"}
            )
            xaddr = _text(getattr(getattr(caps, "Media", None), "XAddr", None)) or None
        if xaddr is None:
            raise OnvifNotSupported(f"{self.where}: device has no media service")
        cam.xaddrs[MEDIA_NS] = _onvif().util.normalize_url(xaddr)

    async def _profiles(self, media: Any, raw_profiles: Sequence[Any]) -> list[ProfileInfo]:
        out: list[ProfileInfo] = []
        for raw in raw_profiles:
            token = _text(getattr(raw, "token", None))
            vec = getattr(raw, "VideoEncoderConfiguration", None)
            if not token or vec is None:
                continue  # audio-only or metadata profile
            setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            request = {"StreamSetup": setup, "ProfileToken": token}
            try:
                reply = await self._call("GetStreamUri", media.GetStreamUri, request)
            except (OnvifAuthError, OnvifUnreachable):
                raise
            except OnvifError as exc:
                logger.debug("%s: profile %r has no stream: %s", self.where, token, exc)
                continue
            stream_uri = _text(getattr(reply, "Uri", None))
            if not stream_uri:
                continue
            snapshot_uri: str | None = None
            try:
                snap = await self._call(
                    "GetSnapshotUri", media.GetSnapshotUri, {"ProfileToken": token}
                )
                snapshot_uri = _text(getattr(snap, "Uri", None)) or None
            except (OnvifAuthError, OnvifUnreachable):
                raise
            except OnvifError:
                snapshot_uri = None
            resolution = getattr(vec, "Resolution", None)
            rate = getattr(vec, "RateControl", None)
            encoding = _text(getattr(vec, "Encoding", None)).upper() or None
            out.append(
                ProfileInfo(
                    token=token,
                    name=_text(getattr(raw, "Name", None)),
                    encoding=encoding,
                    width=_int_or_none(getattr(resolution, "Width", None)),
                    height=_int_or_none(getattr(resolution, "Height", None)),
                    fps=_int_or_none(getattr(rate, "FrameRateLimit", None)) or None,
                    stream_uri=strip_credentials(stream_uri),
                    snapshot_uri=None if snapshot_uri is None else strip_credentials(snapshot_uri),
                )
            )
        return out

    @staticmethod
    def _utc_us(reply: Any) -> int | None:
        """The device's UTC time in µs, +0.5 s: whole seconds are the floor of the real time."""
        utc = getattr(reply, "UTCDateTime", None)
        date, tod = getattr(utc, "Date", None), getattr(utc, "Time", None)
        if date is None or tod is None:
            return None
        try:
            y, mo, d = int(date.Year), int(date.Month), int(date.Day)
            h, mi, s = int(tod.Hour), int(tod.Minute), int(tod.Second)
            seconds = calendar.timegm(dt.datetime(y, mo, d, h, mi, min(s, 59)).timetuple())
        except (TypeError, ValueError, OverflowError):
            return None
        return seconds * 1_000_000 + 500_000

    def _scrub(self, text: str) -> str:
        return " ".join(scrub(text, self._secrets).split())[:300]

    async def _call(
        self,
        what: str,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        timed: bool = True,
        refusal_is_auth: bool = False,
    ) -> T:
        """Await fn(*args) within the timeout, turning every failure into an OnvifError.

        timed=False is for local work (loading WSDLs), which must not eat the network budget.
        refusal_is_auth=True: any SOAP fault but "not supported" means the credentials were
        refused (for an operation every device answers, asked with them), like HTTP 401/403
        always does. A reply that is not SOAP at all still means "not an ONVIF device".
        """
        try:
            async with asyncio.timeout(self.timeout_s if timed else None):
                return await fn(*args)
        except OnvifError:
            raise
        except Exception as exc:
            raise self._translate(what, exc, refusal_is_auth) from None

    def _translate(
        self, what: str, exc: BaseException, refusal_is_auth: bool = False
    ) -> OnvifError:
        where = self.where
        lib = _onvif()
        if isinstance(exc, lib.exceptions.ONVIFAuthError):
            return OnvifAuthError(f"{where}: {what} refused the user name or password")
        if isinstance(exc, lib.ONVIFError) and exc.__cause__ is not None:
            return self._translate(what, exc.__cause__, refusal_is_auth)
        if isinstance(exc, (TimeoutError, lib.exceptions.ONVIFTimeoutError)):
            return OnvifTimeout(f"{where}: {what} timed out after {self.timeout_s:g} s")
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return OnvifUnreachable(f"{where}: host name not found")
        if isinstance(exc, aiohttp.ClientConnectorError):
            os_error = exc.os_error
            reason = (
                "connection refused"
                if isinstance(os_error, ConnectionRefusedError)
                else (os_error.strerror or type(os_error).__name__).lower()
            )
            return OnvifUnreachable(f"{where}: cannot connect: {reason}")
        if isinstance(exc, aiohttp.ClientError | OSError):
            return OnvifUnreachable(f"{where}: {what} failed: {type(exc).__name__}")
        if isinstance(exc, zeep.exceptions.Fault):
            return self._translate_fault(what, exc, refusal_is_auth)
        if isinstance(exc, zeep.exceptions.TransportError):
            status = int(getattr(exc, "status_code", 0) or 0)
            if status in (401, 403):
                return OnvifAuthError(
                    f"{where}: {what} refused the user name or password (HTTP {status})"
                )
            return OnvifNotSupported(
                f"{where}: not an ONVIF device ({what} got HTTP {status}, no SOAP reply)"
            )
        if isinstance(exc, zeep.exceptions.Error):
            return OnvifNotSupported(f"{where}: not an ONVIF device ({what}: unexpected reply)")
        if isinstance(exc, lib.ONVIFError):
            return OnvifNotSupported(f"{where}: {what}: {self._scrub(str(exc))}")
        if isinstance(exc, AttributeError | TypeError | ValueError | LookupError):
            # zeep chokes on a well-formed reply without a SOAP Body (an HTML page, say).
            return OnvifNotSupported(f"{where}: not an ONVIF device ({what}: no SOAP reply)")
        return OnvifError(f"{where}: {what} failed: {type(exc).__name__}: {self._scrub(str(exc))}")

    def _translate_fault(self, what: str, fault: Any, refusal_is_auth: bool) -> OnvifError:
        where = self.where
        subcodes = _subcodes(fault)
        code = _text(getattr(fault, "code", None))
        reason = self._scrub(_text(getattr(fault, "message", None)))
        if "NotAuthorized" in subcodes:
            return OnvifAuthError(f"{where}: {what} refused the user name or password")
        if not code:
            # zeep saw no SOAP Fault element: an HTML error page or similar. A 401 page
            # means the device wants HTTP authentication we cannot satisfy.
            detail = _text(getattr(fault, "detail", None)).lower()
            if "401" in detail or "unauthorized" in detail:
                return OnvifAuthError(
                    f"{where}: {what} refused the user name or password (HTTP 401)"
                )
            return OnvifNotSupported(f"{where}: not an ONVIF device ({what} got no SOAP reply)")
        label = "/".join([code.rpartition(":")[2], *subcodes])
        if _UNSUPPORTED_SUBCODES.intersection(subcodes):
            return OnvifNotSupported(f"{where}: {what} not supported ({label})")
        if refusal_is_auth:
            # e.g. env:Receiver "Sender not authorized", without the ter:NotAuthorized subcode.
            return OnvifAuthError(
                f"{where}: {what} refused the user name or password (SOAP fault {label}: {reason})"
            )
        return OnvifError(f"{where}: {what} failed: SOAP fault {label}: {reason}")
