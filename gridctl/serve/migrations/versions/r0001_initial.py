"""The first schema: dispatch queue entries, runners, events, webhook deliveries seen.

Revision ID: r0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_name", sa.String(200), nullable=False, index=True),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatch_key", sa.String(64), unique=True),
        sa.Column("dispatch_started_at", sa.DateTime(timezone=True)),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.BigInteger),
        sa.Column("run_url", sa.String(500)),
        sa.Column("conclusion", sa.String(40)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.String(1000)),
    )
    op.create_table(
        "runners",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pool", sa.String(200), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("github_id", sa.BigInteger),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("online_at", sa.DateTime(timezone=True)),
        sa.Column("idle_since", sa.DateTime(timezone=True)),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("launcher_pid", sa.Integer),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("guid", sa.String(100), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("result", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in ("deliveries", "events", "runners", "entries"):
        op.drop_table(table)
