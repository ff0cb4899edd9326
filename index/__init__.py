"""The index: all SQL of surveil (models, migrations, typed query functions)."""

from __future__ import annotations

from index.cameras import ensure_camera, get_camera, list_cameras
from index.db import Database
from index.errors import CameraNotFound, Conflict, RecordNotFound, SegmentNotFound
from index.events import add_event, list_events
from index.records import (
    CLOCK_SYNC_STATES,
    SEGMENT_STATES,
    TOKEN_ROLES,
    CameraRecord,
    EventRecord,
    GapRecord,
    RunRecord,
    SegmentRecord,
    SegmentRow,
    TokenRecord,
)
from index.runs import end_run, gaps_overlapping, open_runs, runs_for_camera, start_run
from index.segments import (
    all_segments,
    get_segment,
    latest_segment,
    open_segment,
    segments_in_state,
    segments_overlapping,
    update_segment,
    upsert_segment,
)
from index.tokens import create_token, list_tokens, revoke_token, token_by_hash, touch_token

__all__ = [
    "CLOCK_SYNC_STATES",
    "SEGMENT_STATES",
    "TOKEN_ROLES",
    "CameraNotFound",
    "CameraRecord",
    "Conflict",
    "Database",
    "EventRecord",
    "GapRecord",
    "RecordNotFound",
    "RunRecord",
    "SegmentNotFound",
    "SegmentRecord",
    "SegmentRow",
    "TokenRecord",
    "add_event",
    "all_segments",
    "create_token",
    "end_run",
    "ensure_camera",
    "gaps_overlapping",
    "get_camera",
    "get_segment",
    "latest_segment",
    "list_cameras",
    "list_events",
    "list_tokens",
    "open_runs",
    "open_segment",
    "revoke_token",
    "runs_for_camera",
    "segments_in_state",
    "segments_overlapping",
    "start_run",
    "token_by_hash",
    "touch_token",
    "update_segment",
    "upsert_segment",
]
