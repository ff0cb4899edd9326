"""Playable-lag benchmark: how soon after capture footage can be played (issue 8 item 2).

Run from the repository root:  python3 bench/playable.py [--cameras 1] [--seconds 120]
                               python3 bench/playable.py --seconds 20 --segment-seconds 10

One real test camera and the real service (`python3 -m surveil serve`, defaults, so
fsync = "fragment"). Every --interval seconds (at a random point of each slot, so samples
do not lock to the 1 s fragment cadence) it asks the API, per camera, for the clip of the
last --window seconds (HEAD /api/v1/clips/{camera}.mp4) and for the segments of that window
(GET /api/v1/recordings). Lag = the moment the answer arrived - the end of what is
playable: the clip's end (X-Clip-Start-Us + X-Clip-Duration-Us, which includes the durable
fragments of the open segment) against, as the baseline measured from the same answers'
service, the end of the last sealed/recovered segment (all that was playable before).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info, percentile, write_result
from bench.ingest import api_get, create_token, start_service, stop_processes, wait_healthy
from surveil.timefmt import iso_from_us
from tests.cameras import RtspCamera, free_port, gst_available

TARGET_P95_S = 2.0  # issue 8 item 2: any footage playable <= 2 s after capture
PLAYABLE_SEALED = ("sealed", "recovered")  # what was playable before open segments were
US = 1_000_000

LAG_DEFINITION = (
    "lag = t - end, t = wall time when the API's answer arrived (so the request's own time "
    "counts against the service), end = wall time of the end of the playable footage on "
    "surveil's timeline (first packet's arrival + RTP media time; the camera's own "
    "capture-to-arrival latency on loopback is not included). new: end of "
    "GET /api/v1/clips/{camera}.mp4 over [max(first segment start, t - window), t) = "
    "X-Clip-Start-Us + X-Clip-Duration-Us (sealed segments and the open segment's durable "
    "fragments). sealed (baseline): end_us of the last sealed/recovered segment from "
    "GET /api/v1/recordings over the same window; before the first seal, the start of the "
    "first segment (nothing playable yet)."
)


@dataclass(frozen=True)
class Params:
    cameras: int
    seconds: float
    interval_s: float
    window_s: float
    segment_seconds: float
    fsync_interval_s: float | None  # None: the service's default (1 s)
    width: int
    height: int
    fps: int
    gop: int
    bitrate_kbps: int
    seed: int


@dataclass
class Sample:
    camera: str
    slot: int
    clip_t_us: int
    clip_ms: float
    clip_end_us: int | None  # None: no clip (status in clip_status)
    clip_status: int
    rec_t_us: int
    rec_ms: float
    sealed_end_us: int | None  # None: nothing sealed yet in the window
    newest_end_us: int | None  # end_us of the newest segment row, open or sealed
    open_start_us: int | None  # start_us of the open segment, if the window has one
    lag_new_s: float | None = None
    lag_sealed_s: float | None = None
    lag_index_s: float | None = None


@dataclass
class Summary:
    n: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    min_s: float | None
    mean_s: float | None


@dataclass
class RunInfo:
    started: bool = False
    startup_s: float = 0.0
    first_start_us: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    states_at_end: dict[str, str] = field(default_factory=dict)
    frames_at_end: dict[str, int] = field(default_factory=dict)
    # The service's own per-frame figure (packet arrival -> committed index row), last 5000
    # video frames: a cross-check of the clip lag without the request and the sampling.
    freshness_p50_s: dict[str, float | None] = field(default_factory=dict)
    freshness_p99_s: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- service --------------------------------------------------------------


def write_config(path: Path, data_dir: Path, port: int, url: str, p: Params) -> None:
    lines = [
        f"data_dir = {json.dumps(str(data_dir))}",  # a JSON string is a TOML basic string
        'log_level = "INFO"',
        "",
        "[web]",
        f'listen = "127.0.0.1:{port}"',
        "",
        "[recording]",
        f"segment_seconds = {p.segment_seconds}",
        *([] if p.fsync_interval_s is None else [f"fsync_interval_seconds = {p.fsync_interval_s}"]),
        "",
    ]
    for i in range(p.cameras):
        lines += ["[[cameras]]", f'name = "cam{i:03d}"', f"url = {json.dumps(url)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def now_us() -> int:
    return time.time_ns() // 1000


def _query(camera: str, start_us: int, end_us: int, with_camera: bool) -> str:
    q = {"start": iso_from_us(start_us), "end": iso_from_us(end_us)}
    if with_camera:
        q = {"camera": camera, **q}
    return urllib.parse.urlencode(q)  # '+' of the UTC offset goes as %2B


def head_clip(
    base: str, token: str, camera: str, start_us: int, end_us: int
) -> tuple[int, int, int]:
    """(HTTP status, X-Clip-Start-Us, X-Clip-Duration-Us) of HEAD of a camera's clip."""
    query = _query(camera, start_us, end_us, False)
    req = urllib.request.Request(
        f"{base}/api/v1/clips/{urllib.parse.quote(camera)}.mp4?{query}", method="HEAD"
    )
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10.0) as resp:
            h = resp.headers
            return resp.status, int(h["X-Clip-Start-Us"]), int(h["X-Clip-Duration-Us"])
    except urllib.error.HTTPError as e:
        return e.code, 0, 0


