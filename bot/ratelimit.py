"""One pause for the whole bot when the homeserver says it sends too fast.

nio retries a request that got HTTP 429 after its ``Retry-After`` by itself, and tells the
response callbacks first (``bot/session.py``). That one answer concerns the account, not the
request, so :class:`RateGate` makes every outbox sender wait out the same pause, instead of
each parallel send running into its own 429. The log gets one line a minute at most, with
the count, and what an admin can do about it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("organizer_bot")

LOG_EVERY = 60.0  # seconds between two "rate limited" log lines
DEFAULT_RETRY_MS = 5000  # when the homeserver names no delay


class RateGate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self.until = 0.0  # monotonic time before which nothing is sent
        self.total = 0  # 429 answers since start
        self._unlogged = 0
        self._logged_at: float | None = None

    def hit(self, retry_after_ms: int | None) -> None:
        """The homeserver answered 429: pause every sender for its delay."""
        now = self._now()
        self.until = max(self.until, now + (retry_after_ms or DEFAULT_RETRY_MS) / 1000)
        self.total += 1
        self._unlogged += 1
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY:
            log.warning(
                "rate limited by the homeserver (%d times since the last report); sends paused %.1f s. "
                "A homeserver admin can exempt the bot account: see docs/operations.md",
                self._unlogged, self.until - now)
            self._logged_at, self._unlogged = now, 0

    async def wait(self) -> None:
        """Return once the current pause (if any) is over."""
        delay = self.until - self._now()
        if delay > 0:
            await asyncio.sleep(delay)
            await self.wait()  # a 429 during the pause extended it
