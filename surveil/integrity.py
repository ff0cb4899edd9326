"""The integrity service: the log's key, its checkpointer and scrub, verify runs, status.

One object that the service starts and stops and the web edge asks (app key
``INTEGRITY_KEY``): the API, the pages and the CLI call the same functions here, so each
policy has one home. The design is docs/design/integrity.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from index import merkle
from index.db import Database
from index.merkle import CheckpointRecord, IntegrityRunRecord
from surveil.checkpoints import CheckpointAlarm, Checkpointer, Stamp
from surveil.clock import Clock
from surveil.config import IntegrityConfig
from surveil.log_verify import AuditorCheckpoint, IntegrityReport, Progress, verify_integrity
from surveil.scrub import Scrubber, ScrubMismatch
from surveil.sm2 import load_or_create_sm2
from surveil.timestamp import TimestampError, fetch_token, verify_token
from surveil.volumes import Storage, Volumes
from tlog.note import NoteSigner, NoteVerifier, Signer

logger = logging.getLogger(__name__)

SM2_KEY_FILE = "log-sm2.pem"


@dataclass(frozen=True)
class VerifyProgress:
    """A verify started from the page: where it is, and its report when done."""

    started_us: int
    stage: str
    done: int
    total: int
    finished_us: int | None
    ok: bool | None
    findings: int


@dataclass(frozen=True)
class IntegrityStatus:
    log_size: int
    checkpoint: CheckpointRecord | None
    checkpoints: int
    verify: IntegrityRunRecord | None
    scrub: IntegrityRunRecord | None
    verify_running: VerifyProgress | None
    alarms: tuple[str, ...]


class Integrity:
    """The log's signer and background tasks for one data directory."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        clock: Clock,
        cfg: IntegrityConfig,
        signer: Signer,
        cosigners: tuple[NoteSigner, ...] = (),
        cover: tuple[NoteVerifier, ...] = (),
        stamp: Stamp | None = None,
        volumes: Volumes | None = None,
    ) -> None:
        self.db = db
        self.data_dir = data_dir
        # Where the segment files are (verify and scrub read them); the data directory alone
        # when no volumes are given.
        self.volumes = volumes or Volumes.single(data_dir)
        self.clock = clock
        self.cfg = cfg
        self.signer = signer
        self.stamp = stamp  # the RFC 3161 TSA, when configured (export packages use it too)
        self.checkpointer = Checkpointer(
            db,
            clock,
            signer.name,
            (signer, *cosigners),
            interval_s=cfg.checkpoint_seconds,
            stamp=stamp,
        )
        self.scrubber = Scrubber(db, self.volumes, clock, cfg.scrub_mb_per_s)
        self._extra_verifiers = cover
        self._verify_task: asyncio.Task[IntegrityReport] | None = None
        self._progress: VerifyProgress | None = None

    @classmethod
    def configured(
        cls,
        db: Database,
        data_dir: Path,
        clock: Clock,
        cfg: IntegrityConfig,
        signer: Signer,
        volumes: Volumes | None = None,
    ) -> Integrity:
        """With the optional co-signature and timestamps of cfg; Sm2Error if the SM2 key
        is unusable."""
        cosigners: tuple[NoteSigner, ...] = ()
        cover: tuple[NoteVerifier, ...] = ()
        if cfg.sm2:
            sm2 = load_or_create_sm2(data_dir / SM2_KEY_FILE, signer.name)
            cosigners, cover = (sm2,), (sm2.verifier(),)
        stamp: Stamp | None = None
        if cfg.tsa_url is not None:
            url, timeout = cfg.tsa_url, cfg.tsa_timeout_seconds
            root = None if cfg.tsa_root is None else _read_root(cfg.tsa_root)

            async def stamp(data: bytes) -> bytes:
                token = await fetch_token(url, data, timeout_s=timeout)
                if root is not None:  # a token that does not verify is not kept
                    verify_token(token, data, root)
                return token

        return cls(db, data_dir, clock, cfg, signer, cosigners, cover, stamp, volumes)

    @property
    def verifier_key(self) -> str:
        """The verifier key line auditors keep (note verifier-key form)."""
        return self.signer.verifier().line()

    @property
    def verifiers(self) -> tuple[NoteVerifier, ...]:
        return (self.signer.verifier(), *self._extra_verifiers)

    async def start(self) -> None:
        """A first checkpoint if the log grew since the last one (or none exists), then the
        timer and the scrub."""
        await self.checkpointer.issue()
        self.checkpointer.start()
        self.scrubber.start()

    async def stop(self) -> None:
        """Stop the scrub and any verify; issue the shutdown checkpoint."""
        await self.scrubber.stop()
        if self._verify_task is not None:
            self._verify_task.cancel()
            await asyncio.gather(self._verify_task, return_exceptions=True)
        await self.checkpointer.stop()

    async def checkpoint_now(self) -> CheckpointRecord:
        """A checkpoint of the log as it is (the latest, if the log did not grow)."""
        record = await self.checkpointer.issue(force=True)
        assert record is not None  # force returns the latest when nothing is new
        return record

    async def verify(self, progress: Progress | None = None) -> IntegrityReport:
        """The whole check with the installation's key, recorded in integrity_runs."""
        return await run_verify(
            self.db, self.volumes, self.verifiers, self.clock, progress=progress
        )

    def start_verify(self) -> VerifyProgress:
        """Run verify in the background (the page's button); one at a time."""
        if self._verify_task is not None and not self._verify_task.done():
            assert self._progress is not None
            return self._progress
        started = self.clock.now_us()
        self._progress = VerifyProgress(started, "files", 0, 0, None, None, 0)

        def progress(stage: str, done: int, total: int) -> None:
            self._progress = VerifyProgress(started, stage, done, total, None, None, 0)

        async def run() -> IntegrityReport:
            try:
                report = await self.verify(progress)
            except Exception:
                logger.exception("verify failed")
                self._progress = VerifyProgress(
                    started, "failed", 0, 0, self.clock.now_us(), False, 0
                )
                raise
            self._progress = VerifyProgress(
                started,
                "done",
                report.leaves_checked,
                report.log_size,
                self.clock.now_us(),
                report.ok,
                len(report.all_findings),
            )
            return report

        self._verify_task = asyncio.create_task(run(), name="verify")
        return self._progress

    async def status(self) -> IntegrityStatus:
        async with self.db.read() as s:
            size = await merkle.log_size(s)
            checkpoint = await merkle.latest_checkpoint(s)
            count = await merkle.checkpoint_count(s)
            verify = next(iter(await merkle.latest_runs(s, "verify")), None)
            scrub = next(iter(await merkle.latest_runs(s, "scrub")), None)
        return IntegrityStatus(
            log_size=size,
            checkpoint=checkpoint,
            checkpoints=count,
            verify=verify,
            scrub=scrub,
            verify_running=self._progress,
            alarms=self.alarms(verify),
        )

    def alarms(self, verify: IntegrityRunRecord | None = None) -> tuple[str, ...]:
        out: list[str] = []
        alarm: CheckpointAlarm | None = self.checkpointer.alarm
        if alarm is not None:
            out.append(f"checkpoint: {alarm.message}")
        mismatch: ScrubMismatch | None = self.scrubber.last_mismatch
        if mismatch is not None:
            out.append(f"scrub: segment {mismatch.segment_id} {mismatch.path}: {mismatch.reason}")
        if verify is not None and verify.finished_us is not None:
            if "error" in verify.summary:
                out.append(f"verify: failed ({verify.summary['error']}); see the service log")
            elif verify.findings:
                out.append(f"verify: {verify.findings} findings")
        return tuple(out)


