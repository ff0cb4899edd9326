"""Wire shapes of export requests (art. 24, 28): filing, the list, one request with its
custody chain, the reviewer's, approver's and requester's steps, the hand-over, and the
viewing of an approved "view on site" request.

The rules a schema can state live in the types below: a request is made either from a
receipt or for a counter and a window (two shapes, told apart by ``receipt_no``), every text
has the bounds of the service's (surveil/exports.py) and is not only white space. What
needs the clock, the configuration or the stored rows (the window ends in the past and is
not longer than ``[exports] max_window_hours``, a camera covers the counter, who may take
which step in which state) is the service's: 422, 403, 404 or 409.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, cast

from pydantic import BeforeValidator, Discriminator, Field, RootModel, Tag, model_validator

from index.records import (
    EXPORT_KINDS,
    EXPORT_STATES,
    EXPORT_STEPS,
    PACKAGE_STATES,
    ExportParty,
    ExportRecord,
    ExportStepRecord,
)
from surveil.coverage import Coverage
from surveil.exports import LIST_VIEWS, ExportDetail, ExportRequestIn
from surveil.exports import TEXT_LIMITS as LIMITS
from surveil.timefmt import iso_from_us
from web.wire.base import Wire, pattern, rule_error
from web.wire.footage import CameraCoverage, Gap, Span
from web.wire.storage import HoldInfo
from web.wire.types import (
    CameraName,
    CounterCode,
    Digits,
    IsoTime,
    ReceiptNo,
    RecordId,
    Time,
)

CAMERAS_MAX = 256
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500  # surveil.exports.list_exports' bound

ExportKind = Literal[EXPORT_KINDS]  # type: ignore[valid-type]
ExportState = Literal[EXPORT_STATES]  # type: ignore[valid-type]
StepName = Literal[EXPORT_STEPS]  # type: ignore[valid-type]
PackageState = Literal[PACKAGE_STATES]  # type: ignore[valid-type]
ListView = Literal[LIST_VIEWS]  # type: ignore[valid-type]
# What the caller may do now: every step but submit and package (the packager's), plus
# view (play an approved viewing) and download (the package).
Action = Literal[
    "review",
    "return",
    "resubmit",
    "approve",
    "reject",
    "withdraw",
    "deliver",
    "view",
    "download",
]


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


def _in_calendar(us: int) -> bool:
    try:
        iso_from_us(us)
    except OverflowError:
        return False
    return True


# -- text -------------------------------------------------------------------------------

# What str.strip() removes (str.isspace), spelled out: the service strips every text and
# refuses one left empty, so the schema asks for one character that is not a blank.
_BLANK = (
    "\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_LINE = "[^\\u0000-\\u001f\\u007f-\\u009f]"
_LINE_WORD = f"[^\\u0000-\\u001f\\u007f-\\u009f{_BLANK}]"
_TEXT = "[^\\u0000]"
_TEXT_WORD = f"[^\\u0000{_BLANK}]"
LINE_RULE = "one line of text that is not only white space"
TEXT_RULE = "text (newlines allowed) that is not only white space"
_LINE_PATTERN = pattern(f"^{_LINE}*{_LINE_WORD}{_LINE}*$", LINE_RULE)
_TEXT_PATTERN = pattern(f"^{_TEXT}*{_TEXT_WORD}{_TEXT}*$", TEXT_RULE)


def _line(what: str, description: str) -> Any:
    limit = LIMITS[what]
    return Field(
        min_length=1,
        max_length=limit,
        pattern=_LINE_PATTERN,
        description=f"{description}; {LINE_RULE}, at most {limit} characters (blanks around "
        "it are removed).",
    )


def _text(what: str, description: str) -> Any:
    limit = LIMITS[what]
    return Field(
        min_length=1,
        max_length=limit,
        pattern=_TEXT_PATTERN,
        description=f"{description}; {TEXT_RULE}, at most {limit} characters (blanks around "
        "it are removed).",
    )


Reason = Annotated[str, _text("reason", "Why")]
Recipient = Annotated[str, _line("recipient", "To whom the footage was handed")]
Method = Annotated[str, _line("method", "How: on site, on a disc, by the court's portal...")]
CaseNo = Annotated[
    str,
    Field(
        max_length=LIMITS["case number"],
        pattern=pattern("^[^\\u0000-\\u001f\\u007f-\\u009f]*$", "one line of text"),
        description="The case number; default: the receipt number of a request made from one.",
    ),
]


# -- input ------------------------------------------------------------------------------


class PartyIn(Wire):
    """Who asks for the footage: the party of the case, or their representative."""

    name: Annotated[str, _line("party name", "Full name")]
    id_type: Annotated[str, _line("party ID type", "e.g. 居民身份证, passport")]
    id_number: Annotated[str, _line("party ID number", "The ID document's number")]
    relation: Annotated[str, _line("party relation", "To the case: applicant, agent, lawyer")]

    def party(self) -> ExportParty:
        return ExportParty(self.name, self.id_type, self.id_number, self.relation)


class _RequestFields(Wire):
    kind: ExportKind = Field(description="view: on site, under staff's eyes; copy: a package.")
    party: PartyIn
    purpose: Annotated[str, _text("purpose", "What the footage is for")]
    legal_basis: Annotated[str, _text("legal basis", "The article or decision it rests on")]
    case_no: CaseNo | None = None


class ExportFromReceipt(_RequestFields):
    """A request for a receipt's footage: its counter's cameras over its window, with the
    configured pre- and post-roll (an open receipt: up to now)."""

    receipt_no: ReceiptNo


class ExportForWindow(_RequestFields):
    """A request for a counter's cameras over a window. Beyond the schema (422): end after
    start and not in the future, at most ``[exports] max_window_hours`` long, and each camera
    one that covers the counter."""

    counter: CounterCode
    cameras: Annotated[
        list[CameraName],
        Field(max_length=CAMERAS_MAX, description="Empty or absent: every camera of the counter."),
    ] = Field(default_factory=list)
    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        for name, us in (("start", self.start), ("end", self.end)):
            if not _in_calendar(us):
                raise rule_error(f"'{name}' must be within the years 1 to 9999 in UTC")
        if self.end <= self.start:
            raise rule_error("'end' must be later than 'start'")
        return self


def _shape(value: object) -> str:
    """Which of the two shapes a body is: it names a receipt, or it does not."""
    if isinstance(value, dict):
        return "receipt" if "receipt_no" in value else "window"
    return "receipt" if isinstance(value, ExportFromReceipt) else "window"


_Shapes = Annotated[
    Annotated[ExportFromReceipt, Tag("receipt")] | Annotated[ExportForWindow, Tag("window")],
    Discriminator(_shape),
]


class ExportCreate(RootModel[_Shapes]):
    """A new export request: from a receipt (receipt_no), or for a counter and a window."""

    def request_in(self) -> ExportRequestIn:
        """The request for surveil.exports.create_export."""
        b = self.root
        common: dict[str, Any] = {
            "kind": b.kind,
            "party": b.party.party(),
            "purpose": b.purpose,
            "legal_basis": b.legal_basis,
            "case_no": b.case_no,
        }
        if isinstance(b, ExportFromReceipt):
            return ExportRequestIn(receipt_no=b.receipt_no, **common)
        return ExportRequestIn(
            counter=b.counter,
            cameras=tuple(b.cameras),
            start_us=b.start,
            end_us=b.end,
            **common,
        )


def _comma_list(value: object) -> object:
    """state=a,b is state=a&state=b (both forms are common in query strings)."""
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",")]
    return value


ListLimit = Annotated[int, Field(ge=1, le=LIST_LIMIT_MAX), Digits]


class ExportsQuery(Wire):
    """A page of the requests the caller may see, newest first."""

    view: ListView = Field(
        "all",
        description="all: every request the caller may see; mine: filed by the caller; "
        "to_review, to_approve: those waiting for the caller's decision.",
    )
    state: Annotated[list[ExportState], BeforeValidator(_comma_list)] = Field(
        default_factory=list,
        description="Only requests in these states (repeat the parameter, or separate with "
        "commas).",
    )
    before: RecordId | None = Field(
        None, description="Only requests with a smaller id: next_before of the last page."
    )
    limit: ListLimit = Field(LIST_LIMIT_DEFAULT, description="Requests per page.")


class ExportPath(Wire):
    id: RecordId


class ExportClipPath(Wire):
    id: RecordId
    camera: CameraName


class ReviewIn(Wire):
    """The reviewer's decision. Beyond the schema (422): a return needs a reason."""

    decision: Literal["pass", "return"] = Field(
        description="pass: on to an approver; return: back to the requester with a reason."
    )
    reason: Reason | None = None


