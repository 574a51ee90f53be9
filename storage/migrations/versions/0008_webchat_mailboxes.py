"""web chat mailboxes, history and uploads in the database

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Additive only: processes of the previous version keep their in-memory mailboxes.
    op.create_table(
        "webchat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_hash", "seq", name="uq_webchat_message_seq"),
        sa.UniqueConstraint("session_hash", "key", name="uq_webchat_message_key"),
    )
    with op.batch_alter_table("webchat_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webchat_message_created_at"), ["created_at"], unique=False)
    op.create_table(
        "webchat_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("session_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("webchat_upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webchat_upload_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webchat_upload_session_hash"), ["session_hash"], unique=False)


def downgrade() -> None:
    op.drop_table("webchat_upload")
    op.drop_table("webchat_message")
