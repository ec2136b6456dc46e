"""The bot database: one aiosqlite connection, WAL mode, versioned migrations per domain.

Each storage module registers its own ordered list of migration steps with
:func:`register_migrations`; :meth:`Database.open` applies the steps a database lacks, each
domain's version kept in ``schema_versions``. Work that must be atomic (a command's writes,
its dedup mark and its queued replies) runs inside :meth:`Database.transaction`, which also
serialises writers on the single connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

Migration = str  # one SQL script per step
_T = TypeVar("_T")
# aiosqlite's internals used for one-hop statements (see Database._hop); checked once
_ONE_HOP = callable(getattr(aiosqlite.Connection, "_execute", None)) and isinstance(
    getattr(aiosqlite.Connection, "_conn", None), property)
_MIGRATIONS: dict[str, list[Migration]] = {}
_TX_OWNER: contextvars.ContextVar[int | None] = contextvars.ContextVar("tx_owner", default=None)


class KeyMismatchError(Exception):
    """The database was created with a different BOT_HASH_KEY."""


def register_migrations(domain: str, steps: Sequence[Migration]) -> None:
    """Declare the schema steps of one domain, oldest first. Never edit a released step:
    append a new one."""
    _MIGRATIONS[domain] = list(steps)


register_migrations(
    "core",
    [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- commands already handled, by keyed hash of the event ID; rows expire
        CREATE TABLE processed_events (event_ref BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
        CREATE INDEX processed_events_expiry ON processed_events (expires_at);
        -- messages to send; room and payload sealed; txn_id makes a resend idempotent
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            txn_id TEXT NOT NULL UNIQUE,
            room_sealed BLOB NOT NULL,
            payload_sealed BLOB NOT NULL,
            created_at INTEGER NOT NULL
        );
        -- per-room flags (warned about encryption, joined at), by keyed room reference
        CREATE TABLE room_flags (
            room_ref BLOB NOT NULL, flag TEXT NOT NULL, value INTEGER NOT NULL,
            PRIMARY KEY (room_ref, flag)
        );
        """
    ],
)


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, key_fingerprint: str | None = None) -> Database:
        """Open (creating if needed) and migrate. With ``key_fingerprint``, refuse a database
        made under another key before changing anything."""
        path = Path(path)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = cls(conn, path)
        try:
            if key_fingerprint is not None:
                await db._check_fingerprint(key_fingerprint)
            await db.migrate()
            if key_fingerprint is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('key_fingerprint', ?)", (key_fingerprint,)
                )
        except BaseException:
            await conn.close()
            raise
        return db

    async def _check_fingerprint(self, fingerprint: str) -> None:
        has_meta = await self.fetchone("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'")
        if not has_meta:
            return
        row = await self.fetchone("SELECT value FROM meta WHERE key='key_fingerprint'")
        if row is not None and row[0] != fingerprint:
            raise KeyMismatchError(
                "BOT_HASH_KEY does not match the key this database was created with; "
                "nothing was changed. Start with the original key (or move bot.db away to start afresh)."
            )

    async def migrate(self) -> None:
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (domain TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        for domain, steps in _MIGRATIONS.items():
            row = await self.fetchone("SELECT version FROM schema_versions WHERE domain=?", (domain,))
            current = row[0] if row else 0
            for version in range(current + 1, len(steps) + 1):
                async with self.transaction():
                    for statement in _split_sql(steps[version - 1]):
                        await self.conn.execute(statement)
                    await self.conn.execute(
                        "INSERT INTO schema_versions (domain, version) VALUES (?, ?) "
                        "ON CONFLICT(domain) DO UPDATE SET version=excluded.version",
                        (domain, version),
                    )

    async def schema_version(self, domain: str) -> int:
        row = await self.fetchone("SELECT version FROM schema_versions WHERE domain=?", (domain,))
        return row[0] if row else 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error. Nested use joins the outer one."""
        if _TX_OWNER.get() == id(self):
            yield self
            return
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            token = _TX_OWNER.set(id(self))
            try:
                yield self
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                _TX_OWNER.reset(token)

    # Each statement below is ONE hop to aiosqlite's thread (statement, fetch and cursor close
    # together) instead of two or three: on a busy machine every hop waits for a thread switch.
    # This uses aiosqlite's internal ``_execute`` (queue a function on its thread) and ``_conn``
    # (the sqlite3 connection, touched only on that thread); without them, the public calls.

    async def _hop(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await self.conn._execute(fn, *args)  # type: ignore[no-any-return]

    def _sync_execute(self, sql: str, params: Sequence[Any]) -> int:
        cursor = self.conn._conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def _sync_insert(self, sql: str, params: Sequence[Any]) -> int:
        cursor = self.conn._conn.execute(sql, params)
        try:
            return (cursor.lastrowid or 0) if cursor.rowcount > 0 else 0
        finally:
            cursor.close()

    def _sync_fetchone(self, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        cursor = self.conn._conn.execute(sql, params)
        try:
            return cursor.fetchone()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    def _sync_fetchall(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        cursor = self.conn._conn.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        if _ONE_HOP:
            return await self._hop(self._sync_execute, sql, params)
        cursor = await self.conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT; returns the new row's ID (0 if nothing was inserted)."""
        if _ONE_HOP:
            return await self._hop(self._sync_insert, sql, params)
        cursor = await self.conn.execute(sql, params)
        try:
            return (cursor.lastrowid or 0) if cursor.rowcount > 0 else 0
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        if _ONE_HOP:
            return await self._hop(self._sync_fetchone, sql, params)
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()  # type: ignore[return-value]

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        if _ONE_HOP:
            return await self._hop(self._sync_fetchall, sql, params)
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key=?", (key,))
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    async def backup(self, target: Path | str) -> None:
        """A consistent online copy through SQLite's backup API."""
        dest = await aiosqlite.connect(str(target))
        try:
            await self.conn.backup(dest)
        finally:
            await dest.close()

    async def close(self) -> None:
        await self.conn.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement aware)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
