"""Wire shapes of footage: health, segments, time windows, coverage, lookups and clips."""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import Field, model_validator

from cameras.urls import redact_url
from index.records import SegmentRecord
from surveil.coverage import Coverage
from surveil.timefmt import iso_from_us
from web.wire.base import Wire, rule_error
from web.wire.types import (
    CameraName,
    ClockSync,
    CounterCode,
    IsoTime,
    ReceiptNo,
    RecordId,
    SegmentState,
    Time,
)

DAY_US = 24 * 3600 * 1_000_000
MAX_RANGE_US = 31 * DAY_US  # an unbounded range would read the whole index
MAX_CLIP_US = 12 * 3600 * 1_000_000  # longer is almost surely a mistake in the request


def finite(value: float | None) -> float | None:
    """JSON has no NaN or Infinity: a rate that is not a number is unknown."""
    return value if value is not None and math.isfinite(value) else None


# -- input -------------------------------------------------------------------------------


class TimeRange(Wire):
    """[start, end): end after start, at most 31 days."""

    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise rule_error("'end' must be later than 'start'")
        if self.end - self.start > MAX_RANGE_US:
            raise rule_error("the range from 'start' to 'end' must be at most 31 days")
        return self


class RecordingsQuery(TimeRange):
    camera: CameraName | None = Field(
        None, description="One camera; staff must name one of their counters' cameras."
    )


class LookupQuery(TimeRange):
    counter: CounterCode


class ClipQuery(TimeRange):
    """A clip's window: at most 12 hours."""

    @model_validator(mode="after")
    def _short(self) -> Self:
        if self.end - self.start > MAX_CLIP_US:
            raise rule_error("a clip may be at most 12 hours long")
        return self


class NarrowQuery(Wire):
    """Optional start/end narrowing a receipt's window (e.g. to the stretch after a gap)."""

    start: Time | None = None
    end: Time | None = None


class SegmentPath(Wire):
    id: RecordId


class ClipPath(Wire):
    camera: CameraName


class ReceiptClipPath(Wire):
    receipt_no: ReceiptNo = Field(description="A '/' in the number is sent as %2F.")
    camera: CameraName


# -- output ------------------------------------------------------------------------------


class Health(Wire):
    """Liveness, the database round trip and the recorders' storage."""

    status: Literal["ok", "degraded", "error"] = Field(
        description="'degraded': recording works but something needs a person."
    )
    database: Literal["ok", "error"]
    damaged_segments: int = Field(
        description="Segments whose file no longer has its recorded size or hash."
    )
    storage: Literal["ok", "disk full", "disk error"] = Field(
        description="Whether recorders can write to the data directory."
    )
    reason: str | None = Field(description="Why the status is not ok, for people.")
    time: IsoTime = Field(description="The server's clock.")


class Segment(Wire):
    """One segment of one camera's recording, and where to download it."""

    id: int
    camera: str
    start: IsoTime
    end: IsoTime
    start_us: int
    end_us: int
    duration_us: int
    bytes: int
    sha256: str | None = Field(description="SHA-256 of the whole file; null while open.")
    state: SegmentState
    video_codec: str | None
    audio_codec: str | None
    fragments: int
    clock_sync: ClockSync
    leaf_index: int | None = Field(
        description="Its entry in the integrity log (GET /api/v1/integrity/proof/inclusion); "
        "null until sealed."
    )
    url: str

    @classmethod
    def of(cls, s: SegmentRecord) -> Self:
        return cls(
            id=s.id,
            camera=s.camera,
            start=iso_from_us(s.start_us),
            end=iso_from_us(s.end_us),
            start_us=s.start_us,
            end_us=s.end_us,
            duration_us=s.duration_us,
            bytes=s.bytes,
            sha256=s.sha256,
            state=s.state,
            video_codec=s.video_codec,
            audio_codec=s.audio_codec,
            fragments=s.fragments,
            clock_sync=s.clock_sync,
            leaf_index=s.leaf_index,
            url=f"/api/v1/segments/{s.id}",
        )


class SegmentList(Wire):
    """Segments overlapping the range, oldest first."""

    segments: list[Segment]
    truncated: bool = Field(description="A full page: narrow the range or ask per camera.")


class Span(Wire):
    start: IsoTime
    end: IsoTime
    start_us: int
    end_us: int

    @classmethod
    def of(cls, start_us: int, end_us: int) -> Self:
        return cls(
            start=iso_from_us(start_us), end=iso_from_us(end_us), start_us=start_us, end_us=end_us
        )


class Gap(Span):
    """A stretch without footage, and why."""

    duration_s: float
    reason: str


class CameraCoverage(Wire):
    """One camera's footage for a window: the clip bounds, coverage, gaps, segments."""

    camera: str
    window: Span
    clip: Span | None = Field(description="The first unbroken stretch; null if none.")
    coverage_pct: float
    recorded_us: int
    gaps: list[Gap]
    segments: list[Segment]

    @classmethod
    def of(cls, camera: str, cov: Coverage) -> Self:
        clip = None
        if cov.clip_start_us is not None and cov.clip_end_us is not None:
            clip = Span.of(cov.clip_start_us, cov.clip_end_us)
        return cls(
            camera=camera,
            window=Span.of(cov.window_start_us, cov.window_end_us),
            clip=clip,
            coverage_pct=float(cov.coverage_pct),
            recorded_us=cov.recorded_us,
            gaps=[
                Gap(
                    start=iso_from_us(g.start_us),
                    end=iso_from_us(g.end_us),
                    start_us=g.start_us,
                    end_us=g.end_us,
                    duration_s=round(g.duration_us / 1e6, 3),
                    reason=redact_url(g.reason),
                )
                for g in cov.gaps
            ],
            segments=[Segment.of(s) for s in cov.segments],
        )


class Lookup(Wire):
    """Per camera of the counter: coverage, gaps with reasons, and segments."""

    counter: str
    start: IsoTime
    end: IsoTime
    cameras: list[CameraCoverage]
