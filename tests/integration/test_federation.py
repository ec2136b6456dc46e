"""Members on another homeserver: the campaign's bot lives on the home server, and members whose
accounts are on a second Synapse, federating with it over loopback, join its campaign rooms,
DM the bot and read its encrypted answers; ``BOT_ALLOWED_SERVERS`` decides whose invites it takes.

The two servers come from the session's ``federation`` fixture (tests/conftest.py), started only
when a test here runs; this module's bot and members use them through the ``synapse`` override.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request

import pytest

from bot.ops.localserver import LocalSynapse
from tests.harness import BotProcess, Member

pytestmark = pytest.mark.integration


@pytest.fixture
def synapse(federation: tuple[LocalSynapse, LocalSynapse]) -> LocalSynapse:
    return federation[0]


@pytest.fixture
def remote(federation: tuple[LocalSynapse, LocalSynapse]) -> LocalSynapse:
    return federation[1]


def both_allowed(home: LocalSynapse, remote: LocalSynapse) -> str:
    return f"{home.server_name},{remote.server_name}"


def event_types_from(member: Member, hs: LocalSynapse, room_id: str, sender: str) -> list[str]:
    """The types of ``sender``'s timeline events in ``room_id``, as ``member``'s homeserver stored
    them (not decrypted): what travelled over federation."""
    path = f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id)}/messages?dir=b&limit=100"
    request = urllib.request.Request(hs.url + path, headers={"Authorization": f"Bearer {member.client.access_token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        chunk = json.load(response)["chunk"]
    return [event["type"] for event in chunk if event["sender"] == sender and "state_key" not in event]


async def bot_refused(member: Member, room_id: str, bot: BotProcess, timeout: float = 20) -> None:
    """Wait until the bot has rejected its invite to ``room_id``, as the inviting ``member``'s
    homeserver has it. Synapse rejects a remote invite only locally when the inviting server has
    not yet stored the invite it just sent (its ``make_leave`` answers 403, a race seen about one
    run in three): that server then keeps listing the bot as invited, so the bot's own server is
    asked that it did not join."""
    deadline = time.monotonic() + timeout
    membership = None
    while time.monotonic() < deadline and membership != "leave":
        state = await member.client.room_get_state_event(room_id, "m.room.member", bot.user_id)
        membership = (getattr(state, "content", None) or {}).get("membership")
        await asyncio.sleep(0.5)
    assert membership in {"leave", "invite"}, membership
    joined = await asyncio.to_thread(bot.hs.admin_request, "GET",
                                     "/_synapse/admin/v1/users/" + urllib.parse.quote(bot.user_id) + "/joined_rooms")
    assert room_id not in joined["joined_rooms"]


async def test_remote_member_dms_the_bot_and_reads_its_encrypted_answer(make_bot, members, synapse, remote):
    bot = make_bot(BOT_ALLOWED_SERVERS=both_allowed(synapse, remote)).start()
    carol = await members("carol", bot, hs=remote)  # joins the campaign's home room over federation
    assert carol.user_id.endswith(":" + remote.server_name)
    dm = await carol.create_dm()  # a room on the remote server; the bot joins it over federation
    reply = await carol.ask(dm, "!mydata")
    assert "I hold nothing that belongs to you" in reply.body  # decrypted by carol's client
    assert set(event_types_from(carol, remote, dm, bot.user_id)) == {"m.room.encrypted"}


async def test_remote_member_in_a_campaign_room_on_the_home_server(make_bot, members, synapse, remote):
    bot = make_bot(BOT_ALLOWED_SERVERS=both_allowed(synapse, remote)).start()
    alice = await members("alice", bot)
    carol = await members("carol", bot, hs=remote)
    room = await alice.create_room(invite=(carol.user_id,))  # a coordinator's room, on the home server
    await carol.wait_joined(room, carol.user_id)
    reply = await carol.ask(room, "!privacy")
    assert "never store your Matrix ID" in reply.body
    assert set(event_types_from(carol, remote, room, bot.user_id)) == {"m.room.encrypted"}


async def test_remote_server_not_allowed_its_members_dm_refused(make_bot, members, remote):
    bot = make_bot().start()  # BOT_ALLOWED_SERVERS unset: the bot's own server only
    dave = await members("dave", bot, hs=remote)  # in the home room: a campaign member, but from elsewhere
    await dave.campaign.ready()
    response = await dave.client.room_create(is_direct=True, invite=[bot.user_id], initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    await bot_refused(dave, response.room_id, bot)


async def test_remote_coordinators_room_is_joined_and_a_members_is_not(make_bot, members, synapse, remote):
    bot = make_bot(BOT_ALLOWED_SERVERS=both_allowed(synapse, remote)).start()
    erin = await members("erin", bot, hs=remote)
    room = await erin.create_room()  # on the remote server; erin is made a coordinator in the home room
    reply = await erin.ask(room, "!privacy")
    assert "never store your Matrix ID" in reply.body

    frank = await members("frank", bot, hs=remote)  # a member, no coordinator
    await frank.campaign.ready()
    response = await frank.client.room_create(name="not a campaign room", invite=[bot.user_id], initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    await bot_refused(frank, response.room_id, bot)