def recordings(
    base: str, token: str, camera: str, start_us: int, end_us: int
) -> list[dict[str, Any]]:
    data = api_get(base, f"/api/v1/recordings?{_query(camera, start_us, end_us, True)}", token)
    segments: list[dict[str, Any]] = data["segments"]
    return segments


def wait_first_clip(base: str, token: str, camera: str, timeout_s: float) -> int:
    """Start (µs) of the camera's first clip, once one is playable."""
    deadline = time.monotonic() + timeout_s
    since = now_us() - 3600 * US
    while time.monotonic() < deadline:
        status, start, _ = head_clip(base, token, camera, since, now_us())
        if status == 200:
            return start
        time.sleep(0.1)
    raise RuntimeError(f"{camera}: no playable clip within {timeout_s:g} s")


# -- measuring ------------------------------------------------------------


def sample(base: str, token: str, camera: str, slot: int, first_us: int, p: Params) -> Sample:
    t_ask = now_us()
    start_us = max(first_us, t_ask - int(p.window_s * US))
    status, clip_start, clip_duration = head_clip(base, token, camera, start_us, t_ask)
    end = clip_start + clip_duration
    clip_t = now_us()
    segs = recordings(base, token, camera, start_us, t_ask)
    rec_t = now_us()
    sealed = [s["end_us"] for s in segs if s["state"] in PLAYABLE_SEALED]
    s = Sample(
        camera=camera,
        slot=slot,
        clip_t_us=clip_t,
        clip_ms=round((clip_t - t_ask) / 1000, 2),
        clip_end_us=end if status == 200 else None,
        clip_status=status,
        rec_t_us=rec_t,
        rec_ms=round((rec_t - clip_t) / 1000, 2),
        sealed_end_us=max(sealed) if sealed else None,
        newest_end_us=max((x["end_us"] for x in segs), default=None),
        open_start_us=max((x["start_us"] for x in segs if x["state"] == "open"), default=None),
    )
    if s.clip_end_us is not None:
        s.lag_new_s = round((clip_t - s.clip_end_us) / US, 4)
    s.lag_sealed_s = round((rec_t - (s.sealed_end_us or first_us)) / US, 4)
    if s.newest_end_us is not None:
        s.lag_index_s = round((rec_t - s.newest_end_us) / US, 4)
    return s


def measure(base: str, token: str, info: RunInfo, p: Params) -> list[Sample]:
    """Sample every camera once per --interval slot, at a random point of the slot."""
    rng = random.Random(p.seed)
    out: list[Sample] = []
    slots = max(1, round(p.seconds / p.interval_s))
    t0 = time.monotonic()
    for k in range(slots):
        at = t0 + (k + rng.random()) * p.interval_s
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for cam, first in info.first_start_us.items():
            out.append(sample(base, token, cam, k, first, p))
    late = time.monotonic() - (t0 + slots * p.interval_s)
    if late > p.interval_s:
        info.notes.append(f"sampling ran {late:.1f} s over: requests slower than --interval")
    return out


