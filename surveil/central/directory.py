"""A mounted directory (NFS, SMB) as a central storage target, for offices without an object store.

The protocol for one object, so that a crash or a lost mount never leaves a whole-looking file
that is not the segment:

1. copy to ``<key>.tmp-<random>`` in the key's directory, hashing while copying; a size or
   SHA-256 other than expected removes the temporary file (``central_checksum``);
2. fsync the file, then publish it as ``<key>`` without overwriting anything: a hard link where
   the file system has them (atomic refusal of an existing name), else a rename after checking
   the name is free; fsync the directory;
3. write ``<key>.sha256`` the same way, in ``sha256sum`` format (``<hex>  <name>``), so an
   auditor can run ``sha256sum -c`` in that folder.

An existing ``<key>`` is hashed: identical content is success (an idempotent retry; a missing
sidecar is written then), other content is refused (``central_checksum``); nothing is overwritten.
There is no object lock (``object_lock`` is False); protecting the share is the file server's job.

Every file-system call runs in a thread under a timeout, because a hard NFS mount whose server has
gone blocks a call for ever; the timeout gives ``central_unreachable`` (the thread stays blocked
until the mount answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

from surveil.central.target import CentralError, StoredObject, check_key, check_sha256
from surveil.central.throttle import Throttle

T = TypeVar("T")

CHUNK: Final = 1 << 20
SIDECAR: Final = ".sha256"
_TMP: Final = ".tmp-"
_UNREACHABLE_ERRNOS: Final = frozenset(
    {
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ENOTCONN,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
    }
)
_NO_LINK_ERRNOS: Final = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


class DirectoryTarget:
    """A directory, usually a network mount, that receives the objects as files."""

    def __init__(self, root: Path, *, timeout_s: float = 60.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.root = Path(root)
        self.timeout_s = timeout_s

    @property
    def name(self) -> str:
        return f"dir {self.root}"

    @property
    def object_lock(self) -> bool:
        return False

    async def check(self) -> None:
        """The root exists and is a directory (else central_config) and a probe file can be
        written, synced and removed in it (else central_io)."""
        is_dir = await self._run("look at the directory", self.root.is_dir)
        if not is_dir:
            raise CentralError("central_config", f"{self.name}: not an existing directory")
        probe = self.root / f".surveil-probe{_TMP}{secrets.token_hex(8)}"
        await self._run("write a probe file", _write_probe, probe)

    async def put_file(
        self, key: str, path: Path, *, sha256: str, size: int, throttle: Throttle | None = None
    ) -> StoredObject:
        """Copy path to key (protocol above); what head then reports."""
        check_sha256(sha256)
        if size < 0:
            raise CentralError("central_config", f"{key}: negative size")
        dest = self._path(key)
        try:
            source = await self._run(f"open {path}", _open_read, path)
        except CentralError as exc:
            raise CentralError(
                "central_io", f"{self.name}: cannot read {path}: {exc.message}"
            ) from None
        try:
            chunks = self._file_chunks(source, size)
            return await self._store(key, dest, chunks, sha256, size, throttle)
        finally:
            await self._run(f"close {path}", source.close)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> StoredObject:
        """Write a small object by the same protocol (the content type is not kept)."""
        dest = self._path(key)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]

        sha256 = hashlib.sha256(data).hexdigest()
        return await self._store(key, dest, chunks(), sha256, len(data), None)

    async def head(self, key: str) -> StoredObject | None:
        """Size from the file, SHA-256 from the sidecar (None without one); None when absent."""
        dest = self._path(key)
        return await self._run(f"look up {key}", _head, key, dest)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes in chunks of up to 1 MiB."""
        dest = self._path(key)
        try:
            handle = await self._run(f"open {key}", _open_read, dest)
        except CentralError as exc:
            if exc.code == "central_io" and not await self._run(f"look up {key}", dest.exists):
                raise CentralError("central_not_found", f"{self.name}: {key} is absent") from None
            raise
        try:
            while chunk := await self._run(f"read {key}", handle.read, CHUNK):
                yield chunk
        finally:
            await self._run(f"close {key}", handle.close)

    async def close(self) -> None:
        """Nothing is held open between calls."""

    def _path(self, key: str) -> Path:
        check_key(key)
        name = key.rsplit("/", 1)[-1]
        if name.endswith(SIDECAR) or _TMP in name:
            raise CentralError(
                "central_config", f"object key {key!r} collides with the target's own files"
            )
        return self.root.joinpath(*key.split("/"))

    async def _file_chunks(self, source: BinaryIO, size: int) -> AsyncIterator[bytes]:
        """The source's bytes; one more than size (if the file is longer) ends the stream."""
        remaining = size
        while remaining > 0:
            chunk = await self._run("read the source", source.read, min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
        extra = await self._run("read the source", source.read, 1)
        if extra:
            yield extra

    async def _store(
        self,
        key: str,
        dest: Path,
        chunks: AsyncIterator[bytes],
        sha256: str,
        size: int,
        throttle: Throttle | None,
    ) -> StoredObject:
        if await self._run(f"look up {key}", dest.exists):
            return await self._accept_existing(key, dest, sha256, size, throttle)
        await self._run(f"make the folder of {key}", _make_dirs, self.root, dest.parent)
        tmp = dest.with_name(f"{dest.name}{_TMP}{secrets.token_hex(8)}")
        out = await self._run(f"create {tmp.name}", _create_exclusive, tmp)
        published = False
        try:
            digest = hashlib.sha256()
            written = 0
            async for chunk in chunks:
                if throttle is not None:
                    await throttle.take(len(chunk))
                digest.update(chunk)
                written += len(chunk)
                await self._run(f"write {tmp.name}", out.write, chunk)
            if written != size or digest.hexdigest() != sha256:
                raise CentralError(
                    "central_checksum",
                    f"{self.name}: {key} not stored: the source gave {written} bytes with "
                    f"SHA-256 {digest.hexdigest()}, expected {size} bytes with {sha256}",
                )
            await self._run(f"sync {tmp.name}", _sync_and_close, out)
            try:
                await self._run(f"publish {key}", _publish, tmp, dest)
            except FileExistsError:
                # Another writer published it meanwhile: the same rule as for an existing key.
                return await self._accept_existing(key, dest, sha256, size, throttle)
            published = True
            await self._run(f"sync the folder of {key}", _fsync_dir, dest.parent)
        finally:
            if not out.closed:
                await self._run(f"close {tmp.name}", out.close)
            if not published:
                await self._run(f"remove {tmp.name}", _unlink_quietly, tmp)
        await self._write_sidecar(key, dest, sha256)
        return await self._head_confirmed(key, dest, sha256, size)

    async def _accept_existing(
        self, key: str, dest: Path, sha256: str, size: int, throttle: Throttle | None
    ) -> StoredObject:
        """An existing key is success if its bytes are the expected ones, else refused."""
        actual_size, actual = await self._hash_file(key, dest, throttle)
        if actual_size != size or actual != sha256:
            raise CentralError(
                "central_checksum",
                f"{self.name}: {key} exists with {actual_size} bytes and SHA-256 {actual}, "
                f"not {size} bytes with {sha256}; it is not overwritten",
            )
        stored = await self.head(key)
        if stored is None or stored.sha256 != sha256:
            await self._write_sidecar(key, dest, sha256)
        return await self._head_confirmed(key, dest, sha256, size)

    async def _hash_file(self, key: str, dest: Path, throttle: Throttle | None) -> tuple[int, str]:
        digest = hashlib.sha256()
        total = 0
        handle = await self._run(f"open {key}", _open_read, dest)
        try:
            while chunk := await self._run(f"read {key}", handle.read, CHUNK):
                if throttle is not None:
                    await throttle.take(len(chunk))  # reading a mount uses the same link
                digest.update(chunk)
                total += len(chunk)
        finally:
            await self._run(f"close {key}", handle.close)
        return total, digest.hexdigest()

    async def _write_sidecar(self, key: str, dest: Path, sha256: str) -> None:
        sidecar = dest.with_name(dest.name + SIDECAR)
        text = f"{sha256}  {dest.name}\n".encode()
        await self._run(f"write the sidecar of {key}", _write_replace, sidecar, text)

    async def _head_confirmed(self, key: str, dest: Path, sha256: str, size: int) -> StoredObject:
        stored = await self.head(key)
        if stored is None or stored.size != size or stored.sha256 != sha256:
            raise CentralError(
                "central_checksum",
                f"{self.name}: after storing {key} the directory reports {stored}, "
                f"expected {size} bytes with SHA-256 {sha256}",
            )
        return stored

    async def _run(self, action: str, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) in a thread under the timeout; OSError as CentralError (FileExistsError is
        passed through for the publish step)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout_s)
        except TimeoutError:
            raise CentralError(
                "central_unreachable",
                f"{self.name}: cannot {action}: no answer in {self.timeout_s:g} s "
                "(is the mount hung?)",
            ) from None
        except FileExistsError:
            raise
        except OSError as exc:
            code = "central_unreachable" if exc.errno in _UNREACHABLE_ERRNOS else "central_io"
            reason = exc.strerror or type(exc).__name__
            raise CentralError(code, f"{self.name}: cannot {action}: {reason}") from None


