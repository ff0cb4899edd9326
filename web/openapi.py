"""The OpenAPI 3.1 description of the JSON API, written by hand next to the views it describes."""

from __future__ import annotations

import copy
from typing import Any

import surveil

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
                        "unauthorized, camera_not_found, segment_open, segment_gone.",
                    },
                    "message": {"type": "string", "description": "Human-readable detail."},
                },
            }
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "time"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "database": {"type": "string", "enum": ["ok", "error"]},
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
            "state": {"type": "string", "enum": ["open", "sealed", "recovered", "missing"]},
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
            "receipt_no": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$"},
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
                "down', 'recorder stopped', 'segment missing' or 'nothing recorded'.",
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
            "unbroken run of footage in the window (see lookup for the gaps). The same "
            "request gives the same bytes and ETag. X-Clip-Start-Us and X-Clip-Duration-Us "
            "give the clip's real start and length.",
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
                "200": {
                    "description": "The whole clip.",
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                },
                "206": {
                    "description": "The requested byte range.",
                    "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                },
                "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "404": _json(_ref("Error"), "No sealed footage in the window (no_footage)."),
                "409": _json(_ref("Error"), "Segments cannot be stitched (clip_unavailable)."),
                "410": _json(_ref("Error"), "A segment file is gone (segment_gone)."),
                "416": {"description": "The Range cannot be satisfied."},
                "500": _error("InternalError"),
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
            "description": "The ETag of a sealed or recovered segment is its sha256.",
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
                "304": {"description": "If-None-Match matched the sha256."},
                "400": _error("BadRequest"),
                "401": _error("Unauthorized"),
                "404": _error("NotFound"),
                "409": _json(_ref("Error"), "The segment is still being written (segment_open)."),
                "410": _json(_ref("Error"), "The file is no longer on disk (segment_gone)."),
                "412": _json(_ref("Error"), "If-Match did not match the sha256."),
                "416": {"description": "The range is outside the file."},
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
