"""Segment files on disk: incremental hashing, fsync policy and the seal.

Write order (docs/design/recording.md): bytes are appended to NAME.part and
hashed as they are written; fsync per policy; the seal is fsync(file) →
fsync(dir) → rename to NAME → fsync(dir). Only then may the index call the
segment sealed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from segmenter.paths import PART_SUFFIX


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


@dataclass(frozen=True)
class Sealed:
    bytes: int
    sha256: str


class SegmentFile:
    """One segment being written. Not thread-safe: one camera thread owns it."""

    def __init__(self, data_dir: Path, rel_path: str) -> None:
        self.data_dir = data_dir
        self.rel_path = rel_path
        self.final_path = data_dir / rel_path
        self.part_path = self.final_path.with_name(self.final_path.name + PART_SUFFIX)
        make_dirs_durable(data_dir, Path(rel_path).parent)
        self._fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        # The directory entry of the new file must survive a crash too.
        fsync_dir(self.part_path.parent)
        self._hash = hashlib.sha256()
        self.bytes = 0
        self.durable_bytes = 0

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._hash.update(data)
        self.bytes += len(data)

    def sync(self) -> None:
        """Force written bytes to disk; afterwards durable_bytes == bytes."""
        if self.durable_bytes != self.bytes:
            os.fsync(self._fd)
            self.durable_bytes = self.bytes

    def seal(self) -> Sealed:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self.durable_bytes = self.bytes
        fsync_dir(self.part_path.parent)
        os.rename(self.part_path, self.final_path)
        fsync_dir(self.final_path.parent)
        return Sealed(self.bytes, self._hash.hexdigest())

    def abandon(self) -> None:
        """Close without sealing (the .part file stays for recovery)."""
        if self._fd >= 0:
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