def _head(key: str, dest: Path) -> StoredObject | None:
    try:
        info = dest.stat()
    except FileNotFoundError:
        return None
    if not dest.is_file():
        raise OSError(errno.EISDIR, "not a regular file")
    sha256: str | None = None
    with contextlib.suppress(FileNotFoundError):
        line = dest.with_name(dest.name + SIDECAR).read_text("ascii", errors="replace")
        candidate = line[:64]
        if len(candidate) == 64 and set(candidate) <= set("0123456789abcdef"):
            sha256 = candidate
    return StoredObject(key=key, size=info.st_size, sha256=sha256, retain_until_us=None)


def _make_dirs(root: Path, folder: Path) -> None:
    """mkdir each missing folder from root down, fsyncing its parent so the entry is durable."""
    missing: list[Path] = []
    current = folder
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        _fsync_dir(path.parent)


def _open_read(path: Path) -> BinaryIO:
    return path.open("rb")


def _create_exclusive(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    return os.fdopen(fd, "wb")


def _sync_and_close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some network file systems refuse fsync on a directory; the rename is then as durable
        # as the server makes it.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _publish(tmp: Path, dest: Path) -> None:
    """tmp becomes dest, never replacing an existing dest (FileExistsError)."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        # No hard links (some SMB servers): check, then rename. The gap between the two is
        # only a race with another writer of the same key, which the transfer service is not.
        if dest.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(dest)) from None
        os.rename(tmp, dest)
        return
    os.unlink(tmp)


def _write_replace(path: Path, data: bytes) -> None:
    """Write a small file by tmp, fsync, rename over, fsync the folder."""
    tmp = path.with_name(f"{path.name}{_TMP}{secrets.token_hex(8)}")
    handle = _create_exclusive(tmp)
    try:
        handle.write(data)
        _sync_and_close(handle)
        os.replace(tmp, path)
    except BaseException:
        handle.close()
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)


def _write_probe(path: Path) -> None:
    handle = _create_exclusive(path)
    try:
        handle.write(b"surveil probe\n")
        _sync_and_close(handle)
    finally:
        handle.close()
        _unlink_quietly(path)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
