"""Recovery of torn segment files: keep every complete fragment, quarantine the rest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from segmenter.paths import PART_SUFFIX, QUARANTINE_DIR, parse_segment_path, segment_path
from segmenter.recovery import (
    QuarantinedFile,
    RecoveredSegment,
    TornFile,
    examine_part,
    find_part_files,
    seal_torn,
)
from segmenter.storage import SegmentFile, hash_file
from tests.media import US, MediaLibrary, Recording, probe, record

BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
RUN_ID = 7


@pytest.fixture(scope="module")
def rec(media: MediaLibrary) -> Recording:
    return record(media.path("h264_aac.mkv"), segment_us=3 * US)


def _write_part(
    data_dir: Path,
    rec: Recording,
    sequence: int,
    *,
    fragments: int | None = None,
    tail: bytes = b"",
    camera: str = "cam-a",
) -> tuple[str, bytes]:
    """Write a segment as the recorder would but stop before the seal: (final rel path, bytes)."""
    start = rec.started[sequence]
    rel = segment_path(camera, BASE_US + start.start_media_us, RUN_ID, sequence)
    f = SegmentFile(data_dir, rel)
    f.append(start.init)
    for frag in rec.fragments[sequence][:fragments]:
        f.append(frag.data)
    f.append(tail)
    f.sync()
    f.abandon()
    return rel, (data_dir / (rel + PART_SUFFIX)).read_bytes()


def recover_part_file(data_dir: Path, part: Path) -> RecoveredSegment | QuarantinedFile:
    """Examine a .part and seal it, as startup does once the index says it is ours."""
    found = examine_part(data_dir, part)
    return seal_torn(data_dir, found) if isinstance(found, TornFile) else found


def recover_data_dir(data_dir: Path) -> list[RecoveredSegment | QuarantinedFile]:
    return [recover_part_file(data_dir, p) for p in find_part_files(data_dir)]


def _kept(rec: Recording, sequence: int, n: int) -> bytes:
    return rec.started[sequence].init + b"".join(f.data for f in rec.fragments[sequence][:n])


def _check_recovered(
    data_dir: Path, rec: Recording, sequence: int, item: object, rel: str, n: int, written: int
) -> None:
    """The file is sealed under its final name holding exactly the first n fragments."""
    assert isinstance(item, RecoveredSegment)
    final = data_dir / rel
    assert item.rel_path == rel
    assert final.is_file() and not (data_dir / (rel + PART_SUFFIX)).exists()
    expected = _kept(rec, sequence, n)
    data = final.read_bytes()
    assert data == expected
    assert item.bytes == len(expected) and item.truncated_bytes == written - len(expected)
    assert item.sha256 == hashlib.sha256(expected).hexdigest() == hash_file(final).sha256
    name = parse_segment_path(rel)
    assert name is not None
    assert (item.camera, item.start_us, item.run_id, item.sequence) == (
        name.camera,
        name.start_us,
        RUN_ID,
        sequence,
    )
    frags = rec.fragments[sequence][:n]
    assert item.media.fragments == n
    assert item.media.video_frames == sum(f.video_frames for f in frags)
    video_end = max(f.end_media_us for f in frags)
    assert item.media.duration_us == video_end - rec.started[sequence].start_media_us
    assert (item.media.video_codec, item.media.audio_codec) == ("h264", "aac")
    pr = probe(final)
    assert len(pr.of("video")) == item.media.video_frames
    assert pr.of("video")[0].keyframe


def _check_quarantined(data_dir: Path, item: object, rel_part: str, content: bytes) -> None:
    assert isinstance(item, QuarantinedFile)
    assert item.rel_path == rel_part
    assert item.moved_to == f"{QUARANTINE_DIR}/{rel_part}"
    assert not (data_dir / rel_part).exists()
    assert (data_dir / item.moved_to).read_bytes() == content, "quarantine keeps every byte"
    assert item.bytes == len(content)


def test_unsealed_but_whole_file_is_kept_whole(tmp_path: Path, rec: Recording) -> None:
    rel, written = _write_part(tmp_path, rec, 1)
    n = len(rec.fragments[1])
    [item] = recover_data_dir(tmp_path)
    _check_recovered(tmp_path, rec, 1, item, rel, n, len(written))
    assert isinstance(item, RecoveredSegment) and item.truncated_bytes == 0


@pytest.mark.parametrize("where", ["mdat", "moof", "moof-header", "fragment-boundary"])
def test_torn_fragment_is_cut_off(tmp_path: Path, rec: Recording, where: str) -> None:
    seq, keep = 0, 2
    rel, _ = _write_part(tmp_path, rec, seq)
    boundary = len(_kept(rec, seq, keep))
    torn = rec.fragments[seq][keep].data
    moof_size = int.from_bytes(torn[:4], "big")
    cut = {
        "mdat": boundary + moof_size + 100,
        "moof": boundary + moof_size // 2,
        "moof-header": boundary + 5,
        "fragment-boundary": boundary,
    }[where]
    part = tmp_path / (rel + PART_SUFFIX)
    os.truncate(part, cut)
    [item] = recover_data_dir(tmp_path)
    _check_recovered(tmp_path, rec, seq, item, rel, keep, cut)


@pytest.mark.parametrize(
    "junk",
    [b"\x00" * 8192, os.urandom(1000), b"\x00\x00\x10\x00moof" + b"\xff" * 50],
    ids=["zeros", "random", "torn-box"],
)
def test_garbage_after_the_last_fragment_is_cut_off(
    tmp_path: Path, rec: Recording, junk: bytes
) -> None:
    rel, written = _write_part(tmp_path, rec, 2, tail=junk)
    [item] = recover_data_dir(tmp_path)
    _check_recovered(tmp_path, rec, 2, item, rel, len(rec.fragments[2]), len(written))
    assert isinstance(item, RecoveredSegment) and item.truncated_bytes == len(junk)


@pytest.mark.parametrize("keep", ["init", "half-init", "empty", "init+torn-fragment"])
def test_file_without_a_complete_fragment_is_quarantined(
    tmp_path: Path, rec: Recording, keep: str
) -> None:
    rel, _ = _write_part(tmp_path, rec, 0)
    init = len(rec.started[0].init)
    size = {"init": init, "half-init": init // 2, "empty": 0, "init+torn-fragment": init + 300}
    part = tmp_path / (rel + PART_SUFFIX)
    os.truncate(part, size[keep])
    content = part.read_bytes()
    [item] = recover_data_dir(tmp_path)
    _check_quarantined(tmp_path, item, rel + PART_SUFFIX, content)
    assert isinstance(item, QuarantinedFile) and item.reason == "no complete fragment"
    assert not (tmp_path / rel).exists()


@pytest.mark.parametrize(
    "rel_part",
    [
        "cam-a/notes.mp4.part",  # not a segment name
        "cam-a/2026/01/01/0000000000000001_rX_s0.mp4.part",  # malformed name
        "cam-a/0000001767225600000000_r7_s0.mp4.part",  # segment name at the wrong depth
        "stray.part",
    ],
)
def test_part_file_that_is_not_a_segment_is_quarantined(
    tmp_path: Path, rec: Recording, rel_part: str
) -> None:
    content = rec.file_bytes(0)  # even with complete fragments: we cannot say whose it is
    path = tmp_path / rel_part
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    [item] = recover_data_dir(tmp_path)
    _check_quarantined(tmp_path, item, rel_part, content)
    assert isinstance(item, QuarantinedFile) and item.reason == "not a segment file name"


def test_recovery_of_a_whole_directory(tmp_path: Path, rec: Recording) -> None:
    """Several cameras and states at once; sealed files and quarantine are left alone."""
    sealed_rel = segment_path("cam-b", BASE_US, RUN_ID, 0)
    sealed = SegmentFile(tmp_path, sealed_rel)
    sealed.append(rec.file_bytes(0))
    seal = sealed.seal()
    sealed_stat = (tmp_path / sealed_rel).stat()

    torn_rel, torn = _write_part(tmp_path, rec, 1, camera="cam-a")
    os.truncate(tmp_path / (torn_rel + PART_SUFFIX), len(torn) - 10)
    whole_rel, whole = _write_part(tmp_path, rec, 2, camera="cam-c")
    empty_rel, _ = _write_part(tmp_path, rec, 3, fragments=0, camera="cam-a")
    init_only = (tmp_path / (empty_rel + PART_SUFFIX)).read_bytes()
    old_q = tmp_path / QUARANTINE_DIR / "cam-a" / "old.mp4.part"
    old_q.parent.mkdir(parents=True)
    old_q.write_bytes(b"quarantined long ago")

    assert [p.relative_to(tmp_path).as_posix() for p in find_part_files(tmp_path)] == sorted(
        [torn_rel + PART_SUFFIX, whole_rel + PART_SUFFIX, empty_rel + PART_SUFFIX]
    )
    items = recover_data_dir(tmp_path)
    by_path = {i.rel_path: i for i in items}
    assert len(items) == 3
    n1 = len(rec.fragments[1]) - 1
    _check_recovered(tmp_path, rec, 1, by_path[torn_rel], torn_rel, n1, len(torn) - 10)
    n2 = len(rec.fragments[2])
    _check_recovered(tmp_path, rec, 2, by_path[whole_rel], whole_rel, n2, len(whole))
    _check_quarantined(
        tmp_path, by_path[empty_rel + PART_SUFFIX], empty_rel + PART_SUFFIX, init_only
    )

    assert hash_file(tmp_path / sealed_rel).sha256 == seal.sha256
    assert (tmp_path / sealed_rel).stat().st_mtime_ns == sealed_stat.st_mtime_ns
    assert old_q.read_bytes() == b"quarantined long ago"
    # A second pass finds nothing left to do.
    assert recover_data_dir(tmp_path) == []


def test_recover_part_file_directly(tmp_path: Path, rec: Recording) -> None:
    rel, written = _write_part(tmp_path, rec, 0, fragments=1)
    item = recover_part_file(tmp_path, tmp_path / (rel + PART_SUFFIX))
    _check_recovered(tmp_path, rec, 0, item, rel, 1, len(written))


def test_quarantine_never_overwrites(tmp_path: Path, rec: Recording) -> None:
    """Quarantining a second file of the same name keeps the first one too."""
    rel_part = "cam-a/notes.mp4.part"
    moved = []
    for content in (b"first torn file", b"second torn file"):
        path = tmp_path / rel_part
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        [item] = recover_data_dir(tmp_path)
        assert isinstance(item, QuarantinedFile)
        moved.append(item.moved_to)
    assert moved[0] != moved[1]
    assert (tmp_path / moved[0]).read_bytes() == b"first torn file"
    assert (tmp_path / moved[1]).read_bytes() == b"second torn file"


def test_recovery_does_not_read_the_whole_file_into_memory(tmp_path: Path, rec: Recording) -> None:
    """Segments can be gigabytes; recovery at startup must not need that much memory."""
    import tracemalloc

    rel = segment_path("cam-a", BASE_US, RUN_ID, 0)
    part = tmp_path / (rel + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    frag = rec.fragments[0][0].data
    with open(part, "wb") as f:
        f.write(rec.started[0].init)
        for _ in range((16 << 20) // len(frag)):
            f.write(frag)
        f.write(frag[:1000])  # torn
    size = part.stat().st_size
    tracemalloc.start()
    try:
        item = recover_part_file(tmp_path, part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(item, RecoveredSegment) and item.truncated_bytes == 1000
    assert peak < size // 4, f"peak {peak} bytes recovering a {size}-byte file"


def test_examining_a_part_file_changes_nothing(tmp_path: Path, rec: Recording) -> None:
    """Whether a torn file is ours is decided before anything is cut: one that is not goes
    to quarantine with every byte."""
    junk = b"\x00\x00\x10\x00moof" + b"\xff" * 50
    rel, written = _write_part(tmp_path, rec, 1, tail=junk)
    part = tmp_path / (rel + PART_SUFFIX)
    found = examine_part(tmp_path, part)
    assert isinstance(found, TornFile)
    assert part.read_bytes() == written
    kept = _kept(rec, 1, len(rec.fragments[1]))
    assert (found.kept.bytes, found.kept.sha256) == (len(kept), hashlib.sha256(kept).hexdigest())
    assert (found.whole.bytes, found.whole.sha256) == (
        len(written),
        hashlib.sha256(written).hexdigest(),
    )
    assert found.rel_path == rel and found.layout.trailing == len(junk)


def test_sealing_never_replaces_a_file_of_the_final_name(tmp_path: Path, rec: Recording) -> None:
    rel, written = _write_part(tmp_path, rec, 0, tail=b"torn")
    sealed = tmp_path / rel
    sealed.write_bytes(rec.file_bytes(1))
    found = examine_part(tmp_path, tmp_path / (rel + PART_SUFFIX))
    assert isinstance(found, TornFile)
    item = seal_torn(tmp_path, found)
    _check_quarantined(tmp_path, item, rel + PART_SUFFIX, written)
    assert isinstance(item, QuarantinedFile)
    assert item.reason == f"a file named {sealed.name} already exists"
    assert sealed.read_bytes() == rec.file_bytes(1)


def test_a_seal_cut_short_after_its_link_is_finished(tmp_path: Path, rec: Recording) -> None:
    """Sealing links the final name, then drops the .part name; a crash between the two
    leaves two names of one file, and the next seal finishes the job."""
    rel, written = _write_part(tmp_path, rec, 0)
    part = tmp_path / (rel + PART_SUFFIX)
    os.link(part, tmp_path / rel)
    found = examine_part(tmp_path, part)
    assert isinstance(found, TornFile)
    item = seal_torn(tmp_path, found)
    _check_recovered(tmp_path, rec, 0, item, rel, len(rec.fragments[0]), len(written))
