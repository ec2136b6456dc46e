"""Issue #23 item 2: a federating server forges the inviter. For an invite from another server,
Synapse's ``/sync`` lists the invite state that server supplied first and appends the real invite
last; the bot takes the inviter and ``is_direct`` only from what its homeserver authenticated (the
last entry, then the room's own invite event once joined). Crafted sync responses, parsed by nio."""

from __future__ import annotations

import copy
from typing import Any

from nio import JoinResponse, SyncResponse

from bot.runtime import invites
from bot.runtime.campaign import Invite
from bot.runtime.rooms import Rooms
from storage import campaign as campaign_store
from storage.core import EventBook
from tests.fakes import RoomHistory, invite_event

BOT = "@bot:example.org"
ADMIN = "@admin:example.org"  # BOT_ADMINS
OUTSIDER = "@mallory:example.org"  # an account on an allowed server, in no campaign room
REMOTE = "@mallory:evil.org"  # an account on a federating server that is allowed
ROOM = "!evil:evil.org"
TABLES = ("campaign_rooms", "room_flags", "processed_events", "outbox", "member_flags")


def sync_invite(*members: dict[str, Any]) -> list[Any]:
    """The invite state of ``ROOM`` as nio parses it from a sync response: ``members`` in order,
    with the room's name between them (as a remote server's ``invite_room_state`` has it)."""
    members = copy.deepcopy(members)  # nio's parser takes the content out of the dicts it reads
    events = [*members[:-1], {"type": "m.room.name", "state_key": "", "sender": REMOTE, "content": {"name": "Org"}},
              members[-1]]
    response = SyncResponse.from_dict({"next_batch": "s1", "rooms": {
        "invite": {ROOM: {"invite_state": {"events": events}}}, "join": {}, "leave": {}}})
    assert isinstance(response, SyncResponse)
    return list(response.rooms.invite[ROOM].invite_state)


def stripped(sender: str, is_direct: bool = False) -> dict[str, Any]:
    """A stripped ``m.room.member`` invite for the bot, as an inviting server may supply it (forged)."""
    content: dict[str, Any] = {"membership": "invite", **({"is_direct": True} if is_direct else {})}
    return {"type": "m.room.member", "state_key": BOT, "sender": sender, "content": content}


class FakeClient:
    def __init__(self, history: RoomHistory) -> None:
        self.user_id = BOT
        self.rooms: dict[str, Any] = {}
        self.history = history
        self.access_token = "token"
        self.joined: list[str] = []
        self.left: list[str] = []
        self.forgotten: list[str] = []

    async def join(self, room_id: str) -> JoinResponse:
        self.joined.append(room_id)
        return JoinResponse(room_id)

    async def room_leave(self, room_id: str) -> None:
        self.left.append(room_id)

    async def room_forget(self, room_id: str) -> None:
        self.forgotten.append(room_id)

    async def send(self, method: str, path: str, data: Any = None, headers: Any = None) -> Any:
        return await self.history.send(method, path, data, headers)

    async def room_resolve_alias(self, alias: str) -> Any:
        return None


async def _rooms(make_world_with, real: dict[str, Any] | None, home: bool = False) -> tuple[Rooms, FakeClient]:
    world = await make_world_with(BOT_ADMINS=ADMIN, BOT_ALLOWED_SERVERS="example.org,evil.org")
    client = FakeClient(RoomHistory(BOT, {ROOM: real}))
    rooms = Rooms(client, world.settings, EventBook(world.db, world.keyring))  # type: ignore[arg-type]
    if home:
        async with world.db.transaction():
            await campaign_store.set_home(world.db, world.keyring, "!home:example.org")
    await rooms.load()
    return rooms, client


async def _home(rooms: Rooms) -> str | None:
    await rooms.campaign.refresh(rooms.book)
    return rooms.campaign.home_room_id


