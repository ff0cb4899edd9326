"""Wiring of the running service: index, recovery, recorders and web server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from cameras.credentials import CredentialBox, CredentialError
from index.db import Database
from surveil.archive import RecoveryReport, recover_archive
from surveil.clock import Clock, SystemClock
from surveil.config import Config, ConfigError
from surveil.export_jobs import Packager
from surveil.exports import export_settings
from surveil.integrity import Integrity
from surveil.lifecycle import Lifecycle
from surveil.log_key import LogKeyError, open_log_key
from surveil.sm2 import Sm2Error
from surveil.supervisor import Supervisor
from surveil.timestamp import TimestampError
from web.app import create_app

logger = logging.getLogger(__name__)


class Service:
    """The whole recorder in one process; start() and stop() in that order."""

    def __init__(self, cfg: Config, *, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.db: Database | None = None
        self.supervisor: Supervisor | None = None
        self.recovery: RecoveryReport | None = None
        self.integrity: Integrity | None = None
        self.lifecycle: Lifecycle | None = None
        self.packager: Packager | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        cfg = self.cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Before anything else: a key file others can read must stop the service.
            credentials = CredentialBox.open(cfg.data_dir)
            signer = open_log_key(cfg.data_dir, cfg.integrity.origin)
        except (CredentialError, LogKeyError) as exc:
            raise ConfigError(str(exc)) from None
        self.db = db = await Database.open(cfg.effective_database_url)
        try:
            lifecycle = Lifecycle.configured(db, cfg, self.clock)
            # Recovery runs before any recorder so it never races a writer.
            self.recovery = await recover_archive(db, lifecycle.volumes, self.clock)
            try:
                self.integrity = Integrity.configured(
                    db, cfg.data_dir, self.clock, cfg.integrity, signer, lifecycle.volumes
                )
            except (Sm2Error, TimestampError) as exc:
                raise ConfigError(str(exc)) from None
            await self.integrity.start()
            # Before the recorders: leftover garbage finished, every volume read once.
            self.lifecycle = lifecycle
            await lifecycle.start()
            self.supervisor = Supervisor(cfg, db, self.clock, credentials, lifecycle.space)
            self.packager = Packager(
                db,
                self.clock,
                cfg.data_dir,
                export_settings(cfg.exports, cfg.receipts.settings()),
                lifecycle.volumes,
                self.integrity,
            )
            app = create_app(
                db,
                self.supervisor,
                cfg.data_dir,
                self.clock,
                cfg.receipts.settings(),
                cfg.web.settings(),
                cameras=self.supervisor,
                integrity=self.integrity,
                lifecycle=lifecycle,
                exports=self.packager,
            )
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, cfg.web.host, cfg.web.port)
            await site.start()
            port = cfg.web.port
            if port == 0 and self._runner.addresses:
                port = self._runner.addresses[0][1]
            self.url = f"http://{cfg.web.host}:{port}/"
            await self.supervisor.start()
            self.packager.start()
        except BaseException:
            await self.stop()
            raise
        logger.info("serving on %s (index %s)", self.url, db.url_redacted)

    async def stop(self) -> None:
        if self.packager is not None:
            await self.packager.stop()
            self.packager = None
        if self.supervisor is not None:
            await self.supervisor.stop()
            self.supervisor = None
        if self.lifecycle is not None:
            await self.lifecycle.stop()
            self.lifecycle = None
        if self.integrity is not None:
            # After the recorders: the shutdown checkpoint covers their last seals.
            await self.integrity.stop()
            self.integrity = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.db is not None:
            await self.db.close()
            self.db = None


async def serve(
    cfg: Config,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, then shut down in order."""
    service = Service(cfg, clock=clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a SIGTERM during startup must lead to an orderly stop
    # (runs ended, segments sealed), not to the default immediate exit.
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
        if on_ready is not None and not stop.is_set():
            on_ready(service.url)
        await stop.wait()
        logger.info("stopping")
    finally:
        await service.stop()
