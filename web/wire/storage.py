"""Wire models of the storage lifecycle's API: volumes and their space, retention rules,
the plan and passes of retention, and holds.

The rules a schema can state live in the types below (retain_days 1-36500, a reason of
one line with a character that is not blank, a page size); the one rule across fields
(a hold ends after it starts) is a 422 (web.wire.base.rule_error). Everything else the
services refuse (surveil/holds.py, surveil/retention.py, index/retention.py).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from index.holds import HOLD_PAGE_MAX
from index.records import (
    RETENTION_SCOPES,
    HoldRecord,
    RetentionPassRecord,
    RetentionRuleRecord,
)
from surveil.holds import MAX_REASON
from surveil.lifecycle import CameraFootage, LifecycleStatus
from surveil.retention import CameraPlan, CameraPolicy, RetentionPlan
from surveil.space import VolumeAlarm
from surveil.timefmt import iso_from_us
from surveil.transfer import TransferStatus
from surveil.volumes import LEVELS, VolumeUsage
from web.wire.base import Wire, pattern, rule_error
from web.wire.footage import Segment
from web.wire.receipts import HoldKind
from web.wire.types import CameraName, Digits, IsoTime, OptionalLine200, RecordId, Time

RETAIN_DAYS_MAX = 36_500  # index/retention.py set_rule's bound, and [retention] retain_days'
HOLD_LIMIT_DEFAULT = 100
PLAN_LIMIT_DEFAULT = 50
PLAN_LIMIT_MAX = 1000
PASS_LIMIT_DEFAULT = 20
PASS_LIMIT_MAX = 100
HOLD_CAMERAS_MAX = 256


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


def _in_calendar(us: int) -> bool:
    try:
        iso_from_us(us)
    except OverflowError:
        return False
    return True


def _whole(value: object) -> object:
    """JSON Schema counts 180.0 as an integer; pydantic's strict int would not (as Port)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- named types ------------------------------------------------------------------------

# One line (no C0, DEL or C1) with at least one character that is neither a control nor a
# blank str.strip() removes: the services strip a reason and refuse one left empty, so the
# schema says it and a blank reason is a 400 like any other broken field.
_LINE = "[^\\u0000-\\u001f\\u007f-\\u009f]"
_NOT_BLANK = (
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
REASON_RULE = "one line of text that is not only white space"
Reason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REASON,
        pattern=pattern(f"^{_LINE}*{_NOT_BLANK}{_LINE}*$", REASON_RULE),
        description=f"Why; {REASON_RULE}, at most {MAX_REASON} characters (blanks around it "
        "are removed).",
    ),
]
RetainDays = Annotated[
    int,
    Field(ge=1, le=RETAIN_DAYS_MAX, description="Days footage is kept at least."),
    BeforeValidator(_whole),
]
Level = Literal[LEVELS]  # type: ignore[valid-type]
Scope = Literal[RETENTION_SCOPES]  # type: ignore[valid-type]
HoldLimit = Annotated[int, Field(ge=1, le=HOLD_PAGE_MAX), Digits]
PlanLimit = Annotated[int, Field(ge=1, le=PLAN_LIMIT_MAX), Digits]
PassLimit = Annotated[int, Field(ge=1, le=PASS_LIMIT_MAX), Digits]


# -- input ------------------------------------------------------------------------------


class RuleBody(Wire):
    """How long the scope keeps footage."""

    retain_days: RetainDays


class RuleRef(Wire):
    """A rule's scope and what it names, as the storage page's forms send them (the API
    names them in the path)."""

    scope: Scope
    ref: OptionalLine200 = Field(
        None, validate_default=True, description="The counter's code or the camera's name."
    )

    @field_validator("ref")
    @classmethod
    def _named(cls, value: str | None, info: ValidationInfo) -> str | None:
        scope = info.data.get("scope")
        if scope == "installation" and value:
            raise rule_error("the installation's rule names no counter or camera")
        if scope in ("counter", "camera") and not value:
            raise rule_error(f"a {scope} rule names its {scope}")
        return value


class RuleForm(RuleRef):
    """The storage page's rule form."""

    retain_days: RetainDays


class PlanQuery(Wire):
    limit: PlanLimit = Field(
        PLAN_LIMIT_DEFAULT, description="How many of the oldest eligible segments to list."
    )


class PassesQuery(Wire):
    limit: PassLimit = Field(PASS_LIMIT_DEFAULT, description="Passes, newest first.")


