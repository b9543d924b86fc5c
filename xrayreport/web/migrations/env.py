"""Alembic environment: migrations run on the engine the app hands over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from xrayreport.web.models import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # render_as_batch lets ALTER-style migrations run on SQLite, which cannot alter most columns in place.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
