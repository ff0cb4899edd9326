"""Typed, strict configuration loaded from one TOML file.

Every field carries a description and bounds; unknown keys are errors, so a
typo never silently falls back to a default. `docs/ref/config.md` documents
every field and a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cameras.urls import check_stream_url, redact_url
from index.cameras import CAMERA_NAME_RE
from index.counters import COUNTER_CODE_RE
from index.receipts import ReceiptSettings

MINUTE_US = 60_000_000


@dataclass(frozen=True)
class WebSettings:
    """Session lifetimes, the login rate limit and the time zone pages use."""

    session_idle_us: int = 30 * MINUTE_US
    session_max_us: int = 12 * 60 * MINUTE_US
    login_max_failures: int = 5
    login_window_us: int = 15 * MINUTE_US
    # Set when the UI is served over HTTPS (directly or behind a TLS proxy).
    secure_cookies: bool = False
    timezone: str = "Asia/Shanghai"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebConfig(_Strict):
    listen: str = Field(
        default="127.0.0.1:8080",
        description="Address and port the web UI and API listen on, as HOST:PORT.",
    )

    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone in which pages show and read times (the index is UTC).",
    )
    session_idle_minutes: float = Field(
        default=30.0,
        ge=1.0,
        le=24 * 60,
        description="A signed-in session ends after this many minutes without a request.",
    )
    session_max_hours: float = Field(
        default=12.0,
        ge=0.1,
        le=24 * 7,
        description="A signed-in session ends this many hours after login, however active.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed logins (per user name and per client address) before "
        "further attempts are refused for the rest of login_window_minutes.",
    )
    login_window_minutes: float = Field(
        default=15.0,
        ge=1.0,
        le=24 * 60,
        description="The window over which failed logins are counted.",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark cookies Secure; set when the UI is served over HTTPS "
        "(directly or behind a TLS proxy).",
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone must be an IANA zone like Asia/Shanghai, got {v!r}"
            ) from None
        return v

    def settings(self) -> WebSettings:
        return WebSettings(
            session_idle_us=round(self.session_idle_minutes * 60e6),
            session_max_us=round(self.session_max_hours * 3600e6),
            login_max_failures=self.login_max_failures,
            login_window_us=round(self.login_window_minutes * 60e6),
            secure_cookies=self.secure_cookies,
            timezone=self.timezone,
        )

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen must be HOST:PORT with a port 0-65535, got {v!r}")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class RecordingConfig(_Strict):
    segment_seconds: float = Field(
        default=60.0,
        ge=2.0,
        le=3600.0,
        description="Target segment length in seconds; a segment is cut at the first "
        "keyframe after this much media time.",
    )
    fragment_seconds: float = Field(
        default=1.0,
        ge=0.2,
        le=10.0,
        description="Longest fragment (moof+mdat) in seconds; fragments are also cut at "
        "every keyframe. A fragment is the unit of crash loss.",
    )
    fsync: Literal["fragment", "segment"] = Field(
        default="fragment",
        description="When file data is forced to disk: 'fragment' at fragment "
        "boundaries (rate-limited by fsync_interval_seconds), 'segment' only when a "
        "segment is sealed.",
    )
    fsync_interval_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="With fsync='fragment', the cadence of fsyncs of one camera's segment "
        "file: at most one per interval, on a fixed schedule.",
    )
    rtsp_timeout_seconds: float = Field(
        default=5.0,
        ge=0.5,
        le=120.0,
        description="Socket timeout for RTSP connect and reads; a camera that sends "
        "nothing for this long is treated as disconnected.",
    )
    reconnect_initial_seconds: float = Field(
        default=0.25,
        ge=0.05,
        le=60.0,
        description="First delay before reconnecting to a camera; doubled after each "
        "failed attempt.",
    )
    reconnect_max_seconds: float = Field(
        default=1.0,
        ge=0.1,
        le=300.0,
        description="Cap on the reconnect delay.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RecordingConfig:
        if self.fragment_seconds > self.segment_seconds:
            raise ValueError(
                f"fragment_seconds ({self.fragment_seconds}) must not exceed "
                f"segment_seconds ({self.segment_seconds})"
            )
        if self.reconnect_initial_seconds > self.reconnect_max_seconds:
            raise ValueError(
                f"reconnect_initial_seconds ({self.reconnect_initial_seconds}) must not "
                f"exceed reconnect_max_seconds ({self.reconnect_max_seconds})"
            )
        return self


class OnvifConfig(_Strict):
    discovery_address: str = Field(
        default="239.255.255.250:3702",
        description="Where WS-Discovery probes are sent, as HOST:PORT (IPv4): the "
        "standard multicast group, or one address for unicast discovery.",
    )
    discovery_bind: str = Field(
        default="0.0.0.0",
        description="Local IPv4 address discovery probes are sent from; for multicast "
        "it picks the network interface.",
    )
    timeout_seconds: float = Field(
        default=5.0,
        ge=0.5,
        le=60.0,
        description="Timeout of each ONVIF request (probe, snapshot).",
    )
    reprobe_minutes: float = Field(
        default=10.0,
        ge=0.0,
        le=1440.0,
        description="How often ONVIF cameras are probed again for their clock offset and "
        "stream URI; 0 turns re-probing off.",
    )
    clock_alarm_seconds: float = Field(
        default=1.0,
        ge=0.05,
        le=3600.0,
        description="A camera whose clock is off by more than this gets an alarm.",
    )

    @field_validator("discovery_address")
    @classmethod
    def _discovery_address(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not _is_ipv4(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"discovery_address must be IPV4:PORT, got {v!r}")
        return v

    @field_validator("discovery_bind")
    @classmethod
    def _discovery_bind(cls, v: str) -> str:
        if not _is_ipv4(v):
            raise ValueError(f"discovery_bind must be an IPv4 address, got {v!r}")
        return v

    @property
    def discovery_target(self) -> tuple[str, int]:
        host, _, port = self.discovery_address.rpartition(":")
        return host, int(port)


class IntegrityConfig(_Strict):
    checkpoint_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How often a signed checkpoint of the log is issued when the log grew.",
    )
    scrub_mb_per_s: float = Field(
        default=4.0,
        ge=0.0,
        le=10_000.0,
        description="Rate at which sealed segments are re-hashed in the background, MB/s; "
        "0 turns scrubbing off.",
    )
    origin: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The log's origin and key name, fixed when the key is made at the first "
        "start; default surveil/<random installation id>.",
    )
    sm2: bool = Field(
        default=False,
        description="Also sign each checkpoint with SM2/SM3 (GB/T 32918) through OpenSSL; "
        "the key is made in data_dir/log-sm2.pem.",
    )
    tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 time-stamping authority URL; each checkpoint gets a token.",
    )
    tsa_root: Path | None = Field(
        default=None,
        description="PEM file of the TSA's root certificate; when set, every token is "
        "verified against it before it is kept.",
    )
    tsa_timeout_seconds: float = Field(
        default=10.0, ge=0.5, le=120.0, description="Timeout of one request to the TSA."
    )

    @field_validator("tsa_url")
    @classmethod
    def _tsa_url(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError(f"tsa_url must be an http:// or https:// URL, got {v!r}")
        return v


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class CameraConfig(_Strict):
    name: str = Field(
        description="Unique camera name: lowercase letters, digits, '-' and '_', "
        "at most 63 characters. Used in paths and the API.",
    )
    url: str = Field(
        description="Stream source: rtsp://[user:pass@]host[:port]/path, "
        "file:///path (replay a media file) or synthetic: (built-in test pattern).",
    )
    counters: list[str] = Field(
        default_factory=list,
        description="Codes of the acceptance counters this camera covers, e.g. ['A01'].",
    )
    enabled: bool = Field(default=True, description="Whether the camera is recorded.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CAMERA_NAME_RE.match(v):
            raise ValueError(
                f"camera name {v!r} must be 1-63 of a-z, 0-9, '-', '_' and start "
                "with a letter or digit"
            )
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (
            v.startswith("rtsp://")
            or v.startswith("rtsps://")
            or v.startswith("file://")
            or v.startswith("synthetic:")
        ):
            # Not even a redacted echo: a malformed URL ('rtsp:/u:pw@h', a '/' or
            # '@' in the password) is exactly where redaction cannot find the secret.
            raise ValueError("camera url must start with rtsp://, rtsps://, file:// or synthetic:")
        if v.startswith(("rtsp://", "rtsps://")):
            check_stream_url(v)  # host, port, no control characters; never echoes v
        return v

    @field_validator("counters")
    @classmethod
    def _counters(cls, v: list[str]) -> list[str]:
        for code in v:
            if not COUNTER_CODE_RE.match(code):
                raise ValueError(f"counter code {code!r} must be 1-32 of letters, digits, '-', '_'")
        return v


class CounterConfig(_Strict):
    code: str = Field(
        description="Unique counter code, e.g. 'A01': 1-32 of letters, digits, '-', '_'.",
    )
    name: str = Field(
        min_length=1, max_length=200, description="Human name of the counter, e.g. 'Window 1'."
    )
    site: str | None = Field(
        default=None, max_length=200, description="Hall or site the counter is in."
    )

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not COUNTER_CODE_RE.match(v):
            raise ValueError(f"counter code {v!r} must be 1-32 of letters, digits, '-', '_'")
        return v


class ReceiptsConfig(_Strict):
    pre_roll_seconds: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="Footage held before a receipt's accepted_at.",
    )
    post_roll_seconds: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="Footage held after a receipt's completed_at.",
    )
    max_future_seconds: float = Field(
        default=300.0,
        ge=0.0,
        le=86400.0,
        description="How far in the future accepted_at or completed_at may be before a "
        "receipt is refused (tolerates clock skew of the acceptance system).",
    )
    max_duration_hours: float = Field(
        default=12.0,
        ge=0.01,
        le=168.0,
        description="Longest plausible acceptance, from accepted_at to completed_at.",
    )
    open_hold_max_hours: float = Field(
        default=12.0,
        ge=0.01,
        le=168.0,
        description="An open (not completed) receipt holds footage up to now, but at most "
        "this long after accepted_at.",
    )

    def settings(self) -> ReceiptSettings:
        """The same values in the index's µs units."""
        second, hour = 1_000_000, 3_600_000_000
        return ReceiptSettings(
            pre_roll_us=round(self.pre_roll_seconds * second),
            post_roll_us=round(self.post_roll_seconds * second),
            max_future_us=round(self.max_future_seconds * second),
            max_duration_us=round(self.max_duration_hours * hour),
            open_hold_max_us=round(self.open_hold_max_hours * hour),
        )


