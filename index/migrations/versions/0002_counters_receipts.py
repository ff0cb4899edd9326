"""Counters, camera-counter links, receipts and holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_US = "µs since epoch UTC"


def upgrade() -> None:
    """Create counters, camera_counters, receipts and holds."""
    op.create_table(
        "counters",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "code", sa.String(32), nullable=False, comment="Counter code, e.g. A01; stable identity"
        ),
        sa.Column("name", sa.String(200), nullable=False, comment="Human name of the counter"),
        sa.Column(
            "site",
            sa.String(200),
            nullable=True,
            comment="Hall or site the counter is in; NULL if not given",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the row was first inserted, {_US}",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_counters"),
        sa.UniqueConstraint("code", name="uq_counters_code"),
        comment="Acceptance counters, one row per counter code",
    )

    op.create_table(
        "camera_counters",
        sa.Column("camera_id", _ROW_ID, nullable=False, comment="Camera covering the counter"),
        sa.Column("counter_id", _ROW_ID, nullable=False, comment="Counter the camera covers"),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name="fk_camera_counters_camera_id_cameras"
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name="fk_camera_counters_counter_id_counters"
        ),
        sa.PrimaryKeyConstraint("camera_id", "counter_id", name="pk_camera_counters"),
        comment="Links between cameras and the counters they cover",
    )
    op.create_index("ix_camera_counters_counter_id", "camera_counters", ["counter_id"])

    op.create_table(
        "receipts",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "receipt_no",
            sa.String(64),
            nullable=False,
            comment="Receipt number from the acceptance system",
        ),
        sa.Column(
            "counter_id",
            _ROW_ID,
            nullable=False,
            comment="Counter where the case was accepted",
        ),
        sa.Column(
            "accepted_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When acceptance started, {_US}",
        ),
        sa.Column(
            "completed_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When acceptance was completed, {_US}; NULL while open",
        ),
        sa.Column(
            "case_no",
            sa.String(200),
            nullable=True,
            comment="Case number, if the acceptance system sent one",
        ),
        sa.Column(
            "service",
            sa.String(200),
            nullable=True,
            comment="Service (matter) applied for, if sent",
        ),
        sa.Column(
            "handler",
            sa.String(200),
            nullable=True,
            comment="Staff member who handled the acceptance, if sent",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the row was inserted (host clock), {_US}",
        ),
        sa.Column(
            "updated_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the row last changed (host clock), {_US}",
        ),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name="fk_receipts_counter_id_counters"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_receipts"),
        sa.UniqueConstraint("receipt_no", name="uq_receipts_receipt_no"),
        comment="Acceptance receipts, one row per receipt number",
    )
    op.create_index("ix_receipts_counter_id_accepted_us", "receipts", ["counter_id", "accepted_us"])

    op.create_table(
        "holds",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("camera_id", _ROW_ID, nullable=False, comment="Camera whose footage is held"),
        sa.Column(
            "receipt_id",
            _ROW_ID,
            nullable=True,
            comment="Receipt that placed the hold; NULL if none",
        ),
        sa.Column(
            "start_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"Start of the held span, {_US}",
        ),
        sa.Column(
            "end_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"End of the held span, {_US}; NULL: up to now (open receipt)",
        ),
        sa.Column("reason", sa.String(200), nullable=False, comment="Why the footage is held"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], name="fk_holds_camera_id_cameras"),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name="fk_holds_receipt_id_receipts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
        comment="Retention holds on camera footage, e.g. one per receipt and camera",
    )
    op.create_index("ix_holds_camera_id_start_us", "holds", ["camera_id", "start_us"])
    op.create_index("ix_holds_receipt_id", "holds", ["receipt_id"])


def downgrade() -> None:
    """Drop the four tables, children first."""
    op.drop_index("ix_holds_receipt_id", table_name="holds")
    op.drop_index("ix_holds_camera_id_start_us", table_name="holds")
    op.drop_table("holds")
    op.drop_index("ix_receipts_counter_id_accepted_us", table_name="receipts")
    op.drop_table("receipts")
    op.drop_index("ix_camera_counters_counter_id", table_name="camera_counters")
    op.drop_table("camera_counters")
    op.drop_table("counters")
