"""Integrity at scale: Merkle log appends and proofs on a bulk-filled log, and verify throughput.

See bench/README.md ("integrity"). Per backend: fills a fresh index's Merkle log with
synthetic leaves hashed in memory (tlog.hashing.CompactRange, streamed in batches through
index.bulk.bulk_log) and checks its stored root, then times index.merkle.append_leaf one
leaf per transaction and many per transaction, and inclusion and consistency proofs (a
sample verified with tlog.proofs) against a primary-key point read of log_hashes. Then, on
SQLite, builds an archive of sealed segment files with real rows and times `surveil verify
--data` against `sha256sum` over the same files.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import hashlib
import json
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.common import CORES, REPO, SystemCpu, machine_info, percentile, write_result
from index import bulk, cameras, merkle, runs, segments
from index.db import Database
from index.models import LogHash
from index.records import SegmentRow
from segmenter.paths import segment_path
from surveil.checkpoints import Checkpointer
from surveil.clock import SystemClock
from surveil.log_key import open_log_key
from tlog import leaves
from tlog.hashing import CompactRange, leaf_hash
from tlog.proofs import ProofError, verify_consistency, verify_inclusion

SECOND = 1_000_000
T0_US = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
LEAF_STEP_US = 1000  # synthetic leaves are 1 ms apart
FILL_BATCH_LEAVES = 10_000  # ~20 000 rows (a leaf and ~1 subtree hash each) a transaction
WARMUP = 50
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_DB = "test_bench"
SEGMENT_US = 60 * SECOND


def synthetic_leaf(idx: int) -> bytes:
    """The canonical leaf of synthetic entry idx, formatted directly (checked against
    tlog.leaves.canonical in main): ~60 bytes, so 10 M leaves stay small on disk."""
    return b'{"at_us":%d,"id":%d,"kind":"audit","v":1}' % (T0_US + idx * LEAF_STEP_US, idx + 1)


def _check_leaf_format() -> None:
    for idx in (0, 1, 12345, 9_999_999):
        want = leaves.canonical(
            {"kind": "audit", "v": 1, "id": idx + 1, "at_us": T0_US + idx * LEAF_STEP_US}
        )
        assert synthetic_leaf(idx) == want, (synthetic_leaf(idx), want)


class Busy:
    """How busy the whole machine was since creation, and the bench process's own share
    (it counts: its event loop and the aiosqlite thread). The rest is the database
    server and whatever else shares the machine."""

    def __init__(self) -> None:
        self._system = SystemCpu()
        self._t = time.perf_counter()
        self._cpu = time.process_time()

    def shares(self) -> dict[str, float]:
        wall = max(1e-9, time.perf_counter() - self._t)
        own = (time.process_time() - self._cpu) / (wall * CORES)
        return {"system_busy": round(self._system.busy_fraction(), 3), "bench_share": round(own, 3)}


def _stats(ms: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "p50_ms": r(percentile(ms, 0.50)),
        "p99_ms": r(percentile(ms, 0.99)),
        "max_ms": r(max(ms) if ms else None),
        "mean_ms": r(statistics.fmean(ms) if ms else None),
        "n": len(ms),
    }


# -- fill --------------------------------------------------------------------------------


class Fill:
    """Streams the synthetic log as index.bulk.LogBatch: the rows append_leaf would write,
    hashed with CompactRange as it goes, so no more than one batch is ever held."""

    def __init__(self, count: int, batch_leaves: int = FILL_BATCH_LEAVES) -> None:
        self.leaves = count
        self.batch_leaves = batch_leaves
        self.range = CompactRange()
        self.hash_rows = 0
        self.leaf_bytes = 0
        self.compute_s = 0.0  # time spent building rows, not in the database
        self._t0 = 0.0
        self._next_report = 0

    def batches(self) -> Iterator[bulk.LogBatch]:
        self._t0 = time.perf_counter()
        self._next_report = max(1_000_000, self.leaves // 10)
        cr = self.range
        for start in range(0, self.leaves, self.batch_leaves):
            t = time.perf_counter()
            leaf_rows: list[dict[str, object]] = []
            hash_rows: list[dict[str, object]] = []
            for idx in range(start, min(self.leaves, start + self.batch_leaves)):
                leaf = synthetic_leaf(idx)
                digest = leaf_hash(leaf)
                cr, made = cr.append(digest)
                leaf_rows.append(
                    {
                        "idx": idx,
                        "kind": leaves.KIND_AUDIT,
                        "ref_id": idx + 1,
                        "leaf": leaf,
                        "leaf_hash": digest,
                        "appended_us": T0_US + idx * LEAF_STEP_US,
                    }
                )
                # made[0] is the leaf itself: its hash is stored in log_leaves only.
                hash_rows.extend({"level": lv, "idx": i, "hash": h} for lv, i, h in made[1:])
                self.leaf_bytes += len(leaf)
            self.range = cr
            self.hash_rows += len(hash_rows)
            self.compute_s += time.perf_counter() - t
            yield bulk.LogBatch(leaf_rows, hash_rows, cr.size, b"".join(cr.roots))
            if cr.size >= self._next_report:
                self._next_report += max(1_000_000, self.leaves // 10)
                el = time.perf_counter() - self._t0
                print(
                    f"    {cr.size:>11} leaves in {el:8.1f} s ({cr.size / el:,.0f} leaves/s)",
                    flush=True,
                )


async def fill(db: Database, n: int) -> tuple[CompactRange, dict[str, Any]]:
    f = Fill(n)
    t = time.perf_counter()
    n_leaves, n_hashes = await bulk.bulk_log(db, f.batches())
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    await bulk.analyze(db)
    analyze_s = time.perf_counter() - t
    t = time.perf_counter()
    async with db.read() as s:
        size = await merkle.log_size(s)
        stored = await merkle.root_at(s, n)
    root_s = time.perf_counter() - t
    want = f.range.root()
    if size != n or stored != want:
        raise SystemExit(
            f"fill check FAILED: log_size {size} (want {n}), root_at {stored.hex()} "
            f"(in memory {want.hex()})"
        )
    # root_at reads only the compact range's subtrees; the counts catch rows that never
    # arrived. A tree of n leaves has 2n - popcount(n) complete subtrees, n of them leaves.
    async with db.read() as s:
        rows = [
            (await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("log_leaves", "log_hashes")
        ]
    if rows != [n, n - n.bit_count()]:
        raise SystemExit(
            f"fill check FAILED: {rows[0]} leaves and {rows[1]} subtree hashes stored, not "
            f"{n} and {n - n.bit_count()}"
        )
    out = {
        "leaves": n_leaves,
        "hash_rows": n_hashes,
        "leaf_bytes_mean": round(f.leaf_bytes / max(1, n_leaves), 1),
        "load_s": round(load_s, 2),
        "compute_s": round(f.compute_s, 2),
        "analyze_s": round(analyze_s, 2),
        "leaves_per_s": round(n_leaves / load_s) if load_s else None,
        "root": want.hex(),
        "root_check": "ok",
        "root_at_full_ms": round(root_s * 1000, 3),
    }
    print(
        f"  filled {n_leaves} leaves + {n_hashes} subtree hashes in {load_s:.1f} s "
        f"(row building {f.compute_s:.1f} s, {out['leaves_per_s']} leaves/s; analyze "
        f"{analyze_s:.1f} s); mean leaf {out['leaf_bytes_mean']} B; "
        f"root_at({n}) = in-memory root: ok",
        flush=True,
    )
    return f.range, out


# -- appends -----------------------------------------------------------------------------


async def measure_appends(
    db: Database, mirror: CompactRange, n: int, per_tx: int
) -> tuple[CompactRange, dict[str, Any]]:
    """append_leaf through Database.write: one leaf per transaction, then per_tx per
    transaction. mirror follows in memory (untimed) so the stored root can be checked."""

    async def one(s: AsyncSession, idx: int, leaf: bytes) -> int:
        return await merkle.append_leaf(s, leaves.KIND_AUDIT, idx + 1, leaf, T0_US)

    # One leaf per transaction: the seal/audit pattern, commit included.
    lat: list[float] = []
    t_all = time.perf_counter()
    for _ in range(n):
        idx = mirror.size
        leaf = synthetic_leaf(idx)
        t = time.perf_counter()
        got = await db.write(functools.partial(one, idx=idx, leaf=leaf))
        lat.append((time.perf_counter() - t) * 1000)
        assert got == idx, (got, idx)
        mirror, _ = mirror.append(leaf_hash(leaf))
    single_wall = time.perf_counter() - t_all

    # per_tx leaves per transaction: the append's own cost, and amortised with the commit.
    own: list[float] = []
    commit_ms: list[float] = []
    t_all = time.perf_counter()
    done = 0
    while done < n:
        k = min(per_tx, n - done)
        start = mirror.size
        batch = [synthetic_leaf(start + j) for j in range(k)]

        async def many(s: AsyncSession, start: int = start, batch: list[bytes] = batch) -> None:
            for j, leaf in enumerate(batch):
                t = time.perf_counter()
                got = await one(s, start + j, leaf)
                own.append((time.perf_counter() - t) * 1000)
                assert got == start + j, (got, start + j)

        t = time.perf_counter()
        before = len(own)
        await db.write(many)
        tx_ms = (time.perf_counter() - t) * 1000
        commit_ms.append(tx_ms - sum(own[before:]))  # queue hop + BEGIN + commit
        for leaf in batch:
            mirror, _ = mirror.append(leaf_hash(leaf))
        done += k
    batched_wall = time.perf_counter() - t_all

    async with db.read() as s:
        size = await merkle.log_size(s)
        stored = await merkle.root_at(s, mirror.size)
    if size != mirror.size or stored != mirror.root():
        raise SystemExit(
            f"append check FAILED: log_size {size} (want {mirror.size}), "
            f"root_at differs from the in-memory root"
        )
    out = {
        "one_per_tx": {
            "appends": n,
            "ms_per_leaf_amortised": round(single_wall * 1000 / n, 4) if n else None,
            "latency": _stats(lat),
        },
        "batched": {
            "appends": n,
            "per_tx": per_tx,
            "ms_per_leaf_amortised": round(batched_wall * 1000 / n, 4) if n else None,
            "append_own": _stats(own),
            "rest_of_tx_ms_mean": round(statistics.fmean(commit_ms), 3) if commit_ms else None,
        },
        "size_after": mirror.size,
        "root_check": "ok",
    }
    return mirror, out


# -- proofs ------------------------------------------------------------------------------


async def proof_plans(db: Database, size: int) -> dict[str, Any]:
    """The query plans of the SELECTs one inclusion proof at the full size runs, captured
    as the driver sees them and EXPLAINed with the same parameters: a proof that scans a
    log table costs O(n), whatever the timings at small sizes say (SQLite scans for a
    row-value IN, for one)."""
    seen: list[tuple[str, Any]] = []

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(Engine, "before_cursor_execute", grab)
    try:
        async with db.read() as s:
            await merkle.inclusion(s, size // 3, size)
    finally:
        event.remove(Engine, "before_cursor_execute", grab)
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    scan = "SCAN log_" if db.dialect == "sqlite" else "Seq Scan on log_"
    plans = []
    async with db.read() as s:
        conn = await s.connection()
        for statement, params in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = (await conn.exec_driver_sql(explain + statement, params)).all()
            plan = [str(row[-1]) for row in rows]
            short = " ".join(statement.split())
            plans.append(
                {"statement": short[:160] + ("..." if len(short) > 160 else ""), "plan": plan}
            )
    return {
        "statements": plans,
        "scans_log_table": any(line.strip().startswith(scan) for p in plans for line in p["plan"]),
    }


async def _proof_call_s(db: Database, size: int, rng: random.Random) -> float:
    """Seconds one inclusion proof at the full size takes (mean of 3), to size the run."""
    t = time.perf_counter()
    for _ in range(3):
        async with db.read() as s:
            await merkle.inclusion(s, rng.randrange(size), size)
    return (time.perf_counter() - t) / 3


def fit_queries(queries: int, sample: int, call_s: float, budget_s: float) -> tuple[int, int]:
    """(queries, sample) so the proof phase stays within budget_s: up to 2 proofs per
    query and warm-up, and 3 root_at (as costly as a proof) per verified sample, in all at
    most 7 proof-sized reads per query."""
    calls = 2 * (queries + min(WARMUP, queries)) + 3 * min(sample, queries)
    if call_s * calls <= budget_s:
        return queries, sample
    q = max(5, int(budget_s / (7 * call_s)))
    return q, min(sample, q)


async def _point_read(db: Database, level: int, idx: int) -> float:
    async with db.read() as s:
        t = time.perf_counter()
        stmt = select(LogHash.hash).where(LogHash.level == level, LogHash.idx == idx)
        got = (await s.execute(stmt)).scalar_one()
        ms = (time.perf_counter() - t) * 1000
    assert len(got) == 32
    return ms


async def measure_proofs(
    db: Database, size: int, queries: int, sample: int, rng: random.Random
) -> dict[str, Any]:
    """Point read, inclusion and consistency proof, alternated query by query so all three
    see the same cache state; each in its own read session, as a request would be."""
    incl_q = []
    warmup = min(WARMUP, queries)
    for _ in range(queries + warmup):
        m = rng.randint(1, size)
        incl_q.append((rng.randrange(m), m))
    cons_q = []
    for _ in range(queries + warmup):
        second = rng.randint(1, size)
        cons_q.append((rng.randint(1, second), second))
    point_q = [rng.randrange(size // 2) for _ in range(queries + warmup)]

    point_ms: list[float] = []
    incl_ms: list[float] = []
    cons_ms: list[float] = []
    incl_len: list[int] = []
    cons_len: list[int] = []
    kept_incl: list[tuple[int, int, list[bytes]]] = []
    kept_cons: list[tuple[int, int, list[bytes]]] = []
    for q in range(queries + warmup):
        timed = q >= warmup
        ms = await _point_read(db, 1, point_q[q])
        if timed:
            point_ms.append(ms)
        i, m = incl_q[q]
        async with db.read() as s:
            t = time.perf_counter()
            proof = await merkle.inclusion(s, i, m)
            ms = (time.perf_counter() - t) * 1000
        if timed:
            incl_ms.append(ms)
            incl_len.append(len(proof))
            if len(kept_incl) < sample:
                kept_incl.append((i, m, proof))
        a, b = cons_q[q]
        async with db.read() as s:
            t = time.perf_counter()
            proof = await merkle.consistency(s, a, b)
            ms = (time.perf_counter() - t) * 1000
        if timed:
            cons_ms.append(ms)
            cons_len.append(len(proof))
            if len(kept_cons) < sample:
                kept_cons.append((a, b, proof))

    # The numbers are for correct proofs: check a sample against root_at (and that a wrong
    # root is refused, so the check can fail).
    failures: list[str] = []
    root_ms: list[float] = []

    async def root(s: AsyncSession, m: int) -> bytes:
        t = time.perf_counter()
        r = await merkle.root_at(s, m)
        root_ms.append((time.perf_counter() - t) * 1000)
        return r

    async with db.read() as s:
        for i, m, proof in kept_incl:
            rec = await merkle.leaf_at(s, i)
            if leaf_hash(rec.leaf) != rec.leaf_hash:
                failures.append(f"leaf {i}: stored leaf_hash is not SHA-256(0x00 || leaf)")
            try:
                verify_inclusion(i, m, rec.leaf_hash, proof, await root(s, m))
            except ProofError as exc:
                failures.append(f"inclusion ({i}, {m}): {exc}")
        for a, b, proof in kept_cons:
            try:
                verify_consistency(a, b, await root(s, a), await root(s, b), proof)
            except ProofError as exc:
                failures.append(f"consistency ({a}, {b}): {exc}")
        tamper_refused = False
        if kept_incl:
            i, m, proof = kept_incl[0]
            bad = bytearray(await merkle.root_at(s, m))
            bad[0] ^= 1
            try:
                verify_inclusion(i, m, (await merkle.leaf_at(s, i)).leaf_hash, proof, bytes(bad))
            except ProofError:
                tamper_refused = True
    if failures:
        raise SystemExit("proof check FAILED:\n  " + "\n  ".join(failures[:20]))

    point, incl, cons = _stats(point_ms), _stats(incl_ms), _stats(cons_ms)

    def ratio(st: dict[str, float | None], key: str) -> float | None:
        v, base = st[key], point[key]
        return None if v is None or not base else round(v / base, 2)

    return {
        "point_read": point,
        "inclusion": incl,
        "consistency": cons,
        "root_at": _stats(root_ms),
        "inclusion_over_point_read": {"p50": ratio(incl, "p50_ms"), "p99": ratio(incl, "p99_ms")},
        "consistency_over_point_read": {
            "p50": ratio(cons, "p50_ms"),
            "p99": ratio(cons, "p99_ms"),
        },
        "proof_hashes_mean": {
            "inclusion": round(statistics.fmean(incl_len), 1) if incl_len else None,
            "consistency": round(statistics.fmean(cons_len), 1) if cons_len else None,
        },
        "verified": {
            "inclusion": len(kept_incl),
            "consistency": len(kept_cons),
            "failures": 0,
            "wrong_root_refused": tamper_refused,
        },
    }


# -- one backend -------------------------------------------------------------------------


async def _proof_phase(db: Database, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """measure_proofs with the same seed each time (a what-if run sees the same queries),
    within --proof-budget-s: a proof that scans log_hashes takes seconds at 10 M leaves."""
    t, busy = time.perf_counter(), Busy()
    call_s = await _proof_call_s(db, size, random.Random(args.seed))
    queries, sample = fit_queries(args.queries, args.verify_sample, call_s, args.proof_budget_s)
    if queries < args.queries:
        print(
            f"  REDUCED: one proof takes {call_s:.2f} s, so {queries} queries and {sample} "
            f"verified (not {args.queries}) to stay within {args.proof_budget_s:.0f} s",
            flush=True,
        )
    out = await measure_proofs(db, size, queries, sample, random.Random(args.seed))
    out["queries_run"] = queries
    out["probe_proof_s"] = round(call_s, 4)
    out["wall_s"] = round(time.perf_counter() - t, 1)
    out.update(busy.shares())
    return out


async def _pg_admin(sql: str) -> Any:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"\n== {backend}: {args.leaves} leaves, {args.appends} appends x 2, {args.queries} queries",
        flush=True,
    )
    tmp = tempfile.TemporaryDirectory(prefix="surveil-bench-integrity-")
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp.name}/index.db"
    else:
        await _pg_admin(f"DROP DATABASE IF EXISTS {PG_DB}")
        await _pg_admin(f"CREATE DATABASE {PG_DB}")
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
    out: dict[str, Any] = {}

    def done(key: str, t: float, busy: Busy) -> None:
        # The machine may be shared: each phase says how busy all of it was meanwhile.
        out[key]["wall_s"] = round(time.perf_counter() - t, 1)
        out[key].update(busy.shares())

    try:
        db = await Database.open(url)
        try:
            t, busy = time.perf_counter(), Busy()
            mirror, out["fill"] = await fill(db, args.leaves)
            done("fill", t, busy)
            t, busy = time.perf_counter(), Busy()
            mirror, out["appends"] = await measure_appends(db, mirror, args.appends, args.per_tx)
            done("appends", t, busy)
            a = out["appends"]
            print(
                f"  appends: one per tx {a['one_per_tx']['ms_per_leaf_amortised']} ms/leaf, "
                f"{args.per_tx} per tx {a['batched']['ms_per_leaf_amortised']} ms/leaf; "
                f"root_at({mirror.size}) = in-memory root: ok",
                flush=True,
            )
            out["proof_plans"] = await proof_plans(db, mirror.size)
            for st in out["proof_plans"]["statements"]:
                plan = " | ".join(line.strip() for line in st["plan"][:3])
                print(f"  plan of {st['statement'][:50]}...: {plan[:110]}")
            out["proofs"] = await _proof_phase(db, mirror.size, args)
            out["log_size"] = mirror.size
        finally:
            await db.close()
        if backend == "sqlite":
            files = [Path(tmp.name, n) for n in ("index.db", "index.db-wal")]
            size = sum(p.stat().st_size for p in files if p.exists())
            out["sqlite_file_mib"] = round(size / 2**20, 1)
        else:
            size = await _pg_admin(f"SELECT pg_database_size('{PG_DB}')")
            out["pg_database_mib"] = round(int(size) / 2**20, 1)
    finally:
        tmp.cleanup()
        if backend == "postgresql":
            await _pg_admin(f"DROP DATABASE IF EXISTS {PG_DB}")
    return out


# -- verify throughput -------------------------------------------------------------------


async def build_archive(
    data_dir: Path, total_mb: int, file_mb: int, n_cameras: int, seed: int
) -> list[tuple[str, str, int]]:
    """Sealed segments with random bytes and their rows, made as the recorder makes them
    (camera, run, open_segment, then update_segment to sealed, which also logs the leaf);
    (relative path, sha256, bytes) of each file. The log key is made as the service's
    first start makes it, and a checkpoint signed as its shutdown does: verify checks the
    log against its checkpoints with that key."""
    rng = random.Random(seed)
    signer = open_log_key(data_dir)
    file_bytes = file_mb * 2**20
    n_files = max(1, total_mb * 2**20 // file_bytes)
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    made: list[tuple[str, str, int]] = []
    try:
        cams: list[tuple[str, int, int]] = []
        for c in range(n_cameras):
            name = f"bench{c:02d}"

            async def add(s: AsyncSession, name: str = name) -> tuple[int, int]:
                cam = await cameras.ensure_camera(
                    s, name, f"rtsp://127.0.0.1:8554/{name}", ["A01"], True, T0_US
                )
                return cam.id, await runs.start_run(s, cam.id, T0_US, "connected")

            cam_id, run_id = await db.write(add)
            cams.append((name, cam_id, run_id))
        for k in range(n_files):
            name, cam_id, run_id = cams[k % n_cameras]
            seq = k // n_cameras
            start = T0_US + seq * SEGMENT_US
            rel = segment_path(name, start, run_id, seq)
            data = rng.randbytes(file_bytes)
            path = data_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            opened = SegmentRow(
                camera_id=cam_id,
                run_id=run_id,
                sequence=seq,
                path=rel,
                start_us=start,
                end_us=start + SECOND,
                duration_us=SECOND,
                bytes=file_bytes // 60,
                sha256=None,
                state="open",
                video_codec="h264",
                audio_codec="aac",
                fragments=1,
                clock_sync="synced",
                camera_clock_offset_us=None,
                created_us=start,
                sealed_us=None,
            )
            sealed = dataclasses.replace(
                opened,
                end_us=start + SEGMENT_US,
                duration_us=SEGMENT_US,
                bytes=file_bytes,
                sha256=sha,
                state="sealed",
                fragments=60,
                sealed_us=start + SEGMENT_US,
            )
            await db.write(functools.partial(segments.open_segment, row=opened))
            await db.write(functools.partial(segments.update_segment, row=sealed))
            made.append((rel, sha, file_bytes))
        async with db.read() as s:
            logged = await merkle.log_size(s)
        assert logged == n_files, (logged, n_files)
        await Checkpointer(db, SystemClock(), signer.name, [signer]).issue()
    finally:
        await db.close()
    return made


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, child CPU s, result) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def measure_verify(args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"\n== verify: {args.verify_mb} MB of {args.segment_mb} MB segment files, SQLite "
        f"index, {args.verify_rounds} rounds",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="surveil-bench-verify-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        t = time.perf_counter()
        made = asyncio.run(
            build_archive(data_dir, args.verify_mb, args.segment_mb, args.cameras, args.seed)
        )
        build_s = time.perf_counter() - t
        total = sum(b for _, _, b in made)
        mb = total / 1e6
        print(f"  built {len(made)} files, {total / 2**20:.0f} MiB, in {build_s:.1f} s", flush=True)
        rels = [rel for rel, _, _ in made]
        sha_cmd = ["sha256sum", "--", *rels]
        verify_cmd = [sys.executable, "-m", "surveil", "verify", "--data", str(data_dir)]

        # Warm the page cache, and check sha256sum agrees with the rows.
        _, _, warm = _timed(sha_cmd, data_dir)
        got = {rel: h for h, rel in (ln.split(None, 1) for ln in warm.stdout.splitlines())}
        bad = [rel for rel, sha, _ in made if got.get(rel) != sha]
        if warm.returncode != 0 or bad:
            raise SystemExit(f"sha256sum disagrees with the rows: {bad[:5]} {warm.stderr}")

        # openssl dgst: the same SHA-256 code (OpenSSL, SHA-NI where the CPU has it) that
        # Python's hashlib uses; coreutils' sha256sum has its own, slower one.
        ssl_cmd = ["openssl", "dgst", "-sha256", *rels] if shutil.which("openssl") else None
        start_cmd = [sys.executable, "-m", "surveil", "--version"]
        rounds = []
        for r in range(args.verify_rounds):
            busy = SystemCpu()
            sha_wall, sha_cpu, _ = _timed(sha_cmd, data_dir)
            ssl_wall = _timed(ssl_cmd, data_dir)[0] if ssl_cmd else None
            start_wall = _timed(start_cmd, REPO)[0]
            ver_wall, ver_cpu, done = _timed(verify_cmd, REPO)
            expect = f"segments checked: {len(made)}, ok: {len(made)}"
            if done.returncode != 0 or expect not in done.stdout:
                raise SystemExit(
                    f"surveil verify failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                )
            rounds.append(
                {
                    "sha256sum_s": round(sha_wall, 3),
                    "sha256sum_cpu_s": round(sha_cpu, 3),
                    "openssl_s": None if ssl_wall is None else round(ssl_wall, 3),
                    "cli_startup_s": round(start_wall, 3),
                    "verify_s": round(ver_wall, 3),
                    "verify_cpu_s": round(ver_cpu, 3),
                    "system_busy": round(busy.busy_fraction(), 3),
                }
            )
            ssl = f", openssl dgst {ssl_wall:.3f} s" if ssl_wall else ""
            print(
                f"  round {r + 1}: sha256sum {sha_wall:.3f} s ({mb / sha_wall:.0f} MB/s){ssl}, "
                f"surveil verify {ver_wall:.3f} s ({mb / ver_wall:.0f} MB/s; CLI start-up "
                f"{start_wall:.3f} s); machine busy {rounds[-1]['system_busy']:.0%}",
                flush=True,
            )

    def med(key: str) -> float | None:
        values = [float(v) for x in rounds if (v := x[key]) is not None]
        return statistics.median(values) if values else None

    sha_s, ver_s, ssl_s, start_s = (
        med("sha256sum_s"),
        med("verify_s"),
        med("openssl_s"),
        med("cli_startup_s"),
    )
    assert sha_s and ver_s and start_s is not None
    return {
        "files": len(made),
        "bytes": total,
        "mb": round(mb, 1),
        "build_s": round(build_s, 1),
        "rounds": rounds,
        "sha256sum_mb_s": round(mb / sha_s, 1),
        "verify_mb_s": round(mb / ver_s, 1),
        "ratio_verify_over_sha256sum": round(sha_s / ver_s, 3),
        "openssl_mb_s": round(mb / ssl_s, 1) if ssl_s else None,
        "ratio_verify_over_openssl": round(ssl_s / ver_s, 3) if ssl_s else None,
        "cli_startup_s": round(start_s, 3),
        "verify_mb_s_without_startup": (
            round(mb / (ver_s - start_s), 1) if ver_s > start_s else None
        ),
    }


# -- report ------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _proof_table(title: str, p: dict[str, Any], plans: dict[str, Any]) -> None:
    scans = "SCANS a log table" if plans["scans_log_table"] else "by primary key"
    print(
        f"  {title} ({p['queries_run']} queries, hash read {scans}, machine busy "
        f"{p['system_busy']:.0%}, the bench {p['bench_share']:.0%}):"
    )
    print(
        f"    {'query':<14}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'x point p50':>13}"
        f"{'x point p99':>13}"
    )
    for key, ratio in (
        ("point_read", None),
        ("inclusion", "inclusion_over_point_read"),
        ("consistency", "consistency_over_point_read"),
        ("root_at", None),
    ):
        st = p[key]
        rp50 = p[ratio]["p50"] if ratio else ""
        rp99 = p[ratio]["p99"] if ratio else ""
        print(
            f"    {key:<14}{st['p50_ms']:>10.3f}{st['p99_ms']:>10.3f}{st['max_ms']:>10.3f}"
            f"{rp50!s:>13}{rp99!s:>13}"
        )
    v = p["verified"]
    print(
        f"    verified {v['inclusion']} inclusion + {v['consistency']} consistency proofs "
        f"against root_at: {v['failures']} failures; a wrong root refused: "
        f"{v['wrong_root_refused']}; mean proof length {p['proof_hashes_mean']}"
    )
    worst = max(p["inclusion"]["p99_ms"], p["consistency"]["p99_ms"])
    print(f"    target proof p99 <= 10 ms: {_verdict(worst <= 10)} (worst p99 {worst:.3f} ms)")


def _table(backend: str, r: dict[str, Any]) -> None:
    f, a = r["fill"], r["appends"]
    print(
        f"\n{backend}: fill {f['leaves']} leaves + {f['hash_rows']} hashes in "
        f"{f['load_s']:.1f} s ({f['leaves_per_s']} leaves/s, machine busy "
        f"{f['system_busy']:.0%}, the bench {f['bench_share']:.0%}); log size now {r['log_size']}"
    )
    one, bat = a["one_per_tx"], a["batched"]
    print(
        f"  append, one per transaction: {one['ms_per_leaf_amortised']} ms/leaf amortised "
        f"(p50 {one['latency']['p50_ms']}, p99 {one['latency']['p99_ms']} ms)"
    )
    print(
        f"  append, {bat['per_tx']} per transaction: {bat['ms_per_leaf_amortised']} ms/leaf "
        f"amortised; append_leaf itself p50 {bat['append_own']['p50_ms']}, p99 "
        f"{bat['append_own']['p99_ms']} ms; rest of each transaction "
        f"{bat['rest_of_tx_ms_mean']} ms (machine busy {a['system_busy']:.0%}, the bench "
        f"{a['bench_share']:.0%})"
    )
    print(
        f"  target append <= 1 ms/leaf amortised: one per tx "
        f"{_verdict(one['ms_per_leaf_amortised'] <= 1)}, {bat['per_tx']} per tx "
        f"{_verdict(bat['ms_per_leaf_amortised'] <= 1)}"
    )
    _proof_table("proofs, index.merkle as it is", r["proofs"], r["proof_plans"])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--leaves", type=int, default=10_000_000, help="bulk-filled log size")
    ap.add_argument("--appends", type=int, default=100_000, help="appends timed per mode")
    ap.add_argument("--per-tx", type=int, default=1000, help="appends per transaction, batched")
    ap.add_argument("--queries", type=int, default=2000, help="proofs timed per kind")
    ap.add_argument("--verify-sample", type=int, default=200, help="proofs verified per kind")
    ap.add_argument("--verify-mb", type=int, default=2048, help="archive size for verify; 0: skip")
    ap.add_argument("--segment-mb", type=int, default=8, help="size of each segment file")
    ap.add_argument("--cameras", type=int, default=4, help="cameras of the verify archive")
    ap.add_argument("--verify-rounds", type=int, default=3, help="sha256sum + verify rounds")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--proof-budget-s",
        type=float,
        default=600,
        help="fewer proof queries if they would take longer than this (a scanning plan)",
    )
    args = ap.parse_args()
    if args.leaves < 1 or args.appends < 1 or args.queries < 1 or args.per_tx < 1:
        ap.error("--leaves, --appends, --queries and --per-tx must be at least 1")
    _check_leaf_format()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    info = machine_info()
    info["sha256sum"] = subprocess.run(
        ["sha256sum", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    info["sqlite"] = sqlite3.sqlite_version
    print("machine:", json.dumps(info))
    print("parameters:", json.dumps(vars(args)))
    print(
        f"synthetic leaf: {synthetic_leaf(0).decode()} ({len(synthetic_leaf(0))} bytes at "
        f"index 0, {len(synthetic_leaf(args.leaves - 1))} at the last)"
    )
    t_all = time.perf_counter()
    results: dict[str, Any] = {}
    for b in backends:
        t = time.perf_counter()
        results[b] = asyncio.run(run_backend(b, args))
        results[b]["wall_s"] = round(time.perf_counter() - t, 1)
        _table(b, results[b])
    verify = measure_verify(args) if args.verify_mb > 0 else None
    if verify is not None:
        print(
            f"\nverify: {verify['files']} files, {verify['mb']} MB: sha256sum "
            f"{verify['sha256sum_mb_s']} MB/s, surveil verify {verify['verify_mb_s']} MB/s "
            f"(without its {verify['cli_startup_s']} s CLI start-up: "
            f"{verify['verify_mb_s_without_startup']} MB/s); ratio "
            f"{verify['ratio_verify_over_sha256sum']}; openssl dgst {verify['openssl_mb_s']} "
            f"MB/s, ratio verify/openssl {verify['ratio_verify_over_openssl']}"
        )
        print(
            f"  target verify >= 0.9 x sha256sum: "
            f"{_verdict(verify['ratio_verify_over_sha256sum'] >= 0.9)}"
        )
    data = {
        "machine": info,
        "parameters": vars(args),
        "results": results,
        "verify": verify,
        "wall_s": round(time.perf_counter() - t_all, 1),
    }
    path = write_result("integrity", data)
    print(f"\nresult: {path}")


if __name__ == "__main__":
    main()
