"""The S3-compatible object store target, over aiobotocore.

Uploads are one PutObject per object (a segment is tens of MB; S3 allows 5 GiB in one PUT), the
body streamed from the file in chunks of at most 1 MiB, each one paid for in the shared
:class:`~surveil.central.throttle.Throttle` before it is sent. The request carries
``x-amz-checksum-sha256`` (base64 of the digest the index holds), so the store refuses a body that
does not match (``BadDigest``), and ``x-amz-meta-sha256`` (hex) for stores that keep no checksum.
The target also hashes what it reads while sending and, when that differs from the expected
digest, withholds the last chunk, so the store never receives a whole wrong body even if it does
not check. After the PUT a HEAD (``ChecksumMode=ENABLED``) is the confirmation returned.

Payload signing is off (``UNSIGNED-PAYLOAD``): over plain HTTP botocore would otherwise read the
whole file once to sign its SHA-256 before sending it. The checksum header is signed, so the body
is still bound to the request. With object lock (the bucket has it and ``lock_days`` is set) every
PUT carries COMPLIANCE mode and a retain-until ``lock_days`` from now.

Every call has connect/read timeouts and at most two attempts; an upload also has a stall timer
re-armed at each chunk sent, since aiohttp puts no timeout on writing a body to a server that
stopped reading. So a dead server gives ``central_unreachable`` within 2-3 × ``timeout_s``.
Messages name the endpoint and bucket, never the access or secret key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import mimetypes
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from surveil.central.target import CentralError, StoredObject, check_key, check_sha256
from surveil.central.throttle import Throttle

logger = logging.getLogger(__name__)

CHUNK: Final = 1 << 20  # bytes per body chunk, and per throttle take
MAX_SINGLE_PUT: Final = 5 * 1024**3  # S3's limit for one PutObject
ATTEMPTS: Final = 2  # botocore total_max_attempts: one retry, so a dead server fails fast
_SNIPPET: Final = 200  # characters of a server's error message kept in ours

_AUTH_CODES: Final = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
        "AllAccessDisabled",
        "403",
        "401",
    }
)
_CHECKSUM_CODES: Final = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
)
_CONFIG_CODES: Final = frozenset(
    {
        "NoSuchBucket",
        "InvalidBucketName",
        "PermanentRedirect",
        "IllegalLocationConstraintException",
        "301",
        "400",
        "EntityTooLarge",
        "InvalidArgument",
        "NotImplemented",
    }
)
_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NoSuchVersion", "404"})
_UNREACHABLE_CODES: Final = frozenset(
    {"ServiceUnavailable", "SlowDown", "RequestTimeout", "502", "503", "504"}
)


def _client_error_code(exc: Any) -> tuple[str, int]:
    """The S3 error code and HTTP status of a botocore ClientError (HEAD errors have no body,
    so their code is the status as text)."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code or str(status), status


class _StallTimer:
    """The deadline of one upload, re-armed at each chunk sent: aiohttp puts no timeout on writing
    a body, so a server that stops reading would otherwise hold the upload for ever."""

    def __init__(self, timeout: asyncio.Timeout, deadline_s: float) -> None:
        self._timeout = timeout
        self._deadline_s = deadline_s
        self._loop = asyncio.get_running_loop()

    def sending(self) -> None:
        self._timeout.reschedule(self._loop.time() + self._deadline_s)

    def waiting(self) -> None:
        """No deadline while waiting for the throttle: that wait is ours, not the server's."""
        self._timeout.reschedule(None)

    def abort(self) -> None:
        """End the request now (botocore would otherwise retry a body known to be wrong)."""
        self._timeout.reschedule(self._loop.time())


