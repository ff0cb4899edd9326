"""Ingest benchmark: N cameras on one shared RTSP stream, surveil against N ffmpeg processes.

Run from the repository root:  python3 bench/ingest.py [--cameras 20] [--seconds 60]
                               python3 bench/ingest.py --sweep --seconds 30

Both sides pull the same GStreamer RTSP mount (one shared encoder, so the camera's cost is
paid once and is never counted). Only the recorder processes are measured: CPU from
/proc/PID/stat (utime+stime, all threads), memory from /proc/PID/status (VmRSS) and
/proc/PID/smaps_rollup (Pss), over exactly --seconds after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    CORES,
    MediaCount,
    MemorySampler,
    SystemCpu,
    count_media,
    cpu_seconds,
    machine_info,
    thread_cpu_seconds,
    tree_cpu_seconds,
    write_result,
)
from index.cameras import list_cameras
from index.db import Database
from index.records import RunRecord, SegmentRecord
from index.runs import runs_for_camera
from index.segments import all_segments
from tests.cameras import RtspCamera, free_port, gst_available

SWEEP_COUNTS = (20, 40, 80, 150, 250, 400, 600)
STOP_REASON = "recorder stopped"  # a run's end_reason after a requested stop
SATURATED_SHARE = 0.90  # recorder + camera server CPU, as a share of all cores
SATURATED_THREAD = 0.90  # one thread at this share of a core (the event loop) is a ceiling
KEEP_UP = 0.97  # a camera must record at least this share of the camera's frame rate
FRESHNESS_P99_TARGET_S = 2.0

LOSS_DEFINITION = (
    "lost frames: each camera's recorded files are read back packet by packet (no decoding) "
    "and put on one timeline in recording order (surveil's files restart DTS at 0, so each "
    "is placed at its index start_us); after the first 8 frames of a connection (whose RTSP "
    "timestamps are provisional until the first RTCP sender report), lost = "
    "round((last DTS - first DTS) * fps) + 1 - video frames, i.e. frames the timestamps say "
    "were sent but are not in the files. "
    "Interruptions: for surveil, a camera "
    "with more than one run (a reconnect), a run that did not end with 'recorder stopped', "
    "segments of a run that do not tile (end_us != next start_us) or a segment not sealed; "
    "for ffmpeg, a process that exited before it was stopped. A point is sustained when every "
    "camera was recording, with 0 lost frames, 0 interruptions, and every camera received at "
    f">= {KEEP_UP:.0%} of the frame rate during the window."
)


@dataclass(frozen=True)
class Params:
    cameras: int
    seconds: float
    warmup_s: float
    width: int
    height: int
    fps: int
    gop: int
    bitrate_kbps: int
    segment_seconds: float
    profile_s: float


@dataclass
class Window:
    """Resource use of a set of processes over the measurement window."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    system_busy: float = 0.0  # whole machine, all processes, 0..1
    camera_server_cpu_s: float = 0.0  # not counted; shows whether the camera kept up
    memory: dict[str, float] = field(default_factory=dict)
    main_thread_cpu_s: float | None = None
    busiest_other_thread_cpu_s: float | None = None
    threads: int | None = None
    cpu_s_by_thread_group: dict[str, float] = field(default_factory=dict)


@dataclass
class SideResult:
    name: str
    cameras: int
    started: bool = False
    all_recording: bool = False
    startup_s: float = 0.0
    window: Window = field(default_factory=Window)
    cpu_s_per_camera_minute: float = 0.0
    rss_mib_per_camera: float = 0.0
    rss_mib_per_camera_marginal: float | None = None  # (total - 0-camera baseline) / N
    pss_mib_per_camera: float = 0.0
    frames_min: int = 0
    frames_median: float = 0.0
    frames_max: int = 0
    span_s_median: float = 0.0
    lost_frames: int = 0
    cameras_with_loss: int = 0
    corrupt_packets: int = 0
    unreadable_files: int = 0
    interruptions: list[str] = field(default_factory=list)
    window_fps_min: float | None = None
    window_fps_median: float | None = None
    freshness_p50_s_median: float | None = None
    freshness_p99_s_max: float | None = None
    freshness_p99_s_median: float | None = None
    exit_codes: list[int | None] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


# -- common ---------------------------------------------------------------


