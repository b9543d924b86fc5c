"""Families (households): families, and patients.family_id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("family_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_patients_family_id"), ["family_id"], unique=False)
        batch.create_foreign_key("fk_patients_family_id_families", "families", ["family_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_constraint("fk_patients_family_id_families", type_="foreignkey")
        batch.drop_index(batch.f("ix_patients_family_id"))
        batch.drop_column("family_id")
    op.drop_table("families")
