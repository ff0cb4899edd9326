"""Wire shapes of cameras: live status, settings, probes and discovery; and the one way a
request becomes a camera spec (credentials moved out of the URL, the ONVIF device probed),
used by the JSON API (web/cameras_api.py) and the pages (web/camera_pages.py) alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cameras.discovery import DiscoveredDevice
from cameras.urls import redact_url
from index.errors import Conflict
from index.records import CameraRecord
from surveil.camera_setup import (
    OnvifTarget,
)
from surveil.status import CameraStatus as LiveStatus
from surveil.timefmt import iso_from_us
from web.wire.base import Wire
from web.wire.footage import finite
from web.wire.types import (
    NOT_NULL,
    CameraName,
    CounterCode,
    Host,
    IsoTime,
    OptionalCameraSecret,
    OptionalCameraUser,
    OptionalProfile,
    Port,
    RtspUrl,
)

CameraState = Literal["recording", "connecting", "offline", "disabled"]


class CameraStatus(Wire):
    """One camera: its configuration merged with the supervisor's live status."""

    name: str
    state: CameraState
    last_packet: IsoTime | None
    last_packet_age_s: float | None = Field(description="Seconds since the last packet arrived.")
    fps: float | None
    bitrate_bps: float | None = Field(description="Bits per second.")
    current_segment: str | None = Field(
        description="Path, relative to the data directory, of the segment being written."
    )
    error: str | None = Field(description="The last error; URLs in it never carry credentials.")
    counters: list[str]
    enabled: bool
    freshness_p50_s: float | None = Field(
        description="Median seconds from a frame's arrival to its segment row covering it."
    )
    freshness_p99_s: float | None = Field(description="99th percentile of the same.")
    frames: int = Field(description="Video frames recorded since the recorder started.")
    clock_offset_s: float | None = Field(
        description="Camera clock minus host clock at the last ONVIF probe, in seconds; "
        "null if unknown."
    )
    alarms: list[str]

    @classmethod
    def of(
        cls, name: str, record: CameraRecord | None, status: LiveStatus | None, now_us: int
    ) -> Self:
        if record is not None:
            enabled, counters = record.enabled, list(record.counters)
        else:
            enabled, counters = status is None or status.state != "disabled", []
        offset: float | None = None
        if status is not None:
            offset = finite(status.clock_offset_s)
        if offset is None and record is not None and record.clock_offset_us is not None:
            offset = round(record.clock_offset_us / 1e6, 3)
        if status is None:
            # Not reported by the supervisor: it is not recording, whatever the reason.
            return cls(
                name=name,
                state="offline" if enabled else "disabled",
                last_packet=None,
                last_packet_age_s=None,
                fps=None,
                bitrate_bps=None,
                current_segment=None,
                error=None,
                counters=counters,
                enabled=enabled,
                freshness_p50_s=None,
                freshness_p99_s=None,
                frames=0,
                clock_offset_s=offset,
                alarms=[],
            )
        last_us = status.last_packet_us
        return cls(
            name=name,
            state=status.state,  # type: ignore[arg-type]  # validated: one of CameraState
            last_packet=None if last_us is None else iso_from_us(last_us),
            last_packet_age_s=(
                None if last_us is None else round(max(0, now_us - last_us) / 1e6, 3)
            ),
            fps=finite(status.fps),
            bitrate_bps=finite(status.bitrate_bps),
            current_segment=status.current_segment,
            # Redacted by contract already; redacting again costs nothing and guards a slip.
            error=None if status.error is None else redact_url(status.error),
            counters=counters,
            enabled=enabled,
            freshness_p50_s=finite(status.freshness_p50_s),
            freshness_p99_s=finite(status.freshness_p99_s),
            frames=status.frames,
            clock_offset_s=offset,
            alarms=[redact_url(a) for a in status.alarms],
        )


class CameraList(Wire):
    """Every camera the caller may see, by name."""

    cameras: list[CameraStatus]


# -- shared pieces -------------------------------------------------------------------------

MAX_COUNTERS = 64
DISCOVER_MAX_S = 10.0
DISCOVER_MIN_S = 0.2
DISCOVER_DEFAULT_S = 3.0


Counters = Annotated[
    list[CounterCode],
    Field(max_length=MAX_COUNTERS, description="Counter codes the camera covers."),
]


def unique_codes(codes: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes or ()))


