"""A to-device message the bot cannot decrypt does not stop it (found by the launch bench at
N = 1,000, and open to anyone: every user can send the bot a to-device message)."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import vodozemac
from nio import AsyncClient, AsyncClientConfig, KeysClaimResponse, KeysQueryResponse, MatrixRoom
from nio.crypto import OlmDevice
from nio.events import ToDeviceEvent

from bot.runtime.session import BotClient

USER, DEVICE = "@bot:example.org", "BOTDEVICE"
STRANGER = "@stranger:example.org"


def make(cls: type[AsyncClient], store: Path) -> AsyncClient:
    store.mkdir(exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, pickle_key="store key")
    client = cls("http://localhost:1", USER, store_path=str(store), config=config)
    client.restore_login(USER, DEVICE, "token")
    return client


def pre_key_message_with_an_unknown_one_time_key(bot: AsyncClient) -> ToDeviceEvent:
    """An Olm pre-key message to the bot made with a one-time key the bot never had (a key it
    already dropped looks the same to it)."""
    assert bot.olm is not None
    bot_curve = bot.olm.account.identity_keys["curve25519"]
    stranger, elsewhere = vodozemac.Account(), vodozemac.Account()
    elsewhere.generate_one_time_keys(1)
    unknown = next(iter(elsewhere.one_time_keys.values()))
    session = stranger.create_outbound_session(vodozemac.Curve25519PublicKey.from_base64(bot_curve), unknown)
    message_type, ciphertext = session.encrypt(b'{"type": "m.dummy", "content": {}}').to_parts()
    event = ToDeviceEvent.parse_event({
        "type": "m.room.encrypted", "sender": STRANGER,
        "content": {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": stranger.curve25519_key.to_base64(),
                    "ciphertext": {bot_curve: {"type": message_type,
                                               "body": base64.b64encode(ciphertext).decode().rstrip("=")}}}})
    assert event is not None
    return event


def test_nio_alone_lets_the_exception_escape(tmp_path: Path) -> None:
    client = make(AsyncClient, tmp_path / "store")
    with pytest.raises(Exception, match="unknown one-time key"):
        client._handle_decrypt_to_device(pre_key_message_with_an_unknown_one_time_key(client))


def test_the_bot_counts_it_logs_no_identity_and_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = make(BotClient, tmp_path / "store")
    with caplog.at_level(logging.WARNING, logger="organizer_bot"):
        for _ in range(3):
            assert client._handle_decrypt_to_device(pre_key_message_with_an_unknown_one_time_key(client)) is None
    assert client.undecryptable_to_device == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "organizer_bot"]
    assert len(lines) == 1 and "1 encrypted to-device message(s) could not be decrypted" in lines[0], lines
    assert "SessionCreationException" in lines[0] and "stranger" not in lines[0]


# ---------------------------------------------------------------- a peer's poisoned keys (issue #23)

PEER = "@peer:example.org"


def canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def peer_device(client: AsyncClient, device_id: str, one_time_key: str | None) -> dict[str, Any]:
    """A peer's device the bot knows (as after a key query), and the claim answer for it: its own
    one-time key, or ``one_time_key`` (garbage), self-signed either way."""
    assert client.olm is not None
    account = vodozemac.Account()
    client.olm.device_store.add(OlmDevice(PEER, device_id, {"ed25519": account.ed25519_key.to_base64(),
                                                             "curve25519": account.curve25519_key.to_base64()}))
    if one_time_key is None:
        account.generate_one_time_keys(1)
        one_time_key = next(iter(account.one_time_keys.values())).to_base64()
    key = {"key": one_time_key}
    key["signatures"] = {PEER: {f"ed25519:{device_id}": account.sign(canonical(key)).to_base64()}}  # type: ignore[dict-item]
    return {"signed_curve25519:AAAAAQ": key}


def claim(client: AsyncClient, poisoned: str = "not-a-curve25519-key") -> KeysClaimResponse:
    return KeysClaimResponse({PEER: {"BAD": peer_device(client, "BAD", poisoned),
                                     "GOOD": peer_device(client, "GOOD", None)}}, {})


def test_nio_alone_stops_at_a_poisoned_key(tmp_path: Path) -> None:
    client = make(AsyncClient, tmp_path / "store")
    with pytest.raises(vodozemac.KeyException):
        client.olm.handle_response(claim(client))  # type: ignore[union-attr]


async def test_a_poisoned_device_is_skipped_counted_and_not_claimed_again(tmp_path: Path, caplog) -> None:
    client = make(BotClient, tmp_path / "store")
    olm = client.olm
    assert olm is not None
    with caplog.at_level(logging.WARNING, logger="organizer_bot"):
        await client.receive_response(claim(client))
    bad, good = olm.device_store[PEER]["BAD"], olm.device_store[PEER]["GOOD"]
    assert olm.session_store.get(good.curve25519) and not olm.session_store.get(bad.curve25519)
    assert client.peer_keys.failures == 1
    olm.wedged_devices.append(bad)  # its garbage Olm message asks for a new session again
    assert not client.should_claim_keys  # ... and the bot does not claim its keys for an hour
    room = MatrixRoom("!room:example.org", USER, encrypted=True)
    room.add_member(PEER, "peer", None)
    client.rooms[room.room_id] = room
    assert client.get_missing_sessions(room.room_id) == {}  # GOOD has its session, BAD is skipped
    client.peer_keys.clock = lambda: time.monotonic() + 3601
    assert client.get_missing_sessions(room.room_id) == {PEER: ["BAD"]} and client.should_claim_keys
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "organizer_bot")  # nio's are off
    assert "could not start an Olm session with 1 device(s)" in text and "KeyException" in text
    assert PEER not in text and "BAD" not in text


async def test_an_unparsable_device_key_fails_verification_instead_of_the_query(tmp_path: Path) -> None:
    client = make(BotClient, tmp_path / "store")
    account = vodozemac.Account()
    keys = {"user_id": PEER, "device_id": "BROKEN", "algorithms": [],
            "keys": {"curve25519:BROKEN": account.curve25519_key.to_base64(), "ed25519:BROKEN": "garbage"},
            "signatures": {PEER: {"ed25519:BROKEN": "c2lnbmVkIGJ5IGdhcmJhZ2U"}}}
    fine = {"user_id": PEER, "device_id": "FINE", "algorithms": [],
            "keys": {"curve25519:FINE": account.curve25519_key.to_base64(),
                     "ed25519:FINE": account.ed25519_key.to_base64()}}
    fine["signatures"] = {PEER: {"ed25519:FINE": account.sign(canonical(fine)).to_base64()}}
    await client.receive_response(KeysQueryResponse({PEER: {"BROKEN": keys, "FINE": fine}}, {}))
    assert client.olm is not None
    assert set(client.olm.device_store[PEER].keys()) == {"FINE"}
    assert client.peer_keys.failures == 1


async def test_no_room_stays_marked_as_sharing_when_sharing_fails(tmp_path: Path) -> None:
    client = make(BotClient, tmp_path / "store")
    room = MatrixRoom("!room:example.org", USER, encrypted=True)
    room.add_member(PEER, "peer", None)
    client.rooms[room.room_id] = room
    peer_device(client, "NEW", None)  # no session yet: sharing claims its keys first

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise TimeoutError  # e.g. the homeserver's answer never came

    client.keys_claim = unreachable  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        await client.share_group_session(room.room_id, ignore_unverified_devices=True)
    assert room.room_id not in client.sharing_session  # nio left it set: every later send waited for good
