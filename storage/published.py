"""What everyone sees of a pledge (and of an action's RSVP turnout, :mod:`storage.rsvps`) changes
only at announcement rounds (issue #23 items 6 and 8).

A signature, a withdrawal or a ``!forget`` changes the live counts at once (the threshold
crossing is decided on them, in the same transaction), but every figure a reader sees (counts,
per-company rows, "threshold: met") is the pledge's last *published* snapshot. A change plans a
publication at the announcement round (``storage.core.round_at``, the same round a threshold
announcement waits for, drawn from ``BOT_ANNOUNCE_DELAY_MIN..MAX`` and batching whatever comes
meanwhile); with no delay configured it is published at once. So ``!pledges`` right after the
crossing signature shows what it showed before, and the moment a figure changes is a round's,
not a member's message's.
"""

from __future__ import annotations

import json

from storage import rsvps
from storage.core import round_at
from storage.db import Database, Schema
from storage.pledges import Figures, live_figures

DUE = "pledge_figures_due"  # meta: the round (unix seconds) the unpublished changes wait for

SCHEMA = Schema(
    "published",
    [
        """
        CREATE TABLE pledge_shown (
            pledge_id INTEGER PRIMARY KEY,
            token INTEGER NOT NULL,          -- pledge_changes.token when published
            met INTEGER NOT NULL,            -- pledges.announced when published
            figures TEXT NOT NULL            -- the Figures shown until the next round (JSON)
        );
        """
    ],
)


async def shown(db: Database, pledge_ids: list[int]) -> dict[int, Figures]:
    """The published figures of these pledges (a pledge never published shows none: 0 reads as
    "fewer than 2k−1", the same as a few)."""
    if not pledge_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT pledge_id, met, figures FROM pledge_shown WHERE pledge_id IN ({','.join('?' * len(pledge_ids))})",  # noqa: S608
        pledge_ids)
    found = {r[0]: _loads(r[2], bool(r[1])) for r in rows}
    return {i: found.get(i, Figures(0, 0, {}, ())) for i in pledge_ids}


async def changed(db: Database, delay: tuple[int, int], now: float | None = None) -> None:
    """A pledge's live figures changed (inside the caller's transaction): publish at the round."""
    when = await round_at(db, delay, now)
    if when == 0:
        await publish(db)
        return
    planned = await db.get_meta(DUE)
    if planned is None or int(planned) > when:
        await db.set_meta(DUE, str(when))


async def due(db: Database) -> int | None:
    """When the planned publication is due (unix seconds), if one is planned."""
    planned = await db.get_meta(DUE)
    return int(planned) if planned is not None else None


async def publish(db: Database, now: float | None = None) -> int:
    """Publish every pledge whose live figures differ from what is shown; returns how many."""
    stale = [r[0] for r in await db.fetchall(
        "SELECT p.id FROM pledges p JOIN pledge_changes c ON c.pledge_id = p.id "
        "LEFT JOIN pledge_shown s ON s.pledge_id = p.id "
        "WHERE s.pledge_id IS NULL OR s.token != c.token OR s.met != p.announced")]
    if stale:
        live = await live_figures(db, stale)
        rows = await db.fetchall(
            "SELECT p.id, c.token, p.announced FROM pledges p JOIN pledge_changes c ON c.pledge_id = p.id "
            f"WHERE p.id IN ({','.join('?' * len(stale))})", stale)  # noqa: S608
        await db.executemany(
            "INSERT INTO pledge_shown (pledge_id, token, met, figures) VALUES (?, ?, ?, ?) ON CONFLICT (pledge_id) "
            "DO UPDATE SET token=excluded.token, met=excluded.met, figures=excluded.figures",
            [(pid, token, int(bool(met)), _dumps(live[pid])) for pid, token, met in rows])
    await db.execute("DELETE FROM meta WHERE key=?", (DUE,))
    await db.execute("DELETE FROM pledge_shown WHERE pledge_id NOT IN (SELECT id FROM pledges)")
    await rsvps.publish_turnout(db)  # RSVP turnout follows the same rounds
    return len(stale)


def _dumps(f: Figures) -> str:
    return json.dumps([f.total, f.company_total, f.labelled, list(f.announced)])


def _loads(text: str, met: bool) -> Figures:
    total, company_total, labelled, announced = json.loads(text)
    return Figures(total, company_total, labelled, tuple(announced), met)