def measure(
    pids: list[int], seconds: float, camera_pid: int | None, *, tree: bool, main_pid: int | None
) -> Window:
    """CPU and memory of pids over exactly `seconds`, sampling memory once a second."""

    def cpu() -> float:
        if tree:
            return sum(tree_cpu_seconds(p) for p in pids)
        return sum(cpu_seconds(p) for p in pids)

    mem = MemorySampler(pids)
    names = thread_names(main_pid) if main_pid else {}
    threads0 = thread_cpu_seconds(main_pid) if main_pid else {}
    cam0 = cpu_seconds(camera_pid) if camera_pid else 0.0
    sys_cpu = SystemCpu()
    cpu0 = cpu()
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        mem.sample()
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(1.0, end - now))
    cpu1 = cpu()
    wall = time.monotonic() - t0
    win = Window(
        wall_s=round(wall, 3),
        cpu_s=round(cpu1 - cpu0, 2),
        system_busy=round(sys_cpu.busy_fraction(), 3),
        camera_server_cpu_s=round((cpu_seconds(camera_pid) - cam0) if camera_pid else 0.0, 2),
        memory=mem.summary(),
    )
    if main_pid:
        threads1 = thread_cpu_seconds(main_pid)
        deltas = {t: threads1[t] - threads0.get(t, 0.0) for t in threads1}
        win.main_thread_cpu_s = round(deltas.get(main_pid, 0.0), 2)
        others = [v for t, v in deltas.items() if t != main_pid]
        win.busiest_other_thread_cpu_s = round(max(others), 2) if others else 0.0
        win.threads = len(threads1)
        groups: dict[str, float] = collections.defaultdict(float)
        for tid, cpu_s in deltas.items():
            groups[thread_group(names.get(tid))] += cpu_s
        ordered = sorted(groups.items(), key=lambda kv: -kv[1])
        win.cpu_s_by_thread_group = {g: round(v, 2) for g, v in ordered}
    return win


