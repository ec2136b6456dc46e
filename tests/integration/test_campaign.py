"""Only the campaign commands the bot (issue #16), tried against a real Synapse as an
infiltrator would: an outsider on the same homeserver, and a coordinator of another room.

The harness's campaign (tests/harness.py ``TestCampaign``): an admin ("organizer") keeps the
home room; enrolled members sit in it with power 0; ``coord`` gets coordinator power there when
they invite the bot into a room of theirs.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import BotProcess, Member

pytestmark = pytest.mark.integration

REFUSED = "Only a coordinator of the campaign can do that"
# everything a command could leave behind about its sender
BOOKKEEPING = ("processed_events", "outbox", "room_flags", "pledge_signers", "rollcall_answers",
               "personal_reminders", "confirmations", "campaign_rooms")
# the campaign's state that campaign-wide commands change
CAMPAIGN_STATE = ("pledges", "pledge_rooms", "rollcalls", "company_aliases", "campaign_rooms", "confirmations",
                  "action_rooms")


def rows(bot: BotProcess, tables: tuple[str, ...] = BOOKKEEPING) -> dict[str, int]:
    conn = bot.open_db()
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
    finally:
        conn.close()


def state(bot: BotProcess) -> dict[str, list[tuple[object, ...]]]:
    conn = bot.open_db()
    try:
        found = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in CAMPAIGN_STATE}  # noqa: S608
        found["rollcalls"] = conn.execute("SELECT id, slug, closed_at FROM rollcalls ORDER BY 1").fetchall()
        return found
    finally:
        conn.close()


async def declined(member: Member, room_id: str, bot_id: str) -> None:
    def gone() -> bool:
        room = member.client.rooms.get(room_id)
        return room is not None and bot_id not in room.invited_users and bot_id not in room.users

    await member.wait_for(gone, timeout=30)


async def test_an_outsider_cannot_borrow_the_bot(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2").start()
    coord = await members("coord", bot)
    mallory = await members("mallory", bot, enroll=False)
    room = await coord.create_room(name="branch")
    assert "Created pledge `letter`" in (await coord.ask(room, "!pledge create letter Sign the letter")).body
    await coord.campaign.ready()
    await asyncio.sleep(1)
    before = rows(bot)

    # her own room: the invite is declined, nothing about it stored
    own = await mallory.create_room(invite_bot=False, name="mallory's")
    await mallory.client.room_invite(own, bot.user_id)
    await declined(mallory, own, bot.user_id)

    # her DM: one short line naming no pledge or roll-call; nothing runs, nothing stored
    dm = await mallory.create_dm()
    for line in ("!pledges", "!pledge letter", "!rollcall list"):
        answer = await mallory.ask(dm, line)
        assert "only work with members of the campaign" in answer.body
        assert "letter" not in answer.body and "roll" not in answer.body.lower()
    await asyncio.sleep(2)
    assert len(mallory.from_bot(dm)) == 3
    assert rows(bot) == before, "something about the outsider was stored"


async def test_a_coordinator_of_another_room_manages_only_that_room(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2").start()
    coord = await members("coord", bot)
    rita = await members("rita", bot)
    branch = await coord.create_room(name="branch", invite=(rita.user_id,), power={rita.user_id: 100})
    campaign = coord.campaign
    assert campaign is not None
    home = campaign.home
    await coord.ask(branch, "!pledge create letter Sign the letter")
    await coord.ask(branch, "!rollcall start walkout Who walks out?")
    await rita.wait_for(lambda: len(rita.from_bot(branch)) >= 2)

    # every campaign-wide command: refused, campaign state unchanged
    before = state(bot)
    for line in ("!pledge close letter", "!pledge create other Another", "!pledge rooms letter add",
                 "!rollcall end walkout", "!rollcall start other Other?", "!company alias Zqxv Robotics = Amazon",
                 "!broadcast Walkout CANCELLED, stay home", "!confirm 1234", "!rooms",
                 "!rooms approve !x:example.org", "!rooms leave 1", "!action rooms 1 add"):
        reply = await rita.ask(branch, line)
        assert REFUSED in reply.body, (line, reply.body)
    assert state(bot) == before
    assert "open" in (await rita.ask(branch, "!pledge info letter")).body
    assert "(open" in (await rita.ask(branch, "!rollcall walkout")).body

    # what belongs to her room: allowed
    assert "scheduled" in (await rita.ask(branch, "!action add tomorrow 9am | Call the council")).body
    assert "Room safety check" in (await rita.ask(branch, "!audit")).body

    # her own room: declined (a room coordinator is no campaign coordinator)
    own = await rita.create_room(invite_bot=False, name="rita's")
    await rita.client.room_invite(own, bot.user_id)
    await declined(rita, own, bot.user_id)

    # power in the home room counts at once, both ways
    await campaign.set_power(rita.user_id, 100)
    await asyncio.sleep(1)
    listed = await rita.ask(branch, "!rooms")
    assert "2 rooms" in listed.body and "branch" not in listed.body  # names only in the home room
    assert "branch" in (await rita.ask(home, "!rooms")).body
    await campaign.set_power(rita.user_id, 0)
    await asyncio.sleep(1)
    assert REFUSED in (await rita.ask(branch, "!rooms")).body

    # a campaign coordinator does all of it; the admin (organizer) too
    assert "closed" in (await coord.ask(branch, "!rollcall end walkout")).body.lower()
    assert "now means" in (await coord.ask(home, "!company alias Zqxv Robotics = Amazon")).body
    assert "Leaving" in (await campaign.organizer.ask(home, "!rooms leave 2")).body
    await declined(coord, branch, bot.user_id)
