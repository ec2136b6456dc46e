"""Actions (scheduled calls to action in a room), their reminders, personal reminders and
pending confirmations (broadcasts, room links).

Nothing here names a member or a room in the clear: rooms the bot must reach later are sealed
(AES-GCM) and looked up by keyed reference; action and reminder texts are sealed too; the owner of
a personal reminder is a keyed member reference. Times are UTC milliseconds since the epoch: due
times exactly (reminders must go out on time), an action's creation to the day (``day_ms``,
only retention reads it); a personal reminder keeps the day it was done, its zone sealed, and a
random ID (issue #17).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.db import Database, Schema
from storage.hashing import Keyring, random_id
from storage.times import DAY_MS, day_ms

ROOM = "action-room"  # purpose of room refs and seals
TEXT = "action-text"
DM = "reminder-dm"
CONFIRM = "confirm"
ZONE = "reminder-zone"

SCHEMA = Schema(
    "actions",
    [
        """
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            room_ref BLOB NOT NULL,
            room_sealed BLOB NOT NULL,
            text_sealed BLOB NOT NULL,
            zone TEXT NOT NULL,
            anchor TEXT NOT NULL,          -- first occurrence, ISO with offset (wall time for recurrence)
            occurs_at INTEGER NOT NULL,    -- current (next) occurrence, UTC ms
            recurrence TEXT,               -- Recurrence.spec or NULL
            leads TEXT NOT NULL,           -- lead seconds, comma separated
            cancelled INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL    -- UTC ms; since step 2 the start of the day (retention only)
        );
        CREATE INDEX actions_room ON actions (room_ref, cancelled);
        -- other rooms that also get an action's reminders
        CREATE TABLE action_rooms (
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            room_ref BLOB NOT NULL,
            room_sealed BLOB NOT NULL,
            PRIMARY KEY (action_id, room_ref)
        );
        -- one row per reminder to post: each lead time and the occurrence itself (lead 0)
        CREATE TABLE action_reminders (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            occurs_at INTEGER NOT NULL,
            lead_s INTEGER NOT NULL,
            due_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | skipped
            UNIQUE (action_id, occurs_at, lead_s)
        );
        CREATE INDEX action_reminders_due ON action_reminders (due_at) WHERE state = 'pending';
        CREATE TABLE personal_reminders (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            member_ref BLOB NOT NULL,
            dm_sealed BLOB NOT NULL,
            text_sealed BLOB NOT NULL,
            zone TEXT NOT NULL,
            due_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            done_at INTEGER
        );
        CREATE INDEX personal_reminders_due ON personal_reminders (due_at) WHERE state = 'pending';
        CREATE INDEX personal_reminders_member ON personal_reminders (member_ref);
        -- what a `!confirm CODE` would do: a broadcast, or linking a room to an action
        CREATE TABLE confirmations (
            code TEXT NOT NULL,
            room_ref BLOB NOT NULL,
            member_ref BLOB NOT NULL,
            kind TEXT NOT NULL,
            payload_sealed BLOB NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (room_ref, code)
        );
        """,
        # 2 (issue #17): the member-linked tables keep no order and no fine time. Personal
        # reminders get a random ID (the old ones counted up in the order members asked) in a
        # WITHOUT ROWID table, the day they were done instead of the millisecond, and their zone
        # sealed (rows written before this step keep theirs in clear until retention removes
        # them: a migration has no key). Pending confirmations become WITHOUT ROWID.
        """
        CREATE TABLE personal_reminders_v2 (
            id INTEGER PRIMARY KEY,        -- random (storage.hashing.random_id), not a sequence
            member_ref BLOB NOT NULL,
            dm_sealed BLOB NOT NULL,
            text_sealed BLOB NOT NULL,
            zone BLOB NOT NULL,            -- keyring.seal("reminder-zone", zone); TEXT: written before step 2
            due_at INTEGER NOT NULL,       -- when to send it, UTC ms (the feature needs the time)
            state TEXT NOT NULL DEFAULT 'pending',
            done_day INTEGER               -- day number (UTC) it was sent or skipped
        ) WITHOUT ROWID;
        INSERT INTO personal_reminders_v2 (id, member_ref, dm_sealed, text_sealed, zone, due_at, state, done_day)
            SELECT abs(random() >> 2), member_ref, dm_sealed, text_sealed, zone, due_at, state, done_at / 86400000
            FROM personal_reminders ORDER BY member_ref;
        DROP TABLE personal_reminders;
        ALTER TABLE personal_reminders_v2 RENAME TO personal_reminders;
        CREATE INDEX personal_reminders_due ON personal_reminders (due_at) WHERE state = 'pending';
        CREATE INDEX personal_reminders_member ON personal_reminders (member_ref);
        CREATE TABLE confirmations_v2 (
            code TEXT NOT NULL,
            room_ref BLOB NOT NULL,
            member_ref BLOB NOT NULL,
            kind TEXT NOT NULL,
            payload_sealed BLOB NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (room_ref, code)
        ) WITHOUT ROWID;
        INSERT INTO confirmations_v2 SELECT code, room_ref, member_ref, kind, payload_sealed, expires_at
            FROM confirmations ORDER BY room_ref, code;
        DROP TABLE confirmations;
        ALTER TABLE confirmations_v2 RENAME TO confirmations;
        UPDATE actions SET created_at = created_at / 86400000 * 86400000;
        """,
    ],
)


def ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True)
class Action:
    id: int
    room_id: str
    text: str
    zone: str
    anchor: datetime
    occurs_at: datetime
    recurrence: str | None
    leads: tuple[int, ...]
    cancelled: bool


_ACTION_COLS = "id, room_sealed, text_sealed, zone, anchor, occurs_at, recurrence, leads, cancelled"


def _action(keyring: Keyring, row: Any) -> Action:
    leads = tuple(int(x) for x in row[7].split(",") if x)
    return Action(row[0], keyring.unseal(ROOM, row[1]), keyring.unseal(TEXT, row[2]), row[3],
                  datetime.fromisoformat(row[4]), from_ms(row[5]), row[6], leads, bool(row[8]))


async def add_action(db: Database, keyring: Keyring, *, room_id: str, text: str, zone: str, anchor: datetime,
                     recurrence: str | None, leads: list[int], now: datetime) -> int:
    return await db.insert(
        "INSERT INTO actions (room_ref, room_sealed, text_sealed, zone, anchor, occurs_at, recurrence, leads,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (keyring.ref(ROOM, room_id), keyring.seal(ROOM, room_id), keyring.seal(TEXT, text), zone,
         anchor.isoformat(), ms(anchor), recurrence, ",".join(str(x) for x in leads), day_ms(now)),
    )


async def get_action(db: Database, keyring: Keyring, action_id: int) -> Action | None:
    row = await db.fetchone(f"SELECT {_ACTION_COLS} FROM actions WHERE id=?", (action_id,))
    return _action(keyring, row) if row else None


async def action_in_room(db: Database, keyring: Keyring, action_id: int, room_id: str) -> Action | None:
    """The live action ``action_id`` if it was scheduled in ``room_id``."""
    row = await db.fetchone(f"SELECT {_ACTION_COLS} FROM actions WHERE id=? AND room_ref=? AND cancelled=0",
                            (action_id, keyring.ref(ROOM, room_id)))
    return _action(keyring, row) if row else None


async def upcoming(db: Database, keyring: Keyring, room_id: str,
                   limit: int | None = None) -> tuple[list[tuple[Action, bool]], int]:
    """Live actions this room gets reminders for, soonest first: up to ``limit`` of them as
    (action, scheduled here), and how many there are in all (only the listed ones are unsealed)."""
    ref = keyring.ref(ROOM, room_id)
    rows = await db.fetchall(
        f"SELECT {_ACTION_COLS}, room_ref = ?, count(*) OVER () FROM actions WHERE cancelled=0 AND (room_ref=? "
        "OR id IN (SELECT action_id FROM action_rooms WHERE room_ref=?)) AND EXISTS (SELECT 1 FROM "
        "action_reminders r WHERE r.action_id = actions.id AND r.state='pending') ORDER BY occurs_at, id LIMIT ?",
        (ref, ref, ref, -1 if limit is None else limit),
    )
    return [(_action(keyring, row), bool(row[9])) for row in rows], (rows[0][10] if rows else 0)


async def between(db: Database, keyring: Keyring, start: datetime, end: datetime) -> list[Action]:
    """Live actions whose next occurrence is in ``[start, end)``, soonest first (the digest's week)."""
    rows = await db.fetchall(f"SELECT {_ACTION_COLS} FROM actions WHERE cancelled=0 AND occurs_at >= ? "
                             "AND occurs_at < ? ORDER BY occurs_at, id LIMIT 50", (ms(start), ms(end)))
    return [_action(keyring, row) for row in rows]


async def cancel_action(db: Database, action_id: int) -> int:
    await db.execute("UPDATE action_reminders SET state='skipped' WHERE action_id=? AND state='pending'",
                     (action_id,))
    return await db.execute("UPDATE actions SET cancelled=1 WHERE id=? AND cancelled=0", (action_id,))


async def set_occurrence(db: Database, action_id: int, occurs_at: datetime) -> None:
    await db.execute("UPDATE actions SET occurs_at=? WHERE id=?", (ms(occurs_at), action_id))


async def add_reminders(db: Database, action_id: int, occurs_at: datetime, leads: list[int],
                        not_before: datetime) -> list[int]:
    """Rows for the occurrence itself and each lead time due at or after ``not_before``;
    returns the leads (seconds) kept, 0 being the occurrence itself."""
    kept = []
    occ = ms(occurs_at)
    for lead in sorted({0, *leads}, reverse=True):
        due = occ - lead * 1000
        if due < ms(not_before) and lead:
            continue
        await db.execute(
            "INSERT OR IGNORE INTO action_reminders (action_id, occurs_at, lead_s, due_at) VALUES (?, ?, ?, ?)",
            (action_id, occ, lead, due),
        )
        kept.append(lead)
    return kept


async def extra_rooms(db: Database, keyring: Keyring, action_id: int) -> list[str]:
    rows = await db.fetchall("SELECT room_sealed FROM action_rooms WHERE action_id=?", (action_id,))
    return [keyring.unseal(ROOM, row[0]) for row in rows]


async def link_room(db: Database, keyring: Keyring, action_id: int, room_id: str) -> bool:
    return bool(await db.execute(
        "INSERT OR IGNORE INTO action_rooms (action_id, room_ref, room_sealed) VALUES (?, ?, ?)",
        (action_id, keyring.ref(ROOM, room_id), keyring.seal(ROOM, room_id)),
    ))


async def unlink_room(db: Database, keyring: Keyring, action_id: int, room_id: str) -> bool:
    return bool(await db.execute("DELETE FROM action_rooms WHERE action_id=? AND room_ref=?",
                                 (action_id, keyring.ref(ROOM, room_id))))


# ---------------------------------------------------------------- due reminders


@dataclass(frozen=True)
class DueReminder:
    id: int
    action: Action
    occurs_at: datetime
    lead_s: int
    due_at: datetime


async def next_due(db: Database) -> datetime | None:
    row = await db.fetchone(
        "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM action_reminders WHERE state='pending' "
        "UNION ALL SELECT MIN(due_at) FROM personal_reminders WHERE state='pending')"
    )
    return from_ms(row[0]) if row and row[0] is not None else None


async def due_action_reminders(db: Database, keyring: Keyring, now: datetime) -> list[DueReminder]:
    rows = await db.fetchall(
        "SELECT r.id, r.occurs_at, r.lead_s, r.due_at, " + ", ".join(f"a.{c.strip()}" for c in
                                                                      _ACTION_COLS.split(","))
        + " FROM action_reminders r JOIN actions a ON a.id = r.action_id"
        " WHERE r.state='pending' AND r.due_at <= ? ORDER BY r.due_at, r.id",
        (ms(now),),
    )
    return [DueReminder(row[0], _action(keyring, row[4:]), from_ms(row[1]), row[2], from_ms(row[3]))
            for row in rows]


async def mark_reminder(db: Database, reminder_id: int, state: str) -> int:
    return await db.execute("UPDATE action_reminders SET state=? WHERE id=? AND state='pending'",
                            (state, reminder_id))


# ---------------------------------------------------------------- personal reminders


@dataclass(frozen=True)
class Personal:
    id: int
    dm_room: str
    text: str
    zone: str
    due_at: datetime


def _zone(keyring: Keyring, stored: bytes | str) -> str:
    """A reminder's zone: sealed, or in clear in a row written before actions step 2."""
    return stored if isinstance(stored, str) else keyring.unseal(ZONE, bytes(stored))


async def add_personal(db: Database, keyring: Keyring, *, member_ref: bytes, dm_room: str, text: str,
                       zone: str, due_at: datetime) -> int:
    reminder_id = random_id()
    await db.execute(
        "INSERT INTO personal_reminders (id, member_ref, dm_sealed, text_sealed, zone, due_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (reminder_id, member_ref, keyring.seal(DM, dm_room), keyring.seal(TEXT, text), keyring.seal(ZONE, zone),
         ms(due_at)),
    )
    return reminder_id


