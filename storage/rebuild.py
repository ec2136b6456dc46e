"""The scheduled rebuild of the member-linked tables (issue #17).

A ``WITHOUT ROWID`` table keyed by keyed hashes keeps its rows in key order across pages, but
inside a page SQLite places each new cell below the earlier ones, so the cells of a page still
read in the order they were inserted: the order members acted in. Rewriting a table in key
order resets that: every table of :data:`MEMBER_TABLES` is copied into a fresh
table in key order, the old one dropped (``secure_delete`` zeroes its pages), the copy renamed,
and the table's indexes and triggers recreated from their stored SQL. All tables in the
caller's one transaction, so a crash leaves either the old tables or the new ones, never half;
the transaction also keeps every command out meanwhile. The checkpoint that follows the commit
truncates the WAL, which held the tables' pre-rebuild pages. So the order of rows survives at
most within one rebuild window (``BOT_REBUILD_INTERVAL``), until the next checkpoint.

Settling (issue #23): that window is too wide against an adversary who also holds the
homeserver's record of who messaged the bot when, since the WAL's commits and a page's cells
replay the order commands were handled in. So the tables written since the last settle are
rebuilt the same way after every sync batch (and every scheduled job): :func:`watch` puts
temporary triggers (in this connection's memory, never in the file) on the member tables that
note which were written, and :func:`settle` rebuilds those in one transaction and asks for
the truncating checkpoint after its commit. What is left: the commits of the batch being
handled, from each command's commit until that checkpoint ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Database


@dataclass(frozen=True)
class MemberTable:
    """A table rebuilt on schedule, and the columns of its primary key, in key order: every table
    with a keyed member reference, and the per-company tables whose rows appear when a member
    signs or answers for a company first (their order would tell which company the first,
    the fifth… member named)."""

    name: str
    key: tuple[str, ...]


MEMBER_TABLES: tuple[MemberTable, ...] = (
    MemberTable("pledge_signers", ("pledge_id", "member_ref")),
    MemberTable("rollcall_answers", ("rollcall_id", "member_ref")),
    MemberTable("personal_reminders", ("id",)),  # random IDs (storage.hashing.random_id)
    MemberTable("member_flags", ("member_ref", "flag")),
    MemberTable("confirmations", ("room_ref", "code")),
    MemberTable("undecrypted", ("id",)),  # random IDs
    MemberTable("member_prefs", ("member_ref", "name")),
    MemberTable("poll_votes", ("poll_id", "member_ref")),
    MemberTable("rsvps", ("action_id", "member_ref")),
    MemberTable("pledge_counts", ("pledge_id", "company")),
    MemberTable("pledge_companies", ("pledge_id", "company")),
    MemberTable("rollcall_counts", ("rollcall_id", "company_key", "company_display")),
    MemberTable("hub_members", ("member_ref",)),
    MemberTable("hub_quiet", ("member_ref",)),
    MemberTable("hub_vouches", ("member_ref",)),
    MemberTable("hotline_blocked", ("member_ref",)),
)
# Tables with a keyed member reference that are not rebuilt, and why (the inventory is checked
# by tests/unit/test_rebuild.py):
NOT_REBUILT: dict[str, str] = {}

log = logging.getLogger("organizer_bot.rebuild")

NEXT_RUN_KEY = "rebuild_next_run"
_SUFFIX = "__rebuild"


async def next_run(db: Database) -> datetime:
    """When the rebuild is due: the time stored by the last run, or now-ish (the epoch) before
    the first one."""
    value = await db.get_meta(NEXT_RUN_KEY)
    try:
        return datetime.fromtimestamp(float(value), UTC) if value is not None else datetime.fromtimestamp(0, UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


async def rebuild_table(db: Database, name: str, key: tuple[str, ...]) -> int:
    """Rewrite one table in key order (inside the caller's transaction); returns its rows."""
    row = await db.fetchone("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (name,))
    if row is None:
        return 0
    create: str = row[0]
    head, sep, rest = create.partition("(")
    if not sep or head.split()[-1].strip('"') != name:
        raise RuntimeError(f"unexpected schema for {name}")
    copy = name + _SUFFIX
    others = [r[0] for r in await db.fetchall(
        "SELECT sql FROM sqlite_master WHERE tbl_name=? AND type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY type, name", (name,))]
    order = ", ".join(key)
    try:
        await db.execute_all([  # one job on the worker: no other statement sees the table half rebuilt
            f"DROP TABLE IF EXISTS {copy}",
            f"CREATE TABLE {copy} ({rest}",
            f"INSERT INTO {copy} SELECT * FROM {name} ORDER BY {order}",  # noqa: S608
            f"DROP TABLE {name}",  # its indexes and triggers go with it
            # other tables' triggers name the table (the count triggers of the signers name
            # pledge_counts): the legacy rename leaves them as they are, right once renamed
            "PRAGMA legacy_alter_table=ON",
            f"ALTER TABLE {copy} RENAME TO {name}",
            "PRAGMA legacy_alter_table=OFF",
            *others,
        ])
    finally:
        await db.execute("PRAGMA legacy_alter_table=OFF")
    await _watch_table(db, name)  # the temporary triggers went with the old table
    counted = await db.fetchone(f"SELECT count(*) FROM {name}")  # noqa: S608
    return int(counted[0]) if counted else 0


async def run(db: Database, now: datetime, interval: timedelta) -> int:
    """Rebuild every member table (the caller holds a transaction), set the next run, and ask
    for a checkpoint right after the commit. Returns the rows rewritten."""
    if not db.in_transaction:
        raise RuntimeError("rebuild.run needs the caller's transaction (all tables or none)")
    rows = 0
    for table in MEMBER_TABLES:
        rows += await rebuild_table(db, table.name, table.key)
    await db.set_meta(NEXT_RUN_KEY, repr((now + interval).timestamp()))
    await db.execute(f"DELETE FROM {_DIRTY}")  # noqa: S608  # every table is settled
    db.checkpoint_after_commit()
    log.info("rebuild: rewrote %d member tables (%d rows) in key order", len(MEMBER_TABLES), rows)
    return rows


_DIRTY = "temp.member_tables_written"


async def _ensure(db: Database) -> None:
    await db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_DIRTY.removeprefix('temp.')} (name TEXT PRIMARY KEY)")


async def _watch_table(db: Database, name: str) -> None:
    await _ensure(db)
    for event in ("INSERT", "UPDATE", "DELETE"):
        await db.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS written_{name}_{event.lower()} AFTER {event} ON main.{name} "
            # not INSERT OR IGNORE: inside a trigger the outer statement's conflict rule wins
            f"BEGIN INSERT INTO {_DIRTY} (name) SELECT '{name}' "
            f"WHERE NOT EXISTS (SELECT 1 FROM {_DIRTY} WHERE name='{name}'); END")