class _FileBody:
    """A PutObject body that streams a file in throttled chunks and hashes it as it goes.

    botocore needs ``read`` (to accept it as a blob) and ``seek`` (to rewind for a retry); the
    bytes themselves go out through ``__aiter__``, which aiohttp consumes, so no sync read of the
    file ever runs on the event loop. Each iteration starts again from the beginning of the file.
    Before the last chunk the digest is checked: on a mismatch the last chunk is never sent, the
    request is ended short of its Content-Length, and ``mismatch`` says why.
    """

    def __init__(
        self, path: Path, size: int, sha256: str, throttle: Throttle | None, stall: _StallTimer
    ) -> None:
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.throttle = throttle
        self.stall = stall
        self.mismatch: str | None = None

    def __len__(self) -> int:
        return self.size

    def read(self, amt: int | None = None) -> bytes:
        raise OSError("the upload body is read asynchronously")

    def seek(self, offset: int, whence: int = 0) -> int:
        # Only a rewind is ever asked for (a retry); iteration restarts from 0 anyway.
        return 0

    def tell(self) -> int:
        return 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def _refuse(self, reason: str) -> OSError:
        self.mismatch = reason
        self.stall.abort()
        return OSError(reason)

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self.mismatch is not None:
            raise OSError(self.mismatch)  # a retry of a body already known to be wrong
        digest = hashlib.sha256()
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            remaining = self.size
            while True:
                want = min(CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, want)
                if len(chunk) < want:
                    got = self.size - remaining + len(chunk)
                    raise self._refuse(f"{self.path} is {got} bytes, expected {self.size}")
                digest.update(chunk)
                remaining -= len(chunk)
                if remaining == 0:
                    if await asyncio.to_thread(handle.read, 1):
                        raise self._refuse(f"{self.path} is longer than {self.size} bytes")
                    actual = digest.hexdigest()
                    if actual != self.sha256:
                        raise self._refuse(
                            f"{self.path} has SHA-256 {actual}, expected {self.sha256}"
                        )
                if self.throttle is not None:
                    self.stall.waiting()
                    await self.throttle.take(len(chunk))
                self.stall.sending()
                if chunk:
                    yield chunk
                if remaining == 0:
                    return
        finally:
            await asyncio.to_thread(handle.close)


