"""Supervisor.reconcile(): the running recorders follow the config and API cameras, and a
change to one camera never disturbs the others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from cameras.credentials import CredentialBox
from index import cameras as camera_queries
from index.cameras import CameraSpec
from index.db import Database
from surveil.clock import SystemClock
from surveil.config import parse_config
from surveil.supervisor import Supervisor
from tests.harness import wait_for

PASSWORD = "reconcile-Pw_1"


async def _spec(db: Database, name: str) -> CameraSpec:
    async with db.read() as s:
        return camera_queries.spec_of(await camera_queries.get_api_camera(s, name))


async def test_reconcile_starts_stops_and_restarts_only_what_changed(
    db: Database, rtsp_camera: Any, tmp_path: Path
) -> None:
    cam_a = rtsp_camera()
    cam_b = rtsp_camera(user="op", password=PASSWORD)
    cam_c = rtsp_camera()
    cam_d = rtsp_camera()
    cfg = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "recording": {"segment_seconds": 2.0, "rtsp_timeout_seconds": 2.0},
            "cameras": [{"name": "a", "url": cam_a.url}],
            "onvif": {"reprobe_minutes": 0},
        }
    )
    box = CredentialBox.open(cfg.data_dir)
    b = CameraSpec(
        name="b",
        source_url=cam_b.url_without_credentials,
        username="op",
        secret_enc=box.encrypt(PASSWORD),
    )
    c = CameraSpec(name="c", source_url=cam_c.url)
    await db.write(lambda s: camera_queries.create_api_camera(s, b, 1))
    await db.write(lambda s: camera_queries.create_api_camera(s, c, 1))

    sup = Supervisor(cfg, db, SystemClock(), box)
    await sup.start()
    try:
        assert set(sup.recorders) == {"a", "b", "c"}

        async def all_recording() -> bool:
            return all(r.status().state == "recording" for r in sup.recorders.values())

        await wait_for(all_recording, 20, "three cameras recording")
        a, b_rec, c_rec = (sup.recorders[n] for n in "abc")

        # Nothing changed: nothing restarts.
        await sup.reconcile()
        assert [sup.recorders[n] for n in "abc"] == [a, b_rec, c_rec]

        # c moves to another stream: only c restarts, and records from the new one.
        new_c = replace(await _spec(db, "c"), source_url=cam_d.url)
        await db.write(lambda s: camera_queries.update_api_camera(s, new_c, 2))
        await sup.reconcile()
        assert sup.recorders["a"] is a and sup.recorders["b"] is b_rec
        assert sup.recorders["c"] is not c_rec and not c_rec.alive
        assert sup.recorders["c"].source.description == cam_d.url
        await wait_for(all_recording, 20, "c recording from its new stream")

        # Disable b: stopped and listed as disabled; enable again: started.
        off_b = replace(await _spec(db, "b"), enabled=False)
        await db.write(lambda s: camera_queries.update_api_camera(s, off_b, 3))
        await sup.reconcile()
        assert "b" not in sup.recorders and not b_rec.alive
        assert {st.name: st.state for st in sup.camera_status()}["b"] == "disabled"
        on_b = replace(off_b, enabled=True)
        await db.write(lambda s: camera_queries.update_api_camera(s, on_b, 4))
        await sup.reconcile()
        assert sup.recorders["b"] is not b_rec
        await wait_for(all_recording, 20, "b recording again (its password decrypted)")

        # Delete c: stopped and gone from the status; a never noticed anything.
        c_now = sup.recorders["c"]
        await db.write(lambda s: camera_queries.delete_api_camera(s, "c", 5))
        await sup.reconcile()
        assert "c" not in sup.recorders and not c_now.alive
        assert "c" not in {st.name for st in sup.camera_status()}
        assert sup.recorders["a"] is a and a.status().state == "recording"

        # A password that cannot be decrypted: that camera reports why, the others record.
        broken = replace(await _spec(db, "b"), secret_enc="gAAAAAtampered")
        await db.write(lambda s: camera_queries.update_api_camera(s, broken, 6))
        await sup.reconcile()
        status = {st.name: st for st in sup.camera_status()}
        assert status["b"].state == "offline"
        assert "cannot be decrypted" in (status["b"].error or "")
        assert sup.recorders["a"] is a
    finally:
        await sup.stop()
    assert not sup.recorders and not a.alive


async def test_clock_alarm_in_status(db: Database, tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "onvif": {"reprobe_minutes": 0, "clock_alarm_seconds": 2.0},
        }
    )
    spec = CameraSpec(
        name="slow", source_url="rtsp://127.0.0.1:9/x", enabled=False, clock_offset_us=-3_250_000
    )
    fine = CameraSpec(
        name="fine", source_url="rtsp://127.0.0.1:9/y", enabled=False, clock_offset_us=1_500_000
    )
    await db.write(lambda s: camera_queries.create_api_camera(s, spec, 1))
    await db.write(lambda s: camera_queries.create_api_camera(s, fine, 1))
    sup = Supervisor(cfg, db, SystemClock())
    await sup.start()
    try:
        status = {st.name: st for st in sup.camera_status()}
        assert status["slow"].clock_offset_s == -3.25
        assert status["slow"].alarms == ("camera clock off by 3.2 s (behind)",)
        assert status["fine"].clock_offset_s == 1.5 and status["fine"].alarms == ()
    finally:
        await sup.stop()
