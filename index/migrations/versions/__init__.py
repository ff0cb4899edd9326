"""Alembic revision scripts; each is frozen once released."""
