"""broadcasts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:33:37
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.crypto

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'sending')"


def upgrade() -> None:

    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("rsvp", sa.Boolean(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("staff_chat_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_chat_id"], ["staff_chat.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.create_index("ix_broadcast_status_send", ["status", "send_at"], unique=False)

    op.create_table(
        "broadcast_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("batch", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("possible_duplicate", sa.Boolean(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("rsvp", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("rsvp_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("question", storage.crypto.EncryptedText(), nullable=True),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast_id", "contact_id", name="uq_broadcast_recipient"),
    )
    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_broadcast_recipient_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_broadcast_recipient_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(
            "ix_recipient_open",
            ["broadcast_id", "channel", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )
        batch_op.create_index(
            "ix_recipient_rebatch",
            ["broadcast_id", "channel", "batch"],
            unique=False,
            postgresql_where=sa.text(OPEN + " AND batch IS NOT NULL"),
            sqlite_where=sa.text(OPEN + " AND batch IS NOT NULL"),
        )

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_contact_link_key"), ["link_key"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_link_key"))
        batch_op.drop_column("link_key")

    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_recipient_rebatch")
        batch_op.drop_index("ix_recipient_open")
        batch_op.drop_index(batch_op.f("ix_broadcast_recipient_sent_at"))
        batch_op.drop_index(batch_op.f("ix_broadcast_recipient_contact_id"))

    op.drop_table("broadcast_recipient")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_status_send")

    op.drop_table("broadcast")