async def due_personal(db: Database, keyring: Keyring, now: datetime) -> list[Personal]:
    rows = await db.fetchall(
        "SELECT id, dm_sealed, text_sealed, zone, due_at FROM personal_reminders "
        "WHERE state='pending' AND due_at <= ? ORDER BY due_at, id", (ms(now),))
    return [Personal(r[0], keyring.unseal(DM, r[1]), keyring.unseal(TEXT, r[2]), _zone(keyring, r[3]),
                     from_ms(r[4])) for r in rows]


async def mark_personal(db: Database, reminder_id: int, state: str, now: datetime) -> int:
    """Mark a reminder sent or skipped, on the day (UTC) it was: no finer time is kept."""
    return await db.execute("UPDATE personal_reminders SET state=?, done_day=? WHERE id=? AND state='pending'",
                            (state, ms(now) // DAY_MS, reminder_id))


async def personal_of(db: Database, keyring: Keyring, member_ref: bytes) -> list[tuple[datetime, str, str]]:
    """(due, zone, state) of a member's personal reminders."""
    rows = await db.fetchall("SELECT due_at, zone, state FROM personal_reminders WHERE member_ref=? "
                             "ORDER BY due_at", (member_ref,))
    return [(from_ms(r[0]), _zone(keyring, r[1]), r[2]) for r in rows]


async def forget_personal(db: Database, member_ref: bytes) -> int:
    return await db.execute("DELETE FROM personal_reminders WHERE member_ref=?", (member_ref,))


async def expire_confirmations(db: Database, now: datetime) -> int:
    """Delete the pending confirmations past their expiry (run daily by retention, so a code
    nobody confirmed does not keep its coordinator's reference and exact expiry for long)."""
    return await db.execute("DELETE FROM confirmations WHERE expires_at < ?", (ms(now),))


async def forget_confirmations(db: Database, member_ref: bytes) -> int:
    return await db.execute("DELETE FROM confirmations WHERE member_ref=?", (member_ref,))


# ---------------------------------------------------------------- confirmations


@dataclass(frozen=True)
class Pending:
    kind: str
    member_ref: bytes
    payload: dict[str, Any]
    expires_at: datetime


async def add_confirmation(db: Database, keyring: Keyring, *, code: str, room_id: str, member_ref: bytes,
                           kind: str, payload: dict[str, Any], expires_at: datetime) -> bool:
    return bool(await db.execute(
        "INSERT OR IGNORE INTO confirmations (code, room_ref, member_ref, kind, payload_sealed, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (code, keyring.ref(CONFIRM, room_id), member_ref, kind, keyring.seal(CONFIRM, json.dumps(payload)),
         ms(expires_at)),
    ))


async def take_confirmation(db: Database, keyring: Keyring, code: str, room_id: str, now: datetime,
                            member_ref: bytes) -> Pending | str:
    """The pending confirmation for ``code`` typed in ``room_id``, removed if ``member_ref`` may
    confirm it; otherwise ``"missing"`` or ``"other"`` (someone else's)."""
    await db.execute("DELETE FROM confirmations WHERE expires_at < ?", (ms(now),))
    room_ref = keyring.ref(CONFIRM, room_id)
    row = await db.fetchone("SELECT kind, member_ref, payload_sealed, expires_at FROM confirmations "
                            "WHERE room_ref=? AND code=?", (room_ref, code))
    if row is None:
        return "missing"
    if bytes(row[1]) != member_ref:
        return "other"
    await db.execute("DELETE FROM confirmations WHERE room_ref=? AND code=?", (room_ref, code))
    return Pending(row[0], bytes(row[1]), json.loads(keyring.unseal(CONFIRM, row[2])), from_ms(row[3]))


# ---------------------------------------------------------------- retention and export


async def delete_old(db: Database, cutoff: datetime) -> int:
    """Past non-recurring (or cancelled) actions and delivered/skipped personal reminders older
    than ``cutoff``."""
    c = ms(cutoff)
    removed = await db.execute(
        "DELETE FROM actions WHERE occurs_at < ? AND (recurrence IS NULL OR cancelled=1) AND NOT EXISTS "
        "(SELECT 1 FROM action_reminders r WHERE r.action_id = actions.id AND r.state='pending')", (c,), slow=True)
    removed += await db.execute("DELETE FROM action_reminders WHERE state != 'pending' AND due_at < ?", (c,),
                                  slow=True)
    removed += await db.execute("DELETE FROM personal_reminders WHERE state != 'pending' AND due_at < ?", (c,),
                                  slow=True)
    removed += await db.execute("DELETE FROM confirmations WHERE expires_at < ?", (c,))
    return removed


async def counts(db: Database) -> dict[str, int]:
    row = await db.fetchone(
        "SELECT (SELECT COUNT(*) FROM actions WHERE cancelled=0),"
        " (SELECT COUNT(*) FROM actions WHERE cancelled=0 AND recurrence IS NOT NULL),"
        " (SELECT COUNT(*) FROM action_reminders WHERE state='sent'),"
        " (SELECT COUNT(*) FROM personal_reminders WHERE state='pending')")
    assert row is not None
    return {"actions": row[0], "recurring_actions": row[1], "reminders_sent": row[2],
            "personal_reminders_pending": row[3]}
