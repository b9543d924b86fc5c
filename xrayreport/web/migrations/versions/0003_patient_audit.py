"""Audit entries about a patient's details: audit_entries.patient_id; study_id becomes optional.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("patient_id", sa.Integer(), nullable=True))
        batch.alter_column("study_id", existing_type=sa.String(length=32), nullable=True)
        batch.create_index(batch.f("ix_audit_entries_patient_id"), ["patient_id"], unique=False)
        batch.create_foreign_key("fk_audit_entries_patient_id_patients", "patients", ["patient_id"], ["id"])
        batch.create_check_constraint(
            "ck_audit_entries_study_or_patient", sa.text("(study_id IS NULL) <> (patient_id IS NULL)")
        )


def downgrade() -> None:
    op.execute("DELETE FROM audit_entries WHERE study_id IS NULL")
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_constraint("ck_audit_entries_study_or_patient", type_="check")
        batch.drop_constraint("fk_audit_entries_patient_id_patients", type_="foreignkey")
        batch.drop_index(batch.f("ix_audit_entries_patient_id"))
        batch.alter_column("study_id", existing_type=sa.String(length=32), nullable=False)
        batch.drop_column("patient_id")
