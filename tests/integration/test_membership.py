"""Membership is live everywhere (issue #23 items 3 and 10), through the real Synapse: news goes
only to the DMs of current campaign members, never to an outsider's DM nor to the DM of someone
who left or was kicked from every campaign room; an outsider's DM (and a "DM" of three) never
reaches the home room's approval list and leaves no row, also after a restart."""

from __future__ import annotations

import asyncio
import re

import pytest
from nio import RoomCreateResponse

from tests.harness import Member
from tests.integration.test_campaign import rows

pytestmark = pytest.mark.integration

NEWS = "Pledge `walk` is active"


def said(member: Member, room_id: str, text: str) -> bool:
    return any(text in m.body for m in member.from_bot(room_id))


async def test_news_reaches_members_dms_only_and_outsiders_leave_no_trace(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2", BOT_ANNOUNCE_DELAY_MIN="0", BOT_ANNOUNCE_DELAY_MAX="1").start()
    bob, carol, kim, lee = [await members(name, bot) for name in ("bob", "carol", "kim", "lee")]
    mallory, eve = await members("mallory", bot, enroll=False), await members("eve", bot, enroll=False)
    campaign = bob.campaign
    assert campaign is not None
    organizer, home = campaign.organizer, campaign.home
    dms = {m.user_id: await m.create_dm() for m in (bob, carol, kim, lee, mallory)}
    # a "DM" of three: invited as direct, with another outsider in it
    response = await mallory.client.room_create(
        is_direct=True, invite=[bot.user_id, eve.user_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    assert isinstance(response, RoomCreateResponse)
    trio = response.room_id
    await mallory.wait_joined(trio, bot.user_id)
    assert "only work with members" in (await mallory.ask(dms[mallory.user_id], "!pledges")).body

    # kim leaves every campaign room; lee is kicked from it: their DMs stay, their membership ends
    await kim.client.room_leave(home)
    await organizer.client.room_kick(home, lee.user_id)
    await organizer.wait_for(lambda: {kim.user_id, lee.user_id}.isdisjoint(organizer.client.rooms[home].users))
    await asyncio.sleep(2)  # the bot's next sync sees them gone

    # with k = 2 a threshold is at least 2k - 1 = 3: bob, carol and the organizer meet it
    assert "Created pledge" in (await organizer.ask(home, "!pledge create walk Walk out --threshold 3")).body
    await bob.ask(dms[bob.user_id], "!pledge walk")
    await carol.ask(dms[carol.user_id], "!pledge walk")
    await organizer.ask(await organizer.create_dm(), "!pledge walk")
    await bob.wait_for(lambda: said(bob, dms[bob.user_id], NEWS), timeout=30)  # a member's DM gets the news
    await organizer.wait_for(lambda: said(organizer, home, NEWS), timeout=30)

    # a broadcast goes to the campaign's rooms, never to a DM
    preview = await organizer.ask(home, "!broadcast Strike EPSILON at noon")
    found = re.search(r"confirm (\d{4})", preview.body)
    assert found is not None, preview.body
    await organizer.send(home, f"!confirm {found.group(1)}")
    await organizer.wait_for(lambda: said(organizer, home, "Broadcast delivered"), timeout=30)
    await asyncio.sleep(3)
    for member in (kim, lee, mallory):
        dm = dms[member.user_id]
        assert not said(member, dm, NEWS), member.user_id  # an ex-member's or an outsider's DM: nothing
        assert not said(member, dm, "EPSILON"), member.user_id
    assert not said(bob, dms[bob.user_id], "EPSILON")

    # the approval list: no outsider's DM, no "DM" of three, before and after a restart
    listed = await organizer.ask(home, "!rooms")
    assert "waiting for approval" not in listed.body and "rooms approve" not in listed.body, listed.body
    bot.stop()
    bot.start()
    await asyncio.sleep(2)
    listed = await organizer.ask(home, "!rooms")
    assert "waiting for approval" not in listed.body and "rooms approve" not in listed.body, listed.body
    before = rows(bot)
    for room in (dms[mallory.user_id], trio):
        assert "only work with members" in (await mallory.ask(room, "!pledges")).body
    assert "only work with members" in (await kim.ask(dms[kim.user_id], "!pledges")).body  # membership ended
    await asyncio.sleep(2)
    assert rows(bot) == before, "an outsider's command after the restart left a row"