def run(root: Path, url: str, p: Params) -> tuple[RunInfo, list[Sample]]:
    info = RunInfo()
    root.mkdir(parents=True)
    data_dir = root / "data"
    cfg = root / "surveil.toml"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(cfg, data_dir, port, url, p)
    token = create_token(cfg, root / "token.log")
    t_start = time.monotonic()
    proc = start_service(cfg, root / "surveil.log")
    samples: list[Sample] = []
    try:
        wait_healthy(proc, base, 60)
        info.started = True
        deadline = time.monotonic() + 60 + p.cameras * 0.5
        while True:
            cams = api_get(base, "/api/v1/cameras", token)["cameras"]
            states = collections.Counter(c["state"] for c in cams)
            if states.get("recording", 0) == p.cameras:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"surveil exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all cameras recording: {dict(states)}")
            time.sleep(0.2)
        for i in range(p.cameras):
            name = f"cam{i:03d}"
            info.first_start_us[name] = wait_first_clip(base, token, name, 30.0)
        info.startup_s = round(time.monotonic() - t_start, 2)
        print(f"  all cameras playable after {info.startup_s:.1f} s; sampling ...", flush=True)
        samples = measure(base, token, info, p)
        for c in api_get(base, "/api/v1/cameras", token)["cameras"]:
            info.states_at_end[c["name"]] = c["state"]
            info.frames_at_end[c["name"]] = c["frames"]
            info.freshness_p50_s[c["name"]] = c["freshness_p50_s"]
            info.freshness_p99_s[c["name"]] = c["freshness_p99_s"]
    finally:
        info.exit_code = stop_processes([proc], 60 + p.cameras * 0.5)[0]
    not_recording = [c for c, s in info.states_at_end.items() if s != "recording"]
    if not_recording:
        info.notes.append(f"not recording at the end: {not_recording}")
    return info, samples


# -- reporting ------------------------------------------------------------


def summarize(values: list[float]) -> Summary:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return Summary(
        n=len(values),
        p50_s=r(percentile(values, 0.50)),
        p95_s=r(percentile(values, 0.95)),
        max_s=r(max(values)) if values else None,
        min_s=r(min(values)) if values else None,
        mean_s=r(statistics.fmean(values)) if values else None,
    )


def fragment_steps(samples: list[Sample]) -> list[float]:
    """Seconds between successive distinct clip ends of a camera: the fragment cadence."""
    steps: list[float] = []
    by_cam: dict[str, list[int]] = collections.defaultdict(list)
    for s in samples:
        if s.clip_end_us is not None:
            by_cam[s.camera].append(s.clip_end_us)
    for ends in by_cam.values():
        distinct = sorted(set(ends))
        steps += [(b - a) / US for a, b in itertools.pairwise(distinct)]
    return steps


