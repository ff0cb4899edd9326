"""The Merkle log: leaves, subtree hashes, its compact range, checkpoints, integrity runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.
log_leaves, log_hashes and checkpoints refuse UPDATE and DELETE by trigger on both backends,
as audit_log does (a stray statement is stopped; someone who drops the triggers is caught by
`surveil verify` against a signed checkpoint).

Upgrading an index that already holds footage appends, once, every segment that was sealed
(sealed, recovered, or later found missing or damaged, which were sealed first) and every
audit entry, in the order (seal or entry time, kind, id). Those leaves were logged at upgrade,
not at seal: docs/design/integrity.md says what that means. The backfill uses version 1 of
the leaf format and RFC 9162 hashing from tlog/, which never change meaning (a v1 leaf must
stay verifiable forever), so importing them keeps this migration frozen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

from tlog import leaves
from tlog.hashing import CompactRange, leaf_hash

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_US = "µs since epoch UTC"
_APPEND_ONLY = ("log_leaves", "log_hashes", "checkpoints")
_BATCH = 5000

_GUARD_PG = """
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def _create_tables() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.BigInteger(), nullable=False, comment="0-based leaf index"),
        sa.Column(
            "kind", sa.String(16), nullable=False, comment="What the leaf records: segment, audit"
        ),
        sa.Column(
            "ref_id",
            sa.BigInteger(),
            nullable=False,
            comment="Id of the row it records (segments.id, audit_log.id)",
        ),
        sa.Column(
            "leaf",
            sa.LargeBinary(),
            nullable=False,
            comment="Leaf input: canonical UTF-8 JSON of the entry (tlog/leaves.py)",
        ),
        sa.Column(
            "leaf_hash",
            sa.LargeBinary(32),
            nullable=False,
            comment="SHA-256(0x00 || leaf), RFC 9162 leaf hash",
        ),
        sa.Column(
            "appended_us", sa.BigInteger(), nullable=False, comment=f"When it was appended, {_US}"
        ),
        sa.PrimaryKeyConstraint("idx", name="pk_log_leaves"),
        sa.UniqueConstraint("kind", "ref_id", name="uq_log_leaves_kind_ref_id"),
        comment="The Merkle log's leaves in log order. Append-only: triggers refuse changes",
    )
    op.create_table(
        "log_hashes",
        sa.Column(
            "level",
            sa.Integer(),
            nullable=False,
            comment="Height, 1 or more (leaf hashes are in log_leaves)",
        ),
        sa.Column(
            "idx",
            sa.BigInteger(),
            nullable=False,
            comment="Index at that level: covers leaves [idx * 2^level, (idx + 1) * 2^level)",
        ),
        sa.Column("hash", sa.LargeBinary(32), nullable=False, comment="RFC 9162 subtree hash"),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_log_hashes"),
        comment="Every complete subtree of the Merkle log above its leaves (O(log n) proofs)",
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), nullable=False, comment="Always 1"),
        sa.Column("size", sa.BigInteger(), nullable=False, comment="Number of leaves"),
        sa.Column(
            "compact",
            sa.LargeBinary(),
            nullable=False,
            comment="The compact range: 32-byte subtree roots, largest first",
        ),
        sa.CheckConstraint("id = 1", name="ck_log_state_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_log_state"),
        comment="One row: the Merkle log's size and the roots of its perfect subtrees",
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), nullable=False, comment="Log size it commits to"),
        sa.Column("root", sa.LargeBinary(32), nullable=False, comment="Root hash at that size"),
        sa.Column("note", sa.Text(), nullable=False, comment="The signed note, as served"),
        sa.Column("issued_us", sa.BigInteger(), nullable=False, comment=f"Signed at, {_US}"),
        sa.Column(
            "timestamp_token",
            sa.LargeBinary(),
            nullable=True,
            comment="RFC 3161 token over the note from the configured TSA; NULL if none",
        ),
        sa.PrimaryKeyConstraint("size", name="pk_checkpoints"),
        comment="Every signed checkpoint issued (C2SP tlog-checkpoint). Append-only",
    )
    op.create_table(
        "integrity_runs",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("kind", sa.String(16), nullable=False, comment="verify or scrub"),
        sa.Column("started_us", sa.BigInteger(), nullable=False, comment=f"Start, {_US}"),
        sa.Column(
            "finished_us", sa.BigInteger(), nullable=True, comment=f"End, {_US}; NULL while it runs"
        ),
        sa.Column("checked", sa.BigInteger(), nullable=False, comment="Items checked so far"),
        sa.Column("bytes", sa.BigInteger(), nullable=False, comment="Bytes of footage read so far"),
        sa.Column("findings", sa.Integer(), nullable=False, comment="Discrepancies found"),
        sa.Column(
            "position",
            sa.BigInteger(),
            nullable=False,
            comment="Scrub: the last segment id checked; verify: 0",
        ),
        sa.Column(
            "summary",
            sa.Text(),
            nullable=False,
            comment="JSON object: findings by kind, log size",
        ),
        sa.CheckConstraint("kind IN ('verify', 'scrub')", name="ck_integrity_runs_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_integrity_runs"),
        comment="Integrity checks run: surveil verify and scrub cycles, with their results",
    )
    op.create_index("ix_integrity_runs_kind_started_us", "integrity_runs", ["kind", "started_us"])