async def watch(db: Database) -> None:
    """Note, from now on, which member tables this connection writes (temporary objects: the
    connection's own, never in the file). Every table starts noted, so the first
    :func:`settle` rebuilds what a killed process left unsettled."""
    existing = {row[0] for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in MEMBER_TABLES:
        if table.name not in existing:  # a test's database of an older schema
            continue
        await _watch_table(db, table.name)
        await db.execute(f"INSERT OR IGNORE INTO {_DIRTY} (name) VALUES (?)", (table.name,))  # noqa: S608


async def settle(db: Database) -> int:
    """Rebuild, in one transaction, the member tables written since the last settle, then
    checkpoint and truncate the WAL after the commit: their rows' order in the file and the
    WAL's commits of single commands are gone. Returns the tables rebuilt (0: nothing
    written; one indexed read). The sync loop calls it after every batch."""
    await _ensure(db)
    if not await db.fetchone(f"SELECT 1 FROM {_DIRTY} LIMIT 1"):  # noqa: S608
        return 0
    async with db.transaction():
        written = {row[0] for row in await db.fetchall(f"SELECT name FROM {_DIRTY}")}  # noqa: S608
        tables = [table for table in MEMBER_TABLES if table.name in written]
        for table in tables:
            await rebuild_table(db, table.name, table.key)
        await db.execute(f"DELETE FROM {_DIRTY}")  # noqa: S608
        db.checkpoint_after_commit()
    return len(tables)
