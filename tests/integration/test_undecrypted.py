"""Nothing lost silently: a member whose client withholds the room key of a DM message is told,
after the grace period, that it could not be read; when the key comes late (after a bot restart)
the message is answered, once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nio import ToDeviceMessage

from tests.harness import BotProcess, Member

pytestmark = pytest.mark.integration

NOTICE_START = "I could not read your last message"


def bot_device_of(member: Member, bot: BotProcess) -> Any:
    device_id = bot.device_id
    for device in member.client.device_store.active_user_devices(bot.user_id):
        if device.id == device_id:
            return device
    return None


async def share_late(member: Member, room_id: str, device: Any, session_key: str, session_id: str) -> None:
    """What a client whose key share was held back does later: send the m.room_key (from the
    message's first index) to the bot's device over Olm."""
    olm = member.client.olm
    assert olm is not None
    if olm.session_store.get(device.curve25519) is None:
        await member.client.keys_claim({device.user_id: [device.id]})
    session = olm.session_store.get(device.curve25519)
    assert session is not None
    content = olm._olm_encrypt(session, device, "m.room_key", {
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": room_id, "session_id": session_id,
        "session_key": session_key})
    await member.client.to_device(ToDeviceMessage("m.room.encrypted", device.user_id, device.id, content))


def health(bot: BotProcess) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bot.data_dir / "health.json").read_text())
    return data


async def test_a_withheld_room_key_gets_a_notice_and_the_late_key_an_answer_after_a_restart(make_bot, members):
    bot = make_bot(BOT_UNDECRYPTABLE_GRACE="2").start()
    bob = await members("bob", bot)
    dm = await bob.create_dm()
    device = await bob.wait_for(lambda: bot_device_of(bob, bot), 30)
    olm = bob.client.olm
    assert olm is not None
    # bob's client withholds the key: the bot's device gets no m.room_key for this session
    bob.client.blacklist_device(device)
    olm.create_outbound_group_session(dm)
    outbound = olm.outbound_group_sessions[dm]
    session_key, session_id = outbound.session_key, outbound.id  # from index 0, before the message
    sent = await bob.send(dm, "!help")

    def notices() -> list[Any]:
        return [m for m in bob.from_bot(dm) if m.body.startswith(NOTICE_START)]

    def answers() -> list[Any]:
        return [m for m in bob.from_bot(dm) if (m.relates_to.get("m.in_reply_to") or {}).get("event_id") == sent]

    [notice] = await bob.wait_for(notices, 45)
    assert "send it again" in notice.body and not answers()
    await bob.wait_for(lambda: health(bot).get("undecryptable_waiting") == 1, 30)

    # the bot restarts while the message waits; the kept event survives, the notice is not repeated
    assert bot.stop() == 0
    doctor = bot.run_cli("doctor", "--env-file", str(bot.env_file))
    assert "undecryptable messages: 1 messages waiting for room keys" in doctor.stdout, doctor.stdout
    bot.start()
    bob.client.unblacklist_device(device)
    await share_late(bob, dm, device, session_key, session_id)

    try:
        [answer] = await bob.wait_for(answers, 60)
    except TimeoutError:  # intermittent under load (1 in ~40 runs): say what the bot and bob saw
        raise AssertionError(f"no answer after the late key; health {health(bot)}, bob could not decrypt "
                             f"{bob.undecryptable} of the bot's messages, bob got {len(bob.from_bot(dm))} in the DM; "
                             f"bot log:\n{bot.log()[-4000:]}") from None
    assert "!privacy" in answer.body
    await asyncio.sleep(4)  # more than the grace period and a few syncs: nothing else arrives
    assert len(answers()) == 1 and len(notices()) == 1
    await bob.wait_for(lambda: health(bot).get("undecryptable_waiting") == 0, 30)
    log = bot.log()
    assert "1 messages waiting for room keys" in log and "decrypted after their room key arrived" in log
    assert bob.user_id not in log and dm not in log


async def test_an_outsiders_unreadable_message_is_not_kept_and_gets_no_notice(make_bot, members):
    """Anyone can send the bot an encrypted message without its key: it left a stored event, a
    member flag and a notice (issue #23). Only campaign members' messages are kept now."""
    bot = make_bot(BOT_UNDECRYPTABLE_GRACE="1").start()
    alice = await members("alice", bot)
    mallory = await members("mallory", bot, enroll=False)
    dm = await mallory.create_dm()
    device = await mallory.wait_for(lambda: bot_device_of(mallory, bot), 30)
    mallory.client.blacklist_device(device)  # the bot's device gets no room key
    for n in range(3):
        await mallory.send(dm, f"!help {n}")
    own = await alice.create_dm()
    assert "!privacy" in (await alice.ask(own, "!help")).body  # a few syncs later
    await asyncio.sleep(3)  # past the grace period, a check or two
    assert health(bot).get("undecryptable_waiting") == 0
    assert not [m for m in mallory.from_bot(dm) if m.body.startswith(NOTICE_START)]
    assert bot.stop() == 0
    with bot.open_db() as db:
        assert db.execute("SELECT COUNT(*) FROM undecrypted").fetchone()[0] == 0
