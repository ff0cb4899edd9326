"""From a camera request to a camera spec, once for the JSON API (web/cameras_api.py) and
the pages (web/camera_pages.py): credentials moved out of the URL and the password
encrypted, or the ONVIF device probed. The wire models stay shapes; this module does the
work, and every camera call in it is scrubbed of the password sent."""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

from cameras.credentials import CredentialBox
from cameras.onvif import DeviceProbe
from index.cameras import CameraSpec, spec_of
from index.errors import Conflict, InvalidRecord
from index.records import CameraRecord
from surveil.camera_admin import onvif_spec, scrubbed, stream_preview
from surveil.camera_setup import (
    OnvifTarget,
    SplitUrl,
    device_json,
    device_stream_url,
    onvif_target,
    probe_onvif,
    probe_onvif_with_snapshot,
    stream_credentials,
)
from web.wire.cameras import (
    URL_KEYS,
    CameraByOnvif,
    CameraByUrl,
    CameraPatch,
    Device,
    ProbeByOnvif,
    ProbeByUrl,
    ProbeResult,
    unique_codes,
)


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def stream_split(url: str, password: str | None, *, stored: bool = False) -> SplitUrl:
    """The URL without credentials and the credentials (camera_setup.stream_credentials);
    InvalidRecord (422) for a URL the schema admits but the credential rules refuse."""
    try:
        return stream_credentials(url, password, stored=stored)
    except ValueError as exc:  # never quotes the URL
        raise InvalidRecord(f"'url': {exc}") from None


async def _probe(target: OnvifTarget, timeout_s: float) -> DeviceProbe:
    with scrubbed([target.password]):
        return await probe_onvif(target, timeout_s)


def _onvif_spec(
    base: CameraSpec, target: OnvifTarget, probe: DeviceProbe, box: CredentialBox, now_us: int
) -> CameraSpec:
    with scrubbed([target.password]):
        return onvif_spec(base, target, probe, box, now_us)


async def created_spec(
    camera: CameraByUrl | CameraByOnvif, box: CredentialBox, timeout_s: float, now_us: int
) -> CameraSpec:
    """The spec of a new camera: a URL's credentials moved out and the password encrypted,
    or the ONVIF device probed. CameraError subclasses (scrubbed) when the device fails."""
    base = CameraSpec(
        name=camera.name,
        source_url="",
        counters=unique_codes(camera.counters),
        enabled=camera.enabled,
    )
    if isinstance(camera, CameraByOnvif):
        target = camera.onvif.target()
        return _onvif_spec(base, target, await _probe(target, timeout_s), box, now_us)
    split = stream_split(camera.url, camera.password)
    return replace(
        base,
        source_url=split.url,
        username=camera.username or split.username,
        secret_enc=box.encrypt(split.password) if split.password else None,
    )


async def changed_spec(
    record: CameraRecord, patch: CameraPatch, box: CredentialBox, timeout_s: float, now_us: int
) -> CameraSpec:
    """record's spec with patch applied. An ONVIF camera whose address, credentials or
    profile change is probed again. Conflict for url/username/password on an ONVIF camera
    (they change inside 'onvif'); CredentialError if the stored password is needed and
    cannot be decrypted; CameraError subclasses (scrubbed) when the device fails."""
    given = patch.model_fields_set
    spec = spec_of(record)
    if patch.counters is not None:
        spec = replace(spec, counters=unique_codes(patch.counters))
    if patch.enabled is not None:
        spec = replace(spec, enabled=patch.enabled)
    if record.onvif_host is not None or patch.onvif is not None:
        if given & set(URL_KEYS):
            raise Conflict(
                f"camera {record.name!r} is an ONVIF camera: change its host, port, username, "
                "password or profile inside 'onvif'"
            )
        if patch.onvif is None:
            return spec
        base = onvif_target(record, box)
        target = patch.onvif.merged(base, record.name)
        if target == base:
            return spec
        return _onvif_spec(spec, target, await _probe(target, timeout_s), box, now_us)
    split = None
    if patch.url is not None:
        split = stream_split(patch.url, patch.password, stored=record.secret_enc is not None)
        spec = replace(spec, source_url=split.url)
    if "username" in given:
        spec = replace(spec, username=patch.username)
    if split is not None and split.username and not patch.username:
        spec = replace(spec, username=split.username)
    if "password" in given:
        spec = replace(spec, secret_enc=box.encrypt(patch.password) if patch.password else None)
    if split is not None and split.password:
        spec = replace(spec, secret_enc=box.encrypt(split.password))
    return spec


@dataclass(frozen=True)
class Probed:
    """A probe's result, and the preview to audit (a live picture is an access to footage)."""

    result: ProbeResult
    preview: tuple[str, str] | None  # (where, how) for surveil.access_log.probe_preview


async def probed(request: ProbeByUrl | ProbeByOnvif, timeout_s: float) -> Probed:
    """Test a stream (one keyframe decoded) or probe an ONVIF device, saving nothing.
    CameraError subclasses (scrubbed; CameraTimeout when no picture comes in time)."""
    if isinstance(request, ProbeByUrl):
        split = stream_split(request.url, request.password)
        username = request.username or split.username
        with scrubbed([split.password or ""]):
            jpeg = await stream_preview(split.url, username, split.password, timeout_s)
        result = ProbeResult(
            url=split.url, device=None, clock_offset_s=None, snapshot=data_url(jpeg)
        )
        return Probed(result, (split.url, "stream"))
    target = request.target()
    with scrubbed([target.password]):
        shot: bytes | None = None
        if request.snapshot:
            probe, shot = await probe_onvif_with_snapshot(target, timeout_s)
        else:
            probe = await probe_onvif(target, timeout_s)
        url = device_stream_url(probe.main.stream_uri)
    offset = probe.clock_offset_us
    result = ProbeResult(
        url=url,
        device=Device.of(device_json(probe)),
        clock_offset_s=None if offset is None else round(offset / 1e6, 3),
        snapshot=None if shot is None else data_url(shot),
    )
    preview = None if shot is None else (f"onvif://{target.host}:{target.port}", "onvif")
    return Probed(result, preview)
