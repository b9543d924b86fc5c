"""Recall contacts (contacts): when, how and with what outcome a patient was contacted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("contacted_on", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_contacts_contacted_on"), "contacts", ["contacted_on"], unique=False)
    op.create_index(op.f("ix_contacts_patient_id"), "contacts", ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contacts_patient_id"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_contacted_on"), table_name="contacts")
    op.drop_table("contacts")
