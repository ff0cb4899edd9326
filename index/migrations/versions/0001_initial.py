"""Initial schema: cameras, runs, gaps, segments, events, api_tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it must not import index.models, whose future
shape may differ. tests/test_index.py checks it against the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# SQLite autoincrements only a column declared exactly INTEGER PRIMARY KEY.
# Check constraint names go through op.f() so that the naming convention of the
# target metadata (ck_<table>_<name>) is not applied a second time.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_US = "µs since epoch UTC"


def upgrade() -> None:
    """Create every table of the initial schema."""
    op.create_table(
        "cameras",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "name",
            sa.String(200),
            nullable=False,
            comment="Camera name from the configuration; stable identity",
        ),
        sa.Column(
            "source_url",
            sa.Text(),
            nullable=False,
            comment="Stream URL with any user:password redacted to ***",
        ),
        sa.Column(
            "enabled", sa.Boolean(), nullable=False, comment="Whether the camera should record"
        ),
        sa.Column(
            "counters",
            sa.Text(),
            nullable=False,
            comment="JSON array of the service counter ids this camera covers",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the row was first inserted, {_US}",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cameras"),
        sa.UniqueConstraint("name", name="uq_cameras_name"),
        comment="Configured cameras, one row per camera name",
    )

    op.create_table(
        "runs",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("camera_id", _ROW_ID, nullable=False, comment="Camera that recorded the run"),
        sa.Column("start_us", sa.BigInteger(), nullable=False, comment=f"Start of the run, {_US}"),
        sa.Column(
            "end_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"End of the run, {_US}; NULL while recording",
        ),
        sa.Column(
            "start_reason",
            sa.String(200),
            nullable=False,
            comment="Why the run started (e.g. startup, reconnect)",
        ),
        sa.Column(
            "end_reason",
            sa.String(200),
            nullable=True,
            comment="Why the run ended (e.g. shutdown, stream lost); NULL while recording",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_runs_camera_id_cameras"),
        comment="Recording runs: each is an unbroken sequence of segments from one camera",
    )
    op.create_index("ix_runs_camera_id_start_us", "runs", ["camera_id", "start_us"])

    op.create_table(
        "gaps",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("camera_id", _ROW_ID, nullable=False, comment="Camera that was not recording"),
        sa.Column("start_us", sa.BigInteger(), nullable=False, comment=f"Start of the gap, {_US}"),
        sa.Column(
            "end_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"End of the gap, {_US}; NULL while it lasts",
        ),
        sa.Column(
            "reason",
            sa.String(200),
            nullable=False,
            comment="Why recording stopped (end reason of the previous run)",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gaps"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_gaps_camera_id_cameras"),
        comment="Known holes in a camera's recording, between runs",
    )
    op.create_index("ix_gaps_camera_id_start_us", "gaps", ["camera_id", "start_us"])

    op.create_table(
        "segments",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("camera_id", _ROW_ID, nullable=False, comment="Camera that recorded the segment"),
        sa.Column("run_id", _ROW_ID, nullable=False, comment="Run the segment belongs to"),
        sa.Column(
            "sequence",
            sa.Integer(),
            nullable=False,
            comment="0-based position of the segment within its run",
        ),
        sa.Column(
            "path",
            sa.String(1000),
            nullable=False,
            comment="File path relative to data_dir, posix separators",
        ),
        sa.Column(
            "start_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"Presentation time of the first frame, {_US}",
        ),
        sa.Column(
            "end_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"End of the last complete fragment, {_US}",
        ),
        sa.Column(
            "duration_us",
            sa.BigInteger(),
            nullable=False,
            comment="Media duration from the stream timestamps, µs",
        ),
        sa.Column(
            "bytes",
            sa.BigInteger(),
            nullable=False,
            comment="File size in bytes covered by end_us (and by sha256 once sealed)",
        ),
        sa.Column(
            "sha256",
            sa.String(64),
            nullable=True,
            comment="Lowercase hex SHA-256 of the file; NULL until sealed",
        ),
        sa.Column(
            "state",
            sa.String(16),
            nullable=False,
            comment="Lifecycle: open, sealed, recovered (sealed after a crash), missing",
        ),
        sa.Column(
            "video_codec",
            sa.String(64),
            nullable=False,
            comment="Video codec name as FFmpeg spells it (e.g. h264, hevc)",
        ),
        sa.Column(
            "audio_codec",
            sa.String(64),
            nullable=True,
            comment="Audio codec name as FFmpeg spells it; NULL when there is no audio",
        ),
        sa.Column(
            "fragments",
            sa.Integer(),
            nullable=False,
            comment="Number of complete moof+mdat fragments in the file",
        ),
        sa.Column(
            "clock_sync",
            sa.String(16),
            nullable=False,
            comment="Host clock state when recorded: synced, unsynced or unknown",
        ),
        sa.Column(
            "camera_clock_offset_us",
            sa.BigInteger(),
            nullable=True,
            comment="Camera clock minus host clock, µs; NULL when unknown",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the row was inserted (host clock), {_US}",
        ),
        sa.Column(
            "sealed_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the segment was sealed (host clock), {_US}",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_segments_camera_id_cameras"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_segments_run_id_runs"),
        sa.UniqueConstraint("run_id", "sequence", name="uq_segments_run_id_sequence"),
        sa.UniqueConstraint("path", name="uq_segments_path"),
        sa.CheckConstraint(
            "state IN ('open', 'sealed', 'recovered', 'missing')", name=op.f("ck_segments_state")
        ),
        sa.CheckConstraint(
            "clock_sync IN ('synced', 'unsynced', 'unknown')", name=op.f("ck_segments_clock_sync")
        ),
        comment="Segment files (fMP4), one row per file, opened at its first fragment",
    )
    op.create_index("ix_segments_camera_id_start_us", "segments", ["camera_id", "start_us"])
    op.create_index("ix_segments_camera_id_end_us", "segments", ["camera_id", "end_us"])
    op.create_index("ix_segments_state", "segments", ["state"])

    op.create_table(
        "events",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("at_us", sa.BigInteger(), nullable=False, comment=f"When it happened, {_US}"),
        sa.Column(
            "kind",
            sa.String(100),
            nullable=False,
            comment="Event type, dotted lowercase (e.g. camera.reconnect)",
        ),
        sa.Column(
            "camera_id",
            _ROW_ID,
            nullable=True,
            comment="Camera concerned; NULL for system events",
        ),
        sa.Column(
            "segment_id",
            _ROW_ID,
            nullable=True,
            comment="Segment concerned; NULL if none or deleted since",
        ),
        sa.Column(
            "detail", sa.Text(), nullable=False, comment="JSON object with event-specific detail"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_events_camera_id_cameras"),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name="fk_events_segment_id_segments",
            ondelete="SET NULL",
        ),
        comment="Operational event log, newest rows are the most interesting",
    )
    op.create_index("ix_events_at_us", "events", ["at_us"])
    op.create_index("ix_events_camera_id_at_us", "events", ["camera_id", "at_us"])

    op.create_table(
        "api_tokens",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "name",
            sa.String(200),
            nullable=False,
            comment="Human label for the token (who or what uses it)",
        ),
        sa.Column("role", sa.String(16), nullable=False, comment="Role: admin, staff or auditor"),
        sa.Column(
            "token_hash",
            sa.String(128),
            nullable=False,
            comment="Hex hash of the token secret; the secret is never stored",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the token was created, {_US}",
        ),
        sa.Column(
            "revoked_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the token was revoked, {_US}; NULL if active",
        ),
        sa.Column(
            "last_used_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"Last successful authentication, {_US}; NULL if never",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint(
            "role IN ('admin', 'staff', 'auditor')", name=op.f("ck_api_tokens_role")
        ),
        comment="API tokens; only a hash of each token is stored",
    )


def downgrade() -> None:
    """Drop every table, children first."""
    op.drop_table("api_tokens")
    op.drop_index("ix_events_camera_id_at_us", table_name="events")
    op.drop_index("ix_events_at_us", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_segments_state", table_name="segments")
    op.drop_index("ix_segments_camera_id_end_us", table_name="segments")
    op.drop_index("ix_segments_camera_id_start_us", table_name="segments")
    op.drop_table("segments")
    op.drop_index("ix_gaps_camera_id_start_us", table_name="gaps")
    op.drop_table("gaps")
    op.drop_index("ix_runs_camera_id_start_us", table_name="runs")
    op.drop_table("runs")
    op.drop_table("cameras")
