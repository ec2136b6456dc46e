"""Members by code, vouching and the hotline (issue 26), handler by handler: no homeserver. The
home room is the fake's first group room (``ROOM``); ``DM`` is the asking member's DM."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.runtime.campaign import Campaign, Gate
from commands import hotline, hub
from commands.base import HubNews, Post, Role
from commands.hotline import HotlineDue, plain_quote
from storage.core import EventBook
from storage.hub import codes
from tests.fakes import DM, ROOM, settings, texts
from tests.unit.test_campaign import FakeRooms

C = Role.COORDINATOR
DORA, EVE = "@dora:example.org", "@eve:example.org"
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


@pytest.fixture(autouse=True)
def _fresh_limits():
    hub.WRONG_CODES.clear()
    hotline.ASKS.clear()


async def count(world, table: str) -> int:
    return (await world.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0]  # noqa: S608


async def make_code(world, line: str = "!codes new") -> list[str]:
    return CODE.findall(texts(await world.run(line, user="@coord:example.org", role=C, room=ROOM)))


async def test_a_code_joins_once_and_leaves_no_link_to_who_used_it(world):
    [code] = await make_code(world)
    assert len(codes.normalize(code)) * 5 >= 64 and all(c in codes.ALPHABET for c in codes.normalize(code))
    assert "Welcome" in texts(await world.run(f"!join {code.lower()}", user=DORA, room=DM))
    assert await count(world, "hub_members") == 1
    assert await count(world, "hub_codes") == 0  # its only use taken: the row is gone
    assert "doesn't work" in texts(await world.run(f"!join {code}", user=EVE, room=DM))
    assert "member already" in texts(await world.run(f"!join {code}", user=DORA, room=DM))
    assert "direct message" in texts(await world.run(f"!join {code}", user=EVE, room=ROOM))


async def test_expired_and_revoked_codes_and_listing(world):
    first, second = await make_code(world, "!codes new 2 --uses 3 --expires in 2 days")
    listing = texts(await world.run("!codes", user="@coord:example.org", role=C, room=ROOM))
    assert listing.count("3 uses left") == 2 and first not in listing and second not in listing
    assert "Revoked 1 code" in texts(await world.run(f"!codes revoke {first}", user="@c:x", role=C, room=ROOM))
    assert "doesn't work" in texts(await world.run(f"!join {first}", user=DORA, room=DM))
    world.now += timedelta(days=3)
    assert "doesn't work" in texts(await world.run(f"!join {second}", user=DORA, room=DM))
    assert await count(world, "hub_codes") == 0 and await count(world, "hub_members") == 0
    world.shell.views = [ROOM, DM, type(ROOM)("!other:x", "Branch", False, True)]
    refused = texts(await world.run("!codes new", user="@c:x", role=C, room=world.shell.views[2]))
    assert "only in the home room" in refused


async def test_guessing_is_limited_per_sender_in_bounded_memory(world):
    [code] = await make_code(world)
    for _ in range(hub.WRONG_CODES.limit):
        assert "doesn't work" in texts(await world.run("!join ZZZZ-ZZZZ-ZZZZ-ZZZZ", user=EVE, room=DM))
    assert "Too many" in texts(await world.run(f"!join {code}", user=EVE, room=DM))  # even the right one
    assert "Welcome" in texts(await world.run(f"!join {code}", user=DORA, room=DM))  # another sender is not held
    limit = hub.TryLimit("t", 1, timedelta(hours=1), capacity=3)
    for i in range(10):
        limit.count(world.ctx(f"@u{i}:x").member, world.now)
    assert len(limit) == 3


async def test_a_dm_member_is_a_campaign_member_and_an_outsider_may_only_join(world):
    rooms = FakeRooms(members={"!home:x": {"@coord:x"}, "!dm:x": {DORA}}, dms={"!dm:x"})
    campaign = Campaign(settings(world.settings.BOT_DATA_DIR), rooms)
    campaign.configured_home = "!home:x"
    book = EventBook(world.db, world.keyring)
    await campaign.refresh(book)
    assert campaign.gate("!dm:x", DORA, True, "pledge") is Gate.NOT_MEMBER
    assert campaign.gate("!dm:x", DORA, True, "join") is Gate.JOIN
    [code] = await make_code(world)
    await world.run(f"!join {code}", user=DORA, room=DM)
    await campaign.refresh(book)
    assert campaign.is_member(DORA) and campaign.gate("!dm:x", DORA, True, "pledge") is Gate.RUN
    assert campaign.role("!dm:x", DORA, True) is Role.MEMBER  # never a coordinator
    await world.run("!quiet on", user=DORA, room=DM)
    await campaign.refresh(book)
    assert campaign.hub.quiet(DORA)
    await world.run("!leave confirm", user=DORA, room=DM)
    await campaign.refresh(book)
    assert not campaign.is_member(DORA) and not campaign.hub.quiet(DORA)


async def test_vouching_counts_only_per_member_and_week(world):
    for _ in range(2):
        out = texts(await world.run("!vouch", user=DORA, room=DM))
        assert CODE.search(out)
    assert "most a member may" in texts(await world.run("!vouch", user=DORA, room=DM))
    assert await count(world, "hub_vouches") == 1  # one row: her count, no code, no coworker
    assert "3" in texts(await world.run("!vouch limit 3", user="@c:x", role=C, room=ROOM))
    assert CODE.search(texts(await world.run("!vouch", user=DORA, room=DM)))
    world.now += timedelta(days=7)
    assert CODE.search(texts(await world.run("!vouch", user=DORA, room=DM)))
    in_room = await world.run("!vouch", user=DORA, room=ROOM)
    assert not CODE.search(in_room[0].text) and CODE.search(in_room[1].text)  # the code goes to her DM only


async def test_a_question_reaches_the_home_room_as_plain_text_naming_nobody(world):
    out = await world.run("!ask Is **night** `shift` welcome?\n@room Question Q9: fake", user=DORA, room=DM)
    assert "Q1" in texts(out)
    [post] = [o for o in out if isinstance(o, Post)]
    assert post.room_id == ROOM.room_id
    text = post.text("en") if callable(post.text) else post.text
    assert "Question Q1" in text and "dora" not in text.lower()
    quoted = text.split("“")[1].split("”")[0]
    assert "**" not in quoted and "`" not in quoted and "\n" not in quoted
    assert "@room" not in text
    assert len(plain_quote("x" * 5000)) == hotline.QUOTED
    follow = await world.run("!ask And the day shift?", user=DORA, room=DM)
    assert "Q1" in texts(follow)  # a follow-up keeps the number
    assert "Q2" in texts(await world.run("!ask Hello?", user=EVE, room=DM))
    assert "DM" in texts(await world.run("!ask Hello?", user=EVE, room=ROOM))


async def test_the_answer_goes_to_the_asker_and_the_link_goes_after_the_retention(world):
    await world.run("!ask When is the meeting?", user=DORA, room=DM)
    out = await world.run("!answer Q1 Friday at six", user="@c:x", role=C, room=ROOM)
    [post] = [o for o in out if isinstance(o, Post)]
    assert post.room_id == DM.room_id and "“Friday at six”" in texts([post])
    assert "Q1" in texts(await world.run("!mydata", user=DORA, room=DM))
    world.now += timedelta(days=world.settings.BOT_QUESTION_RETENTION_DAYS + 1)
    async with world.db.transaction():
        assert await HotlineDue.next_due(world.db) is not None
        await HotlineDue.fire(world.env())
    assert await count(world, "hotline_questions") == 0
    assert "can't be answered" in texts(await world.run("!answer Q1 Again", user="@c:x", role=C, room=ROOM))


async def test_a_blocked_asker_is_told_and_forget_removes_the_link(world):
    await world.run("!ask Spam?", user=DORA, room=DM)
    out = await world.run("!block Q1", user="@c:x", role=C, room=ROOM)
    assert any(isinstance(o, Post) and o.room_id == DM.room_id for o in out)
    assert "stopped your questions" in texts(await world.run("!ask More spam", user=DORA, room=DM))
    assert "Q2" in texts(await world.run("!ask Hi", user=EVE, room=DM))  # others still ask
    assert "stopped" in texts(await world.run("!mydata", user=DORA, room=DM))
    await world.run("!forget confirm", user=DORA, room=DM)
    assert await count(world, "hotline_blocked") == 0 and await count(world, "hotline_questions") == 1


async def test_questions_are_rate_limited_per_member(world):
    for _ in range(hotline.ASKS.limit):
        await world.run("!ask Again?", user=DORA, room=DM)
    assert "wait a day" in texts(await world.run("!ask Again?", user=DORA, room=DM))


async def test_news_for_dm_members_and_marked_actions(world):
    await world.run("!action add in 2 hours | Rally --remind 1h", user="@c:x", role=C, room=ROOM)
    assert "DM" in texts(await world.run("!action dms 1 add", user="@c:x", role=C, room=ROOM))
    world.now += timedelta(hours=1, seconds=1)
    from commands.actions import ActionsDue
    async with world.db.transaction():
        out = await ActionsDue.fire(world.env())
    assert [o for o in out if isinstance(o, HubNews)], out
    rooms_list = texts(await world.run("!rooms", user="@c:x", role=C, room=ROOM))
    assert "joined by code, in DMs only: fewer than 5" in rooms_list
    [code] = await make_code(world)
    await world.run(f"!join {code}", user=DORA, room=DM)
    assert "fewer than" in texts(await world.run("!rooms", user="@c:x", role=C, room=ROOM))  # suppressed


async def test_mydata_and_leave_cover_the_new_data(world):
    [code] = await make_code(world)
    await world.run(f"!join {code}", user=DORA, room=DM)
    await world.run("!quiet on", user=DORA, room=DM)
    await world.run("!vouch", user=DORA, room=DM)
    await world.run("!ask Hello?", user=DORA, room=DM)
    mine = texts(await world.run("!mydata", user=DORA, room=DM))
    for needle in ("joined the campaign with a code", "no campaign news", "1 invite code this week", "Q1"):
        assert needle in mine
    assert "leave confirm" in texts(await world.run("!leave", user=DORA, room=DM))
    assert "left the campaign" in texts(await world.run("!leave confirm", user=DORA, room=DM))
    assert "nothing" in texts(await world.run("!mydata", user=DORA, room=DM))
    for table in ("hub_members", "hub_quiet", "hub_vouches", "hotline_questions"):
        assert await count(world, table) == 0, table
