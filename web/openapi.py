"""The OpenAPI 3.1 description of the JSON API, written by hand next to the views it describes."""

from __future__ import annotations

import copy
from typing import Any

import surveil
from index.receipts import RECEIPT_NO_RULE
from index.records import SEGMENT_STATES

JsonDict = dict[str, Any]


def _ref(name: str) -> JsonDict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JsonDict, description: str) -> JsonDict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> JsonDict:
    return {"$ref": f"#/components/responses/{description}"}


_ISO_TIME = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with a UTC offset, e.g. 2026-11-26T20:41:00.123456+00:00",
}
_NULLABLE_ISO_TIME = {**_ISO_TIME, "type": ["string", "null"]}

_SCHEMAS: JsonDict = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code, e.g. bad_request, "
                        "unauthorized, camera_not_found, segment_open, segment_gone, "
                        "segment_damaged, range_not_satisfiable.",
                    },
                    "message": {"type": "string", "description": "Human-readable detail."},
                },
            }
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "damaged_segments", "storage", "reason", "time"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["ok", "degraded", "error"],
                "description": "'degraded': recording works but something needs a person.",
            },
            "database": {"type": "string", "enum": ["ok", "error"]},
            "damaged_segments": {
                "type": "integer",
                "description": "Segments whose file no longer has its recorded size or hash.",
            },
            "storage": {
                "type": "string",
                "enum": ["ok", "disk full", "disk error"],
                "description": "Whether recorders can write to the data directory.",
            },
            "reason": {
                "type": ["string", "null"],
                "description": "Why the status is not ok, for people (no camera names).",
            },
            "time": {**_ISO_TIME, "description": "The server's clock."},
        },
    },
    "Camera": {
        "type": "object",
        "required": [
            "name",
            "state",
            "last_packet",
            "last_packet_age_s",
            "fps",
            "bitrate_bps",
            "current_segment",
            "error",
            "counters",
            "enabled",
            "freshness_p50_s",
            "freshness_p99_s",
            "frames",
            "clock_offset_s",
            "alarms",
        ],
        "properties": {
            "name": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["recording", "connecting", "offline", "disabled"],
            },
            "last_packet": _NULLABLE_ISO_TIME,
            "last_packet_age_s": {
                "type": ["number", "null"],
                "description": "Seconds since the last packet arrived.",
            },
            "fps": {"type": ["number", "null"]},
            "bitrate_bps": {"type": ["number", "null"], "description": "Bits per second."},
            "current_segment": {
                "type": ["string", "null"],
                "description": "Path, relative to the data directory, of the segment "
                "being written.",
            },
            "error": {
                "type": ["string", "null"],
                "description": "The last error; URLs in it never carry credentials.",
            },
            "counters": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean"},
            "freshness_p50_s": {
                "type": ["number", "null"],
                "description": "Median seconds from a frame's arrival to its segment row "
                "covering it in the index, over recent frames.",
            },
            "freshness_p99_s": {
                "type": ["number", "null"],
                "description": "99th percentile of the same.",
            },
            "frames": {
                "type": "integer",
                "description": "Video frames recorded since the recorder started.",
            },
            "clock_offset_s": {
                "type": ["number", "null"],
                "description": "Camera clock minus host clock at the last ONVIF probe, in "
                "seconds; null if unknown (not an ONVIF camera, or never probed).",
            },
            "alarms": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Conditions that need attention, e.g. 'camera clock off by "
                "3.2 s (ahead)' or 'ONVIF probe failed: ...'.",
            },
        },
    },
    "CameraList": {
        "type": "object",
        "required": ["cameras"],
        "properties": {"cameras": {"type": "array", "items": _ref("Camera")}},
    },
    "Segment": {
        "type": "object",
        "required": [
            "id",
            "camera",
            "start",
            "end",
            "start_us",
            "end_us",
            "duration_us",
            "bytes",
            "sha256",
            "state",
            "video_codec",
            "audio_codec",
            "fragments",
            "clock_sync",
            "url",
        ],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "camera": {"type": "string"},
            "start": _ISO_TIME,
            "end": _ISO_TIME,
            "start_us": {"type": "integer", "description": "µs since the Unix epoch, UTC."},
            "end_us": {"type": "integer", "description": "µs since the Unix epoch, UTC."},
            "duration_us": {"type": "integer", "description": "Media duration in µs."},
            "bytes": {"type": "integer", "minimum": 0},
            "sha256": {
                "type": ["string", "null"],
                "pattern": "^[0-9a-f]{64}$",
                "description": "Hash of the whole file; null while the segment is open.",
            },
            "state": {"type": "string", "enum": list(SEGMENT_STATES)},
            "video_codec": {"type": "string"},
            "audio_codec": {"type": ["string", "null"]},
            "fragments": {"type": "integer", "minimum": 0},
            "clock_sync": {"type": "string", "enum": ["synced", "unsynced", "unknown"]},
            "url": {"type": "string", "description": "Where to fetch the file."},
        },
    },
    "SegmentList": {
        "type": "object",
        "required": ["segments", "truncated"],
        "properties": {
            "segments": {"type": "array", "items": _ref("Segment")},
            "truncated": {
                "type": "boolean",
                "description": "True when the result hit the 10000-segment limit.",
            },
        },
    },
}

