"""User roles: admin, dentist, assistant, researcher (xrayreport/web/roles.py).

Every account made before roles could do everything; it keeps that as admin and dentist, and an admin
narrows it afterwards.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("roles", sa.String(length=64), nullable=False, server_default="admin,dentist"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("roles", existing_type=sa.String(length=64), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("roles")
