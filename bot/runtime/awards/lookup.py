"""Award alerts: the bot looks up the known companies' contract awards on USAspending on a
schedule (``BOT_AWARD_ALERTS``) and queues an alert for each new award and each changed amount.

The look-up is all-or-nothing (:func:`bot.runtime.awards.api.fetch` retries 429s, 5xx and
network errors with backoff and raises when it gives up): an outage or a malformed answer stores
nothing and queues nothing, and is recorded for ``doctor`` and ``health.json``. What a look-up
found is stored together with its alerts in one transaction; the scheduler's ``alerts`` source
(:mod:`commands.alerts`) words and posts them, so each is posted once across crashes and restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import AGENCIES, Settings
from bot.e2ee.crosssign import Check
from bot.runtime.awards.api import SEARCH_PATH, RefreshFailed, fetch
from storage import contracts
from storage.contracts.data import upsert_refreshed

if TYPE_CHECKING:
    from bot.runtime.shell import MatrixShell

log = logging.getLogger("organizer_bot.award_alerts")
FIRST_LOOKUP_SECONDS = 5  # after the first sync: "within a minute of start"


class AwardAlerts:
    def __init__(self, shell: MatrixShell, interval: int) -> None:
        self.shell = shell
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await self.shell.ready.wait()
        delay: float = FIRST_LOOKUP_SECONDS
        while True:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            await self.look_up()
            delay = self.interval

    async def look_up(self) -> int:
        """One look-up; returns the number of alerts queued (0 when it failed)."""
        settings, db = self.shell.settings, self.shell.db
        day = datetime.now(UTC).date().isoformat()
        try:
            awards, report = await fetch(
                db, api_url=settings.BOT_USASPENDING_URL + SEARCH_PATH,
                sub_agencies=[AGENCIES[name] for name in settings.BOT_AWARD_AGENCIES])
        except RefreshFailed as exc:
            log.warning("award look-up failed, nothing changed; the next try is in %ss: %s", self.interval, exc)
            async with db.transaction():
                await contracts.note_refresh_error(db, day, str(exc))
            await self._report()
            return 0
        async with db.transaction():
            await upsert_refreshed(db, awards)
            queued = await contracts.note_awards(db, awards, day)
        await self._report()
        log.info("award look-up: %s awards of %s companies, %s alerts queued", len(awards), report.companies, queued)
        if queued:
            self.shell.wake(["scheduler"])
        return queued

    async def _report(self) -> None:
        refreshed, error = await contracts.refresh_status(self.shell.db)
        self.shell.health_notes["award_lookup"] = {"refreshed_on": refreshed, "error": error}


def doctor_check(settings: Settings) -> Check:
    """``organizer-bot doctor``: the last look-up as the running bot last wrote it into health.json."""
    name = "award alerts"
    if settings.award_alert_interval is None:
        return Check(name, True, "off (BOT_AWARD_ALERTS=off)")
    try:
        lookup = json.loads((settings.BOT_DATA_DIR / "health.json").read_text()).get("award_lookup") or {}
        refreshed, error = lookup.get("refreshed_on"), lookup.get("error")
    except (OSError, ValueError, AttributeError):
        refreshed = error = None
    if error:
        return Check(name, False, f"the last look-up failed ({str(error)[:200]}); last success: {refreshed or 'never'}",
                     f"check that {settings.BOT_USASPENDING_URL} is reachable from the bot; it tries again at "
                     f"the next interval ({settings.BOT_AWARD_ALERTS})")
    if refreshed:
        return Check(name, True, f"last look-up {refreshed}, every {settings.BOT_AWARD_ALERTS}")
    return Check(name, True, "no look-up yet (the first comes within a minute of the bot's start)")
