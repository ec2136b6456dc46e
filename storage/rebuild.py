"""The scheduled rebuild of the member-linked tables (issue #17).

A ``WITHOUT ROWID`` table keyed by keyed hashes keeps its rows in key order across pages, but
inside a page SQLite places each new cell below the earlier ones, so the cells of a page still
read in the order they were inserted: the order members acted in. Rewriting a table in key
order resets that: every table of :data:`storage.schema.MEMBER_TABLES` is copied into a fresh
table in key order, the old one dropped (``secure_delete`` zeroes its pages), the copy renamed,
and the table's indexes and triggers recreated from their stored SQL. All tables in the
caller's one transaction, so a crash leaves either the old tables or the new ones, never half;
the transaction also keeps every command out meanwhile. The checkpoint that follows the commit
truncates the WAL, which held the tables' pre-rebuild pages. So the order of rows survives at
most within one rebuild window (``BOT_REBUILD_INTERVAL``), until the next checkpoint.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from storage.db import Database

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
    counted = await db.fetchone(f"SELECT count(*) FROM {name}")  # noqa: S608
    return int(counted[0]) if counted else 0


async def run(db: Database, now: datetime, interval: timedelta) -> int:
    """Rebuild every member table (the caller holds a transaction), set the next run, and ask
    for a checkpoint right after the commit. Returns the rows rewritten."""
    from storage.schema import MEMBER_TABLES  # imports the domain modules, which import storage.db

    if not db.in_transaction:
        raise RuntimeError("rebuild.run needs the caller's transaction (all tables or none)")
    rows = 0
    for table in MEMBER_TABLES:
        rows += await rebuild_table(db, table.name, table.key)
    await db.set_meta(NEXT_RUN_KEY, repr((now + interval).timestamp()))
    db.checkpoint_after_commit()
    log.info("rebuild: rewrote %d member tables (%d rows) in key order", len(MEMBER_TABLES), rows)
    return rows
