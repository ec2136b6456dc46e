"""The anonymous hotline (issue 26): question numbers and the sealed link to each asker.

A question row holds its number, the link to its asker sealed with AES-GCM (their DM room, to
deliver the answer, and their keyed reference for blocking, sealed together: without the key
the row names nobody), whether it was answered and when the row is deleted, rounded up to a
whole day (UTC). Never the question's or the answer's text: those only pass through the outbox.
The row is deleted a retention period after the answer (``BOT_QUESTION_RETENTION_DAYS``), after
``OPEN_DAYS`` unanswered, and when its member types ``!forget`` or ``!leave``. Blocked askers
are kept by keyed reference only.

Storage seals and unseals: callers pass a plain room ID and a :class:`storage.hashing.Member`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Database, Schema
from storage.hashing import Keyring, Member

PURPOSE = "hotline"  # the seal of a question's link
BLOCK_PURPOSE = "hotline-block"  # Member.ref: blocked askers, and the asker inside the seal
OPEN_DAYS = 30  # an unanswered question's link is kept this long after the last follow-up
_LAST = "hotline_last_number"

SCHEMA = Schema(
    "hotline",
    [
        """
        CREATE TABLE hotline_questions (
            number INTEGER PRIMARY KEY,
            link_sealed BLOB NOT NULL,      -- seal("hotline", {"room": DM room ID, "who": block ref})
            answered INTEGER NOT NULL DEFAULT 0,
            delete_at INTEGER NOT NULL      -- unix seconds, a whole UTC day
        );
        CREATE INDEX hotline_delete_at ON hotline_questions (delete_at);
        CREATE TABLE hotline_blocked (member_ref BLOB PRIMARY KEY) WITHOUT ROWID;
        """
    ],
)


@dataclass(frozen=True)
class Link:
    number: int
    room_id: str  # the asker's DM with the bot
    who: str  # the asker's keyed reference (hex) under BLOCK_PURPOSE
    answered: bool


def day_after(moment: datetime, days: int) -> int:
    """``moment`` plus ``days``, rounded up to the next midnight UTC (unix seconds)."""
    later = (moment + timedelta(days=days)).astimezone(UTC)
    midnight = later.replace(hour=0, minute=0, second=0, microsecond=0)
    return int((midnight + timedelta(days=1) if midnight < later else midnight).timestamp())


async def _links(db: Database, keyring: Keyring) -> list[Link]:
    found = []
    for number, sealed, answered in await db.fetchall("SELECT number, link_sealed, answered FROM hotline_questions"):
        try:
            link = json.loads(keyring.unseal(PURPOSE, bytes(sealed)))
        except Exception:  # noqa: BLE001 - sealed under another key: nobody's to reach
            continue
        found.append(Link(int(number), str(link["room"]), str(link["who"]), bool(answered)))
    return found


async def mine(db: Database, keyring: Keyring, member: Member) -> list[Link]:
    """The member's questions whose link is still kept."""
    who = member.ref(BLOCK_PURPOSE).hex()
    return [link for link in await _links(db, keyring) if link.who == who]


async def ask(db: Database, keyring: Keyring, member: Member, room_id: str, now: datetime) -> int:
    """Record a question (or a follow-up on the member's open one) asked in DM ``room_id``; its number."""
    delete_at = day_after(now, OPEN_DAYS)
    kept = await mine(db, keyring, member)
    if kept:
        number = max(link.number for link in kept)
        await db.execute("UPDATE hotline_questions SET answered=0, delete_at=MAX(delete_at, ?) WHERE number=?",
                         (delete_at, number))
        return number
    number = int(await db.get_meta(_LAST) or "0") + 1
    await db.set_meta(_LAST, str(number))
    sealed = keyring.seal(PURPOSE, json.dumps({"room": room_id, "who": member.ref(BLOCK_PURPOSE).hex()}))
    await db.execute("INSERT INTO hotline_questions (number, link_sealed, delete_at) VALUES (?, ?, ?)",
                     (number, sealed, delete_at))
    return number


async def open_count(db: Database) -> int:
    """How many questions await an answer (for the coordinators' digest, which suppresses it)."""
    row = await db.fetchone("SELECT count(*) FROM hotline_questions WHERE answered = 0")
    return int(row[0]) if row else 0


async def link(db: Database, keyring: Keyring, number: int) -> Link | None:
    return next((found for found in await _links(db, keyring) if found.number == number), None)


async def answered(db: Database, number: int, now: datetime, retention_days: int) -> None:
    """The coordinators answered: the link goes ``retention_days`` later (whole days)."""
    await db.execute("UPDATE hotline_questions SET answered=1, delete_at=? WHERE number=?",
                     (day_after(now, retention_days), number))


async def block(db: Database, who: str) -> bool:
    """Block the asker whose keyed reference (hex, from a :class:`Link`) is ``who``."""
    return await db.execute("INSERT OR IGNORE INTO hotline_blocked (member_ref) VALUES (?)",
                            (bytes.fromhex(who),)) > 0


async def is_blocked(db: Database, member: Member) -> bool:
    return await db.fetchone("SELECT 1 FROM hotline_blocked WHERE member_ref=?",
                             (member.ref(BLOCK_PURPOSE),)) is not None


async def forget(db: Database, keyring: Keyring, member: Member) -> int:
    """Delete the member's question links and their block; rows deleted."""
    deleted = 0
    for found in await mine(db, keyring, member):
        deleted += await db.execute("DELETE FROM hotline_questions WHERE number=?", (found.number,))
    deleted += await db.execute("DELETE FROM hotline_blocked WHERE member_ref=?", (member.ref(BLOCK_PURPOSE),))
    return deleted


async def next_delete(db: Database) -> datetime | None:
    row = await db.fetchone("SELECT MIN(delete_at) FROM hotline_questions")
    return None if row is None or row[0] is None else datetime.fromtimestamp(int(row[0]), UTC)


async def purge(db: Database, now: datetime) -> int:
    """Delete the links whose time has come."""
    return await db.execute("DELETE FROM hotline_questions WHERE delete_at <= ?", (int(now.timestamp()),))
