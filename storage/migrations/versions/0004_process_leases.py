"""process heartbeats and lease holders

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = "lease_holder IS NOT NULL"


def upgrade() -> None:
    # Additive only: processes of the previous version keep running on this schema (they never
    # set a holder, so their leases simply run out as before).
    op.create_table(
        "process",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("instance", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_process_instance"), ["instance"], unique=False)
        batch_op.create_index(batch_op.f("ix_process_stopped_at"), ["stopped_at"], unique=False)

    for table, index in (
        ("outbox", "ix_outbox_lease_holder"),
        ("broadcast_recipient", "ix_recipient_lease_holder"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("lease_holder", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
            )
            batch_op.create_index(
                index,
                ["lease_holder"],
                unique=False,
                postgresql_where=sa.text(LEASED),
                sqlite_where=sa.text(LEASED),
            )


def downgrade() -> None:
    for table, index in (
        ("broadcast_recipient", "ix_recipient_lease_holder"),
        ("outbox", "ix_outbox_lease_holder"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
            batch_op.drop_column("lease_holder")

    with op.batch_alter_table("process", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_stopped_at"))
        batch_op.drop_index(batch_op.f("ix_process_instance"))

    op.drop_table("process")
