"""Being rate limited by the homeserver: one clear log line a minute (with the count), not one per 429.

nio retries a 429 by itself after the server's ``retry_after_ms`` (the shell configures
``max_limit_exceeded=None``), so a rate limit never loses a message, it only makes sending slow: with
Synapse's default ``rc_message`` (0.2 messages/s, burst 10) an announcement to 15,000 DMs takes most of
a day. The operator must learn that from the log and from ``organizer-bot doctor`` (which reads the
counts this module puts in the health file), and the fix is the homeserver admin's: exempt the bot
account (docs/operations.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.crosssign import Check

log = logging.getLogger("organizer_bot")

PERIOD = 60.0  # seconds between two log lines about rate limiting
FIX = ("ask the homeserver admin to exempt the bot account "
       "(POST /_synapse/admin/v1/users/<bot>/override_ratelimit, see docs/operations.md)")


class RateLimits:
    """Counts the homeserver's 429 answers; logs the first at once, then at most one line per period."""

    def __init__(self, period: float = PERIOD, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.period = period
        self._clock = clock
        self._wall = wall
        self.total = 0
        self.last_at: float | None = None  # wall clock of the last 429
        self._unlogged = 0
        self._logged_at: float | None = None
        self._retry_ms = 0

    def record(self, retry_after_ms: int | None) -> None:
        """One 429 answer (nio waits ``retry_after_ms`` and retries)."""
        self.total += 1
        self._unlogged += 1
        self._retry_ms = max(self._retry_ms, retry_after_ms or 0)
        self.last_at = self._wall()
        self.flush()

    def flush(self) -> None:
        """Log what was counted since the last line, if a period has passed (call it now and then)."""
        now = self._clock()
        if not self._unlogged or (self._logged_at is not None and now - self._logged_at < self.period):
            return
        since = "" if self._logged_at is None else f" in the last {now - self._logged_at:.0f} s"
        log.warning("rate limited by the homeserver: %d answer%s 429%s (longest wait %d ms, %d since start); "
                    "messages are delayed, not lost; %s", self._unlogged, "" if self._unlogged == 1 else "s",
                    since, self._retry_ms, self.total, FIX)
        self._unlogged, self._retry_ms, self._logged_at = 0, 0, now

    def health(self) -> dict[str, Any]:
        """Fields for the health file (read by ``organizer-bot doctor``)."""
        return {"rate_limited": self.total, "rate_limited_last": self.last_at}


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