def _guard(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_GUARD_PG.format(table=table))
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )


def _existing_entries(bind: sa.Connection) -> Iterator[tuple[str, int, bytes]]:
    """(kind, id, leaf) of every sealed segment and audit entry, in backfill order."""
    segments = bind.execute(
        sa.text(
            "SELECT s.id, c.name, s.run_id, s.sequence, s.path, s.start_us, s.end_us, "
            "s.duration_us, s.bytes, s.sha256, s.video_codec, s.audio_codec, s.fragments, "
            "s.state, s.sealed_us, s.created_us FROM segments s "
            "JOIN cameras c ON c.id = s.camera_id WHERE s.sha256 IS NOT NULL"
        )
    ).all()
    audit = bind.execute(
        sa.text(
            "SELECT id, at_us, actor, actor_kind, remote, action, target, outcome, detail "
            "FROM audit_log"
        )
    ).all()
    order: list[tuple[int, str, int, bytes]] = []
    for r in segments:
        state = r.state if r.state in leaves.LOGGED_SEGMENT_STATES else "sealed"
        leaf = leaves.segment_leaf(
            segment_id=r.id,
            camera=r.name,
            run=r.run_id,
            seq=r.sequence,
            path=r.path,
            start_us=r.start_us,
            end_us=r.end_us,
            duration_us=r.duration_us,
            size=r.bytes,
            sha256=r.sha256,
            video_codec=r.video_codec,
            audio_codec=r.audio_codec,
            fragments=r.fragments,
            state=state,
            sealed_us=r.sealed_us,
        )
        order.append((r.sealed_us or r.created_us, leaves.KIND_SEGMENT, r.id, leaf))
    for r in audit:
        leaf = leaves.audit_leaf(
            audit_id=r.id,
            at_us=r.at_us,
            actor=r.actor,
            actor_kind=r.actor_kind,
            remote=r.remote,
            action=r.action,
            target=r.target,
            outcome=r.outcome,
            detail=json.loads(r.detail),
        )
        order.append((r.at_us, leaves.KIND_AUDIT, r.id, leaf))
    order.sort(key=lambda e: (e[0], e[1], e[2]))
    for _, kind, ref_id, leaf in order:
        yield kind, ref_id, leaf


def _backfill() -> None:
    bind = op.get_bind()
    now_us = time.time_ns() // 1000  # the upgrade's time: these leaves were logged now
    compact = CompactRange()
    leaf_rows: list[dict[str, object]] = []
    hash_rows: list[dict[str, object]] = []

    def flush() -> None:
        if leaf_rows:
            bind.execute(
                sa.text(
                    "INSERT INTO log_leaves (idx, kind, ref_id, leaf, leaf_hash, appended_us) "
                    "VALUES (:idx, :kind, :ref_id, :leaf, :leaf_hash, :appended_us)"
                ),
                leaf_rows,
            )
        if hash_rows:
            bind.execute(
                sa.text("INSERT INTO log_hashes (level, idx, hash) VALUES (:level, :idx, :hash)"),
                hash_rows,
            )
        leaf_rows.clear()
        hash_rows.clear()

    for kind, ref_id, leaf in _existing_entries(bind):
        digest = leaf_hash(leaf)
        leaf_rows.append(
            {
                "idx": compact.size,
                "kind": kind,
                "ref_id": ref_id,
                "leaf": leaf,
                "leaf_hash": digest,
                "appended_us": now_us,
            }
        )
        compact, made = compact.append(digest)
        # made[0] is the leaf hash itself, kept in log_leaves (level 0 of the tree).
        hash_rows.extend({"level": lv, "idx": i, "hash": h} for lv, i, h in made[1:])
        if len(leaf_rows) >= _BATCH:
            flush()
    flush()
    bind.execute(
        sa.text("INSERT INTO log_state (id, size, compact) VALUES (1, :size, :compact)"),
        {"size": compact.size, "compact": b"".join(compact.roots)},
    )


def upgrade() -> None:
    """Create the log's tables, guard them, and log what the index already holds."""
    _create_tables()
    for table in _APPEND_ONLY:
        _guard(table)
    _backfill()


def downgrade() -> None:
    """Drop the log (its leaves and checkpoints are lost: a downgrade is a rewrite)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    # IF EXISTS: SQLite without our connection hooks commits each DDL statement, so a
    # downgrade that an older revision refused may have dropped these already.
    op.execute("DROP INDEX IF EXISTS ix_integrity_runs_kind_started_us")
    for table in ("integrity_runs", "checkpoints", "log_state", "log_hashes", "log_leaves"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
