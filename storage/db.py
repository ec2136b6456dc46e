"""The bot database: one SQLite connection, WAL mode, versioned migrations per domain.

Each storage domain declares its ordered migration steps as a :class:`Schema`; the list of
domains is explicit (``storage.schema.DOMAINS``), and :meth:`Database.open` applies the steps a
database lacks for every one of them, whatever the caller imported, each domain's version kept
in ``schema_versions``. Work that must be atomic (a command's writes, its dedup mark and its
queued replies) runs inside :meth:`Database.transaction`, which also serialises writers on the
single connection.

Where statements run: an indexed statement takes about a microsecond, a hop to a worker
thread about 100 µs (measured: ``bench/``), so ordinary statements run on the event-loop
thread and never wait for a lock there (a busy database is retried with ``asyncio.sleep``).
Work that can take long (bulk inserts, backups, statements passed ``slow=True``) runs on
aiosqlite's worker thread, and loop-side statements wait for it to finish. The loop never
waits for the disk either: with ``synchronous=NORMAL`` only WAL checkpoints sync, and they
run from a second connection on a thread (``wal_autocheckpoint`` is off on the main one).

What a seized file keeps of the past (issue #17): ``secure_delete`` (set by
:func:`storage.atrest.connect`) zeroes deleted cells and freed pages, and every background
checkpoint ends by truncating the WAL (``TRUNCATE``, and a ``journal_size_limit`` of 0 for when
that is busy), so an older image of a page (a row later removed by ``!forget``, a member table
before its rebuild) does not outlive the next checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlcipher3 import dbapi2 as sqlite3  # SQLite with SQLCipher: same API as the stdlib module

from storage import atrest

log = logging.getLogger("organizer_bot.db")
Migration = str  # one SQL script per step
_T = TypeVar("_T")
BUSY_WAIT = 5.0  # seconds a statement keeps retrying while another process holds the write lock
CHECKPOINT_EVERY = 100  # commits between background WAL checkpoints
# bytes the WAL is cut back to when a writer restarts it after a checkpoint (0: emptied)
JOURNAL_SIZE_LIMIT = 0
TRUNCATE_WAIT_MS = 50  # how long the truncating checkpoint waits for readers and the write lock
# A TRUNCATE that finds a reader's snapshot returns "busy" (no error) and copies only the frames
# before it: the database file keeps older page images (a forgotten member's rows among them) until
# the next checkpoint. So it is tried again, a little later each time (≈ 1 s in all), before giving up.
TRUNCATE_TRIES = 6
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_TX_OWNER: contextvars.ContextVar[int | None] = contextvars.ContextVar("tx_owner", default=None)


class KeyMismatchError(Exception):
    """The database was created with a different BOT_HASH_KEY (or is encrypted under
    another BOT_STORE_KEY)."""


@dataclass(frozen=True)
class Schema:
    """The schema steps of one storage domain, oldest first, under the name its version is kept
    by in ``schema_versions``. Never edit a released step: append a new one."""

    domain: str
    steps: Sequence[Migration]


# the bot's own bookkeeping (storage.core, storage.retention); first in storage.schema.DOMAINS
CORE = Schema(
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
        """,
        # say-once flags of members, by keyed member reference; the old rows (room_flags keyed by
        # ref("room", "member:" + user ID)) cannot be re-keyed without the ID: dropped, so a member
        # may be told once more
        """
        CREATE TABLE member_flags (
            member_ref BLOB NOT NULL, flag TEXT NOT NULL, value INTEGER NOT NULL,
            PRIMARY KEY (member_ref, flag)
        );
        DELETE FROM room_flags WHERE flag = 'told_untrusted';
        """,
        # the outbox's lanes: answers to commands (0) go before bulk sends (1: announcements,
        # broadcasts, reminders); rows queued before this step are answers
        """
        ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX outbox_lane ON outbox (lane, id);
        """,
        # announcement rounds: a row is not sent before its not_before (unix seconds; 0: at once)
        """
        ALTER TABLE outbox ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;
        """,
        # member flags become a WITHOUT ROWID table (issue #17): rowids counted up in the order
        # members were first told something; rows copied in key order (keyed member reference)
        """
        CREATE TABLE member_flags_v5 (
            member_ref BLOB NOT NULL, flag TEXT NOT NULL, value INTEGER NOT NULL,
            PRIMARY KEY (member_ref, flag)
        ) WITHOUT ROWID;
        INSERT INTO member_flags_v5 (member_ref, flag, value)
            SELECT member_ref, flag, value FROM member_flags ORDER BY member_ref, flag;
        DROP TABLE member_flags;
        ALTER TABLE member_flags_v5 RENAME TO member_flags;
        """,
        # nothing ties a command's commit to the moment it was handled (issue #23): a dedup mark
        # keeps the day it expires, not the second, and no counting rowid; the outbox keeps no
        # queue time, and its transaction ID (which the homeserver logs with the DM's room) is
        # sealed, the column holding a keyed reference of it (rows queued before stay as they are)
        """
        CREATE TABLE processed_events_v6 (event_ref BLOB PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO processed_events_v6 (event_ref, expires_at)
            SELECT event_ref, (expires_at / 86400 + 1) * 86400 FROM processed_events ORDER BY event_ref;
        DROP TABLE processed_events;
        ALTER TABLE processed_events_v6 RENAME TO processed_events;
        CREATE INDEX processed_events_expiry ON processed_events (expires_at);
        ALTER TABLE outbox ADD COLUMN txn_sealed BLOB;
        UPDATE outbox SET created_at = 0;
        """,
    ],
)