def thread_names(pid: int) -> dict[int, str]:
    """OS thread id → Python thread name, from py-spy (Python 3.11 names no OS threads)."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {}
    try:
        res = subprocess.run(
            [spy, "dump", "--pid", str(pid), "--json"], capture_output=True, text=True, timeout=30
        )
        data = json.loads(res.stdout)
    except (subprocess.TimeoutExpired, ValueError):
        return {}
    return {
        int(t["os_thread_id"]): str(t.get("thread_name") or "")
        for t in data
        if isinstance(t, dict) and t.get("os_thread_id")
    }


def thread_group(name: str | None) -> str:
    if name is None:
        return "unnamed" if not shutil.which("py-spy") else "native threads (no Python)"
    if name == "MainThread":
        return "event loop (MainThread)"
    if name.startswith("rec-"):
        return "recorder threads (rec-*)"
    if "_connection_worker_thread" in name:
        return "aiosqlite thread"
    return "other Python threads"


def summarize_media(side: SideResult, counts: dict[str, MediaCount]) -> None:
    frames = [c.video_frames for c in counts.values()]
    if frames:
        side.frames_min, side.frames_max = min(frames), max(frames)
        side.frames_median = statistics.median(frames)
        side.span_s_median = round(statistics.median(c.span_s for c in counts.values()), 2)
    side.lost_frames = sum(c.lost_frames for c in counts.values())
    side.cameras_with_loss = sum(1 for c in counts.values() if c.lost_frames)
    side.corrupt_packets = sum(c.corrupt for c in counts.values())
    side.unreadable_files = sum(c.unreadable for c in counts.values())
    resets = sum(c.timeline_resets for c in counts.values())
    long_steps = sum(c.long_steps for c in counts.values())
    short_steps = sum(c.short_steps for c in counts.values())
    if resets:
        side.notes.append(f"{resets} file boundaries restart DTS (loss across them not checked)")
    if long_steps or short_steps:
        side.notes.append(
            f"video DTS steps > 1.5 frames: {long_steps}, < 0.5 frame: {short_steps} "
            "(timestamp jitter unless frames are also lost)"
        )
    for name, c in counts.items():
        if c.files == 0 or c.video_frames == 0:
            side.interruptions.append(f"{name}: no recorded frames")


def finish_costs(side: SideResult, n: int, params: Params, base_rss_mib: float | None) -> None:
    w = side.window
    camera_minutes = n * w.wall_s / 60.0
    side.cpu_s_per_camera_minute = round(w.cpu_s / camera_minutes, 4) if camera_minutes else 0.0
    rss = w.memory.get("rss_mib_mean", 0.0)
    side.rss_mib_per_camera = round(rss / n, 2)
    side.pss_mib_per_camera = round(w.memory.get("pss_mib_mean", 0.0) / n, 2)
    if base_rss_mib is not None:
        side.rss_mib_per_camera_marginal = round((rss - base_rss_mib) / n, 2)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> list[int | None]:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in procs]


# -- surveil --------------------------------------------------------------


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string for these values


def write_config(path: Path, data_dir: Path, port: int, url: str, n: int, p: Params) -> None:
    lines = [
        f"data_dir = {_toml_str(str(data_dir))}",
        'log_level = "INFO"',
        "",
        "[web]",
        f'listen = "127.0.0.1:{port}"',
        "",
        "[recording]",
        f"segment_seconds = {p.segment_seconds}",
        "",
    ]
    for i in range(n):
        lines += ["[[cameras]]", f'name = "cam{i:03d}"', f"url = {_toml_str(url)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def api_get(base: str, path: str, token: str | None, timeout_s: float = 10.0) -> Any:
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read())


def create_token(cfg: Path, log: Path) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "surveil", "token", "create", "--config", str(cfg),
         "--name", "bench", "--role", "admin"],
        capture_output=True, text=True, cwd=str(Path(__file__).resolve().parent.parent),
    )  # fmt: skip
    log.write_text(res.stdout + res.stderr, encoding="utf-8")
    if res.returncode != 0 or not res.stdout.strip():
        raise RuntimeError(f"token create failed ({res.returncode}): {res.stderr[-2000:]}")
    return res.stdout.strip().splitlines()[-1]


# A script run instead of `-m surveil` for `serve` (same arguments): A/B-test a patch.
LAUNCHER: list[str] = ["-m", "surveil"]


def start_service(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen(
            [sys.executable, *LAUNCHER, "serve", "--config", str(cfg)],
            stdin=subprocess.DEVNULL, stdout=f, stderr=f,
            cwd=str(Path(__file__).resolve().parent.parent),
        )  # fmt: skip


def wait_healthy(proc: subprocess.Popen[bytes], base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"surveil exited with {proc.returncode} during startup")
        try:
            api_get(base, "/api/v1/health", None, timeout_s=2.0)
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.2)
    raise RuntimeError("surveil did not answer /api/v1/health in time")


def baseline_rss_mib(root: Path) -> float:
    """VmRSS of `surveil serve` with no cameras, once it is serving."""
    root.mkdir(parents=True)
    cfg = root / "surveil.toml"
    port = free_port()
    cfg.write_text(
        f'data_dir = {_toml_str(str(root / "data"))}\n[web]\nlisten = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    proc = start_service(cfg, root / "surveil.log")
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}", 60)
        time.sleep(2.0)
        mem = MemorySampler([proc.pid])
        for _ in range(3):
            mem.sample()
            time.sleep(0.3)
        return mem.summary()["rss_mib_mean"]
    finally:
        stop_processes([proc], 30)


def run_surveil(
    root: Path, n: int, url: str, p: Params, camera: RtspCamera, base_rss_mib: float | None
) -> SideResult:
    side = SideResult("surveil", n)
    root.mkdir(parents=True)
    data_dir = root / "data"
    cfg = root / "surveil.toml"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(cfg, data_dir, port, url, n, p)
    token = create_token(cfg, root / "token.log")
    t_start = time.monotonic()
    proc = start_service(cfg, root / "surveil.log")
    try:
        wait_healthy(proc, base, 60)
        side.started = True
        deadline = time.monotonic() + 60 + n * 0.5
        states: collections.Counter[str] = collections.Counter()
        while time.monotonic() < deadline:
            cams = api_get(base, "/api/v1/cameras", token)["cameras"]
            states = collections.Counter(c["state"] for c in cams)
            if states.get("recording", 0) == n:
                side.all_recording = True
                break
            if proc.poll() is not None:
                raise RuntimeError(f"surveil exited with {proc.returncode}")
            time.sleep(0.5)
        side.startup_s = round(time.monotonic() - t_start, 2)
        if not side.all_recording:
            side.interruptions.append(f"not all cameras recording after startup: {dict(states)}")
        time.sleep(p.warmup_s)
        before = {
            c["name"]: c["frames"] for c in api_get(base, "/api/v1/cameras", token)["cameras"]
        }
        t0 = time.monotonic()
        side.window = measure([proc.pid], p.seconds, camera.pid, tree=True, main_pid=proc.pid)
        cams = api_get(base, "/api/v1/cameras", token)["cameras"]
        elapsed = time.monotonic() - t0
        fps = [(c["frames"] - before.get(c["name"], 0)) / elapsed for c in cams]
        side.window_fps_min = round(min(fps), 2) if fps else None
        side.window_fps_median = round(statistics.median(fps), 2) if fps else None
        not_recording = [c["name"] for c in cams if c["state"] != "recording"]
        if not_recording:
            side.interruptions.append(f"not recording at window end: {not_recording[:10]}")
        p50 = [c["freshness_p50_s"] for c in cams if c["freshness_p50_s"] is not None]
        p99 = [c["freshness_p99_s"] for c in cams if c["freshness_p99_s"] is not None]
        if p50:
            side.freshness_p50_s_median = round(statistics.median(p50), 3)
        if p99:
            side.freshness_p99_s_max = round(max(p99), 3)
            side.freshness_p99_s_median = round(statistics.median(p99), 3)
        if len(p99) < n:
            side.notes.append(f"freshness reported by {len(p99)} of {n} cameras")
        if p.profile_s > 0 and proc.poll() is None:
            side.profile = profile(proc.pid, p.profile_s, root)
    finally:
        side.exit_codes = stop_processes([proc], 60 + n * 0.5)
    if side.exit_codes == [-signal.SIGTERM]:
        side.notes.append(
            "surveil was killed by SIGTERM instead of shutting down (its handler is installed "
            "only once startup is complete): open runs and segments are left to recovery"
        )
    elif side.exit_codes == [-signal.SIGKILL]:
        side.notes.append("surveil did not stop in time after SIGTERM and was killed")
    finish_costs(side, n, p, base_rss_mib)
    check_index(side, data_dir, n, p)
    return side


async def _read_index(
    url: str,
) -> tuple[dict[str, list[RunRecord]], list[SegmentRecord]]:
    db = await Database.open(url)
    try:
        async with db.read() as s:
            cams = await list_cameras(s)
            runs = {c.name: await runs_for_camera(s, c.id) for c in cams}
            segs = await all_segments(s)
    finally:
        await db.close()
    return runs, segs


def check_index(side: SideResult, data_dir: Path, n: int, p: Params) -> None:
    """After shutdown: one run per camera, ended on request, with sealed segments that tile."""
    db_path = data_dir / "index.sqlite3"
    if not db_path.exists():
        side.interruptions.append("no index database")
        return
    runs, segs = asyncio.run(_read_index(f"sqlite+aiosqlite:///{db_path}"))
    by_cam: dict[str, list[SegmentRecord]] = collections.defaultdict(list)
    for seg in segs:
        by_cam[seg.camera].append(seg)
    counts: dict[str, MediaCount] = {}
    for name in sorted(runs):
        cam_runs = runs[name]
        if len(cam_runs) != 1:
            side.interruptions.append(f"{name}: {len(cam_runs)} runs (reconnects)")
        for r in cam_runs:
            if r.end_reason != STOP_REASON:
                side.interruptions.append(f"{name}: run {r.id} ended with {r.end_reason!r}")
        cam_segs = sorted(by_cam.get(name, []), key=lambda s: (s.run_id, s.sequence))
        for a, b in itertools.pairwise(cam_segs):
            if a.run_id == b.run_id and a.end_us != b.start_us:
                side.interruptions.append(
                    f"{name}: segments {a.sequence}->{b.sequence} do not tile "
                    f"({b.start_us - a.end_us} us apart)"
                )
        unsealed = [s.sequence for s in cam_segs if s.state != "sealed"]
        if unsealed:
            side.interruptions.append(f"{name}: segments not sealed: {unsealed}")
        counts[name] = count_media(
            [data_dir / s.path for s in cam_segs], p.fps, [s.start_us / 1e6 for s in cam_segs]
        )
    if len(runs) != n:
        side.interruptions.append(f"index knows {len(runs)} cameras, expected {n}")
    summarize_media(side, counts)


# -- profiling ------------------------------------------------------------


def profile(pid: int, seconds: float, root: Path) -> dict[str, Any]:
    """Where surveil's CPU goes: perf (on-CPU, native and kernel) and py-spy (GIL holder)."""
    out: dict[str, Any] = {"seconds": seconds}
    if shutil.which("perf"):
        out["perf"] = perf_profile(pid, seconds, root)
    else:
        out["perf"] = {"error": "perf not installed"}
    spy = shutil.which("py-spy")
    if spy is None:
        out["gil"] = {"error": "py-spy not installed (pip install py-spy)"}
        return out
    rate = 100
    raw = root / "profile-gil.txt"
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--gil",
           "--rate", str(rate), "--format", "raw", "--output", str(raw)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not raw.exists():
        out["gil"] = {"error": (res.stderr or res.stdout)[-1000:]}
        return out
    stacks = parse_raw(raw)
    total = sum(stacks.values())
    # With --gil only the GIL holder is sampled, so samples / possible = GIL busy share.
    entry: dict[str, Any] = {
        "samples": total,
        "file": str(raw),
        "gil_busy_share": round(total / (rate * seconds), 3),
    }
    entry.update(top_functions(stacks, total))
    out["gil"] = entry
    return out


