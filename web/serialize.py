"""JSON shapes of the API's records; times go out both as ISO 8601 and as integer µs."""

from __future__ import annotations

import math

from cameras.urls import redact_url
from index.records import CameraRecord, SegmentRecord
from surveil.coverage import Coverage
from surveil.status import CameraStatus
from surveil.timefmt import iso_from_us

JsonObject = dict[str, object]


def _finite(value: float | None) -> float | None:
    # json.dumps would write NaN/Infinity, which is not JSON.
    return value if value is not None and math.isfinite(value) else None


def camera_json(
    name: str, record: CameraRecord | None, status: CameraStatus | None, now_us: int
) -> JsonObject:
    """One camera: configuration from the index merged with live status from the supervisor."""
    if record is not None:
        enabled = record.enabled
        counters = list(record.counters)
    else:
        enabled = status is None or status.state != "disabled"
        counters = []
    clock_offset_s: float | None = None
    alarms: list[str] = []
    if status is not None:
        clock_offset_s = _finite(status.clock_offset_s)
        alarms = [redact_url(a) for a in status.alarms]
    if clock_offset_s is None and record is not None and record.clock_offset_us is not None:
        clock_offset_s = round(record.clock_offset_us / 1e6, 3)
    if status is None:
        # Not reported by the supervisor: it is not recording, whatever the reason.
        return {
            "name": name,
            "state": "offline" if enabled else "disabled",
            "last_packet": None,
            "last_packet_age_s": None,
            "fps": None,
            "bitrate_bps": None,
            "current_segment": None,
            "error": None,
            "counters": counters,
            "enabled": enabled,
            "freshness_p50_s": None,
            "freshness_p99_s": None,
            "frames": 0,
            "clock_offset_s": clock_offset_s,
            "alarms": alarms,
        }
    last_us = status.last_packet_us
    return {
        "name": name,
        "state": status.state,
        "last_packet": None if last_us is None else iso_from_us(last_us),
        "last_packet_age_s": None if last_us is None else round(max(0, now_us - last_us) / 1e6, 3),
        "fps": _finite(status.fps),
        "bitrate_bps": _finite(status.bitrate_bps),
        "current_segment": status.current_segment,
        # Redacted by contract already; redacting again costs nothing and guards a slip.
        "error": None if status.error is None else redact_url(status.error),
        "counters": counters,
        "enabled": enabled,
        "freshness_p50_s": _finite(status.freshness_p50_s),
        "freshness_p99_s": _finite(status.freshness_p99_s),
        "frames": status.frames,
        "clock_offset_s": clock_offset_s,
        "alarms": alarms,
    }


def _maybe_iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


def camera_detail_json(
    record: CameraRecord, status: CameraStatus | None, now_us: int
) -> JsonObject:
    """One camera with its settings: never a password, only whether one is stored."""
    out = camera_json(record.name, record, status, now_us)
    if record.deleted_us is not None:
        out["state"] = "deleted"
    out.update(
        {
            "origin": record.origin,
            "url": redact_url(record.source_url),
            "username": record.username,
            "has_password": record.has_password,
            "onvif": (
                None
                if record.onvif_host is None
                else {
                    "host": record.onvif_host,
                    "port": record.onvif_port,
                    "profile": record.onvif_profile,
                }
            ),
            "device": record.device,
            "probed": _maybe_iso(record.probed_us),
            "created": iso_from_us(record.created_us),
            "updated": _maybe_iso(record.updated_us),
            "deleted": _maybe_iso(record.deleted_us),
        }
    )
    return out


def segment_url(segment_id: int) -> str:
    return f"/api/v1/segments/{segment_id}"


def segment_json(segment: SegmentRecord) -> JsonObject:
    return {
        "id": segment.id,
        "camera": segment.camera,
        "start": iso_from_us(segment.start_us),
        "end": iso_from_us(segment.end_us),
        "start_us": segment.start_us,
        "end_us": segment.end_us,
        "duration_us": segment.duration_us,
        "bytes": segment.bytes,
        "sha256": segment.sha256,
        "state": segment.state,
        "video_codec": segment.video_codec,
        "audio_codec": segment.audio_codec,
        "fragments": segment.fragments,
        "clock_sync": segment.clock_sync,
        "url": segment_url(segment.id),
    }


def coverage_json(camera: str, cov: Coverage) -> JsonObject:
    """One camera's footage for a window: the clip bounds, coverage, gaps, segments."""
    return {
        "camera": camera,
        "window": {
            "start": iso_from_us(cov.window_start_us),
            "end": iso_from_us(cov.window_end_us),
            "start_us": cov.window_start_us,
            "end_us": cov.window_end_us,
        },
        "clip": (
            {
                "start": iso_from_us(cov.clip_start_us),
                "end": iso_from_us(cov.clip_end_us),
                "start_us": cov.clip_start_us,
                "end_us": cov.clip_end_us,
            }
            if cov.clip_start_us is not None and cov.clip_end_us is not None
            else None
        ),
        "coverage_pct": cov.coverage_pct,
        "recorded_us": cov.recorded_us,
        "gaps": [
            {
                "start": iso_from_us(g.start_us),
                "end": iso_from_us(g.end_us),
                "start_us": g.start_us,
                "end_us": g.end_us,
                "duration_s": round(g.duration_us / 1e6, 3),
                "reason": redact_url(g.reason),
            }
            for g in cov.gaps
        ],
        "segments": [segment_json(seg) for seg in cov.segments],
    }
