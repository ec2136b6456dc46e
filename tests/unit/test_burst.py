"""Launch day (bot/burst.py): a crowd's invites joined a few at a time, a DM's commands counted from
the bot's invite (a member types while the bot is still joining), no members request per new room."""

from __future__ import annotations

import asyncio

from nio import RoomCreateEvent, RoomMemberEvent

from bot import burst
from storage.core import EventBook
from tests.fakes import World

BOT = "@organizer:example.org"
ROOM = "!dm:example.org"


def member_event(state_key: str, membership: str, ts: int, prev: str | None = None) -> RoomMemberEvent:
    source = {"type": "m.room.member", "event_id": f"$m{ts}", "sender": "@ann:example.org",
              "origin_server_ts": ts, "state_key": state_key, "content": {"membership": membership}}
    if prev:
        source["unsigned"] = {"prev_content": {"membership": prev}}
    event = RoomMemberEvent.from_dict(source)
    assert isinstance(event, RoomMemberEvent)
    return event


def test_the_invite_time_is_the_latest_invite_of_the_bot() -> None:
    events = [member_event("@ann:example.org", "join", 1000), member_event(BOT, "invite", 2000),
              member_event(BOT, "join", 9000)]
    assert burst.invite_time(events, BOT) == 2000
    assert burst.invite_time([member_event(BOT, "invite", 3000), member_event(BOT, "leave", 4000, "invite"),
                              member_event(BOT, "invite", 5000, "leave")], BOT) == 5000
    assert burst.invite_time([member_event("@ann:example.org", "invite", 2000)], BOT) is None
    assert burst.invite_time([], BOT) is None


async def test_a_command_typed_while_the_bot_was_joining_counts(world: World) -> None:
    book = EventBook(world.db, world.keyring)
    async with world.db.transaction():
        await book.set_room_flag(ROOM, "joined_at", 45_000)  # handled the invite late
    await burst.start_at_invite(book, ROOM, [member_event(BOT, "invite", 2000)], BOT)
    assert await book.room_flag(ROOM, "joined_at") == 2000
    # never later than it was, and nothing without the invite in view
    await burst.start_at_invite(book, ROOM, [member_event(BOT, "invite", 8000)], BOT)
    await burst.start_at_invite(book, ROOM, [], BOT)
    assert await book.room_flag(ROOM, "joined_at") == 2000


async def test_a_room_without_a_cut_off_gets_none(world: World) -> None:
    book = EventBook(world.db, world.keyring)
    await burst.start_at_invite(book, ROOM, [member_event(BOT, "invite", 2000)], BOT)
    assert await book.room_flag(ROOM, "joined_at") is None


async def test_invites_are_joined_a_few_at_a_time() -> None:
    running, most, done = 0, 0, []

    async def join(i: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(i)

    await burst.each_bounded((join(i) for i in range(30)), limit=4)
    assert sorted(done) == list(range(30)) and most == 4


def test_a_timeline_from_the_rooms_creation_has_no_gap_to_fetch() -> None:
    create = RoomCreateEvent.from_dict({"type": "m.room.create", "event_id": "$c", "sender": "@ann:example.org",
                                        "origin_server_ts": 1, "state_key": "", "content": {"room_version": "12"}})
    assert burst.reaches_room_start([create, member_event(BOT, "invite", 2)])
    assert not burst.reaches_room_start([member_event(BOT, "invite", 2)])
