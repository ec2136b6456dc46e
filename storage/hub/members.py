"""Members who joined by code in a DM (issue 26), and what each of them chose.

A row is one keyed member reference, under its own purpose for each table (membership, quiet,
vouches), so the tables cannot be joined into a profile without the key. No times: nothing says
when a member joined (tables are ``WITHOUT ROWID``, keyed by hashes and rebuilt on schedule),
nothing says which code they used. A vouch count is kept per member for the current week only
(the week's number since the epoch, replaced when a new week starts), never whom they vouched for.

Storage computes the references: callers pass a :class:`storage.hashing.Member`.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, Schema
from storage.hashing import Keyring, Member

PURPOSE = "hub"  # Member.ref(PURPOSE): membership by code
QUIET_PURPOSE = "hub-quiet"
VOUCH_PURPOSE = "hub-vouch"
_GENERATION = "hub_generation"
_VOUCH_LIMIT = "hub_vouch_limit"
DEFAULT_VOUCH_LIMIT = 2

SCHEMA = Schema(
    "hub",
    [
        """
        CREATE TABLE hub_members (member_ref BLOB PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE hub_quiet (member_ref BLOB PRIMARY KEY) WITHOUT ROWID;
        CREATE TABLE hub_vouches (
            member_ref BLOB PRIMARY KEY,
            week INTEGER NOT NULL,
            n INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- actions whose reminders also go to every DM member (not member-linked)
        CREATE TABLE hub_actions (action_id INTEGER PRIMARY KEY);
        """
    ],
)


@dataclass(frozen=True)
class Snapshot:
    """What the shell keeps in memory: keyed references of DM members and of quiet members."""

    members: frozenset[bytes]
    quiet: frozenset[bytes]


async def stamp(db: Database) -> str:
    """Changes whenever membership or quiet flags do (one indexed read)."""
    return await db.get_meta(_GENERATION) or "0"


async def load(db: Database) -> Snapshot:
    members = await db.fetchall("SELECT member_ref FROM hub_members")
    quiet = await db.fetchall("SELECT member_ref FROM hub_quiet")
    return Snapshot(frozenset(bytes(r[0]) for r in members), frozenset(bytes(r[0]) for r in quiet))


def ref_of(keyring: Keyring, user_id: str, purpose: str = PURPOSE) -> bytes:
    """A member's reference from their Matrix ID, for the shell (the same as ``Member.ref``)."""
    return Member(keyring, user_id).ref(purpose)


async def add(db: Database, member: Member) -> bool:
    """``member`` joined by code; ``False`` if they already had."""
    added = await db.execute("INSERT OR IGNORE INTO hub_members (member_ref) VALUES (?)", (member.ref(PURPOSE),))
    if added:
        await db.bump_generation(_GENERATION)
    return added > 0


async def is_member(db: Database, member: Member) -> bool:
    return await db.fetchone("SELECT 1 FROM hub_members WHERE member_ref=?", (member.ref(PURPOSE),)) is not None


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM hub_members")
    return int(row[0]) if row else 0


async def quiet_count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM hub_quiet")
    return int(row[0]) if row else 0


async def set_quiet(db: Database, member: Member, quiet: bool) -> bool:
    """Returns whether anything changed."""
    ref = member.ref(QUIET_PURPOSE)
    if quiet:
        changed = await db.execute("INSERT OR IGNORE INTO hub_quiet (member_ref) VALUES (?)", (ref,))
    else:
        changed = await db.execute("DELETE FROM hub_quiet WHERE member_ref=?", (ref,))
    if changed:
        await db.bump_generation(_GENERATION)
    return changed > 0


async def is_quiet(db: Database, member: Member) -> bool:
    return await db.fetchone("SELECT 1 FROM hub_quiet WHERE member_ref=?", (member.ref(QUIET_PURPOSE),)) is not None


async def vouches(db: Database, member: Member, week: int) -> int:
    """How many codes ``member`` asked for in ``week``."""
    row = await db.fetchone("SELECT week, n FROM hub_vouches WHERE member_ref=?", (member.ref(VOUCH_PURPOSE),))
    return int(row[1]) if row is not None and int(row[0]) == week else 0


async def add_vouch(db: Database, member: Member, week: int) -> None:
    await db.execute(
        "INSERT INTO hub_vouches (member_ref, week, n) VALUES (?, ?, 1) ON CONFLICT (member_ref) DO UPDATE "
        "SET n = CASE WHEN week = excluded.week THEN n + 1 ELSE 1 END, week = excluded.week",
        (member.ref(VOUCH_PURPOSE), week),
    )


async def forget(db: Database, member: Member) -> int:
    """Delete membership, quiet flag and vouch count; rows deleted."""
    deleted = await db.execute("DELETE FROM hub_members WHERE member_ref=?", (member.ref(PURPOSE),))
    deleted += await db.execute("DELETE FROM hub_quiet WHERE member_ref=?", (member.ref(QUIET_PURPOSE),))
    if deleted:
        await db.bump_generation(_GENERATION)
    deleted += await db.execute("DELETE FROM hub_vouches WHERE member_ref=?", (member.ref(VOUCH_PURPOSE),))
    return deleted


async def expire_vouches(db: Database, week: int) -> int:
    """Counts of past weeks are no longer needed."""
    return await db.execute("DELETE FROM hub_vouches WHERE week < ?", (week,))


async def vouch_limit(db: Database) -> int:
    value = await db.get_meta(_VOUCH_LIMIT)
    return int(value) if value is not None else DEFAULT_VOUCH_LIMIT


async def set_vouch_limit(db: Database, limit: int) -> None:
    await db.set_meta(_VOUCH_LIMIT, str(limit))


async def mark_action(db: Database, action_id: int, on: bool) -> bool:
    """Whether an action's reminders go to DM members too; returns whether anything changed."""
    if on:
        return await db.execute("INSERT OR IGNORE INTO hub_actions (action_id) VALUES (?)", (action_id,)) > 0
    return await db.execute("DELETE FROM hub_actions WHERE action_id=?", (action_id,)) > 0


async def action_for_dms(db: Database, action_id: int) -> bool:
    return await db.fetchone("SELECT 1 FROM hub_actions WHERE action_id=?", (action_id,)) is not None
