"""Anonymous polls: the question and options (sealed), the rooms they are posted to, and one
vote per member per poll.

A vote row holds only a keyed member reference made for this one poll (``member:poll:<id>``, so
votes in two polls, or a vote and a pledge, cannot be linked) and the options chosen; no time and
no order (``WITHOUT ROWID``, keyed by the hash). The result is counted once, when the poll
closes, and kept as its shown (suppressed) form; no count is ever read while the poll is open.
A poll keeps the day it closed (for retention), not the time.

Storage seals and unseals: callers pass and get plain text.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.db import Database, Schema
from storage.hashing import Keyring

QUESTION = "poll-question"  # purposes of the seals
OPTIONS = "poll-options"
ROOM = "poll-room"
DAY = 86400

SCHEMA = Schema(
    "polls",
    [
        """
        CREATE TABLE polls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slug TEXT NOT NULL UNIQUE,
            question_sealed BLOB NOT NULL,
            options_sealed BLOB NOT NULL,     -- JSON list of the option texts, sealed
            multi INTEGER NOT NULL DEFAULT 0, -- several options per vote
            closes_at INTEGER,                -- automatic close, unix seconds
            closed_day INTEGER,               -- day number the poll closed (retention); NULL while open
            result TEXT                       -- the shown (suppressed) result, JSON, written at close
        );
        CREATE INDEX polls_due ON polls (closes_at) WHERE closed_day IS NULL;
        CREATE TABLE poll_rooms (
            poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
            room_ref BLOB NOT NULL,
            room_sealed BLOB NOT NULL,
            PRIMARY KEY (poll_id, room_ref)
        ) WITHOUT ROWID;
        CREATE TABLE poll_votes (
            poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
            member_ref BLOB NOT NULL,         -- member.ref("poll:<id>")
            choices TEXT NOT NULL,            -- option numbers, sorted, comma-separated ("1,3")
            PRIMARY KEY (poll_id, member_ref)
        ) WITHOUT ROWID;
        """
    ],
)


@dataclass(frozen=True)
class Poll:
    id: int
    slug: str
    question: str
    options: tuple[str, ...]
    multi: bool
    closes_at: datetime | None
    closed: bool
    result: dict[str, Any] | None  # the shown result, once closed


def _poll(keyring: Keyring, row: Any) -> Poll:
    pid, slug, question, options, multi, closes_at, closed_day, result = row
    return Poll(int(pid), str(slug), keyring.unseal(QUESTION, question),
                tuple(json.loads(keyring.unseal(OPTIONS, options))), bool(multi),
                datetime.fromtimestamp(int(closes_at), UTC) if closes_at is not None else None,
                closed_day is not None, json.loads(str(result)) if result else None)


_COLUMNS = "id, slug, question_sealed, options_sealed, multi, closes_at, closed_day, result"


async def create(db: Database, keyring: Keyring, slug: str, question: str, options: list[str], multi: bool,
                 closes_at: datetime | None) -> int:
    return await db.insert(
        "INSERT INTO polls (slug, question_sealed, options_sealed, multi, closes_at) VALUES (?, ?, ?, ?, ?)",
        (slug, keyring.seal(QUESTION, question), keyring.seal(OPTIONS, json.dumps(options)), int(multi),
         int(closes_at.timestamp()) if closes_at else None),
    )


async def by_slug(db: Database, keyring: Keyring, slug: str) -> Poll | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM polls WHERE slug=?", (slug,))  # noqa: S608
    return _poll(keyring, tuple(row)) if row else None


async def open_polls(db: Database, keyring: Keyring) -> list[Poll]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM polls WHERE closed_day IS NULL ORDER BY slug")  # noqa: S608
    return [_poll(keyring, tuple(r)) for r in rows]


async def all_polls(db: Database, keyring: Keyring) -> list[Poll]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM polls ORDER BY slug")  # noqa: S608
    return [_poll(keyring, tuple(r)) for r in rows]


async def all_slugs(db: Database) -> list[str]:
    return [str(r[0]) for r in await db.fetchall("SELECT slug FROM polls")]


async def add_room(db: Database, keyring: Keyring, poll_id: int, room_id: str) -> bool:
    return await db.execute(
        "INSERT OR IGNORE INTO poll_rooms (poll_id, room_ref, room_sealed) VALUES (?, ?, ?)",
        (poll_id, keyring.ref(ROOM, room_id), keyring.seal(ROOM, room_id)),
    ) > 0


async def remove_room(db: Database, keyring: Keyring, poll_id: int, room_id: str) -> bool:
    return await db.execute("DELETE FROM poll_rooms WHERE poll_id=? AND room_ref=?",
                            (poll_id, keyring.ref(ROOM, room_id))) > 0


async def rooms(db: Database, keyring: Keyring, poll_id: int) -> list[str]:
    rows = await db.fetchall("SELECT room_sealed FROM poll_rooms WHERE poll_id=?", (poll_id,))
    return sorted(keyring.unseal(ROOM, r[0]) for r in rows)


async def vote(db: Database, poll_id: int, member_ref: bytes, choices: list[int]) -> bool:
    """Record or replace a member's vote; ``True`` if they had voted before."""
    before = await db.fetchone("SELECT 1 FROM poll_votes WHERE poll_id=? AND member_ref=?", (poll_id, member_ref))
    await db.execute(
        "INSERT INTO poll_votes (poll_id, member_ref, choices) VALUES (?, ?, ?) "
        "ON CONFLICT (poll_id, member_ref) DO UPDATE SET choices=excluded.choices",
        (poll_id, member_ref, ",".join(str(c) for c in sorted(set(choices)))),
    )
    return before is not None


