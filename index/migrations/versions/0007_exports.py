"""Export requests: the request → review → approval workflow, its custody chain, the holds
it places, and the permissions (export.review, export.approve) an admin grants to accounts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.
New tables: user_permissions, export_requests, export_cameras, export_steps. holds gain
export_id (NULL for every existing row), added in place on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_US = "µs since epoch UTC"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(column: str, table: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def _create_tables() -> None:
    op.create_table(
        "user_permissions",
        sa.Column(
            "user_id",
            _ROW_ID,
            _fk("user_id", "user_permissions", "users"),
            nullable=False,
            comment="Account",
        ),
        sa.Column(
            "permission", sa.String(32), nullable=False, comment="export.review or export.approve"
        ),
        sa.PrimaryKeyConstraint("user_id", "permission", name="pk_user_permissions"),
        sa.CheckConstraint(
            _in("permission", ("export.review", "export.approve")),
            name="ck_user_permissions_permission",
        ),
        comment="Permissions granted to accounts beside their role (export.review, ...)",
    )
    states = (
        "submitted",
        "returned",
        "reviewed",
        "approved",
        "rejected",
        "withdrawn",
        "packaged",
        "delivered",
    )
    op.create_table(
        "export_requests",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "state",
            sa.String(16),
            nullable=False,
            comment="submitted, returned, reviewed, approved, rejected, withdrawn, "
            "packaged, delivered",
        ),
        sa.Column(
            "kind", sa.String(8), nullable=False, comment="view (on site) or copy (a package)"
        ),
        sa.Column(
            "counter_id",
            _ROW_ID,
            _fk("counter_id", "export_requests", "counters"),
            nullable=False,
            comment="Counter whose staff scope governs the request",
        ),
        sa.Column(
            "receipt_id",
            _ROW_ID,
            _fk("receipt_id", "export_requests", "receipts"),
            nullable=True,
            comment="Receipt it was made from; NULL if none",
        ),
        sa.Column(
            "case_no",
            sa.String(64),
            nullable=True,
            comment="Case number the party gave; NULL if none",
        ),
        sa.Column(
            "start_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"Start of the requested window, {_US}",
        ),
        sa.Column(
            "end_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"End of the requested window (exclusive), {_US}",
        ),
        sa.Column("party_name", sa.String(100), nullable=False, comment="Requesting party's name"),
        sa.Column(
            "party_id_type", sa.String(32), nullable=False, comment="Kind of identity document"
        ),
        sa.Column(
            "party_id_number", sa.String(64), nullable=False, comment="Identity document number"
        ),
        sa.Column("party_relation", sa.String(100), nullable=False, comment="Relation to the case"),
        sa.Column(
            "purpose", sa.Text(), nullable=False, comment="Why the party asks for the footage"
        ),
        sa.Column("legal_basis", sa.Text(), nullable=False, comment="Legal basis of the request"),
        sa.Column(
            "created_us", sa.BigInteger(), nullable=False, comment=f"When it was filed, {_US}"
        ),
        sa.Column(
            "created_by", sa.String(200), nullable=False, comment="Who filed it (user or token)"
        ),
        sa.Column("updated_us", sa.BigInteger(), nullable=False, comment=f"Last step, {_US}"),
        sa.Column(
            "view_until_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"Viewing unlocked until then (view requests), {_US}",
        ),
        sa.Column(
            "package_state",
            sa.String(16),
            server_default="none",
            nullable=False,
            comment="none, building, ready or failed",
        ),
        sa.Column(
            "package_file",
            sa.String(200),
            nullable=True,
            comment="Package file name under data_dir/exports; NULL until built",
        ),
        sa.Column("package_bytes", sa.BigInteger(), nullable=True, comment="Package size"),
        sa.Column(
            "package_sha256",
            sa.String(64),
            nullable=True,
            comment="SHA-256 of the package file, hex",
        ),
        sa.Column(
            "package_error",
            sa.Text(),
            nullable=True,
            comment="Why the last build failed; NULL if it did not",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_export_requests"),
        sa.CheckConstraint(_in("state", states), name="ck_export_requests_state"),
        sa.CheckConstraint(_in("kind", ("view", "copy")), name="ck_export_requests_kind"),
        sa.CheckConstraint(
            _in("package_state", ("none", "building", "ready", "failed")),
            name="ck_export_requests_package_state",
        ),
        comment="Export requests: who asked for which footage, and where approval stands",
    )
    op.create_index("ix_export_requests_state", "export_requests", ["state"])
    op.create_index("ix_export_requests_counter_id", "export_requests", ["counter_id"])
    op.create_table(
        "export_cameras",
        sa.Column(
            "request_id",
            _ROW_ID,
            _fk("request_id", "export_cameras", "export_requests"),
            nullable=False,
            comment="Export request",
        ),
        sa.Column(
            "camera_id",
            _ROW_ID,
            _fk("camera_id", "export_cameras", "cameras"),
            nullable=False,
            comment="Camera",
        ),
        sa.PrimaryKeyConstraint("request_id", "camera_id", name="pk_export_cameras"),
        comment="Cameras whose footage an export request covers",
    )
    steps = (
        "submit",
        "review",
        "return",
        "resubmit",
        "approve",
        "reject",
        "withdraw",
        "package",
        "deliver",
        "view",
        "download",
    )
    op.create_table(
        "export_steps",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "request_id",
            _ROW_ID,
            _fk("request_id", "export_steps", "export_requests"),
            nullable=False,
            comment="Export request",
        ),
        sa.Column(
            "step",
            sa.String(16),
            nullable=False,
            comment="submit, review, return, resubmit, approve, reject, withdraw, "
            "package, deliver, view, download",
        ),
        sa.Column("actor", sa.String(200), nullable=False, comment="Who took the step"),
        sa.Column("actor_kind", sa.String(16), nullable=False, comment="user, token or system"),
        sa.Column("actor_role", sa.String(16), nullable=False, comment="Their role at the time"),
        sa.Column("at_us", sa.BigInteger(), nullable=False, comment=f"When, {_US}"),
        sa.Column("reason", sa.Text(), nullable=True, comment="Reason or remark; NULL if none"),
        sa.Column(
            "recipient",
            sa.String(200),
            nullable=True,
            comment="deliver: to whom it was handed; NULL otherwise",
        ),
        sa.Column(
            "method",
            sa.String(200),
            nullable=True,
            comment="deliver: how (on site, disc, ...); NULL otherwise",
        ),
        sa.Column(
            "audit_id",
            _ROW_ID,
            _fk("audit_id", "export_steps", "audit_log"),
            nullable=False,
            comment="The audit row written with the step",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_export_steps"),
        sa.CheckConstraint(_in("step", steps), name="ck_export_steps_step"),
        comment="Custody chain of export requests: every step, who, when, why",
    )
    op.create_index("ix_export_steps_request_id", "export_steps", ["request_id"])


def upgrade() -> None:
    _create_tables()
    comment = "Export request that placed the hold (kind export); NULL if none"
    if op.get_bind().dialect.name == "sqlite":
        # ADD COLUMN may carry a named REFERENCES clause (its default is NULL); batch mode
        # would copy the table.
        op.execute(
            "ALTER TABLE holds ADD COLUMN export_id INTEGER CONSTRAINT "
            "fk_holds_export_id_export_requests REFERENCES export_requests (id)"
        )
    else:
        op.add_column("holds", sa.Column("export_id", _ROW_ID, nullable=True, comment=comment))
        op.create_foreign_key(
            "fk_holds_export_id_export_requests", "holds", "export_requests", ["export_id"], ["id"]
        )
    op.create_index("ix_holds_export_id", "holds", ["export_id"])


def downgrade() -> None:
    """Drop what 0007 added; refused while any export request exists (its custody chain
    and the holds it placed would be lost)."""
    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())
    if "export_requests" in tables:
        n = bind.exec_driver_sql("SELECT count(*) FROM export_requests").scalar_one()
        if n:
            raise RuntimeError(f"{n} export requests; revision 0006 cannot record them")
    if "user_permissions" in tables:
        n = bind.exec_driver_sql("SELECT count(*) FROM user_permissions").scalar_one()
        if n:
            raise RuntimeError(f"{n} granted permissions; revision 0006 cannot record them")
    op.execute("DROP INDEX IF EXISTS ix_holds_export_id")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE holds DROP CONSTRAINT IF EXISTS fk_holds_export_id_export_requests")
    columns = {c["name"] for c in sa.inspect(bind).get_columns("holds")}
    if "export_id" in columns:
        op.execute("ALTER TABLE holds DROP COLUMN export_id")
    for table in ("export_steps", "export_cameras", "export_requests", "user_permissions"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
