"""Reading SQLite files the way a forensic examiner would (issue #17's tests): every page of a
database file and every frame of its WAL, decrypted with the key when the file is SQLCipher
(SQLCipher 4, raw key: each page AES-256-CBC under the file key, its IV at the start of the
page's 80-byte reserved tail; page 1's first 16 bytes are the file's salt, not encrypted), then
each B-tree page's cell pointer array and records decoded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from storage import atrest

PAGE, RESERVE, SALT = 4096, 80, 16  # SQLCipher 4 defaults (checked against the file's header)
WAL_HEADER, FRAME_HEADER = 32, 24


def decrypt_page(raw: bytes, pgno: int, key: bytes) -> bytes:
    """One SQLCipher 4 page, decrypted, laid out as SQLite's plaintext page."""
    assert len(raw) == PAGE
    iv = raw[PAGE - RESERVE:PAGE - RESERVE + 16]
    start = SALT if pgno == 1 else 0
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    body = decryptor.update(raw[start:PAGE - RESERVE]) + decryptor.finalize()
    return (atrest.PLAINTEXT_HEADER if pgno == 1 else b"") + body + bytes(RESERVE)


@dataclass(frozen=True)
class Image:
    """One page image found on disk: in the database file or in a WAL frame."""

    where: str  # "db" or "wal"
    index: int  # page number (db) or frame number (wal)
    pgno: int
    data: bytes
    commit: bool = False  # a WAL frame that ends a transaction (its header holds the file's new size)


def images(data_dir: Path, key: bytes | None) -> Iterator[Image]:
    """Every page image of bot.db and its WAL (``key`` None: a plaintext file, pages as they are)."""
    def page(raw: bytes, pgno: int) -> bytes:
        return raw if key is None else decrypt_page(raw, pgno, key)

    db = (data_dir / "bot.db").read_bytes()
    assert len(db) % PAGE == 0
    for i in range(len(db) // PAGE):
        yield Image("db", i + 1, i + 1, page(db[i * PAGE:(i + 1) * PAGE], i + 1))
    wal_path = data_dir / "bot.db-wal"
    wal = wal_path.read_bytes() if wal_path.exists() else b""
    for n, offset in enumerate(range(WAL_HEADER, len(wal) - FRAME_HEADER - PAGE + 1, FRAME_HEADER + PAGE)):
        pgno = int.from_bytes(wal[offset:offset + 4], "big")
        raw = wal[offset + FRAME_HEADER:offset + FRAME_HEADER + PAGE]
        yield Image("wal", n, pgno, page(raw, pgno), commit=int.from_bytes(wal[offset + 4:offset + 8], "big") > 0)


def varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    for j in range(8):
        byte = buf[i + j]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i + j + 1
    return (value << 8) | buf[i + 8], i + 9


def record(payload: bytes) -> list[Any]:
    """SQLite's record format: a header of serial types, then the values."""
    header_size, i = varint(payload, 0)
    types = []
    while i < header_size:
        serial, i = varint(payload, i)
        types.append(serial)
    values: list[Any] = []
    pos = header_size
    sizes = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
    for serial in types:
        if serial == 0:
            values.append(None)
        elif serial in sizes:
            n = sizes[serial]
            values.append(int.from_bytes(payload[pos:pos + n], "big", signed=True))
            pos += n
        elif serial == 7:
            values.append(payload[pos:pos + 8])
            pos += 8
        elif serial in (8, 9):
            values.append(serial - 8)
        else:
            n = (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
            chunk = payload[pos:pos + n]
            values.append(bytes(chunk) if serial % 2 == 0 else chunk.decode("utf-8", "replace"))
            pos += n
    return values


def cells(image: Image) -> list[tuple[int, list[Any]]]:
    """(offset of the cell in the page, its record) for every cell of a B-tree page with
    payloads (table leaf, index leaf or interior); other pages (free, overflow) give none."""
    page, h = image.data, (100 if image.pgno == 1 else 0)
    kind = page[h]
    if kind not in (0x02, 0x0A, 0x0D):
        return []
    count = int.from_bytes(page[h + 3:h + 5], "big")
    pointers = h + (12 if kind == 0x02 else 8)
    found = []
    for k in range(count):
        offset = int.from_bytes(page[pointers + 2 * k:pointers + 2 * k + 2], "big")
        if not 0 < offset < len(page):
            continue
        i = offset + (4 if kind == 0x02 else 0)  # an interior cell starts with its left child
        size, i = varint(page, i)
        if kind == 0x0D:
            _, i = varint(page, i)  # rowid
        try:
            found.append((offset, record(page[i:i + size])))
        except (IndexError, ValueError):
            continue  # a cell that spills to an overflow page: not one of the small member rows
    return found
