"""The bot's own bookkeeping: handled events, the outbox, per-room flags.

Event and room IDs are stored as keyed references; what the outbox must later send (the
room and the message) is sealed with AES-GCM, so the table reveals neither.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from storage.db import Database
from storage.hashing import Keyring

EVENT_TTL_SECONDS = 14 * 24 * 3600


async def already_handled(db: Database, keyring: Keyring, event_id: str) -> bool:
    row = await db.fetchone(
        "SELECT 1 FROM processed_events WHERE event_ref=?", (keyring.ref("event", event_id),)
    )
    return row is not None


async def mark_handled(db: Database, keyring: Keyring, event_id: str, now: float | None = None) -> None:
    expires = int((now or time.time()) + EVENT_TTL_SECONDS)
    await db.execute(
        "INSERT OR IGNORE INTO processed_events (event_ref, expires_at) VALUES (?, ?)",
        (keyring.ref("event", event_id), expires),
    )


async def expire_handled(db: Database, now: float | None = None) -> int:
    return await db.execute("DELETE FROM processed_events WHERE expires_at < ?", (int(now or time.time()),),
                            slow=True)


@dataclass(frozen=True)
class Outgoing:
    id: int
    txn_id: str
    room_id: str
    payload: dict[str, Any]


async def enqueue(db: Database, keyring: Keyring, txn_id: str, room_id: str, payload: dict[str, Any]) -> None:
    """Queue a message; the same ``txn_id`` is reused on every retry, so the homeserver
    de-duplicates a resend after a crash."""
    await db.execute(
        "INSERT OR IGNORE INTO outbox (txn_id, room_sealed, payload_sealed, created_at) VALUES (?, ?, ?, ?)",
        (txn_id, keyring.seal("outbox", room_id), keyring.seal("outbox", json.dumps(payload)), int(time.time())),
    )


async def pending(db: Database, keyring: Keyring, limit: int = 100) -> list[Outgoing]:
    rows = await db.fetchall(
        "SELECT id, txn_id, room_sealed, payload_sealed FROM outbox ORDER BY id LIMIT ?", (limit,)
    )
    return [
        Outgoing(row[0], row[1], keyring.unseal("outbox", row[2]), json.loads(keyring.unseal("outbox", row[3])))
        for row in rows
    ]


async def done(db: Database, outgoing_id: int) -> None:
    await db.execute("DELETE FROM outbox WHERE id=?", (outgoing_id,))


async def get_flag(db: Database, keyring: Keyring, room_id: str, flag: str) -> int | None:
    row = await db.fetchone(
        "SELECT value FROM room_flags WHERE room_ref=? AND flag=?", (keyring.ref("room", room_id), flag)
    )
    return row[0] if row else None


async def set_flag(db: Database, keyring: Keyring, room_id: str, flag: str, value: int = 1) -> bool:
    """Set a flag; returns ``True`` if it was not set before (for say-it-once notices)."""
    changed = await db.execute(
        "INSERT OR IGNORE INTO room_flags (room_ref, flag, value) VALUES (?, ?, ?)",
        (keyring.ref("room", room_id), flag, value),
    )
    return bool(changed)


async def lower_flag(db: Database, keyring: Keyring, room_id: str, flag: str, value: int) -> bool:
    """Lower a set flag's value to ``value`` (never raise it); ``True`` if it changed. (#15-launch:
    a room's "joined at" cut-off moves back to the bot's invite, see bot/burst.py.)"""
    changed = await db.execute(
        "UPDATE room_flags SET value=? WHERE room_ref=? AND flag=? AND value>?",
        (value, keyring.ref("room", room_id), flag, value),
    )
    return bool(changed)


async def rooms_with_flag(db: Database, flag: str) -> set[bytes]:
    """The keyed references of every room with ``flag`` set."""
    rows = await db.fetchall("SELECT room_ref FROM room_flags WHERE flag=?", (flag,))
    return {bytes(row[0]) for row in rows}
