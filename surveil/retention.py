"""Retention: which footage may go, deleting it through the logged garbage step, and the
holds that keep everything else.

One home for the policy (docs/design/storage.md); the CLI (`surveil retention plan`), the
API, the pages and the disk monitor all call Retention.

- How long: the most specific rule applies — the camera's, else the longest of its
  counters' rules, else the installation's rule, else ``[retention] retain_days``.
- What is never deleted: footage under an active hold (a receipt's, a case's until archived
  + archive_retain_days, a legal hold, an export request's), not yet confirmed in central
  storage when transfer is configured, and any segment that is open, missing or damaged.
- Under pressure (the critical mark of a volume, or its quota) the pass first applies the
  age rule on that volume, then, only where a confirmed central copy stays, deletes local
  copies oldest first: the record is still in the information system (art. 22).
- Deleting a file: mark_garbage (row, deletions row and log leaf in one transaction) →
  unlink → fsync(dir) → finish_deletions. Startup finishes what a crash left as garbage.
- Every pass is audited (retention.pass, with its totals).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from dataclasses import dataclass, field, replace

from sqlalchemy.ext.asyncio import AsyncSession

from index import audit, retention
from index.db import Database
from index.errors import RetentionRuleNotFound
from index.records import (
    AuditIn,
    Decision,
    DeletionRecord,
    RetentionPassRecord,
    RetentionRuleRecord,
    SegmentRecord,
)
from surveil.background import Background
from surveil.clock import Clock
from surveil.config import RetentionConfig
from surveil.volumes import Volumes

logger = logging.getLogger(__name__)

DAY_US = 86_400 * 1_000_000
SYSTEM = AuditIn(actor="retention", actor_kind="system", action="retention.pass", outcome="ok")
_BATCH = 500


@dataclass(frozen=True)
class CameraPolicy:
    """The retention that applies to one camera, and where it comes from."""

    camera_id: int
    camera: str
    retain_days: int
    source: str  # "camera X", "counter A01", "installation" or "config"

    def cutoff_us(self, now_us: int) -> int:
        return now_us - self.retain_days * DAY_US


@dataclass(frozen=True)
class CameraPlan:
    policy: CameraPolicy
    eligible: int
    eligible_bytes: int
    kept: dict[str, tuple[int, int]]  # reason -> (segments, bytes), of those past the age


@dataclass(frozen=True)
class RetentionPlan:
    """What a pass would delete now, and what it keeps of what is old enough, and why."""

    now_us: int
    require_central: bool
    cameras: list[CameraPlan]
    first: list[tuple[SegmentRecord, str]]  # the oldest eligible segments with their reason

    @property
    def eligible(self) -> int:
        return sum(c.eligible for c in self.cameras)

    @property
    def eligible_bytes(self) -> int:
        return sum(c.eligible_bytes for c in self.cameras)


@dataclass
class _Tally:
    deleted: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)


def policies(
    scopes: list[tuple[int, str, tuple[str, ...]]],
    rules: list[RetentionRuleRecord],
    default_days: int,
) -> list[CameraPolicy]:
    """Each camera's retention: its own rule, else the longest of its counters', else the
    installation rule, else the configured default."""
    by_camera = {r.ref: r.retain_days for r in rules if r.scope == "camera"}
    by_counter = {r.ref: r.retain_days for r in rules if r.scope == "counter"}
    installation = next((r.retain_days for r in rules if r.scope == "installation"), None)
    out: list[CameraPolicy] = []
    for cam_id, name, counters in scopes:
        if name in by_camera:
            out.append(CameraPolicy(cam_id, name, by_camera[name], f"camera {name}"))
            continue
        ruled = [(by_counter[c], c) for c in counters if c in by_counter]
        if ruled:
            days, code = max(ruled)
            out.append(CameraPolicy(cam_id, name, days, f"counter {code}"))
        elif installation is not None:
            out.append(CameraPolicy(cam_id, name, installation, "installation"))
        else:
            out.append(CameraPolicy(cam_id, name, default_days, "config"))
    return out


class Retention:
    """Plans and runs retention passes; start() runs them every interval_minutes."""

    def __init__(
        self,
        db: Database,
        volumes: Volumes,
        clock: Clock,
        cfg: RetentionConfig,
        *,
        require_central: bool = False,
        batch: int = _BATCH,
    ) -> None:
        self._db = db
        self._volumes = volumes
        self._clock = clock
        self.cfg = cfg
        self.require_central = require_central
        self._batch = batch
        self._lock = asyncio.Lock()
        self._bg = Background("retention")
        self._wake = asyncio.Event()
        self.last_pass: RetentionPassRecord | None = None
        self.last_error: str | None = None
        # Files a deletion could not unlink (an I/O error): retried by the next pass.
        self.stuck: list[str] = []

    # -- policy ----------------------------------------------------------------------

    async def policies(self) -> list[CameraPolicy]:
        async with self._db.read() as s:
            scopes = await retention.camera_scopes(s)
            rules = await retention.list_rules(s)
        return policies(scopes, rules, self.cfg.retain_days)

    async def plan(self, *, limit: int = 50) -> RetentionPlan:
        """What a scheduled pass would delete now, without deleting anything."""
        now = self._clock.now_us()
        cameras: list[CameraPlan] = []
        first: list[tuple[SegmentRecord, str]] = []
        for pol in await self.policies():
            cutoff = pol.cutoff_us(now)
            count, size = 0, 0
            after: tuple[int, int] | None = None
            async with self._db.read() as s:
                while True:
                    page = await retention.eligible_segments(
                        s,
                        now_us=now,
                        require_central=self.require_central,
                        camera_id=pol.camera_id,
                        ended_before_us=cutoff,
                        after=after,
                        limit=retention.PLAN_PAGE_MAX,
                    )
                    if not page:
                        break
                    count += len(page)
                    size += sum(seg.bytes for seg in page)
                    first.extend((seg, _age_reason(pol)) for seg in page[: max(0, limit)])
                    after = (page[-1].start_us, page[-1].id)
                kept = await retention.kept_counts(
                    s,
                    camera_id=pol.camera_id,
                    ended_before_us=cutoff,
                    now_us=now,
                    require_central=self.require_central,
                )
            cameras.append(CameraPlan(pol, count, size, kept))
        first.sort(key=lambda item: (item[0].start_us, item[0].id))
        return RetentionPlan(now, self.require_central, cameras, first[:limit])

    # -- passes ----------------------------------------------------------------------

    async def run_pass(
        self, trigger: str = "schedule", *, volume: str | None = None, need_bytes: int = 0
    ) -> RetentionPassRecord:
        """One pass: finish leftover garbage, delete what the age rule allows (on volume, or
        everywhere), then, for trigger 'disk' or 'quota', evict confirmed local copies oldest
        first until need_bytes are freed. Audited as retention.pass."""
        async with self._lock:
            now = self._clock.now_us()
            pass_id = await self._db.write(lambda s: retention.start_pass(s, trigger, volume, now))
            tally = _Tally()
            summary: dict[str, object] = {"trigger": trigger}
            try:
                await self._finish_garbage(tally)
                per_camera: dict[str, object] = {}
                for pol in await self.policies():
                    deleted_before = tally.deleted
                    await self._delete_where(
                        pass_id,
                        tally,
                        policy="retain_days",
                        reason=_age_reason(pol),
                        camera_id=pol.camera_id,
                        ended_before_us=pol.cutoff_us(now),
                        volume=volume,
                        require_central=self.require_central,
                    )
                    per_camera[pol.camera] = {
                        "retain_days": pol.retain_days,
                        "source": pol.source,
                        "deleted": tally.deleted - deleted_before,
                    }
                summary["cameras"] = per_camera
                if trigger in ("disk", "quota") and volume is not None and tally.bytes < need_bytes:
                    await self._delete_where(
                        pass_id,
                        tally,
                        policy=trigger,
                        reason=f"space on volume {volume} ({trigger}); a confirmed copy stays "
                        "in central storage",
                        volume=volume,
                        require_central=True,
                        stop_at_bytes=need_bytes,
                    )
                    summary["need_bytes"] = need_bytes
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("retention pass %d failed", pass_id)
                summary["error"] = self.last_error
                await self._finish(pass_id, tally, summary, None, "failed")
                raise
            if tally.failed:
                summary["unlink_failed"] = tally.failed[:20]
            self.last_error = None
            return await self._finish(pass_id, tally, summary, self._clock.now_us(), "ok")

    async def _finish(
        self,
        pass_id: int,
        tally: _Tally,
        summary: dict[str, object],
        finished_us: int | None,
        outcome: str,
    ) -> RetentionPassRecord:
        now = self._clock.now_us()

        async def write(s: AsyncSession) -> RetentionPassRecord:
            record = await retention.finish_pass(
                s,
                pass_id,
                deleted=tally.deleted,
                size=tally.bytes,
                summary=summary,
                now_us=finished_us,
            )
            entry = AuditIn(
                actor=SYSTEM.actor,
                actor_kind=SYSTEM.actor_kind,
                action=SYSTEM.action,
                outcome=outcome,
                target=f"pass {pass_id}",
                detail={
                    "pass": pass_id,
                    "trigger": record.trigger,
                    "volume": record.volume,
                    "deleted": tally.deleted,
                    "bytes": tally.bytes,
                    **({"error": summary["error"]} if "error" in summary else {}),
                },
            )
            await audit.add_audit(s, entry, now)
            return record

        record = await self._db.write(write)
        self.last_pass = record
        if tally.deleted:
            logger.info(
                "retention pass %d (%s): deleted %d segments, %d bytes",
                pass_id,
                record.trigger,
                tally.deleted,
                tally.bytes,
            )
        return record

    async def _delete_where(
        self,
        pass_id: int,
        tally: _Tally,
        *,
        policy: str,
        reason: str,
        require_central: bool,
        camera_id: int | None = None,
        ended_before_us: int | None = None,
        volume: str | None = None,
        stop_at_bytes: int | None = None,
    ) -> None:
        after: tuple[int, int] | None = None
        while stop_at_bytes is None or tally.bytes < stop_at_bytes:
            now = self._clock.now_us()
            async with self._db.read() as s:
                page = await retention.eligible_segments(
                    s,
                    now_us=now,
                    require_central=require_central,
                    camera_id=camera_id,
                    ended_before_us=ended_before_us,
                    volume=volume,
                    after=after,
                    limit=self._batch,
                )
            if not page:
                return
            after = (page[-1].start_us, page[-1].id)
            if stop_at_bytes is not None:
                page = _enough(page, stop_at_bytes - tally.bytes)
            decisions = [Decision(seg.id, policy, reason) for seg in page]
            marked = await self._db.write(
                lambda s, d=decisions, t=now: retention.mark_garbage(  # type: ignore[misc]
                    s, pass_id, d, t, require_central
                )
            )
            await self._unlink_and_finish(marked, tally)

    async def _unlink_and_finish(self, marked: list[DeletionRecord], tally: _Tally) -> int:
        if not marked:
            return 0
        gone = await asyncio.to_thread(self._unlink_all, marked, tally.failed)
        if gone:
            now = self._clock.now_us()
            await self._db.write(lambda s: retention.finish_deletions(s, [d.id for d in gone], now))
        tally.bytes += sum(d.bytes for d in gone)
        tally.deleted += len(gone)
        return len(gone)

    def _unlink_all(self, marked: list[DeletionRecord], failed: list[str]) -> list[DeletionRecord]:
        """Unlink each file and fsync each directory once; the deletions whose unlink is
        durable. A file already gone counts as deleted (a crash after the unlink)."""
        gone: list[DeletionRecord] = []
        dirs: dict[str, list[DeletionRecord]] = {}
        for d in marked:
            try:
                path = self._volumes.file(d.volume, d.path)
            except KeyError as exc:
                failed.append(f"{d.path}: {exc}")
                continue
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append(f"{d.path}: {exc.strerror or exc}")
                logger.error("retention: cannot delete %s: %s", path, exc)
                continue
            dirs.setdefault(str(path.parent), []).append(d)
        for directory, ds in dirs.items():
            try:
                fsync_dir_if_present(directory)
            except OSError as exc:
                failed.append(f"{directory}: fsync: {exc.strerror or exc}")
                continue
            gone.extend(ds)
        return gone

    async def _finish_garbage(self, tally: _Tally) -> int:
        """Finish deletions a crash (or an I/O error) left unfinished."""
        done = 0
        after = 0
        while True:
            async with self._db.read() as s:
                page = await retention.unfinished_deletions(s, after, self._batch)
            if not page:
                return done
            after = page[-1].id
            done += await self._unlink_and_finish(page, tally)

    async def finish_garbage(self) -> int:
        """At startup: finish every deletion a crash left between its steps."""
        async with self._lock:
            tally = _Tally()
            done = await self._finish_garbage(tally)
            if done:
                logger.warning("retention: finished %d deletions left by a crash", done)
            return done

    # -- the timer ---------------------------------------------------------------------

    def start(self) -> None:
        self._bg.start(self._run)

    def wake(self) -> None:
        """Run a scheduled pass now (e.g. after a rule changed)."""
        self._wake.set()

    async def stop(self) -> None:
        await self._bg.stop()

    async def _run(self) -> None:
        trigger = "startup"
        while True:
            try:
                await self.run_pass(trigger)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass  # recorded in the pass, the audit log and last_error
            trigger = "schedule"
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.interval_minutes * 60)


async def set_rule(
    db: Database, scope: str, ref: str, retain_days: int, actor: AuditIn, now_us: int
) -> RetentionRuleRecord:
    """Set how long a scope keeps footage, audited as retention.rule_set (with the value it
    replaced). Raises InvalidRecord (an unknown counter or camera, bounds)."""

    async def write(s: AsyncSession) -> RetentionRuleRecord:
        rule, before = await retention.set_rule(s, scope, ref, retain_days, actor.actor, now_us)
        detail: dict[str, object] = {
            "scope": scope,
            "ref": ref,
            "retain_days": retain_days,
            "was": None if before is None else before.retain_days,
        }
        entry = replace(
            actor, action="retention.rule_set", target=_rule_target(scope, ref), detail=detail
        )
        await audit.add_audit(s, entry, now_us)
        return rule

    return await db.write(write)


async def remove_rule(
    db: Database, scope: str, ref: str, actor: AuditIn, now_us: int
) -> RetentionRuleRecord:
    """Remove a scope's rule (the next wider one applies), audited as retention.rule_removed;
    RetentionRuleNotFound when there is none."""

    async def write(s: AsyncSession) -> RetentionRuleRecord:
        before = await retention.remove_rule(s, scope, ref)
        if before is None:
            raise RetentionRuleNotFound(f"no retention rule for {_rule_target(scope, ref)}")
        detail: dict[str, object] = {"scope": scope, "ref": ref, "was": before.retain_days}
        entry = replace(
            actor, action="retention.rule_removed", target=_rule_target(scope, ref), detail=detail
        )
        await audit.add_audit(s, entry, now_us)
        return before

    return await db.write(write)


def _rule_target(scope: str, ref: str) -> str:
    return "installation" if scope == "installation" else f"{scope} {ref}"


def _age_reason(pol: CameraPolicy) -> str:
    return f"older than {pol.retain_days} days ({pol.source})"


def _enough(page: list[SegmentRecord], need: int) -> list[SegmentRecord]:
    """The oldest segments of page that together free at least need bytes."""
    out: list[SegmentRecord] = []
    freed = 0
    for seg in page:
        if freed >= need:
            break
        out.append(seg)
        freed += seg.bytes
    return out


def fsync_dir_if_present(directory: str) -> None:
    """fsync a directory after an unlink in it; a directory that is gone has nothing to sync."""
    try:
        fsync_dir_path = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return
        raise
    try:
        os.fsync(fsync_dir_path)
    finally:
        os.close(fsync_dir_path)
