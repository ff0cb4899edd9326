"""Errors of the segmenter package."""


class SegmenterError(Exception):
    """Base class for segmenter errors."""


class SegmentCorrupt(SegmenterError):
    """A segment file's structure is not what this writer produces."""


class Discontinuity(SegmenterError):
    """Stream timestamps jumped; the current run must end and a new one begin."""


class UnsupportedStream(SegmenterError):
    """The camera offers no stream this recorder can store (e.g. no video)."""
