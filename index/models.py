"""SQLAlchemy models: the schema of the index. Changes here need an Alembic migration.

Every time is integer microseconds since the Unix epoch (UTC) in a column whose
name ends in ``_us``; 64-bit because µs since 1970 overflow 32 bits in 36 minutes.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from index.records import (
    AUDIT_ACTOR_KINDS,
    AUDIT_OUTCOMES,
    CASE_STATES,
    CLOCK_SYNC_STATES,
    DEFAULT_VOLUME,
    EXPORT_KINDS,
    EXPORT_STATES,
    EXPORT_STEPS,
    HOLD_KINDS,
    PACKAGE_STATES,
    PERMISSIONS,
    RETENTION_SCOPES,
    RETENTION_TRIGGERS,
    SEGMENT_STATES,
    TOKEN_ROLES,
    TRANSFER_STATES,
    USER_ROLES,
)

# Deterministic constraint names, so migrations can refer to them and both
# backends reflect the same names.
NAMING_CONVENTION: Final = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

# SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY;
# PostgreSQL gets 64-bit ids because events and segments grow without bound.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Camera(Base):
    """A configured camera."""

    __tablename__ = "cameras"
    __table_args__ = ({"comment": "Configured cameras, one row per camera name"},)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    name: Mapped[str] = mapped_column(
        String(200), unique=True, comment="Camera name from the configuration; stable identity"
    )
    source_url: Mapped[str] = mapped_column(
        Text, comment="Stream URL with any user:password redacted to ***"
    )
    enabled: Mapped[bool] = mapped_column(Boolean, comment="Whether the camera should record")
    counters_json: Mapped[str] = mapped_column(
        "counters", Text, comment="JSON array of the service counter ids this camera covers"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row was first inserted, µs since epoch UTC"
    )
    origin: Mapped[str] = mapped_column(
        String(10),
        server_default="config",
        comment="Who manages the camera: 'config' (the TOML file) or 'api' (web UI and API)",
    )
    onvif_host: Mapped[str | None] = mapped_column(
        String(255), comment="ONVIF device host name or address; NULL for a plain stream URL"
    )
    onvif_port: Mapped[int | None] = mapped_column(
        Integer, comment="ONVIF device HTTP port; NULL for a plain stream URL"
    )
    onvif_profile: Mapped[str | None] = mapped_column(
        String(200), comment="ONVIF media profile token recorded; NULL: chosen by resolution"
    )
    username: Mapped[str | None] = mapped_column(
        String(200), comment="User name for the camera (ONVIF and RTSP); NULL if none"
    )
    secret_enc: Mapped[str | None] = mapped_column(
        Text,
        comment="Camera password encrypted with the key file in the data directory "
        "(Fernet); the key is never in the index",
    )
    device_json: Mapped[str | None] = mapped_column(
        Text, comment="JSON of the last ONVIF probe: model, firmware, serial, profiles"
    )
    clock_offset_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Camera clock minus host clock at the last probe, µs; NULL if unknown"
    )
    probed_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the camera was last probed, µs since epoch UTC; NULL if never"
    )
    updated_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the row last changed, µs since epoch UTC; NULL if never"
    )
    deleted_us: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="When the camera was deleted (its footage is kept), µs since epoch UTC; "
        "NULL if not deleted",
    )


class Run(Base):
    """An unbroken stretch of recording."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_camera_id_start_us", "camera_id", "start_us"),
        {"comment": "Recording runs: each is an unbroken sequence of segments from one camera"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), comment="Camera that recorded the run"
    )
    start_us: Mapped[int] = mapped_column(
        BigInteger, comment="Start of the run, µs since epoch UTC"
    )
    end_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="End of the run, µs since epoch UTC; NULL while recording"
    )
    start_reason: Mapped[str] = mapped_column(
        String(200), comment="Why the run started (e.g. startup, reconnect)"
    )
    end_reason: Mapped[str | None] = mapped_column(
        String(200), comment="Why the run ended (e.g. shutdown, stream lost); NULL while recording"
    )


