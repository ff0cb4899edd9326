"""Typed, immutable records returned by the index query functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

SEGMENT_STATES: Final = (
    "open",
    "sealed",
    "recovered",
    "missing",
    "damaged",
    "garbage",
    "deleted",
)
# garbage: retention decided to delete the file (logged); deleted: the file is gone, the row
# stays forever as the tombstone the log and verify refer to (docs/design/storage.md).
DELETION_STATES: Final = ("garbage", "deleted")
HOLD_KINDS: Final = ("receipt", "legal", "export")
CASE_STATES: Final = ("open", "closed", "archived")
RETENTION_SCOPES: Final = ("installation", "counter", "camera")
RETENTION_TRIGGERS: Final = ("schedule", "disk", "quota", "manual", "startup")
TRANSFER_STATES: Final = ("pending", "uploaded", "confirmed", "failed")
# Export requests (art. 24, 28): the states of a request and the steps of its custody chain.
EXPORT_STATES: Final = (
    "submitted",  # filed; waits for a reviewer
    "returned",  # the reviewer sent it back with a reason; the requester resubmits or withdraws
    "reviewed",  # the reviewer passed it; waits for an approver
    "approved",  # approved; a copy is packaged in the background, a viewing is unlocked
    "rejected",  # the approver refused it (final)
    "withdrawn",  # the requester withdrew it before approval (final)
    "packaged",  # the package is built and may be downloaded and handed over
    "delivered",  # handed to the party (a copy) or shown (a viewing) (final)
)
EXPORT_KINDS: Final = ("view", "copy")
EXPORT_STEPS: Final = (
    "submit",
    "review",
    "return",
    "resubmit",
    "approve",
    "reject",
    "withdraw",
    "package",
    "deliver",
    "view",
    "download",
)
PACKAGE_STATES: Final = ("none", "building", "ready", "failed")
# Permissions an admin grants to accounts, beside their role (the one access policy).
PERMISSIONS: Final = ("export.review", "export.approve")
DEFAULT_VOLUME: Final = "main"
CLOCK_SYNC_STATES: Final = ("synced", "unsynced", "unknown")
TOKEN_ROLES: Final = ("admin", "staff", "auditor")
USER_ROLES: Final = TOKEN_ROLES
CAMERA_ORIGINS: Final = ("config", "api")
AUDIT_ACTOR_KINDS: Final = ("user", "token", "anonymous", "system")
AUDIT_OUTCOMES: Final = ("ok", "denied", "failed")


@dataclass(frozen=True)
class CameraRecord:
    """A configured camera; source_url is redacted and never holds a password."""

    id: int
    name: str
    source_url: str
    enabled: bool
    counters: tuple[str, ...]
    created_us: int
    origin: str = "config"  # one of CAMERA_ORIGINS
    onvif_host: str | None = None
    onvif_port: int | None = None
    onvif_profile: str | None = None
    username: str | None = None
    # Fernet ciphertext of the password (cameras.credentials); never shown, never logged.
    secret_enc: str | None = field(default=None, repr=False)
    device: dict[str, object] | None = None  # the last ONVIF probe (no credentials)
    clock_offset_us: int | None = None
    probed_us: int | None = None
    updated_us: int | None = None
    deleted_us: int | None = None

    @property
    def has_password(self) -> bool:
        return self.secret_enc is not None


@dataclass(frozen=True)
class RunRecord:
    """An unbroken stretch of recording for one camera; end_us is None while it runs."""

    id: int
    camera_id: int
    start_us: int
    end_us: int | None
    start_reason: str
    end_reason: str | None


@dataclass(frozen=True)
class GapRecord:
    """A stretch with no recording for one camera; end_us is None while it lasts."""

    id: int
    camera_id: int
    start_us: int
    end_us: int | None
    reason: str


@dataclass(frozen=True)
class SegmentRow:
    """The writer's view of a segment: everything but the database id."""

    camera_id: int
    run_id: int
    sequence: int
    path: str  # relative to data_dir, posix separators
    start_us: int
    end_us: int
    duration_us: int
    bytes: int
    sha256: str | None
    state: str  # one of SEGMENT_STATES
    video_codec: str
    audio_codec: str | None
    fragments: int
    clock_sync: str  # one of CLOCK_SYNC_STATES
    camera_clock_offset_us: int | None
    created_us: int
    sealed_us: int | None
    volume: str = DEFAULT_VOLUME  # the storage volume path is relative to


@dataclass(frozen=True)
class SegmentRecord:
    """A stored segment with its id and camera name."""

    id: int
    camera: str
    camera_id: int
    run_id: int
    sequence: int
    path: str
    start_us: int
    end_us: int
    duration_us: int
    bytes: int
    sha256: str | None
    state: str
    video_codec: str
    audio_codec: str | None
    fragments: int
    clock_sync: str
    camera_clock_offset_us: int | None
    created_us: int
    sealed_us: int | None
    volume: str = DEFAULT_VOLUME
    leaf_index: int | None = None  # its entry in the Merkle log, once sealed


@dataclass(frozen=True)
class EventRecord:
    """Something worth remembering that happened at at_us; detail is JSON-compatible."""

    id: int
    at_us: int
    kind: str
    camera_id: int | None
    segment_id: int | None
    detail: dict[str, object]


@dataclass(frozen=True)
class TokenRecord:
    """An API token's metadata; the token itself is only ever stored as a hash."""

    id: int
    name: str
    role: str  # one of TOKEN_ROLES
    created_us: int
    revoked_us: int | None
    last_used_us: int | None