def by_segment_position(samples: list[Sample], p: Params) -> tuple[Summary, Summary]:
    """Clip lag of the samples in the first and in the last fifth of the open segment."""
    early: list[float] = []
    late: list[float] = []
    fifth = p.segment_seconds / 5
    for s in samples:
        if s.lag_new_s is None or s.open_start_us is None:
            continue
        into = (s.clip_t_us - s.open_start_us) / US
        if into < fifth:
            early.append(s.lag_new_s)
        elif p.segment_seconds - fifth <= into < p.segment_seconds:
            late.append(s.lag_new_s)
    return summarize(early), summarize(late)


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def report(info: RunInfo, samples: list[Sample], p: Params) -> dict[str, Any]:
    new = [s.lag_new_s for s in samples if s.lag_new_s is not None]
    sealed = [s.lag_sealed_s for s in samples if s.lag_sealed_s is not None]
    index = [s.lag_index_s for s in samples if s.lag_index_s is not None]
    sums = {"new": summarize(new), "sealed": summarize(sealed), "index": summarize(index)}
    clip_ms = summarize([s.clip_ms / 1000 for s in samples])
    rec_ms = summarize([s.rec_ms / 1000 for s in samples])
    steps = fragment_steps(samples)
    step_median = round(statistics.median(steps), 3) if steps else None
    no_clip = collections.Counter(s.clip_status for s in samples if s.clip_end_us is None)
    # The recordings request follows the clip request: a fragment landing in between
    # puts the index ahead of the clip; anything more would mean the clip misses fragments.
    behind = [
        (s.newest_end_us - s.clip_end_us) / US
        for s in samples
        if s.clip_end_us is not None and s.newest_end_us is not None
    ]
    p95_new, p95_sealed = sums["new"].p95_s, sums["sealed"].p95_s
    ratio = round(p95_new / p95_sealed, 4) if p95_new is not None and p95_sealed else None
    meets = p95_new is not None and p95_new <= TARGET_P95_S and not no_clip

    print(f"\n=== playable lag, {p.cameras} camera(s), {len(samples)} samples ===")
    print(f"{'lag s':38}  {'p50':>7}  {'p95':>7}  {'max':>7}  {'min':>7}  {'mean':>7}")
    labels = {
        "new": "clip end (open segment's fragments)",
        "sealed": "last sealed segment (baseline)",
        "index": "newest index row (open or sealed)",
    }
    for key, label in labels.items():
        m = sums[key]
        print(
            f"{label:38}  {_fmt(m.p50_s):>7}  {_fmt(m.p95_s):>7}  {_fmt(m.max_s):>7}  "
            f"{_fmt(m.min_s):>7}  {_fmt(m.mean_s):>7}"
        )
    print(f"ratio p95 new / p95 sealed: {_fmt(ratio, '.4f')}")
    print(f"p95 new <= {TARGET_P95_S:g} s (issue 8 target): {meets}")
    if no_clip:
        print(f"samples without a clip (HTTP status: count): {dict(no_clip)}")
    print(
        f"request time ms p50/p95/max: clip HEAD {_fmt(_ms(clip_ms.p50_s), '.1f')}/"
        f"{_fmt(_ms(clip_ms.p95_s), '.1f')}/{_fmt(_ms(clip_ms.max_s), '.1f')}, recordings "
        f"{_fmt(_ms(rec_ms.p50_s), '.1f')}/{_fmt(_ms(rec_ms.p95_s), '.1f')}/"
        f"{_fmt(_ms(rec_ms.max_s), '.1f')}"
    )
    floor = sums["new"].min_s
    print(
        f"what bounds it: the clip grows one durable fragment at a time (median step "
        f"{_fmt(step_median)} s = fragment length, GOP {p.gop} at {p.fps} fps), so the lag "
        f"saws up from a floor of ~{_fmt(floor)} s (fsync + index commit + request, just "
        f"after a fragment lands) to fragment length + floor, + any delay of the fsync"
    )
    early, late = by_segment_position(samples, p)
    print(
        f"clip lag in the first / last fifth of a segment: mean {_fmt(early.mean_s)} / "
        f"{_fmt(late.mean_s)} s, max {_fmt(early.max_s)} / {_fmt(late.max_s)} s"
    )
    drift = None
    if step_median and late.mean_s is not None and early.mean_s is not None:
        drift = round(late.mean_s - early.mean_s, 3)
    # Each fifth must span several fragments and samples for its mean to say anything.
    enough = min(early.n, late.n) >= 20 and p.segment_seconds / 5 >= 5 * (step_median or 1)
    if drift is not None and step_median and enough and drift > 0.25 * step_median:
        print(
            "  the lag grows within a segment: the durable point falls behind the "
            "fragments (with fsync_interval_seconds >= fragment length each fsync waits "
            "for the first packet after the interval, so it slips a packet a fragment until "
            "it is a whole fragment behind or the seal resets it; try --fsync-interval 0.5)"
        )
    if behind:
        print(
            f"clip end behind the index's newest row: p50 {_fmt(percentile(behind, 0.5))} s, "
            f"max {_fmt(max(behind))} s (a fragment landing between the two requests)"
        )
    p50s = [v for v in info.freshness_p50_s.values() if v is not None]
    p99s = [v for v in info.freshness_p99_s.values() if v is not None]
    if p50s and p99s:
        print(
            f"service's own freshness (arrival -> committed row, per frame): p50 "
            f"{statistics.median(p50s):.3f} s (median camera), p99 {max(p99s):.3f} s (worst)"
        )
    print(
        f"service: startup {info.startup_s:.1f} s, exit code {info.exit_code}, "
        f"states at end {dict(collections.Counter(info.states_at_end.values()))}"
    )
    for note in info.notes:
        print(f"  note: {note}")
    return {
        "summaries_s": {k: asdict(v) for k, v in sums.items()},
        "ratio_p95_new_over_sealed": ratio,
        "meets_target_p95_le_2s": meets,
        "fragment_step_s_median": step_median,
        "samples_without_clip": dict(no_clip),
        "clip_request_s": asdict(clip_ms),
        "recordings_request_s": asdict(rec_ms),
        "clip_behind_index_s_max": round(max(behind), 3) if behind else None,
        "lag_new_growth_within_segment_s": drift,
        "lag_new_first_fifth_of_segment_s": asdict(early),
        "lag_new_last_fifth_of_segment_s": asdict(late),
    }


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


