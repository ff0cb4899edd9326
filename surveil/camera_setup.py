"""Camera setup shared by the API and the supervisor: credentials out of URLs and back in,
ONVIF probes as index-ready JSON, snapshots.

Nothing here logs a URL that carries credentials; the URL with credentials exists only in
memory, on its way to PyAV or to an ONVIF request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit, urlunsplit

from cameras.credentials import CredentialBox
from cameras.onvif import DeviceProbe, OnvifDevice, OnvifNotSupported, strip_credentials
from cameras.snapshot import keyframe_jpeg
from cameras.urls import (
    HOST_RULE,
    REDACTED,
    check_stream_url,
    fill_query_secrets,
    has_query_placeholder,
    split_query_secrets,
    valid_host,
    with_userinfo,
)
from index.records import CameraRecord

SNAPSHOT_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class SplitUrl:
    """A stream URL without credentials, and the credentials that were in it (percent-decoded).

    url has no userinfo, and *** in place of each secret query value (password=, pwd=, ...):
    the camera has one password, which goes back wherever the URL says when it is opened.
    """

    url: str
    username: str | None
    password: str | None  # from the userinfo or a secret query parameter
    placeholder: bool = False  # url had *** already: "the stored password goes here"


def split_credentials(url: str) -> SplitUrl:
    """Move user:password and secret query values out of url; ValueError (never echoing url)
    if it is malformed (see cameras.urls.check_stream_url) or carries two different
    passwords."""
    check_stream_url(url)
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
        _ = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        raise ValueError("camera url is malformed") from None
    if not parts.hostname:
        raise ValueError("camera url has no host")
    query, query_secrets, placeholder = split_query_secrets(parts.query)
    password = None if password is None else unquote(password)
    found = {p for p in (password, *query_secrets) if p}
    if len(found) > 1:
        raise ValueError(
            "camera url carries two different passwords (in user:password@ and in its query, "
            "or in two query parameters); a camera has one password"
        )
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return SplitUrl(
        url=clean,
        username=None if username is None else unquote(username) or None,
        password=next(iter(found), None),
        placeholder=placeholder,
    )


def stream_credentials(url: str, password: str | None, *, stored: bool) -> SplitUrl:
    """A stream URL a person gave, with the password given beside it (None or '': none):
    split_credentials, with the given password in place of the URL's.

    *** in the query means "the camera's password goes here": ValueError unless there is
    one, given, in the URL's userinfo, or stored already (stored: the camera has one).
    The API and the pages both ask this, so they refuse the same URLs with the same words.
    """
    split = split_credentials(url)
    password = password or split.password or None
    if split.placeholder and password is None and not stored:
        raise ValueError(
            f"camera url has {REDACTED} in place of a password, but no password is given "
            "or stored; give the password"
        )
    return replace(split, password=password)


def device_stream_url(uri: str) -> str:
    """A stream URI an ONVIF device returned, without credentials; OnvifNotSupported if it
    is not a usable URL (no valid host or port, control characters)."""
    try:
        return split_credentials(uri).url
    except ValueError as exc:
        raise OnvifNotSupported(f"the camera's stream URI is unusable: {exc}") from None


def camera_password(record: CameraRecord, box: CredentialBox) -> str:
    """The camera's password in clear ('' if none); CredentialError if it cannot be decrypted."""
    return box.decrypt(record.secret_enc) if record.secret_enc is not None else ""


def credentialed_url(url: str, username: str | None, password: str | None) -> str:
    """The URL to open: the password in place of each *** query placeholder, and
    user:password@ if there is a username. Never log it."""
    if has_query_placeholder(url):
        url = fill_query_secrets(url, password or "")
    if username:
        url = with_userinfo(url, username, password or "")
    return url


def stream_url(record: CameraRecord, box: CredentialBox) -> str:
    """The URL to open for an API camera, with its credentials injected. Never log it."""
    if not record.username and not has_query_placeholder(record.source_url):
        return record.source_url
    return credentialed_url(record.source_url, record.username, camera_password(record, box))