class HoldsQuery(Wire):
    """A page of holds, newest first."""

    kind: HoldKind | None = Field(None, description="Only holds of this kind.")
    active: bool | None = Field(
        None,
        description="true: only holds that protect their footage now; false: only released "
        "or expired ones.",
    )
    camera: CameraName | None = Field(None, description="Only this camera's holds.")
    before: RecordId | None = Field(
        None, description="Only holds with a smaller id: next_before of the last page."
    )
    limit: HoldLimit = Field(HOLD_LIMIT_DEFAULT, description="Holds per page.")


class HoldPath(Wire):
    id: RecordId


class HoldsIn(Wire):
    """A legal hold on each named camera's footage over [start, end); end null: from start
    on, until released. Beyond the schema (422): end after start."""

    cameras: Annotated[list[CameraName], Field(min_length=1, max_length=HOLD_CAMERAS_MAX)]
    start: Time
    end: Time | None = Field(None, description="null or absent: open-ended.")
    reason: Reason

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name, us in (("start", self.start), ("end", self.end)):
            if us is not None and not _in_calendar(us):
                # An offset can carry 9999-12-31 past the calendar; the hold is shown in UTC.
                raise rule_error(f"'{name}' must be within the years 1 to 9999 in UTC")
        if self.end is not None and self.end <= self.start:
            raise rule_error("'end' must be later than 'start'")
        return self


class ReleaseIn(Wire):
    """Why the legal hold ends (it stays on record, with who released it and why)."""

    reason: Reason


# -- output: volumes --------------------------------------------------------------------


def volume_level(usage: VolumeUsage, alarms: list[VolumeAlarm]) -> str:
    """The volume's level: 'full' when the monitor stopped recording on it (only its alarm
    says so), else the reading's."""
    if any(a.volume == usage.name and a.level == "full" for a in alarms):
        return "full"
    return usage.level


class Volume(Wire):
    """One storage volume, as last read by the space monitor."""

    name: str
    path: str
    level: Level = Field(
        description="ok, warn, critical (retention frees what it may), full (nothing may be "
        "deleted: recording on it stopped) or error (it cannot be read)."
    )
    total_bytes: int
    used_bytes: int
    free_bytes: int
    used_percent: float
    quota_bytes: int | None = Field(description="[[storage.volumes]] quota_gb; null: none.")
    error: str | None

    @classmethod
    def of(cls, u: VolumeUsage, quota: int | None, alarms: list[VolumeAlarm]) -> Self:
        return cls(
            name=u.name,
            path=u.path,
            level=volume_level(u, alarms),
            total_bytes=u.total_bytes,
            used_bytes=u.used_bytes,
            free_bytes=u.free_bytes,
            used_percent=round(u.used_percent, 2),
            quota_bytes=quota,
            error=u.error,
        )


class VolumeAlarmInfo(Wire):
    volume: str
    level: Level
    message: str

    @classmethod
    def of(cls, a: VolumeAlarm) -> Self:
        return cls(volume=a.volume, level=a.level, message=a.message)


class CameraRetention(Wire):
    """A camera's footage on disk and how long it is kept."""

    camera: str
    oldest: IsoTime | None = Field(description="Start of its oldest footage still on disk.")
    oldest_us: int | None
    days_kept: float | None = Field(description="Days from the oldest footage to now.")
    segments: int
    bytes: int
    retain_days: int
    rule: str = Field(
        description="Where retain_days comes from: 'camera X', 'counter A01', 'installation' "
        "or 'config'."
    )

    @classmethod
    def of(cls, f: CameraFootage, now_us: int) -> Self:
        kept = f.days_kept(now_us)
        return cls(
            camera=f.camera,
            oldest=_iso(f.oldest_us),
            oldest_us=f.oldest_us,
            days_kept=None if kept is None else round(kept, 2),
            segments=f.segments,
            bytes=f.bytes,
            retain_days=f.retain_days,
            rule=f.rule,
        )


class RetentionPass(Wire):
    """One run of the retention policy."""

    id: int
    trigger: str = Field(description="schedule, startup, manual, disk or quota.")
    volume: str | None = Field(description="The volume a disk or quota pass freed; else null.")
    started: IsoTime
    started_us: int
    finished: IsoTime | None = Field(description="null: still running, or it failed.")
    finished_us: int | None
    deleted: int
    bytes: int
    summary: dict[str, object]

    @classmethod
    def of(cls, r: RetentionPassRecord) -> Self:
        return cls(
            id=r.id,
            trigger=r.trigger,
            volume=r.volume,
            started=iso_from_us(r.started_us),
            started_us=r.started_us,
            finished=_iso(r.finished_us),
            finished_us=r.finished_us,
            deleted=r.deleted,
            bytes=r.bytes,
            summary=r.summary,
        )


