"""Award alerts end to end (issue #28): the bot process looks up awards on a fake USAspending on
loopback (the documented ``spending_by_award`` answer shape, as tests/unit/test_refresh.py
replays it), and the coordinators' member client reads each new award and changed amount once in
the home room; a restart repeats nothing; an error answer and a malformed page alert nothing and show
in ``doctor``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from bot.runtime.awards.api import SEARCH_PATH
from tests.harness import BotProcess, Member
from tests.unit.test_refresh import result, serve

pytestmark = pytest.mark.integration


class FakeUSAspending:
    """Every company search gets ``self.results`` (``self.status``/``self.body`` when set)."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.status = 200
        self.body: str | None = None
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        if self.body is not None:
            return web.Response(text=self.body, content_type="application/json")
        terms = " ".join(body["filters"]["recipient_search_text"]).lower()
        hits = [r for r in self.results if "palantir" in terms] if body["page"] == 1 else []
        return web.json_response({"results": hits, "page_metadata": {"page": body["page"], "hasNext": False}})


async def looked_up(bot: BotProcess, fake: FakeUSAspending, timeout: float = 90) -> dict[str, Any]:
    """Wait for a look-up of this run to end (success or error) and return what health.json says."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
        try:
            lookup = json.loads((bot.data_dir / "health.json").read_text()).get("award_lookup")
        except (OSError, ValueError):
            continue
        if lookup and fake.requests:
            return lookup  # type: ignore[no-any-return]
    raise AssertionError("no award look-up finished")


def alerts(member: Member, room: str) -> list[str]:
    return [m.body for m in member.from_bot(room) if m.body.startswith("📄")]


async def test_new_awards_and_changed_amounts_alert_once_and_outages_alert_nothing(make_bot, members):
    fake = FakeUSAspending()
    runner, url = await serve(fake)
    url = url.removesuffix(SEARCH_PATH)  # the bot's setting is the site; it adds the path
    try:
        fake.results = [result(1), result(2)]
        bot = make_bot(BOT_AWARD_ALERTS="1h", BOT_USASPENDING_URL=url).start()
        alice = await members("alice", bot)
        campaign = alice.campaign
        assert campaign is not None
        organizer, home = campaign.organizer, campaign.home
        await campaign.ready()
        baseline = await looked_up(bot, fake)  # the first look-up: everything awarded so far is the baseline
        assert baseline["refreshed_on"] and baseline["error"] is None
        assert alerts(organizer, home) == []

        changed = dict(result(2), **{"Award Amount": 3_500_000.5})
        fake.results, fake.requests = [result(1), changed, result(3)], 0
        bot.stop()
        bot.start()
        await looked_up(bot, fake)
        found = await organizer.wait_for(lambda: alerts(organizer, home) if len(alerts(organizer, home)) >= 2 else [])
        assert any("New contract award: PALANTIR TECHNOLOGIES INC., $1,000,004 from ICE" in a for a in found), found
        assert any("Contract award changed" in a and "now $3,500,000" in a and "was $1,000,002" in a for a in found)
        assert all("https://www.usaspending.gov/award/" in a for a in found)

        fake.requests = 0  # a restart with nothing new: nothing repeated
        bot.stop()
        bot.start()
        await looked_up(bot, fake)
        await asyncio.sleep(3)
        assert len(alerts(organizer, home)) == 2

        # an error answer, then a malformed page: nothing alerted, doctor says so. (A 503 is retried with
        # backoff first, ~30 s of waiting: tests/unit/test_refresh.py shows that with the same client.)
        for broken in ("status", "body"):
            fake.requests, fake.status, fake.body = 0, 404 if broken == "status" else 200, None
            if broken == "body":
                fake.body = '{"results": "not a list"}'
            fake.results = [result(1), changed, result(3), result(4)]
            bot.stop()
            bot.extra_env["BOT_LOG_LEVEL"] = "INFO"
            bot.start()
            failed = await looked_up(bot, fake)
            assert failed["error"], failed
            doctor = bot.run_cli("doctor", "--env-file", str(bot.env_file))
            assert "award alerts" in doctor.stdout and "the last look-up failed" in doctor.stdout, doctor.stdout
            assert len(alerts(organizer, home)) == 2
    finally:
        await runner.cleanup()
