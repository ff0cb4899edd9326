"""Export package build time against `cp` of the same segment files, and its peak RSS.

    python3 bench/export.py                     # 10-minute and 2-hour windows, one camera
    python3 bench/export.py --windows 60 600    # other window lengths (seconds)

One real 60 s segment at 1 Mbit/s (ffmpeg: H.264 640x360 25 fps GOP 25 + AAC, fragmented
like the recorder's) is hard-linked under as many segment names as the window needs, with
sealed rows and real leaves in a SQLite index (open_segment + update_segment, the seal's
path). The builder runs in a subprocess per window (so ru_maxrss is its own peak), with a
fresh checkpointer and key. Baselines, in the same run, each before and after the build
(the faster kept): `cp` of the same segment files into a directory (the issue's ratio);
`cp` of them twice, into two directories, which writes as many bytes as the package holds
(segments + clips); and `cp` + `sync -f` once, since the builder fsyncs its zip.

Wall time alone misleads on a shared machine (this one has 2 cores, other work on them and
steal from the host), so each build also reports its CPU seconds (all threads, user +
system) and the machine's steal and idle share while it ran; cp's CPU seconds likewise.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_info, write_result

SEG_S = 60
US = 1_000_000
T0_US = 1_700_000_000 * US


def make_segment(path: Path) -> None:
    """One 60 s fMP4 at 1 Mbit/s, cut and fragmented like the recorder writes."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SEG_S}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={SEG_S}",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
         "-b:v", "1000k", "-maxrate", "1000k", "-bufsize", "1000k", "-g", "25",
         "-c:a", "aac", "-b:a", "32k", "-ac", "1",
         "-movflags", "frag_keyframe+empty_moov+default_base_moof", str(path)],
        check=True,
    )  # fmt: skip


