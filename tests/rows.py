"""Index rows for tests that need footage in the index without recording it."""

from __future__ import annotations

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
