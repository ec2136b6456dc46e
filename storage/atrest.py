"""Encryption at rest: every SQLite file the bot writes is a SQLCipher database.

Each file has its own raw 256-bit key, derived with HKDF-SHA256 from ``BOT_STORE_KEY`` and
the file's *purpose* (``bot.db`` and its backups share one key, so a backup is restored by
copying it back; the E2EE store has its own). Raw keys (``PRAGMA key = "x'…'"``) skip
SQLCipher's passphrase KDF, so opening a file costs no 256 000 PBKDF2 rounds.

A plaintext ``bot.db`` made by an earlier release is encrypted in place on first start
(:func:`encrypt_in_place`): its WAL is folded in, the data exported into a new encrypted
file (``sqlcipher_export``) that atomically replaces the old one, and the old file's bytes
are overwritten. A file that is encrypted under another key is refused before anything is
written (:class:`WrongKeyError`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlcipher3 import dbapi2 as sqlcipher

log = logging.getLogger("organizer_bot.atrest")

DB_PURPOSE = "bot.db"  # bot.db, its WAL and every `organizer-bot backup` copy
E2EE_PURPOSE = "e2ee-store"  # nio's store (olm account, sessions, devices, trust)
SESSION_PURPOSE = "session"  # the bot's saved login, session.enc (bot/e2ee/saved_session.py)
_INFO_PREFIX = b"organizer-bot/v1/at-rest:"
PLAINTEXT_HEADER = b"SQLite format 3\x00"
_NOT_A_DATABASE = 26  # SQLITE_NOTADB: what a wrong key (or no key) gives
# SQLite's page cache on bot.db's main encrypted connection, in KiB (SQLite's default is 2 MB).
# The OS cache holds only ciphertext, so every page read from outside this cache is decrypted
# and its HMAC checked again; a cache that holds the working set keeps hot pages decrypted.
# Allocated as pages are read (a small database never uses it all). None: SQLite's default.
PAGE_CACHE_KIB: int | None = 65536
# cipher_memory_security (zeroing and mlock of memory SQLCipher frees) stays at its default,
# OFF since SQLCipher 4.5: it only protects a running process's memory, and that process holds
# the keys anyway (see SECURITY.md: a running server seized with its keys reveals its data).


class WrongKeyError(Exception):
    """The file is encrypted, but not under this key. Nothing was changed."""


def file_key(store_key: str, purpose: str) -> bytes:
    """The raw 32-byte SQLCipher key of one file purpose."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO_PREFIX + purpose.encode())
    return hkdf.derive(store_key.encode())


def key_pragma(key: bytes, schema: str = "") -> str:
    """``PRAGMA [schema.]key = "x'<hex>'"`` (a raw key: no passphrase derivation)."""
    prefix = f"{schema}." if schema else ""
    return f"PRAGMA {prefix}key = \"x'{key.hex()}'\""


def is_plaintext(path: Path) -> bool:
    """True for a plain SQLite file (its first 16 bytes are SQLite's magic header)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == PLAINTEXT_HEADER
    except FileNotFoundError:
        return False


def connect(path: Path | str, key: bytes | None, **kwargs: Any) -> Any:
    """A sqlcipher3 connection, keyed when ``key`` is given, checked to open: a wrong key
    raises :class:`WrongKeyError` before any statement could write. Every connection has
    ``secure_delete`` on: a deleted cell and a freed page are overwritten with zeros, so a
    removed row (``!forget``, retention, a rebuilt table's old pages) leaves no bytes behind."""
    conn = sqlcipher.connect(str(path), **kwargs)
    try:
        if key is not None:
            conn.execute("PRAGMA cipher_log_level = NONE").close()
            conn.execute(key_pragma(key)).close()
        conn.execute("SELECT count(*) FROM sqlite_master").close()
        conn.execute("PRAGMA secure_delete = ON").close()
    except sqlcipher.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) == _NOT_A_DATABASE:
            raise WrongKeyError(f"{Path(str(path)).name} does not open with this key") from None
        raise
    except BaseException:
        conn.close()
        raise
    return conn


def encrypt_in_place(path: Path, key: bytes) -> bool:
    """If ``path`` is a plaintext SQLite database, replace it with an encrypted copy under
    ``key`` (WAL folded in first). Returns True when it did. Crash-safe: until the final
    rename the plaintext file is untouched; a half-written copy is removed on the next try."""
    tmp = path.with_name(path.name + ".encrypting")
    tmp.unlink(missing_ok=True)
    if not is_plaintext(path):
        return False
    export_encrypted(path, tmp, key)
    _fsync(tmp)
    with open(path, "r+b", buffering=0) as old:  # keep the old inode to overwrite it after the swap
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        overwrite(old)
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)  # plaintext side files of the old database
    return True


def export_encrypted(source: Path, target: Path, key: bytes) -> None:
    """Copy the plaintext SQLite database ``source`` (its WAL folded in first) into a new
    encrypted database ``target`` under ``key``; ``source`` keeps its content."""
    plain = sqlcipher.connect(str(source), isolation_level=None)
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        version = plain.execute("PRAGMA user_version").fetchone()[0]
        plain.execute(f"ATTACH DATABASE ? AS enc KEY \"x'{key.hex()}'\"", (str(target),)).close()
        plain.execute("SELECT sqlcipher_export('enc')").close()
        plain.execute(f"PRAGMA enc.user_version = {int(version)}").close()
        plain.execute("DETACH DATABASE enc").close()
        plain.execute("PRAGMA journal_mode=DELETE").close()  # drops the (empty) plaintext WAL
    finally:
        plain.close()


def write_private(path: Path, text: str, *, durable: bool = False) -> None:
    """Write a file only the bot's user can read (0600), atomically; ``durable`` flushes it to
    disk first (the saved login), the others (health, key rotation time) are rewritten often."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


def shred(path: Path) -> bool:
    """Overwrite a file with random bytes (flushed to disk), then delete it. False if it did
    not exist. The one shredder: ``burn`` (key files, E2EE store, session) and the E2EE store's
    plaintext leftovers both use it."""
    try:
        with open(path, "r+b", buffering=0) as handle:
            overwrite(handle)
    except FileNotFoundError:
        return False
    path.unlink()
    return True


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def overwrite(handle: Any) -> None:
    """Overwrite an open file with random bytes (its blocks, where the filesystem writes in
    place; copy-on-write filesystems and SSDs may keep the old blocks: see SECURITY.md)."""
    size = os.fstat(handle.fileno()).st_size
    chunk = 1 << 20
    for offset in range(0, size, chunk):
        handle.write(os.urandom(min(chunk, size - offset)))
    os.fsync(handle.fileno())


def describe(path: Path, key: bytes) -> str:
    """For ``doctor``: 'encrypted (SQLCipher …)', 'PLAINTEXT', 'missing' or 'wrong key'."""
    if not path.exists():
        return "missing"
    if is_plaintext(path):
        return "PLAINTEXT"
    try:
        conn = connect(path, key)
    except WrongKeyError:
        return "encrypted, but not with this BOT_STORE_KEY"
    try:
        version = conn.execute("PRAGMA cipher_version").fetchone()[0]
    finally:
        conn.close()
    return f"encrypted (SQLCipher {version}, AES-256, raw key from BOT_STORE_KEY)"
