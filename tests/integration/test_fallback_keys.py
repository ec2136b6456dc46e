"""Launch day, keys: when a crowd has claimed every one-time key of the bot's device, the
homeserver hands out the bot's fallback key, and a member whose client got only that key is
answered, even when the bot was down while they wrote."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.harness import BotProcess, Member

pytestmark = pytest.mark.integration

CLAIM_LIMIT = 120  # the bot keeps 50 one-time keys on the server


def bot_device(bot: BotProcess) -> str:
    return bot.device_id


async def claim(member: Member, bot: BotProcess) -> dict[str, Any]:
    """One ``/keys/claim`` of the bot device's key, as a member's client does before its first message."""
    device = bot_device(bot)
    async with aiohttp.ClientSession() as http, http.post(
        f"{member.client.homeserver}/_matrix/client/v3/keys/claim",
        json={"one_time_keys": {bot.user_id: {device: "signed_curve25519"}}},
        headers={"Authorization": f"Bearer {member.client.access_token}"},
    ) as response:
        assert response.status == 200, await response.text()
        data = await response.json()
    keys: dict[str, Any] = data["one_time_keys"].get(bot.user_id, {}).get(device, {})
    return keys


async def exhaust(member: Member, bot: BotProcess) -> tuple[int, dict[str, Any]]:
    """Claim until the server hands out the fallback key; returns (one-time keys claimed, fallback)."""
    for count in range(CLAIM_LIMIT):
        keys = claim_result = await claim(member, bot)
        assert len(keys) == 1, claim_result  # never nothing: that is the lost first message
        [obj] = keys.values()
        if obj.get("fallback"):
            return count, obj
    raise AssertionError("no fallback key after claiming every one-time key")


async def test_claims_past_the_one_time_keys_get_the_signed_fallback_key(bot, members):
    eve = await members("eve", bot)
    claimed, fallback = await exhaust(eve, bot)
    assert claimed >= 50
    # the fallback key keeps being handed out, signed by the bot's device key
    again = await claim(eve, bot)
    [obj] = again.values()
    assert obj == fallback and obj["signatures"][bot.user_id]


async def test_a_member_who_got_only_the_fallback_key_is_answered_after_a_restart(bot, members):
    bob = await members("bob", bot)
    eve = await members("eve", bot)
    dm = await bob.create_dm()
    assert bot.stop() == 0
    _, fallback = await exhaust(eve, bot)  # a crowd took every one-time key; nobody tops them up while the bot is down
    sent = await bob.send(dm, "!help")  # bob's client claims the fallback key to reach the bot
    assert len(await claim(eve, bot)) == 1
    bot.start()

    def answered() -> bool:
        return any((m.relates_to.get("m.in_reply_to") or {}).get("event_id") == sent for m in bob.from_bot(dm))

    await bob.wait_for(answered, 90)
    assert bob.undecryptable == 0
    # used, but younger than a week: kept, restart or not (a rotation would forget the key of the
    # members whose messages are still on their way; two forget it for good)
    assert bot.log_path is not None and "fallback key uploaded" not in bot.log_path.read_text()  # this start's
    assert (await exhaust(eve, bot))[1] == fallback
