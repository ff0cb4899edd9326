"""Segment state 'damaged': a sealed file that no longer has its recorded size or hash.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.

Only the CHECK constraint on segments.state (and the column comment) changes.
PostgreSQL drops and re-adds the constraint. SQLite cannot alter a constraint,
and batch mode's copy-and-rename is wrong here: the migration runs in one
transaction with foreign_keys=ON (where that pragma cannot be turned off), so
dropping the old segments table would run its implicit DELETE and the
ON DELETE SET NULL of events.segment_id would cut every event from its segment,
and it would copy millions of rows. The new constraint only admits one more
value, so every existing row satisfies it, and SQLite documents editing the
stored CREATE TABLE text for exactly this case (https://sqlite.org/lang_altertable.html,
"removing CHECK ... constraints"): the table's bytes are untouched, O(1).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_OLD_STATES = ("open", "sealed", "recovered", "missing")
_NEW_STATES = (*_OLD_STATES, "damaged")
_OLD_COMMENT = "Lifecycle: open, sealed, recovered (sealed after a crash), missing"
_NEW_COMMENT = (
    "Lifecycle: open, sealed, recovered (sealed after a crash), missing, "
    "damaged (the file no longer has its recorded size or hash)"
)
_NAME = "ck_segments_state"


def _check(states: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{s}'" for s in states)
    return f"state IN ({quoted})"


def _sqlite_replace_check(old: str, new: str) -> None:
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'segments'"
    ).scalar_one()
    clause_old, clause_new = f"CHECK ({old})", f"CHECK ({new})"
    if sql.count(clause_old) != 1:
        raise RuntimeError(f"segments: expected one {clause_old} in the schema, found: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'segments'",
            (sql.replace(clause_old, clause_new),),
        )
        # A new schema version makes every connection (this one included) re-read it.
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    # Parse the edited schema now, inside the transaction, so a mistake rolls back.
    bind.exec_driver_sql("SELECT count(*) FROM segments WHERE 0").all()


def _postgresql_replace_check(new: str, comment: str, old_comment: str) -> None:
    op.drop_constraint(op.f(_NAME), "segments", type_="check")
    op.create_check_constraint(op.f(_NAME), "segments", new)
    op.alter_column(
        "segments",
        "state",
        existing_type=sa.String(16),
        existing_nullable=False,
        comment=comment,
        existing_comment=old_comment,
    )


def upgrade() -> None:
    """Admit 'damaged' in segments.state."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_replace_check(_check(_OLD_STATES), _check(_NEW_STATES))
    else:
        _postgresql_replace_check(_check(_NEW_STATES), _NEW_COMMENT, _OLD_COMMENT)


def downgrade() -> None:
    """Narrow segments.state again; refused while a segment is damaged (that would lose it)."""
    damaged = (
        op.get_bind()
        .exec_driver_sql("SELECT count(*) FROM segments WHERE state = 'damaged'")
        .scalar_one()
    )
    if damaged:
        raise RuntimeError(
            f"{damaged} segments are damaged; revision 0003 cannot record that state"
        )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_replace_check(_check(_NEW_STATES), _check(_OLD_STATES))
    else:
        _postgresql_replace_check(_check(_OLD_STATES), _OLD_COMMENT, _NEW_COMMENT)
