"""Shared helpers for benchmarks: machine facts, /proc accounting, media file analysis."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


# -- machine --------------------------------------------------------------


def _first_line(cmd: Sequence[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, memory, kernel, interpreter and media stacks."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = _meminfo().get("MemTotal", 0)
    gst = subprocess.run(
        ["/usr/bin/python3", "-c", "import gi; gi.require_version('Gst','1.0');"
         "from gi.repository import Gst; Gst.init(None); print(Gst.version_string())"],
        capture_output=True, text=True,
    )  # fmt: skip
    return {
        "cpu_model": model,
        "cores": CORES,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "pyav": av.__version__,
        "pyav_ffmpeg": _pyav_ffmpeg_version(),
        "ffmpeg_cli": _first_line(["ffmpeg", "-hide_banner", "-version"]),
        "gstreamer": gst.stdout.strip() or None,
        "loadavg_at_start": os.getloadavg(),
    }


def _pyav_ffmpeg_version() -> str:
    info = getattr(av, "ffmpeg_version_info", None)
    if info:
        return str(info)
    lav = av.library_versions.get("libavformat")
    return f"libavformat {'.'.join(map(str, lav))}" if lav else "unknown"


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])
    return out


# -- /proc accounting -----------------------------------------------------


def _stat_fields(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may hold spaces and parentheses; the fields after the last ')' are fixed.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), 0.0 once it is gone."""
    f = _stat_fields(f"/proc/{pid}/stat")
    if f is None:
        return 0.0
    return (int(f[11]) + int(f[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """Live descendant pids of pid (children, grandchildren, ...)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat_fields(f"/proc/{entry}/stat")
            if f is not None:
                parent[int(entry)] = int(f[1])
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        frontier += kids
    return out


def tree_cpu_seconds(pid: int) -> float:
    return cpu_seconds(pid) + sum(cpu_seconds(c) for c in descendants(pid))


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds per thread id of a process."""
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        f = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
        if f is not None:
            out[int(tid)] = (int(f[11]) + int(f[12])) / CLK_TCK
    return out


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in KiB; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                    break
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return rss, pss


class SystemCpu:
    """Whole-machine CPU busy fraction between two readings of /proc/stat."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    def busy_fraction(self) -> float:
        total, idle = self._read()
        d_total = total - self._start[0]
        return 0.0 if d_total <= 0 else 1.0 - (idle - self._start[1]) / d_total


@dataclass
class MemorySampler:
    """Samples summed (RSS, PSS) of some pids; keeps the mean and the peak."""

    pids: list[int]
    rss_kib: list[int] = field(default_factory=list)
    pss_kib: list[int] = field(default_factory=list)

    def sample(self) -> None:
        pairs = [memory_kib(p) for p in self.pids]
        self.rss_kib.append(sum(r for r, _ in pairs))
        self.pss_kib.append(sum(p for _, p in pairs))

    def summary(self) -> dict[str, float]:
        if not self.rss_kib:
            return {"rss_mib_mean": 0.0, "rss_mib_max": 0.0, "pss_mib_mean": 0.0}
        return {
            "rss_mib_mean": round(statistics.fmean(self.rss_kib) / 1024, 1),
            "rss_mib_max": round(max(self.rss_kib) / 1024, 1),
            "rss_mib_last": round(self.rss_kib[-1] / 1024, 1),
            "pss_mib_mean": round(statistics.fmean(self.pss_kib) / 1024, 1),
        }


# -- media files ----------------------------------------------------------


@dataclass
class MediaCount:
    """What a camera's recorded files hold, read back packet by packet (no decoding)."""

    files: int = 0
    unreadable: int = 0
    video_frames: int = 0
    audio_packets: int = 0
    corrupt: int = 0
    # Frames missing from the recorded timeline: on each stretch of continuous timestamps
    # (after its first SETTLE_FRAMES), round((last DTS - first DTS) * fps) + 1 - frames.
    # Counting instead of summing long DTS steps keeps a jittered timestamp (one short step
    # then one long one) from counting.
    lost_frames: int = 0
    long_steps: int = 0  # DTS steps longer than 1.5 frame intervals (diagnostic)
    short_steps: int = 0  # DTS steps shorter than half a frame interval (diagnostic)
    timeline_resets: int = 0  # file boundaries whose DTS start over (not checkable)
    span_s: float = 0.0  # checked media time: last - first DTS plus one frame, per stretch


# Before the first RTCP sender report RTSP timestamps are provisional; when they switch to
# synced ones the first few frames of a connection can share or skip a timestamp although no
# frame is missing (seen with both PyAV and the ffmpeg CLI). Timing is checked after these.
SETTLE_FRAMES = 8


@dataclass
class _Stretch:
    seen: int = 0
    first: float = 0.0
    last: float = 0.0
    frames: int = 0

    def add(self, t: float) -> float | None:
        """Take a frame at t; return the step from the previous checked frame, if any."""
        self.seen += 1
        if self.seen <= SETTLE_FRAMES:
            self.last = t
            return None
        if self.frames == 0:
            self.first = self.last = t
            self.frames = 1
            return None
        step = t - self.last
        self.last = max(self.last, t)
        self.frames += 1
        return step


def count_media(
    paths: Sequence[Path], fps: float, starts_s: Sequence[float] | None = None
) -> MediaCount:
    """Count video frames and missing frames across a camera's files, in recording order.

    Files whose timestamps restart at zero need starts_s: the wall time (seconds) of each
    file's first video frame, which places its frames on one timeline with the others.
    """
    out = MediaCount()
    frame_s = 1.0 / fps
    stretches: list[_Stretch] = []
    for i, path in enumerate(paths):
        out.files += 1
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError):
            out.unreadable += 1
            continue
        with container:
            video = container.streams.video[0] if container.streams.video else None
            file_first = True
            file_dts0: float | None = None
            for packet in container.demux():
                if packet.size == 0 or packet.dts is None:
                    continue
                if packet.stream.type == "audio":
                    out.audio_packets += 1
                    continue
                if video is None or packet.stream.index != video.index:
                    continue
                out.video_frames += 1
                out.corrupt += int(packet.is_corrupt)
                t = float(packet.dts * packet.time_base)
                if starts_s is not None:
                    if file_dts0 is None:
                        file_dts0 = t
                    t = starts_s[i] + t - file_dts0
                cur = stretches[-1] if stretches else None
                if cur is None or (file_first and t - cur.last < -frame_s / 2):
                    if cur is not None:
                        out.timeline_resets += 1
                    cur = _Stretch()
                    stretches.append(cur)
                step = cur.add(t)
                if step is not None:
                    out.long_steps += int(step > 1.5 * frame_s)
                    out.short_steps += int(step < 0.5 * frame_s)
                file_first = False
    for st in stretches:
        if st.frames:
            out.lost_frames += max(0, round((st.last - st.first) * fps) + 1 - st.frames)
            out.span_s += st.last - st.first + frame_s
    out.span_s = round(out.span_s, 3)
    return out


# -- small things ---------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path
