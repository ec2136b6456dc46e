"""Roll-calls ("who is in, from which company?") and their answers.

A roll-call row holds its slug, the coordinator's title, the room it was started in (both sealed
here, callers pass and get plain text; the bot posts the final tallies in that room), its times and the last *shown* tallies (already
suppressed, JSON) with the time they were computed. An answer row holds only a keyed member
reference made for this one roll-call (``member:rollcall:<id>``, so answers to two roll-calls
cannot be linked) and the employer's key (the directory's, or a keyed reference for a company
the directory does not know; the display column is kept empty since step 6). No answer time is
kept, so rows cannot be lined up with the homeserver's message timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.db import Database, Schema
from storage.hashing import Keyring
from storage.times import day_s

TITLE = "rollcall-title"  # purposes of the seals
ROOM = "rollcall-room"
CLOSED = "rollcall-closed"  # the exact close time, shown in listings

SCHEMA = Schema(
    "rollcalls",
    [
        """
        CREATE TABLE rollcalls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slug TEXT NOT NULL UNIQUE,
            title_sealed BLOB NOT NULL,       -- the coordinator's title, sealed
            room_sealed BLOB,                 -- keyring.seal("rollcall-room", room_id)
            created_at INTEGER NOT NULL,      -- unix seconds
            closes_at INTEGER,                -- automatic close, unix seconds
            closed_at INTEGER,                -- NULL while open
            snapshot TEXT,                    -- shown (suppressed) tallies, JSON
            snapshot_at INTEGER
        );
        CREATE INDEX rollcalls_due ON rollcalls (closes_at) WHERE closed_at IS NULL;
        CREATE TABLE rollcall_answers (
            rollcall_id INTEGER NOT NULL REFERENCES rollcalls(id) ON DELETE CASCADE,
            member_ref BLOB NOT NULL,         -- member.ref("rollcall:<id>")
            company_key TEXT NOT NULL,        -- commands.companies.normalize(...) or a canonical key
            company_display TEXT NOT NULL,    -- employer name to show (never a member identifier)
            PRIMARY KEY (rollcall_id, member_ref)
        );
        """,
        # 2: answer counts kept up to date on every write (triggers), so tallies never scan all
        # answers. One row per (roll-call, stored key, display form): the tally shows a key's
        # smallest display form exactly as before, and re-resolves keys through the company
        # directory at read time. Triggers also see `!forget`, retention and ON DELETE CASCADE.
        """
        CREATE TABLE rollcall_counts (
            rollcall_id INTEGER NOT NULL REFERENCES rollcalls(id) ON DELETE CASCADE,
            company_key TEXT NOT NULL,
            company_display TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (rollcall_id, company_key, company_display)
        ) WITHOUT ROWID;
        INSERT INTO rollcall_counts (rollcall_id, company_key, company_display, n)
            SELECT rollcall_id, company_key, company_display, COUNT(*) FROM rollcall_answers GROUP BY 1, 2, 3;
        CREATE TRIGGER rollcall_answers_count_insert AFTER INSERT ON rollcall_answers BEGIN
            INSERT INTO rollcall_counts (rollcall_id, company_key, company_display, n)
                VALUES (NEW.rollcall_id, NEW.company_key, NEW.company_display, 1)
                ON CONFLICT (rollcall_id, company_key, company_display) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER rollcall_answers_count_delete AFTER DELETE ON rollcall_answers BEGIN
            UPDATE rollcall_counts SET n = n - 1 WHERE rollcall_id = OLD.rollcall_id
                AND company_key = OLD.company_key AND company_display = OLD.company_display;
            DELETE FROM rollcall_counts WHERE rollcall_id = OLD.rollcall_id AND company_key = OLD.company_key
                AND company_display = OLD.company_display AND n <= 0;
        END;
        CREATE TRIGGER rollcall_answers_count_update AFTER UPDATE OF rollcall_id, company_key, company_display
        ON rollcall_answers
        WHEN OLD.rollcall_id IS NOT NEW.rollcall_id OR OLD.company_key IS NOT NEW.company_key
            OR OLD.company_display IS NOT NEW.company_display BEGIN
            UPDATE rollcall_counts SET n = n - 1 WHERE rollcall_id = OLD.rollcall_id
                AND company_key = OLD.company_key AND company_display = OLD.company_display;
            DELETE FROM rollcall_counts WHERE rollcall_id = OLD.rollcall_id AND company_key = OLD.company_key
                AND company_display = OLD.company_display AND n <= 0;
            INSERT INTO rollcall_counts (rollcall_id, company_key, company_display, n)
                VALUES (NEW.rollcall_id, NEW.company_key, NEW.company_display, 1)
                ON CONFLICT (rollcall_id, company_key, company_display) DO UPDATE SET n = n + 1;
        END;
        """,
        # 3: a change token per roll-call, set to a fresh random value whenever its counts change,
        # so tallies are recomputed only after answers changed. Random, not a counter: a rolled
        # back change must not leave a token that a later, different change could reuse.
        """
        CREATE TABLE rollcall_changes (
            rollcall_id INTEGER PRIMARY KEY REFERENCES rollcalls(id) ON DELETE CASCADE,
            token INTEGER NOT NULL
        );
        INSERT INTO rollcall_changes (rollcall_id, token) SELECT id, random() FROM rollcalls;
        CREATE TRIGGER rollcalls_change_insert AFTER INSERT ON rollcalls BEGIN
            INSERT OR IGNORE INTO rollcall_changes (rollcall_id, token) VALUES (NEW.id, random());
        END;
        CREATE TRIGGER rollcall_counts_change_insert AFTER INSERT ON rollcall_counts BEGIN
            UPDATE rollcall_changes SET token = random() WHERE rollcall_id = NEW.rollcall_id;
        END;
        CREATE TRIGGER rollcall_counts_change_update AFTER UPDATE ON rollcall_counts BEGIN
            UPDATE rollcall_changes SET token = random() WHERE rollcall_id IN (OLD.rollcall_id, NEW.rollcall_id);
        END;
        CREATE TRIGGER rollcall_counts_change_delete AFTER DELETE ON rollcall_counts BEGIN
            UPDATE rollcall_changes SET token = random() WHERE rollcall_id = OLD.rollcall_id;
        END;
        """,
        # 4: answers become a WITHOUT ROWID table (issue #17): a rowid table kept the order members
        # answered in (rowids count up, and cells follow them). Rows are copied in key order (the
        # keyed member reference), the count triggers recreated as they were; counts unchanged.
        """
        CREATE TABLE rollcall_answers_v4 (
            rollcall_id INTEGER NOT NULL REFERENCES rollcalls(id) ON DELETE CASCADE,
            member_ref BLOB NOT NULL,         -- member.ref("rollcall:<id>")
            company_key TEXT NOT NULL,        -- commands.companies.normalize(...) or a canonical key
            company_display TEXT NOT NULL,    -- employer name to show (never a member identifier)
            PRIMARY KEY (rollcall_id, member_ref)
        ) WITHOUT ROWID;
        INSERT INTO rollcall_answers_v4 (rollcall_id, member_ref, company_key, company_display)
            SELECT rollcall_id, member_ref, company_key, company_display FROM rollcall_answers
            ORDER BY rollcall_id, member_ref;
        DROP TABLE rollcall_answers;
        ALTER TABLE rollcall_answers_v4 RENAME TO rollcall_answers;
        CREATE TRIGGER rollcall_answers_count_insert AFTER INSERT ON rollcall_answers BEGIN
            INSERT INTO rollcall_counts (rollcall_id, company_key, company_display, n)
                VALUES (NEW.rollcall_id, NEW.company_key, NEW.company_display, 1)
                ON CONFLICT (rollcall_id, company_key, company_display) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER rollcall_answers_count_delete AFTER DELETE ON rollcall_answers BEGIN
            UPDATE rollcall_counts SET n = n - 1 WHERE rollcall_id = OLD.rollcall_id
                AND company_key = OLD.company_key AND company_display = OLD.company_display;
            DELETE FROM rollcall_counts WHERE rollcall_id = OLD.rollcall_id AND company_key = OLD.company_key
                AND company_display = OLD.company_display AND n <= 0;
        END;
        CREATE TRIGGER rollcall_answers_count_update AFTER UPDATE OF rollcall_id, company_key, company_display
        ON rollcall_answers
        WHEN OLD.rollcall_id IS NOT NEW.rollcall_id OR OLD.company_key IS NOT NEW.company_key
            OR OLD.company_display IS NOT NEW.company_display BEGIN
            UPDATE rollcall_counts SET n = n - 1 WHERE rollcall_id = OLD.rollcall_id
                AND company_key = OLD.company_key AND company_display = OLD.company_display;
            DELETE FROM rollcall_counts WHERE rollcall_id = OLD.rollcall_id AND company_key = OLD.company_key
                AND company_display = OLD.company_display AND n <= 0;
            INSERT INTO rollcall_counts (rollcall_id, company_key, company_display, n)
                VALUES (NEW.rollcall_id, NEW.company_key, NEW.company_display, 1)
                ON CONFLICT (rollcall_id, company_key, company_display) DO UPDATE SET n = n + 1;
        END;
        """,
        # 5 (issue #17): no time finer than a day in clear. created_at and closed_at become the
        # start of their day (closed_at: open or not, and retention); the exact close time, which
        # listings show, is sealed in closed_sealed (rows closed before this step show their day).
        """
        ALTER TABLE rollcalls ADD COLUMN closed_sealed BLOB;
        UPDATE rollcalls SET created_at = created_at / 86400 * 86400, closed_at = closed_at / 86400 * 86400;
        """,
        # 6 (issue #23): no member's wording at rest. An answer keeps only its company key (the
        # directory's, or ``~`` and a keyed reference for a company the directory does not know:
        # storage.directory.unlisted_key); labels come from the directory when shown. The typed
        # display forms are emptied (the count triggers follow), and every kept snapshot, which
        # could name a company as typed, is dropped: it is recomputed from the counts when next
        # shown. Keys written before this step for unknown companies stay normalized (a step has
        # no key) and are pooled, never shown, until retention removes them.
        """
        UPDATE rollcall_answers SET company_display = '' WHERE company_display <> '';
        UPDATE rollcalls SET snapshot = NULL, snapshot_at = NULL;
        """,
    ],
)


def _ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class RollCall:
    id: int
    slug: str
    title: str
    room_id: str | None  # where it was started; None if unknown
    created_at: datetime
    closes_at: datetime | None
    closed_at: datetime | None
    snapshot: dict[str, Any] | None
    snapshot_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


_COLUMNS = "id, slug, title_sealed, room_sealed, created_at, closes_at, closed_at, snapshot, snapshot_at, closed_sealed"


def _row(keyring: Keyring, r: Any) -> RollCall:
    created = _dt(r[4])
    assert created is not None
    return RollCall(r[0], r[1], keyring.unseal(TITLE, r[2]), _room(keyring, r[3]), created, _dt(r[5]),
                    _closed(keyring, r[6], r[9]), json.loads(r[7]) if r[7] else None, _dt(r[8]))


def _closed(keyring: Keyring, day: int | None, sealed: bytes | None) -> datetime | None:
    """The exact close time (sealed), or the day's start for a row closed before step 5."""
    if day is None:
        return None
    return _dt(int(keyring.unseal(CLOSED, bytes(sealed)))) if sealed is not None else _dt(day)


