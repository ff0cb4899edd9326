"""Storage lifecycle at scale: a retention pass over millions of segments, and upload throughput.

See bench/README.md ("storage"). Two modes:

- ``retention``: per backend, bulk-loads N sealed one-minute segments over C cameras with their
  Merkle log leaves, receipt holds (most expired, some of open cases) and a few legal holds, with
  a fraction past retention; times ``Retention.plan()`` and ``Retention.run_pass()`` against one
  plain SQL statement selecting the same segments, with peak memory (VmHWM, tracemalloc) at N and
  N/10, and a pass that unlinks real files at a smaller N.
- ``transfer``: uploads M segment-sized files to SeaweedFS on loopback through surveil's transfer
  service (``Transferrer.cycle()`` over sealed segment rows) and through a plain aiobotocore
  put_object loop of the same concurrency, alternated round by round, first with nothing else
  running, then while ``surveil serve`` records C cameras, whose lost frames are counted as
  bench/ingest.py counts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.common import SystemCpu, machine_info, tree_cpu_seconds, write_result
from bench.integrity import Busy
from index import bulk, merkle
from index.db import Database
from index.models import Base, Transfer
from surveil.clock import FakeClock
from surveil.config import RetentionConfig
from surveil.retention import DAY_US, Retention
from surveil.volumes import Volumes
from tlog import leaves
from tlog.hashing import CompactRange, leaf_hash

SECOND = 1_000_000
MINUTE = 60 * SECOND
SEG_US = 60 * SECOND
SEG_BYTES = 15_000_000  # 60 s at 2 Mbit/s
T0_US = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_DB = "bench_storage"
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
FILL_BATCH_LEAVES = 10_000
RECOVERED_EVERY = 1009  # every 1009th segment was sealed by crash recovery ('recovered')
ROLL_US = 30 * SECOND  # a receipt hold's pre- and post-roll (ReceiptSettings defaults)
RETENTION_TARGET_S = 60.0
TRANSFER_TARGET_RATIO = 0.9


def _vm_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux clear_refs 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


# == retention ==================================================================================


@dataclass(frozen=True)
class Layout:
    """Where every synthetic row is. Each camera has one run of per_camera contiguous one-minute
    segments from T0; ids go in time order across cameras (as seals arrive). `aged` segments
    of each camera ended by the cut-off now - retain_days, with now within the last day of
    footage, so the fraction past retention is aged / per_camera."""

    cameras: int
    per_camera: int
    aged: int
    retain_days: int
    now_us: int
    hold_every_min: float
    open_case_fraction: float
    legal_holds: int
    damaged: int
    seed: int

    @classmethod
    def make(cls, segments: int, args: argparse.Namespace) -> Layout:
        cameras = args.cameras
        per_camera = max(2, segments // cameras)
        aged = max(1, round(per_camera * args.eligible_fraction))
        span_us = per_camera * SEG_US
        cutoff = T0_US + aged * SEG_US
        retain_days = max(1, (T0_US + span_us - cutoff) // DAY_US)
        return cls(
            cameras=cameras,
            per_camera=per_camera,
            aged=aged,
            retain_days=retain_days,
            now_us=cutoff + retain_days * DAY_US,
            hold_every_min=args.hold_every_min,
            open_case_fraction=args.open_case_fraction,
            legal_holds=args.legal_holds,
            damaged=args.damaged,
            seed=args.seed,
        )

    @property
    def segments(self) -> int:
        return self.per_camera * self.cameras

    @property
    def cutoff_us(self) -> int:
        return self.now_us - self.retain_days * DAY_US

    @property
    def span_days(self) -> float:
        return self.per_camera * SEG_US / DAY_US

    def name(self, c: int) -> str:
        return f"cam{c:03d}"

    def segment_id(self, t: int, c: int) -> int:
        return t * self.cameras + c + 1

    def damaged_ids(self) -> set[int]:
        """Segments past retention that scrub found damaged (kept as evidence of a fault); at
        most 2 % of them."""
        rng = random.Random(self.seed * 7919 + 1)
        pool = self.aged * self.cameras
        picks = rng.sample(range(pool), min(self.damaged, pool // 50))
        return {self.segment_id(p // self.cameras, p % self.cameras) for p in picks}

    def camera_rows(self) -> Iterator[dict[str, object]]:
        for c in range(self.cameras):
            yield {"id": c + 1, "name": self.name(c),
                   "source_url": f"rtsp://127.0.0.1:8554/{self.name(c)}", "enabled": True,
                   "counters": "[]", "created_us": T0_US}  # fmt: skip

    def run_rows(self) -> Iterator[dict[str, object]]:
        for c in range(self.cameras):
            yield {"id": c + 1, "camera_id": c + 1, "start_us": T0_US, "end_us": None,
                   "start_reason": "startup", "end_reason": None}  # fmt: skip

    def segment_paths(self) -> Iterator[tuple[int, int, int, str, str]]:
        """(id, t, c, path, state as sealed) of every segment, in id order."""
        day_dirs: dict[int, str] = {}
        for t in range(self.per_camera):
            start = T0_US + t * SEG_US
            day = (start - T0_US) // DAY_US
            if day not in day_dirs:
                day_dirs[day] = f"{datetime.fromtimestamp(start / SECOND, UTC):%Y/%m/%d}"
            for c in range(self.cameras):
                sid = t * self.cameras + c + 1
                # segmenter.paths.segment_path, with the day directory computed once a day.
                path = f"{self.name(c)}/{day_dirs[day]}/{start:016d}_r{c + 1}_s{t}.mp4"
                state = "recovered" if sid % RECOVERED_EVERY == 0 else "sealed"
                yield sid, t, c, path, state

    def segment_rows(self) -> Iterator[dict[str, object]]:
        damaged = self.damaged_ids()
        for sid, t, c, path, state in self.segment_paths():
            start = T0_US + t * SEG_US
            yield {
                "id": sid, "camera_id": c + 1, "run_id": c + 1, "sequence": t, "path": path,
                "start_us": start, "end_us": start + SEG_US, "duration_us": SEG_US,
                "bytes": SEG_BYTES, "sha256": f"{sid:064x}",
                "state": "damaged" if sid in damaged else state,
                "video_codec": "h264", "audio_codec": "aac", "fragments": 60,
                "clock_sync": "synced", "camera_clock_offset_us": None,
                "created_us": start, "sealed_us": start + SEG_US,
            }  # fmt: skip

    def leaves(self) -> Iterator[tuple[int, bytes, int]]:
        """(segment id, its canonical segment leaf, its seal) in id order, formatted directly
        (checked against tlog.leaves.segment_leaf by check_leaf_format)."""
        for sid, t, c, path, state in self.segment_paths():
            start = T0_US + t * SEG_US
            yield sid, _SEGMENT_LEAF % (
                SEG_BYTES, self.name(c).encode(), SEG_US, start + SEG_US, sid, path.encode(),
                c + 1, start + SEG_US, t, b"%064x" % sid, start, state.encode(),
            ), start + SEG_US  # fmt: skip

    def hold_rows(self) -> Iterator[dict[str, object]]:
        """Receipt holds, one starting every hold_every_min minutes per camera on average
        (exponential gaps), 2-15 min plus the rolls; an open case's hold has no expiry, the
        others expire 25-90 % of retain_days after their end (the case archived, plus
        archive_retain_days), so the holds on footage past retention are nearly all expired
        rows the pass still has to look at. Then legal holds, each on a tenth of one camera's
        footage past retention, and one released legal hold over camera 0's."""
        hid = 0
        end_all = T0_US + self.per_camera * SEG_US
        for c in range(self.cameras):
            rng = random.Random(self.seed * 1_000_003 + c)
            t = T0_US
            while True:
                t += int(rng.expovariate(1.0 / self.hold_every_min) * MINUTE)
                if t >= end_all:
                    break
                end = t + rng.randint(2 * MINUTE, 15 * MINUTE)
                expires = None
                if rng.random() >= self.open_case_fraction:
                    expires = (
                        end + ROLL_US + int(rng.uniform(0.25, 0.9) * self.retain_days * DAY_US)
                    )
                hid += 1
                yield {"id": hid, "camera_id": c + 1, "receipt_id": None,
                       "start_us": t - ROLL_US, "end_us": end + ROLL_US,
                       "reason": f"receipt R{hid:09d}", "kind": "receipt", "created_us": t,
                       "created_by": None, "expires_us": expires, "released_us": None,
                       "released_by": None, "release_reason": None}  # fmt: skip
        length = max(1, self.aged // 10) * SEG_US
        rng = random.Random(self.seed * 31 + 5)
        for k in range(self.legal_holds):
            c = k % self.cameras
            start = T0_US + rng.randrange(max(1, self.aged * SEG_US - length))
            hid += 1
            yield {"id": hid, "camera_id": c + 1, "receipt_id": None, "start_us": start,
                   "end_us": start + length, "reason": f"court order {k + 1}", "kind": "legal",
                   "created_us": start, "created_by": "admin", "expires_us": None,
                   "released_us": None, "released_by": None,
                   "release_reason": None}  # fmt: skip
        hid += 1
        yield {"id": hid, "camera_id": 1, "receipt_id": None, "start_us": T0_US,
               "end_us": T0_US + self.aged * SEG_US, "reason": "court order, lifted",
               "kind": "legal", "created_us": T0_US, "created_by": "admin", "expires_us": None,
               "released_us": T0_US + DAY_US, "released_by": "admin",
               "release_reason": "case closed"}  # fmt: skip


_SEGMENT_LEAF = (
    b'{"bytes":%d,"camera":"%s","codecs":{"audio":"aac","video":"h264"},"duration_us":%d,'
    b'"end_us":%d,"fragments":60,"id":%d,"kind":"segment","path":"%s","run":%d,'
    b'"sealed_us":%d,"seq":%d,"sha256":"%s","start_us":%d,"state":"%s","v":1}'
)


def check_leaf_format(lay: Layout) -> None:
    """The directly formatted leaves must be tlog.leaves.segment_leaf's bytes."""
    rows = {int(str(r["id"])): r for r in _first(lay.segment_rows(), 3 * lay.cameras)}
    for sid, leaf, _sealed in _first(lay.leaves(), 3 * lay.cameras):
        r = rows[sid]
        want = leaves.segment_leaf(
            segment_id=sid,
            camera=lay.name(int(str(r["camera_id"])) - 1),
            run=int(str(r["run_id"])),
            seq=int(str(r["sequence"])),
            path=str(r["path"]),
            start_us=int(str(r["start_us"])),
            end_us=int(str(r["end_us"])),
            duration_us=SEG_US,
            size=SEG_BYTES,
            sha256=str(r["sha256"]),
            video_codec="h264",
            audio_codec="aac",
            fragments=60,
            state="recovered" if sid % RECOVERED_EVERY == 0 else "sealed",
            sealed_us=int(str(r["sealed_us"])),
        )
        assert leaf == want, (leaf, want)


def _first(it: Iterator[Any], n: int) -> list[Any]:
    out = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


def log_batches(lay: Layout, stats: dict[str, Any]) -> Iterator[bulk.LogBatch]:
    """The segments' leaves as index.bulk.LogBatch, hashed with CompactRange as they go (the
    rows append_leaf would have written at each seal), one batch in memory at a time."""
    cr = CompactRange()
    leaf_rows: list[dict[str, object]] = []
    hash_rows: list[dict[str, object]] = []
    for sid, leaf, sealed_us in lay.leaves():
        digest = leaf_hash(leaf)
        idx = cr.size
        cr, made = cr.append(digest)
        leaf_rows.append({"idx": idx, "kind": leaves.KIND_SEGMENT, "ref_id": sid, "leaf": leaf,
                          "leaf_hash": digest, "appended_us": sealed_us})  # fmt: skip
        hash_rows.extend({"level": lv, "idx": i, "hash": h} for lv, i, h in made[1:])
        stats["leaf_bytes"] = stats.get("leaf_bytes", 0) + len(leaf)
        if len(leaf_rows) >= FILL_BATCH_LEAVES:
            yield bulk.LogBatch(leaf_rows, hash_rows, cr.size, b"".join(cr.roots))
            leaf_rows, hash_rows = [], []
    if leaf_rows:
        yield bulk.LogBatch(leaf_rows, hash_rows, cr.size, b"".join(cr.roots))
    stats["root"] = cr.root().hex()


async def insert_transfers(db: Database, lay: Layout) -> int:
    """A confirmed central copy of every segment (transfer configured: require_central)."""
    table = Base.metadata.tables[Transfer.__tablename__]

    async def put(s: AsyncSession, rows: list[dict[str, object]]) -> None:
        await s.execute(insert(table), rows)

    total = 0
    batch: list[dict[str, object]] = []
    for sid, _t, _c, path, _st in lay.segment_paths():
        row: dict[str, object] = {"segment_id": sid, "target": "s3 http://127.0.0.1:8333 central/",
               "object_key": f"segments/{path}", "state": "confirmed", "attempts": 1,
               "error": None, "updated_us": T0_US + sid}  # fmt: skip
        batch.append(row)
        if len(batch) >= bulk.BATCH_ROWS or sid == lay.segments:
            await db.write(functools.partial(put, rows=batch))
            total += len(batch)
            batch = []
    return total


async def load(db: Database, lay: Layout, args: argparse.Namespace) -> dict[str, Any]:
    times: dict[str, float] = {}
    counts: dict[str, int] = {}

    async def step(name: str, fn: Callable[[], Awaitable[int]]) -> None:
        t = time.perf_counter()
        counts[name] = await fn()
        times[name] = round(time.perf_counter() - t, 2)
        print(f"    loaded {counts[name]:>10} {name:<10} in {times[name]:8.2f} s", flush=True)

    async def log() -> int:
        n, _ = await bulk.bulk_log(db, log_batches(lay, stats))
        return n

    stats: dict[str, Any] = {}
    await step("cameras", lambda: bulk.insert_cameras(db, lay.camera_rows()))
    await step("runs", lambda: bulk.insert_runs(db, lay.run_rows()))
    await step("segments", lambda: bulk.insert_segments(db, lay.segment_rows()))
    if args.log:
        await step("leaves", log)
    await step("holds", lambda: bulk.insert_holds(db, lay.hold_rows()))
    if args.require_central:
        await step("transfers", lambda: insert_transfers(db, lay))
    t = time.perf_counter()
    if db.dialect == "postgresql":
        # A long-running index has been vacuumed: the visibility map lets index-only scans
        # skip the heap, and autovacuum will not start in the middle of the measurements.
        await _pg_exec(PG_URL, "VACUUM (ANALYZE)")
    else:
        await bulk.analyze(db)
    times["analyze"] = round(time.perf_counter() - t, 2)
    times["total"] = round(sum(times.values()), 2)
    print(f"    analyze {times['analyze']:.2f} s; load total {times['total']:.2f} s", flush=True)
    if args.log:
        async with db.read() as s:
            size = await merkle.log_size(s)
            stored = await merkle.root_at(s, size)
        if size != lay.segments or stored.hex() != stats["root"]:
            raise SystemExit(f"log fill check FAILED: size {size}, root differs from in memory")
    return {"load_s": times, "rows": counts, "leaf_bytes_mean": (
        round(stats["leaf_bytes"] / lay.segments, 1) if args.log else None)}  # fmt: skip


def baseline_sql(require_central: bool) -> str:
    """The selection of a pass written as one plain statement (one cut-off: every camera has
    the configured retain_days here): sealed or recovered, ended by the cut-off, no active
    hold overlapping it (index/holds.py segment_held), and a confirmed copy when required."""
    central = (
        " AND EXISTS (SELECT 1 FROM transfers t WHERE t.segment_id = s.id"
        " AND t.state = 'confirmed')"
        if require_central
        else ""
    )
    return (
        "SELECT s.id, s.path FROM segments s WHERE s.end_us <= :cutoff"
        " AND s.state IN ('sealed', 'recovered')"
        " AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.camera_id = s.camera_id"
        " AND h.start_us < s.end_us AND (h.end_us IS NULL OR h.end_us > s.start_us)"
        " AND h.released_us IS NULL AND (h.expires_us IS NULL OR h.expires_us > :now))" + central
    )


async def run_baseline(
    db: Database, cutoff: int, now: int, require_central: bool
) -> tuple[float, list[tuple[int, str]]]:
    t = time.perf_counter()
    async with db.read() as s:
        result = await s.execute(
            text(baseline_sql(require_central)), {"cutoff": cutoff, "now": now}
        )
        rows = [(int(r[0]), str(r[1])) for r in result.all()]
    return time.perf_counter() - t, rows


async def _count(db: Database, sql: str, **params: object) -> int:
    async with db.read() as s:
        return int((await s.execute(text(sql), params)).scalar_one())


@dataclass
class Measured:
    wall_s: float
    rss_before_mib: float
    peak_rss_mib: float | None  # VmHWM after a reset at the start; None if it cannot be reset
    tracemalloc_peak_mib: float | None = None
    busy: dict[str, float] = field(default_factory=dict)


async def measured(fn: Callable[[], Awaitable[Any]], *, trace: bool) -> tuple[Any, Measured]:
    """fn's result, wall time and peak memory: VmHWM (reset first) and, when trace, the
    tracemalloc peak of Python allocations (which slows allocation, so that time is not the
    figure)."""
    rss0 = _vm_kib("VmRSS")
    can_reset = reset_peak_rss()
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    busy = Busy()
    t = time.perf_counter()
    try:
        out = await fn()
    finally:
        wall = time.perf_counter() - t
        peak_py = None
        if trace:
            peak_py = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    m = Measured(
        wall_s=round(wall, 3),
        rss_before_mib=_mib(rss0),
        peak_rss_mib=_mib(_vm_kib("VmHWM")) if can_reset else None,
        tracemalloc_peak_mib=None if peak_py is None else round(peak_py / 2**20, 2),
        busy=busy.shares(),
    )
    return out, m


def make_files(root: Path, rows: list[tuple[int, str]], size: int) -> float:
    """A tiny real file for each eligible segment (the pass unlinks them); seconds taken."""
    t = time.perf_counter()
    body = b"\0" * size
    made: set[Path] = set()
    for _sid, rel in rows:
        path = root / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(body)
    return time.perf_counter() - t


async def _pg_exec(url: str, sql: str) -> Any:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def retention_point(
    backend: str, segments: int, args: argparse.Namespace, *, files: bool, second_pass: bool
) -> dict[str, Any]:
    """One fresh index of `segments` rows: load, baseline, plan, pass (and a traced second
    pass a day's slice later); with files, real files for every eligible segment."""
    lay = Layout.make(segments, args)
    check_leaf_format(lay)
    label = f"{backend}, {lay.segments:,} segments" + (", real files" if files else "")
    print(
        f"\n== retention: {label}: {lay.cameras} cameras x {lay.per_camera} one-minute segments "
        f"({lay.span_days:.1f} days); retain_days {lay.retain_days}; {lay.aged} per camera past "
        f"retention ({lay.aged / lay.per_camera:.2%})",
        flush=True,
    )
    tmp = tempfile.TemporaryDirectory(prefix="surveil-bench-storage-")
    data_dir = Path(tmp.name) / "data"
    data_dir.mkdir()
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp.name}/index.db"
    else:
        await _pg_exec(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {PG_DB}")
        await _pg_exec(PG_ADMIN_URL, f"CREATE DATABASE {PG_DB}")
        url = PG_URL
    out: dict[str, Any] = {
        "backend": backend,
        "segments": lay.segments,
        "layout": asdict(lay) | {"cutoff_us": lay.cutoff_us, "span_days": round(lay.span_days, 2)},
        "real_files": files,
    }
    try:
        db = await Database.open(url)
        try:
            t, busy = time.perf_counter(), Busy()
            out["load"] = await load(db, lay, args)
            out["load"]["wall_s"] = round(time.perf_counter() - t, 1)
            out["load"].update(busy.shares())
            out.update(await _measure_point(db, lay, args, data_dir, files, second_pass))
        finally:
            await db.close()
        if backend == "sqlite":
            paths = [Path(tmp.name, n) for n in ("index.db", "index.db-wal")]
            out["sqlite_file_mib"] = round(
                sum(p.stat().st_size for p in paths if p.exists()) / 2**20, 1
            )
        else:
            size = await _pg_exec(PG_ADMIN_URL, f"SELECT pg_database_size('{PG_DB}')")
            out["pg_database_mib"] = round(int(size) / 2**20, 1)
    finally:
        tmp.cleanup()
        if backend == "postgresql":
            await _pg_exec(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {PG_DB}")
    _print_point(out)
    return out


async def _measure_point(
    db: Database,
    lay: Layout,
    args: argparse.Namespace,
    data_dir: Path,
    files: bool,
    second_pass: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clock = FakeClock(lay.now_us)
    cfg = RetentionConfig(retain_days=lay.retain_days)
    ret = Retention(
        db, Volumes.single(data_dir), clock, cfg, require_central=args.require_central,
        batch=args.batch,
    )  # fmt: skip
    aged = await _count(db, "SELECT count(*) FROM segments WHERE end_us <= :c", c=lay.cutoff_us)

    # Baseline, same run: the selection as one plain statement, fetched in full (twice: the
    # first also warms the cache for what follows; the ratio uses the second).
    base_cold, rows = await run_baseline(db, lay.cutoff_us, lay.now_us, args.require_central)
    base_warm, rows2 = await run_baseline(db, lay.cutoff_us, lay.now_us, args.require_central)
    assert sorted(rows) == sorted(rows2)  # no ORDER BY: PostgreSQL may return another order
    out["baseline"] = {"sql": baseline_sql(args.require_central), "rows": len(rows),
                       "cold_s": round(base_cold, 3), "warm_s": round(base_warm, 3)}  # fmt: skip
    print(
        f"  past retention {aged} segments; baseline SQL selects {len(rows)} in "
        f"{base_cold:.3f} s (cold), {base_warm:.3f} s (warm)",
        flush=True,
    )
    if files:
        made_s = make_files(data_dir, rows, args.file_bytes)
        out["files"] = {"made": len(rows), "bytes_each": args.file_bytes,
                        "make_s": round(made_s, 2)}  # fmt: skip
        print(f"  made {len(rows)} files of {args.file_bytes} B in {made_s:.1f} s", flush=True)

    plan, m_plan = await measured(ret.plan, trace=False)
    _, m_plan_traced = await measured(ret.plan, trace=True)
    kept: dict[str, list[int]] = {}
    for cp in plan.cameras:
        for reason, (n, size) in cp.kept.items():
            k = kept.setdefault(reason, [0, 0])
            k[0] += n
            k[1] += size
    out["plan"] = asdict(m_plan) | {
        "eligible": plan.eligible,
        "eligible_bytes": plan.eligible_bytes,
        "kept": kept,
        "tracemalloc_peak_mib": m_plan_traced.tracemalloc_peak_mib,
        "traced_wall_s": m_plan_traced.wall_s,
    }
    print(
        f"  plan(): {m_plan.wall_s:.3f} s, eligible {plan.eligible}, kept {kept}; peak RSS "
        f"{m_plan.peak_rss_mib} MiB (from {m_plan.rss_before_mib}); tracemalloc peak "
        f"{m_plan_traced.tracemalloc_peak_mib} MiB",
        flush=True,
    )

    log0 = await _log_size(db)
    record, m_pass = await measured(lambda: ret.run_pass("manual"), trace=False)
    log1 = await _log_size(db)
    deleted = await _count(db, "SELECT count(*) FROM segments WHERE state = 'deleted'")
    held_deleted = await _count(
        db,
        "SELECT count(*) FROM segments s WHERE s.state IN ('garbage', 'deleted') AND EXISTS "
        "(SELECT 1 FROM holds h WHERE h.camera_id = s.camera_id AND h.start_us < s.end_us "
        "AND (h.end_us IS NULL OR h.end_us > s.start_us) AND h.released_us IS NULL "
        "AND (h.expires_us IS NULL OR h.expires_us > :now))",
        now=lay.now_us,
    )
    consistent = record.deleted == len(rows) == plan.eligible == deleted and held_deleted == 0
    out["pass"] = asdict(m_pass) | {
        "deleted": record.deleted,
        "bytes": record.bytes,
        "rows_per_s": round(record.deleted / m_pass.wall_s) if m_pass.wall_s else None,
        "log_leaves_appended": log1 - log0,
        "segments_in_state_deleted": deleted,
        "held_segments_deleted": held_deleted,
        "unlink_failed": record.summary.get("unlink_failed"),
        "consistent_with_baseline_and_plan": consistent,
        "over_baseline_warm": round(m_pass.wall_s / base_warm, 2) if base_warm else None,
    }
    out["plan"]["over_baseline_warm"] = round(m_plan.wall_s / base_warm, 2) if base_warm else None
    print(
        f"  run_pass(): {m_pass.wall_s:.3f} s, deleted {record.deleted} "
        f"({out['pass']['rows_per_s']} rows/s), {log1 - log0} log leaves appended; peak RSS "
        f"{m_pass.peak_rss_mib} MiB (from {m_pass.rss_before_mib}); machine busy "
        f"{m_pass.busy['system_busy']:.0%}, the bench {m_pass.busy['bench_share']:.0%}",
        flush=True,
    )
    if not consistent:
        print(
            f"  INCONSISTENT: pass {record.deleted}, baseline {len(rows)}, plan {plan.eligible},"
            f" rows deleted {deleted}, held rows deleted {held_deleted}",
            flush=True,
        )
    if files:
        left = sum(1 for _sid, rel in rows if (data_dir / rel).exists())
        out["files"]["left_after_pass"] = left
        print(f"  files left after the pass: {left} of {len(rows)}", flush=True)

    if second_pass and m_pass.wall_s > args.second_pass_budget_s:
        out["second_pass_traced"] = {"skipped": f"the pass took {m_pass.wall_s:.0f} s"}
        print(
            f"  SKIPPED the traced second pass: the first took {m_pass.wall_s:.0f} s, more than "
            f"--second-pass-budget-s {args.second_pass_budget_s:g}",
            flush=True,
        )
    elif second_pass and lay.aged * 2 <= lay.per_camera:
        # The next day's pass, so to speak: one more slice of the same size becomes old enough,
        # over the first pass's tombstones. Traced, so its time is not the figure.
        clock.advance(lay.aged * SEG_US)
        rows_next = (await run_baseline(db, lay.cutoff_us + lay.aged * SEG_US,
                                        clock.now_us(), args.require_central))[1]  # fmt: skip
        record2, m_pass2 = await measured(lambda: ret.run_pass("schedule"), trace=True)
        out["second_pass_traced"] = asdict(m_pass2) | {
            "deleted": record2.deleted,
            "baseline_rows": len(rows_next),
            "consistent_with_baseline": record2.deleted == len(rows_next),
        }
        print(
            f"  second pass (tracemalloc on): {m_pass2.wall_s:.3f} s, deleted {record2.deleted} "
            f"(baseline {len(rows_next)}); tracemalloc peak {m_pass2.tracemalloc_peak_mib} MiB, "
            f"peak RSS {m_pass2.peak_rss_mib} MiB",
            flush=True,
        )
    return out


async def _log_size(db: Database) -> int:
    async with db.read() as s:
        return await merkle.log_size(s)


def _print_point(r: dict[str, Any]) -> None:
    p, pl = r["pass"], r["plan"]
    size = r.get("sqlite_file_mib") or r.get("pg_database_mib")
    print(
        f"  => {r['backend']} {r['segments']:,}: plan {pl['wall_s']:.2f} s "
        f"(x{pl['over_baseline_warm']} baseline), pass {p['wall_s']:.2f} s "
        f"(x{p['over_baseline_warm']} baseline, {p['rows_per_s']} rows/s), baseline "
        f"{r['baseline']['warm_s']:.3f} s; index {size} MiB; target pass <= "
        f"{RETENTION_TARGET_S:g} s: {_verdict(p['wall_s'] <= RETENTION_TARGET_S)}",
        flush=True,
    )


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def flatness(big: dict[str, Any], small: dict[str, Any]) -> dict[str, Any]:
    """Peak memory at N over peak memory at N/10 (flat: about 1), for the plan and the pass."""
    out: dict[str, Any] = {"segments": [big["segments"], small["segments"]]}
    for phase, key in (
        ("plan", "peak_rss_mib"),
        ("plan", "tracemalloc_peak_mib"),
        ("pass", "peak_rss_mib"),
        ("second_pass_traced", "tracemalloc_peak_mib"),
    ):
        a = big.get(phase, {}).get(key)
        b = small.get(phase, {}).get(key)
        out[f"{phase}.{key}"] = {"at_n": a, "at_n_over_10": b, "ratio": _ratio(a, b)}
    for phase in ("plan", "pass"):
        a = big[phase]["peak_rss_mib"]
        b = small[phase]["peak_rss_mib"]
        if a is not None and b is not None:
            growth_a = a - big[phase]["rss_before_mib"]
            growth_b = b - small[phase]["rss_before_mib"]
            out[f"{phase}.rss_growth_mib"] = {"at_n": round(growth_a, 1),
                                              "at_n_over_10": round(growth_b, 1)}  # fmt: skip
    return out


_BOUND: contextvars.ContextVar[int | None] = contextvars.ContextVar("bench_bound", default=None)


def apply_what_if_bounds() -> None:
    """--what-if bounds: measure a proposed change to index/retention.py before it is made, in
    this process only. When a query has a cut-off (ended_before_us: eligible_segments and
    kept_counts), two redundant bounds are added that the planners can use: the segment
    started by the cut-off (it ended by it), so SQLite's (camera_id, start_us) scan stops
    there instead of running to the camera's newest segment; and an overlapping hold started
    before the cut-off, so PostgreSQL's anti join hashes only the holds that old, not all of
    the camera's active holds."""
    from sqlalchemy import ColumnElement, and_

    from index import holds as ih
    from index import retention as ir
    from index.models import Hold, Segment

    orig_held, orig_clause = ih.segment_held, ir.eligible_clause
    orig_segments, orig_kept = ir.eligible_segments, ir.kept_counts

    def held(now_us: int) -> ColumnElement[bool]:
        bound = _BOUND.get()
        base = orig_held(now_us)
        if bound is None:
            return base
        return base.where(Hold.start_us < bound)  # type: ignore[no-any-return]

    def clause(now_us: int, require_central: bool) -> ColumnElement[bool]:
        bound = _BOUND.get()
        base = orig_clause(now_us, require_central)
        return base if bound is None else and_(base, Segment.start_us <= bound)

    async def segments(s: AsyncSession, **kw: Any) -> Any:
        token = _BOUND.set(kw.get("ended_before_us"))
        try:
            return await orig_segments(s, **kw)
        finally:
            _BOUND.reset(token)

    async def kept(s: AsyncSession, **kw: Any) -> Any:
        token = _BOUND.set(kw.get("ended_before_us"))
        try:
            return await orig_kept(s, **kw)
        finally:
            _BOUND.reset(token)

    ir.segment_held = held  # type: ignore[attr-defined]
    ir.eligible_clause = clause
    ir.eligible_segments = segments
    ir.kept_counts = kept


def apply_what_if_no_leaf_join() -> None:
    """--what-if no-leaf-join: index/retention.py's deletion records without their outer join
    to log_leaves. mark_garbage reads them before it appends their leaves (so the join finds
    nothing there), and the pass uses no leaf index; on PostgreSQL, statistics from before any
    deletion leaf existed make that join a nested loop over every deletion leaf so far, once
    per batch: quadratic in the size of the pass."""
    from sqlalchemy import null, select

    from index import retention as ir
    from index.models import Camera, Deletion, Segment

    def query() -> Any:
        return (
            select(Deletion, Segment, Camera.name, null().label("idx"))
            .join(Segment, Segment.id == Deletion.segment_id)
            .join(Camera, Camera.id == Segment.camera_id)
        )

    ir._deletions_query = query


def retention_main(args: argparse.Namespace) -> dict[str, Any]:
    if "bounds" in args.what_if:
        apply_what_if_bounds()
        print("  WHAT-IF bounds: index/retention.py's queries get the cut-off bounds (--help)")
    if "no-leaf-join" in args.what_if:
        apply_what_if_no_leaf_join()
        print("  WHAT-IF no-leaf-join: deletion records without the log_leaves join (--help)")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    for backend in backends:
        t = time.perf_counter()
        r: dict[str, Any] = {}
        r["n"] = asyncio.run(
            retention_point(backend, args.segments, args, files=False, second_pass=True)
        )
        if args.flatness:
            r["n_over_10"] = asyncio.run(
                retention_point(backend, args.segments // 10, args, files=False, second_pass=True)
            )
            r["memory_flatness"] = flatness(r["n"], r["n_over_10"])
        if args.files_segments > 0:
            r["real_files"] = asyncio.run(
                retention_point(backend, args.files_segments, args, files=True, second_pass=False)
            )
        r["wall_s"] = round(time.perf_counter() - t, 1)
        results[backend] = r
        _print_backend(backend, r)
    return results


def _print_backend(backend: str, r: dict[str, Any]) -> None:
    print(f"\n{backend} summary:")
    print(
        f"  {'run':<28}{'plan s':>9}{'pass s':>9}{'base s':>9}{'deleted':>9}{'rows/s':>9}"
        f"{'pass/base':>10}{'peak RSS':>10}{'py peak':>9}"
    )
    for key, title in (("n", "N"), ("n_over_10", "N/10"), ("real_files", "real files")):
        if key not in r:
            continue
        x = r[key]
        p = x["pass"]
        py = x.get("second_pass_traced", {}).get("tracemalloc_peak_mib")
        print(
            f"  {title + ' ' + format(x['segments'], ','):<28}{x['plan']['wall_s']:>9.2f}"
            f"{p['wall_s']:>9.2f}{x['baseline']['warm_s']:>9.3f}{p['deleted']:>9}"
            f"{p['rows_per_s']!s:>9}{p['over_baseline_warm']!s:>10}{p['peak_rss_mib']!s:>10}"
            f"{py!s:>9}"
        )
    if "memory_flatness" in r:
        f = r["memory_flatness"]
        parts = [f"{k} {v['ratio']}" for k, v in f.items() if isinstance(v, dict) and "ratio" in v]
        print("  peak memory N / (N/10): " + ", ".join(parts))
    ok = r["n"]["pass"]["wall_s"] <= RETENTION_TARGET_S
    print(f"  target: pass <= {RETENTION_TARGET_S:g} s at {r['n']['segments']:,}: {_verdict(ok)}")


# == transfer ===================================================================================

BUCKET = "bench"


TRANSFER_CAMERAS = 20  # the files are spread over this many cameras' directories


@dataclass(frozen=True)
class UploadFile:
    """One segment-sized file of random bytes, with the SHA-256 the index would hold."""

    path: Path
    camera: int
    size: int
    sha256: str


def make_upload_files(root: Path, args: argparse.Namespace) -> list[UploadFile]:
    """args.files files, each uniform between --min-mb and --max-mb (seeded), random bytes."""
    rng = random.Random(args.seed)
    root.mkdir(parents=True, exist_ok=True)
    out: list[UploadFile] = []
    for i in range(args.files):
        size = int(rng.uniform(args.min_mb, args.max_mb) * 1e6)
        data = os.urandom(size)
        path = root / f"file{i:04d}.mp4"
        path.write_bytes(data)
        out.append(UploadFile(path, i % TRANSFER_CAMERAS, size, hashlib.sha256(data).hexdigest()))
    return out


async def _pool(items: list[UploadFile], concurrency: int,
                fn: Callable[[UploadFile], Awaitable[None]]) -> None:  # fmt: skip
    """fn over items with `concurrency` workers taking the next file as each finishes."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            await fn(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _s3_config(timeout_s: float, **extra: Any) -> Any:
    """botocore Config as surveil.central.s3.S3Target.open builds it (path addressing, unsigned
    payload, same timeouts and attempts), plus extra."""
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    from surveil.central.s3 import ATTEMPTS

    return Config(
        region_name="us-east-1",
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        **extra,
    )


class SurveilPath:
    """surveil's transfer path: surveil.transfer.Transferrer.cycle() over sealed segment rows
    in its own SQLite index (rows made as the recorder makes them, the files hard links to the
    same data), uploading through S3Target.put_file (HEAD, one checksummed streamed PUT, HEAD
    to confirm), confirming each segment with its leaf in one transaction, then the manifest.
    Each round gets new segments (a day of their own), so every key is new."""

    def __init__(self, db: Database, xfer: Any, data_dir: Path, cams: list[tuple[int, int]]):
        self.db = db
        self.xfer = xfer
        self.data_dir = data_dir
        self.cams = cams
        self.day = 0
        self.seq = 0

    @classmethod
    async def open(cls, server: Any, root: Path, args: argparse.Namespace) -> SurveilPath:
        from index import cameras, runs
        from surveil.central.s3 import S3Target
        from surveil.clock import SystemClock
        from surveil.config import TransferConfig
        from surveil.transfer import Transferrer

        data_dir = root / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
        cams: list[tuple[int, int]] = []
        for c in range(TRANSFER_CAMERAS):
            name = f"cam{c:03d}"

            async def add(s: AsyncSession, name: str = name) -> tuple[int, int]:
                cam = await cameras.ensure_camera(
                    s, name, f"rtsp://127.0.0.1:8554/{name}", ["A01"], True, T0_US
                )
                return cam.id, await runs.start_run(s, cam.id, T0_US, "connected")

            cams.append(await db.write(add))
        cfg = TransferConfig(
            target="s3", endpoint=server.endpoint, bucket=BUCKET,
            max_mbit_s=args.max_mbit_s or 100_000.0, concurrency=args.concurrency,
            timeout_seconds=args.timeout,
        )  # fmt: skip
        target = await S3Target.open(
            endpoint=server.endpoint, bucket=BUCKET, prefix="surveil", region="us-east-1",
            access_key=server.access_key, secret_key=server.secret_key, lock_days=None,
            timeout_s=args.timeout,
        )  # fmt: skip
        await target.check()
        xfer = Transferrer(db, Volumes.single(data_dir), SystemClock(), cfg, target)
        return cls(db, xfer, data_dir, cams)

    async def prepare(self, files: list[UploadFile]) -> None:
        """Sealed segment rows for the files, on a day of their own (untimed)."""
        from index import segments
        from index.records import SegmentRow
        from segmenter.paths import segment_path

        self.day += 1
        for i, f in enumerate(files):
            cam_id, run_id = self.cams[f.camera]
            start = T0_US + self.day * DAY_US + (i // TRANSFER_CAMERAS) * SEG_US
            rel = segment_path(f"cam{f.camera:03d}", start, run_id, self.seq)
            (self.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(f.path, self.data_dir / rel)
            opened = SegmentRow(
                camera_id=cam_id, run_id=run_id, sequence=self.seq, path=rel, start_us=start,
                end_us=start + SECOND, duration_us=SECOND, bytes=0, sha256=None, state="open",
                video_codec="h264", audio_codec="aac", fragments=1, clock_sync="synced",
                camera_clock_offset_us=None, created_us=start, sealed_us=None,
            )  # fmt: skip
            sealed = SegmentRow(**{**asdict(opened), "end_us": start + SEG_US,
                                   "duration_us": SEG_US, "bytes": f.size, "sha256": f.sha256,
                                   "state": "sealed", "fragments": 60,
                                   "sealed_us": start + SEG_US})  # fmt: skip
            await self.db.write(functools.partial(segments.open_segment, row=opened))
            await self.db.write(functools.partial(segments.update_segment, row=sealed))
            self.seq += 1

    async def run(self, files: list[UploadFile]) -> None:
        confirmed = await self.xfer.cycle()
        if confirmed != len(files):
            raise SystemExit(
                f"transfer check FAILED: {confirmed} of {len(files)} confirmed; alarm "
                f"{self.xfer.alarm}"
            )

    async def close(self) -> None:
        await self.xfer.stop()  # closes the target
        await self.db.close()


class PlainPath:
    """The baseline: aiobotocore put_object of the open file, one PUT per file from a pool of
    the same concurrency, no checksum (the cheapest upload that looks correct). With
    checksum, the same PUT carries x-amz-checksum-sha256, as surveil's does (breakdown)."""

    def __init__(self, client: Any, concurrency: int, *, checksum: bool = False) -> None:
        self.client = client
        self.concurrency = concurrency
        self.checksum = checksum
        self.round = 0

    async def prepare(self, files: list[UploadFile]) -> None:
        self.round += 1

    async def run(self, files: list[UploadFile]) -> None:
        import base64

        prefix = "plain-sha256" if self.checksum else "plain"

        async def one(f: UploadFile) -> None:
            extra: dict[str, str] = {}
            if self.checksum:
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(f.sha256)).decode()
            with f.path.open("rb") as body:
                await self.client.put_object(
                    Bucket=BUCKET, Key=f"{prefix}/r{self.round}/{f.path.name}", Body=body,
                    ContentLength=f.size, **extra,
                )  # fmt: skip

        await _pool(files, self.concurrency, one)


class TargetPath:
    """Breakdown: surveil's S3Target.put_file alone (HEAD, checksummed streamed PUT, HEAD),
    from a pool of the same concurrency, without the index or the manifest."""

    def __init__(self, target: Any, concurrency: int, throttle: Any) -> None:
        self.target = target
        self.concurrency = concurrency
        self.throttle = throttle
        self.round = 0

    async def prepare(self, files: list[UploadFile]) -> None:
        self.round += 1

    async def run(self, files: list[UploadFile]) -> None:
        async def one(f: UploadFile) -> None:
            stored = await self.target.put_file(
                f"r{self.round}/{f.path.name}", f.path, sha256=f.sha256, size=f.size,
                throttle=self.throttle,
            )  # fmt: skip
            if stored.size != f.size or stored.sha256 != f.sha256:
                raise SystemExit(f"upload check FAILED for {f.path.name}: {stored}")

        await _pool(files, self.concurrency, one)


Side = SurveilPath | PlainPath | TargetPath


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    out["bench"] = time.process_time()
    return out


async def _timed_side(
    fn: Callable[[], Awaitable[None]], nbytes: int, pids: dict[str, int]
) -> dict[str, Any]:
    """Wall time, MB/s and each process's CPU (in cores) of one side's upload of every file."""
    system = SystemCpu()
    cpu0 = _cpu(pids)
    t = time.perf_counter()
    await fn()
    wall = time.perf_counter() - t
    cpu1 = _cpu(pids)
    return {
        "wall_s": round(wall, 3),
        "mb_s": round(nbytes / 1e6 / wall, 1),
        "cores": {k: round((cpu1[k] - cpu0[k]) / wall, 2) for k in cpu1},
        "system_busy": round(system.busy_fraction(), 3),
    }


async def upload_phase(
    server: Any, files: list[UploadFile], args: argparse.Namespace, label: str,
    pids: dict[str, int], root: Path, *, breakdown: bool,
) -> dict[str, Any]:  # fmt: skip
    """Rounds of every side over the same files, rotating which goes first."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]

    from surveil.central import Throttle
    from surveil.central.s3 import S3Target

    nbytes = sum(f.size for f in files)
    ours = await SurveilPath.open(server, root / label, args)
    target = await S3Target.open(
        endpoint=server.endpoint, bucket=BUCKET, prefix="target", region="us-east-1",
        access_key=server.access_key, secret_key=server.secret_key, lock_days=None,
        timeout_s=args.timeout,
    )  # fmt: skip
    rounds: list[dict[str, Any]] = []
    try:
        async with get_session().create_client(
            "s3", endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            # No checksum of botocore's own (from 1.36 it adds CRC32 when it may).
            config=_s3_config(args.timeout, request_checksum_calculation="when_required"),
        ) as client:  # fmt: skip
            sides: dict[str, Side] = {
                "surveil": ours,
                "plain": PlainPath(client, args.concurrency),
            }
            if breakdown:
                rate = (args.max_mbit_s or 100_000.0) * 125_000
                sides["target"] = TargetPath(target, args.concurrency, Throttle(rate))
                sides["plain_sha256"] = PlainPath(client, args.concurrency, checksum=True)
            warm = files[: args.warmup_files]
            for side in sides.values():
                await side.prepare(warm)
                await side.run(warm)
            names = list(sides)
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                if r % 2 == 1:
                    order.reverse()
                entry: dict[str, Any] = {"round": r, "order": order}
                for name in order:
                    side = sides[name]
                    await side.prepare(files)
                    entry[name] = await _timed_side(
                        functools.partial(side.run, files), nbytes, pids
                    )
                entry["ratio"] = _ratio(entry["surveil"]["mb_s"], entry["plain"]["mb_s"])
                rounds.append(entry)
                cores = ", ".join(f"{k} {v:.2f}" for k, v in entry["surveil"]["cores"].items())
                speeds = ", ".join(f"{n} {entry[n]['mb_s']}" for n in names)
                print(
                    f"  {label} round {r + 1}: MB/s {speeds}; ratio {entry['ratio']}; cores "
                    f"during surveil's: {cores}; machine busy "
                    f"{entry['surveil']['system_busy']:.0%}",
                    flush=True,
                )
    finally:
        await ours.close()
        await target.close()
    total = nbytes * len(rounds) / 1e6
    walls = {n: sum(r[n]["wall_s"] for r in rounds) for n in names}
    out: dict[str, Any] = {
        "rounds": rounds,
        "mb_s": {n: round(total / w, 1) for n, w in walls.items()},
        "surveil_mb_s": round(total / walls["surveil"], 1),
        "plain_mb_s": round(total / walls["plain"], 1),
        "ratio": _ratio(walls["plain"], walls["surveil"]),
        "ratio_median_of_rounds": round(statistics.median(r["ratio"] for r in rounds), 3),
        "cores_mean": {
            n: {
                k: round(statistics.fmean(r[n]["cores"][k] for r in rounds), 2)
                for k in rounds[0][n]["cores"]
            }
            for n in names
        },
    }
    if breakdown:
        out["breakdown"] = {
            "target_over_plain": _ratio(walls["plain"], walls["target"]),
            "plain_sha256_over_plain": _ratio(walls["plain"], walls["plain_sha256"]),
            "surveil_over_target": _ratio(walls["target"], walls["surveil"]),
        }
    print(
        f"  {label}: MB/s over {len(rounds)} rounds {out['mb_s']}: surveil/plain "
        f"{out['ratio']} (median of rounds {out['ratio_median_of_rounds']}); target >= "
        f"{TRANSFER_TARGET_RATIO}: {_verdict((out['ratio'] or 0) >= TRANSFER_TARGET_RATIO)}"
        + (f"; breakdown {out['breakdown']}" if breakdown else ""),
        flush=True,
    )
    return out


def _wait_recording(proc: Any, base: str, token: str, n: int, timeout_s: float) -> float:
    """Seconds until GET /api/v1/cameras shows all n cameras recording (SystemExit if not)."""
    from bench.ingest import api_get

    t = time.monotonic()
    states: dict[str, int] = {}
    while time.monotonic() - t < timeout_s:
        cams = api_get(base, "/api/v1/cameras", token)["cameras"]
        states = {}
        for c in cams:
            states[c["state"]] = states.get(c["state"], 0) + 1
        if states.get("recording", 0) == n:
            return time.monotonic() - t
        if proc.poll() is not None:
            raise SystemExit(f"surveil exited with {proc.returncode}")
        time.sleep(0.5)
    raise SystemExit(f"not all cameras recording after {timeout_s:.0f} s: {states}")


def _frames(base: str, token: str) -> dict[str, dict[str, Any]]:
    from bench.ingest import api_get

    return {c["name"]: c for c in api_get(base, "/api/v1/cameras", token)["cameras"]}


def recording_phase(
    server: Any, files: list[UploadFile], args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """`surveil serve` recording args.cameras cameras on one shared test camera while both
    sides upload; lost frames and interruptions as bench/ingest.py defines them."""
    from bench import ingest
    from tests.cameras import RtspCamera, free_port

    p = ingest.Params(
        cameras=args.cameras, seconds=0.0, warmup_s=args.warmup, width=640, height=360,
        fps=args.fps, gop=args.fps, bitrate_kbps=args.bitrate, segment_seconds=60.0,
        profile_s=0.0,
    )  # fmt: skip
    camera = RtspCamera(
        log_dir=work / "camera", width=p.width, height=p.height, fps=p.fps, gop=p.gop,
        bitrate=p.bitrate_kbps, video="h264", audio="aac", shared=True, name="bench",
    )  # fmt: skip
    (work / "camera").mkdir(parents=True, exist_ok=True)
    root = work / "surveil"
    root.mkdir(parents=True)
    data_dir = root / "data"
    cfg = root / "surveil.toml"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    side = ingest.SideResult("surveil", args.cameras)
    out: dict[str, Any] = {}
    camera.start()
    try:
        ingest.write_config(cfg, data_dir, port, camera.url, args.cameras, p)
        token = ingest.create_token(cfg, root / "token.log")
        proc = ingest.start_service(cfg, root / "surveil.log")
        try:
            ingest.wait_healthy(proc, base, 60)
            side.started = True
            out["startup_s"] = round(
                _wait_recording(proc, base, token, args.cameras, 60 + args.cameras), 1
            )
            side.all_recording = True
            time.sleep(p.warmup_s)
            assert camera.pid is not None
            pids = {"surveil": proc.pid, "weed": server.pid, "camera": camera.pid}
            # Recording alone, for comparison: what the cameras cost before any upload.
            idle = asyncio.run(
                _timed_side(lambda: asyncio.sleep(args.idle_seconds), 0, pids)
            ) if args.idle_seconds > 0 else None  # fmt: skip
            if idle is not None:
                idle.pop("mb_s")
                out["recording_only"] = idle
                print(f"  recording only ({args.idle_seconds:g} s): cores {idle['cores']}; "
                      f"machine busy {idle['system_busy']:.0%}", flush=True)  # fmt: skip
            before = _frames(base, token)
            t0 = time.monotonic()
            out["uploads"] = asyncio.run(
                upload_phase(server, files, args, "recording", pids, work, breakdown=False)
            )
            elapsed = time.monotonic() - t0
            after = _frames(base, token)
            fps = [
                (after[n]["frames"] - before[n]["frames"]) / elapsed for n in after if n in before
            ]
            side.window_fps_min = round(min(fps), 2) if fps else None
            side.window_fps_median = round(statistics.median(fps), 2) if fps else None
            p99 = [c["freshness_p99_s"] for c in after.values() if c["freshness_p99_s"] is not None]
            side.freshness_p99_s_max = round(max(p99), 3) if p99 else None
            not_recording = [n for n, c in after.items() if c["state"] != "recording"]
            if not_recording:
                side.interruptions.append(f"not recording after the uploads: {not_recording}")
            out["upload_window_s"] = round(elapsed, 1)
        finally:
            side.exit_codes = ingest.stop_processes([proc], 60 + args.cameras * 0.5)
        ingest.check_index(side, data_dir, args.cameras, p)
    finally:
        camera.stop()
    keeps_up = side.window_fps_min is not None and side.window_fps_min >= ingest.KEEP_UP * p.fps
    out["recording"] = {
        "cameras": args.cameras,
        "lost_frames": side.lost_frames,
        "cameras_with_loss": side.cameras_with_loss,
        "interruptions": side.interruptions,
        "frames_median": side.frames_median,
        "window_fps_min": side.window_fps_min,
        "window_fps_median": side.window_fps_median,
        "keeps_up": keeps_up,
        "freshness_p99_s_max": side.freshness_p99_s_max,
        "exit_codes": side.exit_codes,
        "notes": side.notes,
    }
    print(
        f"  recording {args.cameras} cameras during the uploads: lost frames {side.lost_frames} "
        f"({side.cameras_with_loss} cameras), interruptions {len(side.interruptions)}, window "
        f"fps min {side.window_fps_min} (keeps up: {keeps_up}), freshness p99 max "
        f"{side.freshness_p99_s_max} s",
        flush=True,
    )
    for msg in side.interruptions[:10]:
        print(f"    interruption: {msg}")
    return out


def transfer_main(args: argparse.Namespace) -> dict[str, Any]:
    from bench.ingest import LOSS_DEFINITION
    from tests.cameras import gst_available
    from tests.s3server import SeaweedS3

    if args.cameras > 0 and not gst_available():
        raise SystemExit("GstRtspServer bindings for /usr/bin/python3 are missing (--cameras 0)")
    print(
        "  through surveil: surveil.transfer.Transferrer.cycle() (concurrency "
        f"{args.concurrency}, its own SQLite index, S3Target); plain: aiobotocore "
        "put_object(Body=open file) from a pool of the same concurrency"
    )
    print(f"  {LOSS_DEFINITION}")
    work = Path(tempfile.mkdtemp(prefix="surveil-bench-transfer-"))
    out: dict[str, Any] = {"path": "Transferrer.cycle()", "work_dir": str(work)}
    server = SeaweedS3(work / "seaweed")
    try:
        t = time.perf_counter()
        files = make_upload_files(work / "files", args)
        total = sum(f.size for f in files)
        out["files"] = {"count": len(files), "bytes": total,
                        "mb_each_min_max": [round(min(f.size for f in files) / 1e6, 1),
                                            round(max(f.size for f in files) / 1e6, 1)],
                        "make_s": round(time.perf_counter() - t, 1)}  # fmt: skip
        print(f"  {len(files)} files, {total / 1e6:.0f} MB ({out['files']['mb_each_min_max']} "
              f"MB each)", flush=True)  # fmt: skip
        server.start()
        server.make_bucket(BUCKET)
        out["weed"] = subprocess.run(
            [str(server.command()[0]), "version"], capture_output=True, text=True
        ).stdout.strip()
        assert server.pid is not None
        if args.quiet:
            print("\n== uploads, nothing else running", flush=True)
            out["quiet"] = asyncio.run(
                upload_phase(
                    server,
                    files,
                    args,
                    "quiet",
                    {"weed": server.pid},
                    work,
                    breakdown=args.breakdown,
                )
            )
        if args.cameras > 0:
            print(f"\n== uploads while surveil records {args.cameras} cameras", flush=True)
            out["recording"] = recording_phase(server, files, args, work)
    finally:
        server.kill()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    _print_transfer(out, args)
    return out


def _print_transfer(out: dict[str, Any], args: argparse.Namespace) -> None:
    print("\ntransfer summary:")
    for key in ("quiet", "recording"):
        ph = out.get(key)
        if ph is None:
            continue
        up = ph["uploads"] if key == "recording" else ph
        print(
            f"  {key:<10} surveil {up['surveil_mb_s']:>7} MB/s  plain {up['plain_mb_s']:>7} "
            f"MB/s  ratio {up['ratio']}  target >= {TRANSFER_TARGET_RATIO}: "
            f"{_verdict((up['ratio'] or 0) >= TRANSFER_TARGET_RATIO)}"
        )
    rec = out.get("recording", {}).get("recording")
    if rec is not None:
        print(
            f"  {rec['cameras']} cameras: lost frames {rec['lost_frames']}, interruptions "
            f"{len(rec['interruptions'])}: target 0 lost frames: "
            f"{_verdict(rec['lost_frames'] == 0 and not rec['interruptions'])}"
        )


# == main =======================================================================================


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("retention", help="a retention pass over N segments on both backends")
    r.add_argument("--segments", type=int, default=10_000_000, help="segment rows N")
    r.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    r.add_argument("--cameras", type=int, default=20)
    r.add_argument(
        "--eligible-fraction", type=float, default=0.01, help="share past retention (0.01)"
    )
    r.add_argument(
        "--hold-every-min", type=float, default=30.0, help="mean minutes between receipt holds"
    )
    r.add_argument(
        "--open-case-fraction",
        type=float,
        default=0.05,
        help="share of receipt holds with no expiry (their case is open)",
    )
    r.add_argument("--legal-holds", type=int, default=3)
    r.add_argument("--damaged", type=int, default=20, help="damaged segments past retention")
    r.add_argument("--batch", type=int, default=500, help="Retention batch (the service's 500)")
    r.add_argument(
        "--files-segments",
        type=int,
        default=None,
        help="N of the run with real files for the eligible segments (default N/10; 0: skip)",
    )
    r.add_argument("--file-bytes", type=int, default=1024, help="size of each real file")
    r.add_argument(
        "--second-pass-budget-s",
        type=float,
        default=300.0,
        help="skip the traced second pass when the first took longer than this",
    )
    r.add_argument("--no-flatness", dest="flatness", action="store_false", help="skip the N/10 run")
    r.add_argument("--no-log", dest="log", action="store_false", help="do not fill the Merkle log")
    r.add_argument(
        "--require-central",
        action="store_true",
        help="transfer configured: a confirmed transfer row for every segment",
    )
    r.add_argument(
        "--what-if",
        nargs="+",
        choices=("bounds", "no-leaf-join"),
        default=[],
        help="measure changes to index/retention.py proposed in bench/README.md before they "
        "are made, by patching it in this process: bounds (cut-off bounds on the segment scan "
        "and the hold test), no-leaf-join (deletion records without the log_leaves join)",
    )
    r.add_argument("--seed", type=int, default=1)
    t = sub.add_parser("transfer", help="upload throughput to SeaweedFS against a plain loop")
    t.add_argument("--files", type=int, default=40, help="files M (default 40)")
    t.add_argument("--min-mb", type=float, default=7.5, help="smallest file, MB (60 s at 1 Mbit/s)")
    t.add_argument("--max-mb", type=float, default=30.0, help="largest file, MB (60 s at 4 Mbit/s)")
    t.add_argument(
        "--concurrency", type=int, default=2, help="uploads at a time (transfer default)"
    )
    t.add_argument("--rounds", type=int, default=3, help="rounds of both sides per phase")
    t.add_argument("--warmup-files", type=int, default=4, help="untimed uploads per side first")
    t.add_argument(
        "--max-mbit-s", type=float, default=None, help="surveil's Throttle (default: none)"
    )
    t.add_argument("--timeout", type=float, default=30.0, help="S3 timeout_s (transfer default)")
    t.add_argument("--cameras", type=int, default=20, help="cameras recording meanwhile (0: none)")
    t.add_argument("--fps", type=int, default=25)
    t.add_argument("--bitrate", type=int, default=1000, help="camera video kbit/s")
    t.add_argument("--warmup", type=float, default=5.0, help="seconds after all cameras record")
    t.add_argument("--idle-seconds", type=float, default=10.0, help="recording-only window")
    t.add_argument(
        "--no-quiet", dest="quiet", action="store_false", help="skip the phase without cameras"
    )
    t.add_argument(
        "--no-breakdown",
        dest="breakdown",
        action="store_false",
        help="without cameras, time only surveil and plain (not S3Target alone, plain+sha256)",
    )
    t.add_argument("--keep", action="store_true", help="keep the work directory")
    t.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.mode == "retention":
        if args.files_segments is None:
            args.files_segments = args.segments // 10
        if args.segments < 2 * args.cameras or not 0 < args.eligible_fraction < 1:
            ap.error("--segments must be at least 2 per camera, --eligible-fraction in (0, 1)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    info["sqlite"] = sqlite3.sqlite_version
    print("machine:", json.dumps(info))
    print("parameters:", json.dumps(vars(args)))
    t = time.perf_counter()
    results = retention_main(args) if args.mode == "retention" else transfer_main(args)
    data = {
        "benchmark": f"storage-{args.mode}",
        "machine": info,
        "parameters": vars(args),
        "results": results,
        "wall_s": round(time.perf_counter() - t, 1),
        "loadavg_at_end": os.getloadavg(),
    }
    path = write_result(f"storage-{args.mode}", data)
    print(f"\nresult: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