@dataclass(frozen=True)
class CounterRecord:
    """An acceptance counter (service window) identified by its code."""

    id: int
    code: str
    name: str
    site: str | None
    created_us: int


@dataclass(frozen=True)
class ReceiptRecord:
    """An acceptance at a counter; completed_us is None while it is open."""

    id: int
    receipt_no: str
    counter: str  # counter code
    counter_id: int
    accepted_us: int
    completed_us: int | None
    case_no: str | None
    service: str | None
    handler: str | None
    created_us: int
    updated_us: int
    case_state: str = "open"  # one of CASE_STATES
    case_closed_us: int | None = None
    case_archived_us: int | None = None


@dataclass(frozen=True)
class HoldRecord:
    """A span of one camera's footage that retention must keep; end_us None: up to now."""

    id: int
    camera_id: int
    camera: str  # camera name
    receipt_id: int | None
    start_us: int
    end_us: int | None
    reason: str
    kind: str = "receipt"  # one of HOLD_KINDS
    created_us: int = 0
    created_by: str | None = None
    expires_us: int | None = None  # stops protecting then (a case archived); None: never
    released_us: int | None = None
    released_by: str | None = None
    release_reason: str | None = None

    def active(self, now_us: int) -> bool:
        """Whether it protects its footage at now_us."""
        return self.released_us is None and (self.expires_us is None or self.expires_us > now_us)


@dataclass(frozen=True)
class UserRecord:
    """A web account; the password hash stays in the index layer."""

    id: int
    username: str
    role: str  # one of USER_ROLES
    counters: tuple[str, ...]  # counter codes a staff account is scoped to
    created_us: int
    disabled_us: int | None
    last_login_us: int | None
    permissions: tuple[str, ...] = ()  # of PERMISSIONS, granted beside the role


@dataclass(frozen=True)
class SessionRecord:
    """A web session (the id itself is never stored, only its hash)."""

    id: int
    user_id: int
    csrf_token: str
    created_us: int
    last_seen_us: int
    ended_us: int | None
    end_reason: str | None
    remote: str | None


@dataclass(frozen=True)
class AuditRecord:
    """One row of the append-only audit log."""

    id: int
    at_us: int
    actor: str
    actor_kind: str  # one of AUDIT_ACTOR_KINDS
    remote: str | None
    action: str
    target: str | None
    outcome: str  # one of AUDIT_OUTCOMES
    detail: dict[str, object]
    leaf_index: int | None = None  # its entry in the Merkle log


@dataclass(frozen=True)
class AuditIn:
    """What an audited action reports; the index stamps id (and at_us if not given)."""

    actor: str
    actor_kind: str
    action: str
    outcome: str
    remote: str | None = None
    target: str | None = None
    detail: dict[str, object] | None = None


@dataclass(frozen=True)
class SegmentFileRef:
    """Just enough of a segment to check its file (scans of many rows stay cheap)."""

    id: int
    camera_id: int
    path: str
    start_us: int
    bytes: int
    state: str
    volume: str = DEFAULT_VOLUME


@dataclass(frozen=True)
class RetentionRuleRecord:
    """How long footage is kept for the installation, a counter or a camera."""

    id: int
    scope: str  # one of RETENTION_SCOPES
    ref: str  # counter code or camera name; '' for the installation
    retain_days: int
    updated_us: int
    updated_by: str


@dataclass(frozen=True)
class RetentionPassRecord:
    """One run of the retention policy."""

    id: int
    trigger: str  # one of RETENTION_TRIGGERS
    volume: str | None
    started_us: int
    finished_us: int | None
    deleted: int
    bytes: int
    summary: dict[str, object]


@dataclass(frozen=True)
class DeletionRecord:
    """A segment file retention decided to delete; finished_us None until the unlink is
    durable."""

    id: int
    segment_id: int
    pass_id: int
    policy: str
    reason: str
    decided_us: int
    finished_us: int | None
    camera: str
    volume: str
    path: str
    start_us: int
    end_us: int
    bytes: int
    sha256: str
    central: str | None  # "target key" of the confirmed central copy, if any
    leaf_index: int | None = None


@dataclass(frozen=True)
class Decision:
    """Retention's verdict on one segment, before it is written."""

    segment_id: int
    policy: str  # retain_days, quota or disk
    reason: str


@dataclass(frozen=True)
class ExportParty:
    """Who asked for the footage: the party of the case, or their representative."""

    name: str
    id_type: str  # e.g. 居民身份证 / passport
    id_number: str
    relation: str  # to the case: applicant, agent, lawyer, ...


@dataclass(frozen=True)
class ExportRecord:
    """An export request: footage of cameras over a window, for a party, under approval."""

    id: int
    state: str  # one of EXPORT_STATES
    kind: str  # one of EXPORT_KINDS
    counter: str  # counter code: the scope every step is checked against
    receipt_no: str | None
    case_no: str | None
    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    party: ExportParty
    purpose: str
    legal_basis: str
    created_us: int
    created_by: str
    updated_us: int
    view_until_us: int | None  # a viewing is unlocked until then (view requests)
    package_state: str  # one of PACKAGE_STATES
    package_file: str | None  # under data_dir/exports
    package_bytes: int | None
    package_sha256: str | None
    package_error: str | None


@dataclass(frozen=True)
class ExportStepRecord:
    """One step of a request's custody chain, written with its audit row."""

    id: int
    request_id: int
    step: str  # one of EXPORT_STEPS
    actor: str
    actor_kind: str
    actor_role: str
    at_us: int
    reason: str | None
    recipient: str | None  # deliver: to whom
    method: str | None  # deliver: how (on site, disc, ...)
    audit_id: int