async def seed(data_dir: Path, segment: Path, count: int) -> list[Path]:
    """count sealed segments of one run of camera a01, each a hard link to segment."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from index import cameras, runs, segments
    from index.db import Database
    from index.records import SegmentRow
    from segmenter.paths import segment_path

    size = segment.stat().st_size
    digest = hashlib.sha256(segment.read_bytes()).hexdigest()
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    files = []
    try:

        async def add(s: AsyncSession) -> tuple[int, int]:
            cam = await cameras.ensure_camera(
                s, "a01", "rtsp://127.0.0.1/a01", ["A01"], True, T0_US
            )
            return cam.id, await runs.start_run(s, cam.id, T0_US, "connected")

        cam_id, run_id = await db.write(add)
        for seq in range(count):
            start = T0_US + seq * SEG_S * US
            rel = segment_path("a01", start, run_id, seq)
            (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(segment, data_dir / rel)
            files.append(data_dir / rel)
            opened = SegmentRow(
                camera_id=cam_id, run_id=run_id, sequence=seq, path=rel, start_us=start,
                end_us=start + US, duration_us=US, bytes=0, sha256=None, state="open",
                video_codec="h264", audio_codec="aac", fragments=1, clock_sync="synced",
                camera_clock_offset_us=None, created_us=start, sealed_us=None,
            )  # fmt: skip
            sealed = SegmentRow(**{**asdict(opened), "end_us": start + SEG_S * US,
                                   "duration_us": SEG_S * US, "bytes": size, "sha256": digest,
                                   "state": "sealed", "fragments": SEG_S,
                                   "sealed_us": start + SEG_S * US})  # fmt: skip
            await db.write(functools.partial(segments.open_segment, row=opened))
            await db.write(functools.partial(segments.update_segment, row=sealed))
    finally:
        await db.close()
    return files


async def child(data_dir: Path, out: Path, window_s: int) -> dict[str, object]:
    """Build the package of [T0, T0 + window) in this process; its time and peak RSS."""
    from index.db import Database
    from surveil.checkpoints import Checkpointer
    from surveil.clock import SystemClock
    from surveil.export_package import PackageSpec, build_package
    from surveil.lookup import CameraRef
    from surveil.volumes import Volumes
    from tlog.note import Signer

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        signer = Signer.generate("surveil/bench")
        checkpointer = Checkpointer(db, SystemClock(), signer.name, [signer])
        spec = PackageSpec(
            request_id=1, receipt_no=None, counter="A01", cameras=(CameraRef(1, "a01"),),
            start_us=T0_US, end_us=T0_US + window_s * US,
            party={"name": "bench", "id_type": "none", "id_number": "0", "relation": "bench"},
            purpose="bench", legal_basis="bench", kind="copy", custody=(),
        )  # fmt: skip
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        ticks = cpu_times()
        t = time.perf_counter()
        result = await build_package(db, Volumes.single(data_dir), checkpointer, signer, spec, out)
        elapsed = time.perf_counter() - t
        machine = shares(ticks, cpu_times())
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await db.close()
    return {
        "seconds": elapsed,
        "cpu_seconds": after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime,
        "machine": machine,
        "bytes": result.bytes,
        "segments": result.segments,
        "rss_before_build_kib": rss_before,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def cpu_times() -> list[int]:
    """The machine's CPU time so far, in ticks: user, nice, system, idle, iowait, irq,
    softirq, steal (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        return [int(v) for v in f.readline().split()[1:9]]


def shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Idle and steal as shares of all CPU time between two cpu_times()."""
    d = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(d) or 1
    return {"idle": round((d[3] + d[4]) / total, 2), "steal": round(d[7] / total, 2)}


def time_cp(files: list[Path], dest: Path, sync: bool, copies: int = 1) -> tuple[float, float]:
    """Wall and CPU seconds of cp of files into `copies` directories (then sync -f)."""
    shutil.rmtree(dest, ignore_errors=True)
    dirs = [dest / str(i) for i in range(copies)]
    for d in dirs:
        d.mkdir(parents=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    for d in dirs:
        subprocess.run(["cp", *map(str, files), str(d)], check=True)
    if sync:
        subprocess.run(["sync", "-f", str(dest)], check=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(dest)
    return elapsed, after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--windows", type=int, nargs="+", default=[600, 7200], help="seconds")
    p.add_argument("--work", type=Path, default=Path("/tmp/surveil-bench-export"))
    p.add_argument("--child", nargs=3, metavar=("DATA", "OUT", "WINDOW"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        data, out, window = args.child
        print(json.dumps(asyncio.run(child(Path(data), Path(out), int(window)))))
        return
    machine = machine_info()
    print("machine:", json.dumps(machine, ensure_ascii=False))
    work: Path = args.work
    segment = work / "seg.mp4"
    make_segment(segment)
    seg_bytes = segment.stat().st_size
    print(f"segment: {SEG_S} s, {seg_bytes} bytes ({seg_bytes * 8 / SEG_S / 1e6:.2f} Mbit/s)")
    rows = []
    for window in args.windows:
        data = work / f"data-{window}"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        files = asyncio.run(seed(data, segment, -(-window // SEG_S)))
        out = work / f"package-{window}.zip"
        cp1: list[tuple[float, float]] = []
        cp2: list[tuple[float, float]] = []
        cp1.append(time_cp(files, work / "cp", sync=False))
        cp2.append(time_cp(files, work / "cp", sync=False, copies=2))
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(data), str(out), str(window)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        built = json.loads(done.stdout.strip().splitlines()[-1])
        cp1.append(time_cp(files, work / "cp", sync=False))
        cp2.append(time_cp(files, work / "cp", sync=False, copies=2))
        cps, _cpu = time_cp(files, work / "cp", sync=True)
        (cp, cp_cpu), (cp_twice, cp_twice_cpu) = min(cp1), min(cp2)
        row = {
            "window_s": window,
            "segments": len(files),
            "segment_bytes": seg_bytes * len(files),
            "package_bytes": built["bytes"],
            "build_s": round(built["seconds"], 3),
            "build_cpu_s": round(built["cpu_seconds"], 2),
            "machine_during_build": built["machine"],
            "cp_s": round(cp, 3),
            "cp_cpu_s": round(cp_cpu, 2),
            "cp_twice_s": round(cp_twice, 3),
            "cp_twice_cpu_s": round(cp_twice_cpu, 2),
            "cp_sync_s": round(cps, 3),
            "ratio_vs_cp": round(built["seconds"] / cp, 2),
            "ratio_vs_cp_twice": round(built["seconds"] / cp_twice, 2),
            "ratio_vs_cp_sync": round(built["seconds"] / cps, 2),
            "peak_rss_mib": round(built["peak_rss_kib"] / 1024, 1),
            "rss_before_build_mib": round(built["rss_before_build_kib"] / 1024, 1),
        }
        rows.append(row)
        print(json.dumps(row))
        out.unlink()
        shutil.rmtree(data)
    print()
    print(
        "| window | segment MB | package MB | build s | build CPU s | cp s | ratio "
        "| cp ×2 s | ratio | cp+sync s | ratio | peak RSS MiB | idle, steal |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["machine_during_build"]
        print(
            f"| {r['window_s']} s | {r['segment_bytes'] / 1e6:.0f} | "
            f"{r['package_bytes'] / 1e6:.0f} | {r['build_s']} | {r['build_cpu_s']} | "
            f"{r['cp_s']} | {r['ratio_vs_cp']}x | {r['cp_twice_s']} | "
            f"{r['ratio_vs_cp_twice']}x | {r['cp_sync_s']} | {r['ratio_vs_cp_sync']}x | "
            f"{r['peak_rss_mib']} | {m['idle']:.0%}, {m['steal']:.0%} |"
        )
    path = write_result("export", {"machine": machine, "rows": rows})
    print(f"result: {path}")


if __name__ == "__main__":
    main()