class Gap(Base):
    """A stretch with no recording, with its reason."""

    __tablename__ = "gaps"
    __table_args__ = (
        Index("ix_gaps_camera_id_start_us", "camera_id", "start_us"),
        {"comment": "Known holes in a camera's recording, between runs"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), comment="Camera that was not recording"
    )
    start_us: Mapped[int] = mapped_column(
        BigInteger, comment="Start of the gap, µs since epoch UTC"
    )
    end_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="End of the gap, µs since epoch UTC; NULL while it lasts"
    )
    reason: Mapped[str] = mapped_column(
        String(200), comment="Why recording stopped (end reason of the previous run)"
    )


class Segment(Base):
    """One fMP4 file of a run."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("run_id", "sequence"),
        Index("ix_segments_camera_id_start_us", "camera_id", "start_us"),
        Index("ix_segments_camera_id_end_us", "camera_id", "end_us"),
        Index("ix_segments_state", "state"),
        CheckConstraint(_in("state", SEGMENT_STATES), name="state"),
        CheckConstraint(_in("clock_sync", CLOCK_SYNC_STATES), name="clock_sync"),
        {"comment": "Segment files (fMP4), one row per file, opened at its first fragment"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), comment="Camera that recorded the segment"
    )
    run_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("runs.id"), comment="Run the segment belongs to"
    )
    sequence: Mapped[int] = mapped_column(
        Integer, comment="0-based position of the segment within its run"
    )
    path: Mapped[str] = mapped_column(
        String(1000), unique=True, comment="File path relative to data_dir, posix separators"
    )
    start_us: Mapped[int] = mapped_column(
        BigInteger, comment="Presentation time of the first frame, µs since epoch UTC"
    )
    end_us: Mapped[int] = mapped_column(
        BigInteger, comment="End of the last complete fragment, µs since epoch UTC"
    )
    duration_us: Mapped[int] = mapped_column(
        BigInteger, comment="Media duration from the stream timestamps, µs"
    )
    bytes: Mapped[int] = mapped_column(
        BigInteger, comment="File size in bytes covered by end_us (and by sha256 once sealed)"
    )
    sha256: Mapped[str | None] = mapped_column(
        String(64), comment="Lowercase hex SHA-256 of the file; NULL until sealed"
    )
    state: Mapped[str] = mapped_column(
        String(16),
        comment="Lifecycle: open, sealed, recovered (sealed after a crash), missing, "
        "damaged (the file no longer has its recorded size or hash), garbage (retention "
        "decided to delete the file), deleted (the file is gone; the row stays)",
    )
    volume: Mapped[str] = mapped_column(
        String(64),
        server_default=DEFAULT_VOLUME,
        comment="Storage volume holding the file ([[storage.volumes]] name); path is relative "
        "to its root",
    )
    video_codec: Mapped[str] = mapped_column(
        String(64), comment="Video codec name as FFmpeg spells it (e.g. h264, hevc)"
    )
    audio_codec: Mapped[str | None] = mapped_column(
        String(64), comment="Audio codec name as FFmpeg spells it; NULL when there is no audio"
    )
    fragments: Mapped[int] = mapped_column(
        Integer, comment="Number of complete moof+mdat fragments in the file"
    )
    clock_sync: Mapped[str] = mapped_column(
        String(16), comment="Host clock state when recorded: synced, unsynced or unknown"
    )
    camera_clock_offset_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Camera clock minus host clock, µs; NULL when unknown"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row was inserted (host clock), µs since epoch UTC"
    )
    sealed_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the segment was sealed (host clock), µs since epoch UTC"
    )


class Event(Base):
    """Something worth remembering: reconnects, recoveries, clock steps, errors."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_at_us", "at_us"),
        Index("ix_events_camera_id_at_us", "camera_id", "at_us"),
        {"comment": "Operational event log, newest rows are the most interesting"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    at_us: Mapped[int] = mapped_column(BigInteger, comment="When it happened, µs since epoch UTC")
    kind: Mapped[str] = mapped_column(
        String(100), comment="Event type, dotted lowercase (e.g. camera.reconnect)"
    )
    camera_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("cameras.id"), comment="Camera concerned; NULL for system events"
    )
    # SET NULL so retention can delete a segment without losing its history;
    # events that must outlive the segment keep the path in detail.
    segment_id: Mapped[int | None] = mapped_column(
        RowId,
        ForeignKey("segments.id", ondelete="SET NULL"),
        comment="Segment concerned; NULL if none or deleted since",
    )
    detail_json: Mapped[str] = mapped_column(
        "detail", Text, comment="JSON object with event-specific detail"
    )


