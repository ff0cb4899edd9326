"""Camera and counter administration shared by the JSON API (web/cameras_api.py) and the
admin pages (web/camera_pages.py): camera failures scrubbed of secrets, a camera spec from an
ONVIF probe, audited writes, discovery.

Nothing here knows about HTTP. Every write runs with its audit row in one transaction; the
caller asks the supervisor to reconcile afterwards (``apply_change``). Messages never carry a
password: camera errors are scrubbed of the secrets that were sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from cameras.credentials import CredentialBox
from cameras.discovery import DiscoveredDevice, discover
from cameras.onvif import DeviceProbe, OnvifNotSupported
from cameras.snapshot import keyframe_jpeg
from cameras.source import CameraError, CameraTimeout
from cameras.urls import redact_url, scrub
from index.audit import add_audit, write_audited
from index.cameras import (
    CameraSpec,
    create_api_camera,
    delete_api_camera,
    get_api_camera,
    update_api_camera,
)
from index.db import Database
from index.errors import Conflict
from index.records import AuditIn, CameraRecord
from surveil.camera_setup import OnvifTarget, credentialed_url, device_json, device_stream_url
from surveil.config import OnvifConfig

logger = logging.getLogger(__name__)


# -- camera failures -----------------------------------------------------------------------


@contextmanager
def scrubbed(secrets: Sequence[str]) -> Iterator[None]:
    """Around a camera call: a CameraError comes out as the same class with its message
    free of the secrets that were sent and of URL passwords; a TimeoutError (no picture
    in time) as a CameraTimeout. The original is dropped (``from None``), so no traceback
    or log line can carry its text."""
    try:
        yield
    except CameraError as exc:
        message = redact_url(scrub(str(exc), [s for s in secrets if s]))
        raise type(exc)(message) from None
    except TimeoutError:
        raise CameraTimeout("timeout: the camera gave no picture in time") from None


# -- specs ---------------------------------------------------------------------------------


def onvif_spec(
    base: CameraSpec, target: OnvifTarget, probe: DeviceProbe, box: CredentialBox, now_us: int
) -> CameraSpec:
    """base with the ONVIF device's settings and the chosen profile's stream URI.

    OnvifNotSupported if the device's stream URI is not RTSP or not a usable URL.
    """
    url = device_stream_url(probe.main.stream_uri)
    if not url.startswith(("rtsp://", "rtsps://")):
        raise OnvifNotSupported(f"the camera's stream URI is not RTSP ({url.partition(':')[0]})")
    return replace(
        base,
        source_url=url,
        username=target.username or None,
        secret_enc=box.encrypt(target.password) if target.password else None,
        onvif_host=target.host,
        onvif_port=target.port,
        onvif_profile=target.profile,
        device=device_json(probe),
        clock_offset_us=probe.clock_offset_us,
        probed_us=now_us,
    )


def audit_detail(spec: CameraSpec) -> dict[str, object]:
    """Audit detail of a camera's settings: no password, only whether one is set."""
    return {
        "url": spec.source_url,
        "username": spec.username,
        "password_set": spec.secret_enc is not None,
        "onvif": None if spec.onvif_host is None else f"{spec.onvif_host}:{spec.onvif_port}",
        "profile": spec.onvif_profile,
        "counters": list(spec.counters),
        "enabled": spec.enabled,
    }


def change_detail(spec: CameraSpec, changed: Sequence[str]) -> dict[str, object]:
    detail: dict[str, object] = {"changed": list(changed)}
    detail.update({k: v for k, v in audit_detail(spec).items() if k in changed})
    if "secret_enc" in changed:
        detail["password_set"] = spec.secret_enc is not None
    return detail


# -- audited writes ------------------------------------------------------------------------

# The supervisor's reconcile: after a committed change, make the recorders follow it. None
# where no recorders run (the CLI, tests of the pages alone).
Reconcile = Callable[[], Awaitable[None]] | None


async def apply_change(reconcile: Reconcile, name: str) -> None:
    """Ask the supervisor to follow a committed change; a failure is logged, not raised,
    because the change is saved and must not look as if it was not."""
    if reconcile is None:
        return
    try:
        await reconcile()
    except Exception:
        logger.exception("%s: applying the camera change failed", name)


async def save_new_camera(
    db: Database,
    spec: CameraSpec,
    entry: AuditIn,
    now_us: int,
    reconcile: Reconcile,
) -> CameraRecord:
    """Insert an API camera with its audit row (entry's detail is filled in), then reconcile."""
    entry = replace(entry, detail=audit_detail(spec))
    record = await write_audited(db, lambda s: create_api_camera(s, spec, now_us), entry, now_us)
    await apply_change(reconcile, spec.name)
    return record


async def save_camera_change(
    db: Database,
    spec: CameraSpec,
    entry: AuditIn,
    now_us: int,
    reconcile: Reconcile,
    expect_updated_us: int | None = None,
) -> tuple[CameraRecord, list[str]]:
    """Replace an API camera's settings with spec, audited; (record, changed fields).

    Reconciles when anything changed. With expect_updated_us, Conflict if the camera
    changed since it was read.
    """

    async def write(s: AsyncSession) -> tuple[CameraRecord, list[str]]:
        current = await get_api_camera(s, spec.name)
        if expect_updated_us is not None and current.updated_us != expect_updated_us:
            raise Conflict(f"camera {spec.name!r} was changed meanwhile; read it and try again")
        new, changed = await update_api_camera(s, spec, now_us)
        await add_audit(s, replace(entry, detail=change_detail(spec, changed)), now_us)
        return new, changed

    record, changed = await db.write(write)
    if changed:
        await apply_change(reconcile, spec.name)
    return record, changed


async def remove_camera(
    db: Database, name: str, entry: AuditIn, now_us: int, reconcile: Reconcile
) -> None:
    """Soft-delete an API camera (footage kept), audited; its recorder stops."""
    entry = replace(entry, detail={"footage": "kept"})
    await write_audited(db, lambda s: delete_api_camera(s, name, now_us), entry, now_us)
    await apply_change(reconcile, name)


# -- probes and discovery ------------------------------------------------------------------


async def stream_preview(
    url: str, username: str | None, password: str | None, timeout_s: float
) -> bytes:
    """One keyframe of the stream as JPEG (a connection test for a plain-URL camera)."""
    full = credentialed_url(url, username, password)
    return await asyncio.wait_for(
        asyncio.to_thread(keyframe_jpeg, full, timeout_s), timeout=timeout_s * 2 + 5
    )


async def discover_devices(onvif: OnvifConfig, timeout_s: float) -> list[DiscoveredDevice]:
    """WS-Discovery on the configured address; OSError if the probe cannot be sent."""
    host, port = onvif.discovery_target
    return await discover(
        timeout_s=timeout_s, target_host=host, target_port=port, bind_host=onvif.discovery_bind
    )


@dataclass(frozen=True)
class DeviceAddress:
    host: str
    port: int


def device_address(device: DiscoveredDevice) -> DeviceAddress | None:
    """Host and port of a discovered device's first HTTP service address."""
    for xaddr in device.xaddrs:
        try:
            parts = urlsplit(xaddr)
            port = parts.port
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.hostname:
            default = 443 if parts.scheme == "https" else 80
            return DeviceAddress(parts.hostname, port or default)
    return None
