"""Proposals from a later scan on tracked plan steps (plan_steps.proposal, proposal_note, proposal_on).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("plan_steps") as batch:
        batch.add_column(sa.Column("proposal", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("proposal_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("proposal_on", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_steps") as batch:
        batch.drop_column("proposal_on")
        batch.drop_column("proposal_note")
        batch.drop_column("proposal")
