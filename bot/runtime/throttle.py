"""How fast one sender's commands are taken: at most ``rate`` a minute each, with one notice when
they go over. Memory stays bounded whoever writes: a sender's entry ends once a minute passes
without their commands, and past ``cap`` senders the least recent is dropped (a crowd of
outsiders, each sending once, no longer grows a map for as long as the bot runs)."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

WINDOW = 60.0  # seconds
CAP = 10_000  # senders remembered at most


@dataclass
class _Entry:
    times: deque[float] = field(default_factory=deque)
    noticed: float = float("-inf")  # when they were last told they are throttled
    seen: float = 0.0


class Throttle:
    def __init__(self, rate: int, cap: int = CAP, window: float = WINDOW) -> None:
        self.rate = rate
        self.cap = cap
        self.window = window
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, key: str, now: float) -> tuple[bool, bool]:
        """(drop this command, send the one notice now) for ``key``'s command at ``now``."""
        self._expire(now)
        entry = self._entries.pop(key, None) or _Entry()
        entry.seen = now
        self._entries[key] = entry  # now the most recent
        while len(self._entries) > self.cap:
            self._entries.popitem(last=False)
        window = entry.times
        while window and window[0] <= now - self.window:
            window.popleft()
        if len(window) < self.rate:
            window.append(now)
            return False, False
        first_notice = entry.noticed <= now - self.window
        if first_notice:
            entry.noticed = now
        return True, first_notice

    def _expire(self, now: float) -> None:
        """Forget the senders not seen for a whole window (they are at the front)."""
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.seen > now - self.window:
                break
            del self._entries[key]