class PassList(Wire):
    """Retention passes, newest first."""

    passes: list[RetentionPass]


class TransferInfo(Wire):
    """Central storage: what waits to be confirmed, and how long the oldest has waited."""

    target: str = Field(
        description="Where footage goes (kind, endpoint, bucket/prefix); no secret."
    )
    object_lock: bool = Field(description="Whether the store locks each object (COMPLIANCE).")
    level: Literal["ok", "warn", "error"] = Field(
        description="warn: the lag passed [transfer] warn_hours; error: 24 h (art. 22)."
    )
    lag_s: float | None = Field(
        description="Age of the oldest sealed segment not yet confirmed; null when none waits."
    )
    backlog_segments: int
    backlog_bytes: int
    failing_segments: int = Field(description="Of those, segments whose last upload failed.")
    confirmed_segments: int
    confirmed_bytes: int
    alarm: str | None = Field(description="The current alarm (no credentials), if any.")
    alarm_code: str | None = Field(
        description="Its stable code: central_auth, central_unreachable, central_checksum, ..."
    )

    @classmethod
    def of(cls, t: TransferStatus) -> Self:
        return cls(
            target=t.target,
            object_lock=t.object_lock,
            level=t.level,  # type: ignore[arg-type]  # one of the three
            lag_s=None if t.lag_s is None else round(t.lag_s, 3),
            backlog_segments=t.backlog_segments,
            backlog_bytes=t.backlog_bytes,
            failing_segments=t.failing,
            confirmed_segments=t.confirmed_segments,
            confirmed_bytes=t.confirmed_bytes,
            alarm=None if t.alarm is None else t.alarm.message,
            alarm_code=None if t.alarm is None else t.alarm.code,
        )


class StorageStatus(Wire):
    """Volumes, their alarms, footage and retention per camera, the last pass."""

    now: IsoTime
    now_us: int
    volumes: list[Volume]
    alarms: list[VolumeAlarmInfo]
    cameras: list[CameraRetention]
    last_pass: RetentionPass | None = Field(description="The last pass of this process.")
    retention_error: str | None = Field(description="Why the last pass failed, if it did.")
    legal_holds: int = Field(description="Legal holds active now.")
    deleted_segments: int = Field(description="Segments deleted under retention, ever.")
    deleted_bytes: int
    require_central: bool = Field(
        description="Whether footage must be confirmed in central storage before deletion."
    )
    retain_days: int = Field(description="[retention] retain_days, the default rule.")
    archive_retain_days: int = Field(
        description="[retention] archive_retain_days: how long a case's footage stays held "
        "after the case is archived."
    )
    transfer: TransferInfo | None = Field(
        description="Central storage ([transfer]); null when none is configured or it is not "
        "running (then transfer_error says why)."
    )
    transfer_error: str | None = Field(
        description="Why configured central storage is not running; null otherwise."
    )

    @classmethod
    def of(cls, st: LifecycleStatus, retain_days: int, archive_retain_days: int) -> Self:
        return cls(
            now=iso_from_us(st.now_us),
            now_us=st.now_us,
            volumes=[Volume.of(u, st.quotas.get(u.name), st.alarms) for u in st.volumes],
            alarms=[VolumeAlarmInfo.of(a) for a in st.alarms],
            cameras=[CameraRetention.of(f, st.now_us) for f in st.footage],
            last_pass=None if st.last_pass is None else RetentionPass.of(st.last_pass),
            retention_error=st.retention_error,
            legal_holds=st.legal_holds,
            deleted_segments=st.deleted_segments,
            deleted_bytes=st.deleted_bytes,
            require_central=st.require_central,
            retain_days=retain_days,
            archive_retain_days=archive_retain_days,
            transfer=None if st.transfer is None else TransferInfo.of(st.transfer),
            transfer_error=st.transfer_error,
        )


# -- output: rules and the plan -----------------------------------------------------------


class RetentionRule(Wire):
    """How long footage is kept for the installation, a counter or a camera."""

    scope: str = Field(description="installation, counter or camera.")
    ref: str = Field(
        description="The counter's code or the camera's name; '' for the installation."
    )
    retain_days: int
    updated: IsoTime
    updated_us: int
    updated_by: str

    @classmethod
    def of(cls, r: RetentionRuleRecord) -> Self:
        return cls(
            scope=r.scope,
            ref=r.ref,
            retain_days=r.retain_days,
            updated=iso_from_us(r.updated_us),
            updated_us=r.updated_us,
            updated_by=r.updated_by,
        )


