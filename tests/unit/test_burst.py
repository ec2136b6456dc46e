"""Launch day (bot/runtime/burst.py): a crowd's invites joined a few at a time, a DM's commands counted from
the bot's invite (a member types while the bot is still joining), no members request per new room."""

from __future__ import annotations

import asyncio

from nio import RoomCreateEvent, RoomMemberEvent

from bot.runtime import burst
from storage.core import EventBook
from tests.fakes import RoomHistory, World

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


async def test_a_joined_dms_command_is_answered_while_the_same_syncs_invites_are_still_being_joined(
        make_world_with) -> None:
    """A crowd's sync holds new invites and the commands of DMs joined one sync earlier: the
    commands no longer wait for the /join round trips (5 s for 64 invites at N = 100)."""
    from types import SimpleNamespace

    from nio import MatrixRoom, RoomMessageText

    from bot.runtime.shell import MatrixShell

    world = await make_world_with(BOT_ADMINS="@ann:example.org,@bea:example.org")
    me = "@bot:example.org"
    dm = MatrixRoom("!dm:example.org", me, encrypted=True)
    dm.add_member(me, None, None)
    dm.add_member("@ann:example.org", None, None)
    release = asyncio.Event()
    joined: list[str] = []

    async def join(room_id: str) -> object:
        await release.wait()  # a slow homeserver
        joined.append(room_id)
        return SimpleNamespace(room_id=room_id)

    history = RoomHistory(me)
    client = SimpleNamespace(user_id=me, rooms={dm.room_id: dm}, join=join, send=history.send, access_token="t")
    shell = MatrixShell(world.settings, world.db, world.keyring)
    await shell.attach(client)  # type: ignore[arg-type]
    await shell.known.mark_dm(dm.room_id)
    command = RoomMessageText.from_dict({
        "type": "m.room.message", "event_id": "$cmd", "sender": "@ann:example.org", "origin_server_ts": 10**13,
        "content": {"msgtype": "m.text", "body": "!help"}})
    invite = SimpleNamespace(membership="invite", state_key=me, sender="@bea:example.org",
                             content={"is_direct": True})
    response = SimpleNamespace(
        device_list=SimpleNamespace(changed=[]), to_device_events=[],
        rooms=SimpleNamespace(
            invite={"!new:example.org": SimpleNamespace(invite_state=[invite])},
            join={dm.room_id: SimpleNamespace(state=[], timeline=SimpleNamespace(
                events=[command], limited=False, prev_batch=""))}))
    handling = asyncio.create_task(shell.syncer.handle(response, "s1"))  # type: ignore[arg-type]
    for _ in range(200):
        if await shell.book.pending():
            break
        await asyncio.sleep(0.01)
    assert len(await shell.book.pending()) == 1 and joined == []  # answered, the join still under way
    joins = await handling  # the batch is handled; its join runs on
    assert [task.done() for task in joins] == [False]
    assert await world.db.get_meta("sync_token") is None
    release.set()
    await asyncio.gather(*joins)
    assert joined == ["!new:example.org"]
    await world.db.close()


async def test_a_syncs_token_is_saved_only_once_its_invites_and_those_before_are_answered(world: World) -> None:
    """A crash while a batch's invites are still being joined re-delivers them: an incremental
    sync lists an invite once, so a saved token would lose the invite and the member's command."""
    from collections import deque
    from types import SimpleNamespace

    from bot.runtime.sync import Syncer

    intake = SimpleNamespace(book=EventBook(world.db, world.keyring))
    syncer = Syncer(*[SimpleNamespace()] * 2, world.db, *[SimpleNamespace()] * 2, intake,  # type: ignore[arg-type]
                    *[SimpleNamespace()] * 3)
    first, second = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(first.wait())
    fast = asyncio.create_task(second.wait())
    unsaved = deque([("t1", [slow]), ("t2", []), ("t3", [fast])])
    second.set()
    await asyncio.sleep(0)
    await syncer._save_token(unsaved)  # t3's join is done, but t1's is not: nothing is saved
    assert await world.db.get_meta("sync_token") is None
    first.set()
    await asyncio.sleep(0)
    await syncer._save_token(unsaved)
    assert await EventBook(world.db, world.keyring).sync_token() == "t3" and not unsaved


async def test_a_rooms_first_events_wait_for_its_join_to_be_written(make_world_with) -> None:
    """A room joined in the background can come in the next sync before its flags (DM, cut-off)
    are written; its events are handled after them."""
    from types import SimpleNamespace

    from bot.runtime.rooms import Rooms

    world = await make_world_with(BOT_ADMINS="@bea:example.org")
    release = asyncio.Event()

    async def join(room_id: str) -> object:
        await release.wait()
        return SimpleNamespace(room_id=room_id)

    history = RoomHistory("@bot:example.org")
    rooms = Rooms(SimpleNamespace(user_id="@bot:example.org", rooms={}, join=join, send=history.send,  # type: ignore[arg-type]
                                  access_token="t"), world.settings,
                  EventBook(world.db, world.keyring))
    invite = SimpleNamespace(membership="invite", state_key="@bot:example.org", sender="@bea:example.org",
                             content={"is_direct": True})
    [task] = rooms.start_joins({"!new:example.org": [invite]})
    assert rooms.start_joins({"!new:example.org": [invite]}) == []  # one answer per invite
    waiting = asyncio.create_task(rooms.settled("!new:example.org"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()
    await waiting
    assert task.done() and await rooms.book.room_flag("!new:example.org", "dm") is not None
    await rooms.settled("!elsewhere:example.org")  # nothing being joined: returns at once
    await world.db.close()
