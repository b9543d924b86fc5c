"""Learning from the clinic: a study can be kept out of training (studies.training_excluded), the workspace's
detection models (detection_models: installed candidates, the active one, their comparison) and what admins did
with them (model_events).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("training_excluded", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "detection_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("folder", sa.String(length=64), nullable=False),
        sa.Column("detector_file", sa.String(length=100), nullable=False),
        sa.Column("reports", sa.Text(), nullable=False),
        sa.Column("installed_by", sa.String(length=64), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("comparison_state", sa.String(length=16), nullable=True),
        sa.Column("comparison_progress", sa.String(length=100), nullable=True),
        sa.Column("comparison", sa.Text(), nullable=True),
        sa.UniqueConstraint("name", "version", name="uq_detection_models_name_version"),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("detection_models.id"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_model_events_model_id", "model_events", ["model_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_model_events_model_id", table_name="model_events")
    op.drop_table("model_events")
    op.drop_table("detection_models")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("training_excluded")