def _room(keyring: Keyring, sealed: bytes | None) -> str | None:
    if sealed is None:
        return None
    try:
        return keyring.unseal(ROOM, sealed)
    except Exception:  # noqa: BLE001 - a row sealed under another key: nowhere to post
        return None


async def create(db: Database, keyring: Keyring, slug: str, title: str, room_id: str | None,
                 now: datetime, closes_at: datetime | None) -> int:
    return await db.insert(
        "INSERT OR IGNORE INTO rollcalls (slug, title_sealed, room_sealed, created_at, closes_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (slug, keyring.seal(TITLE, title), None if room_id is None else keyring.seal(ROOM, room_id), day_s(now),
         _ts(closes_at)),
    )


async def by_slug(db: Database, keyring: Keyring, slug: str) -> RollCall | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM rollcalls WHERE slug=?", (slug,))
    return _row(keyring, row) if row else None


async def open_rollcalls(db: Database, keyring: Keyring) -> list[RollCall]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM rollcalls WHERE closed_at IS NULL ORDER BY id")
    return [_row(keyring, r) for r in rows]


async def recent_closed(db: Database, keyring: Keyring, since: datetime, limit: int = 10) -> list[RollCall]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM rollcalls WHERE closed_at IS NOT NULL AND closed_at >= ?",
        (day_s(since),),
    )
    found = [_row(keyring, r) for r in rows]  # closed_at in clear is a day: the order comes from the seal
    found = [rc for rc in found if rc.closed_at is not None and rc.closed_at >= since.replace(microsecond=0)]
    found.sort(key=lambda rc: (rc.closed_at, rc.id), reverse=True)
    return found[:limit]


