"""Named types of the wire models: each validation rule of the API, written once.

The patterns come from ``index/`` (the index fullmatches the same strings), the bounds from
the constants of ``index/`` and ``surveil/``. Patterns use explicit character classes only,
no ``\\s``/``\\w``/``\\d`` and no lookaround, because three engines read them: Rust (pydantic),
ECMA-262 (OpenAPI clients) and Python ``re`` (the fuzzer's generator). A rule that no schema
can state (time order, a password containing the user name, NFKC receipt numbers) stays in
the service and answers 422 (docs/design/api-types.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from cameras.urls import HOST_RULE, valid_host
from index.cameras import CAMERA_NAME_PATTERN, CAMERA_NAME_RULE
from index.counters import COUNTER_CODE_MAX, COUNTER_CODE_PATTERN, NAME_MAX
from index.receipts import RECEIPT_NO_MAX, RECEIPT_NO_RULE, TEXT_MAX
from index.records import CLOCK_SYNC_STATES, SEGMENT_STATES, USER_ROLES
from index.users import USERNAME_PATTERN
from surveil.passwords import PASSWORD_MAX, PASSWORD_MIN
from surveil.timefmt import us_from_iso
from web.wire.base import pattern, rule_error

# One line of text: no C0 control (newline, tab), DEL or C1, as cameras.urls.is_control.
ONE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL


def _empty_is_none(value: object) -> object:
    """An optional text field: "" is absent, as a blank form field is."""
    return None if value == "" else value


ONE_LINE = pattern(
    ONE_LINE_PATTERN, "one line of text (no newline, tab or other control character)"
)


def _line(max_length: int, description: str | None = None) -> Any:
    return Field(max_length=max_length, pattern=ONE_LINE, description=description)


# -- keys of a change -------------------------------------------------------------------


def _not_null(value: object) -> object:
    """A key that may be left out but not sent as null (leaving it out keeps the value)."""
    if value is None:
        raise ValueError("must not be null; leave the key out to keep the value")
    return value


def _no_null_schema(schema: dict[str, Any]) -> None:
    """The field's schema without its null branch and null default (see _not_null)."""
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept
    if schema.get("default", 0) is None:
        del schema["default"]


# Annotations of an optional, non-null key: `x: Annotated[T | None, *NOT_NULL] = None`.
NOT_NULL = (BeforeValidator(_not_null), Field(json_schema_extra=_no_null_schema))


# -- names and codes --------------------------------------------------------------------

_COUNTER_RULE = "1-32 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit"
_USERNAME_RULE = "1-64 of A-Z, a-z, 0-9, '.', '_', '@', '-', starting with a letter or digit"

CameraName = Annotated[
    str,
    Field(
        pattern=pattern(f"^{CAMERA_NAME_PATTERN}$", CAMERA_NAME_RULE),
        description=CAMERA_NAME_RULE,
    ),
]
CounterCode = Annotated[
    str,
    Field(
        pattern=pattern(f"^{COUNTER_CODE_PATTERN}$", _COUNTER_RULE),
        max_length=COUNTER_CODE_MAX,
        description=_COUNTER_RULE,
    ),
]
UserName = Annotated[
    str,
    Field(
        pattern=pattern(f"^{USERNAME_PATTERN}$", _USERNAME_RULE),
        description=_USERNAME_RULE,
    ),
]
Role = Literal[USER_ROLES]  # type: ignore[valid-type]
SegmentState = Literal[SEGMENT_STATES]  # type: ignore[valid-type]
ClockSync = Literal[CLOCK_SYNC_STATES]  # type: ignore[valid-type]


