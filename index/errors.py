"""Domain errors raised by index query functions; the web edge maps them to HTTP codes.

Each class names its stable machine-readable ``code`` itself (never inherited: a subclass
that meant a different thing would otherwise answer with its parent's code). The HTTP
status of each is decided once, in web/errors.py.
"""

from __future__ import annotations

from typing import ClassVar


class RecordNotFound(LookupError):
    """A row that the caller named does not exist."""

    code: ClassVar[str] = "not_found"


class CameraNotFound(RecordNotFound):
    """No camera with that name."""

    code: ClassVar[str] = "camera_not_found"


class SegmentNotFound(RecordNotFound):
    """No segment with that id (or run and sequence)."""

    code: ClassVar[str] = "segment_not_found"


class Conflict(Exception):
    """The write would break a uniqueness rule or a lifecycle rule (e.g. ending a run twice)."""

    code: ClassVar[str] = "conflict"


class CounterNotFound(RecordNotFound):
    """No counter with that code."""

    code: ClassVar[str] = "counter_not_found"


class ReceiptNotFound(RecordNotFound):
    """No receipt with that number."""

    code: ClassVar[str] = "receipt_not_found"


class HoldNotFound(RecordNotFound):
    """No hold has that id."""

    code: ClassVar[str] = "hold_not_found"


class RetentionRuleNotFound(RecordNotFound):
    """No retention rule for that scope and ref."""

    code: ClassVar[str] = "retention_rule_not_found"


class InvalidRecord(ValueError):
    """The values given break a validation rule; the message says which and why.

    Over the API this is a value the document allows but a rule no schema can state
    refuses (time order, NFKC receipt numbers, URL credential rules): 422.
    """

    code: ClassVar[str] = "invalid_value"
