"""The signed log end to end, on SQLite and PostgreSQL, with footage from a real camera:
the API's checkpoint and proofs verify with an independent implementation, and every
tampering of the issue's list is found by `surveil verify` at its item, exit 1; an
untouched archive exits 0."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from index import merkle, segments
from index.db import Database
from index.records import AuditIn
from surveil.access_log import append_audit
from surveil.checkpoints import Checkpointer
from surveil.clock import SystemClock
from surveil.log_key import LOG_KEY_FILE
from surveil.service import Service
from tests import independent_tlog as ref
from tests.cameras import CameraFactory
from tests.conftest_db import pg_url
from tests.harness import make_config, wait_for
from tlog.leaves import KIND_AUDIT, KIND_SEGMENT
from tlog.note import Signer

ROOT = Path(__file__).resolve().parents[1]
UD = ("update", "delete")
pytestmark = pytest.mark.slow


async def _sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for stmt in statements:
                await conn.execute(text(stmt))
    finally:
        await engine.dispose()


async def _pg_admin(sql: str) -> None:
    admin = make_url(pg_url()).set(database="postgres")
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


class Archive:
    """A recorded data dir (and, on PostgreSQL, its database) that cases copy."""

    def __init__(self, base: Path, backend: str, db_url: str | None) -> None:
        self.base, self.backend, self.db_url = base, backend, db_url
        self.copies = 0

    async def copy(self, where: Path) -> tuple[Path, str]:
        """A copy to tamper with: (data dir, database URL)."""
        shutil.copytree(self.base, where)
        if self.backend == "sqlite":
            return where, f"sqlite+aiosqlite:///{where / 'index.sqlite3'}"
        self.copies += 1
        source = make_url(pg_url()).database
        name = f"{source}_tamper_{self.copies}"
        await _pg_admin(f"DROP DATABASE IF EXISTS {name}")
        await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {source}")
        return where, make_url(pg_url()).set(database=name).render_as_string(False)

    async def drop_copies(self) -> None:
        source = make_url(pg_url()).database
        for i in range(1, self.copies + 1):
            await _pg_admin(f"DROP DATABASE IF EXISTS {source}_tamper_{i}")


def verify(data_dir: Path, db_url: str, *args: str) -> tuple[int, dict[str, Any]]:
    conf = data_dir.parent / f"{data_dir.name}.toml"
    conf.write_text(f'data_dir = "{data_dir}"\ndatabase_url = "{db_url}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "surveil", "verify", "--config", str(conf), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in report["findings"]}


@pytest.fixture
async def archive(rtsp_camera: CameraFactory, tmp_path: Path, database_url: str) -> Any:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    cam = rtsp_camera()
    data = tmp_path / "base"
    cfg = make_config(
        data, None if backend == "sqlite" else database_url, [{"name": "a01", "url": cam.url}]
    )
    svc = Service(cfg)
    await svc.start()
    try:
        assert svc.db is not None

        async def sealed() -> bool:
            assert svc.db is not None
            async with svc.db.read() as s:
                return len(await segments.segments_in_state(s, "sealed")) >= 3

        await wait_for(sealed, 30, "three sealed segments")
        for i in range(3):
            entry = AuditIn(actor="amy", actor_kind="user", action=f"test.{i}", outcome="ok")
            await append_audit(svc.db, entry, SystemClock().now_us())
        assert svc.integrity is not None
        await svc.integrity.checkpoint_now()
    finally:
        await svc.stop()
    made = Archive(data, backend, None if backend == "sqlite" else database_url)
    yield made
    if backend == "postgresql":
        await made.drop_copies()


async def _rows(db_url: str) -> tuple[list[Any], list[int]]:
    db = await Database.open(db_url)
    try:
        async with db.read() as s:
            segs = await segments.segments_in_state(s, "sealed")
            audit_ids = [
                e.ref_id for e in await merkle.leaves_page(s, 0, 10_000) if e.kind == KIND_AUDIT
            ]
    finally:
        await db.close()
    return segs, audit_ids


async def test_api_checkpoint_and_proof_verify_independently(
    rtsp_camera: CameraFactory, tmp_path: Path
) -> None:
    cam = rtsp_camera()
    cfg = make_config(tmp_path / "data", None, [{"name": "a01", "url": cam.url}])
    svc = Service(cfg)
    await svc.start()
    try:
        assert svc.db is not None and svc.integrity is not None
        from index.tokens import create_token
        from surveil.accounts import new_token

        token, digest = new_token()
        await svc.db.write(lambda s: create_token(s, "auditor", "auditor", digest, 1))

        async def one_sealed() -> bool:
            assert svc.db is not None
            async with svc.db.read() as s:
                return bool(await segments.segments_in_state(s, "sealed"))

        await wait_for(one_sealed, 30, "a sealed segment")
        await svc.integrity.checkpoint_now()
        headers = {"Authorization": f"Bearer {token}"}
        async with ClientSession(svc.url, headers=headers) as http:
            async with http.get("/api/v1/integrity/checkpoint") as r:
                assert r.status == 200 and r.content_type == "text/plain"
                note = await r.text()
            async with http.get("/api/v1/integrity/key") as r:
                key = (await r.text()).strip()
            origin, size, root = ref.open_checkpoint(note, key)
            assert origin == key.split("+")[0]
            window = {
                "camera": "a01",
                "start": "2000-01-01T00:00:00Z",
                "end": "2000-01-30T00:00:00Z",
            }
            now = SystemClock().now_us() // 1_000_000
            from datetime import UTC, datetime, timedelta

            end = datetime.fromtimestamp(now + 60, UTC)
            window["start"] = (end - timedelta(days=1)).isoformat()
            window["end"] = end.isoformat()
            async with http.get("/api/v1/recordings", params=window) as r:
                listed = (await r.json())["segments"]
            seg = next(s for s in listed if s["state"] == "sealed" and s["leaf_index"] < size)
            async with http.get(
                "/api/v1/integrity/proof/inclusion",
                params={"index": str(seg["leaf_index"]), "size": str(size)},
            ) as r:
                assert r.status == 200
                proof = await r.json()
            async with http.get(seg["url"]) as r:
                body = await r.read()
            async with http.get(
                "/api/v1/integrity/proof/inclusion", params={"index": str(size), "size": str(size)}
            ) as r:
                assert r.status == 422
        leaf = base64.b64decode(proof["leaf"])
        ref.check_inclusion(
            proof["leaf_index"], size, leaf, [base64.b64decode(h) for h in proof["proof"]], root
        )
        fields = json.loads(leaf)
        assert fields["kind"] == KIND_SEGMENT and fields["id"] == seg["id"]
        assert fields["sha256"] == hashlib.sha256(body).hexdigest() == seg["sha256"]
        with pytest.raises(ValueError):
            ref.check_inclusion(proof["leaf_index"], size, leaf + b" ", [], root)
    finally:
        await svc.stop()


Tamper = Callable[[Path, str, list[Any], list[int]], Awaitable[None]]


def _flip(data: Path, segs: list[Any]) -> None:
    f = data / segs[1].path
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    f.write_bytes(bytes(raw))


async def test_every_tampering_is_found_at_its_item(archive: Archive, tmp_path: Path) -> None:
    data, url = await archive.copy(tmp_path / "untouched")
    code, report = verify(data, url)
    assert code == 0 and report["ok"], report
    assert report["log"]["size"] >= 6 and report["log"]["checkpoints_checked"] >= 1
    segs, audit_ids = await _rows(url)
    drop_audit = (
        ["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"]
        if archive.backend == "sqlite"
        else ["DROP TRIGGER audit_log_append_only ON audit_log"]
    )
    drop_log = (
        [
            f"DROP TRIGGER {t}_no_{v}"
            for t in ("log_leaves", "log_hashes")
            for v in ("update", "delete")
        ]
        if archive.backend == "sqlite"
        else [f"DROP TRIGGER {t}_append_only ON {t}" for t in ("log_leaves", "log_hashes")]
    )
    s1, s2 = segs[1], segs[2]
    a1 = audit_ids[1]

    async def flip(d: Path, u: str) -> None:
        _flip(d, segs)

    async def truncate(d: Path, u: str) -> None:
        f = d / s1.path
        f.write_bytes(f.read_bytes()[:-100])

    async def delete(d: Path, u: str) -> None:
        (d / s1.path).unlink()

    async def swap(d: Path, u: str) -> None:
        a, b = d / s1.path, d / s2.path
        tmp = a.with_suffix(".x")
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)

    async def edit_hash(d: Path, u: str) -> None:
        # The file and its row changed together: only the log tells.
        _flip(d, segs)
        new = hashlib.sha256((d / s1.path).read_bytes()).hexdigest()
        await _sql(u, f"UPDATE segments SET sha256 = '{new}' WHERE id = {s1.id}")

    async def edit_times(d: Path, u: str) -> None:
        await _sql(u, f"UPDATE segments SET start_us = start_us + 1000000 WHERE id = {s1.id}")

    async def edit_size(d: Path, u: str) -> None:
        await _sql(u, f"UPDATE segments SET bytes = bytes - 1 WHERE id = {s1.id}")

    async def delete_row(d: Path, u: str) -> None:
        await _sql(
            u,
            f"DELETE FROM events WHERE segment_id = {s1.id}",
            f"DELETE FROM segments WHERE id = {s1.id}",
        )
        (d / s1.path).unlink()

    async def insert_row(d: Path, u: str) -> None:
        rel = s2.path.replace(".mp4", "-x.mp4")
        shutil.copy(d / s2.path, d / rel)
        await _sql(
            u,
            "INSERT INTO segments (camera_id, run_id, sequence, path, start_us, end_us, "
            "duration_us, bytes, sha256, state, video_codec, audio_codec, fragments, "
            "clock_sync, camera_clock_offset_us, created_us, sealed_us) "
            f"SELECT camera_id, run_id, 9999, '{rel}', start_us, end_us, duration_us, bytes, "
            "sha256, state, video_codec, audio_codec, fragments, clock_sync, "
            f"camera_clock_offset_us, created_us, sealed_us FROM segments WHERE id = {s2.id}",
        )

    async def edit_audit(d: Path, u: str) -> None:
        await _sql(u, *drop_audit, f"UPDATE audit_log SET actor = 'mallory' WHERE id = {a1}")

    async def delete_audit(d: Path, u: str) -> None:
        await _sql(u, *drop_audit, f"DELETE FROM audit_log WHERE id = {a1}")

    async def truncate_log(d: Path, u: str) -> None:
        await _sql(
            u,
            *drop_log,
            "DELETE FROM log_leaves",
            "DELETE FROM log_hashes",
            "DELETE FROM log_state",
        )

    async def delete_leaf(d: Path, u: str) -> None:
        await _sql(u, *drop_log, "DELETE FROM log_leaves WHERE idx = 1")

    cases: list[tuple[str, Callable[[Path, str], Awaitable[None]], str, dict[str, Any]]] = [
        ("flip", flip, "file_changed", {"segment_id": s1.id, "path": s1.path}),
        ("truncate", truncate, "file_changed", {"segment_id": s1.id}),
        ("delete", delete, "file_missing", {"segment_id": s1.id, "path": s1.path}),
        ("swap", swap, "file_changed", {"segment_id": s2.id}),
        ("edit_hash", edit_hash, "segment_row_edited", {"segment_id": s1.id}),
        ("edit_times", edit_times, "segment_row_edited", {"segment_id": s1.id}),
        ("edit_size", edit_size, "segment_row_edited", {"segment_id": s1.id}),
        ("delete_row", delete_row, "segment_row_deleted", {"segment_id": s1.id}),
        ("insert_row", insert_row, "segment_row_unlogged", {}),
        ("edit_audit", edit_audit, "audit_entry_edited", {"audit_id": a1}),
        ("delete_audit", delete_audit, "audit_entry_deleted", {"audit_id": a1}),
        ("truncate_log", truncate_log, "log_truncated", {}),
        ("delete_leaf", delete_leaf, "leaf_missing", {"leaf_index": 1}),
    ]
    for name, tamper, kind, where in cases:
        d, u = await archive.copy(tmp_path / name)
        await tamper(d, u)
        code, report = verify(d, u)
        assert code == 1 and not report["ok"], (name, report)
        hits = [f for f in report["findings"] if f["kind"] == kind]
        assert hits, (name, kinds(report))
        assert any(all(f[k] == v for k, v in where.items()) for f in hits), (name, hits)


async def test_a_rewritten_log_is_caught_by_an_old_checkpoint(
    archive: Archive, tmp_path: Path
) -> None:
    d, u = await archive.copy(tmp_path / "rewritten")
    old_note = (await _latest_note(u)).encode()
    (tmp_path / "old.txt").write_bytes(old_note)
    old_key = tmp_path / "old.pub"
    old_key.write_text(Signer.parse((d / LOG_KEY_FILE).read_text()).verifier().line())
    segs, _ = await _rows(u)
    # The intruder changes a file and its row, rebuilds the whole log from the rows with the
    # project's own code, and signs it with a key of their own.
    _flip(d, segs)
    new = hashlib.sha256((d / segs[1].path).read_bytes()).hexdigest()
    triggers = (
        [
            f"DROP TRIGGER {t}_no_{v}"
            for t in ("log_leaves", "log_hashes", "checkpoints")
            for v in ("update", "delete")
        ]
        if archive.backend == "sqlite"
        else [
            f"DROP TRIGGER {t}_append_only ON {t}"
            for t in ("log_leaves", "log_hashes", "checkpoints")
        ]
    )
    await _sql(
        u,
        f"UPDATE segments SET sha256 = '{new}' WHERE id = {segs[1].id}",
        *triggers,
        "DELETE FROM log_leaves",
        "DELETE FROM log_hashes",
        "DELETE FROM log_state",
        "DELETE FROM checkpoints",
    )
    db = await Database.open(u)
    try:
        async with db.read() as s:
            rows = await segments.segments_in_state(s, "sealed")
            from index.audit import audit_leaf, list_audit

            entries = list(reversed(await list_audit(s, limit=1000)))

        async def rebuild(s):  # type: ignore[no-untyped-def]
            for seg in rows:
                leaf = segments.segment_leaf(seg, seg.camera)
                await merkle.append_leaf(s, KIND_SEGMENT, seg.id, leaf, 1)
            for e in entries:
                await merkle.append_leaf(s, KIND_AUDIT, e.id, audit_leaf(e), 1)

        await db.write(rebuild)
        forger = Signer.generate(Signer.parse((d / LOG_KEY_FILE).read_text()).name)
        (d / LOG_KEY_FILE).write_text(forger.line() + "\n")
        await Checkpointer(db, SystemClock(), forger.name, [forger]).issue()
    finally:
        await db.close()
    code, report = verify(d, u)
    assert code == 0, report  # consistent in itself, with the forger's key
    code, report = verify(d, u, "--checkpoint", str(tmp_path / "old.txt"))
    assert code == 1 and "checkpoint_foreign" in kinds(report), report
    code, report = verify(d, u, "--checkpoint", str(tmp_path / "old.txt"), "--key", str(old_key))
    assert code == 1, report
    assert {"log_rewritten", "checkpoint_forged"} <= kinds(report), report


async def _latest_note(url: str) -> str:
    db = await Database.open(url)
    try:
        async with db.read() as s:
            latest = await merkle.latest_checkpoint(s)
    finally:
        await db.close()
    assert latest is not None
    return latest.note
