"""The export package from real recorded footage, on SQLite and PostgreSQL: built by
build_package, checked by its own verify.py in a fresh venv holding only `cryptography`,
which passes on the package as built and fails, naming the item, on each tampering of
issue 12; `surveil verify PACKAGE.zip` agrees. An open segment in the window is not
packaged yet; a gap is listed and no clip bridges it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from index import audit, segments
from index.records import AuditIn, SegmentRecord
from surveil.clock import SystemClock
from surveil.export_package import (
    CustodyEntry,
    PackageNotReady,
    PackageSpec,
    build_package,
    manifest_bytes,
)
from surveil.lookup import CameraRef
from surveil.service import Service
from tests.cameras import CameraFactory
from tests.harness import make_config, wait_for
from tlog.note import Checkpoint, Signer, sign

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def verifier_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain venv (no system site packages) holding only `cryptography`, installed the
    way the setup points pip (local wheels and indexes)."""
    venv = tmp_path_factory.mktemp("verifier") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "cryptography"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"cannot install cryptography offline: {done.stderr}"
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "surveil" not in names and "sqlalchemy" not in names, names
    return python


def run_verify_py(python: Path, package: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """The package's own verify.py (from the package), in the clean venv, outside the repo."""
    script_dir = package if package.is_dir() else package.parent / f"{package.stem}-script"
    if not package.is_dir():
        script_dir.mkdir(exist_ok=True)
        with zipfile.ZipFile(package) as zf:
            (script_dir / "verify.py").write_bytes(zf.read("verify.py"))
    done = subprocess.run(
        [str(python), str(script_dir / "verify.py"), str(package), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=package.parent,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(package.parent)},
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def run_cli(package: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "surveil", "verify", str(package), "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["check"], c["item"]) for c in report["checks"] if not c["ok"]}


def first(report: dict[str, Any]) -> tuple[str, str]:
    f = report["first_failure"]
    return f["check"], f["item"]


def unzip(package: Path, where: Path) -> Path:
    with zipfile.ZipFile(package) as zf:
        zf.extractall(where)
    return where


def flip_bit(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def first_mdat_sample_offset(path: Path) -> int:
    """An offset in the middle of the first mdat's body: inside a media sample."""
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"mdat":
            return pos + 8 + (size - 8) // 2
        pos += size
    raise AssertionError("no mdat")


def rezip(src_dir: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for f in sorted(src_dir.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(src_dir).as_posix())
    return out


class Edit:
    """Edit an unzipped package's manifest; re-sign it with signer when given (an insider
    holding the key: shows the later checks catch the edit on their own)."""

    def __init__(self, pkg: Path) -> None:
        self.pkg = pkg
        self.manifest: dict[str, Any] = json.loads((pkg / "manifest.json").read_bytes())

    def save(self, signer: Signer | None = None) -> None:
        body = manifest_bytes(self.manifest)
        (self.pkg / "manifest.json").write_bytes(body)
        if signer is not None:
            (self.pkg / "manifest.sig").write_bytes(signer.sign(body))


async def sealed_by_start(service: Service) -> list[SegmentRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        rows = await segments.all_segments(s)
    return sorted((r for r in rows if r.state == "sealed"), key=lambda r: r.start_us)


async def test_package_verifies_and_every_tampering_is_named(
    rtsp_camera: CameraFactory,
    tmp_path: Path,
    database_url: str,
    verifier_python: Path,
) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        None if backend == "sqlite" else database_url,
        [{"name": "a01", "url": cam.url}],
    )
    service = Service(cfg)
    await service.start()
    try:
        assert service.db is not None and service.integrity is not None
        assert service.lifecycle is not None
        db = service.db

        def sealed(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await sealed_by_start(service)) >= n

            return check

        await wait_for(sealed(3), 40, "three sealed segments")
        # A gap: the camera goes away for longer than the RTSP timeout and comes back.
        cam.stop()
        before = len(await sealed_by_start(service))
        await asyncio.sleep(4)
        cam.restart()
        await wait_for(sealed(before + 3), 60, "three sealed segments after the gap")
        segs = await sealed_by_start(service)
        cam_row = segs[0].camera_id
        cameras = (CameraRef(cam_row, "a01"),)

        custody = []
        for step, actor, role, decision in (
            ("submit", "clerk", "staff", None),
            ("review", "rita", "staff", "pass"),
            ("approve", "alan", "admin", "approved"),
        ):
            entry = AuditIn(
                actor=actor,
                actor_kind="user",
                action=f"export.{step}",
                outcome="ok",
                target="export:1",
            )
            rec = await db.write(lambda s, e=entry: audit.add_audit(s, e, SystemClock().now_us()))
            custody.append(CustodyEntry(step, actor, role, rec.at_us, decision, None, rec.id))
        integ = service.integrity

        def spec(start_us: int, end_us: int) -> PackageSpec:
            return PackageSpec(
                request_id=1,
                receipt_no="R-1",
                counter="A01",
                cameras=cameras,
                start_us=start_us,
                end_us=end_us,
                party={
                    "name": "张三",
                    "id_type": "id_card",
                    "id_number": "X1",
                    "relation": "申请人",
                },
                purpose="诉讼",
                legal_basis="第二十四条",
                kind="copy",
                custody=tuple(custody),
            )

        async def build(s: PackageSpec, name: str) -> Path:
            seen: list[float] = []
            result = await build_package(
                db,
                service.lifecycle.volumes,
                integ.checkpointer,
                integ.signer,
                s,  # type: ignore[union-attr]
                tmp_path / "exports" / name,
                progress=seen.append,
            )
            assert result.path.exists() and not result.path.with_suffix(".part").exists()
            assert seen and seen[-1] == 1.0 and seen == sorted(seen)
            assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256
            assert result.path.stat().st_size == result.bytes
            return result.path

        # An open segment in the window: not yet.
        async def open_row() -> SegmentRecord | None:
            async with db.read() as s:
                return next((r for r in await segments.all_segments(s) if r.state == "open"), None)

        await wait_for(lambda: _is_not_none(open_row()), 20, "an open segment")
        row = await open_row()
        assert row is not None
        with pytest.raises(PackageNotReady):
            await build(spec(row.start_us, row.start_us + 60_000_000), "open.zip")
        assert not (tmp_path / "exports" / "open.zip").exists()

        # The window spans the gap: both runs' segments, the gap listed, no clip across it.
        gap_at = next(i for i in range(1, len(segs)) if segs[i].run_id != segs[i - 1].run_id)
        start_us = segs[gap_at - 2].start_us + 300_000
        end_us = segs[gap_at + 1].end_us - 300_000
        package = await build(spec(start_us, end_us), "p.zip")
        signer = integ.signer
        key_line = signer.verifier().line()
    finally:
        await service.stop()

    manifest = json.loads(zipfile.ZipFile(package).read("manifest.json"))
    run_gap_start, run_gap_end = segs[gap_at - 1].end_us, segs[gap_at].start_us
    assert any(
        g["start_us"] <= run_gap_start + 200_000 and g["end_us"] >= run_gap_end - 200_000
        for g in manifest["gaps"]
    ), manifest["gaps"]
    assert all(g["reason"] for g in manifest["gaps"])
    assert len(manifest["clips"]) >= 2
    for clip in manifest["clips"]:
        assert not (clip["start_us"] < run_gap_start + 100_000 and clip["end_us"] > run_gap_end)
    assert {s["segment_id"] for s in manifest["segments"]} >= {segs[gap_at - 1].id, segs[gap_at].id}
    assert [c["step"] for c in manifest["custody"]] == ["submit", "review", "approve"]
    assert all(c["leaf_index"] is not None for c in manifest["custody"])

    # Untouched: zip, folder, with the key obtained separately, and from the CLI.
    code, report = run_verify_py(verifier_python, package)
    assert code == 0, report["first_failure"]
    checks = {c["check"] for c in report["checks"]}
    assert {
        "manifest_signature",
        "checkpoint_signature",
        "file_hash",
        "segment_leaf",
        "segment_inclusion",
        "custody_inclusion",
        "clip_samples",
    } <= checks
    pristine = unzip(package, tmp_path / "pristine")
    assert run_verify_py(verifier_python, pristine, "--key", key_line)[0] == 0
    assert run_cli(package, "--key", key_line)[0] == 0

    seg_a, seg_b = manifest["segments"][0], manifest["segments"][1]
    clip = manifest["clips"][0]
    cases = 0

    def case(name: str) -> Path:
        nonlocal cases
        cases += 1
        return Path(shutil.copytree(pristine, tmp_path / f"case{cases}-{name}"))

    # One flipped bit in a segment, in the folder and in a zip; and from the CLI.
    pkg = case("segment-bit")
    flip_bit(pkg / seg_a["file"], first_mdat_sample_offset(pkg / seg_a["file"]))
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("file_hash", seg_a["file"])
    zipped = rezip(pkg, tmp_path / "segment-bit.zip")
    code, report = run_verify_py(verifier_python, zipped)
    assert code == 1 and first(report) == ("file_hash", seg_a["file"])
    code, cli_report = run_cli(zipped)
    assert code == 1 and first(cli_report) == ("file_hash", seg_a["file"])

    # One flipped bit in a clip's sample: its hash, and its samples against its segments.
    pkg = case("clip-bit")
    flip_bit(pkg / clip["file"], first_mdat_sample_offset(pkg / clip["file"]))
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("file_hash", clip["file"])
    assert ("clip_samples", clip["file"]) in failed(report)

    # A segment removed.
    pkg = case("segment-removed")
    (pkg / seg_b["file"]).unlink()
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("file_present", seg_b["file"])

    # An extra file slipped into segments/.
    pkg = case("segment-extra")
    shutil.copy(pkg / seg_a["file"], pkg / "segments" / "a01" / "extra.mp4")
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("file_listed", "segments/a01/extra.mp4")

    # A manifest field edited.
    pkg = case("manifest-edit")
    edit = Edit(pkg)
    edit.manifest["party"]["name"] = "李四"
    edit.save()
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("manifest_signature", "manifest.sig")

    # A proof swapped between two segments: caught by the signature, and by the proof
    # check itself even when the manifest is re-signed with the key.
    for resign in (None, signer):
        pkg = case("proof-swap")
        edit = Edit(pkg)
        s0, s1 = edit.manifest["segments"][0], edit.manifest["segments"][1]
        s0["inclusion_proof"], s1["inclusion_proof"] = s1["inclusion_proof"], s0["inclusion_proof"]
        edit.save(resign)
        code, report = run_verify_py(verifier_python, pkg)
        assert code == 1
        assert ("segment_inclusion", seg_a["file"]) in failed(report)
        if resign is not None:
            assert first(report) == ("segment_inclusion", seg_a["file"])

    # A checkpoint from another log (another key): its signature fails against log_key;
    # with log_key replaced too and the manifest re-signed by that key, the proofs fail,
    # and --key (the key obtained separately) names log_key.
    other = Signer.generate("surveil/other")
    size = int(manifest["checkpoint"].split("\n")[1])
    foreign = sign(Checkpoint(other.name, size, os.urandom(32)).text(), [other])
    pkg = case("foreign-checkpoint")
    edit = Edit(pkg)
    edit.manifest["checkpoint"] = foreign
    edit.save(signer)
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("checkpoint_signature", "checkpoint")
    pkg = case("foreign-log")
    edit = Edit(pkg)
    edit.manifest["checkpoint"] = foreign
    edit.manifest["log_key"] = other.verifier().line()
    edit.save(other)
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("segment_inclusion", seg_a["file"])
    code, report = run_verify_py(verifier_python, pkg, "--key", key_line)
    assert code == 1 and first(report) == ("trusted_key", "log_key")
    code, cli_report = run_cli(pkg, "--key", key_line)
    assert code == 1 and first(cli_report) == ("trusted_key", "log_key")

    # A forged manifest.sig: random bytes, and a real signature by another key.
    for forged in (os.urandom(64), other.sign((pkg / "manifest.json").read_bytes())):
        pkg = case("forged-sig")
        (pkg / "manifest.sig").write_bytes(forged)
        code, report = run_verify_py(verifier_python, pkg)
        assert code == 1 and first(report) == ("manifest_signature", "manifest.sig")

    # The leaf of a segment exchanged for another's (re-signed): named at the segment.
    pkg = case("leaf-swap")
    edit = Edit(pkg)
    s0, s1 = edit.manifest["segments"][0], edit.manifest["segments"][1]
    s0["leaf"] = s1["leaf"]
    edit.save(signer)
    code, report = run_verify_py(verifier_python, pkg)
    assert code == 1 and first(report) == ("segment_leaf", seg_a["file"])
    assert base64.b64decode(s1["leaf"])  # a real leaf, merely not this file's


async def _is_not_none(value: Awaitable[object]) -> bool:
    return await value is not None


VECTORS = Path(__file__).resolve().parents[2] / "shared/testdata/merkle"


def test_verifier_proofs_match_the_rfc_vectors_and_tlog() -> None:
    """verify.py's own RFC 9162 and C2SP code agrees with the published vectors (read in
    place) and with tlog/: every vector verifies, a flipped bit or a shifted index does
    not; a checkpoint signed by tlog/note opens, one by another key does not."""
    from surveil import export_verify as ev
    from tlog.hashing import CompactRange
    from tlog.proofs import inclusion_proof

    files = sorted((VECTORS / "inclusion").glob("*/*.json"))
    assert files
    for path in files:
        raw = json.loads(path.read_text())
        proof = [base64.b64decode(p) for p in raw["proof"] or []]
        leaf, root = base64.b64decode(raw["leafHash"]), base64.b64decode(raw["root"])
        assert ev.root_from_inclusion(raw["leafIdx"], raw["treeSize"], leaf, proof) == root
        if proof:
            bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
            assert ev.root_from_inclusion(raw["leafIdx"], raw["treeSize"], leaf, bad) != root
    # Against tlog/ over random trees.
    import random

    rng = random.Random(12)
    for size in (1, 2, 3, 7, 8, 9, 31, 100):
        leaves = [ev.leaf_hash(rng.randbytes(8)) for _ in range(size)]
        compact = CompactRange()
        for h in leaves:
            compact, _ = compact.append(h)
        store: dict[tuple[int, int], bytes] = {}
        level = list(leaves)
        for lv in range(size.bit_length() + 1):
            for i, h in enumerate(level):
                store[(lv, i)] = h
            level = [ev.node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        for idx in range(size):
            proof = inclusion_proof(idx, size, lambda lv, i, st=store: st[(lv, i)])
            assert ev.root_from_inclusion(idx, size, leaves[idx], proof) == compact.root()
            if size > 1:
                other = (idx + 1) % size
                try:
                    moved = ev.root_from_inclusion(other, size, leaves[idx], proof)
                except ValueError:  # the proof's length does not fit the other index
                    continue
                assert moved != compact.root()
    signer, other = Signer.generate("surveil/a"), Signer.generate("surveil/b")
    note = sign(Checkpoint(signer.name, 5, bytes(32)).text(), [signer, other])
    key = ev.parse_key(signer.verifier().line())
    opened = ev.open_checkpoint(note, key)
    assert (opened.origin, opened.size, opened.root) == (signer.name, 5, bytes(32))
    with pytest.raises(ValueError):
        ev.open_checkpoint(sign(Checkpoint(signer.name, 5, bytes(32)).text(), [other]), key)
    with pytest.raises(ValueError):
        ev.parse_key(signer.verifier().line()[:-4] + "AAA=")
