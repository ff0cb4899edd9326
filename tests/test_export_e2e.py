"""An export end to end in the running service, on SQLite and PostgreSQL, with footage from a
real camera: a receipt is accepted, a clerk files a copy request, a reviewer and an approver
act, the service's packager builds the package, which verifies; the download and the
hand-over are in the custody chain; the export hold gives way to the receipt's case hold."""

from __future__ import annotations

import asyncio
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from index import holds, merkle, segments
from index.cameras import get_camera
from index.receipts import ReceiptIn, get_receipt
from index.records import SegmentRecord
from surveil import export_verify
from surveil.accounts import SYSTEM_ACTOR
from surveil.export_package import PackageSpec, build_package
from surveil.exports import (
    ExportActor,
    ExportRequestIn,
    approve_export,
    create_export,
    deliver_export,
    get_export,
    open_download,
    review_export,
)
from surveil.lookup import CameraRef
from surveil.receipts import record_receipt
from surveil.service import Service
from surveil.timestamp import TimestampError, verify_token
from tests.harness import make_config, wait_for
from tests.test_exports import APPROVER, PARTY
from tests.tsa import local_tsa

pytestmark = pytest.mark.slow
US = 1_000_000


async def _segments(service: Service) -> list[SegmentRecord]:
    assert service.db is not None
    async with service.db.read() as s:
        return await segments.all_segments(s)


async def _sealed(service: Service, n: int) -> bool:
    return sum(1 for x in await _segments(service) if x.state == "sealed") >= n


async def test_a_copy_is_requested_approved_packaged_verified_and_handed_over(
    rtsp_camera: Any, service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [{"name": "a01", "url": cam.url, "counters": ["A01"]}],
        sections={"receipts": {"pre_roll_seconds": 1, "post_roll_seconds": 1}},
    )
    service: Service = await service_factory(cfg)
    assert service.db is not None and service.packager is not None
    db, settings = service.db, service.packager.settings
    await wait_for(lambda: _sealed(service, 1), 30, "a first sealed segment")
    accepted = time.time_ns() // 1000
    await asyncio.sleep(3)
    completed = time.time_ns() // 1000
    rin = ReceiptIn(
        receipt_no="SL-2026-0001", counter="A01", accepted_us=accepted, completed_us=completed
    )
    await record_receipt(db, rin, SYSTEM_ACTOR, completed, settings.receipts)
    clerk = ExportActor("clerk", "user", "staff", frozenset({"A01"}))
    reviewer = ExportActor("rev", "user", "staff", frozenset({"A01"}), frozenset({"export.review"}))
    request = ExportRequestIn(
        kind="copy",
        party=PARTY,
        purpose="诉讼",
        legal_basis="第二十四条",
        receipt_no="SL-2026-0001",
    )
    now = time.time_ns() // 1000
    r = (await create_export(db, request, clerk, settings, now)).request
    await review_export(db, r.id, "pass", None, reviewer, settings, now + 1)
    # Wait until the window's footage is sealed (post-roll included), then approve.
    await wait_for(lambda: _sealed_past(service, r.end_us), 30, "the window's footage sealed")
    await approve_export(db, r.id, "同意", APPROVER, settings, time.time_ns() // 1000)
    service.packager.wake()

    async def packaged() -> bool:
        d = await get_export(db, r.id, APPROVER, settings, time.time_ns() // 1000)
        assert d.request.package_state != "failed", d.request.package_error
        return d.request.state == "packaged"

    await wait_for(packaged, 60, "the package")
    d, path = await open_download(db, cfg.data_dir, r.id, clerk, settings, time.time_ns() // 1000)
    assert path.is_file() and path.parent == cfg.data_dir / "exports"
    assert d.request.package_sha256 is not None and d.request.package_bytes == path.stat().st_size
    report = export_verify.verify_package(path)
    assert report.ok, report.first_failure
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert {"manifest.json", "manifest.sig", "verify.py", "VERIFY.txt"} <= set(names)
    assert any(n.startswith("segments/a01/") for n in names)

    d = await deliver_export(
        db, r.id, "张三", "光盘", None, clerk, settings, time.time_ns() // 1000
    )
    assert [s.step for s in d.steps] == [
        "submit",
        "review",
        "approve",
        "package",
        "download",
        "deliver",
    ]
    assert d.steps[3].actor_kind == "system"
    async with db.read() as s:
        size = await merkle.log_size(s)
        receipt = await get_receipt(s, "SL-2026-0001")
        kept = await holds.holds_for_receipt(s, receipt.id)
    assert all(h.released_us is not None for h in d.holds)  # the case hold takes over
    assert kept and all(h.released_us is None for h in kept)
    assert size > 0


async def _sealed_past(service: Service, end_us: int) -> bool:
    return any(x.state == "sealed" and x.end_us >= end_us for x in await _segments(service))


async def test_with_a_tsa_the_manifest_carries_a_token_over_its_exact_bytes(
    rtsp_camera: Any, tmp_path: Path
) -> None:
    cam = rtsp_camera(video="h264", audio="aac", fps=25, gop=25)
    async with local_tsa(tmp_path) as tsa:
        root = tmp_path / "tsa-root.pem"
        root.write_bytes(tsa.root_pem)
        cfg = make_config(
            tmp_path / "data",
            None,
            [{"name": "a01", "url": cam.url, "counters": ["A01"]}],
            sections={"integrity": {"tsa_url": tsa.url, "tsa_root": str(root)}},
        )
        service = Service(cfg)
        await service.start()
        try:
            assert service.db is not None and service.integrity is not None
            assert service.lifecycle is not None
            await wait_for(lambda: _sealed(service, 2), 30, "two sealed segments")
            segs = [x for x in await _segments(service) if x.state == "sealed"]
            async with service.db.read() as s:
                camera = await get_camera(s, "a01")
            spec = PackageSpec(
                request_id=1,
                receipt_no=None,
                counter="A01",
                cameras=(CameraRef(camera.id, camera.name),),
                start_us=segs[0].start_us,
                end_us=segs[1].end_us,
                party={"name": "张三", "id_type": "居民身份证", "id_number": "1", "relation": "x"},
                purpose="p",
                legal_basis="l",
                kind="copy",
                custody=(),
            )
            out = tmp_path / "export-1.zip"
            await build_package(
                service.db,
                service.lifecycle.volumes,
                service.integrity.checkpointer,
                service.integrity.signer,
                spec,
                out,
                stamp=service.integrity.stamp,
            )
        finally:
            await service.stop()
    with zipfile.ZipFile(out) as zf:
        manifest, token = zf.read("manifest.json"), zf.read("manifest.tsr")
    info = verify_token(token, manifest, tsa.root_pem)
    assert info.gen_time_us > 0
    with pytest.raises(TimestampError):
        verify_token(token, manifest + b" ", tsa.root_pem)
    assert export_verify.verify_package(out).ok
