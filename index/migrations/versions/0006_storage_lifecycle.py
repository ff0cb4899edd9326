"""Storage lifecycle: volumes, retention rules and passes, deletions, holds of every kind,
the case lifecycle of receipts, and transfer to central storage.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.

segments.state admits 'garbage' and 'deleted' (the CHECK is replaced as 0004 does it, O(1) on
SQLite) and segments gain a volume ('main' for every existing row: the data directory).
holds gain a kind ('receipt' for every existing row), who placed them and when (from their
receipt), an expiry and a release. receipts gain a case lifecycle ('open' for every existing
row). Columns are added with their defaults, so no table is copied. New tables:
retention_rules, retention_passes, deletions, transfers, transfer_batches.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# 0004's way of replacing the CHECK on segments.state; 0004 is frozen, so this stays valid.
_M0004 = importlib.import_module("index.migrations.versions.0004_segment_damaged")

_OLD_STATES = ("open", "sealed", "recovered", "missing", "damaged")
_NEW_STATES = (*_OLD_STATES, "garbage", "deleted")
_OLD_COMMENT = (
    "Lifecycle: open, sealed, recovered (sealed after a crash), missing, "
    "damaged (the file no longer has its recorded size or hash)"
)
_NEW_COMMENT = (
    "Lifecycle: open, sealed, recovered (sealed after a crash), missing, "
    "damaged (the file no longer has its recorded size or hash), garbage (retention "
    "decided to delete the file), deleted (the file is gone; the row stays)"
)
_HOLD_KINDS = "kind IN ('receipt', 'legal', 'export')"
_CASE_STATES = "case_state IN ('open', 'closed', 'archived')"
_US = "µs since epoch UTC"


def _add_checked(table: str, column: sa.Column[str], name: str, check: str) -> None:
    """Add a NOT NULL column with a default and a CHECK, without copying the table."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's ADD COLUMN takes a named column constraint; batch mode would copy the table.
        assert isinstance(column.server_default, sa.DefaultClause)
        default = column.server_default.arg
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column.name} VARCHAR({column.type.length}) "  # type: ignore[attr-defined]
            f"DEFAULT '{default}' NOT NULL CONSTRAINT {name} CHECK ({check})"
        )
    else:
        op.add_column(table, column)
        op.create_check_constraint(name, table, check)


def _alter_existing() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _M0004._sqlite_replace_check(_M0004._check(_OLD_STATES), _M0004._check(_NEW_STATES))
    else:
        _M0004._postgresql_replace_check(_M0004._check(_NEW_STATES), _NEW_COMMENT, _OLD_COMMENT)
    op.add_column(
        "segments",
        sa.Column(
            "volume",
            sa.String(64),
            server_default="main",
            nullable=False,
            comment="Storage volume holding the file ([[storage.volumes]] name); path is "
            "relative to its root",
        ),
    )
    _add_checked(
        "holds",
        sa.Column(
            "kind",
            sa.String(16),
            server_default="receipt",
            nullable=False,
            comment="receipt (placed by a receipt; a case hold once its case is archived), "
            "legal (placed by an admin with a reason) or export (an export request)",
        ),
        "ck_holds_kind",
        _HOLD_KINDS,
    )
    op.add_column(
        "holds",
        sa.Column(
            "created_us",
            sa.BigInteger(),
            server_default="0",
            nullable=False,
            comment=f"When the hold was placed, {_US}",
        ),
    )
    for name, typ, comment in (
        (
            "created_by",
            sa.String(200),
            "Who placed it (user or token name); NULL when the system did",
        ),
        (
            "expires_us",
            sa.BigInteger(),
            "The hold stops protecting at this time (case archived + archive_retain_days), "
            f"{_US}; NULL: no expiry",
        ),
        ("released_us", sa.BigInteger(), f"When it was released, {_US}; NULL while it holds"),
        ("released_by", sa.String(200), "Who released it; NULL while it holds"),
        ("release_reason", sa.Text(), "Why it was released; NULL while it holds"),
    ):
        op.add_column("holds", sa.Column(name, typ, nullable=True, comment=comment))
    # Receipt holds were placed when their receipt was recorded.
    op.execute(
        "UPDATE holds SET created_us = (SELECT r.created_us FROM receipts r "
        "WHERE r.id = holds.receipt_id) WHERE receipt_id IS NOT NULL"
    )
    _add_checked(
        "receipts",
        sa.Column(
            "case_state",
            sa.String(16),
            server_default="open",
            nullable=False,
            comment="Case lifecycle: open, closed (the case ended) or archived (its file archived)",
        ),
        "ck_receipts_case_state",
        _CASE_STATES,
    )
    op.add_column(
        "receipts",
        sa.Column(
            "case_closed_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the case was closed, {_US}; NULL while open",
        ),
    )
    op.add_column(
        "receipts",
        sa.Column(
            "case_archived_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the case was archived, {_US}; NULL until then",
        ),
    )


