"""The packager: builds the package of every approved copy request in the background.

One build at a time (a package is mostly file copying; two at once only share the disk).
A build writes ``data_dir/exports/export-<id>.zip.part`` and renames it when complete, then
records the outcome with its custody step (package, by the system) in one transaction. A
restart finds requests still approved with no package and builds them again from scratch,
so a build cut off by a crash leaves nothing half-done behind a "ready". A window whose
footage is still being written is retried later; a build that fails is retried after
``RETRY_S`` and its error stays on the request until one succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from index import exports as q
from index.cameras import get_camera
from index.db import Database
from index.records import ExportRecord
from surveil.background import Background
from surveil.clock import Clock
from surveil.export_package import CustodyEntry, PackageNotReady, PackageSpec, build_package
from surveil.exports import EXPORTS_DIR, SYSTEM_ACTOR, ExportSettings, record_step
from surveil.integrity import Integrity
from surveil.lookup import CameraRef
from surveil.volumes import Volumes

logger = logging.getLogger(__name__)

POLL_S: Final = 30.0
RETRY_S: Final = 60.0


def package_name(request_id: int) -> str:
    return f"export-{request_id}.zip"


class Packager:
    """Builds packages; the API and pages read settings, progress and wake it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        data_dir: Path,
        settings: ExportSettings,
        volumes: Volumes,
        integrity: Integrity | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.settings = settings
        self.volumes = volumes
        self.integrity = integrity
        self._progress: dict[int, float] = {}
        self._retry_at: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._bg = Background("packager")

    @property
    def enabled(self) -> bool:
        """Packages need the log (its proofs and key); without it requests wait."""
        return self.integrity is not None

    def progress(self, request_id: int) -> float | None:
        """0..1 while the request's package is being built, else None."""
        return self._progress.get(request_id)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self.enabled:
            self._bg.start(self._run)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("packager: a pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()

    async def run_once(self) -> int:
        """Build every package that is due; how many were built."""
        if self.integrity is None:
            return 0
        async with self.db.read() as s:
            due = await q.to_package(s)
            failed = await q.failed_packages(s)
        now = time.monotonic()
        built = 0
        for rid in [*due, *failed]:
            if self._retry_at.get(rid, 0.0) > now:
                continue
            if await self.build(rid):
                built += 1
        return built

    async def build(self, request_id: int) -> bool:
        """Build one request's package; True when it was built and recorded."""
        integrity = self.integrity
        assert integrity is not None
        async with self.db.read() as s:
            r = await q.get_request(s, request_id)
            steps = await q.steps_for(s, request_id)
        if r.state != "approved" or r.kind != "copy" or r.package_state == "ready":
            return False
        out = self.data_dir / EXPORTS_DIR / package_name(r.id)
        out.parent.mkdir(parents=True, exist_ok=True)
        spec = PackageSpec(
            request_id=r.id,
            receipt_no=r.receipt_no,
            counter=r.counter,
            cameras=await self._cameras(r),
            start_us=r.start_us,
            end_us=r.end_us,
            party={
                "name": r.party.name,
                "id_type": r.party.id_type,
                "id_number": r.party.id_number,
                "relation": r.party.relation,
            },
            purpose=r.purpose,
            legal_basis=r.legal_basis,
            kind=r.kind,
            custody=tuple(
                CustodyEntry(
                    step=st.step,
                    actor=st.actor,
                    role=st.actor_role,
                    at_us=st.at_us,
                    decision=_decision(st.step),
                    reason=st.reason,
                    audit_id=st.audit_id,
                )
                for st in steps
                if st.step not in ("view", "download")
            ),
        )
        await self.db.write(lambda s: q.set_package(s, r.id, "building"))
        self._progress[r.id] = 0.0
        try:
            result = await build_package(
                self.db,
                self.volumes,
                integrity.checkpointer,
                integrity.signer,
                spec,
                out,
                stamp=integrity.stamp,
                progress=lambda f: self._progress.__setitem__(r.id, f),
            )
        except PackageNotReady as exc:
            logger.info("export %d: not ready yet: %s", r.id, exc)
            await self.db.write(lambda s: q.set_package(s, r.id, "none"))
            self._retry_at[r.id] = time.monotonic() + RETRY_S
            return False
        except Exception as exc:
            logger.exception("export %d: the package could not be built", r.id)
            message = f"{type(exc).__name__}: {exc}"[:500]
            await self.db.write(lambda s: q.set_package(s, r.id, "failed", error=message))
            self._retry_at[r.id] = time.monotonic() + RETRY_S
            return False
        finally:
            self._progress.pop(r.id, None)
        now_us = self.clock.now_us()

        async def record(s: AsyncSession) -> None:
            current = await q.get_request(s, r.id, lock=True)
            await q.set_package(
                s, r.id, "ready", file=out.name, size=result.bytes, sha256=result.sha256
            )
            await q.set_state(s, r.id, "packaged", now_us)
            await record_step(
                s,
                current,
                "package",
                SYSTEM_ACTOR,
                now_us,
                to_state="packaged",
                detail={
                    "sha256": result.sha256,
                    "bytes": result.bytes,
                    "segments": result.segments,
                    "gaps": result.gaps,
                    "checkpoint_size": result.checkpoint_size,
                },
            )

        await self.db.write(record)
        self._retry_at.pop(r.id, None)
        logger.info("export %d: packaged (%d bytes)", r.id, result.bytes)
        return True

    async def _cameras(self, r: ExportRecord) -> tuple[CameraRef, ...]:
        out = []
        async with self.db.read() as s:
            for name in r.cameras:
                cam = await get_camera(s, name)
                out.append(CameraRef(cam.id, cam.name))
        return tuple(out)


def _decision(step: str) -> str | None:
    return {
        "review": "pass",
        "return": "returned",
        "approve": "approved",
        "reject": "rejected",
    }.get(step)
