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
from index.receipts import ReceiptIn, get_receipt
from index.records import SegmentRecord
from surveil import export_verify
from surveil.accounts import SYSTEM_ACTOR
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
from surveil.receipts import record_receipt
from surveil.service import Service
from tests.harness import make_config, wait_for
from tests.test_exports import APPROVER, PARTY

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
