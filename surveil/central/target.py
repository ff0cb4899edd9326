"""The protocol every central storage target implements, its types and errors, and verification.

A target stores objects under keys the caller chooses
(``segments/<camera>/<yyyy>/<mm>/<dd>/<file>``), each uploaded with the SHA-256 the index
already holds, so the store (or the target itself, where the store cannot) refuses a body that
does not match. What a target returns after an upload is what the store then *reports*
(:class:`StoredObject`): the transfer service records that as the
confirmation, never what it meant to send.

Errors carry a stable ``code`` the transfer service turns into alarms; messages never contain
credentials.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from surveil.central.throttle import Throttle

CODES: Final = frozenset(
    {
        "central_auth",
        "central_unreachable",
        "central_checksum",
        "central_not_found",
        "central_config",
        "central_io",
    }
)
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class StoredObject:
    """What a target reports for one object: the confirmation of an upload, or a look-up."""

    key: str  # full object key (S3: with the target's prefix) / path relative to the directory
    size: int
    # Lowercase hex as the STORE reports it: S3 the checksum it kept (HEAD with ChecksumMode
    # ENABLED), else our x-amz-meta-sha256; the directory its sidecar. None if the store has none.
    sha256: str | None
    retain_until_us: int | None  # object-lock retain-until, µs since the epoch UTC, if any


class CentralError(Exception):
    """A central target failed; ``code`` is stable and the message is safe to show and log.

    Codes: ``central_auth`` (credentials refused), ``central_unreachable`` (connect, timeout,
    server gone), ``central_checksum`` (the store refused the body or reports another hash),
    ``central_not_found``, ``central_config`` (bucket missing, bad endpoint, bad key...),
    ``central_io`` (anything else).
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown central error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CentralTarget(Protocol):
    """One place sealed segments are copied to. Every method raises only :class:`CentralError`."""

    @property
    def name(self) -> str:
        """For logs and alarms, e.g. ``s3 http://10.0.0.5:8333 bucket/prefix``; no credentials."""
        ...

    @property
    def object_lock(self) -> bool:
        """True once :meth:`check` found the store locks objects (S3 object lock + lock days)."""
        ...

    async def check(self) -> None:
        """Reachable, credentials accepted, bucket or directory present and writable."""
        ...

    async def put_file(
        self, key: str, path: Path, *, sha256: str, size: int, throttle: Throttle | None = None
    ) -> StoredObject:
        """Upload a file, streamed, with its SHA-256 so a wrong body is refused; what HEAD says."""
        ...

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Upload a small object (a checkpoint note, a manifest); what HEAD then reports."""
        ...

    async def head(self, key: str) -> StoredObject | None:
        """What the store reports for key, None when absent."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, streamed; CentralError central_not_found when absent."""
        ...

    async def close(self) -> None:
        """Release connections; the target is not used again."""
        ...


def check_key(key: str) -> str:
    """The key itself when it is a safe relative key, else CentralError central_config.

    Refused: empty, absolute (``/``), NUL, empty or ``.``/``..`` segments, backslashes (a
    directory target on an SMB mount would read them as separators).
    """
    if not key or key.startswith("/") or "\x00" in key or "\\" in key:
        raise CentralError("central_config", f"object key {key!r} is not a relative path")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise CentralError("central_config", f"object key {key!r} has an empty, . or .. part")
    return key


def check_sha256(sha256: str) -> str:
    """The digest itself when it is 64 lowercase hex digits, else CentralError central_config."""
    if len(sha256) != 64 or not set(sha256) <= _HEX:
        raise CentralError("central_config", "sha256 must be 64 lowercase hex digits")
    return sha256


async def verify_object(target: CentralTarget, key: str, sha256: str, size: int) -> str | None:
    """Download (streaming) and re-hash an object: None when it is exactly size bytes with that
    SHA-256, else one sentence saying what differs (absent, size, hash). For verify --central.

    The store's own report (HEAD) is only used to find the object and its size: the hash is always
    of the bytes that come back, because a store that was tampered with can report anything.
    """
    stored = await target.head(key)
    if stored is None:
        return f"{key} is absent from {target.name}"
    if stored.size != size:
        return f"{key} on {target.name} is {stored.size} bytes, expected {size}"
    digest = hashlib.sha256()
    received = 0
    async for chunk in target.read(key):
        digest.update(chunk)
        received += len(chunk)
    if received != size:
        return f"{key} on {target.name} gave {received} bytes when read, expected {size}"
    actual = digest.hexdigest()
    if actual != sha256:
        return f"{key} on {target.name} has SHA-256 {actual}, expected {sha256}"
    return None
