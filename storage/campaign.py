"""The campaign's rooms: which group rooms the bot works in, and which one is the home room.

A row is a keyed room reference (to look a room up) and the room ID sealed with AES-GCM (to
list the rooms again after a restart); no names, no times, nothing about who invited or
approved. ``state`` is ``joined`` for a campaign room the bot is in, ``approved`` for a room a
coordinator approved that the bot has not joined yet. The home room is a campaign room with
``home = 1`` (at most one). Invites that were declined leave no trace here.

Storage seals and unseals: callers pass and get plain room IDs.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, Schema
from storage.hashing import Keyring

PURPOSE = "campaign-room"
_GENERATION = "campaign_generation"

SCHEMA = Schema(
    "campaign",
    [
        """
        CREATE TABLE campaign_rooms (
            room_ref BLOB PRIMARY KEY,          -- keyring.ref("campaign-room", room ID or alias)
            room_sealed BLOB NOT NULL,          -- keyring.seal("campaign-room", room ID or alias)
            state TEXT NOT NULL CHECK (state IN ('joined', 'approved')),
            home INTEGER NOT NULL DEFAULT 0 CHECK (home IN (0, 1))
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX campaign_one_home ON campaign_rooms (home) WHERE home = 1;
        """
    ],
)


@dataclass(frozen=True)
class Snapshot:
    """Everything the shell keeps in memory about the campaign."""

    joined: frozenset[str]
    approved: frozenset[str]  # room IDs or aliases (``#name:server``) approved before joining
    home: str | None


async def _bump(db: Database) -> None:
    await db.bump_generation(_GENERATION)


async def stamp(db: Database) -> str:
    """Changes whenever the campaign's rooms do (one indexed read), so caches know to reload."""
    return await db.get_meta(_GENERATION) or "0"


async def _put(db: Database, keyring: Keyring, room: str, state: str) -> None:
    await db.execute(
        "INSERT INTO campaign_rooms (room_ref, room_sealed, state) VALUES (?, ?, ?) "
        "ON CONFLICT(room_ref) DO UPDATE SET state=excluded.state",
        (keyring.ref(PURPOSE, room), keyring.seal(PURPOSE, room), state),
    )
    await _bump(db)


async def add_room(db: Database, keyring: Keyring, room_id: str) -> None:
    """The bot joined ``room_id`` as a campaign room."""
    await _put(db, keyring, room_id, "joined")


async def approve(db: Database, keyring: Keyring, room: str) -> bool:
    """A coordinator approved a room (ID or alias) the bot may join; ``False`` if it already was."""
    row = await db.fetchone("SELECT state FROM campaign_rooms WHERE room_ref=?", (keyring.ref(PURPOSE, room),))
    if row is not None:
        return False
    await _put(db, keyring, room, "approved")
    return True


async def remove(db: Database, keyring: Keyring, room: str) -> bool:
    """No longer a campaign room (the bot leaves it, or an approval is used up)."""
    removed = await db.execute("DELETE FROM campaign_rooms WHERE room_ref=?", (keyring.ref(PURPOSE, room),))
    if removed:
        await _bump(db)
    return removed > 0


async def set_home(db: Database, keyring: Keyring, room_id: str) -> None:
    """Make ``room_id`` (a campaign room from now on) the one home room."""
    await db.execute("UPDATE campaign_rooms SET home=0 WHERE home=1")
    await _put(db, keyring, room_id, "joined")
    await db.execute("UPDATE campaign_rooms SET home=1 WHERE room_ref=?", (keyring.ref(PURPOSE, room_id),))


async def load(db: Database, keyring: Keyring) -> Snapshot:
    rows = await db.fetchall("SELECT room_sealed, state, home FROM campaign_rooms")
    joined: set[str] = set()
    approved: set[str] = set()
    home: str | None = None
    for sealed, state, is_home in rows:
        try:
            room = keyring.unseal(PURPOSE, bytes(sealed))
        except Exception:  # noqa: BLE001 - sealed under another key: not ours to use
            continue
        (joined if state == "joined" else approved).add(room)
        if is_home:
            home = room
    return Snapshot(frozenset(joined), frozenset(approved), home)


async def count(db: Database) -> dict[str, int]:
    """Rows per state, for row-count checks in tests and ``!rooms``."""
    rows = await db.fetchall("SELECT state, COUNT(*) FROM campaign_rooms GROUP BY state")
    return {r[0]: int(r[1]) for r in rows}
