"""Transfer to central storage (art. 22): every sealed segment, confirmed by its SHA-256.

The loop takes due segments oldest first (never confirmed, or failed and past their
backoff), uploads each with its SHA-256 through the target (so the store refuses a wrong
body), and confirms it when the store then reports the segment's size and hash: the
confirmation and its leaf in the Merkle log are one transaction. A failure is recorded with
its attempt count and error, retried with backoff, and raises an alarm naming its cause (a
refused credential, an unreachable store). After a run that confirmed something, the
latest checkpoint note and a manifest of the run go too, so central storage alone shows
what the log vouches for.

State is in the index only, so a restart or a crash resumes where it stopped: an upload in
flight is simply sent again (the key is fixed per segment). Uploads share one bandwidth
bucket (``max_mbit_s``) and a bounded number run at a time (``concurrency``).

Credentials are in ``data_dir/transfer.cred``, encrypted with the data directory's key like
camera passwords (``surveil transfer credentials``), never in the configuration file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cameras.credentials import CredentialBox, CredentialError, read_private_file
from index import transfers
from index.db import Database
from index.merkle import CheckpointRecord
from index.records import SegmentRecord
from segmenter.paths import CENTRAL_CACHE_DIR
from surveil import __version__
from surveil.background import Background
from surveil.central.directory import DirectoryTarget
from surveil.central.s3 import S3Target
from surveil.central.target import CentralError, CentralTarget, verify_object
from surveil.central.throttle import Throttle
from surveil.clock import Clock
from surveil.config import TransferConfig
from surveil.findings import Finding
from surveil.volumes import Volumes

logger = logging.getLogger(__name__)

CREDENTIALS_FILE: Final = "transfer.cred"
CACHE_DIR: Final = CENTRAL_CACHE_DIR
HOUR_US: Final = 3_600_000_000
ERROR_HOURS: Final = 24.0  # art. 22: in the information system within 24 hours
_BATCH: Final = 100
_IDLE_S: Final = 2.0
_BACKOFF_FIRST_S: Final = 10.0
_BACKOFF_MAX_S: Final = 900.0

Checkpoints = Callable[[], Awaitable[CheckpointRecord | None]]


class TransferConfigError(Exception):
    """Transfer is configured but cannot be set up (no credentials, a bad endpoint)."""


@dataclass(frozen=True)
class TransferAlarm:
    at_us: int
    code: str
    message: str


@dataclass(frozen=True)
class TransferStatus:
    target: str
    object_lock: bool
    backlog_segments: int
    backlog_bytes: int
    failing: int
    lag_s: float | None  # age of the oldest sealed segment not confirmed; None when none
    level: str  # ok, warn (past warn_hours), error (past 24 h)
    confirmed_segments: int
    confirmed_bytes: int
    alarm: TransferAlarm | None
    warn_hours: float


def object_key(seg: SegmentRecord) -> str:
    """Where a segment goes in central storage: its path, which is unique and names it."""
    return f"segments/{seg.path}"


# -- credentials ---------------------------------------------------------------------------


def save_credentials(data_dir: Path, access_key: str, secret_key: str) -> Path:
    """Store the S3 credentials encrypted with data_dir's key (mode 0600, replaced whole)."""
    if not access_key or not secret_key:
        raise TransferConfigError("both the access key and the secret key are needed")
    box = CredentialBox.open(data_dir)
    token = box.encrypt(json.dumps({"access_key": access_key, "secret_key": secret_key}))
    path = data_dir / CREDENTIALS_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def load_credentials(data_dir: Path) -> tuple[str, str]:
    """(access key, secret key); TransferConfigError when absent or unreadable."""
    path = data_dir / CREDENTIALS_FILE
    if not path.exists():
        raise TransferConfigError(
            f"transfer.target is 's3' but {path} does not exist: set the credentials with "
            "'surveil transfer credentials'"
        )
    try:
        token = read_private_file(path, "the transfer credentials").decode("ascii").strip()
        raw = json.loads(CredentialBox.open(data_dir).decrypt(token))
        return str(raw["access_key"]), str(raw["secret_key"])
    except (CredentialError, OSError, ValueError, KeyError, UnicodeError) as exc:
        raise TransferConfigError(f"cannot read the transfer credentials: {exc}") from None


