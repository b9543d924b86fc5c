"""Tracked plan steps (plan_steps) and who issued a study's report when (studies.issued_by, issued_at).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("issued_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "plan_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("stage_number", sa.Integer(), nullable=False),
        sa.Column("treatment", sa.String(length=64), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("teeth", sa.String(length=200), nullable=False),
        sa.Column("due_by", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_on", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_plan_steps_due_by"), "plan_steps", ["due_by"], unique=False)
    op.create_index(op.f("ix_plan_steps_patient_id"), "plan_steps", ["patient_id"], unique=False)
    op.create_index(op.f("ix_plan_steps_state"), "plan_steps", ["state"], unique=False)
    op.create_index(op.f("ix_plan_steps_study_id"), "plan_steps", ["study_id"], unique=False)


def downgrade() -> None:
    for column in ("study_id", "state", "patient_id", "due_by"):
        op.drop_index(op.f(f"ix_plan_steps_{column}"), table_name="plan_steps")
    op.drop_table("plan_steps")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("issued_at")
        batch.drop_column("issued_by")
