"""Encryption at rest of bot.db: a seized file, WAL or backup is unreadable without
BOT_STORE_KEY; a plaintext database from an earlier release is encrypted in place with every
row kept; a wrong key is refused with nothing changed."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest

from storage import atrest
from storage.db import Database, KeyMismatchError

KEY = atrest.file_key("test-store-key-0123456789", atrest.DB_PURPOSE)
OTHER = atrest.file_key("another-store-key-987654", atrest.DB_PURPOSE)
MARKER = "Initech-Labs-secret-marker"


def plain_read(path: Path) -> list[tuple[str, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT name FROM sqlite_master").fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_key_per_file_purpose_derived_from_the_store_key():
    assert atrest.file_key("k" * 20, atrest.DB_PURPOSE) == atrest.file_key("k" * 20, atrest.DB_PURPOSE)
    assert atrest.file_key("k" * 20, atrest.DB_PURPOSE) != atrest.file_key("k" * 20, atrest.E2EE_PURPOSE)
    assert atrest.file_key("k" * 20, atrest.DB_PURPOSE) != atrest.file_key("j" * 20, atrest.DB_PURPOSE)
    assert len(atrest.file_key("k" * 20, atrest.DB_PURPOSE)) == 32


async def test_the_database_its_wal_and_its_backup_are_unreadable_without_the_key(tmp_path):
    db = await Database.open(tmp_path / "bot.db", key=KEY)
    try:
        await db.execute("CREATE TABLE t (v TEXT)")
        async with db.transaction():
            await db.execute("INSERT INTO t VALUES (?)", (MARKER,))
        assert (tmp_path / "bot.db-wal").stat().st_size > 0  # the row is in the WAL, not yet checkpointed
        await db.backup(tmp_path / "backup.db")
    finally:
        await db.close()
    for name in ("bot.db", "backup.db"):
        with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
            plain_read(tmp_path / name)
    every_byte = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert MARKER.encode() not in every_byte and b"CREATE TABLE" not in every_byte
    conn = atrest.connect(tmp_path / "backup.db", KEY)  # the backup opens with the bot.db key
    try:
        assert conn.execute("SELECT v FROM t").fetchall() == [(MARKER,)]
    finally:
        conn.close()


async def test_a_wrong_key_is_refused_with_nothing_changed(tmp_path):
    db = await Database.open(tmp_path / "bot.db", key=KEY)
    await db.execute("CREATE TABLE t (v TEXT)")
    await db.close()
    before = digest(tmp_path / "bot.db")
    names = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(KeyMismatchError, match="BOT_STORE_KEY does not open bot.db"):
        await Database.open(tmp_path / "bot.db", key=OTHER)
    assert digest(tmp_path / "bot.db") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def _plaintext_release_db(path: Path) -> None:
    """What the previous release left: plain SQLite in WAL mode, last rows still in the WAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("PRAGMA user_version=7")
    for i in range(50):
        conn.execute("INSERT INTO t (v) VALUES (?)", (f"{MARKER}-{i}",))
    conn.execute("INSERT INTO t (v) VALUES (?)", (f"{MARKER}-in-wal",))
    # simulate a killed process: copy the files while a connection still has them open
    import shutil
    for suffix in ("", "-wal"):
        shutil.copy(f"{path}{suffix}", f"{path}.crash{suffix}")
    conn.close()
    for suffix in ("", "-wal"):
        shutil.move(f"{path}.crash{suffix}", f"{path}{suffix}")


async def test_a_plaintext_database_is_encrypted_in_place_with_every_row_kept(tmp_path, caplog):
    path = tmp_path / "bot.db"
    _plaintext_release_db(path)
    assert (tmp_path / "bot.db-wal").stat().st_size > 0
    (tmp_path / "bot.db.encrypting").write_bytes(b"half-written copy of a crashed attempt")
    with caplog.at_level(logging.WARNING, logger="organizer_bot.db"):
        db = await Database.open(path, key=KEY)
    try:
        rows = await db.fetchall("SELECT v FROM t ORDER BY id")
        assert [r[0] for r in rows] == [f"{MARKER}-{i}" for i in range(50)] + [f"{MARKER}-in-wal"]
        assert (await db.fetchone("PRAGMA user_version"))[0] == 7
        assert db.encrypted
    finally:
        await db.close()
    assert [r.message for r in caplog.records if "encrypted it in place" in r.message]
    assert not (tmp_path / "bot.db.encrypting").exists()
    assert not atrest.is_plaintext(path)
    every_byte = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert MARKER.encode() not in every_byte
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="organizer_bot.db"):
        db = await Database.open(path, key=KEY)  # second start: nothing to migrate
        await db.close()
    assert not [r for r in caplog.records if "encrypted it in place" in r.message]


def test_doctor_wording_tells_plaintext_encrypted_and_wrong_key_apart(tmp_path):
    _plaintext_release_db(tmp_path / "plain.db")
    assert atrest.describe(tmp_path / "plain.db", KEY) == "PLAINTEXT"
    assert atrest.describe(tmp_path / "none.db", KEY) == "missing"
    atrest.connect(tmp_path / "enc.db", KEY).execute("CREATE TABLE t (v)").connection.close()
    assert atrest.describe(tmp_path / "enc.db", KEY).startswith("encrypted (SQLCipher 4")
    assert atrest.describe(tmp_path / "enc.db", OTHER).startswith("encrypted, but not with this")