class S3Target:
    """An S3-compatible bucket (and key prefix) as a central storage target."""

    def __init__(
        self,
        *,
        client: Any,
        stack: contextlib.AsyncExitStack,
        endpoint: str,
        bucket: str,
        prefix: str,
        lock_days: int | None,
        timeout_s: float,
        secrets: tuple[str, ...],
    ) -> None:
        """Use :meth:`open`; this only holds what it built."""
        self._client = client
        self._stack = stack
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.lock_days = lock_days
        self.timeout_s = timeout_s
        self._secrets = secrets
        self._object_lock = False
        # Beyond botocore's own per-attempt timeouts: a bound on a whole call, retries included
        # (a server that accepts connections but never answers costs ATTEMPTS × read timeout).
        self._deadline_s = (ATTEMPTS + 1) * timeout_s

    @classmethod
    async def open(
        cls,
        *,
        endpoint: str,
        bucket: str,
        prefix: str,
        region: str,
        access_key: str,
        secret_key: str,
        lock_days: int | None,
        timeout_s: float = 30.0,
    ) -> S3Target:
        """A client for the bucket; no request is sent until :meth:`check` or an upload."""
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CentralError("central_config", "the S3 endpoint must be an http(s) URL")
        if parts.username is not None or parts.password is not None or parts.query:
            raise CentralError(
                "central_config",
                "the S3 endpoint must not hold credentials or a query; use access_key/secret_key",
            )
        if not bucket:
            raise CentralError("central_config", "the S3 bucket is not set")
        if not access_key or not secret_key:
            raise CentralError("central_config", "the S3 access key and secret key must be set")
        if lock_days is not None and lock_days < 1:
            raise CentralError("central_config", "object-lock retention must be at least 1 day")
        if timeout_s <= 0:
            raise CentralError("central_config", "timeout_s must be positive")
        clean_endpoint = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        config = Config(
            region_name=region or "us-east-1",
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
            # Every PUT carries x-amz-checksum-sha256 set by us, so botocore adds no checksum of
            # its own (and, from 1.36, checks the stored one on GET).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
        )
        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                get_session().create_client(
                    "s3",
                    endpoint_url=clean_endpoint,
                    region_name=region or "us-east-1",
                    aws_access_key_id=access_key,
                    aws_secret_access_key=secret_key,
                    config=config,
                )
            )
        except (BotoCoreError, ValueError) as exc:
            await stack.aclose()
            raise CentralError(
                "central_config", f"cannot make an S3 client for {clean_endpoint}: {exc}"
            ) from None
        return cls(
            client=client,
            stack=stack,
            endpoint=clean_endpoint,
            bucket=bucket,
            prefix=_normalized_prefix(prefix),
            lock_days=lock_days,
            timeout_s=timeout_s,
            secrets=(access_key, secret_key),
        )

    @property
    def name(self) -> str:
        return f"s3 {self.endpoint} {self.bucket}/{self.prefix}"

    @property
    def object_lock(self) -> bool:
        return self._object_lock

    def full_key(self, key: str) -> str:
        """The object key in the bucket: the prefix, then the caller's key."""
        return self.prefix + check_key(key)

    async def check(self) -> None:
        """HEAD the bucket (reachable, credentials, exists), then read its object-lock setting."""
        try:
            await self._call("check the bucket", self._client.head_bucket, Bucket=self.bucket)
        except CentralError as exc:
            if exc.code == "central_not_found":
                raise CentralError(
                    "central_config", f"{self.name}: the bucket {self.bucket!r} does not exist"
                ) from None
            raise
        enabled = False
        try:
            reply = await self._call(
                "read the object-lock configuration",
                self._client.get_object_lock_configuration,
                Bucket=self.bucket,
            )
            lock = reply.get("ObjectLockConfiguration", {})
            enabled = lock.get("ObjectLockEnabled") == "Enabled"
        except CentralError as exc:
            if exc.code in ("central_unreachable", "central_auth"):
                raise
            # ObjectLockConfigurationNotFoundError, or a store without object lock at all.
            enabled = False
        self._object_lock = enabled and self.lock_days is not None
        if self.lock_days is not None and not enabled:
            logger.warning(
                "%s: lock_days is %d but the bucket has no object lock; objects are not locked",
                self.name,
                self.lock_days,
            )

    async def put_file(
        self, key: str, path: Path, *, sha256: str, size: int, throttle: Throttle | None = None
    ) -> StoredObject:
        """Upload path as key in one streamed, checksummed PUT; what HEAD then reports.

        An object already there with the same size and SHA-256 is the confirmation itself (a
        retry after a lost answer uploads nothing). One that differs is replaced (with object
        lock or versioning the store keeps the old version).
        """
        full = self.full_key(key)
        check_sha256(sha256)
        if size < 0 or size > MAX_SINGLE_PUT:
            raise CentralError("central_config", f"{key}: {size} bytes is outside one PUT's range")
        existing = await self.head(key)
        if existing is not None:
            if existing.size == size and existing.sha256 == sha256:
                return existing
            logger.warning(
                "%s: %s is there with another size or SHA-256; uploading it again", self.name, full
            )
        stall = asyncio.timeout(self._deadline_s)
        body = _FileBody(path, size, sha256, throttle, _StallTimer(stall, self._deadline_s))
        params = self._put_params(full, sha256, _content_type(key))
        try:
            async with stall:
                await self._client.put_object(Body=body, ContentLength=size, **params)
        except Exception as exc:
            if body.mismatch is not None:
                raise CentralError(
                    "central_checksum", f"{full} not uploaded: {body.mismatch}"
                ) from None
            raise self._error(exc, f"upload {full}") from None
        return await self._confirm(key, sha256, size)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Upload a small object in one checksummed PUT; what HEAD then reports."""
        full = self.full_key(key)
        sha256 = hashlib.sha256(data).hexdigest()
        params = self._put_params(full, sha256, content_type)
        await self._call(f"upload {full}", self._client.put_object, Body=data, **params)
        return await self._confirm(key, sha256, len(data))

    async def head(self, key: str) -> StoredObject | None:
        """HEAD with ChecksumMode=ENABLED; None when the object is absent."""
        full = self.full_key(key)
        try:
            reply = await self._call(
                f"look up {full}",
                self._client.head_object,
                Bucket=self.bucket,
                Key=full,
                ChecksumMode="ENABLED",
            )
        except CentralError as exc:
            if exc.code == "central_not_found":
                return None
            raise
        return StoredObject(
            key=full,
            size=int(reply.get("ContentLength", 0)),
            sha256=_reported_sha256(reply),
            retain_until_us=_retain_until_us(reply.get("ObjectLockRetainUntilDate")),
        )

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """GetObject, streamed in chunks of up to 1 MiB (each read bounded by read_timeout);
        botocore also checks the store's checksum at the end of the stream."""
        full = self.full_key(key)
        action = f"read {full}"
        reply = await self._call(action, self._client.get_object, Bucket=self.bucket, Key=full)
        body = reply["Body"]
        try:
            while True:
                try:
                    async with asyncio.timeout(self._deadline_s):
                        chunk = await body.read(CHUNK)
                except Exception as exc:
                    raise self._error(exc, action) from None
                if not chunk:
                    return
                yield chunk
        finally:
            await body.aclose()

    async def close(self) -> None:
        """Close the client and its connection pool."""
        await self._stack.aclose()

    def _put_params(self, full: str, sha256: str, content_type: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": full,
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
            "Metadata": {"sha256": sha256},
            "ContentType": content_type,
        }
        if self._object_lock and self.lock_days is not None:
            params["ObjectLockMode"] = "COMPLIANCE"
            params["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.lock_days)
        return params

    async def _confirm(self, key: str, sha256: str, size: int) -> StoredObject:
        """HEAD after a PUT: the store must report the size and SHA-256 we sent."""
        stored = await self.head(key)
        if stored is None:
            raise CentralError(
                "central_io", f"{self.full_key(key)}: uploaded, but HEAD finds no object"
            )
        if stored.size != size or stored.sha256 != sha256:
            raise CentralError(
                "central_checksum",
                f"{stored.key}: the store reports {stored.size} bytes with SHA-256 "
                f"{stored.sha256}, expected {size} bytes with {sha256}",
            )
        return stored

    async def _call(self, action: str, method: Callable[..., Any], **params: Any) -> Any:
        """One S3 call under the overall deadline, its failure as a CentralError."""
        try:
            async with asyncio.timeout(self._deadline_s):
                return await method(**params)
        except Exception as exc:
            raise self._error(exc, action) from None

    def _error(self, exc: BaseException, action: str) -> CentralError:
        """A CentralError for a failed call, its message scrubbed of the keys."""
        where = f"{self.name}: cannot {action}"
        if isinstance(exc, CentralError):
            return exc
        if isinstance(exc, ClientError):
            code, status = _client_error_code(exc)
            detail = str(exc.response.get("Error", {}).get("Message", ""))[:_SNIPPET]
            text = self._scrub(f"{where}: {code} (HTTP {status}) {detail}".rstrip())
            if code in _AUTH_CODES:
                return CentralError("central_auth", f"{text}; the credentials were refused")
            if code in _CHECKSUM_CODES:
                return CentralError("central_checksum", text)
            if code in _NOT_FOUND_CODES:
                return CentralError("central_not_found", text)
            if code in _CONFIG_CODES:
                return CentralError("central_config", text)
            if code in _UNREACHABLE_CODES:
                return CentralError("central_unreachable", text)
            return CentralError("central_io", text)
        if isinstance(exc, FlexibleChecksumError):
            return CentralError("central_checksum", self._scrub(f"{where}: {exc}"))
        if isinstance(exc, (NoCredentialsError, ParamValidationError)):
            return CentralError("central_config", self._scrub(f"{where}: {exc}"))
        unreachable = (
            TimeoutError,
            EndpointConnectionError,
            ConnectTimeoutError,
            ConnectionClosedError,
            ReadTimeoutError,
            IncompleteReadError,
            ResponseStreamingError,
            HTTPClientError,
            aiohttp.ClientError,
            OSError,
        )
        if isinstance(exc, unreachable):
            kind = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            return CentralError("central_unreachable", self._scrub(f"{where}: {kind}: {exc}"))
        return CentralError("central_io", self._scrub(f"{where}: {type(exc).__name__}: {exc}"))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _normalized_prefix(prefix: str) -> str:
    """ "" stays ""; otherwise no leading slash and exactly one trailing one ("p" -> "p/")."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    check_key(stripped)
    return stripped + "/"


def _content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key)
    return guessed or "application/octet-stream"


def _reported_sha256(reply: dict[str, Any]) -> str | None:
    """The store's own SHA-256 checksum (hex) if it kept one, else our x-amz-meta-sha256."""
    checksum = reply.get("ChecksumSHA256")
    if isinstance(checksum, str) and checksum and "-" not in checksum:
        # "-N" would be a multipart composite checksum, not the object's SHA-256; we never make one.
        with contextlib.suppress(ValueError):
            raw = base64.b64decode(checksum, validate=True)
            if len(raw) == 32:
                return raw.hex()
    meta = reply.get("Metadata", {}).get("sha256")
    if isinstance(meta, str) and len(meta) == 64:
        return meta.lower()
    return None


def _retain_until_us(value: object) -> int | None:
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
