"""Many new DMs' first answers share their key round trips (bot/e2ee/keywork.py): one device-key query
and one one-time-key claim for all of them, and nio is told a room's members are synced only once
every member's devices are known (or the room key would reach no device of a new member)."""

from __future__ import annotations

import asyncio
from typing import Any

from nio import KeysClaimResponse, KeysQueryError, KeysQueryResponse, MatrixRoom, RoomSendResponse

from bot.e2ee.keywork import KeyWork
from bot.runtime.rooms import Rooms
from bot.runtime.sending.outbox import Outbox, Stopping
from bot.runtime.sending.outputs import Origin, ReplyTarget
from bot.runtime.sending.ratelimit import RateGate
from commands.base import Reply
from storage.core import EventBook

BOT = "@bot:example.org"


class FakeOlm:
    def __init__(self) -> None:
        self.tracked_users: set[str] = {BOT}
        self.shared: set[str] = set()  # rooms whose room key went out

    def should_share_group_session(self, room_id: str) -> bool:
        return room_id not in self.shared


class KeyClient:
    """What the key work and a first send ask of nio, counting the round trips. ``room_send``
    follows nio's chain for a room whose members are not synced."""

    def __init__(self, members: dict[str, str], delay: float = 0.01) -> None:
        self.user_id = BOT
        self.olm = FakeOlm()
        self.rooms: dict[str, MatrixRoom] = {}
        for room_id, member in members.items():
            room = MatrixRoom(room_id, BOT, encrypted=True)
            room.add_member(BOT, None, None)
            room.add_member(member, None, None)
            self.rooms[room_id] = room
        self.users_for_key_query: set[str] = set(members.values())  # as nio's sync leaves them
        self.sessions: set[str] = set()  # users whose device we hold an Olm session with
        self.calls: list[str] = []
        self.claimed: list[dict[str, list[str]]] = []
        self.query_fails = False
        self.delay = delay
        self.sent: list[str] = []

    @property
    def should_query_keys(self) -> bool:
        return bool(self.users_for_key_query)

    async def keys_query(self) -> Any:
        self.calls.append("keys_query")
        await asyncio.sleep(self.delay)
        if self.query_fails:
            return KeysQueryError("boom")
        self.olm.tracked_users |= self.users_for_key_query
        self.users_for_key_query = set()
        return KeysQueryResponse({}, {})

    def get_missing_sessions(self, room_id: str) -> dict[str, list[str]]:
        return {u: ["DEV"] for u in self.rooms[room_id].users if u != BOT and u not in self.sessions}

    async def keys_claim(self, users: dict[str, list[str]]) -> Any:
        self.calls.append("keys_claim")
        self.claimed.append(users)
        await asyncio.sleep(self.delay)
        self.sessions |= set(users)
        return KeysClaimResponse({}, {})

    async def room_send(self, room_id: str, _type: str, content: dict[str, Any], tx_id: str,
                        ignore_unverified_devices: bool = True) -> Any:
        room = self.rooms[room_id]
        if not room.members_synced:  # nio's chain, one room at a time
            self.calls.append("joined_members")
            room.members_synced = True
            if self.should_query_keys:
                await self.keys_query()
        if self.olm.should_share_group_session(room_id):
            missing = self.get_missing_sessions(room_id)
            if missing:
                await self.keys_claim(missing)
            self.calls.append("to_device")
            self.olm.shared.add(room_id)
        self.sent.append(room_id)
        return RoomSendResponse(f"$e{len(self.sent)}", room_id)


def _dms(n: int) -> dict[str, str]:
    return {f"!dm{i}:example.org": f"@new{i}:example.org" for i in range(n)}


async def test_ten_new_dms_take_one_key_query_and_one_key_claim():
    client = KeyClient(_dms(10))
    await KeyWork(client).prepare(client.rooms)  # type: ignore[arg-type]
    assert client.calls == ["keys_query", "keys_claim"]
    assert set(client.claimed[0]) == {f"@new{i}:example.org" for i in range(10)}
    assert all(room.members_synced for room in client.rooms.values())


async def test_a_room_whose_members_devices_are_unknown_is_left_to_nio():
    client = KeyClient(_dms(3))
    client.query_fails = True
    await KeyWork(client).prepare(client.rooms)  # type: ignore[arg-type]
    assert not any(room.members_synced for room in client.rooms.values())  # nio asks again on send
    assert client.claimed == []  # nothing claimed for devices we do not know


async def test_a_second_preparation_waits_for_the_first_and_repeats_nothing():
    client = KeyClient(_dms(4))
    work = KeyWork(client)
    await asyncio.gather(work.prepare(client.rooms), work.prepare(client.rooms), work.query())  # type: ignore[arg-type]
    assert client.calls == ["keys_query", "keys_claim"]


async def test_rooms_already_sent_to_need_nothing():
    client = KeyClient(_dms(2))
    work = KeyWork(client)
    await work.prepare(client.rooms)  # type: ignore[arg-type]
    client.olm.shared |= set(client.rooms)
    client.calls.clear()
    await work.prepare(client.rooms)  # type: ignore[arg-type]
    work.start(client.rooms)
    await asyncio.sleep(0)
    assert client.calls == []


async def test_the_outbox_answers_many_new_dms_after_one_query_and_one_claim(world):
    """A burst's answers: without the shared key work each new DM cost its own members request, key
    query and key claim before its answer (nio's chain)."""
    client = KeyClient(_dms(12))
    book = EventBook(world.db, world.keyring)
    rooms = Rooms(client, world.settings, book)  # type: ignore[arg-type]
    ready = asyncio.Event()
    ready.set()
    box = Outbox(client, world.settings, book, rooms, Stopping(), ready, RateGate())  # type: ignore[arg-type]
    for i, room_id in enumerate(client.rooms):
        async with world.db.transaction():
            await box.enqueue([Reply("signed")], Origin(f"$c{i}", room_id, ReplyTarget(f"$c{i}"), None))
    await box.drain()
    assert sorted(client.sent) == sorted(client.rooms)  # each answered once
    assert client.calls.count("keys_query") == 1 and client.calls.count("keys_claim") == 1
    assert "joined_members" not in client.calls
    assert client.calls.count("to_device") == 12  # the room key itself still goes to each DM
    assert await book.pending() == []