class ApiToken(Base):
    """An API bearer token, stored as a hash."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(_in("role", TOKEN_ROLES), name="role"),
        {"comment": "API tokens; only a hash of each token is stored"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    name: Mapped[str] = mapped_column(
        String(200), comment="Human label for the token (who or what uses it)"
    )
    role: Mapped[str] = mapped_column(String(16), comment="Role: admin, staff or auditor")
    token_hash: Mapped[str] = mapped_column(
        String(128), unique=True, comment="Hex hash of the token secret; the secret is never stored"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the token was created, µs since epoch UTC"
    )
    revoked_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the token was revoked, µs since epoch UTC; NULL if active"
    )
    last_used_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Last successful authentication, µs since epoch UTC; NULL if never"
    )


class Counter(Base):
    """An acceptance counter (service window)."""

    __tablename__ = "counters"
    __table_args__ = ({"comment": "Acceptance counters, one row per counter code"},)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    code: Mapped[str] = mapped_column(
        String(32), unique=True, comment="Counter code, e.g. A01; stable identity"
    )
    name: Mapped[str] = mapped_column(String(200), comment="Human name of the counter")
    site: Mapped[str | None] = mapped_column(
        String(200), comment="Hall or site the counter is in; NULL if not given"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row was first inserted, µs since epoch UTC"
    )


class CameraCounter(Base):
    """Which camera covers which counter (many to many)."""

    __tablename__ = "camera_counters"
    __table_args__ = (
        Index("ix_camera_counters_counter_id", "counter_id"),
        {"comment": "Links between cameras and the counters they cover"},
    )

    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), primary_key=True, comment="Camera covering the counter"
    )
    counter_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("counters.id"), primary_key=True, comment="Counter the camera covers"
    )


class Receipt(Base):
    """An acceptance of a case at a counter, from the acceptance system."""

    __tablename__ = "receipts"
    __table_args__ = (
        Index("ix_receipts_counter_id_accepted_us", "counter_id", "accepted_us"),
        CheckConstraint(_in("case_state", CASE_STATES), name="case_state"),
        {"comment": "Acceptance receipts, one row per receipt number"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    receipt_no: Mapped[str] = mapped_column(
        String(64), unique=True, comment="Receipt number from the acceptance system"
    )
    counter_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("counters.id"), comment="Counter where the case was accepted"
    )
    accepted_us: Mapped[int] = mapped_column(
        BigInteger, comment="When acceptance started, µs since epoch UTC"
    )
    completed_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When acceptance was completed, µs since epoch UTC; NULL while open"
    )
    case_no: Mapped[str | None] = mapped_column(
        String(200), comment="Case number, if the acceptance system sent one"
    )
    service: Mapped[str | None] = mapped_column(
        String(200), comment="Service (matter) applied for, if sent"
    )
    handler: Mapped[str | None] = mapped_column(
        String(200), comment="Staff member who handled the acceptance, if sent"
    )
    case_state: Mapped[str] = mapped_column(
        String(16),
        server_default="open",
        comment="Case lifecycle: open, closed (the case ended) or archived (its file archived)",
    )
    case_closed_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the case was closed, µs since epoch UTC; NULL while open"
    )
    case_archived_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the case was archived, µs since epoch UTC; NULL until then"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row was inserted (host clock), µs since epoch UTC"
    )
    updated_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row last changed (host clock), µs since epoch UTC"
    )


class Hold(Base):
    """A span of a camera's footage that retention must keep."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_camera_id_start_us", "camera_id", "start_us"),
        Index("ix_holds_receipt_id", "receipt_id"),
        Index("ix_holds_export_id", "export_id"),
        CheckConstraint(_in("kind", HOLD_KINDS), name="kind"),
        {"comment": "Retention holds on camera footage, e.g. one per receipt and camera"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), comment="Camera whose footage is held"
    )
    receipt_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("receipts.id"), comment="Receipt that placed the hold; NULL if none"
    )
    start_us: Mapped[int] = mapped_column(
        BigInteger, comment="Start of the held span, µs since epoch UTC"
    )
    end_us: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="End of the held span, µs since epoch UTC; NULL: up to now (open receipt)",
    )
    reason: Mapped[str] = mapped_column(String(200), comment="Why the footage is held")
    kind: Mapped[str] = mapped_column(
        String(16),
        server_default="receipt",
        comment="receipt (placed by a receipt; a case hold once its case is archived), legal "
        "(placed by an admin with a reason) or export (an export request)",
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, server_default="0", comment="When the hold was placed, µs since epoch UTC"
    )
    created_by: Mapped[str | None] = mapped_column(
        String(200), comment="Who placed it (user or token name); NULL when the system did"
    )
    expires_us: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="The hold stops protecting at this time (case archived + archive_retain_days), "
        "µs since epoch UTC; NULL: no expiry",
    )
    released_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When it was released, µs since epoch UTC; NULL while it holds"
    )
    released_by: Mapped[str | None] = mapped_column(
        String(200), comment="Who released it; NULL while it holds"
    )
    release_reason: Mapped[str | None] = mapped_column(
        Text, comment="Why it was released; NULL while it holds"
    )
    export_id: Mapped[int | None] = mapped_column(
        RowId,
        ForeignKey("export_requests.id"),
        comment="Export request that placed the hold (kind export); NULL if none",
    )


