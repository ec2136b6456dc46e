"""Issue #23 items 3, 10 and 13: membership is live everywhere. News (announcements, reminders)
reaches only the DMs of current campaign members, read when queued and again when sent; the
one line an outsider gets waits out the homeserver's pause and leaves no row; the per-sender
throttle keeps bounded memory. No homeserver: nio rooms and a recording client."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from nio import MatrixRoom, RoomSendResponse

from bot.runtime.rooms import Rooms
from bot.runtime.sending.outbox import SAYING_AT_ONCE, Outbox, Stopping
from bot.runtime.sending.outputs import Origin, Send, content
from bot.runtime.sending.ratelimit import RateGate
from commands.base import Announce, Post, Reply
from commands.common.tries import TryLimit
from storage import campaign as campaign_store
from storage.core import EventBook

BOT = "@bot:example.org"
HOME = "!home:example.org"
ALICE, BOB, MALLORY = "@alice:example.org", "@bob:example.org", "@mallory:example.org"
DMS = {ALICE: "!dm-alice:example.org", BOB: "!dm-bob:example.org", MALLORY: "!dm-mallory:example.org"}


class Client:
    def __init__(self) -> None:
        self.user_id = BOT
        self.rooms: dict[str, MatrixRoom] = {}
        self.sent: list[tuple[str, str]] = []
        self.sent_at: list[float] = []

    def room(self, room_id: str, *users: str) -> MatrixRoom:
        room = MatrixRoom(room_id, BOT, encrypted=True)
        for user in (BOT, *users):
            room.add_member(user, user[1:4], None)
        self.rooms[room_id] = room
        return room

    async def room_send(self, room_id: str, _type: str, body: dict[str, Any], tx_id: str,
                        ignore_unverified_devices: bool = True) -> Any:
        self.sent.append((room_id, body["body"]))
        self.sent_at.append(time.monotonic())
        return RoomSendResponse(f"$e{len(self.sent)}", room_id)


async def _campaign(world, gate: RateGate | None = None) -> tuple[Outbox, Client]:
    """Alice and Bob in the home room, each with a DM; Mallory (an outsider) with a DM too."""
    client = Client()
    client.room(HOME, ALICE, BOB)
    for user, dm in DMS.items():
        client.room(dm, user)
    book = EventBook(world.db, world.keyring)
    async with world.db.transaction():
        await campaign_store.set_home(world.db, world.keyring, HOME)
    rooms = Rooms(client, world.settings, book)  # type: ignore[arg-type]
    await rooms.load()
    for dm in DMS.values():
        await rooms.mark_dm(dm)  # remembered as DMs, as an older version did for everyone's
    ready = asyncio.Event()
    ready.set()
    box = Outbox(client, world.settings, book, rooms, Stopping(), ready, gate or RateGate())  # type: ignore[arg-type]
    return box, client


async def _queue(world, box: Outbox, outputs: list[Any], base: str) -> None:
    async with world.db.transaction():
        await box.enqueue(outputs, Origin(base))


async def test_an_announcement_reaches_current_members_dms_only(world) -> None:
    box, client = await _campaign(world)
    assert sorted(box.rooms.member_dms()) == [DMS[ALICE], DMS[BOB]]
    client.rooms[HOME].remove_member(BOB)  # Bob left (or was kicked from) every campaign room
    await _queue(world, box, [Announce("threshold met", (HOME,))], "$news")
    await box.drain()
    assert sorted(client.sent) == [(DMS[ALICE], "threshold met"), (HOME, "threshold met")]
    assert {v.room_id for v in box.rooms.views()} == {HOME, DMS[ALICE]}  # what handlers see, too


async def test_news_waiting_for_its_round_is_not_sent_to_someone_who_left_meanwhile(world) -> None:
    box, client = await _campaign(world)
    await _queue(world, box, [Announce("threshold met", (HOME,))], "$news")
    client.rooms[HOME].remove_member(ALICE)  # left while the announcement waited for its round
    await box.drain()
    assert sorted(client.sent) == [(DMS[BOB], "threshold met"), (HOME, "threshold met")]
    assert await box.book.pending() == []


async def test_reminders_skip_the_dms_of_people_outside_the_campaign(world) -> None:
    box, client = await _campaign(world)
    client.rooms[HOME].remove_member(BOB)
    await _queue(world, box, [Post(dm, "your reminder", "m.text") for dm in DMS.values()], "$due")
    assert len(await box.book.pending()) == 1  # no row for Bob's or Mallory's DM
    await box.drain()
    assert client.sent == [(DMS[ALICE], "your reminder")]


async def test_an_answer_to_a_command_is_not_held_back(world) -> None:
    """Only news is checked when sent: a reply goes to where the command came from."""
    box, client = await _campaign(world)
    async with world.db.transaction():
        await box.enqueue([Reply("done")], Origin("$cmd", DMS[ALICE]))
    client.rooms[HOME].remove_member(ALICE)
    await box.drain()
    assert client.sent == [(DMS[ALICE], "done")]


async def test_the_outsiders_line_waits_out_the_homeservers_pause(world) -> None:
    gate = RateGate()
    box, client = await _campaign(world, gate)
    gate.hit(300)  # a 429 asked every sender to wait 0.3 s
    asked = time.monotonic()
    box.say(Send(DMS[MALLORY], content("only members")), "nm1")
    await asyncio.sleep(0.1)
    assert client.sent == []  # still paused
    await asyncio.gather(*box.sayer.tasks)
    assert client.sent == [(DMS[MALLORY], "only members")] and client.sent_at[0] - asked >= 0.29
    assert await box.book.pending() == []  # no row


async def test_the_outsiders_lines_under_way_are_bounded(world) -> None:
    gate = RateGate()
    box, client = await _campaign(world, gate)
    gate.hit(200)
    for n in range(SAYING_AT_ONCE + 50):
        box.say(Send(DMS[MALLORY], content("only members")), f"nm{n}")
    assert len(box.sayer.tasks) == SAYING_AT_ONCE
    await box.stop_saying()


def test_the_throttle_keeps_bounded_memory() -> None:
    throttle = TryLimit("commands", 2, timedelta(minutes=1), capacity=100)
    for n in range(10_000):  # a crowd of outsiders, each writing once
        assert throttle.check(f"sender{n}", now=1000.0 + n * 0.001) == (False, False)
    assert len(throttle) == 100
    throttle.check("late", now=2000.0)
    assert len(throttle) == 1  # a minute without their commands: forgotten
    assert [throttle.check("flood", now=2000.0 + i) for i in range(4)] == [
        (False, False), (False, False), (True, True), (True, False)]  # one notice, then silence
    assert throttle.check("flood", now=2061.0) == (False, False)  # a minute later: taken again
