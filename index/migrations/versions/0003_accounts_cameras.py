"""Accounts, sessions, the append-only audit log, and API-managed cameras.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Written by hand and frozen, like 0001; tests/test_index.py checks it against the models.
The audit log refuses UPDATE and DELETE by trigger on both backends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_US = "µs since epoch UTC"

_CAMERA_COLUMNS = (
    sa.Column(
        "origin",
        sa.String(10),
        nullable=False,
        server_default="config",
        comment="Who manages the camera: 'config' (the TOML file) or 'api' (web UI and API)",
    ),
    sa.Column(
        "onvif_host",
        sa.String(255),
        nullable=True,
        comment="ONVIF device host name or address; NULL for a plain stream URL",
    ),
    sa.Column(
        "onvif_port",
        sa.Integer(),
        nullable=True,
        comment="ONVIF device HTTP port; NULL for a plain stream URL",
    ),
    sa.Column(
        "onvif_profile",
        sa.String(200),
        nullable=True,
        comment="ONVIF media profile token recorded; NULL: chosen by resolution",
    ),
    sa.Column(
        "username",
        sa.String(200),
        nullable=True,
        comment="User name for the camera (ONVIF and RTSP); NULL if none",
    ),
    sa.Column(
        "secret_enc",
        sa.Text(),
        nullable=True,
        comment="Camera password encrypted with the key file in the data directory "
        "(Fernet); the key is never in the index",
    ),
    sa.Column(
        "device_json",
        sa.Text(),
        nullable=True,
        comment="JSON of the last ONVIF probe: model, firmware, serial, profiles",
    ),
    sa.Column(
        "clock_offset_us",
        sa.BigInteger(),
        nullable=True,
        comment="Camera clock minus host clock at the last probe, µs; NULL if unknown",
    ),
    sa.Column(
        "probed_us",
        sa.BigInteger(),
        nullable=True,
        comment=f"When the camera was last probed, {_US}; NULL if never",
    ),
    sa.Column(
        "updated_us",
        sa.BigInteger(),
        nullable=True,
        comment=f"When the row last changed, {_US}; NULL if never",
    ),
    sa.Column(
        "deleted_us",
        sa.BigInteger(),
        nullable=True,
        comment=f"When the camera was deleted (its footage is kept), {_US}; NULL if not deleted",
    ),
)

_AUDIT_GUARD_PG = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    """Add camera management columns; create users, user_counters, sessions, audit_log."""
    for column in _CAMERA_COLUMNS:
        op.add_column("cameras", column)

    op.create_table(
        "users",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("username", sa.String(64), nullable=False, comment="Login name; stable identity"),
        sa.Column(
            "password_hash",
            sa.Text(),
            nullable=False,
            comment="argon2id hash (PHC string) of the password; the password is never stored",
        ),
        sa.Column("role", sa.String(16), nullable=False, comment="Role: admin, staff or auditor"),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"When the account was created, {_US}",
        ),
        sa.Column(
            "disabled_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the account was disabled, {_US}; NULL if active",
        ),
        sa.Column(
            "last_login_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"Last successful login, {_US}; NULL if never",
        ),
        sa.CheckConstraint("role IN ('admin', 'staff', 'auditor')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        comment="Accounts for the web pages; passwords only as argon2id hashes",
    )

    op.create_table(
        "user_counters",
        sa.Column("user_id", _ROW_ID, nullable=False, comment="Staff account"),
        sa.Column("counter_id", _ROW_ID, nullable=False, comment="Counter in its scope"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_counters_user_id_users"),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name="fk_user_counters_counter_id_counters"
        ),
        sa.PrimaryKeyConstraint("user_id", "counter_id", name="pk_user_counters"),
        comment="Counters a staff account is scoped to",
    )

    op.create_table(
        "sessions",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column(
            "sid_hash",
            sa.String(64),
            nullable=False,
            comment="sha256 hex of the session id cookie; the id is not stored",
        ),
        sa.Column("user_id", _ROW_ID, nullable=False, comment="Account signed in"),
        sa.Column(
            "csrf_token",
            sa.String(64),
            nullable=False,
            comment="Per-session anti-CSRF token every state change must echo",
        ),
        sa.Column(
            "created_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"Login time, {_US} (absolute timeout counts from here)",
        ),
        sa.Column(
            "last_seen_us",
            sa.BigInteger(),
            nullable=False,
            comment=f"Last request, {_US} (idle timeout counts from here)",
        ),
        sa.Column(
            "ended_us",
            sa.BigInteger(),
            nullable=True,
            comment=f"When the session ended, {_US}; NULL while active",
        ),
        sa.Column(
            "end_reason",
            sa.String(32),
            nullable=True,
            comment="logout, idle, expired, password changed, disabled; NULL while active",
        ),
        sa.Column("remote", sa.String(64), nullable=True, comment="Client address at login"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("sid_hash", name="uq_sessions_sid_hash"),
        comment="Web sessions; only a hash of each session id is stored",
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", _ROW_ID, nullable=False, comment="Surrogate key"),
        sa.Column("at_us", sa.BigInteger(), nullable=False, comment=f"When, {_US}"),
        sa.Column(
            "actor",
            sa.String(200),
            nullable=False,
            comment="User name, token name, or '-' when unauthenticated",
        ),
        sa.Column(
            "actor_kind", sa.String(16), nullable=False, comment="user, token, anonymous or system"
        ),
        sa.Column("remote", sa.String(64), nullable=True, comment="Client address; NULL if none"),
        sa.Column(
            "action",
            sa.String(64),
            nullable=False,
            comment="What was attempted, e.g. login, camera.create, GET /api/v1/cameras",
        ),
        sa.Column(
            "target",
            sa.String(300),
            nullable=True,
            comment="What it was done to (camera name, user name, ...); NULL if none",
        ),
        sa.Column("outcome", sa.String(16), nullable=False, comment="ok, denied or failed"),
        sa.Column(
            "detail", sa.Text(), nullable=False, comment="JSON object with action-specific detail"
        ),
        sa.CheckConstraint(
            "actor_kind IN ('user', 'token', 'anonymous', 'system')",
            name="ck_audit_log_actor_kind",
        ),
        sa.CheckConstraint("outcome IN ('ok', 'denied', 'failed')", name="ck_audit_log_outcome"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        comment="Append-only audit trail: who did what, when, from where, with what outcome",
    )
    op.create_index("ix_audit_log_at_us", "audit_log", ["at_us"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_AUDIT_GUARD_PG)
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    """Drop what upgrade created."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_audit_log_at_us", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("user_counters")
    op.drop_table("users")
    with op.batch_alter_table("cameras") as batch:
        for column in reversed(_CAMERA_COLUMNS):
            batch.drop_column(column.name)