class User(Base):
    """A person who signs in to the web pages."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="role"),
        {"comment": "Accounts for the web pages; passwords only as argon2id hashes"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    username: Mapped[str] = mapped_column(
        String(64), unique=True, comment="Login name; stable identity"
    )
    password_hash: Mapped[str] = mapped_column(
        Text, comment="argon2id hash (PHC string) of the password; the password is never stored"
    )
    role: Mapped[str] = mapped_column(String(16), comment="Role: admin, staff or auditor")
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the account was created, µs since epoch UTC"
    )
    disabled_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the account was disabled, µs since epoch UTC; NULL if active"
    )
    last_login_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Last successful login, µs since epoch UTC; NULL if never"
    )


class UserCounter(Base):
    """Which counters a staff account may see (its scope)."""

    __tablename__ = "user_counters"
    __table_args__ = ({"comment": "Counters a staff account is scoped to"},)

    user_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("users.id"), primary_key=True, comment="Staff account"
    )
    counter_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("counters.id"), primary_key=True, comment="Counter in its scope"
    )


class UserPermission(Base):
    """A permission an admin granted to an account, beside its role."""

    __tablename__ = "user_permissions"
    __table_args__ = (
        CheckConstraint(_in("permission", PERMISSIONS), name="permission"),
        {"comment": "Permissions granted to accounts beside their role (export.review, ...)"},
    )

    user_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("users.id"), primary_key=True, comment="Account"
    )
    permission: Mapped[str] = mapped_column(
        String(32), primary_key=True, comment="export.review or export.approve"
    )


class WebSession(Base):
    """A signed-in browser session."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id", "user_id"),
        {"comment": "Web sessions; only a hash of each session id is stored"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    sid_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="sha256 hex of the session id cookie; the id is not stored"
    )
    user_id: Mapped[int] = mapped_column(RowId, ForeignKey("users.id"), comment="Account signed in")
    csrf_token: Mapped[str] = mapped_column(
        String(64), comment="Per-session anti-CSRF token every state change must echo"
    )
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="Login time, µs since epoch UTC (absolute timeout counts from here)"
    )
    last_seen_us: Mapped[int] = mapped_column(
        BigInteger, comment="Last request, µs since epoch UTC (idle timeout counts from here)"
    )
    ended_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="When the session ended, µs since epoch UTC; NULL while active"
    )
    end_reason: Mapped[str | None] = mapped_column(
        String(32), comment="logout, idle, expired, password changed, disabled; NULL while active"
    )
    remote: Mapped[str | None] = mapped_column(String(64), comment="Client address at login")


