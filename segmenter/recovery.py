"""Startup recovery of segment files torn by a crash: the file half of it.

Rules (docs/design/recording.md): an unsealed file (NAME.part) is examined
without being changed (examine_part); one that cannot be a torn segment (not a
regular file, not a segment name, no complete fragment) is moved into
quarantine/, never silently deleted. Whether a torn segment is ours is the
index's question (surveil/archive.py); one that is is truncated to its last
complete fragment and sealed under its final name, never over another file
(seal_torn); complete fragments are never thrown away. This module only
touches files; the caller records what it reports in the index.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import mmap
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from segmenter.boxes import FileLayout, scan_file
from segmenter.paths import (
    NOT_FOOTAGE_DIRS,
    PART_SUFFIX,
    QUARANTINE_DIR,
    SegmentName,
    parse_segment_path,
)
from segmenter.storage import Sealed, fsync_dir, make_dirs_durable

logger = logging.getLogger(__name__)
US = 1_000_000

_CODECS = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "mp4a": "aac"}


@dataclass(frozen=True)
class MediaSummary:
    duration_us: int
    fragments: int
    video_frames: int
    video_codec: str
    audio_codec: str | None


@dataclass(frozen=True)
class RecoveredSegment:
    rel_path: str  # final (sealed) path
    camera: str
    start_us: int
    run_id: int
    sequence: int
    bytes: int
    sha256: str
    truncated_bytes: int
    media: MediaSummary


@dataclass(frozen=True)
class QuarantinedFile:
    rel_path: str  # where it was
    moved_to: str  # where it is now
    bytes: int
    reason: str

    def detail(self) -> dict[str, object]:
        """The detail of its 'segment_quarantined' event, whoever moved it."""
        return {
            "path": self.rel_path,
            "moved_to": self.moved_to,
            "bytes": self.bytes,
            "reason": self.reason,
        }


def summarize(layout: FileLayout) -> MediaSummary:
    """Duration and frame counts of the complete fragments of a scanned file."""
    video = next((t for t in layout.tracks.values() if t.handler == "vide"), None)
    audio = next((t for t in layout.tracks.values() if t.handler == "soun"), None)
    duration_us = frames = 0
    for frag in layout.fragments:
        for run in frag.runs:
            if video is not None and run.track_id == video.track_id:
                end = (run.base_decode_time + run.duration) * US // video.timescale
                duration_us = max(duration_us, end)
                frames += run.samples
    return MediaSummary(
        duration_us=duration_us,
        fragments=len(layout.fragments),
        video_frames=frames,
        video_codec=_CODECS.get(video.sample_entry, video.sample_entry) if video else "",
        audio_codec=_CODECS.get(audio.sample_entry, audio.sample_entry) if audio else None,
    )


def scan_path(path: Path) -> tuple[FileLayout, int]:
    """Lay out a file on disk, and its size, without reading it all into memory."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        return scan_open(f, size), size


def scan_open(f: BinaryIO, limit: int) -> FileLayout:
    """Lay out the first limit bytes of an open file, at most its size; later bytes are
    not looked at (a fragment being written past them may be half there)."""
    if limit <= 0:
        return scan_file(b"")
    # A segment may be gigabytes (an hour at a high bitrate): map it, so
    # recovery at startup does not need that much memory.
    with (
        mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        memoryview(mapped) as whole,
        whole[:limit] as view,
    ):
        return scan_file(view)


def summarize_file(path: Path) -> MediaSummary:
    return summarize(scan_path(path)[0])


