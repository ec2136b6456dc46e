"""The rows one drain of the outbox has read: those under way and the next ones in the order they
go out (answers first), each unsealed and decoded once.

Reading the whole window again whenever a send finished unsealed every row of a fan-out once per
send before it (a 300-DM broadcast: up to 40 rows per finished send). Here a finished send only
forgets its rows; the database is asked again only for what may have changed:

* after a kick (rows committed since the last read: an answer goes before bulk rows read
  earlier) or when a held announcement round came due, the first :attr:`Window.lookahead` rows
  not in the window, merged in; rows pushed beyond the lookahead are forgotten (read again later);
* when the rows waiting here run low, the next rows after them.

Rows are never deleted by anyone but the sender, so between reads the rows waiting here stay the
first ones due: what a full read every time would have chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.runtime.sending import outputs
from bot.runtime.sending.outputs import Delivery
from storage.core import EventBook, Outgoing

Row = tuple[Outgoing, Delivery | None]


@dataclass(eq=False)
class Window:
    book: EventBook
    lookahead: int  # rows read beyond those under way
    rows: dict[int, Row] = field(default_factory=dict)  # read and not yet finished with, by row ID
    taken: set[int] = field(default_factory=set)  # under way
    complete: bool = False  # the last read found every row due: none is left to read until new rows
    due: int | None = None  # when the next held row comes due (unix seconds), as of the last full read
    fresh: bool = True  # nothing read yet

    def stale(self, kicked: bool, now: float) -> bool:
        """Whether rows may be due that a read beyond the window would not find first."""
        return self.fresh or kicked or (self.due is not None and now >= self.due)

    def wants(self, everything: bool) -> bool:
        """Whether to read: ``everything`` (see :meth:`stale`), or the rows waiting run low."""
        return everything or (not self.complete and len(self.rows) - len(self.taken) < self.lookahead // 2)

    async def read(self, everything: bool, now: float) -> int:
        """Call inside a transaction, if :meth:`wants`. ``everything``: the first rows not here (see
        the module's docstring); otherwise the rows after those waiting. Returns the rows read."""
        limit = self.lookahead if everything else self.lookahead - (len(self.rows) - len(self.taken))
        found = await self.book.pending(limit=limit, now=now, skip=list(self.rows))
        if everything:
            self.due = await self.book.next_round(now)
            self.fresh = False
        for item in found:
            self.rows[item.id] = (item, outputs.decode(item.room_id, item.payload))
        self.complete = len(found) < limit
        beyond = self.waiting()[self.lookahead:]
        for item, _ in beyond:
            del self.rows[item.id]
        if beyond:
            self.complete = False
        return len(found)

    def waiting(self) -> list[Row]:
        """The rows read and not under way, in the order they go out."""
        rows = [row for row_id, row in self.rows.items() if row_id not in self.taken]
        return sorted(rows, key=lambda row: (row[0].lane, row[0].id))

    def start(self, ids: set[int]) -> None:
        self.taken |= ids

    def finish(self, ids: set[int]) -> None:
        """A send ended: its rows are done (deleted) or, after a failure, no more rows are started."""
        for row_id in ids:
            self.rows.pop(row_id, None)
        self.taken -= ids

    def lanes(self) -> set[int]:
        """The lanes of the rows left, under way or waiting."""
        return {item.lane for item, _ in self.rows.values()}
