"""The Database: engine, migrations, one writer task, read sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

logger = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR: Final = Path(__file__).resolve().with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS: Final = 10_000

# Execution option marking the writer's connections: on SQLite they take the
# write lock at BEGIN, so a competing process makes us wait in busy_timeout
# instead of failing later when a read transaction tries to upgrade.
_WRITER_OPTION: Final = "surveil_writer"
# pg_advisory_xact_lock key serialising migrations of processes that open the
# same fresh database at once ("surveil" in ASCII).
_PG_MIGRATION_LOCK: Final = 0x7375727665696C


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for index/migrations, optionally bound to an open connection."""
    cfg = Config()
    # ConfigParser interpolates '%', which may appear in an install path.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    command.upgrade(alembic_config(connection), "head")


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """Per-connection pragmas, and BEGIN issued by us rather than by pysqlite."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # pysqlite's legacy transaction control skips BEGIN before DDL and
        # SELECT, which breaks atomic migrations and repeatable reads; with
        # isolation_level None it stays out of the way and _on_begin emits BEGIN.
        # Pragmas must also run outside a transaction (foreign_keys is a no-op inside one).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a brief exclusive lock.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            journal_mode_row = cursor.fetchone()
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()
        journal_mode = str(journal_mode_row[0]).lower() if journal_mode_row else ""
        if journal_mode not in ("wal", "memory"):
            raise RuntimeError(f"SQLite refused WAL mode (journal_mode={journal_mode!r})")

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITER_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@dataclass
class _Job:
    fn: Callable[[AsyncSession], Awaitable[Any]]
    future: asyncio.Future[Any] | None  # None for submit(): nobody waits
    on_commit: Callable[[], None] | None = None


# Fire-and-forget writes queued together are committed together (group commit):
# one transaction, one fsync, instead of one per camera per fragment.
MAX_BATCH = 256


def _describe(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class Database:
    """Owns the engine; all writes run in one writer task, reads use their own sessions."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Use Database.open(), which also migrates and starts the writer."""
        self._engine = engine
        self._read_sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(
            engine.execution_options(**{_WRITER_OPTION: True}), expire_on_commit=False
        )
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._current: _Job | None = None
        self._closed = False
        self._task = asyncio.create_task(self._writer(), name="index-writer")
        self._task.add_done_callback(self._writer_exited)

    @classmethod
    async def open(cls, url: str) -> Database:
        """Connect, migrate to the newest schema and start the writer task.

        SQLite needs a file: a ``:memory:`` database shares one connection, and
        with it one transaction, between the writer and every reader.
        """
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs["pool_pre_ping"] = True
        engine = create_async_engine(url, **kwargs)
        try:
            if engine.dialect.name == "sqlite":
                _install_sqlite_hooks(engine)
            async with engine.execution_options(**{_WRITER_OPTION: True}).begin() as conn:
                await conn.run_sync(_upgrade)
        except BaseException:
            await engine.dispose()
            raise
        db = cls(engine)
        logger.info("index database %s open (%s)", db.url_redacted, db.dialect)
        return db

    @property
    def url_redacted(self) -> str:
        """The database URL with any password replaced by ***."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    def read(self) -> AsyncSession:
        """A session for queries: ``async with db.read() as s: ...``."""
        return self._read_sessions()

    async def write(self, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run fn in the writer task in one transaction; return its result or raise its error."""
        self._check_accepting()
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put_nowait(_Job(fn, future))
        return await future

    def submit(
        self,
        fn: Callable[[AsyncSession], Awaitable[object]],
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        """Queue fn like write() without waiting; a failure is logged, not raised.

        Queued submissions may share one transaction (group commit); on_commit,
        if given, is called in the loop once fn's transaction has committed.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            # asyncio.Queue is not thread-safe.
            raise RuntimeError("Database.submit() must be called from the event loop thread")
        self._check_accepting()
        self._queue.put_nowait(_Job(fn, None, on_commit))

    async def close(self) -> None:
        """Finish every queued write, stop the writer and release connections."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
        try:
            # wait() rather than await: a cancelled close must not cancel the writer.
            await asyncio.wait({self._task})
        finally:
            await self._engine.dispose()

    def _check_accepting(self) -> None:
        if self._closed:
            raise RuntimeError("database is closed")
        if self._task.done():
            raise RuntimeError("index writer task has stopped")

    async def _writer(self) -> None:
        carried: list[_Job | None] = []  # at most one item taken ahead of its turn
        while True:
            job = carried.pop() if carried else await self._queue.get()
            if job is None:
                return
            if job.future is not None:
                if not job.future.done():  # else the caller was cancelled meanwhile
                    await self._run_one(job)
                continue
            batch = [job]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None or nxt.future is not None:
                    carried.append(nxt)  # runs right after this batch, order kept
                    break
                batch.append(nxt)
            await self._run_batch(batch)

    async def _run_one(self, job: _Job) -> None:
        self._current = job
        try:
            async with self._write_sessions() as session, session.begin():
                result = await job.fn(session)
        except Exception as exc:
            if job.future is None:
                logger.exception("background write %s failed", _describe(job.fn))
            elif not job.future.done():
                job.future.set_exception(exc)
        else:
            if job.future is not None and not job.future.done():
                job.future.set_result(result)
            elif job.on_commit is not None:
                job.on_commit()
        # Not in a finally: if a BaseException kills the task, _writer_exited
        # must still see the job it interrupted.
        self._current = None

    async def _run_batch(self, batch: list[_Job]) -> None:
        if len(batch) == 1:
            await self._run_one(batch[0])
            return
        self._current = batch[0]
        try:
            async with self._write_sessions() as session, session.begin():
                for job in batch:
                    await job.fn(session)
        except Exception:
            # One bad write must not take the others with it: redo them one by
            # one, each in its own transaction (the failed batch left nothing).
            logger.debug("group commit of %d writes failed; retrying singly", len(batch))
            for job in batch:
                await self._run_one(job)
            return
        self._current = None
        for job in batch:
            if job.on_commit is not None:
                job.on_commit()

    def _writer_exited(self, task: asyncio.Task[None]) -> None:
        # After close() nothing is pending; after a cancellation or a
        # BaseException, callers would otherwise await their futures forever.
        if not task.cancelled() and task.exception() is not None:
            logger.error("index writer task died", exc_info=task.exception())
        pending = [self._current] if self._current is not None else []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None:
                pending.append(job)
        for job in pending:
            if job.future is not None and not job.future.done():
                job.future.set_exception(RuntimeError("index writer task has stopped"))
            elif job.future is None:
                logger.error("background write %s dropped: writer stopped", _describe(job.fn))
