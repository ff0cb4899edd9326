"""Typed keys for application and request state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from cameras.credentials import CredentialBox
from index.db import Database
from index.receipts import ReceiptSettings
from surveil.access_log import AccessLog
from surveil.clock import Clock
from surveil.config import OnvifConfig, WebSettings
from surveil.export_jobs import Packager
from surveil.integrity import Integrity
from surveil.lifecycle import Lifecycle
from surveil.metrics import SurveilCollector
from surveil.serving import Fetch
from surveil.status import StatusSource
from surveil.volumes import Volumes
from web.principal import Principal


class CameraControl(Protocol):
    """What the camera API needs from the supervisor (surveil.supervisor.Supervisor)."""

    @property
    def credentials(self) -> CredentialBox:
        """Encrypts camera passwords for the index and decrypts them for snapshots."""
        ...

    @property
    def onvif(self) -> OnvifConfig: ...

    def camera_url(self, name: str) -> str | None:
        """A camera's stream URL with its credentials, for snapshots; never log it."""
        ...

    async def reconcile(self) -> None:
        """Start, stop or restart recorders to match the committed cameras."""
        ...


DB_KEY = web.AppKey("db", Database)
STATUS_KEY = web.AppKey("status", StatusSource)
DATA_DIR_KEY = web.AppKey("data_dir", Path)
CLOCK_KEY = web.AppKey("clock", Clock)
RECEIPTS_KEY = web.AppKey("receipts", ReceiptSettings)
SETTINGS_KEY = web.AppKey("settings", WebSettings)
ACCESS_LOG_KEY = web.AppKey("access_log", AccessLog)
# The OpenAPI document, built once from the route table (web/routes.py).
OPENAPI_KEY = web.AppKey("openapi", dict[str, Any])


# Builds the context every page template needs (set by web.pages.setup_pages).
class PageContext(Protocol):
    def __call__(self, request: web.Request) -> dict[str, Any]: ...


PAGE_CONTEXT_KEY = web.AppKey("page_context", PageContext)
# Absent when the app runs without a supervisor (tests of other endpoints): camera
# changes then answer 503.
CAMERA_CONTROL_KEY = web.AppKey("camera_control", CameraControl)


def reconciler(app: web.Application) -> Callable[[], Awaitable[None]] | None:
    """The supervisor's reconcile, for the services' writes; None without a supervisor."""
    control = app.get(CAMERA_CONTROL_KEY)
    return None if control is None else control.reconcile


# Set by the auth middleware on every authenticated request.
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
# Absent when the app runs without the integrity service (tests of other endpoints): the
# integrity API then answers 503.
INTEGRITY_KEY = web.AppKey("integrity", Integrity)
# The Prometheus collector of GET /metrics (web/metrics.py), built by create_app.
METRICS_KEY = web.AppKey("metrics", SurveilCollector)
# Where segment files are: every volume by name (the data directory alone by default).
VOLUMES_KEY = web.AppKey("volumes", Volumes)
# Absent when the app runs without the storage lifecycle (tests of other endpoints): its API
# then answers 503.
LIFECYCLE_KEY = web.AppKey("lifecycle", Lifecycle)


def fetcher(app: web.Application) -> Fetch | None:
    """What fetches footage deleted locally back from central storage; None without it."""
    lifecycle = app.get(LIFECYCLE_KEY)
    if lifecycle is None or lifecycle.transfer is None:
        return None
    return lifecycle.transfer.fetch


# Export requests: their settings, the packager's progress and wake (always set; without the
# integrity service requests are filed and approved but wait for their package).
EXPORTS_KEY = web.AppKey("exports", Packager)