def _create_tables() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "scope", sa.String(16), nullable=False, comment="installation, counter or camera"
        ),
        sa.Column(
            "ref",
            sa.String(200),
            nullable=False,
            comment="Counter code or camera name; '' for the installation",
        ),
        sa.Column(
            "retain_days", sa.Integer(), nullable=False, comment="Days footage is kept at least"
        ),
        sa.Column(
            "updated_us",
            sa.BigInteger(),
            nullable=False,
            comment="When the rule was last set, µs since epoch UTC",
        ),
        sa.Column("updated_by", sa.String(200), nullable=False, comment="Who set it"),
        sa.PrimaryKeyConstraint("id", name="pk_retention_rules"),
        sa.CheckConstraint("retain_days >= 1", name="ck_retention_rules_retain_days"),
        sa.CheckConstraint(
            "scope IN ('installation', 'counter', 'camera')", name="ck_retention_rules_scope"
        ),
        sa.UniqueConstraint("scope", "ref", name="uq_retention_rules_scope_ref"),
        comment="Retention rules set by admins; the most specific one applies",
    )
    op.create_table(
        "retention_passes",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "trigger",
            sa.String(16),
            nullable=False,
            comment="schedule, disk (critical mark), quota, manual or startup",
        ),
        sa.Column(
            "volume",
            sa.String(64),
            nullable=True,
            comment="The volume it freed space on; NULL: every volume",
        ),
        sa.Column(
            "started_us", sa.BigInteger(), nullable=False, comment="Start, µs since epoch UTC"
        ),
        sa.Column(
            "finished_us",
            sa.BigInteger(),
            nullable=True,
            comment="End, µs since epoch UTC; NULL while it runs or if it was cut short",
        ),
        sa.Column("deleted", sa.Integer(), nullable=False, comment="Segments deleted"),
        sa.Column("bytes", sa.BigInteger(), nullable=False, comment="Bytes freed"),
        sa.Column(
            "summary",
            sa.Text(),
            nullable=False,
            comment="JSON object: segments kept by reason, the cut-off per camera",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_retention_passes"),
        sa.CheckConstraint(
            "trigger IN ('schedule', 'disk', 'quota', 'manual', 'startup')",
            name="ck_retention_passes_trigger",
        ),
        comment="Retention passes; each deletion names its pass",
    )
    op.create_index("ix_retention_passes_started_us", "retention_passes", ["started_us"])
    op.create_table(
        "deletions",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "segment_id",
            _ROW_ID,
            sa.ForeignKey("segments.id", name="fk_deletions_segment_id_segments"),
            nullable=False,
            comment="The segment whose file goes",
        ),
        sa.Column(
            "pass_id",
            _ROW_ID,
            sa.ForeignKey("retention_passes.id", name="fk_deletions_pass_id_retention_passes"),
            nullable=False,
            comment="The pass that decided it",
        ),
        sa.Column(
            "policy",
            sa.String(32),
            nullable=False,
            comment="The rule that made it eligible: retain_days, quota or disk",
        ),
        sa.Column(
            "reason", sa.Text(), nullable=False, comment="The decision in words, e.g. kept 180 days"
        ),
        sa.Column(
            "central",
            sa.String(1300),
            nullable=True,
            comment="Where a confirmed copy stays (target and object key); NULL if there is none",
        ),
        sa.Column(
            "decided_us",
            sa.BigInteger(),
            nullable=False,
            comment="When the segment became garbage, µs since epoch UTC",
        ),
        sa.Column(
            "finished_us",
            sa.BigInteger(),
            nullable=True,
            comment="When the unlink was made durable (fsync of the directory), µs since epoch "
            "UTC; NULL until then",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deletions"),
        sa.UniqueConstraint("segment_id", name="uq_deletions_segment_id"),
        comment="One row per deleted segment file; logged in the Merkle log when decided",
    )
    op.create_index("ix_deletions_finished_us", "deletions", ["finished_us"])
    op.create_table(
        "transfers",
        sa.Column(
            "segment_id",
            _ROW_ID,
            sa.ForeignKey("segments.id", name="fk_transfers_segment_id_segments"),
            nullable=False,
            comment="The segment",
        ),
        sa.Column(
            "target",
            sa.String(300),
            nullable=False,
            comment="The target it went to (kind, endpoint, bucket/prefix; no secret)",
        ),
        sa.Column("object_key", sa.String(1000), nullable=False, comment="Key of the object there"),
        sa.Column(
            "state",
            sa.String(16),
            nullable=False,
            comment="pending, uploaded (sent, not yet confirmed), confirmed or failed",
        ),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="Upload attempts so far"),
        sa.Column(
            "error",
            sa.Text(),
            nullable=True,
            comment="The last error (no credentials); NULL after a success",
        ),
        sa.Column(
            "updated_us",
            sa.BigInteger(),
            nullable=False,
            comment="When the row last changed, µs since epoch UTC",
        ),
        sa.Column(
            "next_attempt_us",
            sa.BigInteger(),
            nullable=True,
            comment="Failed: not retried before this, µs since epoch UTC",
        ),
        sa.Column(
            "confirmed_us",
            sa.BigInteger(),
            nullable=True,
            comment="When the store reported the object with the segment's size and SHA-256, µs "
            "since epoch UTC",
        ),
        sa.Column(
            "retain_until_us",
            sa.BigInteger(),
            nullable=True,
            comment="Object-lock retain-until the store reported; NULL if none",
        ),
        sa.PrimaryKeyConstraint("segment_id", name="pk_transfers"),
        sa.CheckConstraint(
            "state IN ('pending', 'uploaded', 'confirmed', 'failed')", name="ck_transfers_state"
        ),
        comment="Upload state of sealed segments to central storage; no row: pending",
    )
    op.create_index("ix_transfers_state_next_attempt_us", "transfers", ["state", "next_attempt_us"])
    op.create_table(
        "transfer_batches",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "started_us", sa.BigInteger(), nullable=False, comment="Start, µs since epoch UTC"
        ),
        sa.Column(
            "finished_us",
            sa.BigInteger(),
            nullable=True,
            comment="End, µs since epoch UTC; NULL while it runs or if cut short",
        ),
        sa.Column(
            "segments", sa.Integer(), nullable=False, comment="Segments confirmed in the run"
        ),
        sa.Column("bytes", sa.BigInteger(), nullable=False, comment="Bytes uploaded in the run"),
        sa.Column(
            "checkpoint_size",
            sa.BigInteger(),
            nullable=True,
            comment="Size of the checkpoint uploaded with it; NULL if none",
        ),
        sa.Column(
            "manifest_key",
            sa.String(1000),
            nullable=True,
            comment="Key of its manifest object; NULL until uploaded",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it stopped, if it failed"),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_batches"),
        comment="Transfer runs with the manifest object each uploaded",
    )
    op.create_index("ix_transfer_batches_started_us", "transfer_batches", ["started_us"])