def device_json(probe: DeviceProbe) -> dict[str, object]:
    """What the index and the API keep of a probe (URIs carry no credentials)."""
    return {
        "manufacturer": probe.manufacturer,
        "model": probe.model,
        "firmware": probe.firmware,
        "serial": probe.serial,
        "hardware_id": probe.hardware_id,
        "clock_offset_us": probe.clock_offset_us,
        "clock_rtt_us": probe.clock_rtt_us,
        "main_profile": probe.main_profile_token,
        "sub_profile": probe.sub_profile_token,
        "profiles": [
            {
                "token": p.token,
                "name": p.name,
                "encoding": p.encoding,
                "width": p.width,
                "height": p.height,
                "fps": p.fps,
                "stream_uri": strip_credentials(p.stream_uri),
                "snapshot_uri": None
                if p.snapshot_uri is None
                else strip_credentials(p.snapshot_uri),
            }
            for p in probe.profiles
        ],
    }


ONVIF_HOST_RULE = f"ONVIF host must be {HOST_RULE}; give the port separately"


@dataclass(frozen=True)
class OnvifTarget:
    """Where and as whom to reach an ONVIF device service. The host goes into its SOAP URLs
    (http://HOST:PORT/onvif/...), messages and the index: construction refuses one that is
    not a host (ValueError, never quoting it), whichever entry point it came from."""

    host: str
    port: int
    username: str
    password: str
    profile: str | None = None

    def __post_init__(self) -> None:
        if len(self.host) > 255 or not valid_host(self.host):
            raise ValueError(ONVIF_HOST_RULE)


async def probe_onvif(target: OnvifTarget, timeout_s: float) -> DeviceProbe:
    """Probe the device; raises OnvifError subclasses with scrubbed messages."""
    async with OnvifDevice(
        target.host, target.port, target.username, target.password, timeout_s=timeout_s
    ) as device:
        return await device.probe(target.profile)


async def probe_onvif_with_snapshot(
    target: OnvifTarget, timeout_s: float
) -> tuple[DeviceProbe, bytes | None]:
    """Probe and, if the chosen profile has a snapshot URI, fetch one JPEG in the same session."""
    async with OnvifDevice(
        target.host, target.port, target.username, target.password, timeout_s=timeout_s
    ) as device:
        probe = await device.probe(target.profile)
        if probe.main.snapshot_uri is None:
            return probe, None
        return probe, await device.snapshot(probe.main_profile_token)


def onvif_target(record: CameraRecord, box: CredentialBox) -> OnvifTarget | None:
    """How to reach an API camera's ONVIF service; None for a plain-URL camera."""
    if record.onvif_host is None:
        return None
    password = camera_password(record, box)
    try:
        return OnvifTarget(
            host=record.onvif_host,
            port=record.onvif_port or 80,
            username=record.username or "",
            password=password,
            profile=record.onvif_profile,
        )
    except ValueError:
        # A host stored before the index checked it: that camera's failure, not a crash.
        raise OnvifNotSupported(f"stored {ONVIF_HOST_RULE}; change it") from None


def chosen_profile(record: CameraRecord) -> dict[str, object] | None:
    """The recorded profile of an ONVIF camera, from its last probe."""
    device = record.device or {}
    token = record.onvif_profile or device.get("main_profile")
    profiles = device.get("profiles")
    if not isinstance(profiles, list):
        return None
    for p in profiles:
        if isinstance(p, dict) and p.get("token") == token:
            return p
    return None


async def camera_snapshot(
    record: CameraRecord, box: CredentialBox, url: str | None, timeout_s: float
) -> tuple[bytes, str]:
    """(JPEG, how it was made): the ONVIF snapshot URI when the camera has one, else one
    keyframe decoded from the stream. Raises CameraError subclasses."""
    target = onvif_target(record, box)
    profile = chosen_profile(record)
    if target is not None and profile is not None and profile.get("snapshot_uri"):
        async with OnvifDevice(
            target.host, target.port, target.username, target.password, timeout_s=timeout_s
        ) as device:
            return await device.snapshot(str(profile["token"])), "onvif"
    if url is None:
        url = stream_url(record, box)
    data = await asyncio.wait_for(
        asyncio.to_thread(keyframe_jpeg, url, timeout_s, record.counters),
        timeout=timeout_s * 2 + 5,
    )
    return data, "keyframe"
