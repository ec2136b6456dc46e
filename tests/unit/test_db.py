"""The database layer: statements on the loop thread, long jobs on aiosqlite's thread, a busy
database waited for without blocking the loop, WAL checkpoints from a second connection."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest

from storage import atrest
from storage import db as dbmodule
from storage.db import Database
from storage.schema import open_database

KEY = atrest.file_key("test-store-key-0123456789", atrest.DB_PURPOSE)


def connect(path, **kwargs):  # noqa: ANN001, ANN201 - another process's connection, with the key
    return atrest.connect(path, KEY, **kwargs)


async def _open(tmp_path) -> Database:  # noqa: ANN001
    db = await open_database(tmp_path / "bot.db", key=KEY)
    await db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    return db


async def test_statements_run_on_the_loop_thread_and_bulk_on_the_worker(tmp_path):
    db = await _open(tmp_path)
    seen: list[int] = []
    db._raw.create_function("thread_id", 0, lambda: seen.append(threading.get_ident()) or 1)
    try:
        await db.fetchone("SELECT thread_id()")
        await db.executemany("INSERT INTO t (v) VALUES (?)", [("a",)])
        await db.execute("UPDATE t SET v = 'b' WHERE thread_id() = 1", slow=True)
        assert seen[0] == threading.get_ident()
        assert seen[1] != threading.get_ident()  # slow=True: the worker thread
        assert (await db.fetchone("SELECT v FROM t"))[0] == "b"
    finally:
        await db.close()


async def test_a_busy_database_is_waited_for_without_blocking_the_loop(tmp_path):
    db = await _open(tmp_path)
    other = connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def release_later() -> None:
        await asyncio.sleep(0.4)
        other.execute("COMMIT")

    running = asyncio.create_task(ticker())
    releaser = asyncio.create_task(release_later())
    try:
        started = time.monotonic()
        async with db.transaction():
            await db.execute("INSERT INTO t (v) VALUES ('waited')")
        assert time.monotonic() - started >= 0.35
        assert ticks >= 10  # the loop kept running while the statement waited
        assert (await db.fetchone("SELECT count(*) FROM t"))[0] == 1
    finally:
        running.cancel()
        await releaser
        other.close()
        await db.close()


async def test_a_lock_held_too_long_fails_the_statement_with_the_database_intact(tmp_path, monkeypatch):
    monkeypatch.setattr(dbmodule, "BUSY_WAIT", 0.2)
    db = await _open(tmp_path)
    other = connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(dbmodule.sqlite3.OperationalError):
            async with db.transaction():
                await db.execute("INSERT INTO t (v) VALUES ('never')")
        other.execute("COMMIT")
        async with db.transaction():  # usable again once the lock is gone
            await db.execute("INSERT INTO t (v) VALUES ('later')")
        assert [r[0] for r in await db.fetchall("SELECT v FROM t")] == ["later"]
    finally:
        other.close()
        await db.close()


async def test_wal_is_checkpointed_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setattr(dbmodule, "CHECKPOINT_EVERY", 5)
    db = await _open(tmp_path)
    try:
        for i in range(5):
            async with db.transaction():
                await db.execute("INSERT INTO t (v) VALUES (?)", (f"row{i}",))
        assert db._checkpointer is not None
        await db._checkpointer
        # the database file alone (no WAL) now holds every committed row
        shutil.copy(tmp_path / "bot.db", tmp_path / "copy.db")
        copy = connect(tmp_path / "copy.db")
        try:
            assert copy.execute("SELECT count(*) FROM t").fetchone()[0] == 5
        finally:
            copy.close()
    finally:
        await db.close()


async def test_a_cancelled_bulk_job_keeps_the_connection_until_it_ends(tmp_path):
    db = await _open(tmp_path)
    try:
        rows = [(str(i),) for i in range(200_000)]

        async def bulk() -> None:
            async with db.transaction():
                await db.executemany("INSERT INTO t (v) VALUES (?)", rows)

        task = asyncio.create_task(bulk())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert db._worker_job is None
        assert (await db.fetchone("SELECT count(*) FROM t"))[0] == 0  # rolled back as a whole
        async with db.transaction():
            await db.execute("INSERT INTO t (v) VALUES ('after')")
        assert (await db.fetchone("SELECT count(*) FROM t"))[0] == 1
    finally:
        await db.close()


async def test_backup_copies_committed_rows_only(tmp_path):
    db = await _open(tmp_path)
    try:
        async with db.transaction():
            await db.execute("INSERT INTO t (v) VALUES ('kept')")
        await db.backup(tmp_path / "backup.db")
        copy = connect(tmp_path / "backup.db")
        try:
            assert copy.execute("SELECT v FROM t").fetchall() == [("kept",)]
        finally:
            copy.close()
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.backup(tmp_path / "inside.db")
    finally:
        await db.close()


async def test_a_deleted_row_leaves_no_bytes_in_the_file_or_wal_after_the_next_checkpoint(tmp_path):
    """secure_delete zeroes the deleted cell; the checkpoint that follows the delete copies the
    zeroed page into the file and truncates the WAL, which held the page's older images.
    (Plaintext here, so the bytes can be searched; the forensic suite does it decrypted.)"""
    db = await open_database(tmp_path / "bot.db")
    marker = b"FORGET-ME-" * 8
    try:
        await db.execute("CREATE TABLE m (ref BLOB PRIMARY KEY, n INTEGER) WITHOUT ROWID")
        async with db.transaction():
            for i in range(50):
                await db.execute("INSERT INTO m VALUES (?, ?)", (bytes([i]) * 32, i))
            await db.execute("INSERT INTO m VALUES (?, 99)", (marker,))
        await db.checkpoint()  # the row is in the file now
        assert marker in (tmp_path / "bot.db").read_bytes()
        async with db.transaction():
            await db.execute("INSERT INTO m VALUES (?, 100)", (b"\xff" * 32,))  # the page changes again
        async with db.transaction():
            await db.execute("DELETE FROM m WHERE ref=?", (marker,))
            db.checkpoint_after_commit()
        assert db._checkpointer is not None
        await db._checkpointer
        assert (tmp_path / "bot.db-wal").stat().st_size == 0
        for name in ("bot.db", "bot.db-wal"):
            assert marker[:16] not in (tmp_path / name).read_bytes(), name
        assert (await db.fetchone("SELECT count(*) FROM m"))[0] == 51
    finally:
        await db.close()


async def test_a_checkpoint_asked_for_while_one_runs_runs_after_it(tmp_path, monkeypatch):
    """A `!forget` committed while a checkpoint is running must not wait for the next regular
    one (100 commits later): its requested checkpoint runs once the running one ends."""
    db = await _open(tmp_path)
    calls = []

    def slow_checkpoint() -> None:
        calls.append(time.monotonic())
        time.sleep(0.2)

    monkeypatch.setattr(db, "_checkpoint", slow_checkpoint)
    try:
        async with db.transaction():
            await db.execute("INSERT INTO t (v) VALUES ('a')")
            db.checkpoint_after_commit()
        await asyncio.sleep(0.05)  # the first is running now
        async with db.transaction():
            await db.execute("DELETE FROM t")
            db.checkpoint_after_commit()
        assert db._checkpointer is not None
        await db._checkpointer
        assert len(calls) == 2 and calls[1] - calls[0] >= 0.2
    finally:
        await db.close()