# -- main -----------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cameras", type=int, default=1, help="cameras on one shared mount (1)")
    ap.add_argument("--seconds", type=float, default=120.0, help="sampling time (default 120)")
    ap.add_argument("--interval", type=float, default=0.5, help="sample slot, s (default 0.5)")
    ap.add_argument(
        "--window", type=float, default=300.0, help="clip window, s before now (default 300)"
    )
    ap.add_argument("--segment-seconds", type=float, default=60.0)
    ap.add_argument(
        "--fsync-interval",
        type=float,
        default=None,
        metavar="S",
        help="set [recording] fsync_interval_seconds (default: the service's, 1 s)",
    )
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=None, help="keyframe interval, frames (fps)")
    ap.add_argument("--bitrate", type=int, default=1000, help="video kbit/s (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="sample-time jitter seed (1)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not gst_available():
        print("GstRtspServer bindings for /usr/bin/python3 are missing", file=sys.stderr)
        return 2
    p = Params(
        cameras=args.cameras,
        seconds=args.seconds,
        interval_s=args.interval,
        window_s=args.window,
        segment_seconds=args.segment_seconds,
        fsync_interval_s=args.fsync_interval,
        width=args.width,
        height=args.height,
        fps=args.fps,
        gop=args.gop or args.fps,
        bitrate_kbps=args.bitrate,
        seed=args.seed,
    )
    machine = machine_info()
    print("machine:")
    for k, v in machine.items():
        print(f"  {k}: {v}")
    print("parameters:")
    for k, v in asdict(p).items():
        print(f"  {k}: {v}")
    print("  stream: H.264 constrained-baseline (x264 ultrafast, zerolatency) + AAC 16 kHz mono,")
    print("          one shared GstRtspServer mount, RTSP over TCP on 127.0.0.1")
    interval = "default" if p.fsync_interval_s is None else f"{p.fsync_interval_s:g} s"
    print(
        "  surveil: python3 -m surveil serve (SQLite index, fsync=fragment, "
        f"fsync_interval_seconds {interval}, otherwise defaults)"
    )
    print(f"  {LAG_DEFINITION}")
    work = Path(tempfile.mkdtemp(prefix="surveil-bench-playable-"))
    print(f"  work dir: {work}", flush=True)
    camera = RtspCamera(
        log_dir=work / "camera", width=p.width, height=p.height, fps=p.fps, gop=p.gop,
        bitrate=p.bitrate_kbps, video="h264", audio="aac", shared=True, name="bench",
    )  # fmt: skip
    try:
        camera.start()
        info, samples = run(work / "surveil", camera.url, p)
    finally:
        camera.stop()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures = report(info, samples, p)
    result: dict[str, Any] = {
        "benchmark": "playable",
        "machine": machine,
        "parameters": asdict(p),
        "lag_definition": LAG_DEFINITION,
        "target_p95_s": TARGET_P95_S,
        **figures,
        "run": asdict(info),
        "samples": [asdict(s) for s in samples],
        "loadavg_at_end": os.getloadavg(),
    }
    path = write_result("playable", result)
    print(f"\nresult: {path}")
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main())
