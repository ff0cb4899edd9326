"""Database fixtures, registered from tests/conftest.py via pytest_plugins.

Every test using ``database_url`` or ``db`` runs once on SQLite (a file in
tmp_path) and once on PostgreSQL (the ``test`` database, reset first; set
SURVEIL_TEST_PG_URL to use another server).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from index.db import Database

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pg_url() -> str:
    """The SQLAlchemy URL of the PostgreSQL test database. Under pytest-xdist each worker
    has its own database, named after the configured one and the worker (test_gw0, ...):
    tests reset theirs at will, and two workers must never share one."""
    url = make_url(os.environ.get("SURVEIL_TEST_PG_URL", DEFAULT_PG_URL))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        url = url.set(database=f"{url.database}_{worker}")
    return url.render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def reset_pg(url: str) -> None:
    """Drop everything in the public schema of the database at url (created first if it
    does not exist: a worker's own database on its first use)."""
    try:
        conn = await asyncpg.connect(_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        name = make_url(url).database
        admin = await asyncpg.connect(
            _dsn(make_url(url).set(database="postgres").render_as_string(False))
        )
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
        conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database, for each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/index.sqlite3"
    else:
        url = pg_url()
        await reset_pg(url)
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated Database on each backend; closed afterwards."""
    database = await Database.open(database_url)
    try:
        yield database
    finally:
        # A writer that never drains must fail the test, not hang the suite.
        await asyncio.wait_for(database.close(), 30)
