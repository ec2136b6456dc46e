"""Hostile messages and permission abuse through the real homeserver: clear answers (or,
for chat, silence), the bot keeps serving others, and nobody gains a role they don't hold."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest
import vodozemac
from nio import RoomGetStateEventResponse, RoomKickResponse, RoomSendError, RoomSendResponse

from bot.runtime.intake import EDIT_TEXT, ENCRYPTION_ONLY_TEXT
from tests.harness import Member, Received

pytestmark = pytest.mark.integration

REFUSED = "Only a coordinator of"  # "... of the campaign" or "... of this room" (issue #16)


def replies_to(member: Member, room: str, event_id: str) -> list[Received]:
    return [r for r in member.from_bot(room)
            if (r.relates_to.get("m.in_reply_to") or {}).get("event_id") == event_id]


async def answer_to(member: Member, room: str, event_id: str) -> Received:
    found = await member.wait_for(lambda: replies_to(member, room, event_id))
    return found[0]  # type: ignore[no-any-return]


async def send_raw(member: Member, room: str, content: dict[str, Any]) -> str:
    response = await member.client.room_send(room, "m.room.message", content, ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response
    return str(response.event_id)


async def test_hostile_messages_get_clear_answers_and_others_are_still_served(bot, members):
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    room = await alice.create_room(invite=(bob.user_id,))

    # 64 KiB: an encrypted event that large exceeds the homeserver's 64 KiB event limit, so it never
    # reaches the bot; the largest command that does fit is refused as too long.
    big = await alice.client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "!help " + "x" * 65536},
                                       ignore_unverified_devices=True)
    assert isinstance(big, RoomSendError) and big.status_code == "M_TOO_LARGE", big
    long_line = await send_raw(alice, room, {"msgtype": "m.text", "body": "!help " + "<b>" * 13000})
    prefix_only = await send_raw(alice, room, {"msgtype": "m.text", "body": "!"})
    spaced = await send_raw(alice, room, {"msgtype": "m.text", "body": "!   "})
    formatted = await send_raw(alice, room, {
        "msgtype": "m.text", "body": "!company <img src=x onerror=alert(1)>",
        "format": "org.matrix.custom.html",
        "formatted_body": "<p>!company <script>alert(1)</script><img src=x onerror=alert(1)></p>"})
    html_only = await send_raw(alice, room, {  # a body that is not a command, HTML that looks like one
        "msgtype": "m.text", "body": "hello", "format": "org.matrix.custom.html", "formatted_body": "!help"})
    malformed = [
        await send_raw(alice, room, {"msgtype": "m.text", "body": ["!help"]}),
        await send_raw(alice, room, {"msgtype": "m.text", "body": "!help", "m.relates_to": "nonsense"}),
        await send_raw(alice, room, {"msgtype": "m.text", "body": "* !help", "m.new_content": "x",
                                     "m.relates_to": {"rel_type": "m.replace", "event_id": prefix_only}}),
        await send_raw(alice, room, {"msgtype": "m.notice", "body": "!help"}),
        await send_raw(alice, room, {"body": "!help"}),  # no msgtype
    ]
    original = await send_raw(alice, room, {"msgtype": "m.text", "body": "!privacy"})
    edit = await send_raw(alice, room, {
        "msgtype": "m.text", "body": "* !pledges", "m.new_content": {"msgtype": "m.text", "body": "!pledges"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original}})
    root = await send_raw(alice, room, {"msgtype": "m.text", "body": "a thread about <b>things</b>"})
    threaded = await send_raw(alice, room, {
        "msgtype": "m.text", "body": "!company **AWS**",
        "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                         "m.in_reply_to": {"event_id": root}}})
    # meanwhile another member is answered
    bobs = await send_raw(bob, room, {"msgtype": "m.text", "body": "!privacy"})
    assert "Matrix ID" in (await answer_to(bob, room, bobs)).body
    sentinel = await send_raw(alice, room, {"msgtype": "m.text", "body": "!help privacy"})
    await answer_to(alice, room, sentinel)

    too_long = await answer_to(alice, room, long_line)
    assert "too long for a command" in too_long.body and "<b>" not in too_long.html
    company = await answer_to(alice, room, formatted)
    assert "<script" not in company.html and "<img" not in company.html and "&lt;img" in company.html
    assert (await answer_to(alice, room, edit)).body == EDIT_TEXT
    thread_answer = await answer_to(alice, room, threaded)
    assert thread_answer.relates_to["rel_type"] == "m.thread" and thread_answer.relates_to["event_id"] == root
    assert "Amazon" in thread_answer.body and "<strong>AWS</strong>" not in thread_answer.html
    names = ["prefix only", "prefix and spaces", "HTML-only command", "body not a string", "garbage relation",
             "garbage edit", "notice", "no msgtype"]
    answered_silent = [name for name, silent in zip(names, (prefix_only, spaced, html_only, *malformed), strict=True)
                       if replies_to(alice, room, silent)]
    assert answered_silent == ["garbage relation"], answered_silent  # a command with a junk relation still runs
    # everything the bot said in the room: answers to commands only, each command answered once
    answered = [(r.relates_to.get("m.in_reply_to") or {}).get("event_id") for r in alice.from_bot(room)]
    answered = [a for a in answered if a]
    assert len(answered) == len(set(answered)), answered
    for message in alice.from_bot(room):
        assert "<script" not in message.html.lower()


async def ask(member: Member, room: str, text: str, content: dict[str, Any] | None = None) -> Received:
    """Send and wait for the bot's reply *to this message* (others may be answered meanwhile)."""
    event_id = await send_raw(member, room, content or {"msgtype": "m.text", "body": text})
    return await answer_to(member, room, event_id)