_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_US = {"type": ["integer", "null"]}

_RECEIPT_SCHEMAS: JsonDict = {
    "Counter": {
        "type": "object",
        "required": ["code", "name", "site", "created"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
            "name": {"type": "string"},
            "site": _NULLABLE_STR,
            "created": _ISO_TIME,
        },
    },
    "CounterList": {
        "type": "object",
        "required": ["counters"],
        "properties": {"counters": {"type": "array", "items": _ref("Counter")}},
    },
    "CounterIn": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "name"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "site": {"type": ["string", "null"], "maxLength": 200},
        },
    },
    "CounterUpdate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "site": {"type": ["string", "null"], "maxLength": 200},
        },
    },
    "ReceiptIn": {
        "type": "object",
        "additionalProperties": False,
        "required": ["receipt_no", "counter", "accepted_at"],
        "properties": {
            "receipt_no": {
                "type": "string",
                "minLength": 1,
                "description": "Receipt number; " + RECEIPT_NO_RULE + ".",
            },
            "counter": {"type": "string", "description": "Counter code."},
            "accepted_at": _ISO_TIME,
            "completed_at": _NULLABLE_ISO_TIME,
            "case_no": {"type": ["string", "null"], "maxLength": 200},
            "service": {"type": ["string", "null"], "maxLength": 200},
            "handler": {"type": ["string", "null"], "maxLength": 200},
        },
    },
    "ReceiptComplete": {
        "type": "object",
        "additionalProperties": False,
        "required": ["completed_at"],
        "properties": {"completed_at": _ISO_TIME},
    },
    "Receipt": {
        "type": "object",
        "required": [
            "receipt_no",
            "counter",
            "accepted_at",
            "accepted_us",
            "completed_at",
            "completed_us",
            "case_no",
            "service",
            "handler",
            "created",
            "updated",
        ],
        "properties": {
            "receipt_no": {"type": "string"},
            "counter": {"type": "string"},
            "accepted_at": _ISO_TIME,
            "accepted_us": {"type": "integer"},
            "completed_at": _NULLABLE_ISO_TIME,
            "completed_us": _NULLABLE_US,
            "case_no": _NULLABLE_STR,
            "service": _NULLABLE_STR,
            "handler": _NULLABLE_STR,
            "created": _ISO_TIME,
            "updated": _ISO_TIME,
        },
    },
    "Hold": {
        "type": "object",
        "required": [
            "camera",
            "start",
            "start_us",
            "end",
            "end_us",
            "effective_end",
            "effective_end_us",
            "reason",
        ],
        "properties": {
            "camera": {"type": "string"},
            "start": _ISO_TIME,
            "start_us": {"type": "integer"},
            "end": {**_NULLABLE_ISO_TIME, "description": "null while the receipt is open."},
            "end_us": _NULLABLE_US,
            "effective_end": {
                **_ISO_TIME,
                "description": "end, or for an open receipt: now, capped at accepted_at "
                "plus open_hold_max_hours.",
            },
            "effective_end_us": {"type": "integer"},
            "reason": {"type": "string"},
        },
    },
    "ReceiptWithHolds": {
        "allOf": [
            _ref("Receipt"),
            {
                "type": "object",
                "required": ["holds", "cameras"],
                "properties": {
                    "holds": {"type": "array", "items": _ref("Hold")},
                    "cameras": {
                        "type": "array",
                        "items": _ref("CameraFootage"),
                        "description": "Per camera of the counter: footage over the "
                        "hold window (an open receipt: up to now).",
                    },
                },
            },
        ]
    },
    "Window": {
        "type": "object",
        "required": ["start", "end", "start_us", "end_us"],
        "properties": {
            "start": _ISO_TIME,
            "end": _ISO_TIME,
            "start_us": {"type": "integer"},
            "end_us": {"type": "integer"},
        },
    },
    "CoverageGap": {
        "type": "object",
        "required": ["start", "end", "start_us", "end_us", "duration_s", "reason"],
        "properties": {
            "start": _ISO_TIME,
            "end": _ISO_TIME,
            "start_us": {"type": "integer"},
            "end_us": {"type": "integer"},
            "duration_s": {"type": "number"},
            "reason": {
                "type": "string",
                "description": "Why there is no footage: the camera's error, 'recorder "
                "down', 'recorder stopped', 'segment missing', 'segment damaged' or "
                "'nothing recorded'.",
            },
        },
    },
    "CameraFootage": {
        "type": "object",
        "required": ["camera", "window", "clip", "coverage_pct", "recorded_us", "gaps", "segments"],
        "properties": {
            "camera": {"type": "string"},
            "window": _ref("Window"),
            "clip": {
                "oneOf": [_ref("Window"), {"type": "null"}],
                "description": "Bounds of the recorded footage inside the window.",
            },
            "coverage_pct": {"type": "number", "minimum": 0, "maximum": 100},
            "recorded_us": {"type": "integer"},
            "gaps": {"type": "array", "items": _ref("CoverageGap")},
            "segments": {"type": "array", "items": _ref("Segment")},
        },
    },
    "Lookup": {
        "type": "object",
        "required": ["counter", "start", "end", "cameras"],
        "properties": {
            "counter": {"type": "string"},
            "start": _ISO_TIME,
            "end": _ISO_TIME,
            "cameras": {"type": "array", "items": _ref("CameraFootage")},
        },
    },
}
_SCHEMAS.update(_RECEIPT_SCHEMAS)

