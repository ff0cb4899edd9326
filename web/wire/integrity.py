"""Wire models of the integrity log's API: proofs, checkpoints, status."""

from __future__ import annotations

import base64
from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator

from index.merkle import CheckpointRecord, IntegrityRunRecord
from surveil.integrity import IntegrityStatus, VerifyProgress
from surveil.timefmt import iso_from_us
from web.wire.base import Wire, rule_error
from web.wire.types import Digits, IsoTime

MAX_SIZE = (1 << 63) - 1
CHECKPOINT_LIMIT_DEFAULT = 100
CHECKPOINT_LIMIT_MAX = 1000

LogSize = Annotated[int, Field(ge=0, le=MAX_SIZE), Digits]
LeafIndex = Annotated[int, Field(ge=0, le=MAX_SIZE), Digits]
CheckpointLimit = Annotated[int, Field(ge=1, le=CHECKPOINT_LIMIT_MAX), Digits]
Base64 = Annotated[str, Field(json_schema_extra={"contentEncoding": "base64"})]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class CheckpointQuery(Wire):
    """Which checkpoint: the latest, or the one issued at a log size."""

    size: LogSize | None = Field(None, description="The log size it was issued at.")


class InclusionQuery(Wire):
    """A leaf and the tree size to prove it in."""

    index: LeafIndex = Field(description="The leaf index (leaf_index of a segment or entry).")
    size: LogSize = Field(description="The tree size: that of a checkpoint you hold.")

    @model_validator(mode="after")
    def _inside(self) -> Self:
        if self.index >= self.size:
            raise rule_error("'index' must be smaller than 'size'")
        return self


class ConsistencyQuery(Wire):
    """Two tree sizes, the smaller first."""

    first: LogSize = Field(alias="from", description="The older tree size.")
    second: LogSize = Field(alias="to", description="The newer tree size.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.first > self.second:
            raise rule_error("'from' must not be larger than 'to'")
        return self


class CheckpointsQuery(Wire):
    """A page of checkpoints, newest first."""

    before: LogSize | None = Field(
        None, description="Only checkpoints at a smaller size: next_before of the last page."
    )
    limit: CheckpointLimit = Field(CHECKPOINT_LIMIT_DEFAULT, description="Checkpoints per page.")


class InclusionProof(Wire):
    """RFC 9162 inclusion proof of one leaf (hashes leaf to root)."""

    leaf_index: int
    tree_size: int
    leaf: Base64 = Field(description="The leaf input: canonical JSON of the entry.")
    proof: list[Base64] = Field(description="SHA-256 hashes, from the leaf up.")


class ConsistencyProof(Wire):
    """RFC 9162 consistency proof between two tree sizes."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, serialize_by_alias=True)

    first: int = Field(serialization_alias="from")
    second: int = Field(serialization_alias="to")
    proof: list[Base64]


class CheckpointInfo(Wire):
    """One issued checkpoint."""

    size: int
    root: Base64 = Field(description="The root hash at that size.")
    issued: IsoTime
    issued_us: int
    note: str = Field(description="The signed note (C2SP tlog-checkpoint), as served.")
    timestamped: bool = Field(description="Whether an RFC 3161 token was kept with it.")

    @classmethod
    def of(cls, c: CheckpointRecord) -> Self:
        return cls(
            size=c.size,
            root=b64(c.root),
            issued=iso_from_us(c.issued_us),
            issued_us=c.issued_us,
            note=c.note,
            timestamped=c.timestamp_token is not None,
        )


class CheckpointList(Wire):
    checkpoints: list[CheckpointInfo]
    next_before: int | None = Field(description="Pass as 'before' for the next page.")


class IntegrityRun(Wire):
    """The last verify run or scrub cycle."""

    started: IsoTime
    finished: IsoTime | None
    checked: int
    bytes: int
    findings: int
    summary: dict[str, object]

    @classmethod
    def of(cls, r: IntegrityRunRecord) -> Self:
        return cls(
            started=iso_from_us(r.started_us),
            finished=None if r.finished_us is None else iso_from_us(r.finished_us),
            checked=r.checked,
            bytes=r.bytes,
            findings=r.findings,
            summary=r.summary,
        )


class VerifyRunning(Wire):
    """A verify started from the page or the API."""

    started: IsoTime
    stage: str = Field(description="files, log, checkpoints, done or failed.")
    done: int
    total: int
    finished: IsoTime | None
    ok: bool | None
    findings: int

    @classmethod
    def of(cls, p: VerifyProgress) -> Self:
        return cls(
            started=iso_from_us(p.started_us),
            stage=p.stage,
            done=p.done,
            total=p.total,
            finished=None if p.finished_us is None else iso_from_us(p.finished_us),
            ok=p.ok,
            findings=p.findings,
        )


class IntegrityStatusReply(Wire):
    """The log and its checks, and any alarm."""

    log_size: int
    checkpoints: int
    last_checkpoint: CheckpointInfo | None
    last_verify: IntegrityRun | None
    last_scrub: IntegrityRun | None
    verify_running: VerifyRunning | None
    alarms: list[str]

    @classmethod
    def of(cls, st: IntegrityStatus) -> Self:
        running = st.verify_running
        return cls(
            log_size=st.log_size,
            checkpoints=st.checkpoints,
            last_checkpoint=None if st.checkpoint is None else CheckpointInfo.of(st.checkpoint),
            last_verify=None if st.verify is None else IntegrityRun.of(st.verify),
            last_scrub=None if st.scrub is None else IntegrityRun.of(st.scrub),
            verify_running=None if running is None else VerifyRunning.of(running),
            alarms=list(st.alarms),
        )
