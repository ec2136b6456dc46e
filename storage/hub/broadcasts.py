"""A broadcast's progress through the DMs of members by code, and the measured sending rate (issue 27).

Counts only: a broadcast under way is its outbox rows' transaction-ID stem, how many DM rows it
queued, how many rooms it went to, when it was confirmed and how many rows were dropped (the
member left, turned news off, or the homeserver refused). What is still to send is the count of
its rows left in the outbox, so the rows themselves stay the one record of what is owed: nothing
here says who. Kept in ``meta`` (one small JSON value), committed with the rows that queue it.

The rate (DMs per second) is what the last broadcasts measured from confirmation to their last
DM, averaged with the ones before (half weight each time); :data:`DEFAULT_RATE` before any.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from storage.db import Database

KEY = "broadcasts"
RATE_KEY = "broadcast_dm_rate"
DEFAULT_RATE = 5.0  # DMs per second before any broadcast measured one (issue 27: 5/s on a loaded 2-core machine)
MEASURED_FROM = 10  # a broadcast to fewer DMs than this does not change the rate (too short to time)
KEEP_FINISHED = 5  # finished broadcasts kept for `!broadcast status`


@dataclass(frozen=True)
class Progress:
    """One broadcast to the DMs of members by code. ``remaining`` is read from the outbox."""

    stem: str  # the outbox rows' transaction-ID stem
    group: str  # the keyed reference the outbox keys those rows by (storage.core EventBook.outbox_group)
    total: int  # DM rows queued
    rooms: int  # campaign rooms it was also posted to
    started: float  # unix time it was confirmed
    dropped: int = 0
    finished: float | None = None
    remaining: int = 0

    @property
    def delivered(self) -> int:
        return max(0, self.total - self.remaining - self.dropped)

    def rate(self, now: float) -> float | None:
        """This broadcast's own DMs per second so far; ``None`` while too little was sent to tell."""
        if self.delivered + self.dropped < MEASURED_FROM:
            return None
        end = self.finished if self.finished is not None else now
        return (self.delivered + self.dropped) / max(end - self.started, 1.0)


async def _all(db: Database) -> dict[str, Progress]:
    raw = await db.get_meta(KEY)
    found = json.loads(raw) if raw else {}
    return {stem: Progress(**{k: v for k, v in row.items() if k != "remaining"}) for stem, row in found.items()}


async def _save(db: Database, found: dict[str, Progress]) -> None:
    finished = sorted((p for p in found.values() if p.finished is not None), key=lambda p: p.finished or 0)
    for old in finished[:-KEEP_FINISHED]:
        del found[old.stem]
    await db.set_meta(KEY, json.dumps({stem: {k: v for k, v in asdict(p).items() if k != "remaining"}
                                       for stem, p in found.items()}))


async def start(db: Database, stem: str, group: str, total: int, rooms: int, now: float) -> None:
    """A broadcast queued ``total`` DM rows under ``stem`` (inside the transaction that queued them)."""
    found = await _all(db)
    found[stem] = Progress(stem, group, total, rooms, now)
    await _save(db, found)


async def remaining(db: Database, group: str) -> int:
    """Rows of a broadcast still in the outbox (``group``: :attr:`Progress.group`; the ``txn_id``
    index, a range)."""
    row = await db.fetchone("SELECT count(*) FROM outbox WHERE txn_id >= ? AND txn_id < ?", (group + ".", group + "/"))
    return int(row[0]) if row else 0


async def under_way(db: Database) -> list[Progress]:
    """Every broadcast not finished, with what is left, oldest first."""
    found = [p for p in (await _all(db)).values() if p.finished is None]
    return [replace(p, remaining=await remaining(db, p.group)) for p in sorted(found, key=lambda p: p.started)]


async def last_finished(db: Database) -> Progress | None:
    done = [p for p in (await _all(db)).values() if p.finished is not None]
    return max(done, key=lambda p: p.finished or 0) if done else None


async def drop(db: Database, stem: str, n: int = 1) -> None:
    """``n`` rows of ``stem`` were dropped instead of delivered."""
    found = await _all(db)
    if stem in found:
        found[stem] = replace(found[stem], dropped=found[stem].dropped + n)
        await _save(db, found)


async def finish(db: Database, stem: str, now: float) -> Progress | None:
    """Mark ``stem`` finished (its last row is done) and fold its rate into the measured one.
    Returns it, or ``None`` if it was finished already or is unknown (report once)."""
    found = await _all(db)
    progress = found.get(stem)
    if progress is None or progress.finished is not None:
        return None
    progress = found[stem] = replace(progress, finished=now)
    await _save(db, found)
    measured = progress.rate(now)
    if measured is not None:
        previous = await db.get_meta(RATE_KEY)
        await db.set_meta(RATE_KEY, str(measured if previous is None else (float(previous) + measured) / 2))
    return progress


async def rate(db: Database) -> tuple[float, bool]:
    """DMs per second to expect, and whether it was measured (else :data:`DEFAULT_RATE`)."""
    raw = await db.get_meta(RATE_KEY)
    return (float(raw), True) if raw else (DEFAULT_RATE, False)
