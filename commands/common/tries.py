"""A per-sender limit on tries (wrong invite codes, hotline questions), in memory and bounded.

Each sender is known by a short keyed tag (``Member.ref``, cut to 16 bytes): no Matrix ID is
held. At most ``capacity`` senders are remembered; when full, the one seen least recently is
dropped (an attacker with many accounts gains nothing by that: each account has its own limit).
Nothing is written to disk; a restart forgets the counts.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

from storage.hashing import Member


class TryLimit:
    def __init__(self, purpose: str, limit: int, window: timedelta, capacity: int = 10_000) -> None:
        self.purpose = purpose
        self.limit = limit
        self.window = window
        self.capacity = capacity
        self._tries: OrderedDict[bytes, deque[datetime]] = OrderedDict()

    def _window(self, member: Member, now: datetime) -> deque[datetime]:
        key = member.ref(self.purpose)[:16]
        tries = self._tries.pop(key, None) or deque()
        while tries and tries[0] <= now - self.window:
            tries.popleft()
        self._tries[key] = tries  # the most recently seen last
        while len(self._tries) > self.capacity:
            self._tries.popitem(last=False)
        return tries

    def blocked(self, member: Member, now: datetime) -> bool:
        """Whether ``member`` has used up their tries for now."""
        return len(self._window(member, now)) >= self.limit

    def count(self, member: Member, now: datetime) -> None:
        """One more try."""
        self._window(member, now).append(now)

    def __len__(self) -> int:
        return len(self._tries)

    def clear(self) -> None:
        self._tries.clear()