class ReasonIn(Wire):
    """An optional reason for the step."""

    reason: Reason | None = None


class RejectIn(Wire):
    """Why the request is refused (the party is told)."""

    reason: Reason


class DeliverIn(Wire):
    """The hand-over: to whom and how (the caller is who handed it over, now)."""

    recipient: Recipient
    method: Method
    reason: Reason | None = None


# -- output -----------------------------------------------------------------------------


class Party(Wire):
    """Who asked for the footage."""

    name: str
    id_type: str
    id_number: str
    relation: str

    @classmethod
    def of(cls, p: ExportParty) -> Self:
        return cls(name=p.name, id_type=p.id_type, id_number=p.id_number, relation=p.relation)


class Package(Wire):
    """The package of a copy request: built in the background after approval."""

    state: PackageState = Field(
        description="none: not built (yet); building; ready: it may be downloaded; failed: "
        "retried, error says why."
    )
    bytes: int | None
    sha256: str | None = Field(description="SHA-256 of the zip file, hex.")
    progress: float | None = Field(description="0 to 1 while building, else null.")
    error: str | None
    url: str | None = Field(
        description="Where to download it, once ready; each download is audited."
    )


class Step(Wire):
    """One step of the request's custody chain, with its audit entry."""

    id: int
    step: StepName
    actor: str
    actor_kind: str
    actor_role: str
    at: IsoTime
    at_us: int
    reason: str | None
    recipient: str | None = Field(description="deliver: to whom.")
    method: str | None = Field(description="deliver: how.")
    audit_id: int = Field(description="Its row in the audit log (GET /api/v1/audit).")

    @classmethod
    def of(cls, s: ExportStepRecord) -> Self:
        return cls(
            id=s.id,
            step=s.step,
            actor=s.actor,
            actor_kind=s.actor_kind,
            actor_role=s.actor_role,
            at=iso_from_us(s.at_us),
            at_us=s.at_us,
            reason=s.reason,
            recipient=s.recipient,
            method=s.method,
            audit_id=s.audit_id,
        )


