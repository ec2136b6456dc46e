"""Cross-signing through the bot process as an admin starts it: identity, doctor, strict trust,
and an Element-stack member (exclude insecure devices) getting answers."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest

from .crosssign_support import raw_keys_query
from .test_crosssign import assert_cross_signed
from .test_element_client import ElementMember, element_client_script  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _session_device(bot) -> str:
    return bot.device_id


async def test_bot_is_cross_signed_on_every_start_path_and_doctor_says_so(make_bot, members):
    bot = make_bot().start()
    alice = await members("alice", bot)
    data = await raw_keys_query(alice.client, [bot.user_id])
    master = assert_cross_signed(data, bot.user_id, _session_device(bot))

    fingerprint = re.search(r"master key fingerprint: ([A-Za-z0-9+/ ]+)", bot.log()).group(1).strip()
    dm = await alice.create_dm()
    privacy = await alice.ask(dm, "!privacy")
    assert fingerprint in privacy.body

    doctor = bot.run_cli("doctor", "--env-file", str(bot.env_file))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for name in ("homeserver reachable", "login", "E2EE store key", "cross-signing on server",
                 "device signed by self-signing key", "encryption in joined rooms"):
        assert f"[ok     ] {name}" in doctor.stdout, doctor.stdout

    # restart: same identity, same device
    bot.stop()
    bot.start()
    again = await raw_keys_query(alice.client, [bot.user_id])
    assert assert_cross_signed(again, bot.user_id, _session_device(bot)) == master

    # lost E2EE store and session: a new device, signed by the same master key
    bot.stop()
    old_device = _session_device(bot)
    shutil.rmtree(bot.data_dir / "e2ee")
    (bot.data_dir / "session.enc").unlink()
    bot.start()
    assert _session_device(bot) != old_device
    fresh = await raw_keys_query(alice.client, [bot.user_id])
    assert assert_cross_signed(fresh, bot.user_id, _session_device(bot)) == master

    # a broken set-up: wrong store key
    bot.stop()
    bot.store_key = "a-different-store-key-entirely"
    broken = bot.run_cli("doctor", "--env-file", str(bot.env_file))
    assert broken.returncode == 1
    assert "[PROBLEM] saved login at rest: session.enc does not open with BOT_STORE_KEY" in broken.stdout
    assert "[PROBLEM] login: the saved session does not open" in broken.stdout and "fix:" in broken.stdout
    refused = bot.run_cli("run", "--env-file", str(bot.env_file))
    assert refused.returncode == 2
    assert "BOT_STORE_KEY does not open bot.db" in refused.stderr and "Traceback" not in refused.stderr


async def test_element_member_excluding_insecure_devices_gets_answers(make_bot, members, synapse,
                                                                      element_client_script):  # noqa: F811
    from tests.harness import PASSWORD

    member_id = synapse.register("elementuser", PASSWORD)
    # an admin, so the bot joins the room the Element client creates (issue #16: campaign rooms only)
    bot = make_bot(BOT_ADMINS=member_id).start()
    helper = await members("helper", bot)  # the campaign's home room exists, so the member's room is
    assert helper.campaign is not None     # a campaign room and the first answer is the command's
    await helper.campaign.ready()
    member = await ElementMember.start(element_client_script, synapse, member_id, bot.user_id, "!help")
    try:
        reply = await asyncio.wait_for(member.next_event("reply"), 60)
    finally:
        await member.stop()
    assert reply["sender"] == bot.user_id and reply["encrypted"] is True
    assert "!privacy" in reply["body"]


async def test_strict_trust_ignores_unverified_devices_and_explains_once(make_bot, members, synapse,
                                                                        element_client_script):  # noqa: F811
    from tests.harness import PASSWORD

    member_id = synapse.register("strictelement", PASSWORD)  # an admin: the bot joins its room (#16)
    bot = make_bot(BOT_TRUST="cross-signed", BOT_ADMINS=member_id).start()
    alice = await members("alice", bot)  # a plain nio device: not cross-signed
    room = await alice.create_room()
    await alice.send(room, "!help")
    await alice.send(room, "!privacy")

    def explanation():
        return [r for r in alice.received if r.sender == bot.user_id and "not verified" in r.body]

    found = await alice.wait_for(explanation, timeout=60)
    assert "Verify" in found[0].body and found[0].room_id != room
    await asyncio.sleep(2)
    assert len(explanation()) == 1  # told once, not per command
    assert alice.from_bot(room) == []  # neither command ran

    # a cross-signed member (Element stack) in the same bot's strict mode is answered
    member = await ElementMember.start(element_client_script, synapse, member_id, bot.user_id, "!help")
    try:
        reply = await asyncio.wait_for(member.next_event("reply"), 60)
    finally:
        await member.stop()
    assert "!privacy" in reply["body"]
