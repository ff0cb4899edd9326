"""Where segment files live, and what their names say.

A segment's file name carries its run, sequence and start time, so a file
found on disk can be indexed again even if its row never reached the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

PART_SUFFIX = ".part"
QUARANTINE_DIR = "quarantine"
# Segments fetched back from central storage to be played (surveil/transfer.py): copies,
# not the archive; recovery and verify leave the folder alone.
CENTRAL_CACHE_DIR = "central-cache"
NOT_FOOTAGE_DIRS = frozenset({QUARANTINE_DIR, CENTRAL_CACHE_DIR})
_NAME_RE = re.compile(r"^(?P<start>\d{16,})_r(?P<run>\d+)_s(?P<seq>\d+)\.mp4$")


@dataclass(frozen=True)
class SegmentName:
    camera: str
    start_us: int
    run_id: int
    sequence: int


def segment_path(camera: str, start_us: int, run_id: int, sequence: int) -> str:
    """Relative POSIX path: CAMERA/YYYY/MM/DD/START_rRUN_sSEQ.mp4 (UTC date)."""
    day = datetime.fromtimestamp(start_us / 1_000_000, UTC)
    return f"{camera}/{day:%Y/%m/%d}/{start_us:016d}_r{run_id}_s{sequence}.mp4"


def parse_segment_path(rel_path: str) -> SegmentName | None:
    """The parts of a segment path, or None if it is not one of ours."""
    p = PurePosixPath(rel_path)
    name = p.name.removesuffix(PART_SUFFIX)
    m = _NAME_RE.match(name)
    if m is None or len(p.parts) != 5:
        return None
    return SegmentName(p.parts[0], int(m["start"]), int(m["run"]), int(m["seq"]))