def _strip_tag(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Validate a tagged union, with each error located in the chosen branch's own fields
    (pydantic puts the tag first: ``onvif.onvif.port`` becomes ``onvif.port``)."""
    try:
        return handler(value)
    except ValidationError as exc:
        details: list[InitErrorDetails] = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(error["loc"])
            if loc and loc[0] in _TAGS:
                loc = loc[1:]
            # The context keeps the rule (a pattern, a bound) for the message; the input is
            # dropped, so no text of the error can carry a password that was sent.
            message = error["msg"].replace("{", "{{").replace("}", "}}")
            kind = PydanticCustomError(error["type"], message, error.get("ctx"))
            details.append({"type": kind, "loc": loc, "input": None})
        raise ValidationError.from_exception_data(exc.title, details) from None


_TAGS = ("url", "onvif")


# -- input: a new camera -------------------------------------------------------------------


class OnvifIn(Wire):
    """How to reach an ONVIF device: it is probed, and its stream URI recorded."""

    host: Host
    port: Port = 80
    username: OptionalCameraUser = None
    password: OptionalCameraSecret = None
    profile: OptionalProfile = Field(
        None, description="Media profile token to record; default: the largest H.264/H.265."
    )

    def target(self) -> OnvifTarget:
        return OnvifTarget(
            host=self.host,
            port=self.port,
            username=self.username or "",
            password=self.password or "",
            profile=self.profile,
        )


class CameraByUrl(Wire):
    """A camera by its stream URL. Credentials in the URL (user:password@, password=...)
    are moved out of it and stored apart, the password encrypted."""

    name: CameraName
    url: RtspUrl
    username: OptionalCameraUser = None
    password: OptionalCameraSecret = None
    counters: Counters = Field(default_factory=list)
    enabled: bool = True


class CameraByOnvif(Wire):
    """A camera by ONVIF: the device is probed first, and its stream URI recorded."""

    name: CameraName
    onvif: OnvifIn
    counters: Counters = Field(default_factory=list)
    enabled: bool = True


def _create_branch(value: object) -> str | None:
    if isinstance(value, CameraByUrl | CameraByOnvif):  # serializing a validated body
        return "onvif" if isinstance(value, CameraByOnvif) else "url"
    if not isinstance(value, dict):
        return None
    if "onvif" in value:
        return None if "url" in value else "onvif"
    return "url"


class CameraCreate(
    RootModel[
        Annotated[
            Annotated[CameraByUrl, Tag("url")] | Annotated[CameraByOnvif, Tag("onvif")],
            Discriminator(
                _create_branch,
                custom_error_type="url_or_onvif",
                custom_error_message="give either 'url' (with username, password) or 'onvif', "
                "not both",
            ),
            WrapValidator(_strip_tag),
        ]
    ]
):
    """A new camera: by stream URL or by ONVIF, never both."""

    model_config = ConfigDict(strict=True, frozen=True)


# -- input: a change -----------------------------------------------------------------------


class OnvifPatch(Wire):
    """The ONVIF settings to change; keys left out keep their value (the device is probed
    again when the result differs). null or "" clears username, password and profile."""

    host: Annotated[Host | None, *NOT_NULL] = None
    port: Annotated[Port | None, *NOT_NULL] = None
    username: OptionalCameraUser = None
    password: OptionalCameraSecret = None
    profile: OptionalProfile = None

    def merged(self, base: OnvifTarget | None, camera: str) -> OnvifTarget:
        """base with this patch applied; Conflict if there is no base and no host."""
        given = self.model_fields_set
        host = self.host or (base.host if base else None)
        if host is None:
            raise Conflict(f"camera {camera!r} has no ONVIF address yet: give 'onvif.host'")
        return OnvifTarget(
            host=host,
            port=self.port or (base.port if base else 80),
            username=(self.username or "")
            if "username" in given
            else (base.username if base else ""),
            password=(self.password or "")
            if "password" in given
            else (base.password if base else ""),
            profile=self.profile if "profile" in given else (base.profile if base else None),
        )


_PATCH_KEYS = ("url", "username", "password", "onvif", "counters", "enabled")
URL_KEYS = ("url", "username", "password")


class CameraPatch(Wire):
    """The settings to change; keys left out keep their value. A URL camera changes url,
    username, password; an ONVIF camera changes them inside onvif (and is probed again).
    The password is write-only: null or "" clears it."""

    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,
            "not": {"anyOf": [{"required": [k, "onvif"]} for k in URL_KEYS]},
        }
    )

    url: Annotated[RtspUrl | None, *NOT_NULL] = None
    username: OptionalCameraUser = None
    password: OptionalCameraSecret = None
    onvif: Annotated[OnvifPatch | None, *NOT_NULL] = None
    counters: Annotated[Counters | None, *NOT_NULL] = None
    enabled: Annotated[bool | None, *NOT_NULL] = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        given = self.model_fields_set
        if not given:
            raise ValueError(f"nothing to change; give one of: {', '.join(_PATCH_KEYS)}")
        if "onvif" in given and given & set(URL_KEYS):
            raise ValueError("give either 'url', 'username', 'password' or 'onvif', not both")
        return self


# -- input: probes and discovery -----------------------------------------------------------


class ProbeByUrl(Wire):
    """Test a stream: one keyframe is decoded (and returned as the snapshot)."""

    url: RtspUrl
    username: OptionalCameraUser = None
    password: OptionalCameraSecret = None
    snapshot: bool = Field(
        False, description="Accepted for symmetry: a stream test always returns its keyframe."
    )


class ProbeByOnvif(OnvifIn):
    """Probe an ONVIF device: identity, profiles, clock, the stream URI it would record."""

    snapshot: bool = Field(False, description="Also return a JPEG preview as a data: URL.")


def _probe_branch(value: object) -> str | None:
    if isinstance(value, ProbeByUrl | ProbeByOnvif):  # serializing a validated body
        return "url" if isinstance(value, ProbeByUrl) else "onvif"
    if not isinstance(value, dict):
        return None
    if "url" in value:
        return None if {"host", "port", "profile"} & set(value) else "url"
    return "onvif"


class ProbeRequest(
    RootModel[
        Annotated[
            Annotated[ProbeByUrl, Tag("url")] | Annotated[ProbeByOnvif, Tag("onvif")],
            Discriminator(
                _probe_branch,
                custom_error_type="url_or_onvif",
                custom_error_message="give either 'url' or 'host' (ONVIF), not both",
            ),
            WrapValidator(_strip_tag),
        ]
    ]
):
    """A stream (url) or an ONVIF device (host) to test; nothing is saved."""

    model_config = ConfigDict(strict=True, frozen=True)


class DiscoverRequest(Wire):
    timeout_s: float = Field(
        DISCOVER_DEFAULT_S,
        ge=DISCOVER_MIN_S,
        le=DISCOVER_MAX_S,
        description="How long to wait for answers, in seconds.",
    )


class CameraPath(Wire):
    name: CameraName


# -- output ----------------------------------------------------------------------------------


class DeviceProfile(Wire):
    """One media profile of a device. URIs carry no credentials."""

    token: str
    name: str | None = None
    encoding: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    stream_uri: str | None = None
    snapshot_uri: str | None = None


class Device(Wire):
    """What an ONVIF probe learned: identity, clock and media profiles."""

    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    hardware_id: str | None = None
    clock_offset_us: int | None = Field(
        None, description="Camera clock minus host clock at the probe, in µs."
    )
    clock_rtt_us: int | None = Field(None, description="Round trip of the clock request, µs.")
    main_profile: str | None = Field(None, description="The recorded profile's token.")
    sub_profile: str | None = None
    profiles: list[DeviceProfile] = Field(default_factory=list)

    @classmethod
    def of(cls, device: Mapping[str, object] | None) -> Self | None:
        """The stored probe (camera_setup.device_json), keeping the keys this shape has."""
        if device is None:
            return None
        known = {k: v for k, v in device.items() if k in cls.model_fields}
        profiles = known.get("profiles")
        if isinstance(profiles, list):
            fields = DeviceProfile.model_fields
            known["profiles"] = [
                {k: v for k, v in p.items() if k in fields} for p in profiles if isinstance(p, dict)
            ]
        return cls.model_validate(known, strict=False)


class OnvifSettings(Wire):
    host: str
    port: int | None
    profile: str | None


class CameraDetail(CameraStatus):
    """One camera with its settings: never a password, only whether one is stored."""

    origin: Literal["config", "api"] = Field(
        description="config: read-only here, managed in the config file; api: managed "
        "through this API."
    )
    url: str = Field(description="The stream URL; never with credentials.")
    username: str | None
    has_password: bool
    onvif: OnvifSettings | None
    device: Device | None = Field(description="The last ONVIF probe: identity and profiles.")
    probed: IsoTime | None
    created: IsoTime
    updated: IsoTime | None

    @classmethod
    def of_record(cls, record: CameraRecord, status: LiveStatus | None, now_us: int) -> Self:
        live = CameraStatus.of(record.name, record, status, now_us)
        onvif = None
        if record.onvif_host is not None:
            onvif = OnvifSettings(
                host=record.onvif_host, port=record.onvif_port, profile=record.onvif_profile
            )
        return cls(
            **dict(live),
            origin=record.origin,  # type: ignore[arg-type]  # the index stores one of these
            url=redact_url(record.source_url),
            username=record.username,
            has_password=record.has_password,
            onvif=onvif,
            device=Device.of(record.device),
            probed=None if record.probed_us is None else iso_from_us(record.probed_us),
            created=iso_from_us(record.created_us),
            updated=None if record.updated_us is None else iso_from_us(record.updated_us),
        )


class ProbeResult(Wire):
    """What a probe found; nothing is saved."""

    url: str = Field(description="The stream URI that would be recorded (no credentials).")
    device: Device | None = Field(description="null for a stream URL.")
    clock_offset_s: float | None
    snapshot: str | None = Field(description="data:image/jpeg;base64,... when asked for.")


class FoundDevice(Wire):
    """A device that answered WS-Discovery."""

    address: str = Field(description="Endpoint reference, usually urn:uuid:...; stable.")
    xaddrs: list[str] = Field(description="Device service URLs.")
    sender: str = Field(description="The address the answer came from.")
    name: str | None
    hardware: str | None
    location: str | None
    types: list[str]
    scopes: list[str]

    @classmethod
    def of(cls, device: DiscoveredDevice) -> Self:
        return cls(
            address=device.address,
            xaddrs=list(device.xaddrs),
            sender=device.sender,
            name=device.name,
            hardware=device.hardware,
            location=device.location,
            types=list(device.types),
            scopes=list(device.scopes),
        )


class DeviceList(Wire):
    """The devices that answered within the timeout."""

    devices: list[FoundDevice]
