"""Alembic migrations of the web workspace's database; the app runs ``upgrade head`` on start."""
