"""Poisoned keys through the real homeserver (issue #23, item 1). Synapse stores any string as a
one-time or fallback key, so any account can publish keys the bot cannot build an Olm session
from, signed by its own device; vodozemac raises ``KeyException`` when the bot claims one, and
nio 0.26 does not catch it. An outsider who also sends one undecryptable Olm message made the
bot claim its keys and exit (at every start); a member's extra device in a campaign room
stopped the outbox for good while health.json said healthy. Now the device is skipped and
counted, and the room key goes to everyone else."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import vodozemac

from tests.harness import PASSWORD, BotProcess, Member

pytestmark = pytest.mark.integration


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Device:
    user_id: str
    device_id: str
    token: str
    account: vodozemac.Account

    @property
    def curve(self) -> str:
        return str(self.account.curve25519_key.to_base64())

    def signed(self, obj: dict[str, Any]) -> dict[str, Any]:
        signature = self.account.sign(canonical(obj)).to_base64()
        return {**obj, "signatures": {self.user_id: {f"ed25519:{self.device_id}": signature}}}


async def call(member: Member, method: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, f"{member.client.homeserver}/_matrix/client/v3/{path}", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def poisoned_device(member: Member, ed25519: str | None = None) -> Device:
    """A second device of ``member``'s account, logged in and keyed through raw HTTP: real,
    self-signed device keys and only garbage (but self-signed) one-time and fallback keys.
    With ``ed25519``, its device keys name that (garbage) signing key instead."""
    login = await call(member, "POST", "login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": member.user_id},
        "password": PASSWORD, "initial_device_display_name": "poisoned"})
    device = Device(member.user_id, login["device_id"], login["access_token"], vodozemac.Account())
    keys = {"user_id": device.user_id, "device_id": device.device_id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {f"curve25519:{device.device_id}": device.curve,
                     f"ed25519:{device.device_id}": ed25519 or device.account.ed25519_key.to_base64()}}
    await call(member, "POST", "keys/upload", {
        "device_keys": device.signed(keys),
        "one_time_keys": {"signed_curve25519:AAAAAQ": device.signed({"key": "not-a-curve25519-key"})},
        "fallback_keys": {"signed_curve25519:AAAAAg": device.signed({"key": "nor-this", "fallback": True})},
    }, device.token)
    return device


async def bot_identity(member: Member, bot: BotProcess) -> tuple[str, str]:
    """The bot's device ID and Curve25519 key (any user may query them)."""
    found = await call(member, "POST", "keys/query", {"device_keys": {bot.user_id: []}}, member.client.access_token)
    [(device_id, keys)] = found["device_keys"][bot.user_id].items()
    return device_id, keys["keys"][f"curve25519:{device_id}"]


async def send_garbage_olm(device: Device, bot: BotProcess, member: Member, n: int) -> None:
    """An Olm pre-key message from ``device`` that cannot be decrypted: the bot asks the device
    for a new session (nio's unwedging), that is, claims its (poisoned) keys."""
    bot_device, bot_curve = await bot_identity(member, bot)
    content = {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": device.curve,
               "ciphertext": {bot_curve: {"type": 0, "body": "Z2FyYmFnZSBpbiwgZ2FyYmFnZSBvdXQ"}}}
    await call(member, "PUT", f"sendToDevice/m.room.encrypted/garbage{n}",
               {"messages": {bot.user_id: {bot_device: content}}}, device.token)


async def look_away(member: Member, device: Device) -> None:
    """The test members' clients are plain nio, which the poison stops too: ``member``'s client
    forgets the poisoned device (as a careful client would skip it) before it sends."""
    def known() -> Any:
        return member.client.device_store[device.user_id].get(device.device_id)

    found = await member.wait_for(known, 30)
    found.deleted = True


def health(bot: BotProcess) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bot.data_dir / "health.json").read_text())
    return data


def assert_no_identities(bot: BotProcess, *ids: str) -> None:
    log = bot.log()
    assert "Traceback" not in log, log
    for needle in ids:
        assert needle not in log, needle


async def test_an_outsiders_poisoned_keys_and_garbage_olm_message_do_not_stop_the_bot(bot, members):
    alice = await members("alice", bot)
    mallory = await members("mallory", bot, enroll=False)
    dm = await alice.create_dm()
    assert "!privacy" in (await alice.ask(dm, "!help")).body
    own = await mallory.create_dm()  # the bot now tracks mallory's devices
    poisoned = await poisoned_device(mallory)
    broken = await poisoned_device(mallory, ed25519="not-an-ed25519-key")  # fails the bot's key query
    for n in range(4):  # the bot learns of the new devices at its next syncs
        await send_garbage_olm(poisoned, bot, mallory, n)
        await asyncio.sleep(1)
    await alice.wait_for(lambda: health(bot).get("peer_key_failures", 0) >= 1, 30)
    assert bot.process is not None and bot.process.poll() is None, bot.log()
    assert "!privacy" in (await alice.ask(dm, "!help", timeout=30)).body

    assert bot.stop() == 0  # and after a restart: the poisoned fallback key is still there
    bot.start()
    await send_garbage_olm(poisoned, bot, mallory, 9)
    await asyncio.sleep(2)
    assert bot.process is not None and bot.process.poll() is None, bot.log()
    assert "!privacy" in (await alice.ask(dm, "!help", timeout=30)).body
    log = bot.log()
    assert "could not start an Olm session with" in log, log
    assert_no_identities(bot, mallory.user_id, poisoned.device_id, broken.device_id, own)


async def test_a_members_poisoned_device_in_a_campaign_room_does_not_stop_the_outbox(bot, members):
    alice = await members("alice", bot)
    eve = await members("eve", bot)
    room = await alice.create_room(invite=(eve.user_id,))
    await eve.join(room)
    dm = await alice.create_dm()
    poisoned = await poisoned_device(eve)
    await look_away(alice, poisoned)
    await asyncio.sleep(2)  # the bot's syncs carry eve's device-list change; it queries her keys

    sent = await alice.send(room, "!help")
    answer = await alice.wait_for(lambda: [m for m in alice.from_bot(room) if
                                           (m.relates_to.get("m.in_reply_to") or {}).get("event_id") == sent], 30)
    assert "!privacy" in answer[0].body
    # eve's real device got the room key too: she reads the answer
    await eve.wait_for(lambda: [m for m in eve.from_bot(room) if m.event_id == answer[0].event_id], 30)
    assert "!privacy" in (await alice.ask(dm, "!help", timeout=30)).body
    await alice.wait_for(lambda: health(bot).get("peer_key_failures", 0) >= 1, 30)
    assert health(bot)["healthy"] is True

    assert bot.stop() == 0
    bot.start()
    assert "!privacy" in (await alice.ask(room, "!help", timeout=30)).body
    assert "!privacy" in (await alice.ask(dm, "!help", timeout=30)).body
    assert_no_identities(bot, eve.user_id, poisoned.device_id, room)