class AuditEntry(Base):
    """One audited action. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(_in("actor_kind", AUDIT_ACTOR_KINDS), name="actor_kind"),
        CheckConstraint(_in("outcome", AUDIT_OUTCOMES), name="outcome"),
        Index("ix_audit_log_at_us", "at_us"),
        {"comment": "Append-only audit trail: who did what, when, from where, with what outcome"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    at_us: Mapped[int] = mapped_column(BigInteger, comment="When, µs since epoch UTC")
    actor: Mapped[str] = mapped_column(
        String(200), comment="User name, token name, or '-' when unauthenticated"
    )
    actor_kind: Mapped[str] = mapped_column(String(16), comment="user, token, anonymous or system")
    remote: Mapped[str | None] = mapped_column(String(64), comment="Client address; NULL if none")
    action: Mapped[str] = mapped_column(
        String(64), comment="What was attempted, e.g. login, camera.create, GET /api/v1/cameras"
    )
    target: Mapped[str | None] = mapped_column(
        String(300), comment="What it was done to (camera name, user name, ...); NULL if none"
    )
    outcome: Mapped[str] = mapped_column(String(16), comment="ok, denied or failed")
    detail: Mapped[str] = mapped_column(Text, comment="JSON object with action-specific detail")


class LogLeaf(Base):
    """One entry of the Merkle log: its canonical leaf input and what it records."""

    __tablename__ = "log_leaves"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id"),
        {"comment": "The Merkle log's leaves in log order. Append-only: triggers refuse changes"},
    )

    idx: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, comment="0-based leaf index"
    )
    kind: Mapped[str] = mapped_column(String(16), comment="What the leaf records: segment, audit")
    ref_id: Mapped[int] = mapped_column(
        BigInteger, comment="Id of the row it records (segments.id, audit_log.id)"
    )
    leaf: Mapped[bytes] = mapped_column(
        LargeBinary, comment="Leaf input: canonical UTF-8 JSON of the entry (tlog/leaves.py)"
    )
    leaf_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), comment="SHA-256(0x00 || leaf), RFC 9162 leaf hash"
    )
    appended_us: Mapped[int] = mapped_column(
        BigInteger, comment="When it was appended, µs since epoch UTC"
    )


class LogHash(Base):
    """The root of one complete, aligned subtree of the log."""

    __tablename__ = "log_hashes"
    __table_args__ = (
        {"comment": "Every complete subtree of the Merkle log above its leaves (O(log n) proofs)"},
    )

    level: Mapped[int] = mapped_column(
        Integer,
        primary_key=True,
        autoincrement=False,
        comment="Height, 1 or more (leaf hashes are in log_leaves)",
    )
    idx: Mapped[int] = mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        comment="Index at that level: covers leaves [idx * 2^level, (idx + 1) * 2^level)",
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), comment="RFC 9162 subtree hash")


class LogState(Base):
    """The log's size and compact range: all an append reads."""

    __tablename__ = "log_state"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        {"comment": "One row: the Merkle log's size and the roots of its perfect subtrees"},
    )

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False, comment="Always 1"
    )
    size: Mapped[int] = mapped_column(BigInteger, comment="Number of leaves")
    compact: Mapped[bytes] = mapped_column(
        LargeBinary, comment="The compact range: 32-byte subtree roots, largest first"
    )


