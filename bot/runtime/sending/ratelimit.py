"""Being rate limited by the homeserver: one pause for the whole bot, one clear log line a
minute (with the count), the count in the health file, and ``doctor`` reporting it.

nio retries a request that got HTTP 429 after its ``Retry-After`` by itself (the session
configures ``max_limit_exceeded=None``) and tells the response callbacks first
(``bot/runtime/session.py``). That one answer concerns the account, not the request, so
:class:`RateGate` makes every outbox sender wait out the same pause, instead of each parallel
send running into its own 429. A rate limit never loses a message, it only makes sending slow:
with Synapse's default ``rc_message`` (0.2 messages/s, burst 10) an announcement to 15,000 DMs
takes most of a day. The operator learns it from the log and from ``organizer-bot doctor``
(which reads the counts this module puts in the health file); the fix is the homeserver
admin's: exempt the bot account (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.e2ee.crosssign import Check

log = logging.getLogger("organizer_bot")

LOG_EVERY = 60.0  # seconds between two "rate limited" log lines
DEFAULT_RETRY_MS = 5000  # when the homeserver names no delay
FIX = ("ask the homeserver admin to exempt the bot account "
       "(POST /_synapse/admin/v1/users/<bot>/override_ratelimit, see docs/operations.md)")


class RateGate:
    """Counts the homeserver's 429 answers and pauses every sender for their delay; logs the
    first at once, then at most one line per :data:`LOG_EVERY` with the count since the last."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._now = clock
        self._wall = wall
        self.until = 0.0  # monotonic time before which nothing is sent
        self.total = 0  # 429 answers since start
        self.last_at: float | None = None  # wall clock of the last 429 (for the health file)
        self._unlogged = 0
        self._retry_ms = 0  # the longest delay asked since the last log line
        self._logged_at: float | None = None

    def hit(self, retry_after_ms: int | None) -> None:
        """The homeserver answered 429: pause every sender for its delay."""
        delay_ms = retry_after_ms or DEFAULT_RETRY_MS
        self.until = max(self.until, self._now() + delay_ms / 1000)
        self.total += 1
        self._unlogged += 1
        self._retry_ms = max(self._retry_ms, delay_ms)
        self.last_at = self._wall()
        self.flush()

    def flush(self) -> None:
        """Log the 429s counted since the last line, if a period has passed (the sync loop calls
        it with each health write, so the last of a storm is reported too)."""
        now = self._now()
        if not self._unlogged or (self._logged_at is not None and now - self._logged_at < LOG_EVERY):
            return
        since = "" if self._logged_at is None else f" in the last {now - self._logged_at:.0f} s"
        log.warning("rate limited by the homeserver: %d answer%s 429%s (longest wait %d ms, %d since start); "
                    "every send pauses as asked, messages are delayed, not lost; %s",
                    self._unlogged, "" if self._unlogged == 1 else "s", since, self._retry_ms, self.total, FIX)
        self._unlogged, self._retry_ms, self._logged_at = 0, 0, now

    def health(self) -> dict[str, Any]:
        """Fields for the health file (read by ``organizer-bot doctor``)."""
        return {"rate_limited": self.total, "rate_limited_last": self.last_at}

    async def wait(self) -> None:
        """Return once the current pause (if any) is over."""
        delay = self.until - self._now()
        if delay > 0:
            await asyncio.sleep(delay)
            await self.wait()  # a 429 during the pause extended it


def read_health(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def exemption(homeserver: str, user_id: str, access_token: str) -> bool | None:
    """Whether the homeserver exempts ``user_id`` from message rate limits; ``None`` when it will not
    say (the admin API answers only server admins, which a bot account normally is not)."""
    url = f"{homeserver}/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(url, headers={"Authorization": f"Bearer {access_token}"}) as response:
                if response.status != 200:
                    return None
                body = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return isinstance(body, dict) and body.get("messages_per_second") == 0 and body.get("burst_count") == 0


async def doctor_check(data_dir: Path, homeserver: str, user_id: str, access_token: str) -> Check:
    """``organizer-bot doctor``: the 429s the running bot recorded, and the exemption if visible.
    Sends nothing."""
    health = read_health(data_dir / "health.json")
    count = int(health.get("rate_limited") or 0)
    exempt = await exemption(homeserver, user_id, access_token)
    status = {True: "the account is exempt", False: "the account is NOT exempt",
              None: "exemption unknown (the admin API answers server admins only)"}[exempt]
    if count:
        when = health.get("rate_limited_last")
        ago = f", the last {int(time.time() - when)} s ago" if isinstance(when, int | float) else ""
        return Check("rate limits", False, f"{count} answers 429 since the bot started{ago}; {status}", FIX)
    if exempt is False:
        return Check("rate limits", False, f"none recorded yet; {status}",
                     "a crowd (launch day, announcements to every DM) will be slowed: " + FIX)
    return Check("rate limits", True, f"none recorded since the bot started; {status}")
