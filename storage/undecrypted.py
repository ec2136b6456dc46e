"""Messages the bot could not decrypt yet, kept until their room key arrives.

A row is found by the keyed reference of its event ID (one row per event) and of its Megolm
session ID (a key that arrives for that session finds its rows), and by the keyed reference of
its sender (so ``!forget`` finds a member's rows, and a sender's rows are capped:
:data:`PER_SENDER`). Only campaign members' events are kept (``bot/runtime/intake.py``). The event itself, its room and the time it
arrived are sealed (AES-GCM) under this domain's purpose; nothing else is in clear: the expiry
is a day number, and the row ID is random (rows are ordered by the sealed arrival time, so
neither the B-tree nor an ID keeps the order they came in; issue #17). The flag saying "told about an unreadable message" is a member flag of
:class:`storage.core.EventBook` whose value is a day number, never a finer time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from storage.db import Database, Schema
from storage.hashing import Keyring, Member, random_id

SEAL = "undecrypted"
KEEP_DAYS = 2  # a key that has not come in a day or two is not coming
PER_SENDER = 20  # rows kept per sender at most; their oldest go first
DAY = 86400
TOLD_FLAG = "told_undecryptable"  # the EventBook member flag "told once", its value a day number

SCHEMA = Schema(
    "undecrypted",
    [
        """
        -- undecryptable events waiting for their room key; event, room and arrival time sealed
        CREATE TABLE undecrypted (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_ref BLOB NOT NULL UNIQUE,
            session_ref BLOB NOT NULL,
            member_ref BLOB NOT NULL,
            sealed BLOB NOT NULL,
            expires_day INTEGER NOT NULL,
            graced INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX undecrypted_session ON undecrypted (session_ref);
        CREATE INDEX undecrypted_member ON undecrypted (member_ref);
        CREATE INDEX undecrypted_graced ON undecrypted (graced);
        CREATE INDEX undecrypted_expiry ON undecrypted (expires_day);
        """,
        # 2 (issue #17): a random ID in a WITHOUT ROWID table instead of a counting one (the order
        # is the sealed arrival time's); rows kept, indexes recreated
        """
        CREATE TABLE undecrypted_v2 (
            id INTEGER PRIMARY KEY,             -- storage.hashing.random_id()
            event_ref BLOB NOT NULL UNIQUE,
            session_ref BLOB NOT NULL,
            member_ref BLOB NOT NULL,
            sealed BLOB NOT NULL,
            expires_day INTEGER NOT NULL,
            graced INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        INSERT INTO undecrypted_v2 (id, event_ref, session_ref, member_ref, sealed, expires_day, graced)
            SELECT abs(random() >> 2), event_ref, session_ref, member_ref, sealed, expires_day, graced
            FROM undecrypted ORDER BY event_ref;
        DROP TABLE undecrypted;
        ALTER TABLE undecrypted_v2 RENAME TO undecrypted;
        CREATE INDEX undecrypted_session ON undecrypted (session_ref);
        CREATE INDEX undecrypted_member ON undecrypted (member_ref);
        CREATE INDEX undecrypted_graced ON undecrypted (graced);
        CREATE INDEX undecrypted_expiry ON undecrypted (expires_day);
        """,
    ],
)


@dataclass(frozen=True)
class Waiting:
    """One kept event: ``source`` is the event JSON as the homeserver sent it."""

    id: int
    room_id: str
    source: dict[str, Any]
    seen: float
    dm: bool
    graced: bool
    arrival: int = 0  # nanoseconds when kept (sealed): orders rows kept within the same ``seen``

    @property
    def sender(self) -> str:
        return str(self.source.get("sender", ""))

    @property
    def event_id(self) -> str:
        return str(self.source.get("event_id", ""))


def today(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // DAY)


async def keep(db: Database, keyring: Keyring, room_id: str, source: dict[str, Any], session_id: str,
               dm: bool, now: float | None = None, cap: int = PER_SENDER) -> int:
    """Keep an event (once: a second copy of the same event is ignored); returns how many rows
    were added (0 or 1). Beyond ``cap`` rows of the same sender, that sender's oldest goes: the
    work per insert is bounded by ``cap`` (one sender's rows are unsealed, never the table's), and
    a flood from one sender never evicts another's waiting message (issue #23)."""
    now = time.time() if now is None else now
    blob = json.dumps({"room_id": room_id, "event": source, "seen": now, "dm": dm, "arrival": time.time_ns()})
    sender_ref = _member_ref(keyring, str(source.get("sender", "")))
    new = await db.execute(
        "INSERT OR IGNORE INTO undecrypted (id, event_ref, session_ref, member_ref, sealed, expires_day) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (random_id(), keyring.ref("undecrypted:event", str(source.get("event_id", ""))),
         keyring.ref("undecrypted:session", session_id), sender_ref, keyring.seal(SEAL, blob), today(now) + KEEP_DAYS),
    )
    if not new:
        return 0
    rows = await db.fetchall("SELECT id, sealed, graced FROM undecrypted WHERE member_ref=? LIMIT ?",
                             (sender_ref, cap + 2))
    if len(rows) <= cap:
        return 1
    theirs = _oldest_first([_waiting(keyring, row) for row in rows])  # the order is sealed: unseal theirs
    for waiting in theirs[:len(theirs) - cap]:
        await forget(db, waiting.id)
    return 1 - (len(theirs) - cap)


def _member_ref(keyring: Keyring, user_id: str) -> bytes:
    return Member(keyring, user_id).ref(SEAL)


def _waiting(keyring: Keyring, row: Any) -> Waiting:
    data = json.loads(keyring.unseal(SEAL, row[1]))
    return Waiting(row[0], data["room_id"], data["event"], float(data["seen"]), bool(data["dm"]), bool(row[2]),
                   int(data.get("arrival", 0)))


def _oldest_first(kept: list[Waiting]) -> list[Waiting]:
    return sorted(kept, key=lambda w: (w.seen, w.arrival))


async def for_sessions(db: Database, keyring: Keyring, session_ids: list[str]) -> list[Waiting]:
    """The kept events encrypted with any of these Megolm sessions, oldest first."""
    rows = []
    for session_id in dict.fromkeys(session_ids):
        rows += await db.fetchall("SELECT id, sealed, graced FROM undecrypted WHERE session_ref=?",
                                  (keyring.ref("undecrypted:session", session_id),))
    return _oldest_first([_waiting(keyring, row) for row in rows])


async def every(db: Database, keyring: Keyring) -> list[Waiting]:
    rows = await db.fetchall("SELECT id, sealed, graced FROM undecrypted")
    return _oldest_first([_waiting(keyring, row) for row in rows])


async def ungraced(db: Database, keyring: Keyring) -> list[Waiting]:
    """Kept events whose grace period has not been dealt with yet (see :func:`mark_graced`)."""
    rows = await db.fetchall("SELECT id, sealed, graced FROM undecrypted WHERE graced=0")
    return _oldest_first([_waiting(keyring, row) for row in rows])


async def mark_graced(db: Database, waiting_id: int) -> None:
    await db.execute("UPDATE undecrypted SET graced=1 WHERE id=?", (waiting_id,))


async def forget(db: Database, waiting_id: int) -> None:
    await db.execute("DELETE FROM undecrypted WHERE id=?", (waiting_id,))


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM undecrypted")
    return int(row[0]) if row else 0


async def count_of(db: Database, member: Member) -> int:
    """How many kept events this member sent (``!mydata``)."""
    row = await db.fetchone("SELECT COUNT(*) FROM undecrypted WHERE member_ref=?", (member.ref(SEAL),))
    return int(row[0]) if row else 0


async def forget_member(db: Database, member: Member) -> int:
    """Delete every kept event this member sent (``!forget``); returns how many."""
    return await db.execute("DELETE FROM undecrypted WHERE member_ref=?", (member.ref(SEAL),))


async def expire(db: Database, now: float | None = None) -> int:
    """Drop events past their keep time; returns how many."""
    return await db.execute("DELETE FROM undecrypted WHERE expires_day < ?", (today(now),))
