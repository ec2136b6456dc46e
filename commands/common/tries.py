"""A per-sender limit in memory, bounded: at most ``limit`` tries by one sender within any
``window`` (wrong invite codes, hotline questions, and the commands any sender may type a minute:
``bot/runtime/intake.py``), with one notice per window for a sender who goes over.

Each sender is known by a short keyed tag (``Member.ref`` for the limit's purpose, cut to 16
bytes, or a tag the caller keyed already, such as ``Member.tag``): no Matrix ID is held. Memory
stays bounded whoever writes: a sender is forgotten once a whole window passes without a try of
theirs, and past ``capacity`` senders the one seen least recently is dropped (a crowd of
outsiders, each sending once, grows no map for as long as the bot runs; an attacker with many
accounts gains nothing: each account has its own limit). Nothing is written to disk; a restart
forgets the counts.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.hashing import Member

CAPACITY = 10_000  # senders remembered at most


@dataclass
class _Entry:
    times: deque[float] = field(default_factory=deque)  # the tries within the window, oldest first
    noticed: float = float("-inf")  # when they were last told they are over the limit
    seen: float = 0.0


class TryLimit:
    def __init__(self, purpose: str, limit: int, window: timedelta, capacity: int = CAPACITY) -> None:
        self.purpose = purpose
        self.limit = limit
        self.window = window.total_seconds()
        self.capacity = capacity
        self._entries: OrderedDict[bytes | str, _Entry] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._entries)

    def blocked(self, sender: Member | str, now: datetime | float) -> bool:
        """Whether ``sender`` has used up their tries for now."""
        return len(self._entry(sender, now).times) >= self.limit

    def count(self, sender: Member | str, now: datetime | float) -> None:
        """One more try."""
        self._entry(sender, now).times.append(_seconds(now))

    def check(self, sender: Member | str, now: datetime | float) -> tuple[bool, bool]:
        """Take one try if there is room: (refused, tell them now: their first refusal this window)."""
        entry, at = self._entry(sender, now), _seconds(now)
        if len(entry.times) < self.limit:
            entry.times.append(at)
            return False, False
        first_notice = entry.noticed <= at - self.window
        if first_notice:
            entry.noticed = at
        return True, first_notice

    def clear(self) -> None:
        self._entries.clear()

    def _entry(self, sender: Member | str, now: datetime | float) -> _Entry:
        """``sender``'s entry, now the most recently seen, its tries older than the window gone."""
        at = _seconds(now)
        self._expire(at)
        key = sender if isinstance(sender, str) else sender.ref(self.purpose)[:16]
        entry = self._entries.pop(key, None) or _Entry()
        entry.seen = at
        self._entries[key] = entry
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        while entry.times and entry.times[0] <= at - self.window:
            entry.times.popleft()
        return entry

    def _expire(self, now: float) -> None:
        """Forget the senders not seen for a whole window (they are at the front): none of their
        tries counts any more."""
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.seen > now - self.window:
                break
            del self._entries[key]


def _seconds(now: datetime | float) -> float:
    return now.timestamp() if isinstance(now, datetime) else now