def _digits(value: object) -> object:
    """Parameters are text: an integer is ASCII digits only (no '+1', ' 1', '1_0', '٣')."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ValueError("must be a positive integer written in digits 0-9")
    return value


Digits = BeforeValidator(_digits)
# Field before the validator: pydantic then puts minimum/maximum in the schema.
RecordId = Annotated[int, Field(ge=1, le=MAX_ID), Digits]

# -- text -------------------------------------------------------------------------------

Line200 = Annotated[str, _line(max(NAME_MAX, TEXT_MAX))]
RequiredLine200 = Annotated[str, Field(min_length=1), _line(max(NAME_MAX, TEXT_MAX))]
OptionalLine200 = Annotated[Line200 | None, BeforeValidator(_empty_is_none)]

ReceiptNo = Annotated[
    str,
    Field(min_length=1, max_length=RECEIPT_NO_MAX, description=RECEIPT_NO_RULE),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": RECEIPT_NO_MAX,
            "format": "receipt-no",
            "description": RECEIPT_NO_RULE,
        }
    ),
]

# What str.strip() removes (str.isspace), spelled out: a password must not begin or end
# with it (surveil.passwords), and a schema can say so with explicit classes.
_BLANKS = (
    "\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# NUL is refused in every string (index/text.py), so no pattern may admit it either.
NO_BLANK_ENDS_PATTERN = f"^[^\\u0000{_BLANKS}]([^\\u0000]*[^\\u0000{_BLANKS}])?$"
NO_NUL = pattern("^[^\\u0000]*$", "text without a NUL character")

NewPassword = Annotated[
    str,
    Field(
        min_length=PASSWORD_MIN,
        max_length=PASSWORD_MAX,
        pattern=pattern(
            NO_BLANK_ENDS_PATTERN, "without white space at either end (and without a NUL)"
        ),
        description=f"{PASSWORD_MIN} to {PASSWORD_MAX} characters, no white space at either "
        "end, not containing the user name; write-only",
    ),
]

# -- cameras ----------------------------------------------------------------------------

CAMERA_TEXT_MAX = 200
URL_MAX = 2000
PROFILE_MAX = 64


def _host(value: str) -> str:
    # A 422 rule: the pattern admits the host's characters; which arrangements of them are
    # a host (labels, IPv4, bracketed IPv6) is beyond what a schema pattern says portably.
    if not valid_host(value):
        raise rule_error(f"must be {HOST_RULE}")
    return value


CameraUser = Annotated[str, _line(CAMERA_TEXT_MAX, "user name for the camera")]
OptionalCameraUser = Annotated[CameraUser | None, BeforeValidator(_empty_is_none)]
CameraSecret = Annotated[
    str,
    Field(
        max_length=CAMERA_TEXT_MAX,
        pattern=NO_NUL,
        description="write-only; never returned",
        json_schema_extra={"writeOnly": True},
    ),
]
OptionalCameraSecret = Annotated[CameraSecret | None, BeforeValidator(_empty_is_none)]
Host = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        pattern=pattern("^[A-Za-z0-9_.:\\[\\]%-]+$", HOST_RULE),
        description=HOST_RULE,
    ),
    AfterValidator(_host),
]


def _json_integer(value: object) -> object:
    """JSON Schema counts 554.0 as an integer; pydantic's strict int would not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_json_integer)]
Profile = Annotated[str, _line(PROFILE_MAX, "ONVIF media profile token")]
OptionalProfile = Annotated[Profile | None, BeforeValidator(_empty_is_none)]
RtspUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=URL_MAX,
        pattern=pattern(
            "^rtsps?://[^\\u0000-\\u0020\\u007f-\\u009f]+$",
            "an rtsp:// or rtsps:// URL without spaces or control characters",
        ),
        description="rtsp:// or rtsps:// stream URL; credentials in it are moved out and "
        "stored encrypted",
    ),
]

# -- times ------------------------------------------------------------------------------


def _us(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time string like 2026-11-26T20:41:00+00:00")
    return us_from_iso(value)


Time = Annotated[
    int,
    BeforeValidator(_us),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with a UTC offset, e.g. 2026-11-26T20:41:00.123456+00:00",
        }
    ),
]
"""An input time: RFC 3339 text on the wire, µs since the epoch in Python."""

IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An output time (surveil.timefmt.iso_from_us), always beside its integer ``_us`` twin."""