class CameraPolicyInfo(Wire):
    """The rule that applies to one camera."""

    camera: str
    retain_days: int
    rule: str = Field(description="'camera X', 'counter A01', 'installation' or 'config'.")

    @classmethod
    def of(cls, p: CameraPolicy) -> Self:
        return cls(camera=p.camera, retain_days=p.retain_days, rule=p.source)


class RetentionRules(Wire):
    """The rules, the configured default, and what applies to each camera. The most
    specific rule applies: the camera's, else the longest of its counters', else the
    installation's, else the configured default."""

    retain_days: int = Field(description="[retention] retain_days: the default.")
    archive_retain_days: int
    rules: list[RetentionRule]
    cameras: list[CameraPolicyInfo]


class Kept(Wire):
    segments: int
    bytes: int


class CameraPlanInfo(Wire):
    """Of one camera's footage old enough to go: what would go, and what stays and why."""

    camera: str
    retain_days: int
    rule: str
    cutoff: IsoTime = Field(description="Footage that ended by then is old enough.")
    cutoff_us: int
    eligible: int
    eligible_bytes: int
    kept: dict[str, Kept] = Field(
        description="Old enough but kept, by reason: held, not_transferred, damaged, missing, open."
    )

    @classmethod
    def of(cls, c: CameraPlan, now_us: int) -> Self:
        cutoff = c.policy.cutoff_us(now_us)
        return cls(
            camera=c.policy.camera,
            retain_days=c.policy.retain_days,
            rule=c.policy.source,
            cutoff=iso_from_us(cutoff),
            cutoff_us=cutoff,
            eligible=c.eligible,
            eligible_bytes=c.eligible_bytes,
            kept={k: Kept(segments=n, bytes=b) for k, (n, b) in c.kept.items()},
        )


class PlannedDeletion(Wire):
    segment: Segment
    reason: str


class RetentionPlanReply(Wire):
    """What a pass would delete now, and why; a plan deletes nothing."""

    now: IsoTime
    now_us: int
    require_central: bool
    eligible: int
    eligible_bytes: int
    cameras: list[CameraPlanInfo]
    first: list[PlannedDeletion] = Field(
        description="The oldest segments a pass would delete, up to 'limit', oldest first."
    )

    @classmethod
    def of(cls, p: RetentionPlan) -> Self:
        return cls(
            now=iso_from_us(p.now_us),
            now_us=p.now_us,
            require_central=p.require_central,
            eligible=p.eligible,
            eligible_bytes=p.eligible_bytes,
            cameras=[CameraPlanInfo.of(c, p.now_us) for c in p.cameras],
            first=[PlannedDeletion(segment=Segment.of(s), reason=r) for s, r in p.first],
        )


# -- output: holds ------------------------------------------------------------------------


class HoldInfo(Wire):
    """A span of one camera's footage that retention keeps while the hold is active."""

    id: int
    kind: HoldKind = Field(description="receipt, legal or export.")
    camera: str
    start: IsoTime
    start_us: int
    end: IsoTime | None = Field(description="null: open-ended (a receipt's: while it is open).")
    end_us: int | None
    reason: str
    created: IsoTime
    created_us: int
    created_by: str | None
    expires: IsoTime | None = Field(
        description="It stops protecting then (a receipt's: its case archived plus "
        "archive_retain_days); null: never by itself."
    )
    expires_us: int | None
    released: IsoTime | None
    released_us: int | None
    released_by: str | None
    release_reason: str | None
    active: bool = Field(description="Whether it protects its footage now.")

    @classmethod
    def of(cls, h: HoldRecord, now_us: int) -> Self:
        return cls(
            id=h.id,
            kind=h.kind,
            camera=h.camera,
            start=iso_from_us(h.start_us),
            start_us=h.start_us,
            end=_iso(h.end_us),
            end_us=h.end_us,
            reason=h.reason,
            created=iso_from_us(h.created_us),
            created_us=h.created_us,
            created_by=h.created_by,
            expires=_iso(h.expires_us),
            expires_us=h.expires_us,
            released=_iso(h.released_us),
            released_us=h.released_us,
            released_by=h.released_by,
            release_reason=h.release_reason,
            active=h.active(now_us),
        )


class HoldList(Wire):
    """Holds, newest first."""

    holds: list[HoldInfo]
    next_before: int | None = Field(description="Pass as 'before' for the next page.")


class HoldsPlaced(Wire):
    """The legal holds placed: one per camera."""

    holds: list[HoldInfo]