class Checkpoint(Base):
    """A signed checkpoint of the log, kept forever."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        {"comment": "Every signed checkpoint issued (C2SP tlog-checkpoint). Append-only"},
    )

    size: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, comment="Log size it commits to"
    )
    root: Mapped[bytes] = mapped_column(LargeBinary(32), comment="Root hash at that size")
    note: Mapped[str] = mapped_column(Text, comment="The signed note, as served")
    issued_us: Mapped[int] = mapped_column(BigInteger, comment="Signed at, µs since epoch UTC")
    timestamp_token: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="RFC 3161 token over the note from the configured TSA; NULL if none"
    )


class IntegrityRun(Base):
    """One verify run or scrub cycle, and what it found."""

    __tablename__ = "integrity_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('verify', 'scrub')", name="kind"),
        Index("ix_integrity_runs_kind_started_us", "kind", "started_us"),
        {"comment": "Integrity checks run: surveil verify and scrub cycles, with their results"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    kind: Mapped[str] = mapped_column(String(16), comment="verify or scrub")
    started_us: Mapped[int] = mapped_column(BigInteger, comment="Start, µs since epoch UTC")
    finished_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="End, µs since epoch UTC; NULL while it runs"
    )
    checked: Mapped[int] = mapped_column(BigInteger, comment="Items checked so far")
    bytes: Mapped[int] = mapped_column(BigInteger, comment="Bytes of footage read so far")
    findings: Mapped[int] = mapped_column(Integer, comment="Discrepancies found")
    position: Mapped[int] = mapped_column(
        BigInteger, comment="Scrub: the last segment id checked; verify: 0"
    )
    summary: Mapped[str] = mapped_column(Text, comment="JSON object: findings by kind, log size")


class RetentionRule(Base):
    """How long footage is kept, for the installation, a counter or a camera."""

    __tablename__ = "retention_rules"
    __table_args__ = (
        UniqueConstraint("scope", "ref"),
        CheckConstraint(_in("scope", RETENTION_SCOPES), name="scope"),
        CheckConstraint("retain_days >= 1", name="retain_days"),
        {"comment": "Retention rules set by admins; the most specific one applies"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    scope: Mapped[str] = mapped_column(String(16), comment="installation, counter or camera")
    ref: Mapped[str] = mapped_column(
        String(200), comment="Counter code or camera name; '' for the installation"
    )
    retain_days: Mapped[int] = mapped_column(Integer, comment="Days footage is kept at least")
    updated_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the rule was last set, µs since epoch UTC"
    )
    updated_by: Mapped[str] = mapped_column(String(200), comment="Who set it")


class RetentionPass(Base):
    """One run of the retention policy: what it deleted and what it kept, and why."""

    __tablename__ = "retention_passes"
    __table_args__ = (
        CheckConstraint(_in("trigger", RETENTION_TRIGGERS), name="trigger"),
        Index("ix_retention_passes_started_us", "started_us"),
        {"comment": "Retention passes; each deletion names its pass"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    trigger: Mapped[str] = mapped_column(
        String(16), comment="schedule, disk (critical mark), quota, manual or startup"
    )
    volume: Mapped[str | None] = mapped_column(
        String(64), comment="The volume it freed space on; NULL: every volume"
    )
    started_us: Mapped[int] = mapped_column(BigInteger, comment="Start, µs since epoch UTC")
    finished_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="End, µs since epoch UTC; NULL while it runs or if it was cut short"
    )
    deleted: Mapped[int] = mapped_column(Integer, comment="Segments deleted")
    bytes: Mapped[int] = mapped_column(BigInteger, comment="Bytes freed")
    summary: Mapped[str] = mapped_column(
        Text, comment="JSON object: segments kept by reason, the cut-off per camera"
    )


class Deletion(Base):
    """The decision to delete one segment file, and its completion."""

    __tablename__ = "deletions"
    __table_args__ = (
        Index("ix_deletions_finished_us", "finished_us"),
        {"comment": "One row per deleted segment file; logged in the Merkle log when decided"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    segment_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("segments.id"), unique=True, comment="The segment whose file goes"
    )
    pass_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("retention_passes.id"), comment="The pass that decided it"
    )
    policy: Mapped[str] = mapped_column(
        String(32), comment="The rule that made it eligible: retain_days, quota or disk"
    )
    reason: Mapped[str] = mapped_column(Text, comment="The decision in words, e.g. kept 180 days")
    central: Mapped[str | None] = mapped_column(
        String(1300),
        comment="Where a confirmed copy stays (target and object key); NULL if there is none",
    )
    decided_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the segment became garbage, µs since epoch UTC"
    )
    finished_us: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="When the unlink was made durable (fsync of the directory), µs since epoch "
        "UTC; NULL until then",
    )


class Transfer(Base):
    """One segment's copy in central storage."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint(_in("state", TRANSFER_STATES), name="state"),
        Index("ix_transfers_state_next_attempt_us", "state", "next_attempt_us"),
        {"comment": "Upload state of sealed segments to central storage; no row: pending"},
    )

    segment_id: Mapped[int] = mapped_column(
        RowId,
        ForeignKey("segments.id"),
        primary_key=True,
        autoincrement=False,
        comment="The segment",
    )
    target: Mapped[str] = mapped_column(
        String(300), comment="The target it went to (kind, endpoint, bucket/prefix; no secret)"
    )
    object_key: Mapped[str] = mapped_column(String(1000), comment="Key of the object there")
    state: Mapped[str] = mapped_column(
        String(16), comment="pending, uploaded (sent, not yet confirmed), confirmed or failed"
    )
    attempts: Mapped[int] = mapped_column(Integer, comment="Upload attempts so far")
    error: Mapped[str | None] = mapped_column(
        Text, comment="The last error (no credentials); NULL after a success"
    )
    updated_us: Mapped[int] = mapped_column(
        BigInteger, comment="When the row last changed, µs since epoch UTC"
    )
    next_attempt_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Failed: not retried before this, µs since epoch UTC"
    )
    confirmed_us: Mapped[int | None] = mapped_column(
        BigInteger,
        comment="When the store reported the object with the segment's size and SHA-256, µs "
        "since epoch UTC",
    )
    retain_until_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Object-lock retain-until the store reported; NULL if none"
    )


