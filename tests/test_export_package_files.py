"""The export package when a stored segment file is not as indexed, from real recorded
footage on SQLite and PostgreSQL: the build copies segments on one thread while another
plans the clips and a third writes the zip, and a file found changed (by its hash, while
copied) or gone (by the planner and the copy at once) must still be marked and end the
build with PackageNotReady, leaving no part file; the next build packages around it, the
segment's time listed as a gap with the index's reason, and its zip is whole."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from index import segments
from index.records import SegmentRecord
from surveil.export_package import PackageNotReady, PackageSpec, build_package
from surveil.lookup import CameraRef
from surveil.service import Service
from surveil.serving import segment_file_path
from tests.cameras import CameraFactory
from tests.harness import make_config, wait_for

pytestmark = pytest.mark.slow


async def _rows(service: Service) -> list[SegmentRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        rows = await segments.all_segments(s)
    return sorted(rows, key=lambda r: r.start_us)


async def test_a_changed_or_vanished_segment_is_marked_and_packaged_around(
    rtsp_camera: CameraFactory, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        None if database_url.startswith("sqlite") else database_url,
        [{"name": "a01", "url": cam.url}],
    )
    service = Service(cfg)
    await service.start()
    try:
        assert service.db is not None and service.integrity is not None
        assert service.lifecycle is not None
        db, integ, volumes = service.db, service.integrity, service.lifecycle.volumes

        async def five_sealed() -> bool:
            return sum(r.state == "sealed" for r in await _rows(service)) >= 5

        await wait_for(five_sealed, 60, "five sealed segments")
        segs = [r for r in await _rows(service) if r.state == "sealed"][:5]
        spec = PackageSpec(
            request_id=7,
            receipt_no=None,
            counter="A01",
            cameras=(CameraRef(segs[0].camera_id, "a01"),),
            start_us=segs[0].start_us,
            end_us=segs[-1].end_us,
            party={"name": "p", "id_type": "none", "id_number": "0", "relation": "self"},
            purpose="test",
            legal_basis="test",
            kind="copy",
            custody=(),
        )

        def file_of(seg: SegmentRecord) -> Path:
            return segment_file_path(volumes.root(seg.volume), seg.path, seg.id)

        async def build(name: str) -> Path:
            seen: list[float] = []
            out = tmp_path / "exports" / name
            result = await build_package(
                db, volumes, integ.checkpointer, integ.signer, spec, out, progress=seen.append
            )
            assert seen and seen == sorted(seen) and seen[-1] == 1.0
            assert hashlib.sha256(out.read_bytes()).hexdigest() == result.sha256
            assert out.stat().st_size == result.bytes
            with zipfile.ZipFile(out) as zf:
                assert zf.testzip() is None  # every member's CRC-32 as written
            return out

        # One bit flipped in a stored file (same size): found by its hash while copied.
        changed, vanished = segs[1], segs[3]
        data = bytearray(file_of(changed).read_bytes())
        data[len(data) // 2] ^= 0x01
        file_of(changed).write_bytes(bytes(data))
        with pytest.raises(PackageNotReady, match=f"segment {changed.id} "):
            await build("changed.zip")
        assert not (tmp_path / "exports" / "changed.zip").exists()
        assert not (tmp_path / "exports" / "changed.part").exists()

        # A stored file gone: the planner and the copy both find it missing.
        file_of(vanished).unlink()
        with pytest.raises(PackageNotReady):
            await build("vanished.zip")
        assert not (tmp_path / "exports" / "vanished.part").exists()
        states = {r.id: r.state for r in await _rows(service)}
        assert states[changed.id] == "damaged" and states[vanished.id] == "missing"

        # Packaged around both: their time is a gap with the index's reason, no clip
        # bridges it, and the other three segments are there byte for byte.
        out = await build("around.zip")
        with zipfile.ZipFile(out) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            members = set(zf.namelist())
        listed = {s["segment_id"] for s in manifest["segments"]}
        assert listed == {segs[0].id, segs[2].id, segs[4].id}
        gaps = {(g["start_us"], g["reason"]) for g in manifest["gaps"]}
        assert any(start <= changed.start_us + 1 and "damaged" in r for start, r in gaps), gaps
        assert any(start <= vanished.start_us + 1 and "missing" in r for start, r in gaps), gaps
        assert len(manifest["clips"]) == 3  # one per stretch between the gaps
        for entry in manifest["segments"]:
            assert entry["file"] in members
    finally:
        await service.stop()