async def all_rollcalls(db: Database, keyring: Keyring) -> list[RollCall]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM rollcalls ORDER BY id")
    return [_row(keyring, r) for r in rows]


async def due(db: Database, keyring: Keyring, now: datetime) -> list[RollCall]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM rollcalls WHERE closed_at IS NULL AND closes_at IS NOT NULL AND closes_at <= ? "
        "ORDER BY closes_at, id",
        (_ts(now),),
    )
    return [_row(keyring, r) for r in rows]


async def next_close(db: Database) -> datetime | None:
    row = await db.fetchone("SELECT MIN(closes_at) FROM rollcalls WHERE closed_at IS NULL AND closes_at IS NOT NULL")
    return _dt(row[0]) if row and row[0] is not None else None


async def close(db: Database, keyring: Keyring, rollcall_id: int, now: datetime) -> bool:
    """Mark closed; ``False`` if it already was (so the final tallies are posted once). The day
    is kept in clear (retention, recent listings), the exact time sealed (shown in listings)."""
    changed = await db.execute(
        "UPDATE rollcalls SET closed_at=?, closed_sealed=? WHERE id=? AND closed_at IS NULL",
        (day_s(now), keyring.seal(CLOSED, str(_ts(now))), rollcall_id),
    )
    return changed > 0