def perf_profile(pid: int, seconds: float, root: Path) -> dict[str, Any]:
    data = root / "perf.data"
    rec = subprocess.run(
        ["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-p", str(pid),
         "-o", str(data), "--", "sleep", str(seconds)],
        capture_output=True, text=True,
    )  # fmt: skip
    if rec.returncode != 0 or not data.exists():
        return {"error": (rec.stderr or rec.stdout)[-1000:]}
    out: dict[str, Any] = {"file": str(data)}
    for key, sort in (("by_library", "dso"), ("top_symbols", "dso,sym")):
        rep = subprocess.run(
            ["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
             "--sort", sort, "--percent-limit", "0.3"],
            capture_output=True, text=True,
        )  # fmt: skip
        rows: list[tuple[float, str]] = []
        for line in rep.stdout.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "%" not in line.split()[0]:
                continue
            pct, _, rest = line.partition("%")
            try:
                rows.append((float(pct), " ".join(rest.split())))
            except ValueError:
                continue
        out[key] = rows[:25]
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "tid,ip,sym,dso"],
        capture_output=True, text=True,
    )  # fmt: skip
    out["by_activity"] = perf_activity(script.stdout)
    return out


def perf_activity(script: str) -> list[tuple[float, str]]:
    """Share of on-CPU samples per syscall (from the kernel stack) or per user-space library."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for sample in script.split("\n\n"):
        frames = [ln.strip() for ln in sample.strip().splitlines()[1:]]
        if not frames:
            continue
        total += 1
        syscall = next((f for f in reversed(frames) if "__x64_sys_" in f), None)
        if syscall is not None:
            name = syscall.split("__x64_sys_", 1)[1].split()[0]
            counts[f"syscall {name}"] += 1
        elif "[kernel" in frames[0]:
            counts["kernel, no syscall (interrupts, page faults, scheduler)"] += 1
        else:
            dso = frames[0].rpartition("(")[2].rstrip(")")
            counts[f"user {Path(dso).name}"] += 1
    return [(round(100.0 * c / total, 1), k) for k, c in counts.most_common(15)] if total else []


def parse_raw(path: Path) -> dict[tuple[str, ...], int]:
    stacks: dict[tuple[str, ...], int] = collections.Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def _function(frame: str) -> str:
    # "name (path/file.py:123)" → "name (file.py)": lines would split one function in many.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    parts = where.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else where
    return f"{name} ({short})" if where else name


def top_functions(stacks: dict[tuple[str, ...], int], total: int, k: int = 12) -> dict[str, Any]:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for stack, count in stacks.items():
        frames = [f for f in stack if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        own[_function(frames[-1])] += count
        for fn in {_function(f) for f in frames}:
            incl[fn] += count
    pct = 100.0 / total if total else 0.0
    return {
        "top_self": [(fn, round(c * pct, 1)) for fn, c in own.most_common(k)],
        "top_inclusive": [(fn, round(c * pct, 1)) for fn, c in incl.most_common(k + 10)],
    }


# -- ffmpeg ---------------------------------------------------------------


def ffmpeg_command(url: str, out_dir: Path, p: Params) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
        "-c", "copy", "-f", "segment", "-segment_time", f"{p.segment_seconds:g}",
        "-segment_format", "mp4", str(out_dir / "out%05d.mp4"),
    ]  # fmt: skip


def run_ffmpeg(root: Path, n: int, url: str, p: Params, camera: RtspCamera) -> SideResult:
    side = SideResult("ffmpeg", n)
    root.mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []
    dirs = [root / f"cam{i:03d}" for i in range(n)]
    t_start = time.monotonic()
    try:
        for d in dirs:
            d.mkdir()
            with open(d / "ffmpeg.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        ffmpeg_command(url, d, p),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        side.started = True
        # Recording has begun once a first output file has data in it.
        deadline = time.monotonic() + 60 + n * 0.5
        pending = set(range(n))
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                first = dirs[i] / "out00000.mp4"
                if first.exists() and first.stat().st_size > 0:
                    pending.discard(i)
            time.sleep(0.2)
        side.all_recording = not pending
        side.startup_s = round(time.monotonic() - t_start, 2)
        if pending:
            side.interruptions.append(f"{len(pending)} ffmpeg processes wrote nothing")
        time.sleep(p.warmup_s)
        side.window = measure(
            [pr.pid for pr in procs], p.seconds, camera.pid, tree=False, main_pid=None
        )
        for i, pr in enumerate(procs):
            if pr.poll() is not None:
                side.interruptions.append(f"cam{i:03d}: ffmpeg exited early ({pr.returncode})")
    finally:
        side.exit_codes = stop_processes(procs, 60 + n * 0.2)
    finish_costs(side, n, p, None)
    counts = {d.name: count_media(sorted(d.glob("out*.mp4")), p.fps) for d in dirs}
    summarize_media(side, counts)
    return side


# -- reporting ------------------------------------------------------------


def verdict(s: SideResult, p: Params) -> dict[str, Any]:
    w = s.window
    wall = w.wall_s or 1.0
    keeps_up = s.window_fps_min is None or s.window_fps_min >= KEEP_UP * p.fps
    sustained = s.all_recording and not s.interruptions and s.lost_frames == 0 and keeps_up
    reasons = []
    # The machine may be shared, so other load alone does not count as saturation.
    own = (w.cpu_s + w.camera_server_cpu_s) / wall
    if own >= SATURATED_SHARE * CORES:
        reasons.append(f"recorder + camera use {own:.2f} of {CORES} cores")
    if w.main_thread_cpu_s is not None and w.main_thread_cpu_s / wall >= SATURATED_THREAD:
        reasons.append(f"event-loop thread at {w.main_thread_cpu_s / wall:.0%} of a core")
    p99 = s.freshness_p99_s_max
    fresh = None if s.name != "surveil" else p99 is not None and p99 <= FRESHNESS_P99_TARGET_S
    return {"sustained": sustained, "keeps_up": keeps_up, "fresh": fresh, "saturated": reasons}


def _fmt(v: object, spec: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and spec:
        return format(v, spec)
    return str(v)


def _cores(cpu_s: float | None, w: Window) -> float | None:
    return None if cpu_s is None else cpu_s / (w.wall_s or 1.0)


# (label, value getter, format, print a surveil/ffmpeg ratio, surveil only)
Getter = Callable[[SideResult], float | int | None]
TABLE: list[tuple[str, Getter, str, bool]] = [
    ("startup s (until all cameras record)", lambda s: s.startup_s, ".1f", False),
    ("CPU s per camera-minute", lambda s: s.cpu_s_per_camera_minute, ".3f", True),
    ("CPU cores used (window)", lambda s: _cores(s.window.cpu_s, s.window), ".2f", True),
    ("RSS MiB total (mean)", lambda s: s.window.memory.get("rss_mib_mean"), ".1f", True),
    ("RSS MiB per camera", lambda s: s.rss_mib_per_camera, ".2f", True),
    (
        "RSS MiB per camera (minus 0-cam base)",
        lambda s: (
            s.rss_mib_per_camera_marginal
            if s.rss_mib_per_camera_marginal is not None
            else s.rss_mib_per_camera
        ),
        ".2f",
        True,
    ),
    ("PSS MiB per camera", lambda s: s.pss_mib_per_camera, ".2f", True),
    ("frames per camera (median)", lambda s: s.frames_median, "", False),
    ("recorded span s (median)", lambda s: s.span_s_median, "", False),
    ("lost frames (all cameras)", lambda s: s.lost_frames, "", False),
    ("cameras with loss", lambda s: s.cameras_with_loss, "", False),
    ("interruptions", lambda s: len(s.interruptions), "", False),
    ("window fps per camera (min)", lambda s: s.window_fps_min, ".2f", False),
    ("freshness p50 s (median cam)", lambda s: s.freshness_p50_s_median, ".3f", False),
    ("freshness p99 s (max cam)", lambda s: s.freshness_p99_s_max, ".3f", False),
    ("machine CPU busy (window)", lambda s: s.window.system_busy, ".2f", False),
    (
        "camera server cores (not counted)",
        lambda s: _cores(s.window.camera_server_cpu_s, s.window),
        ".2f",
        False,
    ),
    (
        "surveil event-loop thread cores",
        lambda s: _cores(s.window.main_thread_cpu_s, s.window),
        ".2f",
        False,
    ),
    (
        "surveil busiest other thread cores",
        lambda s: _cores(s.window.busiest_other_thread_cpu_s, s.window),
        ".2f",
        False,
    ),
]


def print_point(n: int, sv: SideResult, ff: SideResult | None, p: Params) -> None:
    print(f"\n=== N = {n} cameras, window {p.seconds:g} s ===")
    rows: list[tuple[str, str, str, str]] = []
    for label, get, spec, with_ratio in TABLE:
        a = get(sv)
        b = get(ff) if ff else None
        r = f"{a / b:.2f}" if with_ratio and a is not None and b else ""
        rows.append((label, _fmt(a, spec), _fmt(b, spec) if ff else "", r))
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'surveil':>10}  {'ffmpeg' if ff else '':>10}  {'ratio' if ff else ''}")
    for label, a_s, b_s, r in rows:
        print(f"{label:{width}}  {a_s:>10}  {b_s:>10}  {r}")
    for side in (sv, ff):
        if side is None:
            continue
        for msg in side.interruptions[:10]:
            print(f"  {side.name} interruption: {msg}")
        if len(side.interruptions) > 10:
            print(f"  {side.name}: ... {len(side.interruptions) - 10} more interruptions")
        for note in side.notes:
            print(f"  {side.name} note: {note}")
    groups = sv.window.cpu_s_by_thread_group
    if groups:
        wall = sv.window.wall_s or 1.0
        parts = ", ".join(f"{g} {v / wall:.3f}" for g, v in groups.items())
        print(f"surveil cores by thread group: {parts}")
    v = verdict(sv, p)
    print(
        f"surveil verdict: sustained={v['sustained']} "
        f"freshness p99 <= {FRESHNESS_P99_TARGET_S:g} s: {v['fresh']} "
        f"saturated={v['saturated'] or 'no'}"
    )
    if sv.profile:
        print_profile(sv.profile)


def print_profile(prof: dict[str, Any]) -> None:
    perf = prof.get("perf") or {}
    if "error" in perf:
        print(f"perf: {perf['error']}")
    elif perf:
        print(f"\nperf on-CPU profile (cpu-clock, 499 Hz), {perf['file']}")
        print("  by activity (% of on-CPU samples; futex = GIL and lock hand-offs):")
        for pct, what in perf["by_activity"][:12]:
            print(f"    {pct:5.1f}  {what}")
        print("  by library (% of on-CPU samples):")
        for pct, what in perf["by_library"][:10]:
            print(f"    {pct:5.1f}  {what}")
        print("  top symbols (self):")
        for pct, what in perf["top_symbols"][:15]:
            print(f"    {pct:5.1f}  {what}")
    gil = prof.get("gil") or {}
    if "error" in gil:
        print(f"py-spy: {gil['error']}")
    elif gil:
        print(
            f"\npy-spy --gil: GIL held {gil['gil_busy_share']:.0%} of the time "
            f"({gil['samples']} samples; {gil['file']})"
        )
        print("  top self (% of GIL-holding samples):")
        for fn, pct in gil["top_self"][:10]:
            print(f"    {pct:5.1f}  {fn}")
        print("  top inclusive (% of GIL-holding samples):")
        for fn, pct in gil["top_inclusive"][:15]:
            print(f"    {pct:5.1f}  {fn}")


# -- main -----------------------------------------------------------------


def run_point(
    n: int, url: str, p: Params, camera: RtspCamera, work: Path, base: float | None, ffmpeg: bool
) -> dict[str, Any]:
    point = work / f"n{n}"
    print(f"\n--- N={n}: surveil ...", flush=True)
    sv = run_surveil(point / "surveil", n, url, p, camera, base)
    ff = None
    if ffmpeg:
        print(f"--- N={n}: ffmpeg ...", flush=True)
        ff = run_ffmpeg(point / "ffmpeg", n, url, p, camera)
    print_point(n, sv, ff, p)
    ratios = {}
    if ff:
        for key in ("cpu_s_per_camera_minute", "rss_mib_per_camera", "pss_mib_per_camera"):
            b = getattr(ff, key)
            ratios[key] = round(getattr(sv, key) / b, 3) if b else None
    return {
        "cameras": n,
        "surveil": asdict(sv),
        "ffmpeg": asdict(ff) if ff else None,
        "ratios_surveil_over_ffmpeg": ratios,
        "verdict": verdict(sv, p),
        "ffmpeg_verdict": verdict(ff, p) if ff else None,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cameras", type=int, default=20, help="cameras N (default 20)")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window D (default 60)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds after all record (5)")
    ap.add_argument("--sweep", action="store_true", help="grow N until loss or saturation")
    ap.add_argument(
        "--sweep-counts",
        default=",".join(map(str, SWEEP_COUNTS)),
        help="camera counts for --sweep (default %(default)s)",
    )
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=None, help="keyframe interval, frames (fps)")
    ap.add_argument("--bitrate", type=int, default=1000, help="video kbit/s (default 1000)")
    ap.add_argument("--segment-seconds", type=float, default=60.0)
    ap.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="S",
        help="after the window, profile surveil with perf and py-spy for S seconds each",
    )
    ap.add_argument("--skip-ffmpeg", action="store_true", help="measure surveil only")
    ap.add_argument(
        "--surveil-launcher",
        type=Path,
        metavar="SCRIPT",
        help="run `python3 SCRIPT serve --config ...` instead of `python3 -m surveil serve` "
        "(to measure a patched recorder)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not gst_available():
        print("GstRtspServer bindings for /usr/bin/python3 are missing", file=sys.stderr)
        return 2
    if not args.skip_ffmpeg and shutil.which("ffmpeg") is None:
        print("ffmpeg not found; use --skip-ffmpeg", file=sys.stderr)
        return 2
    p = Params(
        cameras=args.cameras,
        seconds=args.seconds,
        warmup_s=args.warmup,
        width=args.width,
        height=args.height,
        fps=args.fps,
        gop=args.gop or args.fps,
        bitrate_kbps=args.bitrate,
        segment_seconds=args.segment_seconds,
        profile_s=args.profile,
    )
    if args.surveil_launcher is not None:
        LAUNCHER[:] = [str(args.surveil_launcher.resolve())]
    counts = [int(x) for x in args.sweep_counts.split(",")] if args.sweep else [args.cameras]
    machine = machine_info()
    print("machine:")
    for k, v in machine.items():
        print(f"  {k}: {v}")
    print("parameters:")
    for k, v in asdict(p).items():
        print(f"  {k}: {v}")
    print(f"  camera counts: {counts}")
    print("  stream: H.264 constrained-baseline (x264 ultrafast, zerolatency) + AAC 16 kHz mono,")
    print("          one shared GstRtspServer mount, RTSP over TCP; camera CPU not counted")
    print(f"  ffmpeg side: {' '.join(ffmpeg_command('URL', Path('DIR'), p))}")
    launcher = " ".join(LAUNCHER)
    print(f"  surveil side: python3 {launcher} serve (SQLite index, fsync=fragment, defaults)")
    print(f"  {LOSS_DEFINITION}")

    work = Path(tempfile.mkdtemp(prefix="surveil-bench-ingest-"))
    print(f"  work dir: {work}", flush=True)
    camera = RtspCamera(
        log_dir=work / "camera", width=p.width, height=p.height, fps=p.fps, gop=p.gop,
        bitrate=p.bitrate_kbps, video="h264", audio="aac", shared=True, name="bench",
    )  # fmt: skip
    points: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "machine": machine,
        "parameters": asdict(p)
        | {"camera_counts": counts, "sweep": args.sweep, "surveil_launcher": LAUNCHER},
        "loss_definition": LOSS_DEFINITION,
        "points": points,
    }
    try:
        camera.start()
        base = baseline_rss_mib(work / "baseline")
        result["surveil_rss_mib_0_cameras"] = base
        print(f"  surveil RSS with 0 cameras: {base:.1f} MiB", flush=True)
        for n in counts:
            point = run_point(n, camera.url, p, camera, work, base, not args.skip_ffmpeg)
            points.append(point)
            v = point["verdict"]
            if args.sweep and (not v["sustained"] or v["saturated"]):
                break
    finally:
        camera.stop()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.sweep:
        ok = [pt["cameras"] for pt in points if pt["verdict"]["sustained"]]
        result["largest_sustained_n"] = max(ok) if ok else None
        fresh = [
            pt["cameras"] for pt in points if pt["verdict"]["sustained"] and pt["verdict"]["fresh"]
        ]
        result["largest_sustained_fresh_n"] = max(fresh) if fresh else None
        last = points[-1] if points else None
        stop = None
        if last is not None and (not last["verdict"]["sustained"] or last["verdict"]["saturated"]):
            stop = {"cameras": last["cameras"], **last["verdict"]}
        result["sweep_stopped_at"] = stop
        print(f"\nsweep: largest N sustained with zero loss: {result['largest_sustained_n']}")
        print(
            "sweep: largest N sustained with freshness p99 <= "
            f"{FRESHNESS_P99_TARGET_S:g} s: {result['largest_sustained_fresh_n']}"
        )
        print(f"sweep: stopped at {stop}" if stop else "sweep: every count passed")
    result["loadavg_at_end"] = os.getloadavg()
    path = write_result("ingest-sweep" if args.sweep else "ingest", result)
    print(f"\nresult: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
