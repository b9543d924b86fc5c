"""Patients' recall standings as last computed (patient_standings); empty until the recall list is first read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "patient_standings",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("last_visit", sa.String(length=10), nullable=True),
        sa.Column("asleep_from", sa.String(length=10), nullable=True),
        sa.Column("booked_until", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index(op.f("ix_patient_standings_asleep_from"), "patient_standings", ["asleep_from"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_patient_standings_asleep_from"), table_name="patient_standings")
    op.drop_table("patient_standings")