async def vote_of(db: Database, poll_id: int, member_ref: bytes) -> list[int] | None:
    row = await db.fetchone("SELECT choices FROM poll_votes WHERE poll_id=? AND member_ref=?", (poll_id, member_ref))
    return [int(c) for c in str(row[0]).split(",")] if row else None


async def unvote(db: Database, poll_id: int, member_ref: bytes) -> int:
    return await db.execute("DELETE FROM poll_votes WHERE poll_id=? AND member_ref=?", (poll_id, member_ref))


async def count(db: Database, poll_id: int, options: int) -> tuple[int, list[int]]:
    """(voters, votes per option): read once, at the close."""
    rows = await db.fetchall("SELECT choices FROM poll_votes WHERE poll_id=?", (poll_id,))
    tally: Counter[int] = Counter()
    for row in rows:
        tally.update(int(c) for c in str(row[0]).split(","))
    return len(rows), [tally.get(i, 0) for i in range(1, options + 1)]


async def close(db: Database, poll_id: int, now: datetime, result: dict[str, object]) -> bool:
    """Close once, keeping the shown result; ``False`` if it was closed already."""
    return await db.execute(
        "UPDATE polls SET closed_day=?, result=? WHERE id=? AND closed_day IS NULL",
        (int(now.timestamp()) // DAY, json.dumps(result), poll_id),
    ) > 0


async def due(db: Database, keyring: Keyring, now: datetime) -> list[Poll]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM polls WHERE closed_day IS NULL AND closes_at <= ? ORDER BY closes_at",  # noqa: S608
        (int(now.timestamp()),))
    return [_poll(keyring, tuple(r)) for r in rows]


async def next_close(db: Database) -> datetime | None:
    row = await db.fetchone("SELECT min(closes_at) FROM polls WHERE closed_day IS NULL")
    return datetime.fromtimestamp(int(row[0]), UTC) if row and row[0] is not None else None


async def delete_closed_before(db: Database, cutoff: datetime) -> int:
    """Retention: closed polls (and their rooms and votes) whose close day is before ``cutoff``."""
    return await db.execute("DELETE FROM polls WHERE closed_day IS NOT NULL AND closed_day < ?",
                            (int(cutoff.timestamp()) // DAY,))