async def run_verify(
    db: Database,
    data_dir: Storage,
    verifiers: tuple[NoteVerifier, ...],
    clock: Clock,
    *,
    auditor: AuditorCheckpoint | None = None,
    progress: Progress | None = None,
) -> IntegrityReport:
    """verify_integrity, recorded in integrity_runs (the page and status show the last)."""
    now = clock.now_us()
    run_id = await db.write(lambda s: merkle.start_run(s, "verify", now))
    try:
        report = await verify_integrity(
            db, data_dir, verifiers, clock=clock, auditor=auditor, progress=progress
        )
    except BaseException as exc:
        # The run ends either way: a status never shows a verify that will not finish.
        failed: dict[str, object] = {"error": type(exc).__name__}
        end = clock.now_us()
        await asyncio.shield(
            db.write(
                lambda s: merkle.update_run(
                    s,
                    run_id,
                    checked=0,
                    size=0,
                    findings=0,
                    position=0,
                    summary=failed,
                    finished_us=end,
                )
            )
        )
        raise
    summary: dict[str, object] = {"counts": report.counts(), "log_size": report.log_size}
    end = clock.now_us()
    await db.write(
        lambda s: merkle.update_run(
            s,
            run_id,
            checked=report.archive.checked + report.leaves_checked,
            size=report.archive.bytes_read,
            findings=len(report.all_findings),
            position=0,
            summary=summary,
            finished_us=end,
        )
    )
    return report


def _read_root(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TimestampError(f"cannot read [integrity] tsa_root {path}: {exc.strerror}") from None
