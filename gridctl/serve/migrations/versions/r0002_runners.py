"""What the controller's loop keeps about the runners it launches, and the runner a dispatch
counted on.

Revision ID: r0002
Revises: r0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("runner", sa.String(200)))
    with op.batch_alter_table("runners") as batch:
        batch.add_column(sa.Column("scope", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("account", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("offline_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("busy", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("launcher_start", sa.BigInteger))
        batch.add_column(sa.Column("reason", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("removed_why", sa.String(300)))


def downgrade() -> None:
    with op.batch_alter_table("runners") as batch:
        for name in ("removed_why", "reason", "launcher_start", "busy", "offline_since", "account", "scope"):
            batch.drop_column(name)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("runner")
