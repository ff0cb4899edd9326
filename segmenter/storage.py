"""Segment files on disk: incremental hashing, fsync policy and the seal.

Write order (docs/design/recording.md): bytes are appended to NAME.part and
hashed as they are written; fsync per policy; the seal is fsync(file) →
fsync(dir) → rename to NAME → fsync(dir). Only then may the index call the
segment sealed.

A write or fsync that fails (disk full, I/O error) raises StorageError; the
file can then still be sealed at its last durable byte (seal_durable), so
what reached the disk stays evidence and nothing after it is claimed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from segmenter.paths import PART_SUFFIX

DISK_FULL: Final = "disk full"
DISK_ERROR: Final = "disk error"
_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageError(Exception):
    """Writing a segment file failed. reason is DISK_FULL (no space or quota left) or
    DISK_ERROR (anything else, e.g. EIO); the message names the file and the OS error."""

    def __init__(self, what: str, rel_path: str, err: OSError) -> None:
        self.reason = DISK_FULL if err.errno in _FULL_ERRNOS else DISK_ERROR
        self.os_error = err.strerror or type(err).__name__
        super().__init__(f"{self.reason}: {what} {rel_path}: {self.os_error}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durable(root: Path, rel_dir: Path) -> Path:
    """mkdir -p root/rel_dir, fsyncing each parent whose entries changed."""
    current = root
    for part in rel_dir.parts:
        nxt = current / part
        if not nxt.is_dir():
            nxt.mkdir(exist_ok=True)
            fsync_dir(current)
        current = nxt
    return current


class FileOps:
    """The two calls a segment's bytes go through, as an object: tests swap in one that
    fails (ENOSPC, EIO) at a chosen write or fsync, and the real code above it runs."""

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)


@dataclass(frozen=True)
class Sealed:
    bytes: int
    sha256: str


class SegmentFile:
    """One segment being written. Not thread-safe: one camera thread owns it."""

    ops: ClassVar[FileOps] = FileOps()

    def __init__(self, data_dir: Path, rel_path: str) -> None:
        self.data_dir = data_dir
        self.rel_path = rel_path
        self.final_path = data_dir / rel_path
        self.part_path = self.final_path.with_name(self.final_path.name + PART_SUFFIX)
        self._fd = -1
        try:
            make_dirs_durable(data_dir, Path(rel_path).parent)
            self._fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            # The directory entry of the new file must survive a crash too.
            fsync_dir(self.part_path.parent)
        except OSError as e:
            self.abandon()  # an empty .part, if any, is quarantined by recovery
            raise StorageError("cannot create", rel_path, e) from e
        self._hash = hashlib.sha256()
        # The hash of the first durable_bytes bytes, for a seal after a failure.
        self._durable_hash = self._hash.copy()
        self.bytes = 0  # bytes of whole appends
        self.durable_bytes = 0  # of those, how many a successful fsync covered
        self._sync_failed = False

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = self.ops.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            # Part of data may be in the file; bytes still ends before it.
            raise StorageError("cannot write", self.rel_path, e) from e
        self._hash.update(data)
        self.bytes += len(data)

    def sync(self) -> None:
        """Force written bytes to disk; afterwards durable_bytes == bytes."""
        if self.durable_bytes != self.bytes:
            self._fsync("cannot fsync")

    def _fsync(self, what: str) -> None:
        try:
            self.ops.fsync(self._fd)
        except OSError as e:
            # After a failed fsync the kernel may have dropped the dirty pages and a
            # later fsync can succeed without them: nothing past durable_bytes is
            # trusted again.
            self._sync_failed = True
            raise StorageError(what, self.rel_path, e) from e
        self.durable_bytes = self.bytes
        self._durable_hash = self._hash.copy()

    def seal(self) -> Sealed:
        self._fsync("cannot seal")
        try:
            self._close_and_rename()
        except OSError as e:
            raise StorageError("cannot seal", self.rel_path, e) from e
        return Sealed(self.bytes, self._hash.hexdigest())

    def _close_and_rename(self) -> None:
        """The end of every seal, after fsync(file): close → fsync(dir) → rename → fsync(dir)."""
        os.close(self._fd)
        self._fd = -1
        fsync_dir(self.part_path.parent)
        os.rename(self.part_path, self.final_path)
        fsync_dir(self.final_path.parent)

    def salvage(self) -> None:
        """After a StorageError: make the whole appends durable if that can still be trusted.

        Cuts a half-written append off the end and fsyncs once, unless an fsync has
        already failed (then durable_bytes stays where the last good fsync left it).
        Never raises; afterwards durable_bytes says what seal_durable will keep.
        """
        if self._fd < 0 or self._sync_failed or self.durable_bytes == self.bytes:
            return
        try:
            os.ftruncate(self._fd, self.bytes)  # frees the blocks of a half-written append
            self._fsync("cannot fsync")
        except (OSError, StorageError):
            self._sync_failed = True

    def seal_durable(self) -> Sealed:
        """Seal the file at durable_bytes (see salvage): cut what follows, then the usual
        fsync(file) → close → fsync(dir) → rename → fsync(dir).

        The fsync here makes the cut durable; the bytes kept were covered by an earlier
        fsync that succeeded. Raises StorageError if this fails too (the .part file stays
        for startup recovery, which trusts only what it reads back).
        """
        if self._fd < 0:
            raise StorageError(
                "cannot seal", self.rel_path, OSError(errno.EBADF, "the file is closed")
            )
        try:
            os.ftruncate(self._fd, self.durable_bytes)
            self.ops.fsync(self._fd)
            self._close_and_rename()
        except OSError as e:
            raise StorageError("cannot seal", self.rel_path, e) from e
        self.bytes = self.durable_bytes
        return Sealed(self.durable_bytes, self._durable_hash.hexdigest())

    def abandon(self, *, cut_to_durable: bool = False) -> None:
        """Close without sealing (the .part file stays for recovery).

        cut_to_durable: first cut off what no fsync covered, so that nothing in the file
        is taken for footage later (after a StorageError)."""
        if self._fd >= 0 and cut_to_durable:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.durable_bytes)
        if self._fd >= 0:
            # A close error loses nothing more: recovery reads the file back.
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


def hash_file(path: Path, chunk: int = 1 << 20) -> Sealed:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            size += len(block)
    return Sealed(size, h.hexdigest())