async def _rows(rooms: Rooms) -> int:
    return sum([(await rooms.book.db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in TABLES])  # noqa: S608


def test_the_invite_is_read_from_the_last_entry_synapse_appends() -> None:
    state = sync_invite(stripped(ADMIN, is_direct=True), invite_event(BOT, REMOTE))
    assert invites.claimed(state, BOT) == invites.Invitation(REMOTE, False)
    assert invites.claimed(sync_invite(stripped(ADMIN), invite_event("@else:x", ADMIN)), BOT) == \
        invites.Invitation(ADMIN, False)  # an invite of someone else is no invite of the bot
    assert invites.claimed([], BOT) is None


async def test_a_forged_admin_entry_first_does_not_make_an_outsiders_room_the_home_room(make_world_with) -> None:
    """No home room yet: an admin's invite makes it. The federating server puts a fake invite "sent
    by" the admin first; the real one, from its own user, comes last."""
    real = invite_event(BOT, REMOTE)
    rooms, client = await _rooms(make_world_with, real)
    await rooms.answer_invites({ROOM: sync_invite(stripped(ADMIN), real)})
    assert client.joined == [] and client.left == [ROOM]
    assert await _home(rooms) is None and await _rows(rooms) == 0


async def test_a_forged_is_direct_does_not_make_a_room_a_dm(make_world_with) -> None:
    real = invite_event(BOT, OUTSIDER)  # a group room, from someone who is no coordinator
    rooms, client = await _rooms(make_world_with, real, home=True)
    await rooms.answer_invites({ROOM: sync_invite(stripped(OUTSIDER, is_direct=True), real)})
    assert client.joined == [] and client.left == [ROOM]


async def test_a_room_whose_own_invite_event_names_an_outsider_is_left_and_forgotten(make_world_with) -> None:
    """Even if the invite state's last entry were forged (an older homeserver), the room's own
    invite event, read after joining, decides: not allowed, so the room is left and forgotten, and
    nothing about it is stored."""
    rooms, client = await _rooms(make_world_with, invite_event(BOT, REMOTE))
    await rooms.answer_invites({ROOM: sync_invite(stripped(OUTSIDER), stripped(ADMIN))})
    assert client.joined == [ROOM] and client.left == [ROOM] and client.forgotten == [ROOM]
    assert await _home(rooms) is None and await _rows(rooms) == 0
    assert ROOM not in rooms.joining


async def test_invites_as_before_still_work(make_world_with) -> None:
    """An admin's real invite makes the home room; a member's DM is remembered; an outsider's DM
    is joined and stored nowhere; a homeserver that cannot show the invite event leaves the last
    entry standing."""
    real = invite_event(BOT, ADMIN)
    rooms, client = await _rooms(make_world_with, real)
    await rooms.answer_invites({ROOM: sync_invite(real)})
    assert client.joined == [ROOM] and client.left == []
    assert await _home(rooms) == ROOM and await rooms.book.room_flag(ROOM, "joined_at") is not None

    dm = invite_event(BOT, ADMIN, is_direct=True)
    rooms, client = await _rooms(make_world_with, dm, home=True)
    await rooms.answer_invites({ROOM: sync_invite(stripped(OUTSIDER), dm)})
    assert client.joined == [ROOM] and await rooms.book.room_flag(ROOM, "dm") is not None

    dm = invite_event(BOT, OUTSIDER, is_direct=True)
    rooms, client = await _rooms(make_world_with, dm, home=True)
    await rooms.answer_invites({ROOM: sync_invite(dm)})
    assert client.joined == [ROOM] and client.left == [] and await _rows(rooms) == 1  # the home room's row only

    rooms, client = await _rooms(make_world_with, None)  # no event form of the state served
    await rooms.answer_invites({ROOM: sync_invite(stripped(OUTSIDER), invite_event(BOT, ADMIN))})
    assert client.joined == [ROOM] and await _home(rooms) == ROOM


async def test_the_verified_invite_decides_when_it_differs(make_world_with) -> None:
    """The last entry claims an outsider's DM, the room's own invite is the admin's group invite:
    the room is judged on the verified one."""
    rooms, client = await _rooms(make_world_with, invite_event(BOT, ADMIN))
    await rooms.answer_invites({ROOM: sync_invite(stripped(OUTSIDER, is_direct=True))})
    assert client.joined == [ROOM] and client.left == []
    assert await _home(rooms) == ROOM and await rooms.book.room_flag(ROOM, "dm") is None
    assert rooms.campaign.may_invite(ADMIN, "!other:x", False) is Invite.CAMPAIGN


async def test_a_join_refused_for_a_moment_is_retried(monkeypatch):
    """Over federation the inviting server may refuse the join until it has stored its own invite
    (tests/integration/test_federation.py saw it one run in six): the bot tries again."""
    from nio import JoinError, JoinResponse

    from bot.runtime import rooms as rooms_module

    answers = [JoinError("You are not invited to this room.", "M_FORBIDDEN"),
               JoinError("You are not invited to this room.", "M_FORBIDDEN"), JoinResponse("!r:x")]

    class Client:
        calls = 0

        async def join(self, room_id):
            Client.calls += 1
            return answers.pop(0)

    monkeypatch.setattr(rooms_module, "JOIN_TRIES", (0.0, 0.0, 0.0))
    assert await rooms_module._join(Client(), "!r:x") is True and Client.calls == 3
    answers[:] = [JoinError("no", "M_FORBIDDEN")] * 4
    Client.calls = 0
    assert await rooms_module._join(Client(), "!r:x") is False and Client.calls == 4