_VOLUME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class VolumeConfig(_Strict):
    name: str = Field(
        description="Volume name, stored with each segment: lowercase letters, digits, '-' "
        "and '_'; 'main' is the data directory unless a volume of that name is given.",
    )
    path: Path = Field(description="Directory on the volume where segment files go.")
    quota_gb: float | None = Field(
        default=None,
        ge=0.001,
        le=1_000_000.0,
        description="At most this many GB of footage on the volume: beyond it, retention "
        "deletes eligible footage oldest first (docs/design/storage.md). None: no quota.",
    )
    cameras: Annotated[list[str], Field(max_length=4096)] = Field(
        default_factory=list,
        description="Cameras recorded only on this volume; a camera named by no volume is "
        "spread over the volumes that name no camera.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _VOLUME_NAME.match(v):
            raise ValueError(
                "a volume name is 1-64 lowercase letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        return v


class StorageConfig(_Strict):
    warn_percent: float = Field(
        default=80.0,
        ge=1.0,
        le=99.0,
        description="A volume this full (percent of its size used) raises a warning alarm.",
    )
    critical_percent: float = Field(
        default=90.0,
        ge=1.0,
        le=99.0,
        description="A volume this full raises a critical alarm and starts a retention pass "
        "that deletes eligible footage on it, oldest first.",
    )
    min_free_mb: float = Field(
        default=256.0,
        ge=1.0,
        le=10_000_000.0,
        description="Recording stops cleanly on a volume with less free space than this "
        "(MB) when nothing on it may be deleted ('disk full — evidence protected'), and "
        "resumes by itself when space returns.",
    )
    check_seconds: float = Field(
        default=10.0,
        ge=0.1,
        le=3600.0,
        description="How often volume space is checked.",
    )
    volumes: Annotated[list[VolumeConfig], Field(max_length=64)] = Field(
        default_factory=list,
        description="Storage volumes for segment files; none: one volume 'main', the data "
        "directory.",
    )

    @model_validator(mode="after")
    def _marks(self) -> StorageConfig:
        if self.critical_percent <= self.warn_percent:
            raise ValueError("critical_percent must be above warn_percent")
        names = [v.name for v in self.volumes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"volume names must be unique: {', '.join(dupes)}")
        assigned: dict[str, str] = {}
        for vol in self.volumes:
            for camera in vol.cameras:
                if camera in assigned:
                    raise ValueError(
                        f"camera {camera!r} is assigned to volumes {assigned[camera]!r} and "
                        f"{vol.name!r}"
                    )
                assigned[camera] = vol.name
        return self


class RetentionConfig(_Strict):
    retain_days: int = Field(
        default=180,
        ge=1,
        le=36_500,
        description="Days footage is kept at least, for the installation; admins may set "
        "longer or shorter rules per counter or camera on the retention page. 180: the "
        "public-security rule keeps enforcement recordings at least six months.",
    )
    archive_retain_days: int = Field(
        default=30,
        ge=0,
        le=36_500,
        description="Days a receipt's footage stays held after its case is archived.",
    )
    interval_minutes: float = Field(
        default=60.0,
        ge=0.1,
        le=10_080.0,
        description="How often the retention pass runs (also at start and at the critical mark).",
    )


class ExportsConfig(_Strict):
    min_people: int = Field(
        default=3,
        ge=2,
        le=3,
        description="Distinct accounts an export needs (art. 28): 3, the requester, the "
        "reviewer and the approver are three people; 2, the reviewer may also approve, but "
        "never the requester.",
    )
    view_hours: float = Field(
        default=24.0,
        ge=0.1,
        le=720.0,
        description="Hours an approved on-site viewing stays unlocked for its requester.",
    )
    max_window_hours: float = Field(
        default=24.0,
        ge=0.1,
        le=744.0,
        description="Longest window one export request may cover.",
    )


class TransferConfig(_Strict):
    target: Literal["none", "s3", "directory"] = Field(
        default="none",
        description="Central storage every sealed segment is copied to: 'none', 's3' (an "
        "S3-compatible object store) or 'directory' (a mounted NFS/SMB directory).",
    )
    endpoint: str | None = Field(
        default=None, description="S3 endpoint URL, e.g. https://oss.example.gov.cn."
    )
    bucket: str | None = Field(default=None, description="S3 bucket.")
    prefix: str = Field(default="", max_length=200, description="Key prefix inside the bucket.")
    region: str = Field(default="us-east-1", max_length=64, description="S3 region name.")
    path: Path | None = Field(default=None, description="Directory target: its mount point.")
    lock_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="S3 object lock: keep each object in COMPLIANCE mode this many days "
        "(the bucket must have object lock enabled). None: no lock.",
    )
    max_mbit_s: float = Field(
        default=100.0,
        ge=0.01,
        le=100_000.0,
        description="Upload bandwidth cap over all uploads, Mbit/s, so recording is never starved.",
    )
    concurrency: int = Field(default=2, ge=1, le=64, description="Uploads at a time.")
    warn_hours: float = Field(
        default=12.0,
        ge=0.1,
        le=24.0,
        description="An alarm when the oldest segment not yet confirmed is this old.",
    )
    timeout_seconds: float = Field(
        default=30.0, ge=1.0, le=600.0, description="Connect and read timeout of each request."
    )

    @model_validator(mode="after")
    def _complete(self) -> TransferConfig:
        if self.target == "s3" and not (self.endpoint and self.bucket):
            raise ValueError("transfer.target 's3' needs endpoint and bucket")
        if self.target == "directory" and self.path is None:
            raise ValueError("transfer.target 'directory' needs path")
        if self.endpoint is not None and "@" in self.endpoint.partition("://")[2].partition("/")[0]:
            raise ValueError(
                "transfer.endpoint must not carry credentials; set them with "
                "'surveil transfer credentials'"
            )
        return self


class Config(_Strict):
    data_dir: Path = Field(
        default=Path("/var/lib/surveil"),
        description="Directory for segments, keys and the default SQLite database.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL of the index; default: SQLite file "
        "'index.sqlite3' in data_dir. PostgreSQL: postgresql+asyncpg://user@host/db.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of log lines written to stderr."
    )
    web: WebConfig = Field(default_factory=WebConfig, description="Web UI and API.")
    recording: RecordingConfig = Field(
        default_factory=RecordingConfig, description="How cameras are recorded."
    )
    cameras: Annotated[list[CameraConfig], Field(max_length=4096)] = Field(
        default_factory=list, description="Cameras to record."
    )
    counters: Annotated[list[CounterConfig], Field(max_length=4096)] = Field(
        default_factory=list,
        description="Acceptance counters with their names; a code used by a camera but "
        "not listed here is created with its code as name.",
    )
    receipts: ReceiptsConfig = Field(
        default_factory=ReceiptsConfig, description="Receipt holds and validation limits."
    )
    onvif: OnvifConfig = Field(
        default_factory=OnvifConfig,
        description="ONVIF discovery, probing and camera clock checks.",
    )
    integrity: IntegrityConfig = Field(
        default_factory=IntegrityConfig,
        description="The signed Merkle log: checkpoints, scrubbing, optional co-signatures.",
    )
    storage: StorageConfig = Field(
        default_factory=StorageConfig,
        description="Volumes for segment files and their space alarms.",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long footage is kept; what is held is never deleted.",
    )
    transfer: TransferConfig = Field(
        default_factory=TransferConfig,
        description="Copying every sealed segment to central storage (art. 22: within 24 h).",
    )
    exports: ExportsConfig = Field(
        default_factory=ExportsConfig,
        description="Export requests for parties (art. 24) and their approval (art. 28).",
    )

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str | None) -> str | None:
        if v is not None and not (
            v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")
        ):
            raise ValueError(
                "database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.name in seen:
                raise ValueError(f"camera name {cam.name!r} is used twice")
            seen.add(cam.name)
        codes: set[str] = set()
        for counter in self.counters:
            if counter.code in codes:
                raise ValueError(f"counter code {counter.code!r} is used twice")
            codes.add(counter.code)
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'index.sqlite3'}"


def load_config(path: Path) -> Config:
    """Read and validate a TOML config file; raise ConfigError with every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"config file {path} does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from e
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, object], source: str = "<config>") -> Config:
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None
    if not cfg.data_dir.is_absolute():
        base = Path(source).parent if source != "<config>" else Path.cwd()
        cfg = cfg.model_copy(update={"data_dir": (base / cfg.data_dir).resolve()})
    return cfg


def format_validation_error(e: ValidationError, source: str) -> str:
    """One line per problem, with the dotted path of the key; never echoes URLs."""
    lines = [f"{source}: {e.error_count()} problem(s):"]
    for err in e.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc}: {redact_url(msg)}")
    return "\n".join(lines)
