"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from index.db import Database
from index.receipts import ReceiptSettings
from surveil.access_log import AccessLog
from surveil.clock import Clock
from surveil.config import WebSettings
from surveil.export_jobs import Packager
from surveil.exports import ExportSettings
from surveil.integrity import Integrity
from surveil.lifecycle import Lifecycle
from surveil.metrics import (
    CameraMetrics,
    DiskMetrics,
    IntegrityMetrics,
    LifecycleMetrics,
    MetricsSource,
    SurveilCollector,
)
from surveil.status import StatusSource
from surveil.volumes import Volumes
from web.access import guard_middleware
from web.auth import (
    LIMITER_KEY,
    SESSION_TOUCH_INTERVAL_US,
    SESSION_TOUCHER_KEY,
    TOUCHER_KEY,
    LoginLimiter,
    TokenToucher,
    Toucher,
)
from web.errors import error_middleware
from web.headers import set_response_headers
from web.keys import (
    ACCESS_LOG_KEY,
    CAMERA_CONTROL_KEY,
    CLOCK_KEY,
    DATA_DIR_KEY,
    DB_KEY,
    EXPORTS_KEY,
    INTEGRITY_KEY,
    LIFECYCLE_KEY,
    METRICS_KEY,
    RECEIPTS_KEY,
    SETTINGS_KEY,
    STATUS_KEY,
    VOLUMES_KEY,
    CameraControl,
)
from web.pages import setup_pages
from web.params import text_middleware
from web.routes import setup_routes


def create_app(
    db: Database,
    status: StatusSource,
    data_dir: Path,
    clock: Clock,
    receipts: ReceiptSettings | None = None,
    settings: WebSettings | None = None,
    cameras: CameraControl | None = None,
    integrity: Integrity | None = None,
    metrics_sources: Sequence[MetricsSource] = (),
    lifecycle: Lifecycle | None = None,
    exports: Packager | None = None,
) -> web.Application:
    """Build the web application around an opened database; the caller owns db's lifetime.

    metrics_sources: exported by GET /metrics after the built-in ones (the cameras, the
    integrity log when given, every volume's space).
    lifecycle: volumes, retention and holds (the storage API and pages answer 503 without
    it, and the data directory is then the one volume).
    exports: the packager (one that is never started is made when none is given).
    """
    # error_middleware is outermost so that auth failures become JSON errors too.
    # text_middleware before the guard: a denial's audit row records the path, and the
    # guard reads forms for their CSRF field.
    app = web.Application(middlewares=[error_middleware, text_middleware, guard_middleware])
    app[DB_KEY] = db
    app[STATUS_KEY] = status
    app[DATA_DIR_KEY] = data_dir
    volumes = lifecycle.volumes if lifecycle is not None else Volumes.single(data_dir)
    app[VOLUMES_KEY] = volumes
    if lifecycle is not None:
        app[LIFECYCLE_KEY] = lifecycle
    app[CLOCK_KEY] = clock
    app[RECEIPTS_KEY] = receipts or ReceiptSettings()
    app[EXPORTS_KEY] = exports or Packager(
        db, clock, data_dir, ExportSettings(receipts=app[RECEIPTS_KEY]), volumes, integrity
    )
    if cameras is not None:
        app[CAMERA_CONTROL_KEY] = cameras
    if integrity is not None:
        app[INTEGRITY_KEY] = integrity
    settings = settings or WebSettings()
    app[SETTINGS_KEY] = settings
    app[TOUCHER_KEY] = TokenToucher()
    app[SESSION_TOUCHER_KEY] = Toucher(SESSION_TOUCH_INTERVAL_US)
    app[LIMITER_KEY] = LoginLimiter(settings.login_max_failures, settings.login_window_us)
    app[ACCESS_LOG_KEY] = AccessLog(db)
    sources: list[MetricsSource] = [CameraMetrics(status, clock)]
    if integrity is not None:
        sources.append(IntegrityMetrics(integrity))
    sources.append(DiskMetrics({name: volumes.root(name) for name in volumes.names()}))
    if lifecycle is not None:
        sources.append(LifecycleMetrics(lifecycle))
    sources += metrics_sources
    app[METRICS_KEY] = SurveilCollector(sources)
    app.on_response_prepare.append(set_response_headers)
    setup_pages(app)
    setup_routes(app)
    return app
