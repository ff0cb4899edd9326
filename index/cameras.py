"""Camera rows: config cameras (insert-or-update at startup) and API cameras (create, update,
soft delete, probe results), plus lookups by name.

A camera row is never deleted: its runs and segments refer to it. Deleting an API camera sets
deleted_us and disables it; the name stays taken (see docs/ref/api.md) so footage recorded
under it can never be confused with a later camera's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cameras.urls import (
    HOST_RULE,
    REDACTED,
    check_stream_url,
    redact_url,
    split_query_secrets,
    valid_host,
)
from index.counters import link_camera_counters
from index.errors import CameraNotFound, Conflict, CounterNotFound, InvalidRecord
from index.models import Camera, Counter
from index.records import CameraRecord
from index.text import check_text, text_problem

# \Z, not $: "$" also matches before a final newline.
# A portable pattern (explicit classes, no \s \w \d, no lookaround): the index fullmatches
# it and web/wire/types.py puts it in the API document, where ECMA-262 and Rust read it too.
CAMERA_NAME_PATTERN: Final = "[a-z0-9][a-z0-9_-]{0,62}"
CAMERA_NAME_RE: Final = re.compile(rf"^{CAMERA_NAME_PATTERN}\Z")
CAMERA_NAME_RULE: Final = "1-63 of a-z, 0-9, '-', '_', starting with a letter or digit"
API_URL_SCHEMES: Final = ("rtsp://", "rtsps://")


class ConfigManaged(Conflict):
    """The camera comes from the configuration file; the API may not change it."""

    code: ClassVar[str] = "conflict"


@dataclass(frozen=True)
class CameraSpec:
    """Everything the API manages about a camera. source_url carries no credentials."""

    name: str
    source_url: str
    counters: tuple[str, ...] = ()
    enabled: bool = True
    username: str | None = None
    secret_enc: str | None = None
    onvif_host: str | None = None
    onvif_port: int | None = None
    onvif_profile: str | None = None
    device: dict[str, object] | None = None
    clock_offset_us: int | None = None
    probed_us: int | None = None


def _record(row: Camera) -> CameraRecord:
    counters = json.loads(row.counters_json)
    device = json.loads(row.device_json) if row.device_json else None
    return CameraRecord(
        id=row.id,
        name=row.name,
        source_url=row.source_url,
        enabled=row.enabled,
        counters=tuple(str(c) for c in counters),
        created_us=row.created_us,
        origin=row.origin,
        onvif_host=row.onvif_host,
        onvif_port=row.onvif_port,
        onvif_profile=row.onvif_profile,
        username=row.username,
        secret_enc=row.secret_enc,
        device=device if isinstance(device, dict) else None,
        clock_offset_us=row.clock_offset_us,
        probed_us=row.probed_us,
        updated_us=row.updated_us,
        deleted_us=row.deleted_us,
    )


def spec_of(record: CameraRecord) -> CameraSpec:
    """The spec an API camera has now, as the base of a partial update."""
    return CameraSpec(
        name=record.name,
        source_url=record.source_url,
        counters=record.counters,
        enabled=record.enabled,
        username=record.username,
        secret_enc=record.secret_enc,
        onvif_host=record.onvif_host,
        onvif_port=record.onvif_port,
        onvif_profile=record.onvif_profile,
        device=record.device,
        clock_offset_us=record.clock_offset_us,
        probed_us=record.probed_us,
    )


async def _row(s: AsyncSession, name: str) -> Camera | None:
    if text_problem(name) is not None:
        return None  # never stored; and PostgreSQL would refuse the query (a NUL)
    return (await s.execute(select(Camera).where(Camera.name == name))).scalar_one_or_none()


async def ensure_camera(
    s: AsyncSession,
    name: str,
    source_url: str,
    counters: Sequence[str],
    enabled: bool,
    now_us: int,
) -> CameraRecord:
    """Insert the config camera, or update its URL, counters and enabled flag.

    created_us is kept. The configuration file is authoritative: a row of the same name that
    the API created (even a deleted one) becomes a config camera again, keeping its footage,
    and loses its API-managed credentials and ONVIF settings.
    """
    if isinstance(counters, str):
        # A bare string is a Sequence[str] too, and would be split into characters.
        raise TypeError("counters must be a sequence of counter ids, not a string")
    # Redact again here: a password in this table would end up in every backup.
    redacted_url = redact_url(source_url)
    counters_json = json.dumps(list(counters))
    row = await _row(s, name)
    if row is None:
        row = Camera(
            name=name,
            source_url=redacted_url,
            enabled=enabled,
            counters_json=counters_json,
            created_us=now_us,
            origin="config",
        )
        s.add(row)
    else:
        changed = (
            row.source_url != redacted_url
            or row.enabled != enabled
            or row.counters_json != counters_json
            or row.origin != "config"
            or row.deleted_us is not None
        )
        row.source_url = redacted_url
        row.enabled = enabled
        row.counters_json = counters_json
        if row.origin != "config":
            row.origin = "config"
            row.onvif_host = row.onvif_port = row.onvif_profile = None
            row.username = row.secret_enc = row.device_json = None
        row.deleted_us = None
        if changed:
            row.updated_us = now_us
    await s.flush()
    return _record(row)


async def list_cameras(s: AsyncSession, *, include_deleted: bool = False) -> list[CameraRecord]:
    """Every camera (without deleted ones unless asked), by name."""
    stmt = select(Camera).order_by(Camera.name)
    if not include_deleted:
        stmt = stmt.where(Camera.deleted_us.is_(None))
    return [_record(row) for row in (await s.execute(stmt)).scalars()]


async def list_api_cameras(s: AsyncSession) -> list[CameraRecord]:
    """The API-managed cameras that are not deleted, by name (enabled or not)."""
    stmt = (
        select(Camera)
        .where(Camera.origin == "api", Camera.deleted_us.is_(None))
        .order_by(Camera.name)
    )
    return [_record(row) for row in (await s.execute(stmt)).scalars()]


async def get_camera(s: AsyncSession, name: str) -> CameraRecord:
    """The camera called name, deleted or not (its footage stays reachable); CameraNotFound."""
    row = await _row(s, name)
    if row is None:
        raise CameraNotFound(f"no camera named {name!r}")
    return _record(row)


async def get_active_camera(s: AsyncSession, name: str) -> CameraRecord:
    """The camera called name unless it was deleted; CameraNotFound otherwise."""
    record = await get_camera(s, name)
    if record.deleted_us is not None:
        raise CameraNotFound(f"camera {name!r} was deleted (its footage is kept)")
    return record


def validate_spec(spec: CameraSpec) -> None:
    """InvalidRecord unless the name, URL and ONVIF fields are well formed."""
    if not CAMERA_NAME_RE.match(spec.name):
        shown = spec.name if len(spec.name) <= 40 else spec.name[:40] + "..."
        raise InvalidRecord(f"camera name {shown!r} must be {CAMERA_NAME_RULE}")
    if not spec.source_url.startswith(API_URL_SCHEMES):
        raise InvalidRecord("camera url must start with rtsp:// or rtsps://")
    check_text(spec.source_url, "camera url")
    try:
        check_stream_url(spec.source_url)
    except ValueError as exc:
        raise InvalidRecord(str(exc)) from None
    _check_no_credentials(spec.source_url)
    _, _, placeholder = split_query_secrets(urlsplit(spec.source_url).query)
    if placeholder and spec.secret_enc is None:
        raise InvalidRecord(
            f"camera url has {REDACTED} in place of a password, but no password is set; "
            "give the password"
        )
    if spec.username is not None and not 1 <= len(spec.username) <= 200:
        raise InvalidRecord("camera username must be 1-200 characters")
    check_text(spec.username, "camera username")
    check_text(spec.onvif_profile, "camera ONVIF profile")
    if spec.onvif_port is not None and not 1 <= spec.onvif_port <= 65535:
        raise InvalidRecord("ONVIF port must be 1-65535")
    if spec.onvif_host is not None and not (
        len(spec.onvif_host) <= 255 and valid_host(spec.onvif_host)
    ):
        # It goes into the device's SOAP URLs: the host rule of camera URLs.
        raise InvalidRecord(f"ONVIF host must be {HOST_RULE}, at most 255 characters")


def _check_no_credentials(url: str) -> None:
    """InvalidRecord if url carries userinfo or a secret query value (not ***): the caller
    moves credentials out of the URL; a slip must not reach the table."""
    _, secrets, _ = split_query_secrets(urlsplit(url).query)
    if "@" in url.split("//", 1)[-1].split("/", 1)[0] or secrets:
        raise InvalidRecord("camera url must not carry credentials here")


async def _check_counters(s: AsyncSession, codes: Sequence[str]) -> None:
    if not codes:
        return
    stmt = select(Counter.code).where(Counter.code.in_(list(codes)))
    known = {str(c) for c in (await s.execute(stmt)).scalars()}
    unknown = [c for c in codes if c not in known]
    if unknown:
        # As for an account's counters: a reference to no counter is a 404, not a 422.
        raise CounterNotFound(
            f"unknown counter {unknown[0]!r}; create it first (POST /api/v1/counters)"
        )


def _apply(row: Camera, spec: CameraSpec) -> None:
    row.source_url = spec.source_url
    row.enabled = spec.enabled
    row.counters_json = json.dumps(list(spec.counters))
    row.username = spec.username
    row.secret_enc = spec.secret_enc
    row.onvif_host = spec.onvif_host
    row.onvif_port = spec.onvif_port
    row.onvif_profile = spec.onvif_profile
    row.device_json = None if spec.device is None else json.dumps(spec.device, sort_keys=True)
    row.clock_offset_us = spec.clock_offset_us
    row.probed_us = spec.probed_us


async def create_api_camera(s: AsyncSession, spec: CameraSpec, now_us: int) -> CameraRecord:
    """Insert an API-managed camera and link its counters.

    Conflict if the name is taken by any camera, config or API, including a deleted one;
    InvalidRecord for malformed values or unknown counters.
    """
    validate_spec(spec)
    existing = await _row(s, spec.name)
    if existing is not None:
        if existing.deleted_us is not None:
            raise Conflict(
                f"camera name {spec.name!r} belonged to a deleted camera whose footage is "
                "kept; choose another name"
            )
        where = "in the config file" if existing.origin == "config" else "through the API"
        raise Conflict(f"a camera named {spec.name!r} already exists (managed {where})")
    await _check_counters(s, spec.counters)
    row = Camera(name=spec.name, created_us=now_us, origin="api", updated_us=now_us)
    _apply(row, spec)
    s.add(row)
    await s.flush()
    await link_camera_counters(s, row.id, spec.counters, now_us)
    return _record(row)


async def _api_row(s: AsyncSession, name: str) -> Camera:
    row = await _row(s, name)
    if row is None or row.deleted_us is not None:
        raise CameraNotFound(f"no camera named {name!r}")
    if row.origin != "api":
        raise ConfigManaged(
            f"camera {name!r} is managed in the config file; change it there and restart"
        )
    return row


async def get_api_camera(s: AsyncSession, name: str) -> CameraRecord:
    """The API camera called name; CameraNotFound if absent or deleted, ConfigManaged if it
    belongs to the config file."""
    return _record(await _api_row(s, name))


async def update_api_camera(
    s: AsyncSession, spec: CameraSpec, now_us: int
) -> tuple[CameraRecord, list[str]]:
    """Replace an API camera's managed fields with spec; (record, names of changed fields)."""
    validate_spec(spec)
    row = await _api_row(s, spec.name)
    before = spec_of(_record(row))
    changed = [
        f
        for f in CameraSpec.__dataclass_fields__
        if f not in ("name", "device", "clock_offset_us", "probed_us")
        and getattr(before, f) != getattr(spec, f)
    ]
    if "counters" in changed:
        await _check_counters(s, spec.counters)
    _apply(row, spec)
    if changed:
        row.updated_us = now_us
    await s.flush()
    if "counters" in changed:
        await link_camera_counters(s, row.id, spec.counters, now_us)
    return _record(row), changed


async def delete_api_camera(s: AsyncSession, name: str, now_us: int) -> CameraRecord:
    """Soft-delete an API camera: disabled, marked deleted; its runs and segments stay."""
    row = await _api_row(s, name)
    row.enabled = False
    row.deleted_us = now_us
    row.updated_us = now_us
    await s.flush()
    return _record(row)


async def store_probe(
    s: AsyncSession,
    camera_id: int,
    device: dict[str, object],
    clock_offset_us: int | None,
    probed_us: int,
    source_url: str | None = None,
) -> CameraRecord:
    """Record an ONVIF probe's result; source_url (no credentials) if the stream URI moved."""
    row = await s.get(Camera, camera_id)
    if row is None:
        raise CameraNotFound(f"no camera with id {camera_id}")
    moved = source_url if source_url != row.source_url else None
    if moved is not None:
        _check_no_credentials(moved)  # the same check as validate_spec's, before any change
    row.device_json = json.dumps(device, sort_keys=True)
    row.clock_offset_us = clock_offset_us
    row.probed_us = probed_us
    if moved is not None:
        row.source_url = moved
        row.updated_us = probed_us
    await s.flush()
    return _record(row)
