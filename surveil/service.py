"""Wiring of the running service: index, recovery, recorders and web server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from index.db import Database
from surveil.archive import recover_archive
from surveil.clock import Clock, SystemClock
from surveil.config import Config
from surveil.supervisor import Supervisor
from web.app import create_app

logger = logging.getLogger(__name__)


async def serve(
    cfg: Config,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); shut down in order."""
    clock = clock or SystemClock()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(cfg.effective_database_url)
    try:
        await recover_archive(db, cfg.data_dir, clock)
        supervisor = Supervisor(cfg, db, clock)
        app = create_app(db, supervisor, cfg.data_dir, clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, cfg.web.host, cfg.web.port)
        await site.start()
        await supervisor.start()
        host, port = cfg.web.host, cfg.web.port
        if port == 0 and runner.addresses:
            port = runner.addresses[0][1]
        url = f"http://{host}:{port}/"
        logger.info("serving on %s (index %s)", url, db.url_redacted)
        if on_ready is not None:
            on_ready(url)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("stopping")
        await supervisor.stop()
        await runner.cleanup()
    finally:
        await db.close()