class TransferBatch(Base):
    """One transfer run: the segments it confirmed, and the checkpoint and manifest it sent."""

    __tablename__ = "transfer_batches"
    __table_args__ = (
        Index("ix_transfer_batches_started_us", "started_us"),
        {"comment": "Transfer runs with the manifest object each uploaded"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    started_us: Mapped[int] = mapped_column(BigInteger, comment="Start, µs since epoch UTC")
    finished_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="End, µs since epoch UTC; NULL while it runs or if cut short"
    )
    segments: Mapped[int] = mapped_column(Integer, comment="Segments confirmed in the run")
    bytes: Mapped[int] = mapped_column(BigInteger, comment="Bytes uploaded in the run")
    checkpoint_size: Mapped[int | None] = mapped_column(
        BigInteger, comment="Size of the checkpoint uploaded with it; NULL if none"
    )
    manifest_key: Mapped[str | None] = mapped_column(
        String(1000), comment="Key of its manifest object; NULL until uploaded"
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why it stopped, if it failed")


class ExportRequest(Base):
    """A request to view or copy footage for a party (art. 24), under approval (art. 28)."""

    __tablename__ = "export_requests"
    __table_args__ = (
        Index("ix_export_requests_state", "state"),
        Index("ix_export_requests_counter_id", "counter_id"),
        CheckConstraint(_in("state", EXPORT_STATES), name="state"),
        CheckConstraint(_in("kind", EXPORT_KINDS), name="kind"),
        CheckConstraint(_in("package_state", PACKAGE_STATES), name="package_state"),
        {"comment": "Export requests: who asked for which footage, and where approval stands"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    state: Mapped[str] = mapped_column(
        String(16),
        comment="submitted, returned, reviewed, approved, rejected, withdrawn, packaged, delivered",
    )
    kind: Mapped[str] = mapped_column(String(8), comment="view (on site) or copy (a package)")
    counter_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("counters.id"), comment="Counter whose staff scope governs the request"
    )
    receipt_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("receipts.id"), comment="Receipt it was made from; NULL if none"
    )
    case_no: Mapped[str | None] = mapped_column(
        String(64), comment="Case number the party gave; NULL if none"
    )
    start_us: Mapped[int] = mapped_column(
        BigInteger, comment="Start of the requested window, µs since epoch UTC"
    )
    end_us: Mapped[int] = mapped_column(
        BigInteger, comment="End of the requested window (exclusive), µs since epoch UTC"
    )
    party_name: Mapped[str] = mapped_column(String(100), comment="Requesting party's name")
    party_id_type: Mapped[str] = mapped_column(String(32), comment="Kind of identity document")
    party_id_number: Mapped[str] = mapped_column(String(64), comment="Identity document number")
    party_relation: Mapped[str] = mapped_column(String(100), comment="Relation to the case")
    purpose: Mapped[str] = mapped_column(Text, comment="Why the party asks for the footage")
    legal_basis: Mapped[str] = mapped_column(Text, comment="Legal basis of the request")
    created_us: Mapped[int] = mapped_column(
        BigInteger, comment="When it was filed, µs since epoch UTC"
    )
    created_by: Mapped[str] = mapped_column(String(200), comment="Who filed it (user or token)")
    updated_us: Mapped[int] = mapped_column(BigInteger, comment="Last step, µs since epoch UTC")
    view_until_us: Mapped[int | None] = mapped_column(
        BigInteger, comment="Viewing unlocked until then (view requests), µs since epoch UTC"
    )
    package_state: Mapped[str] = mapped_column(
        String(16), server_default="none", comment="none, building, ready or failed"
    )
    package_file: Mapped[str | None] = mapped_column(
        String(200), comment="Package file name under data_dir/exports; NULL until built"
    )
    package_bytes: Mapped[int | None] = mapped_column(BigInteger, comment="Package size")
    package_sha256: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the package file, hex"
    )
    package_error: Mapped[str | None] = mapped_column(
        Text, comment="Why the last build failed; NULL if it did not"
    )


class ExportCamera(Base):
    """The cameras an export request covers."""

    __tablename__ = "export_cameras"
    __table_args__ = ({"comment": "Cameras whose footage an export request covers"},)

    request_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("export_requests.id"), primary_key=True, comment="Export request"
    )
    camera_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("cameras.id"), primary_key=True, comment="Camera"
    )


