"""The sender's side of a broadcast's progress (issue 27): which outbox rows belong to a broadcast
under way, how many of them are left, and the home room's lines when the last is done (or when
sends fail and are retried). Counts only (``storage/hub/broadcasts.py``); the wording is
``commands/fanout.py``.

Per row sent this costs a prefix test against the broadcasts under way (usually none or one);
the database is read again only when the stored progress changed, and the rows left are counted
in the database only when the count kept here says the last one is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.runtime.rooms import Rooms
from bot.runtime.sending import outputs
from bot.runtime.sending.outputs import Send
from commands import fanout
from storage.core import ANSWER, EventBook
from storage.hub import broadcasts


@dataclass(eq=False)
class Progress:
    book: EventBook
    rooms: Rooms
    min_cell: int
    prefix: str  # the command prefix, for the lines' hints
    _stored: str | None = field(default=None, init=False)  # the meta value last loaded
    _left: dict[str, int] = field(default_factory=dict, init=False)  # stem → rows left, broadcasts under way
    _dropped: set[str] = field(default_factory=set, init=False)  # txn IDs sent to nobody, not yet counted
    _told_failing: set[str] = field(default_factory=set, init=False)

    async def refresh(self) -> bool:
        """Reload what is under way if it changed (call inside a transaction, before reading rows).
        A broadcast with no row left that was never finished (its rows went another way, or a
        restart came between its last send and its line) is finished now. ``True`` when a line was queued."""
        stored = await self.book.db.get_meta(broadcasts.KEY)
        if stored == self._stored:
            return False
        self._stored = stored
        self._left = {p.stem: p.remaining for p in await broadcasts.under_way(self.book.db)}
        told = False
        for stem in [stem for stem, left in self._left.items() if left == 0]:
            told = await self._finish(stem) or told
        return told

    def stem_of(self, txn_id: str) -> str | None:
        for stem in self._left:
            if txn_id.startswith(stem + "."):
                return stem
        return None

    def dropped(self, txn_id: str) -> None:
        """A row about to be marked done was sent to nobody (the member left, or a refusal)."""
        if self.stem_of(txn_id) is not None:
            self._dropped.add(txn_id)

    async def done(self, txn_id: str) -> bool:
        """A row was done (inside the transaction that deletes it). ``True`` when a line was queued."""
        stem = self.stem_of(txn_id)
        if stem is None:
            return False
        db = self.book.db
        if txn_id in self._dropped:
            self._dropped.discard(txn_id)
            await broadcasts.drop(db, stem)
            self._stored = await db.get_meta(broadcasts.KEY)  # our own change: no reload needed
        self._left[stem] -= 1
        if self._left[stem] > 0:
            return False
        found = (await broadcasts.under_way(db))
        left = next((p.remaining for p in found if p.stem == stem), 0)
        if left:  # rows were queued after the count (cannot happen today): keep counting
            self._left[stem] = left
            return False
        return await self._finish(stem)

    async def _finish(self, stem: str) -> bool:
        del self._left[stem]
        finished = await broadcasts.finish(self.book.db, stem, time.time())
        self._stored = await self.book.db.get_meta(broadcasts.KEY)
        if finished is None:
            return False
        return await self._tell(f"{stem}-done", lambda lang: fanout.done_line(finished, lang, self.min_cell))

    async def failed(self, txn_id: str) -> bool:
        """A row's send failed for now and will be retried: tell the home room once per broadcast."""
        stem = self.stem_of(txn_id)
        if stem is None or stem in self._told_failing:
            return False
        self._told_failing.add(stem)
        async with self.book.db.transaction():
            return await self._tell(f"{stem}-failing", lambda lang: fanout.failing_line(lang, self.prefix))

    async def _tell(self, txn_id: str, line: fanout.Wording) -> bool:
        home = self.rooms.campaign.home_room_id
        if home is None or not self.rooms.joined(home):
            return False
        text = line(await self.rooms.language_of(home))
        await outputs.put(self.book, txn_id, Send(home, outputs.content(text)), ANSWER)
        return True