_RESPONSES: JsonDict = {
    "BadRequest": _json(_ref("Error"), "Invalid parameters; the message names the parameter."),
    "Unauthorized": {
        **_json(_ref("Error"), "Missing, unknown or revoked bearer token."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "NotFound": _json(_ref("Error"), "No such record."),
    "Forbidden": _json(_ref("Error"), "The token's role may not do this (forbidden)."),
    "Conflict": _json(_ref("Error"), "The request contradicts stored data; the message says how."),
    "InternalError": _json(_ref("Error"), "Unexpected server error; details are in the log."),
    "RangeNotSatisfiable": {
        **_json(
            _ref("Error"),
            "The one byte range starts at or after the end, or is the suffix -0 "
            "(range_not_satisfiable). Other units, malformed or multiple ranges are ignored "
            "and answered 200 with the whole body.",
        ),
        "headers": {"Content-Range": {"schema": {"type": "string", "example": "bytes */1048576"}}},
    },
}


_MP4 = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}
# What both clip forms answer (each adds its own 404, and the receipt form its 403).
_CLIP_RESPONSES: dict[str, object] = {
    "200": {"description": "The whole clip.", "content": _MP4},
    "206": {"description": "The requested byte range.", "content": _MP4},
    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
    "400": _error("BadRequest"),
    "401": _error("Unauthorized"),
    "409": _json(_ref("Error"), "Segments cannot be stitched (clip_unavailable)."),
    "412": _json(_ref("Error"), "If-Match did not match the ETag (precondition_failed)."),
    "416": _error("RangeNotSatisfiable"),
    "500": _error("InternalError"),
}

_PATHS: JsonDict = {
    "/api/v1/health": {
        "get": {
            "operationId": "health",
            "summary": "Liveness and database reachability",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "Healthy."),
                "503": _json(_ref("Health"), "The database did not answer."),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
        }
    },
    "/api/v1/cameras": {
        "get": {
            "operationId": "listCameras",
            "summary": "Cameras with live recording status",
            "responses": {
                "200": _json(_ref("CameraList"), "All known cameras, by name."),
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "500": _error("InternalError"),
            },
        }
    },
    "/api/v1/clips/{camera}.mp4": {
        "get": {
            "operationId": "getClip",
            "summary": "One seekable MP4 of a camera's footage in a time range, with HTTP Range",
            "description": "Stitched from the original segments without transcoding, starting "
            "at the keyframe at or before start. A clip never spans a gap: it is the first "
            "unbroken run of footage in the window (see lookup for the gaps); a missing or "
            "damaged segment is a gap, and a segment file found gone or of the wrong size "
            "is marked so and played around. The segment still being written is included up "
            "to its last durable fragment, so a clip reaching now grows: the ETag names the "
            "bytes, and changes when they do. X-Clip-Start-Us and X-Clip-Duration-Us give "
            "the clip's real start and length.",
            "parameters": [
                {
                    "name": "camera",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {
                    "name": "start",
                    "in": "query",
                    "required": True,
                    "description": "Window start; must include a UTC offset (send '+' as %2B).",
                    "schema": _ISO_TIME,
                },
                {
                    "name": "end",
                    "in": "query",
                    "required": True,
                    "description": "Window end; at most 12 hours after start.",
                    "schema": _ISO_TIME,
                },
            ],
            "responses": {
                **_CLIP_RESPONSES,
                "404": _json(_ref("Error"), "No playable footage in the window (no_footage)."),
            },
        }
    },
    "/api/v1/receipts/{receipt_no}/clips/{camera}.mp4": {
        "get": {
            "operationId": "getReceiptClip",
            "summary": "The receipt's footage from one camera as one seekable MP4",
            "description": "Like getClip over the receipt's window (accepted minus pre-roll "
            "to completed plus post-roll; an open receipt up to now). start/end narrow the "
            "window, e.g. to the stretch after a gap. Staff only for their counters.",
            "parameters": [
                {
                    "name": "receipt_no",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {"name": "camera", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "start",
                    "in": "query",
                    "required": False,
                    "description": "Narrow the window's start (UTC offset required).",
                    "schema": _ISO_TIME,
                },
                {
                    "name": "end",
                    "in": "query",
                    "required": False,
                    "description": "Narrow the window's end (UTC offset required).",
                    "schema": _ISO_TIME,
                },
            ],
            "responses": {
                **_CLIP_RESPONSES,
                "403": _json(_ref("Error"), "The receipt's counter is not among yours."),
                "404": _json(
                    _ref("Error"),
                    "Unknown receipt (receipt_not_found), a camera not covering its counter "
                    "(camera_not_found) or no playable footage (no_footage).",
                ),
            },
        }
    },
    "/api/v1/lookup": {
        "get": {
            "operationId": "lookup",
            "summary": "Footage and explained gaps of a counter's cameras in a time range",
            "parameters": [
                {
                    "name": "counter",
                    "in": "query",
                    "required": True,
                    "description": "Counter code, e.g. A01.",
                    "schema": {"type": "string", "minLength": 1},
                },
                {
                    "name": "start",
                    "in": "query",
                    "required": True,
                    "description": "Range start; must include a UTC offset (send '+' as %2B).",
                    "schema": _ISO_TIME,
                },
                {
                    "name": "end",
                    "in": "query",
                    "required": True,
                    "description": "Range end; later than start, at most 31 days after it.",
                    "schema": _ISO_TIME,
                },
            ],
            "responses": {
                "200": _json(_ref("Lookup"), "Per camera of the counter."),
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "404": _json(_ref("Error"), "Unknown counter (counter_not_found)."),
                "500": _error("InternalError"),
            },
        }
    },
    "/api/v1/recordings": {
        "get": {
            "operationId": "listRecordings",
            "summary": "Segments overlapping a time range",
            "description": "Segments with start < end and end > start, ordered by camera "
            "then start. The range may be at most 31 days.",
            "parameters": [
                {
                    "name": "camera",
                    "in": "query",
                    "required": False,
                    "description": "Camera name; all cameras when omitted.",
                    "schema": {"type": "string", "minLength": 1},
                },
                {
                    "name": "start",
                    "in": "query",
                    "required": True,
                    "description": "Range start (inclusive); must include a UTC offset. "
                    "Send '+' as %2B.",
                    "schema": _ISO_TIME,
                },
                {
                    "name": "end",
                    "in": "query",
                    "required": True,
                    "description": "Range end (exclusive); later than start.",
                    "schema": _ISO_TIME,
                },
            ],
            "responses": {
                "200": _json(_ref("SegmentList"), "Matching segments."),
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "404": _error("NotFound"),
                "500": _error("InternalError"),
            },
        }
    },
    "/api/v1/segments/{id}": {
        "get": {
            "operationId": "getSegmentFile",
            "summary": "A segment's fMP4 file, with HTTP Range",
            "description": "The file's size is checked against the index before it is served. "
            "The ETag identifies the sealed content as recorded: it derives from the size "
            "and SHA-256 recorded at the seal, and is not a digest of the bytes sent (the "
            "file is not re-hashed per request; surveil verify does that).",
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
                {
                    "name": "Range",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "example": "bytes=0-1023"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The whole file.",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                },
                "206": {
                    "description": "The requested byte range.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                },
                "304": {"description": "If-None-Match matched the ETag."},
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "404": _error("NotFound"),
                "409": _json(
                    _ref("Error"),
                    "The segment is still being written (segment_open), or its file is not "
                    "the size sealed, now or before (segment_damaged).",
                ),
                "410": _json(_ref("Error"), "The file is no longer on disk (segment_gone)."),
                "412": _json(_ref("Error"), "If-Match did not match the ETag."),
                "416": _error("RangeNotSatisfiable"),
                "500": _error("InternalError"),
            },
        }
    },
}

_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
_RECEIPT_NO = {"name": "receipt_no", "in": "path", "required": True, "schema": {"type": "string"}}


def _body(name: str) -> JsonDict:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


_PATHS.update(
    {
        "/api/v1/counters": {
            "get": {
                "operationId": "listCounters",
                "summary": "Every counter, by code",
                "responses": {
                    "200": _json(_ref("CounterList"), "All counters."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "500": _error("InternalError"),
                },
            },
            "post": {
                "operationId": "createCounter",
                "summary": "Create a counter (admin)",
                "requestBody": _body("CounterIn"),
                "responses": {
                    "201": _json(_ref("Counter"), "Created."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "409": _error("Conflict"),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/counters/{code}": {
            "get": {
                "operationId": "getCounter",
                "summary": "One counter",
                "parameters": [_CODE],
                "responses": {
                    "200": _json(_ref("Counter"), "The counter."),
                    "401": _error("Unauthorized"),
                    "404": _error("NotFound"),
                    "500": _error("InternalError"),
                },
            },
            "put": {
                "operationId": "updateCounter",
                "summary": "Change a counter's name and site (admin)",
                "parameters": [_CODE],
                "requestBody": _body("CounterUpdate"),
                "responses": {
                    "200": _json(_ref("Counter"), "The updated counter."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _error("NotFound"),
                    "500": _error("InternalError"),
                },
            },
            "delete": {
                "operationId": "deleteCounter",
                "summary": "Delete a counter that no receipt refers to (admin)",
                "parameters": [_CODE],
                "responses": {
                    "204": {"description": "Deleted, with its camera links."},
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _error("NotFound"),
                    "409": _error("Conflict"),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/receipts": {
            "post": {
                "operationId": "postReceipt",
                "summary": "Record a receipt and hold its counter's footage (admin, staff)",
                "description": "Idempotent by receipt_no: the same receipt again is 200 with "
                "the stored receipt; different values for a known number are 409 naming "
                "the fields. A repost that adds completed_at to an open receipt completes it.",
                "requestBody": _body("ReceiptIn"),
                "responses": {
                    "201": _json(_ref("Receipt"), "Recorded."),
                    "200": _json(_ref("Receipt"), "Already recorded with these values."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown counter (counter_not_found)."),
                    "409": _error("Conflict"),
                    "500": _error("InternalError"),
                },
            }
        },
        "/api/v1/receipts/{receipt_no}": {
            "get": {
                "operationId": "getReceipt",
                "summary": "A receipt with its holds",
                "parameters": [_RECEIPT_NO],
                "responses": {
                    "200": _json(_ref("ReceiptWithHolds"), "The receipt."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "404": _json(_ref("Error"), "Unknown receipt (receipt_not_found)."),
                    "500": _error("InternalError"),
                },
            }
        },
        "/api/v1/receipts/{receipt_no}/complete": {
            "post": {
                "operationId": "completeReceipt",
                "summary": "Complete a receipt (admin, staff)",
                "description": "The same completed_at again is a no-op (200); a different "
                "one is 409.",
                "parameters": [_RECEIPT_NO],
                "requestBody": _body("ReceiptComplete"),
                "responses": {
                    "200": _json(_ref("Receipt"), "The completed receipt."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown receipt (receipt_not_found)."),
                    "409": _error("Conflict"),
                    "500": _error("InternalError"),
                },
            }
        },
    }
)

_CAMERA_NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": _CAMERA_NAME}
_WRITE_ONLY_PASSWORD = {
    "type": ["string", "null"],
    "maxLength": 200,
    "writeOnly": True,
    "description": "Write-only: encrypted at rest, never returned; null or '' clears it.",
}
_ONVIF_IN: JsonDict = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "host": {"type": "string", "maxLength": 255, "description": "Device address."},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80},
        "username": {"type": ["string", "null"], "maxLength": 200},
        "password": _WRITE_ONLY_PASSWORD,
        "profile": {
            "type": ["string", "null"],
            "description": "Media profile token to record; default: the largest H.264/H.265.",
        },
    },
}

_SCHEMAS.update(
    {
        "OnvifIn": {**_ONVIF_IN, "required": ["host"]},
        "CameraIn": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "description": "Either onvif (the device is probed first and its stream URI "
            "recorded) or url. A url with user:password@ is accepted; the credentials are "
            "moved to username and password and the URL is stored without them.",
            "properties": {
                "name": _CAMERA_NAME,
                "url": {"type": "string", "pattern": "^rtsps?://", "maxLength": 2000},
                "username": {"type": ["string", "null"], "maxLength": 200},
                "password": _WRITE_ONLY_PASSWORD,
                "onvif": _ref("OnvifIn"),
                "counters": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
                "enabled": {"type": "boolean", "default": True},
            },
        },
        "CameraUpdate": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "description": "Only the keys given change. An ONVIF camera changes host, port, "
            "credentials or profile inside onvif (it is probed again); a URL camera uses "
            "url, username, password.",
            "properties": {
                "url": {"type": "string", "pattern": "^rtsps?://", "maxLength": 2000},
                "username": {"type": ["string", "null"], "maxLength": 200},
                "password": _WRITE_ONLY_PASSWORD,
                "onvif": _ONVIF_IN,
                "counters": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
                "enabled": {"type": "boolean"},
            },
        },
        "CameraDetail": {
            "allOf": [
                _ref("Camera"),
                {
                    "type": "object",
                    "required": [
                        "origin",
                        "url",
                        "username",
                        "has_password",
                        "onvif",
                        "device",
                        "probed",
                        "created",
                        "updated",
                        "deleted",
                    ],
                    "properties": {
                        "state": {
                            "type": "string",
                            "enum": ["recording", "connecting", "offline", "disabled", "deleted"],
                        },
                        "origin": {
                            "type": "string",
                            "enum": ["config", "api"],
                            "description": "config: read-only here, managed in the config "
                            "file; api: managed through this API.",
                        },
                        "url": {"type": "string", "description": "Never with credentials."},
                        "username": _NULLABLE_STR,
                        "has_password": {"type": "boolean"},
                        "onvif": {
                            "type": ["object", "null"],
                            "properties": {
                                "host": {"type": "string"},
                                "port": {"type": ["integer", "null"]},
                                "profile": _NULLABLE_STR,
                            },
                        },
                        "device": {
                            "type": ["object", "null"],
                            "description": "The last ONVIF probe: identity and profiles.",
                        },
                        "probed": _NULLABLE_ISO_TIME,
                        "created": _ISO_TIME,
                        "updated": _NULLABLE_ISO_TIME,
                        "deleted": {
                            **_NULLABLE_ISO_TIME,
                            "description": "When the camera was deleted; its footage is kept.",
                        },
                    },
                },
            ]
        },
        "ProbeIn": {
            "type": "object",
            "additionalProperties": False,
            "description": "An ONVIF device (host, port, username, password, profile) or a "
            "stream (url, username, password; snapshot decodes one keyframe).",
            "properties": {
                **_ONVIF_IN["properties"],
                "url": {"type": "string", "pattern": "^rtsps?://"},
                "snapshot": {
                    "type": "boolean",
                    "default": False,
                    "description": "Also return a JPEG preview as a data: URL.",
                },
            },
        },
        "ProbeResult": {
            "type": "object",
            "required": ["url", "device", "clock_offset_s", "snapshot"],
            "properties": {
                "url": {"type": "string", "description": "Stream URI that would be recorded."},
                "device": {"type": ["object", "null"]},
                "clock_offset_s": {"type": ["number", "null"]},
                "snapshot": {
                    "type": ["string", "null"],
                    "description": "data:image/jpeg;base64,... when asked for.",
                },
            },
        },
        "DiscoverIn": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timeout_s": {"type": "number", "minimum": 0.2, "maximum": 10, "default": 3}
            },
        },
        "DiscoveredDevices": {
            "type": "object",
            "required": ["devices"],
            "properties": {
                "devices": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["address", "xaddrs", "sender"],
                        "properties": {
                            "address": {"type": "string"},
                            "xaddrs": {"type": "array", "items": {"type": "string"}},
                            "sender": {"type": "string"},
                            "name": _NULLABLE_STR,
                            "hardware": _NULLABLE_STR,
                            "location": _NULLABLE_STR,
                            "types": {"type": "array", "items": {"type": "string"}},
                            "scopes": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }
            },
        },
    }
)

_CAMERA_ERRORS: JsonDict = {
    "422": _json(
        _ref("Error"),
        "The device refused the credentials (onvif_auth_failed) or is not a usable ONVIF "
        "camera (not_onvif).",
    ),
    "502": _json(_ref("Error"), "The camera could not be reached or refused (camera_unreachable)."),
    "504": _json(_ref("Error"), "The camera did not answer in time (camera_unreachable)."),
}

_PATHS["/api/v1/cameras"]["post"] = {
    "operationId": "createCamera",
    "summary": "Add a camera by ONVIF or stream URL (admin); recording starts at once",
    "requestBody": _body("CameraIn"),
    "responses": {
        "201": _json(_ref("CameraDetail"), "Created."),
        "400": _error("BadRequest"),
        "401": _error("Unauthorized"),
        "403": _error("Forbidden"),
        "409": _json(_ref("Error"), "The name is taken (also by a deleted camera)."),
        **_CAMERA_ERRORS,
        "500": _error("InternalError"),
    },
}
_PATHS.update(
    {
        "/api/v1/cameras/probe": {
            "post": {
                "operationId": "probeCamera",
                "summary": "Probe an ONVIF device or test a stream without saving (admin)",
                "requestBody": _body("ProbeIn"),
                "responses": {
                    "200": _json(_ref("ProbeResult"), "What the device reported."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    **_CAMERA_ERRORS,
                    "500": _error("InternalError"),
                },
            }
        },
        "/api/v1/cameras/{name}": {
            "get": {
                "operationId": "getCamera",
                "summary": "A camera's settings and live status (never its password)",
                "parameters": [_NAME],
                "responses": {
                    "200": _json(_ref("CameraDetail"), "The camera."),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown camera (camera_not_found)."),
                    "500": _error("InternalError"),
                },
            },
            "patch": {
                "operationId": "updateCamera",
                "summary": "Change an API camera (admin); a changed stream reconnects it",
                "parameters": [_NAME],
                "requestBody": _body("CameraUpdate"),
                "responses": {
                    "200": _json(_ref("CameraDetail"), "The changed camera."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _error("NotFound"),
                    "409": _json(
                        _ref("Error"), "The camera is managed in the config file, or changed."
                    ),
                    **_CAMERA_ERRORS,
                    "500": _error("InternalError"),
                },
            },
            "delete": {
                "operationId": "deleteCamera",
                "summary": "Stop recording an API camera and mark it deleted (admin)",
                "description": "The camera's row, runs and segments are kept and stay "
                "reachable (recordings, lookup); its name cannot be used again.",
                "parameters": [_NAME],
                "responses": {
                    "204": {"description": "Deleted; footage kept."},
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _error("NotFound"),
                    "409": _json(_ref("Error"), "The camera is managed in the config file."),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/cameras/{name}/snapshot": {
            "get": {
                "operationId": "getCameraSnapshot",
                "summary": "A live JPEG from the camera (admin, auditor)",
                "description": "From the ONVIF snapshot URI when the camera has one, else one "
                "keyframe decoded from its stream. X-Snapshot-Source says which.",
                "parameters": [_NAME],
                "responses": {
                    "200": {
                        "description": "The picture.",
                        "content": {
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown camera (camera_not_found)."),
                    **_CAMERA_ERRORS,
                    "500": _error("InternalError"),
                },
            }
        },
        "/api/v1/discover": {
            "post": {
                "operationId": "discoverCameras",
                "summary": "WS-Discovery of ONVIF cameras (admin)",
                "description": "Sends a Probe to [onvif] discovery_address and lists the "
                "devices that answer within timeout_s.",
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("DiscoverIn")}},
                },
                "responses": {
                    "200": _json(_ref("DiscoveredDevices"), "Devices that answered."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "502": _json(_ref("Error"), "The probe could not be sent."),
                    "500": _error("InternalError"),
                },
            }
        },
    }
)

# -- users, API tokens, audit log (web/accounts_api.py) ---------------------------------

_USERNAME = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
    "description": "Login name: letters, digits, '.', '_', '@', '-'.",
}
_ROLE = {"type": "string", "enum": ["admin", "staff", "auditor"]}
_PASSWORD_IN = {
    "type": "string",
    "writeOnly": True,
    "description": "Write-only; stored as an argon2id hash. Rule: 10-256 characters, no "
    "blank at either end, not containing the user name (else 400 password_rejected).",
}
_COUNTER_CODES = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Counter codes a staff account works at (ignored for other roles).",
}
_SCHEMAS.update(
    {
        "User": {
            "type": "object",
            "required": [
                "username",
                "role",
                "counters",
                "active",
                "created",
                "created_us",
                "disabled",
                "disabled_us",
                "last_login",
                "last_login_us",
            ],
            "properties": {
                "username": _USERNAME,
                "role": _ROLE,
                "counters": {"type": "array", "items": {"type": "string"}},
                "active": {"type": "boolean", "description": "false once disabled."},
                "created": _ISO_TIME,
                "created_us": {"type": "integer"},
                "disabled": _NULLABLE_ISO_TIME,
                "disabled_us": _NULLABLE_US,
                "last_login": _NULLABLE_ISO_TIME,
                "last_login_us": _NULLABLE_US,
            },
        },
        "UserList": {
            "type": "object",
            "required": ["users"],
            "properties": {"users": {"type": "array", "items": _ref("User")}},
        },
        "UserIn": {
            "type": "object",
            "additionalProperties": False,
            "required": ["username", "password", "role"],
            "properties": {
                "username": _USERNAME,
                "password": _PASSWORD_IN,
                "role": _ROLE,
                "counters": _COUNTER_CODES,
            },
        },
        "UserUpdate": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "description": "Only the keys given change. Disabling or a new password ends "
            "every session of the account.",
            "properties": {
                "role": _ROLE,
                "counters": _COUNTER_CODES,
                "disabled": {"type": "boolean"},
                "password": _PASSWORD_IN,
            },
        },
        "Token": {
            "type": "object",
            "required": [
                "id",
                "name",
                "role",
                "active",
                "created",
                "created_us",
                "last_used",
                "last_used_us",
                "revoked",
                "revoked_us",
            ],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "role": _ROLE,
                "active": {"type": "boolean", "description": "false once revoked."},
                "created": _ISO_TIME,
                "created_us": {"type": "integer"},
                "last_used": _NULLABLE_ISO_TIME,
                "last_used_us": _NULLABLE_US,
                "revoked": _NULLABLE_ISO_TIME,
                "revoked_us": _NULLABLE_US,
            },
        },
        "TokenList": {
            "type": "object",
            "required": ["tokens"],
            "properties": {"tokens": {"type": "array", "items": _ref("Token")}},
        },
        "TokenIn": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "role"],
            "properties": {
                "name": {"type": "string", "maxLength": 200, "description": "What uses it."},
                "role": _ROLE,
            },
        },
        "NewToken": {
            "allOf": [
                _ref("Token"),
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {
                            "type": "string",
                            "description": "The bearer token. Shown only in this response; "
                            "the index keeps only its SHA-256.",
                        }
                    },
                },
            ]
        },
        "AuditEntry": {
            "type": "object",
            "required": [
                "id",
                "at",
                "at_us",
                "actor",
                "actor_kind",
                "remote",
                "action",
                "target",
                "outcome",
                "detail",
            ],
            "properties": {
                "id": {"type": "integer"},
                "at": _ISO_TIME,
                "at_us": {"type": "integer"},
                "actor": {"type": "string", "description": "User or token name; '-' if none."},
                "actor_kind": {
                    "type": "string",
                    "enum": ["user", "token", "anonymous", "system"],
                },
                "remote": _NULLABLE_STR,
                "action": {
                    "type": "string",
                    "description": "e.g. login, user.create, token.revoke, receipt.start, "
                    "or 'METHOD path' for a refused request.",
                },
                "target": _NULLABLE_STR,
                "outcome": {"type": "string", "enum": ["ok", "denied", "failed"]},
                "detail": {"type": "object", "description": "Never holds a secret."},
            },
        },
        "AuditPage": {
            "type": "object",
            "required": ["entries", "next_before", "next"],
            "properties": {
                "entries": {"type": "array", "items": _ref("AuditEntry")},
                "next_before": {
                    "type": ["integer", "null"],
                    "description": "Pass as 'before' for the next (older) page; null at the end.",
                },
                "next": {
                    "type": ["string", "null"],
                    "description": "The next page's path and query.",
                },
            },
        },
    }
)

_USERNAME_PARAM = {"name": "username", "in": "path", "required": True, "schema": _USERNAME}
_TOKEN_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _query(name: str, schema: JsonDict, description: str) -> JsonDict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_PATHS.update(
    {
        "/api/v1/users": {
            "get": {
                "operationId": "listUsers",
                "summary": "Every account, by name (admin); never a password hash",
                "responses": {
                    "200": _json(_ref("UserList"), "All accounts."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "500": _error("InternalError"),
                },
            },
            "post": {
                "operationId": "createUser",
                "summary": "Create an account (admin); audited as user.create",
                "requestBody": _body("UserIn"),
                "responses": {
                    "201": _json(_ref("User"), "Created."),
                    "400": _json(
                        _ref("Error"),
                        "Invalid values, or the password breaks the rule (password_rejected).",
                    ),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown counter (counter_not_found)."),
                    "409": _json(_ref("Error"), "The user name is taken."),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/users/{username}": {
            "get": {
                "operationId": "getUser",
                "summary": "One account (admin)",
                "parameters": [_USERNAME_PARAM],
                "responses": {
                    "200": _json(_ref("User"), "The account."),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown user (user_not_found)."),
                    "500": _error("InternalError"),
                },
            },
            "patch": {
                "operationId": "updateUser",
                "summary": "Change role, counters, disabled state or password (admin)",
                "description": "Audited as user.update, user.disable, user.enable and "
                "user.password. Disabling or a new password ends the account's sessions.",
                "parameters": [_USERNAME_PARAM],
                "requestBody": _body("UserUpdate"),
                "responses": {
                    "200": _json(_ref("User"), "The changed account."),
                    "400": _json(
                        _ref("Error"),
                        "Invalid values, or the password breaks the rule (password_rejected).",
                    ),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(
                        _ref("Error"),
                        "Unknown user or counter (user_not_found, counter_not_found).",
                    ),
                    "409": _json(
                        _ref("Error"),
                        "It would demote or disable the last active admin, or disable "
                        "the caller's own account.",
                    ),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/tokens": {
            "get": {
                "operationId": "listTokens",
                "summary": "Every API token, revoked ones included (admin); never a secret",
                "responses": {
                    "200": _json(_ref("TokenList"), "All tokens, oldest first."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "500": _error("InternalError"),
                },
            },
            "post": {
                "operationId": "createToken",
                "summary": "Create an API token (admin); the secret is in this answer only",
                "requestBody": _body("TokenIn"),
                "responses": {
                    "201": _json(_ref("NewToken"), "Created."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "500": _error("InternalError"),
                },
            },
        },
        "/api/v1/tokens/{id}": {
            "delete": {
                "operationId": "revokeToken",
                "summary": "Revoke an API token (admin); its row stays",
                "description": "Takes effect on the next request. Revoking again keeps the "
                "first revocation time.",
                "parameters": [_TOKEN_ID],
                "responses": {
                    "200": _json(_ref("Token"), "The revoked token."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "404": _json(_ref("Error"), "Unknown token (token_not_found)."),
                    "500": _error("InternalError"),
                },
            }
        },
        "/api/v1/audit": {
            "get": {
                "operationId": "listAudit",
                "summary": "The audit log, newest first (admin, auditor)",
                "parameters": [
                    _query("start", _ISO_TIME, "Entries at or after this time."),
                    _query("end", _ISO_TIME, "Entries before this time."),
                    _query("actor", {"type": "string"}, "Exactly this actor."),
                    _query("action", {"type": "string"}, "Actions starting with this."),
                    _query(
                        "outcome",
                        {"type": "string", "enum": ["ok", "denied", "failed"]},
                        "Only entries with this outcome.",
                    ),
                    _query(
                        "before",
                        {"type": "integer", "minimum": 1},
                        "Only entries with a smaller id: next_before of the previous page.",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                        "Entries per page.",
                    ),
                ],
                "responses": {
                    "200": _json(_ref("AuditPage"), "One page of entries."),
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "403": _error("Forbidden"),
                    "500": _error("InternalError"),
                },
            }
        },
    }
)

_DOCUMENT: JsonDict = {
    "openapi": "3.1.0",
    "info": {
        "title": "surveil API",
        "version": surveil.__version__,
        "description": "Evidence-grade video recorder. Times are ISO 8601 with a UTC offset "
        "and, alongside, integer microseconds since the Unix epoch (fields ending in _us).",
    },
    "security": [{"bearerAuth": []}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token from `surveil token create`.",
            }
        },
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
    },
}


def openapi_document() -> JsonDict:
    """A fresh copy of the document, safe for the caller to modify."""
    return copy.deepcopy(_DOCUMENT)