def read_init(path: Path, length: int) -> bytes | None:
    """The first length bytes of a file (its ftyp+moov), or None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(length)
    except OSError:
        return None


def find_part_files(data_dir: Path) -> list[Path]:
    """Every entry named *.part under data_dir but in quarantine/ (or the central cache),
    files or not."""
    skip = [data_dir / name for name in NOT_FOOTAGE_DIRS]
    return sorted(
        p
        for p in data_dir.rglob(f"*{PART_SUFFIX}")
        if not any(folder in p.parents for folder in skip)
    )


@dataclass(frozen=True)
class TornFile:
    """A .part file as found, unchanged: what its name says and how much of it is whole."""

    path: Path  # the .part file
    rel_path: str  # its final (sealed) path, relative to data_dir
    name: SegmentName
    layout: FileLayout
    kept: Sealed  # size and SHA-256 of its complete fragments: what sealing it keeps
    whole: Sealed  # size and SHA-256 of the file as it is (torn tail and all)


def examine_part(data_dir: Path, part: Path) -> TornFile | QuarantinedFile:
    """Lay out and hash a .part file without changing it; quarantine one that cannot be
    a torn segment (not a regular file, not a segment name, no complete fragment)."""
    rel_part = part.relative_to(data_dir).as_posix()
    # lstat: a symlink is never followed, or sealing would cut the file it points to.
    if not stat.S_ISREG(os.lstat(part).st_mode):
        return quarantine_file(data_dir, part, 0, "not a regular file")
    layout, size = scan_path(part)
    name = parse_segment_path(rel_part)
    if not layout.fragments or name is None:
        reason = "no complete fragment" if name else "not a segment file name"
        return quarantine_file(data_dir, part, size, reason)
    kept, whole = _hash_prefix(part, layout.complete_end)
    return TornFile(
        path=part,
        rel_path=rel_part.removesuffix(PART_SUFFIX),
        name=name,
        layout=layout,
        kept=kept,
        whole=whole,
    )


def _hash_prefix(path: Path, length: int, chunk: int = 1 << 20) -> tuple[Sealed, Sealed]:
    """The size and SHA-256 of the first length bytes and of the whole file, in one read."""
    h = hashlib.sha256()
    size = 0
    prefix: Sealed | None = None
    with open(path, "rb") as f:
        while True:
            if prefix is None and size == length:
                prefix = Sealed(size, h.hexdigest())
            block = f.read(chunk if prefix is not None else min(chunk, length - size))
            if not block:
                break
            h.update(block)
            size += len(block)
    whole = Sealed(size, h.hexdigest())
    return prefix or whole, whole


def seal_torn(data_dir: Path, torn: TornFile) -> RecoveredSegment | QuarantinedFile:
    """Cut a torn segment to its last complete fragment and seal it under its final name.

    If that name is taken by another file, the .part is quarantined instead: a rename
    would silently replace a file that may be sealed evidence.
    """
    part, layout = torn.path, torn.layout
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    taken = f"a file named {final.name} already exists"
    linked = _same_file(part, final)  # this very seal was cut short after its link
    if os.path.lexists(final) and not linked:
        return quarantine_file(data_dir, part, torn.whole.bytes, taken)
    truncated = torn.whole.bytes - layout.complete_end
    if truncated:
        with open(part, "r+b") as f:
            f.truncate(layout.complete_end)
            f.flush()
            os.fsync(f.fileno())
    else:
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if not linked:
        try:
            # link() never replaces an existing name, where rename() would: link, then
            # drop the .part name. A crash between the two leaves two names of one
            # file, which the next start recognises (_same_file) and finishes.
            os.link(part, final, follow_symlinks=False)
        except FileExistsError:
            return quarantine_file(data_dir, part, torn.whole.bytes, taken)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            # A filesystem without hard links: check, then rename. Recovery runs before
            # any recorder starts, so nothing of ours can take the name in between.
            if os.path.lexists(final):
                return quarantine_file(data_dir, part, torn.whole.bytes, taken)
            os.rename(part, final)
    if os.path.lexists(part):
        os.unlink(part)  # not a deletion: the same bytes stay under the final name
    fsync_dir(final.parent)
    logger.warning(
        "%s: recovered %s: kept %d complete fragments (%d bytes), cut %d torn bytes",
        torn.name.camera,
        part.relative_to(data_dir).as_posix(),
        len(layout.fragments),
        torn.kept.bytes,
        truncated,
    )
    return segment_record(torn.rel_path, torn.name, torn.kept, layout, truncated_bytes=truncated)


def _same_file(a: Path, b: Path) -> bool:
    """Whether a and b are two names of one file (never following a symlink)."""
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def segment_record(
    rel_path: str,
    name: SegmentName,
    sealed: Sealed,
    layout: FileLayout,
    *,
    truncated_bytes: int = 0,
) -> RecoveredSegment:
    """What a sealed segment file says about itself: name, size, hash, media."""
    return RecoveredSegment(
        rel_path=rel_path,
        camera=name.camera,
        start_us=name.start_us,
        run_id=name.run_id,
        sequence=name.sequence,
        bytes=sealed.bytes,
        sha256=sealed.sha256,
        truncated_bytes=truncated_bytes,
        media=summarize(layout),
    )


def quarantine_file(data_dir: Path, path: Path, size: int, reason: str) -> QuarantinedFile:
    """Move a file we will not index to quarantine/<same relative path>; never deleted."""
    rel = path.relative_to(data_dir)
    target_dir = make_dirs_durable(data_dir, Path(QUARANTINE_DIR) / rel.parent)
    target = target_dir / rel.name
    n = 0
    while os.path.lexists(target):
        # rename() would silently replace an earlier quarantined file: a deletion.
        n += 1
        target = target_dir / f"{rel.name}.{n}"
    os.rename(path, target)
    fsync_dir(target_dir)
    fsync_dir(path.parent)
    logger.warning("moved %s (%d bytes, %s) to %s", rel, size, reason, target)
    return QuarantinedFile(
        rel_path=rel.as_posix(),
        moved_to=target.relative_to(data_dir).as_posix(),
        bytes=size,
        reason=reason,
    )
