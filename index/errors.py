"""Domain errors raised by index query functions; the web edge maps them to HTTP codes."""

from __future__ import annotations


class RecordNotFound(LookupError):
    """A row that the caller named does not exist."""


class CameraNotFound(RecordNotFound):
    """No camera with that name."""


class SegmentNotFound(RecordNotFound):
    """No segment with that id (or run and sequence)."""


class Conflict(Exception):
    """The write would break a uniqueness rule or a lifecycle rule (e.g. ending a run twice)."""


class CounterNotFound(RecordNotFound):
    """No counter with that code."""


class ReceiptNotFound(RecordNotFound):
    """No receipt with that number."""


class InvalidRecord(ValueError):
    """The values given break a validation rule; the message says which and why."""
