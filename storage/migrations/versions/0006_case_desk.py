"""case desk: sign-in links, sessions, officers, tip assignment, inbox and overview indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _s(n: int) -> sa.types.TypeEngine[str]:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    # Additive only: older processes keep running on this schema.
    op.create_table(
        "desk_officer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region", _s(8), nullable=False),
        sa.Column("name", _s(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region", "name", name="uq_desk_officer"),
    )
    op.create_table(
        "desk_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _s(64), nullable=False),
        sa.Column("staff_chat_id", sa.Integer(), nullable=False),
        sa.Column("case_code", _s(24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_chat_id"], ["staff_chat.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_desk_link_expires_at", "desk_link", ["expires_at"])
    op.create_table(
        "desk_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _s(64), nullable=False),
        sa.Column("staff_chat_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("csrf", _s(64), nullable=False),
        sa.Column("locale", _s(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_chat_id"], ["staff_chat.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["officer_id"], ["desk_officer.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_desk_session_staff_chat_id", "desk_session", ["staff_chat_id"])
    op.create_index("ix_desk_session_expires_at", "desk_session", ["expires_at"])
    with op.batch_alter_table("tip", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_officer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_tip_assigned_officer", "desk_officer", ["assigned_officer_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_tip_region_created", ["region", "created_at"])
        batch_op.create_index("ix_tip_region_status_created", ["region", "status", "created_at"])
        batch_op.create_index("ix_tip_category", ["category"])


def downgrade() -> None:
    with op.batch_alter_table("tip", schema=None) as batch_op:
        batch_op.drop_index("ix_tip_category")
        batch_op.drop_index("ix_tip_region_status_created")
        batch_op.drop_index("ix_tip_region_created")
        batch_op.drop_constraint("fk_tip_assigned_officer", type_="foreignkey")
        batch_op.drop_column("assigned_officer_id")
    op.drop_table("desk_session")
    op.drop_table("desk_link")
    op.drop_table("desk_officer")