class ExportStep(Base):
    """One step of an export request's custody chain, with the audit row written with it."""

    __tablename__ = "export_steps"
    __table_args__ = (
        Index("ix_export_steps_request_id", "request_id"),
        CheckConstraint(_in("step", EXPORT_STEPS), name="step"),
        {"comment": "Custody chain of export requests: every step, who, when, why"},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, comment="Surrogate key")
    request_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("export_requests.id"), comment="Export request"
    )
    step: Mapped[str] = mapped_column(
        String(16),
        comment="submit, review, return, resubmit, approve, reject, withdraw, package, "
        "deliver, view, download",
    )
    actor: Mapped[str] = mapped_column(String(200), comment="Who took the step")
    actor_kind: Mapped[str] = mapped_column(String(16), comment="user, token or system")
    actor_role: Mapped[str] = mapped_column(String(16), comment="Their role at the time")
    at_us: Mapped[int] = mapped_column(BigInteger, comment="When, µs since epoch UTC")
    reason: Mapped[str | None] = mapped_column(Text, comment="Reason or remark; NULL if none")
    recipient: Mapped[str | None] = mapped_column(
        String(200), comment="deliver: to whom it was handed; NULL otherwise"
    )
    method: Mapped[str | None] = mapped_column(
        String(200), comment="deliver: how (on site, disc, ...); NULL otherwise"
    )
    audit_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("audit_log.id"), comment="The audit row written with the step"
    )
