"""RSVPs to scheduled actions, and the private reminder sequence of those who said yes or maybe.

An RSVP row holds a keyed member reference made for this one action (``member:rsvp:<id>``, so
RSVPs to two actions cannot be linked), the answer, whether they already said if they made it
(not what they said: that is only counted, per action, in ``rsvp_went``), and their DM with the
bot, sealed (where their private reminders go). No time and no order
(``WITHOUT ROWID``, keyed by the hash). The sequence of an action is a few stage rows (a
confirm-or-cancel message the day before, one per lead time, a follow-up after): each is an
action fact (a time derived from the action's own time), fired once for everyone it concerns.

Storage seals and unseals: callers pass and get plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from storage.db import Database, Schema
from storage.hashing import Keyring

DM = "rsvp-dm"
ANSWERS = ("yes", "maybe", "no")

SCHEMA = Schema(
    "rsvps",
    [
        """
        CREATE TABLE rsvps (
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            member_ref BLOB NOT NULL,           -- member.ref("rsvp:<action id>")
            answer TEXT NOT NULL CHECK (answer IN ('yes', 'maybe', 'no')),
            followed_up INTEGER NOT NULL DEFAULT 0,  -- said whether they went (not what: see rsvp_went)
            dm_sealed BLOB NOT NULL,            -- keyring.seal("rsvp-dm", the member's DM room)
            PRIMARY KEY (action_id, member_ref)
        ) WITHOUT ROWID;
        -- whether members made it, as counts only: nobody's own answer is kept
        CREATE TABLE rsvp_went (
            action_id INTEGER PRIMARY KEY REFERENCES actions(id) ON DELETE CASCADE,
            went INTEGER NOT NULL DEFAULT 0,
            missed INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE rsvp_stages (
            action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                 -- 'confirm', 'lead:<seconds>', 'followup'
            due_at INTEGER NOT NULL,            -- unix seconds, from the action's own time
            PRIMARY KEY (action_id, kind)
        ) WITHOUT ROWID;
        CREATE INDEX rsvp_stages_due ON rsvp_stages (due_at);
        """,
        # 2 (issue #23): turnout as readers see it, published at announcement rounds
        # (storage.published), never at the moment a member answered
        """
        CREATE TABLE rsvp_shown (
            action_id INTEGER PRIMARY KEY REFERENCES actions(id) ON DELETE CASCADE,
            yes INTEGER NOT NULL, maybe INTEGER NOT NULL, went INTEGER NOT NULL
        );
        """,
    ],
)


@dataclass(frozen=True)
class Stage:
    action_id: int
    kind: str
    due_at: datetime


async def answer(db: Database, keyring: Keyring, action_id: int, member_ref: bytes, reply: str, dm_room: str) -> str | None:
    """Record or replace an answer; returns the previous answer, if any."""
    row = await db.fetchone("SELECT answer FROM rsvps WHERE action_id=? AND member_ref=?", (action_id, member_ref))
    await db.execute(
        "INSERT INTO rsvps (action_id, member_ref, answer, dm_sealed) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (action_id, member_ref) DO UPDATE SET answer=excluded.answer, dm_sealed=excluded.dm_sealed",
        (action_id, member_ref, reply, keyring.seal(DM, dm_room)),
    )
    return str(row[0]) if row else None


async def answer_of(db: Database, action_id: int, member_ref: bytes) -> tuple[str, bool] | None:
    """(answer, whether they said if they made it)."""
    row = await db.fetchone("SELECT answer, followed_up FROM rsvps WHERE action_id=? AND member_ref=?",
                            (action_id, member_ref))
    return (str(row[0]), bool(row[1])) if row else None


async def count_went(db: Database, action_id: int, member_ref: bytes, went: bool) -> bool:
    """Count a member's "went" or "missed" once, keeping only the count; ``False`` if they had not
    said they would come, or had told already."""
    told = await db.execute("UPDATE rsvps SET followed_up=1 WHERE action_id=? AND member_ref=? AND answer != 'no' "
                            "AND followed_up=0", (action_id, member_ref))
    if not told:
        return False
    column = "went" if went else "missed"
    await db.execute(f"INSERT INTO rsvp_went (action_id, {column}) VALUES (?, 1) "  # noqa: S608
                     f"ON CONFLICT (action_id) DO UPDATE SET {column} = {column} + 1", (action_id,))
    return True


async def turnout(db: Database, action_id: int) -> dict[str, int]:
    """Counts of yes, maybe and went as last published (:func:`publish_turnout`, at announcement
    rounds); exact: callers pass them through the small-cell rule."""
    row = await db.fetchone("SELECT yes, maybe, went FROM rsvp_shown WHERE action_id=?", (action_id,))
    yes, maybe, went = row if row else (0, 0, 0)
    return {"yes": int(yes), "maybe": int(maybe), "no": 0, "went": int(went)}


async def publish_turnout(db: Database) -> None:
    """Every action's turnout as it stands now becomes what readers see (see storage.published)."""
    await db.execute("DELETE FROM rsvp_shown")
    await db.execute(
        "INSERT INTO rsvp_shown (action_id, yes, maybe, went) SELECT a.id, "
        "(SELECT count(*) FROM rsvps r WHERE r.action_id = a.id AND r.answer = 'yes'), "
        "(SELECT count(*) FROM rsvps r WHERE r.action_id = a.id AND r.answer = 'maybe'), "
        "coalesce((SELECT went FROM rsvp_went w WHERE w.action_id = a.id), 0) FROM actions a "
        "WHERE a.id IN (SELECT action_id FROM rsvps UNION SELECT action_id FROM rsvp_went)")


async def live_turnout(db: Database, action_id: int) -> dict[str, int]:
    """Counts of yes, maybe and went now (exact: callers pass them through the small-cell rule)."""
    rows = await db.fetchall("SELECT answer, count(*) FROM rsvps WHERE action_id=? GROUP BY answer", (action_id,))
    found = {"yes": 0, "maybe": 0, "no": 0, "went": 0}
    for reply, n in rows:
        found[str(reply)] = int(n)
    went = await db.fetchone("SELECT went FROM rsvp_went WHERE action_id=?", (action_id,))
    found["went"] = int(went[0]) if went else 0
    return found


async def attending_dms(db: Database, keyring: Keyring, action_id: int, answers: tuple[str, ...]) -> list[str]:
    """The DMs of the members whose answer is one of ``answers``, in key order (no order of asking)."""
    marks = ",".join("?" * len(answers))
    rows = await db.fetchall(f"SELECT dm_sealed FROM rsvps WHERE action_id=? AND answer IN ({marks})",  # noqa: S608
                             (action_id, *answers))
    return [keyring.unseal(DM, r[0]) for r in rows]


async def plan(db: Database, action_id: int, stages: dict[str, datetime], now: datetime) -> None:
    """The action's sequence (kept once planned: a stage that fired is gone and is not planned again)."""
    for kind, due in stages.items():
        if due > now:
            await db.execute("INSERT OR IGNORE INTO rsvp_stages (action_id, kind, due_at) VALUES (?, ?, ?)",
                             (action_id, kind, int(due.timestamp())))


async def next_stage(db: Database) -> datetime | None:
    row = await db.fetchone("SELECT min(due_at) FROM rsvp_stages")
    return datetime.fromtimestamp(int(row[0]), UTC) if row and row[0] is not None else None


async def due_stages(db: Database, now: datetime) -> list[Stage]:
    rows = await db.fetchall("SELECT action_id, kind, due_at FROM rsvp_stages WHERE due_at <= ? ORDER BY due_at",
                             (int(now.timestamp()),))
    return [Stage(int(r[0]), str(r[1]), datetime.fromtimestamp(int(r[2]), UTC)) for r in rows]


async def done(db: Database, stage: Stage) -> bool:
    """Take a stage (``True`` once): it fires in the same transaction as its messages are queued."""
    return await db.execute("DELETE FROM rsvp_stages WHERE action_id=? AND kind=?", (stage.action_id, stage.kind)) > 0


async def of_member(db: Database, member_refs: dict[int, bytes]) -> dict[int, tuple[str, bool]]:
    """The member's answers, by action (``member_refs``: action id → the member's reference for it)."""
    found = {}
    for action_id, ref in member_refs.items():
        got = await answer_of(db, action_id, ref)
        if got is not None:
            found[action_id] = got
    return found


async def forget(db: Database, action_id: int, member_ref: bytes) -> int:
    return await db.execute("DELETE FROM rsvps WHERE action_id=? AND member_ref=?", (action_id, member_ref))


async def action_ids(db: Database) -> list[int]:
    return [int(r[0]) for r in await db.fetchall("SELECT DISTINCT action_id FROM rsvps")]
