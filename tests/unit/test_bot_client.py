"""A to-device message the bot cannot decrypt does not stop it (found by the launch bench at
N = 1,000, and open to anyone: every user can send the bot a to-device message)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import vodozemac
from nio import AsyncClient, AsyncClientConfig
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
