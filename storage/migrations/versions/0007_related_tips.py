"""related tips: staff links between tips and the blind index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Additive only: two new tables; a process of the previous version never reads them.
    op.create_table(
        "tip_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tip_lo", sa.Integer(), nullable=False),
        sa.Column("tip_hi", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("duplicate_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tip_lo"], ["tip.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tip_hi"], ["tip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tip_lo", "tip_hi", name="uq_tip_link_pair"),
    )
    with op.batch_alter_table("tip_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tip_link_tip_hi"), ["tip_hi"], unique=False)

    op.create_table(
        "tip_index",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tip_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tip_id"], ["tip.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tip_index", schema=None) as batch_op:
        batch_op.create_index("ix_tip_index_tip", ["tip_id", "kind", "hash"], unique=False)
        batch_op.create_index("ix_tip_index_hash", ["hash", "at", "tip_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tip_index", schema=None) as batch_op:
        batch_op.drop_index("ix_tip_index_hash")
        batch_op.drop_index("ix_tip_index_tip")
    op.drop_table("tip_index")
    with op.batch_alter_table("tip_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tip_link_tip_hi"))
    op.drop_table("tip_link")