async def open_target(cfg: TransferConfig, data_dir: Path) -> CentralTarget:
    """The configured target (not yet checked); TransferConfigError if it cannot be made."""
    try:
        if cfg.target == "directory":
            assert cfg.path is not None
            return DirectoryTarget(cfg.path, timeout_s=cfg.timeout_seconds)
        access, secret = load_credentials(data_dir)
        assert cfg.endpoint is not None and cfg.bucket is not None
        return await S3Target.open(
            endpoint=cfg.endpoint,
            bucket=cfg.bucket,
            prefix=cfg.prefix,
            region=cfg.region,
            access_key=access,
            secret_key=secret,
            lock_days=cfg.lock_days,
            timeout_s=cfg.timeout_seconds,
        )
    except CentralError as exc:
        raise TransferConfigError(str(exc)) from None


# -- the service -----------------------------------------------------------------------------


class Transferrer:
    """Uploads and confirms sealed segments; start() runs the loop, cycle() one round."""

    def __init__(
        self,
        db: Database,
        volumes: Volumes,
        clock: Clock,
        cfg: TransferConfig,
        target: CentralTarget,
        *,
        checkpoints: Checkpoints | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._db = db
        self._volumes = volumes
        self._clock = clock
        self.cfg = cfg
        self.target = target
        self._checkpoints = checkpoints
        self._throttle = Throttle(cfg.max_mbit_s * 125_000)
        self._cache_dir = cache_dir or volumes.root(volumes.names()[0]) / CACHE_DIR
        self._bg = Background("transfer")
        self._lock = asyncio.Lock()
        self.alarm: TransferAlarm | None = None
        self.last_status: TransferStatus | None = None  # as of the end of the last round
        self._last_checkpoint_size: int | None = None

    # -- one round -------------------------------------------------------------------------

    async def cycle(self) -> int:
        """Upload every due segment once; the number confirmed."""
        async with self._lock:
            now = self._clock.now_us()
            confirmed: list[tuple[SegmentRecord, str]] = []
            after = 0
            sem = asyncio.Semaphore(self.cfg.concurrency)
            while True:
                async with self._db.read() as s:
                    page = await transfers.due(s, now, after, _BATCH)
                if not page:
                    break
                after = page[-1].id

                async def one(seg: SegmentRecord) -> None:
                    async with sem:
                        if await self._send(seg):
                            confirmed.append((seg, object_key(seg)))

                await asyncio.gather(*(one(seg) for seg in page))
                if self.alarm is not None and self.alarm.code in ("central_auth", "central_config"):
                    break  # every other upload would be refused the same way
            if confirmed:
                await self._send_manifest(confirmed, now)
            return len(confirmed)

    async def _send(self, seg: SegmentRecord) -> bool:
        key = object_key(seg)
        assert seg.sha256 is not None
        try:
            path = self._volumes.file(seg.volume, seg.path)
        except KeyError as exc:
            await self._failed(seg, key, CentralError("central_config", str(exc)))
            return False
        try:
            stored = await self.target.put_file(
                key, path, sha256=seg.sha256, size=seg.bytes, throttle=self._throttle
            )
        except CentralError as exc:
            await self._failed(seg, key, exc)
            return False
        if stored.size != seg.bytes or stored.sha256 != seg.sha256:
            await self._failed(
                seg,
                key,
                CentralError(
                    "central_checksum",
                    f"{self.target.name} reports {stored.size} bytes sha256 {stored.sha256} "
                    f"for {key}, the segment has {seg.bytes} bytes sha256 {seg.sha256}",
                ),
            )
            return False
        now = self._clock.now_us()
        name = self.target.name
        await self._db.write(
            lambda s: transfers.confirm(s, seg, name, key, stored.retain_until_us, now)
        )
        self.alarm = None
        return True

    async def _failed(self, seg: SegmentRecord, key: str, exc: CentralError) -> None:
        now = self._clock.now_us()
        name = self.target.name

        def backoff(attempts: int) -> int:
            delay_s = min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2 ** max(0, attempts - 1))
            return now + int(delay_s * 1_000_000)

        await self._db.write(
            lambda s: transfers.record_failure(s, seg.id, name, key, str(exc), now, backoff)
        )
        if self.alarm is None or self.alarm.code != exc.code:
            logger.error("transfer of %s to %s failed: %s", seg.path, name, exc)
        self.alarm = TransferAlarm(now, exc.code, _alarm_text(exc))

    async def _send_manifest(self, confirmed: list[tuple[SegmentRecord, str]], now: int) -> None:
        """The latest checkpoint and a manifest of this run; a failure is an alarm, never a
        reason to undo a confirmation."""
        batch_id = await self._db.write(lambda s: transfers.start_batch(s, now))
        checkpoint = None if self._checkpoints is None else await self._checkpoints()
        manifest: dict[str, object] = {
            "batch": batch_id,
            "software": f"surveil {__version__}",
            "created_us": now,
            "target": self.target.name,
            "checkpoint_size": None if checkpoint is None else checkpoint.size,
            "segments": [
                {"segment": seg.id, "key": key, "bytes": seg.bytes, "sha256": seg.sha256}
                for seg, key in sorted(confirmed, key=lambda c: c[0].id)
            ],
        }
        manifest_key = f"manifests/{now}-{batch_id}.json"
        error: str | None = None
        try:
            if checkpoint is not None and checkpoint.size != self._last_checkpoint_size:
                note = checkpoint.note.encode()
                await self.target.put_bytes(
                    f"checkpoints/{checkpoint.size}.note", note, content_type="text/plain"
                )
                await self.target.put_bytes(
                    "checkpoints/latest.note", note, content_type="text/plain"
                )
                self._last_checkpoint_size = checkpoint.size
            body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
            await self.target.put_bytes(manifest_key, body, content_type="application/json")
        except CentralError as exc:
            error = str(exc)
            self.alarm = TransferAlarm(self._clock.now_us(), exc.code, _alarm_text(exc))
            logger.error("transfer: the manifest of batch %d was not stored: %s", batch_id, exc)
        size = sum(seg.bytes for seg, _ in confirmed)
        await self._db.write(
            lambda s: transfers.finish_batch(
                s,
                batch_id,
                segments=len(confirmed),
                size=size,
                checkpoint_size=None if checkpoint is None else checkpoint.size,
                manifest_key=None if error else manifest_key,
                error=error,
                now_us=self._clock.now_us(),
            )
        )

    # -- status ----------------------------------------------------------------------------

    async def status(self) -> TransferStatus:
        now = self._clock.now_us()
        async with self._db.read() as s:
            backlog = await transfers.backlog(s, now)
            confirmed, confirmed_bytes = await transfers.confirmed_totals(s)
        lag_s = None if backlog.oldest_sealed_us is None else (now - backlog.oldest_sealed_us) / 1e6
        level = "ok"
        if lag_s is not None and lag_s >= ERROR_HOURS * 3600:
            level = "error"
        elif lag_s is not None and lag_s >= self.cfg.warn_hours * 3600:
            level = "warn"
        return TransferStatus(
            target=self.target.name,
            object_lock=self.target.object_lock,
            backlog_segments=backlog.segments,
            backlog_bytes=backlog.bytes,
            failing=backlog.failing,
            lag_s=lag_s,
            level=level,
            confirmed_segments=confirmed,
            confirmed_bytes=confirmed_bytes,
            alarm=self.alarm,
            warn_hours=self.cfg.warn_hours,
        )

    def alarms(self) -> list[str]:
        """The alarms as of the last round (status() reads the index, this does not)."""
        st = self.last_status
        out: list[str] = []
        if st is None:
            return [self.alarm.message] if self.alarm is not None else []
        if st.alarm is not None:
            out.append(st.alarm.message)
        if st.level == "error":
            out.append(
                f"transfer lag {st.lag_s / 3600:.1f} h: footage older than 24 h is not yet in "  # type: ignore[operator]
                "central storage (art. 22)"
            )
        elif st.level == "warn":
            out.append(
                f"transfer lag {st.lag_s / 3600:.1f} h (warning at {st.warn_hours:g} h)"  # type: ignore[operator]
            )
        return out

    # -- fetch back and verify ---------------------------------------------------------------

    async def fetch(self, seg: SegmentRecord) -> Path | None:
        """A local copy of a segment whose file is gone but whose central copy is confirmed,
        its SHA-256 checked; None when there is no confirmed copy or it does not verify."""
        async with self._db.read() as s:
            t = await transfers.transfer_of(s, seg.id)
        if t is None or t.state != "confirmed" or seg.sha256 is None:
            return None
        cached = self._cache_dir / seg.path
        if cached.exists() and await asyncio.to_thread(_sha256_of, cached) == seg.sha256:
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + ".fetch")
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                async for chunk in self.target.read(t.object_key):
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(out.write, chunk)
        except (CentralError, OSError) as exc:
            logger.error("cannot fetch %s back from %s: %s", seg.path, self.target.name, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            return None
        if size != seg.bytes or digest.hexdigest() != seg.sha256:
            logger.error(
                "the central copy of %s is not the segment: %d bytes sha256 %s",
                seg.path,
                size,
                digest.hexdigest(),
            )
            tmp.unlink()
            return None
        os.replace(tmp, cached)
        return cached

    async def verify_central(self) -> list[Finding]:
        """Re-hash every confirmed object in central storage: one finding per one that is
        absent or differs (`surveil verify --central`)."""
        found: list[Finding] = []
        after = 0
        while True:
            async with self._db.read() as s:
                page = await transfers.confirmed_page(s, after, 200)
            if not page:
                return found
            after = page[-1][0].id
            for seg, t in page:
                assert seg.sha256 is not None
                try:
                    problem = await verify_object(self.target, t.object_key, seg.sha256, seg.bytes)
                except CentralError as exc:
                    problem = str(exc)
                if problem is not None:
                    kind = "central_missing" if "absent" in problem else "central_changed"
                    found.append(Finding(kind, problem, seg.id, seg.path))

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        self._bg.start(self._run)

    async def stop(self) -> None:
        await self._bg.stop()
        await self.target.close()

    async def _run(self) -> None:
        try:
            await self.target.check()
        except CentralError as exc:
            self.alarm = TransferAlarm(self._clock.now_us(), exc.code, _alarm_text(exc))
            logger.error("central storage %s: %s", self.target.name, exc)
        else:
            if self.cfg.lock_days is not None and not self.target.object_lock:
                message = (
                    f"transfer: object lock is configured ({self.cfg.lock_days} days) but "
                    f"{self.target.name} does not lock objects: enable object lock on the bucket"
                )
                self.alarm = TransferAlarm(self._clock.now_us(), "central_config", message)
                logger.error("%s", message)
        while True:
            try:
                done = await self.cycle()
                self.last_status = await self.status()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("transfer round failed")
                done = 0
            if not done:
                await asyncio.sleep(_IDLE_S)


def _alarm_text(exc: CentralError) -> str:
    what = {
        "central_auth": "central storage refused the credentials",
        "central_unreachable": "central storage cannot be reached",
        "central_checksum": "central storage did not store the footage as sent",
        "central_config": "central storage is not set up right",
        "central_not_found": "central storage lacks a bucket or an object",
        "central_io": "central storage failed",
    }.get(exc.code, "central storage failed")
    return f"transfer: {what} ({exc.code}): {exc.message}"


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
