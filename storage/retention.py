"""Data retention: the daily job that deletes records of closed and past things.

Each domain registers a hook in :data:`commands.base.RETENTION_HOOKS` that deletes its own
old rows; this module only keeps the time of the last run (in ``meta``) and runs the hooks
plus the expiry of the bot's handled-event marks and of pending confirmations. The scheduler drives it through the
``retention`` due source in :mod:`commands.admin`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from storage import actions, core
from storage.db import Database

log = logging.getLogger("organizer_bot.retention")

LAST_RUN_KEY = "retention_last_run"
INTERVAL = timedelta(days=1)


async def last_run(db: Database) -> datetime | None:
    value = await db.get_meta(LAST_RUN_KEY)
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        return None


async def next_run(db: Database) -> datetime:
    """When the job is due next: a day after the last run, or now-ish (the epoch) if it never ran."""
    last = await last_run(db)
    return datetime.fromtimestamp(0, UTC) if last is None else last + INTERVAL


Hook = Callable[[Database, datetime], Awaitable[int]]


async def run(db: Database, now: datetime, days: int, hooks: Sequence[Hook]) -> dict[str, int]:
    """Run every hook with ``cutoff = now - days``, expire handled-event marks, record the run.

    Returns ``{"records": n, "handled_events": m}`` (rows deleted). Callers run it inside a
    transaction; a failing hook fails the whole run (retried at the next due time)."""
    cutoff = now - timedelta(days=days)
    records = 0
    for hook in hooks:
        records += int(await hook(db, cutoff))
    handled = await core.expire_handled(db, now.timestamp())
    records += await actions.expire_confirmations(db, now)  # expired codes, whatever the retention days
    await db.set_meta(LAST_RUN_KEY, repr(now.timestamp()))
    log.info("retention: deleted %d records older than %d days and %d expired event marks",
             records, days, handled)
    return {"records": records, "handled_events": handled}