class Database:
    def __init__(self, raw: sqlite3.Connection, worker: aiosqlite.Connection, path: Path | None,
                 key: bytes | None = None) -> None:
        self._raw = raw  # used on the loop thread, or by the worker while ``_worker_job`` is set
        self._worker = worker
        self.path = path
        self._lock = asyncio.Lock()
        self._worker_job: asyncio.Event | None = None
        self._commits = 0
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_requested = False
        self._checkpoint_again = False  # a requested checkpoint came while one was running
        self._key = key  # SQLCipher key of this file (None: plaintext, tests only)

    @classmethod
    async def open(cls, path: Path | str, key_fingerprint: str | None = None, *,
                   key: bytes | None = None, domains: Sequence[Schema] = ()) -> Database:
        """Open (creating if needed) and migrate ``domains`` (the bot opens through
        :func:`storage.schema.open_database`, which passes every domain). With ``key`` (a raw 32-byte SQLCipher key, see
        :mod:`storage.atrest`) the file is encrypted; a plaintext one is encrypted in place
        first, and one encrypted under another key is refused with nothing changed. With
        ``key_fingerprint``, refuse a database made under another hash key before changing anything."""
        path = Path(path)
        if key is not None and str(path) != ":memory:" and atrest.encrypt_in_place(path, key):
            log.warning("bot.db was plaintext (made by an earlier release): encrypted it in place with "
                        "BOT_STORE_KEY; the plaintext file was overwritten")
        try:
            # check_same_thread=False: the worker thread uses it too, never at the same time (see _in_worker)
            raw = atrest.connect(path, key, isolation_level=None, check_same_thread=False)
        except atrest.WrongKeyError:
            raise KeyMismatchError(
                "BOT_STORE_KEY does not open bot.db (it is encrypted under another key); nothing was "
                "changed. Start with the BOT_STORE_KEY it was created with.") from None
        raw.row_factory = sqlite3.Row
        wal = raw.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=0", "wal_autocheckpoint=0",
                       f"journal_size_limit={JOURNAL_SIZE_LIMIT}"):  # secure_delete: atrest.connect
            raw.execute(f"PRAGMA {pragma}").close()
        if key is not None and atrest.PAGE_CACHE_KIB is not None:  # decrypted pages stay in memory
            raw.execute(f"PRAGMA cache_size=-{int(atrest.PAGE_CACHE_KIB)}").close()
        worker = await aiosqlite.Connection(lambda: raw, iter_chunk_size=64)
        db = cls(raw, worker, path if wal else None, key)
        try:
            if key_fingerprint is not None:
                await db._check_fingerprint(key_fingerprint)
            await db.migrate(domains)
            if key_fingerprint is not None:
                await db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('key_fingerprint', ?)", (key_fingerprint,)
                )
        except BaseException:
            await worker.close()
            raise
        return db

    @property
    def encrypted(self) -> bool:
        return self._key is not None

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

    async def migrate(self, domains: Sequence[Schema]) -> None:
        """Apply the steps each domain lacks (``storage.schema.DOMAINS`` holds them all; this module
        imports no domain, so the domains can import it)."""
        await self.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (domain TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        for schema in domains:
            domain, steps = schema.domain, schema.steps
            row = await self.fetchone("SELECT version FROM schema_versions WHERE domain=?", (domain,))
            current = row[0] if row else 0
            for version in range(current + 1, len(steps) + 1):
                async with self.transaction():
                    for statement in _split_sql(steps[version - 1]):
                        await self.execute(statement)
                    await self.execute(
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
            await self.execute("BEGIN IMMEDIATE")
            token = _TX_OWNER.set(id(self))
            try:
                yield self
            except BaseException:
                if self._raw.in_transaction:
                    self._raw.execute("ROLLBACK").close()  # never waits: we hold the write lock
                raise
            else:
                await self.execute("COMMIT")
                self._commits += 1
                if self._commits % CHECKPOINT_EVERY == 0 or self._checkpoint_requested:
                    self._start_checkpoint(requested=self._checkpoint_requested)
            finally:
                self._checkpoint_requested = False
                _TX_OWNER.reset(token)

    @property
    def in_transaction(self) -> bool:
        """Whether the calling task holds this database's transaction."""
        return _TX_OWNER.get() == id(self)

    def checkpoint_after_commit(self) -> None:
        """Ask for a background checkpoint (and WAL truncation) as soon as the current
        transaction commits: for writes whose older page images should not wait for the next
        regular checkpoint (``!forget``, a rebuild of the member tables)."""
        self._checkpoint_requested = True

    async def checkpoint(self) -> None:
        """Checkpoint and truncate the WAL now (waits for a running one first)."""
        if self._checkpointer is not None:
            await asyncio.gather(self._checkpointer, return_exceptions=True)
        self._start_checkpoint(requested=True)
        if self._checkpointer is not None:
            await self._checkpointer

    def _start_checkpoint(self, requested: bool = False) -> None:
        """Copy the WAL into the database file from a second connection on a thread, one at a
        time. A regular one that finds another running is skipped; a requested one (after
        ``!forget``, a rebuild) runs once the running one is done, so it covers every commit
        before it."""
        if self.path is None:
            return
        if self._checkpointer is not None and not self._checkpointer.done():
            self._checkpoint_again = self._checkpoint_again or requested
            return
        self._checkpointer = asyncio.create_task(self._checkpoints(), name="wal-checkpoint")

    async def _checkpoints(self) -> None:
        while True:
            self._checkpoint_again = False
            await asyncio.to_thread(self._checkpoint)
            if not self._checkpoint_again:
                return

    def _checkpoint(self) -> None:
        """PASSIVE first (the bulk of the copying, never in anyone's way), then TRUNCATE, which
        takes the write lock for the few frames committed meanwhile and, once no reader uses the
        WAL, cuts it to zero bytes. A TRUNCATE that finds readers is tried again
        (:data:`TRUNCATE_TRIES`; the loop's writers retry meanwhile), then left to the next
        checkpoint; the next writer restarts the WAL and ``journal_size_limit`` cuts it back."""
        assert self.path is not None
        try:
            if self._checkpoint_conn is None:  # used by one thread at a time (one checkpoint at a time)
                conn = atrest.connect(self.path, self._key, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}").close()
                self._checkpoint_conn = conn
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
            for attempt in range(TRUNCATE_TRIES):
                busy = self._checkpoint_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    return
                time.sleep(TRUNCATE_WAIT_MS / 1000 * (attempt + 1))  # a reader's snapshot: it ends soon
            log.warning("WAL checkpoint: readers kept the WAL; the next checkpoint copies the rest")
        except sqlite3.Error as exc:  # the next one retries; the WAL only grows meanwhile
            log.warning("WAL checkpoint failed: %s", type(exc).__name__)

    async def _on_loop(self, fn: Callable[[sqlite3.Cursor], _T], sql: str, params: Sequence[Any]) -> _T:
        """Run one statement on the loop thread; while another process holds the write lock,
        retry with backoff (the loop keeps running) for up to BUSY_WAIT seconds."""
        while self._worker_job is not None:
            await self._worker_job.wait()
        delay, deadline = 0.001, None
        while True:
            try:
                cursor = self._raw.execute(sql, params)
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", None) not in _BUSY_CODES:
                    raise
                loop = asyncio.get_running_loop()
                deadline = deadline or loop.time() + BUSY_WAIT
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
                continue
            try:
                return fn(cursor)
            finally:
                cursor.close()

    async def _in_worker(self, job: Callable[[aiosqlite.Connection], Any]) -> Any:
        """Run slow work on aiosqlite's thread; loop-side statements wait until it is done."""
        while self._worker_job is not None:
            await self._worker_job.wait()
        done = self._worker_job = asyncio.Event()
        running = asyncio.ensure_future(job(self._worker))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            await asyncio.wait([running])  # the thread keeps the connection until its job ends
            raise
        finally:
            self._worker_job = None
            done.set()

    async def execute(self, sql: str, params: Sequence[Any] = (), *, slow: bool = False) -> int:
        """Run one statement; returns the number of rows it changed. ``slow=True`` for one that
        may touch very many rows (it then runs on the worker thread)."""
        if slow:
            async def job(worker: aiosqlite.Connection) -> int:
                async with worker.execute(sql, params) as cursor:
                    return cursor.rowcount
            return int(await self._in_worker(job))
        return await self._on_loop(_rowcount, sql, params)

    async def execute_all(self, statements: Sequence[str]) -> None:
        """Run several statements (no parameters) one after the other in one job on the worker
        thread: no loop-side statement runs between them, so nothing else on this connection
        sees the state between two of them (a table dropped and its copy not yet renamed)."""
        async def job(worker: aiosqlite.Connection) -> None:
            for sql in statements:
                await (await worker.execute(sql)).close()
        await self._in_worker(job)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT; returns the new row's ID (0 if nothing was inserted)."""
        return await self._on_loop(_new_id, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk statement, on the worker thread (imports and seeding can be large)."""
        rows = list(rows)
        await self._in_worker(lambda worker: worker.executemany(sql, rows))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return await self._on_loop(_one, sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self._on_loop(_all, sql, params)

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key=?", (key,))
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    async def bump_generation(self, key: str) -> None:
        """Count one more change of what ``key`` stands for (a row of ``meta``), so a cache that
        keeps :meth:`get_meta` of ``key`` knows, with one indexed read, when to reload."""
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') "
            "ON CONFLICT(key) DO UPDATE SET value=CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
            (key,),
        )

    async def backup(self, target: Path | str) -> None:
        """A consistent online copy through SQLite's backup API, encrypted under this file's key
        (so a backup is restored by copying it to bot.db)."""
        if _TX_OWNER.get() == id(self):
            raise RuntimeError("backup() inside a transaction would copy uncommitted rows")
        dest_raw = atrest.connect(target, self._key, isolation_level=None, check_same_thread=False)
        dest = await aiosqlite.Connection(lambda: dest_raw, iter_chunk_size=64)
        try:
            async with self._lock:  # never copy another task's uncommitted rows
                await self._in_worker(lambda worker: worker.backup(dest))
        finally:
            await dest.close()

    async def close(self) -> None:
        while self._worker_job is not None:
            await self._worker_job.wait()
        if self._checkpointer is not None:
            await asyncio.gather(self._checkpointer, return_exceptions=True)
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
        await self._worker.close()  # the last connection closed checkpoints the rest


def _rowcount(cursor: sqlite3.Cursor) -> int:
    return cursor.rowcount


def _new_id(cursor: sqlite3.Cursor) -> int:
    return (cursor.lastrowid or 0) if cursor.rowcount > 0 else 0


def _one(cursor: sqlite3.Cursor) -> sqlite3.Row | None:
    return cursor.fetchone()  # type: ignore[no-any-return]


def _all(cursor: sqlite3.Cursor) -> list[sqlite3.Row]:
    return cursor.fetchall()


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
