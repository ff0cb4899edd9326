"""Index rows for tests that need footage in the index without recording it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

from index import runs, segments
from index.db import Database
from index.records import SegmentRow


def sealed_segment(
    camera_id: int,
    run_id: int,
    sequence: int,
    path: str,
    start_us: int,
    end_us: int,
    video_codec: str = "h264",
) -> SegmentRow:
    """A sealed segment row covering [start_us, end_us) (no file behind it)."""
    return SegmentRow(
        camera_id=camera_id,
        run_id=run_id,
        sequence=sequence,
        path=path,
        start_us=start_us,
        end_us=end_us,
        duration_us=end_us - start_us,
        bytes=1000,
        sha256="0" * 64,
        state="sealed",
        video_codec=video_codec,
        audio_codec=None,
        fragments=1,
        clock_sync="synced",
        camera_clock_offset_us=None,
        created_us=start_us,
        sealed_us=end_us,
    )


async def footage_files(
    db: Database,
    data_dir: Path,
    camera_id: int,
    starts_us: list[int],
    size: int = 4096,
    seg_us: int = 60_000_000,
) -> list[int]:
    """Sealed segments of one run starting at starts_us, each a real file of size random
    bytes under data_dir with its true SHA-256, indexed (and so logged); their ids."""
    run_id = await db.write(lambda s: runs.start_run(s, camera_id, starts_us[0], "test"))
    ids = []
    for seq, start in enumerate(starts_us):
        rel = f"cam{camera_id}/r{run_id}/{seq}.mp4"
        body = os.urandom(size)
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_bytes(body)
        row = replace(
            sealed_segment(camera_id, run_id, seq, rel, start, start + seg_us),
            bytes=size,
            sha256=hashlib.sha256(body).hexdigest(),
        )
        ids.append(await db.write(lambda s, row=row: segments.upsert_segment(s, row)))
    return ids
