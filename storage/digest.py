"""The coordinators' weekly digest: when it is next due, whether it is on, the pledge figures it
last showed (to say what moved), and how many contract alerts were posted per day.

Nothing here names a member: one state row, pledge IDs with figures already shown in a room,
and per-day counts of alerts about public contract awards (kept :data:`KEEP_DAYS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Database, Schema
from storage.times import day_s

KEEP_DAYS = 56

SCHEMA = Schema(
    "digest",
    [
        """
        CREATE TABLE digest_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            enabled INTEGER NOT NULL DEFAULT 1,   -- !digest on|off
            plan TEXT NOT NULL DEFAULT '',        -- the schedule next_at was computed for ("mon 09:00|UTC")
            next_at INTEGER,                      -- unix seconds; NULL: compute it now
            figures TEXT NOT NULL DEFAULT '{}'    -- pledge id → the exact total the last digest showed
        );
        CREATE TABLE digest_alert_days (
            day INTEGER PRIMARY KEY,              -- unix seconds of the day's start (UTC)
            posted INTEGER NOT NULL
        );
        """
    ],
)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class State:
    enabled: bool
    plan: str
    next_at: datetime | None
    figures: dict[int, int]


async def state(db: Database) -> State:
    row = await db.fetchone("SELECT enabled, plan, next_at, figures FROM digest_state WHERE id = 1")
    if row is None:
        return State(True, "", None, {})
    at = datetime.fromtimestamp(row[2], UTC) if row[2] is not None else None
    return State(bool(row[0]), row[1], at, {int(k): int(v) for k, v in json.loads(row[3]).items()})


async def _ensure(db: Database) -> None:
    await db.execute("INSERT OR IGNORE INTO digest_state (id) VALUES (1)")


async def next_due(db: Database) -> datetime | None:
    """When the digest source must look again: its next time, or now when that is to be computed."""
    row = await db.fetchone("SELECT next_at FROM digest_state WHERE id = 1")
    return _EPOCH if row is None or row[0] is None else datetime.fromtimestamp(row[0], UTC)


async def set_plan(db: Database, plan: str, next_at: datetime) -> None:
    await _ensure(db)
    await db.execute("UPDATE digest_state SET plan = ?, next_at = ? WHERE id = 1", (plan, int(next_at.timestamp())))


async def set_enabled(db: Database, enabled: bool) -> bool:
    """Turn the digest on or off; ``False`` when it already was. Its time is computed again."""
    await _ensure(db)
    return await db.execute("UPDATE digest_state SET enabled = ?, plan = '', next_at = NULL "
                            "WHERE id = 1 AND enabled != ?", (int(enabled), int(enabled))) > 0


async def save_figures(db: Database, figures: dict[int, int]) -> None:
    await _ensure(db)
    await db.execute("UPDATE digest_state SET figures = ? WHERE id = 1", (json.dumps(figures),))


async def note_alerts(db: Database, now: datetime, posted: int) -> None:
    """Count ``posted`` contract alerts on ``now``'s day (and forget days older than :data:`KEEP_DAYS`)."""
    if posted:
        await db.execute("INSERT INTO digest_alert_days (day, posted) VALUES (?, ?) ON CONFLICT (day) "
                         "DO UPDATE SET posted = posted + excluded.posted", (day_s(now), posted))
    await db.execute("DELETE FROM digest_alert_days WHERE day < ?", (day_s(now - timedelta(days=KEEP_DAYS)),))


async def alerts_since(db: Database, since: datetime) -> int:
    """Alerts posted on the days from ``since``'s day on."""
    row = await db.fetchone("SELECT coalesce(sum(posted), 0) FROM digest_alert_days WHERE day >= ?", (day_s(since),))
    return int(row[0]) if row else 0
