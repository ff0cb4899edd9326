"""Live per-camera recording status, published by recorders and read by the web API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from segmenter.storage import DISK_ERROR, DISK_FULL

# The camera alarm for each storage problem; each begins with the problem's name, which
# is how the dashboard and /api/v1/health recognise it.
STORAGE_ALARMS: Final = {
    DISK_FULL: "disk full: cannot write to the data directory; "
    "recording resumes by itself when space is freed",
    DISK_ERROR: "disk error: cannot write to the data directory; "
    "recording resumes by itself when writes succeed again",
}


@dataclass(frozen=True)
class CameraStatus:
    name: str
    state: str  # 'recording' | 'connecting' | 'offline' | 'disabled'
    last_packet_us: int | None
    fps: float | None
    bitrate_bps: float | None
    current_segment: str | None  # path relative to data_dir
    error: str | None  # already redacted
    run_id: int | None
    # Capture → queryable in the index, over recent frames (None until measured).
    freshness_p50_s: float | None = None
    freshness_p99_s: float | None = None
    frames: int = 0  # video frames recorded since the recorder started
    # Camera clock minus host clock at the last ONVIF probe (None: unknown or not ONVIF).
    clock_offset_s: float | None = None
    # Human-readable conditions that need attention, e.g. "camera clock off by 3.2 s".
    alarms: tuple[str, ...] = ()
    # 'disk full' or 'disk error' while the recorder cannot write segment files, else None.
    storage_error: str | None = None
    # Counts since the recorder started (a restarted recorder starts again at 0), for the
    # Prometheus counters of surveil/metrics.py. bytes_written: init segments and
    # fragments appended to segment files (written, not necessarily fsynced yet);
    # fragments_written: complete fragments appended; reconnects: connection attempts
    # after the recorder's first one, successful or not (docs/ref/metrics.md).
    bytes_written: int = 0
    fragments_written: int = 0
    reconnects: int = 0


class StatusSource(Protocol):
    def camera_status(self) -> list[CameraStatus]: ...