async def _set_power(member: Member, room: str, user_id: str, level: int) -> None:
    state = await member.client.room_get_state_event(room, "m.room.power_levels")
    assert isinstance(state, RoomGetStateEventResponse), state
    content = dict(state.content)
    users = dict(content.get("users") or {})
    users[user_id] = level
    content["users"] = users
    response = await member.client.room_put_state(room, "m.room.power_levels", content)
    assert getattr(response, "event_id", None), response


async def test_roles_cannot_be_borrowed_and_power_changes_take_effect(bot, members):
    alice = await members("alice", bot)  # room creator: a coordinator (v12 creators are all-powerful)
    bob = await members("bob", bot)
    room = await alice.create_room(invite=(bob.user_id,))
    created = await ask(alice, room, '!pledge create letter "Sign the letter" --goal 10')
    assert "letter" in created.body and REFUSED not in created.body

    for attempt in ('!pledge create mine "Mine"', "!pledge close letter", "!broadcast Walk out now",
                    "!company alias Fresh = Amazon", "!rollcall start rc Who?",
                    "!action add 2030-01-01 10:00 UTC | Go", "!pledge rooms letter remove"):
        assert REFUSED in (await ask(bob, room, attempt)).body, attempt
    # not by replying to a coordinator's command, in a thread, nor by editing
    coordinator_command = await send_raw(alice, room, {"msgtype": "m.text", "body": "!pledges"})
    await answer_to(alice, room, coordinator_command)
    in_thread = await ask(bob, room, "", content={
        "msgtype": "m.text", "body": "!pledge close letter",
        "m.relates_to": {"rel_type": "m.thread", "event_id": coordinator_command, "is_falling_back": True,
                         "m.in_reply_to": {"event_id": coordinator_command}}})
    assert REFUSED in in_thread.body
    as_reply = await ask(bob, room, "", content={
        "msgtype": "m.text", "body": "!pledge close letter",
        "m.relates_to": {"m.in_reply_to": {"event_id": coordinator_command}}})
    assert REFUSED in as_reply.body
    bobs = await send_raw(bob, room, {"msgtype": "m.text", "body": "!pledges"})
    edit = await ask(bob, room, "", content={
        "msgtype": "m.text", "body": "* !pledge close letter",
        "m.new_content": {"msgtype": "m.text", "body": "!pledge close letter"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": bobs}})
    assert edit.body == EDIT_TEXT
    # an edit of the coordinator's own command is not run either (it would run with her role)
    alice_edit = await ask(alice, room, "", content={
        "msgtype": "m.text", "body": "* !pledge close letter",
        "m.new_content": {"msgtype": "m.text", "body": "!pledge close letter"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": coordinator_command}})
    assert alice_edit.body == EDIT_TEXT
    assert "letter" in (await ask(alice, room, "!pledges")).body  # still open

    # power in this room makes a coordinator of this room only, never of the campaign
    await _set_power(alice, room, bob.user_id, 50)
    assert REFUSED not in (await ask(bob, room, "!action add 2030-01-01 10:00 UTC | Go")).body  # the room's own
    assert REFUSED in (await ask(bob, room, '!pledge create bobs "Bob\'s pledge"')).body
    await _set_power(alice, room, bob.user_id, 0)
    # power levels in the campaign's home room, changed at runtime, take effect
    assert alice.campaign is not None
    await alice.campaign.set_power(bob.user_id, 50)
    raised = await ask(bob, room, '!pledge create bobs "Bob\'s pledge"')
    assert REFUSED not in raised.body and "bobs" in raised.body
    await alice.campaign.set_power(bob.user_id, 0)
    assert REFUSED in (await ask(bob, room, "!pledge close bobs")).body
    # a DM never makes a coordinator, although its creator holds power 100 there
    dm = await bob.create_dm()
    assert REFUSED in (await ask(bob, dm, "!pledge close bobs")).body

    # nothing runs in an unencrypted room, not even for a coordinator
    plain = await alice.create_room(encrypted=False)
    told = await ask(alice, plain, '!pledge create plain "Unencrypted"')
    assert told.body == ENCRYPTION_ONLY_TEXT
    assert "plain" not in (await ask(alice, room, "!pledges")).body

    # a member removed from the room cannot run commands there any more
    kicked = await alice.client.room_kick(room, bob.user_id, reason="test")
    assert isinstance(kicked, RoomKickResponse), kicked
    await alice.wait_for(lambda: bob.user_id not in alice.client.rooms[room].users)
    after = await bob.client.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "!pledge bobs"},
                                       ignore_unverified_devices=True)
    assert isinstance(after, RoomSendError) and after.status_code == "M_FORBIDDEN", after
    info = await ask(alice, room, "!pledge info bobs")
    assert "bobs" in info.body and "have signed" in info.body  # served after the kick
    # nobody signed: a small figure (0 included) reads "fewer than 2k-1", so ask the database
    conn = bot.open_db()
    try:
        signed = conn.execute("SELECT COUNT(*) FROM pledge_signers JOIN pledges ON pledges.id = pledge_id "
                              "WHERE slug = 'bobs'").fetchone()[0]
    finally:
        conn.close()
    assert signed == 0


async def test_invites_from_servers_not_allowed_are_rejected(make_bot, members):
    bot = make_bot(BOT_ALLOWED_SERVERS="trusted.example.org").start()
    alice = await members("alice", bot)
    response = await alice.client.room_create(invite=[bot.user_id], initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
    room_id = response.room_id

    membership = None
    for _ in range(150):  # the homeserver's record of the bot's membership: invite → leave
        state = await alice.client.room_get_state_event(room_id, "m.room.member", bot.user_id)
        membership = getattr(state, "content", {}).get("membership")
        if membership == "leave":
            break
        await asyncio.sleep(0.2)
    assert membership == "leave", membership
    bot.stop()
    assert "rejected an invite from a server that is not allowed" in bot.log()


async def test_an_outsiders_forged_olm_message_does_not_stop_the_bot(bot, members):
    """Anyone on the homeserver can send the bot a to-device message. An Olm pre-key message made
    with a one-time key the bot does not have (forged here; on launch day, a key rotated away)
    made vodozemac raise an exception nio does not catch: the sync failed and the bot exited, and
    read the same message again at every start. Now it is counted, and the bot answers on."""
    alice = await members("alice", bot)
    mallory = await members("mallory", bot, enroll=False)
    dm = await alice.create_dm()
    assert "!privacy" in (await alice.ask(dm, "!help")).body
    headers = {"Authorization": f"Bearer {mallory.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.post(  # the bot's device keys: any user may ask
            f"{mallory.client.homeserver}/_matrix/client/v3/keys/query",
            json={"device_keys": {bot.user_id: []}}, headers=headers) as response:
        [(device_id, keys)] = (await response.json())["device_keys"][bot.user_id].items()
    curve = keys["keys"][f"curve25519:{device_id}"]
    stranger, elsewhere = vodozemac.Account(), vodozemac.Account()
    elsewhere.generate_one_time_keys(1)
    unknown = next(iter(elsewhere.one_time_keys.values()))
    session = stranger.create_outbound_session(vodozemac.Curve25519PublicKey.from_base64(curve), unknown)
    message_type, ciphertext = session.encrypt(b'{"type": "m.dummy", "content": {}}').to_parts()
    content = {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": stranger.curve25519_key.to_base64(),
               "ciphertext": {curve: {"type": message_type,
                                      "body": base64.b64encode(ciphertext).decode().rstrip("=")}}}
    for n in range(3):
        async with aiohttp.ClientSession() as http, http.put(
            f"{mallory.client.homeserver}/_matrix/client/v3/sendToDevice/m.room.encrypted/forged{n}",
            json={"messages": {bot.user_id: {device_id: content}}}, headers=headers) as response:
            assert response.status == 200, await response.text()

    await asyncio.sleep(2)  # the bot's next sync carries them
    assert bot.process is not None and bot.process.poll() is None, bot.log()
    assert "pledge" in (await alice.ask(dm, "!help")).body
    log = bot.log()
    assert "encrypted to-device message(s) could not be decrypted (last: SessionCreationException)" in log, log
    assert "Traceback" not in log and mallory.user_id not in log and "mallory" not in log
    await asyncio.sleep(1)  # health.json is written after each sync
    assert json.loads((bot.data_dir / "health.json").read_text())["olm_undecryptable"] == 3
