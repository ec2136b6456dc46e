"""The bot cross-signs its own device, as another user sees it on a real Synapse."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import aiohttp
import pytest
from nio import AsyncClient, MegolmEvent, RoomCreateResponse, RoomMessageNotice, RoomMessageText, SyncResponse

from bot.e2ee import crosssign
from bot.e2ee.crosssign import CrossSigningError, CrossSigningKeys, ensure_cross_signing
from bot.ops.localserver import LocalSynapse

from .crosssign_support import PASSWORD, e2ee_login, only_key, raw_keys_query, signed_by

pytestmark = pytest.mark.integration
STORE_KEY = "a store key of at least sixteen chars"


def assert_cross_signed(data: dict, user_id: str, device_id: str) -> str:
    """Check the chain master -> self-signing -> device; return the master key."""
    master = data["master_keys"][user_id]
    ssk = data["self_signing_keys"][user_id]
    assert master["usage"] == ["master"] and ssk["usage"] == ["self_signing"]
    master_pub, ssk_pub = only_key(master), only_key(ssk)
    assert signed_by(ssk, user_id, master_pub), "self-signing key is not signed by the master key"
    device = data["device_keys"][user_id][device_id]
    assert signed_by(device, user_id, ssk_pub), "device is not signed by the self-signing key"
    return master_pub


async def test_bot_device_is_cross_signed_and_identity_survives_restart_and_new_device(
    synapse: LocalSynapse, tmp_path: Path
) -> None:
    bot_id = synapse.register("bot1", PASSWORD)
    member_id = synapse.register("member1", PASSWORD)
    data_dir = tmp_path / "data"
    bot = await e2ee_login(synapse, bot_id, tmp_path / "store-a")
    member = await e2ee_login(synapse, member_id, tmp_path / "member")
    try:
        state = await ensure_cross_signing(bot, data_dir, STORE_KEY, password=None)  # MSC3967: first upload, no UIA
        assert state.device_signed
        assert state.actions == ["created cross-signing keys", "uploaded cross-signing keys", "signed this device"]
        assert state.fingerprint.replace(" ", "") == state.master_key
        assert all(len(group) == 4 for group in state.fingerprint.split(" ")[:-1])

        seen = await raw_keys_query(member, [bot_id])
        assert assert_cross_signed(seen, bot_id, bot.device_id) == state.master_key
        key_file = data_dir / crosssign.KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert state.master_key not in key_file.read_text()  # nothing readable about the private keys either

        # Restart: same device, same store -> nothing is uploaded again.
        again = await ensure_cross_signing(bot, data_dir, STORE_KEY, password=None)
        assert again.master_key == state.master_key and again.actions == [] and again.device_signed

        # Lost store / new login: a new device, signed by the same identity.
        bot_b = await e2ee_login(synapse, bot_id, tmp_path / "store-b")
        try:
            assert bot_b.device_id != bot.device_id
            new = await ensure_cross_signing(bot_b, data_dir, STORE_KEY, password=None)
            assert new.master_key == state.master_key and new.actions == ["signed this device"]
            seen = await raw_keys_query(member, [bot_id])
            assert assert_cross_signed(seen, bot_id, bot_b.device_id) == state.master_key
            assert assert_cross_signed(seen, bot_id, bot.device_id) == state.master_key
        finally:
            await bot_b.close()

        checks = await crosssign.doctor_checks(bot, data_dir, STORE_KEY)
        assert [c.name for c in checks if not c.ok] == []
        assert {c.name for c in checks} >= {"stored cross-signing keys", "device keys uploaded",
                                           "cross-signing on server", "server master key is the bot's",
                                           "device signed by self-signing key"}
    finally:
        await bot.close()
        await member.close()


async def test_key_file_is_unreadable_with_a_wrong_store_key(synapse: LocalSynapse, tmp_path: Path) -> None:
    bot_id = synapse.register("bot2", PASSWORD)
    bot = await e2ee_login(synapse, bot_id, tmp_path / "store")
    try:
        await ensure_cross_signing(bot, tmp_path, STORE_KEY, password=None)
        with pytest.raises(CrossSigningError, match="does not decrypt"):
            crosssign.load_keys(tmp_path / crosssign.KEY_FILE, "another store key, sixteen+")
        with pytest.raises(CrossSigningError, match="does not decrypt"):
            await ensure_cross_signing(bot, tmp_path, "another store key, sixteen+", password=None)
        checks = {c.name: c for c in await crosssign.doctor_checks(bot, tmp_path, "another store key, sixteen+")}
        assert not checks["stored cross-signing keys"].ok and "BOT_STORE_KEY" in checks["stored cross-signing keys"].fix
        assert not checks["server master key is the bot's"].ok
        assert checks["device signed by self-signing key"].ok
    finally:
        await bot.close()


async def _upload_foreign_identity(client: AsyncClient) -> str:
    """What 'reset cross-signing' in another client does: new keys, password UIA."""
    keys = CrossSigningKeys.generate(client.user_id)
    url = client.homeserver + "/_matrix/client/v3/keys/device_signing/upload"
    headers = {"Authorization": f"Bearer {client.access_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=keys.upload_body(), headers=headers) as response:
            assert response.status == 401
            uia = await response.json()
        body = keys.upload_body() | {"auth": {"type": "m.login.password", "session": uia["session"],
                                              "password": PASSWORD,
                                              "identifier": {"type": "m.id.user", "user": client.user_id}}}
        async with session.post(url, json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
    return keys.master_pub


async def test_a_reset_identity_is_replaced_by_a_new_one_only_with_the_password(
    synapse: LocalSynapse, tmp_path: Path
) -> None:
    bot_id = synapse.register("bot3", PASSWORD)
    bot = await e2ee_login(synapse, bot_id, tmp_path / "store")
    try:
        ours = (await ensure_cross_signing(bot, tmp_path, STORE_KEY, password=None)).master_key
        foreign = await _upload_foreign_identity(bot)
        checks = {c.name: c for c in await crosssign.doctor_checks(bot, tmp_path, STORE_KEY)}
        assert not checks["server master key is the bot's"].ok
        assert not checks["device signed by self-signing key"].ok

        with pytest.raises(CrossSigningError, match="MATRIX_PASSWORD"):
            await ensure_cross_signing(bot, tmp_path, STORE_KEY, password=None)
        assert crosssign.load_keys(tmp_path / crosssign.KEY_FILE, STORE_KEY).master_pub == ours  # untouched

        with pytest.raises(CrossSigningError, match="password failed"):
            await ensure_cross_signing(bot, tmp_path, STORE_KEY, password="wrong password")
        assert crosssign.load_keys(tmp_path / crosssign.KEY_FILE, STORE_KEY).master_pub == ours  # put back

        state = await ensure_cross_signing(bot, tmp_path, STORE_KEY, password=PASSWORD)
        assert state.master_key not in (ours, foreign)
        assert state.actions == ["replaced a foreign master key", "created cross-signing keys",
                                 "uploaded cross-signing keys (password auth)", "signed this device"]
        assert assert_cross_signed(await raw_keys_query(bot, [bot_id]), bot_id, bot.device_id) == state.master_key
        (old,) = [tmp_path / n for n in os.listdir(tmp_path) if n.startswith(crosssign.KEY_FILE + ".replaced-")]
        assert crosssign.load_keys(old, STORE_KEY).master_pub == ours
        assert (await ensure_cross_signing(bot, tmp_path, STORE_KEY, password=None)).actions == []
    finally:
        await bot.close()


async def timeline_bodies(client: AsyncClient, room_id: str) -> list[str | None]:
    """Bodies of the bot's notices in the next sync; ``None`` for each event that does not decrypt."""
    response = await client.sync(timeout=3000)
    assert isinstance(response, SyncResponse)
    room = response.rooms.join.get(room_id)
    events = room.timeline.events if room else []
    return [e.body if isinstance(e, RoomMessageNotice) else None
            for e in events if isinstance(e, RoomMessageNotice | MegolmEvent)]