async def save_snapshot(db: Database, rollcall_id: int, snapshot: dict[str, Any], now: datetime) -> None:
    await db.execute(
        "UPDATE rollcalls SET snapshot=?, snapshot_at=? WHERE id=?", (json.dumps(snapshot), _ts(now), rollcall_id)
    )


async def set_answer(db: Database, rollcall_id: int, member_ref: bytes, company_key: str, display: str) -> bool:
    """Record or replace a member's answer; ``True`` when it replaced an earlier one."""
    existed = await db.fetchone(
        "SELECT 1 FROM rollcall_answers WHERE rollcall_id=? AND member_ref=?", (rollcall_id, member_ref)
    )
    await db.execute(
        "INSERT INTO rollcall_answers (rollcall_id, member_ref, company_key, company_display) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(rollcall_id, member_ref) DO UPDATE SET company_key=excluded.company_key, "
        "company_display=excluded.company_display",
        (rollcall_id, member_ref, company_key, display),
    )
    return existed is not None


async def answer_of(db: Database, rollcall_id: int, member_ref: bytes) -> tuple[str, str] | None:
    row = await db.fetchone(
        "SELECT company_key, company_display FROM rollcall_answers WHERE rollcall_id=? AND member_ref=?",
        (rollcall_id, member_ref),
    )
    return (row[0], row[1]) if row else None


async def delete_answer(db: Database, rollcall_id: int, member_ref: bytes) -> int:
    return await db.execute(
        "DELETE FROM rollcall_answers WHERE rollcall_id=? AND member_ref=?", (rollcall_id, member_ref)
    )


async def counts(db: Database, rollcall_id: int) -> list[tuple[str, str, int]]:
    """(company key, a display form, answers) per stored key (from the trigger-maintained
    ``rollcall_counts``; the smallest display form, as ``MIN`` over the answers gave)."""
    rows = await db.fetchall(
        "SELECT company_key, MIN(company_display), SUM(n) FROM rollcall_counts WHERE rollcall_id=? AND n > 0 "
        "GROUP BY company_key",
        (rollcall_id,),
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def change_token(db: Database, rollcall_id: int) -> int | None:
    """A value that changes (to a fresh random one) whenever the roll-call's counts change."""
    row = await db.fetchone("SELECT token FROM rollcall_changes WHERE rollcall_id=?", (rollcall_id,))
    return int(row[0]) if row else None


async def delete_closed_before(db: Database, cutoff: datetime) -> int:
    """Retention: closed roll-calls (closed before ``cutoff``) with their answers."""
    ids = [r[0] for r in await db.fetchall(
        "SELECT id FROM rollcalls WHERE closed_at IS NOT NULL AND closed_at < ?", (_ts(cutoff),)
    )]
    deleted = 0
    for rollcall_id in ids:
        deleted += await db.execute("DELETE FROM rollcall_answers WHERE rollcall_id=?", (rollcall_id,),
                                    slow=True)
        deleted += await db.execute("DELETE FROM rollcalls WHERE id=?", (rollcall_id,))
    return deleted
