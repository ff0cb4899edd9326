"""Lookup latency at scale: receipt -> clip plan and time-range lookups on a bulk-loaded index.

See bench/README.md ("lookup"). Creates a fresh database per backend, bulk-loads synthetic
cameras, runs, gaps, segments, counters, receipts and holds, then times the GET
/api/v1/receipts/{no} path, a 10-minute counter lookup, and the segment range query with and
without the MAX_SEGMENT_SPAN_US lower bound (the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import machine_info, percentile, write_result
from index import bulk
from index.db import Database
from index.receipts import ReceiptSettings
from index.segments import segments_overlapping
from surveil.lookup import CameraRef, lookup_window, receipt_footage

SECOND = 1_000_000
MINUTE = 60 * SECOND
SEGMENT_US = 60 * SECOND
T0_US = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
RUNS_PER_CAMERA = 3  # two gaps of GAP_US per camera
GAP_US = 5 * MINUTE
CAMERAS_PER_COUNTER = 2
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_DB = "surveil_bench_lookup"


class Layout:
    """Where every synthetic row is, so queries can be drawn without reading the database."""

    def __init__(self, cameras: int, segments: int, receipts: int, seed: int) -> None:
        self.cameras = cameras
        self.counters = max(1, cameras // CAMERAS_PER_COUNTER)
        self.per_camera = max(RUNS_PER_CAMERA, segments // cameras)
        self.segments = self.per_camera * cameras
        self.receipts = receipts
        self.rng = random.Random(seed)
        self.per_run = self.per_camera // RUNS_PER_CAMERA
        self.span_us = self.per_camera * SEGMENT_US + (RUNS_PER_CAMERA - 1) * GAP_US

    def camera_name(self, c: int) -> str:
        return f"cam{c:04d}"

    def counter_of(self, c: int) -> int:
        return min(c // CAMERAS_PER_COUNTER, self.counters - 1)

    def cameras_of(self, k: int) -> list[int]:
        return [c for c in range(self.cameras) if self.counter_of(c) == k]

    def run_bounds(self) -> list[tuple[int, int, int]]:
        """(first sequence, count, start_us) of each run of a camera."""
        out = []
        t = T0_US
        for r in range(RUNS_PER_CAMERA):
            n = self.per_run if r < RUNS_PER_CAMERA - 1 else self.per_camera - r * self.per_run
            out.append((r * self.per_run, n, t))
            t += n * SEGMENT_US + GAP_US
        return out

    def camera_rows(self) -> Iterator[dict[str, object]]:
        for c in range(self.cameras):
            yield {
                "id": c + 1,
                "name": self.camera_name(c),
                "source_url": f"rtsp://127.0.0.1:8554/{self.camera_name(c)}",
                "enabled": True,
                "counters": json.dumps([f"C{self.counter_of(c):04d}"]),
                "created_us": T0_US,
            }

    def counter_rows(self) -> Iterator[dict[str, object]]:
        for k in range(self.counters):
            yield {"id": k + 1, "code": f"C{k:04d}", "name": f"Counter {k}", "site": "Hall 1",
                   "created_us": T0_US}  # fmt: skip

    def camera_counter_rows(self) -> Iterator[dict[str, object]]:
        for c in range(self.cameras):
            yield {"camera_id": c + 1, "counter_id": self.counter_of(c) + 1}

    def run_rows(self) -> Iterator[dict[str, object]]:
        for c in range(self.cameras):
            for r, (_seq, n, start) in enumerate(self.run_bounds()):
                yield {"id": c * RUNS_PER_CAMERA + r + 1, "camera_id": c + 1, "start_us": start,
                       "end_us": start + n * SEGMENT_US, "start_reason": "startup",
                       "end_reason": "stream lost"}  # fmt: skip

    def gap_rows(self) -> Iterator[dict[str, object]]:
        gid = 0
        for c in range(self.cameras):
            for _seq, n, start in self.run_bounds()[:-1]:
                gid += 1
                end = start + n * SEGMENT_US
                yield {"id": gid, "camera_id": c + 1, "start_us": end, "end_us": end + GAP_US,
                       "reason": "stream lost"}  # fmt: skip

    def segment_rows(self) -> Iterator[dict[str, object]]:
        sid = 0
        for c in range(self.cameras):
            name = self.camera_name(c)
            for r, (_first, n, run_start) in enumerate(self.run_bounds()):
                run_id = c * RUNS_PER_CAMERA + r + 1
                for i in range(n):
                    sid += 1
                    start = run_start + i * SEGMENT_US
                    yield {
                        "id": sid, "camera_id": c + 1, "run_id": run_id, "sequence": i,
                        "path": f"{name}/{run_id}/{i:06d}.mp4", "start_us": start,
                        "end_us": start + SEGMENT_US, "duration_us": SEGMENT_US,
                        "bytes": 7_500_000, "sha256": f"{sid:064x}", "state": "sealed",
                        "video_codec": "h264", "audio_codec": "aac", "fragments": 60,
                        "clock_sync": "synced", "camera_clock_offset_us": None,
                        "created_us": start, "sealed_us": start + SEGMENT_US,
                    }  # fmt: skip

    def receipts_and_holds(
        self, settings: ReceiptSettings
    ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        rng = random.Random(self.rng.random())
        receipts: list[dict[str, object]] = []
        holds: list[dict[str, object]] = []
        for i in range(self.receipts):
            k = rng.randrange(self.counters)
            duration = rng.randint(2 * MINUTE, 15 * MINUTE)
            accepted = T0_US + rng.randrange(max(1, self.span_us - duration))
            completed = accepted + duration
            no = f"R{i:09d}"
            receipts.append({
                "id": i + 1, "receipt_no": no, "counter_id": k + 1, "accepted_us": accepted,
                "completed_us": completed, "case_no": f"CASE-{i}", "service": "passport",
                "handler": "clerk", "created_us": completed, "updated_us": completed,
            })  # fmt: skip
            for c in self.cameras_of(k):
                holds.append({
                    "id": len(holds) + 1, "camera_id": c + 1, "receipt_id": i + 1,
                    "start_us": accepted - settings.pre_roll_us,
                    "end_us": completed + settings.post_roll_us, "reason": f"receipt {no}",
                })  # fmt: skip
        return receipts, holds


def _stats(ms: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {"p50_ms": r(percentile(ms, 0.50)), "p99_ms": r(percentile(ms, 0.99)),
            "max_ms": r(max(ms) if ms else None), "n": len(ms)}  # fmt: skip


async def load(db: Database, lay: Layout, settings: ReceiptSettings) -> dict[str, Any]:
    times: dict[str, float] = {}

    async def step(name: str, fn: Callable[[], Awaitable[int]]) -> None:
        t = time.perf_counter()
        n = await fn()
        times[name] = round(time.perf_counter() - t, 2)
        print(f"  loaded {n:>10} {name:<16} in {times[name]:8.2f} s", flush=True)

    await step("cameras", lambda: bulk.insert_cameras(db, lay.camera_rows()))
    await step("counters", lambda: bulk.insert_counters(db, lay.counter_rows()))
    await step(
        "camera_counters", lambda: bulk.insert_camera_counters(db, lay.camera_counter_rows())
    )
    await step("runs", lambda: bulk.insert_runs(db, lay.run_rows()))
    await step("gaps", lambda: bulk.insert_gaps(db, lay.gap_rows()))
    await step("segments", lambda: bulk.insert_segments(db, lay.segment_rows()))
    receipts, holds = lay.receipts_and_holds(settings)
    await step("receipts", lambda: bulk.insert_receipts(db, receipts))
    await step("holds", lambda: bulk.insert_holds(db, holds))
    t = time.perf_counter()
    await bulk.analyze(db)
    times["analyze"] = round(time.perf_counter() - t, 2)
    times["total"] = round(sum(times.values()), 2)
    print(f"  analyze {times['analyze']:.2f} s; load total {times['total']:.2f} s", flush=True)
    return {"load_s": times, "receipts": receipts}


async def measure(
    db: Database, lay: Layout, receipts: list[dict[str, object]], queries: int,
    settings: ReceiptSettings,
) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(lay.rng.random())
    now_us = T0_US + lay.span_us
    refs = [CameraRef(c + 1, lay.camera_name(c)) for c in range(lay.cameras)]

    async def receipt_plan(no: str) -> int:
        # What GET /api/v1/receipts/{no} and the lookup page call, minus JSON and HTML.
        found = await receipt_footage(db, no, now_us, settings)
        return sum(len(c.coverage.segments) for c in found.cameras)

    # Warm-up, so the first queries do not pay for connection setup.
    for _ in range(min(50, queries)):
        await receipt_plan(str(rng.choice(receipts)["receipt_no"]))

    receipt_ms = []
    for _ in range(queries):
        no = str(rng.choice(receipts)["receipt_no"])
        t = time.perf_counter()
        await receipt_plan(no)
        receipt_ms.append((time.perf_counter() - t) * 1000)

    windows = []
    for _ in range(queries):
        k = rng.randrange(lay.counters)
        start = T0_US + rng.randrange(lay.span_us - 10 * MINUTE)
        windows.append((k, start, start + 10 * MINUTE))
    range_ms = []
    for k, a, b in windows:
        cams = [refs[c] for c in lay.cameras_of(k)]
        t = time.perf_counter()
        await lookup_window(db, cams, a, b)
        range_ms.append((time.perf_counter() - t) * 1000)

    # Segment range query alone, optimized vs naive, same windows, one camera each,
    # alternated so both see the same cache state.
    opt_ms: list[float] = []
    naive_ms: list[float] = []
    mismatches = 0
    async with db.read() as s:
        for k, a, b in windows:
            name = refs[lay.cameras_of(k)[0]].name
            t = time.perf_counter()
            got = await segments_overlapping(s, name, a, b)
            opt_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            want = await bulk.naive_segments_overlapping(s, name, a, b)
            naive_ms.append((time.perf_counter() - t) * 1000)
            mismatches += int([x.id for x in got] != [x.id for x in want])
    opt, naive = _stats(opt_ms), _stats(naive_ms)

    def ratio(key: str) -> float | None:
        o, n = opt[key], naive[key]
        return None if o is None or not n else round(o / n, 4)

    return {
        "receipt_plan": _stats(receipt_ms),
        "range_lookup_10min": _stats(range_ms),
        "segments_query_optimized": opt,
        "segments_query_naive": naive,
        "ratio_optimized_over_naive": {"p50": ratio("p50_ms"), "p99": ratio("p99_ms")},
        "baseline_result_mismatches": mismatches,
    }


async def _pg_admin(sql: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    lay = Layout(args.cameras, args.segments, args.receipts, args.seed)
    settings = ReceiptSettings()
    print(f"\n== {backend}: {lay.segments} segments, {lay.receipts} receipts, "
          f"{lay.cameras} cameras, {lay.counters} counters, span "
          f"{lay.span_us / 86_400e6:.1f} days", flush=True)  # fmt: skip
    tmp = tempfile.TemporaryDirectory(prefix="surveil-bench-lookup-")
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp.name}/index.db"
    else:
        await _pg_admin(f"DROP DATABASE IF EXISTS {PG_DB}")
        await _pg_admin(f"CREATE DATABASE {PG_DB}")
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
    try:
        db = await Database.open(url)
        try:
            loaded = await load(db, lay, settings)
            out = await measure(db, lay, loaded.pop("receipts"), args.queries, settings)
        finally:
            await db.close()
        if backend == "sqlite":
            out["sqlite_file_mib"] = round(Path(tmp.name, "index.db").stat().st_size / 2**20, 1)
    finally:
        tmp.cleanup()
        if backend == "postgresql":
            await _pg_admin(f"DROP DATABASE IF EXISTS {PG_DB}")
    out["load_s"] = loaded["load_s"]
    out["rows"] = {"segments": lay.segments, "receipts": lay.receipts}
    return out


def _table(backend: str, r: dict[str, Any]) -> None:
    print(f"\n{backend}: load {r['load_s']['total']:.1f} s "
          f"(segments {r['load_s']['segments']:.1f} s)")  # fmt: skip
    print(f"  {'query':<34}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for key in ("receipt_plan", "range_lookup_10min", "segments_query_optimized",
                "segments_query_naive"):  # fmt: skip
        st = r[key]
        print(f"  {key:<34}{st['p50_ms']:>10.3f}{st['p99_ms']:>10.3f}{st['max_ms']:>10.3f}")
    ratio = r["ratio_optimized_over_naive"]
    print(
        f"  ratio optimized/naive: p50 {ratio['p50']}, p99 {ratio['p99']}; "
        f"baseline mismatches {r['baseline_result_mismatches']}"
    )
    p99 = r["receipt_plan"]["p99_ms"]
    print(f"  target receipt -> clip plan p99 <= 20 ms: {'MET' if p99 <= 20 else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=10_000_000)
    ap.add_argument("--receipts", type=int, default=1_000_000)
    ap.add_argument("--cameras", type=int, default=200)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    info = machine_info()
    print("machine:", json.dumps(info))
    print("parameters:", json.dumps(vars(args)))
    results: dict[str, Any] = {}
    for b in backends:
        results[b] = asyncio.run(run_backend(b, args))
        _table(b, results[b])
    path = write_result("lookup", {"machine": info, "parameters": vars(args), "results": results})
    print(f"\nresult: {path}")


if __name__ == "__main__":
    main()