class ExportSummary(Wire):
    """An export request, as listed."""

    id: int
    state: ExportState
    kind: ExportKind
    counter: str
    receipt_no: str | None
    case_no: str | None
    cameras: list[str]
    start: IsoTime
    start_us: int
    end: IsoTime
    end_us: int
    party: Party
    purpose: str
    legal_basis: str
    created: IsoTime
    created_us: int
    created_by: str
    updated: IsoTime
    updated_us: int
    view_until: IsoTime | None = Field(
        description="An approved viewing plays for its requester until then."
    )
    view_until_us: int | None
    package: Package
    url: str

    @classmethod
    def fields_of(cls, r: ExportRecord, progress: float | None) -> dict[str, Any]:
        ready = r.package_state == "ready" and r.state in ("packaged", "delivered")
        return {
            "id": r.id,
            "state": r.state,
            "kind": r.kind,
            "counter": r.counter,
            "receipt_no": r.receipt_no,
            "case_no": r.case_no,
            "cameras": list(r.cameras),
            "start": iso_from_us(r.start_us),
            "start_us": r.start_us,
            "end": iso_from_us(r.end_us),
            "end_us": r.end_us,
            "party": Party.of(r.party),
            "purpose": r.purpose,
            "legal_basis": r.legal_basis,
            "created": iso_from_us(r.created_us),
            "created_us": r.created_us,
            "created_by": r.created_by,
            "updated": iso_from_us(r.updated_us),
            "updated_us": r.updated_us,
            "view_until": _iso(r.view_until_us),
            "view_until_us": r.view_until_us,
            "package": Package(
                state=r.package_state,
                bytes=r.package_bytes,
                sha256=r.package_sha256,
                progress=progress,
                error=r.package_error,
                url=f"/api/v1/exports/{r.id}/package" if ready else None,
            ),
            "url": f"/api/v1/exports/{r.id}",
        }

    @classmethod
    def of(cls, r: ExportRecord, progress: float | None = None) -> Self:
        return cls(**cls.fields_of(r, progress))


class Export(ExportSummary):
    """An export request with its custody chain, its holds and what the caller may do."""

    steps: list[Step] = Field(description="The custody chain, oldest first.")
    holds: list[HoldInfo] = Field(description="The holds it placed on its footage.")
    actions: list[Action] = Field(description="The steps the caller may take now.")

    @classmethod
    def of_detail(cls, d: ExportDetail, now_us: int, progress: float | None = None) -> Self:
        return cls(
            **cls.fields_of(d.request, progress),
            steps=[Step.of(s) for s in d.steps],
            holds=[HoldInfo.of(h, now_us) for h in d.holds],
            actions=cast(list[Action], sorted(d.actions)),
        )


class ExportList(Wire):
    """Export requests, newest first."""

    exports: list[ExportSummary]
    next_before: int | None = Field(
        description="Pass as 'before' for the next (older) page; null at the end."
    )


class ViewClip(Span):
    """One unbroken stretch of footage of the request, and where it plays."""

    url: str = Field(description="The MP4 (with HTTP Range), only for this viewing.")


class ViewCamera(Wire):
    """One camera's footage over the request's window: clips, gaps with reasons."""

    camera: str
    window: Span
    coverage_pct: float
    gaps: list[Gap]
    clips: list[ViewClip]

    @classmethod
    def of(cls, camera: str, cov: Coverage, clips: list[ViewClip]) -> Self:
        found = CameraCoverage.of(camera, cov)  # the gaps as every lookup shows them
        return cls(
            camera=camera,
            window=found.window,
            coverage_pct=found.coverage_pct,
            gaps=found.gaps,
            clips=clips,
        )


class Viewing(Wire):
    """An approved viewing, opened (audited as export.view): the request's footage."""

    export: Export
    cameras: list[ViewCamera]
