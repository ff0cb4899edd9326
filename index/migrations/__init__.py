"""Alembic migration environment and scripts for the index (run by index.db)."""
