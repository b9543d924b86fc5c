"""Privacy of research exports: who checked a study's scan free of burned-in text, and when
(studies.burned_in_checked_by, studies.burned_in_checked_at).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("burned_in_checked_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("burned_in_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("burned_in_checked_at")
        batch.drop_column("burned_in_checked_by")
