"""Startup recovery of segment files torn by a crash.

Rules (docs/design/recording.md): an unsealed file (NAME.part) is truncated
to its last complete fragment, re-hashed, sealed and reported as recovered;
complete fragments are never thrown away. A file with no complete fragment
is moved into quarantine/ and reported, never silently deleted. This module
only touches files; the caller records what it reports in the index.
"""

from __future__ import annotations

import logging
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from segmenter.boxes import FileLayout, scan_file
from segmenter.paths import PART_SUFFIX, QUARANTINE_DIR, SegmentName, parse_segment_path
from segmenter.storage import Sealed, fsync_dir, hash_file, make_dirs_durable

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
    quarantine = data_dir / QUARANTINE_DIR
    return sorted(p for p in data_dir.rglob(f"*{PART_SUFFIX}") if quarantine not in p.parents)


def recover_part_file(data_dir: Path, part: Path) -> RecoveredSegment | QuarantinedFile:
    rel_part = part.relative_to(data_dir).as_posix()
    layout, size = scan_path(part)
    name = parse_segment_path(rel_part)
    if not layout.fragments or name is None:
        reason = "no complete fragment" if name else "not a segment file name"
        return quarantine_file(data_dir, part, size, reason)
    truncated = size - layout.complete_end
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
    sealed = hash_file(part)
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    os.rename(part, final)
    fsync_dir(final.parent)
    logger.warning(
        "%s: recovered %s: kept %d complete fragments (%d bytes), cut %d torn bytes",
        name.camera,
        rel_part,
        len(layout.fragments),
        sealed.bytes,
        truncated,
    )
    return segment_record(
        final.relative_to(data_dir).as_posix(), name, sealed, layout, truncated_bytes=truncated
    )


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
    while target.exists():
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


def recover_data_dir(data_dir: Path) -> list[RecoveredSegment | QuarantinedFile]:
    """Recover every unsealed segment file under data_dir."""
    return [recover_part_file(data_dir, p) for p in find_part_files(data_dir)]