def upgrade() -> None:
    _alter_existing()
    _create_tables()


def downgrade() -> None:
    """Drop what 0006 added; refused while it records anything 0005 cannot (a deletion, a hold
    that is not a receipt's, a transfer, a case past open, footage off the main volume)."""
    bind = op.get_bind()
    # IF EXISTS throughout: SQLite without our connection hooks commits each DDL statement, so a
    # downgrade that an older revision refused may have run this one already.
    present = {
        (t, c["name"])
        for t in sa.inspect(bind).get_table_names()
        for c in sa.inspect(bind).get_columns(t)
    }
    for what, sql in (
        (
            "segments deleted by retention",
            "SELECT count(*) FROM segments WHERE state IN ('garbage', 'deleted')",
        ),
        ("deletions", "SELECT count(*) FROM deletions"),
        ("legal or export holds", "SELECT count(*) FROM holds WHERE kind <> 'receipt'"),
        (
            "released or expiring holds",
            "SELECT count(*) FROM holds WHERE released_us IS NOT NULL OR expires_us IS NOT NULL",
        ),
        ("transfers", "SELECT count(*) FROM transfers"),
        ("closed or archived cases", "SELECT count(*) FROM receipts WHERE case_state <> 'open'"),
        ("segments on other volumes", "SELECT count(*) FROM segments WHERE volume <> 'main'"),
    ):
        table = sql.split(" FROM ")[1].split()[0]
        if not any(t == table for t, _ in present):
            continue
        n = bind.exec_driver_sql(sql).scalar_one()
        if n:
            raise RuntimeError(f"{n} {what}; revision 0005 cannot record them")
    if bind.dialect.name == "postgresql":
        _M0004._postgresql_replace_check(_M0004._check(_OLD_STATES), _OLD_COMMENT, _NEW_COMMENT)
    else:
        schema = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'segments'"
        ).scalar_one()
        if _M0004._check(_NEW_STATES) in schema:
            _M0004._sqlite_replace_check(_M0004._check(_NEW_STATES), _M0004._check(_OLD_STATES))
    for table in (
        "transfer_batches",
        "transfers",
        "deletions",
        "retention_passes",
        "retention_rules",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE holds DROP CONSTRAINT IF EXISTS ck_holds_kind")
        op.execute("ALTER TABLE receipts DROP CONSTRAINT IF EXISTS ck_receipts_case_state")
    for table, column in (
        ("receipts", "case_archived_us"),
        ("receipts", "case_closed_us"),
        ("receipts", "case_state"),
        ("holds", "release_reason"),
        ("holds", "released_by"),
        ("holds", "released_us"),
        ("holds", "expires_us"),
        ("holds", "created_by"),
        ("holds", "created_us"),
        ("holds", "kind"),
        ("segments", "volume"),
    ):
        if (table, column) in present:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
