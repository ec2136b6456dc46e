"""Encryption at rest of bot.db: a seized file, WAL or backup is unreadable without
BOT_STORE_KEY; a plaintext database from an earlier release is encrypted in place with every
row kept; a wrong key is refused with nothing changed."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from storage import atrest
from storage.db import KeyMismatchError
from storage.schema import open_database

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
    db = await open_database(tmp_path / "bot.db", key=KEY)
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


async def test_the_encrypted_connection_keeps_a_large_page_cache(tmp_path):
    """Decrypted pages stay in SQLite's cache (the OS cache holds only ciphertext); a plaintext
    test database keeps the build's default."""
    plain = await open_database(tmp_path / "plain.db")
    default = (await plain.fetchone("PRAGMA cache_size"))[0]  # type: ignore[index]
    await plain.close()
    db = await open_database(tmp_path / "bot.db", key=KEY)
    try:
        assert (await db.fetchone("PRAGMA cache_size"))[0] == -atrest.PAGE_CACHE_KIB  # type: ignore[index,operator]
        assert atrest.PAGE_CACHE_KIB is not None and -default < atrest.PAGE_CACHE_KIB <= 65536
    finally:
        await db.close()


async def test_a_wrong_key_is_refused_with_nothing_changed(tmp_path):
    db = await open_database(tmp_path / "bot.db", key=KEY)
    await db.execute("CREATE TABLE t (v TEXT)")
    await db.close()
    before = digest(tmp_path / "bot.db")
    names = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(KeyMismatchError, match="BOT_STORE_KEY does not open bot.db"):
        await open_database(tmp_path / "bot.db", key=OTHER)
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
        db = await open_database(path, key=KEY)
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
        db = await open_database(path, key=KEY)  # second start: nothing to migrate
        await db.close()
    assert not [r for r in caplog.records if "encrypted it in place" in r.message]


def test_doctor_wording_tells_plaintext_encrypted_and_wrong_key_apart(tmp_path):
    _plaintext_release_db(tmp_path / "plain.db")
    assert atrest.describe(tmp_path / "plain.db", KEY) == "PLAINTEXT"
    assert atrest.describe(tmp_path / "none.db", KEY) == "missing"
    atrest.connect(tmp_path / "enc.db", KEY).execute("CREATE TABLE t (v)").connection.close()
    assert atrest.describe(tmp_path / "enc.db", KEY).startswith("encrypted (SQLCipher 4")
    assert atrest.describe(tmp_path / "enc.db", OTHER).startswith("encrypted, but not with this")


@pytest.fixture
def restore_umask():
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


def test_data_dir_database_wal_and_backup_are_private_from_the_first_byte(tmp_path, monkeypatch, restore_umask):
    """The CLI sets umask 077 before anything: no chmod afterwards (one is made to fail here)."""
    from bot.ops import cli

    os.umask(0o022)  # what a shell or a container usually starts with
    data = tmp_path / "data"
    env = tmp_path / "bot.env"
    env.write_text(f"MATRIX_HOMESERVER=http://127.0.0.1:1\nMATRIX_USER_ID=@bot:example.org\nMATRIX_PASSWORD=pw\n"
                   f"BOT_DATA_DIR={data}\nBOT_HASH_KEY={base64.b64encode(b'h' * 32).decode()}\n"
                   "BOT_STORE_KEY=store-key-0123456789abcdef\n")

    def no_chmod(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("files must be created private, not chmod-ed afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    assert cli.main(["export-aggregates", "--env-file", str(env)]) == 1  # no database yet: only the umask
    data.mkdir()  # as open_database does, under the CLI's umask
    assert cli.main(["backup", str(tmp_path / "none.db"), "--env-file", str(env)]) == 1
    import asyncio

    from bot.runtime.app import db_key

    async def make() -> None:
        db = await open_database(data / "bot.db", key=db_key(_settings(env)))
        async with db.transaction():
            await db.execute("CREATE TABLE t (v)")
        wal = data / "bot.db-wal"
        assert wal.exists() and wal.stat().st_mode & 0o777 == 0o600
        await db.close()

    asyncio.run(make())
    assert cli.main(["backup", str(tmp_path / "backup.db"), "--env-file", str(env)]) == 0
    for path in (data, data / "bot.db", tmp_path / "backup.db"):
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def _settings(env: Path):  # noqa: ANN202
    from bot.config import load_settings

    return load_settings(env)