async def test_strict_trust_keeps_cross_signed_member_devices_only(synapse: LocalSynapse, tmp_path: Path) -> None:
    bot_id = synapse.register("bot4", PASSWORD)
    member_id = synapse.register("member4", PASSWORD)
    bot = await e2ee_login(synapse, bot_id, tmp_path / "bot")
    phone = await e2ee_login(synapse, member_id, tmp_path / "phone")
    laptop = await e2ee_login(synapse, member_id, tmp_path / "laptop")
    try:
        await ensure_cross_signing(bot, tmp_path / "bot-data", STORE_KEY, password=None)
        # The member cross-signs the phone only; the laptop stays un-cross-signed.
        await ensure_cross_signing(phone, tmp_path / "member-data", STORE_KEY, password=None)
        crosssign.invalidate()

        signed = await crosssign.cross_signed_devices(bot, [member_id, bot_id])
        assert signed[member_id] == {phone.device_id}
        assert laptop.device_id not in signed[member_id]
        assert bot.device_id in signed[bot_id]
        assert crosssign.is_device_trusted(member_id, phone.device_id)
        assert not crosssign.is_device_trusted(member_id, laptop.device_id)

        # In a shared encrypted room, strict mode maps that onto nio's device flags.
        created = await phone.room_create(invite=[bot_id], initial_state=[{
            "type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        assert isinstance(created, RoomCreateResponse)
        await bot.sync(timeout=3000, full_state=True)
        await bot.join(created.room_id)
        await bot.sync(timeout=3000, full_state=True)
        assert bot.rooms[created.room_id].encrypted
        await bot.keys_query()
        change = await crosssign.apply_trust(bot, "cross-signed", [member_id])
        devices = bot.device_store[member_id]
        assert devices[phone.device_id].verified and not devices[phone.device_id].blacklisted
        assert devices[laptop.device_id].blacklisted and not devices[laptop.device_id].verified
        assert (member_id, phone.device_id) in change.trusted and (member_id, laptop.device_id) in change.blocked

        # The bot's room key reaches the cross-signed phone only.
        for member in (phone, laptop):
            await member.sync(timeout=0, full_state=True)
            await member.keys_query()
        await bot.room_send(created.room_id, "m.room.message", {"msgtype": "m.notice", "body": "strict hello"},
                            ignore_unverified_devices=True)
        assert await timeline_bodies(phone, created.room_id) == ["strict hello"]
        assert await timeline_bodies(laptop, created.room_id) == [None]  # undecryptable on the laptop

        # Messages from both devices decrypt, but only the phone counts as a trusted sender.
        for member, text in ((phone, "from phone"), (laptop, "from laptop")):
            await member.room_send(created.room_id, "m.room.message", {"msgtype": "m.text", "body": text},
                                   ignore_unverified_devices=True)
        response = await bot.sync(timeout=3000)
        events = [e for e in response.rooms.join[created.room_id].timeline.events if isinstance(e, RoomMessageText)]
        senders = {e.body: crosssign.trusted_sender_device(bot, e) for e in events}
        assert senders == {"from phone": phone.device_id, "from laptop": None}

        # The laptop's owner cross-signs it later: after invalidation it becomes trusted.
        await ensure_cross_signing(laptop, tmp_path / "member-data", STORE_KEY, password=None)
        crosssign.invalidate([member_id])
        await crosssign.apply_trust(bot, "cross-signed", [member_id])
        assert bot.device_store[member_id][laptop.device_id].verified
        assert not bot.device_store[member_id][laptop.device_id].blacklisted
        await bot.room_send(created.room_id, "m.room.message", {"msgtype": "m.notice", "body": "welcome laptop"},
                            ignore_unverified_devices=True)
        assert await timeline_bodies(laptop, created.room_id) == ["welcome laptop"]
    finally:
        for client in (bot, phone, laptop):
            await client.close()
