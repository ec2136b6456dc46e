"""The bot's saved login is sealed under BOT_STORE_KEY: a seized data directory without the key
gives no access token (with it, the homeserver would list every member of the bot's rooms)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.e2ee import saved_session

KEY = "store-key-for-the-session-test-01"
LOGIN = {"user_id": "@organizer:example.org", "device_id": "BOTDEVICE", "access_token": "syt_secret_token_abc"}


def every_byte(directory) -> bytes:  # noqa: ANN001
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_a_saved_login_is_sealed_private_and_opens_with_its_key(tmp_path):
    assert saved_session.load(tmp_path, KEY) is None and not saved_session.exists(tmp_path)
    saved_session.save(tmp_path, KEY, LOGIN)
    assert [p.name for p in tmp_path.iterdir()] == ["session.enc"]
    assert (tmp_path / "session.enc").stat().st_mode & 0o777 == 0o600
    data = every_byte(tmp_path)
    for needle in ("syt_secret_token_abc", "BOTDEVICE", "organizer"):
        assert needle.encode() not in data, needle
    assert saved_session.exists(tmp_path)
    assert saved_session.load(tmp_path, KEY) == LOGIN
    assert saved_session.describe(tmp_path, KEY) == (True, "sealed (session.enc, AES-256-GCM)")


def test_a_wrong_key_or_a_changed_file_is_refused_and_nothing_is_changed(tmp_path):
    saved_session.save(tmp_path, KEY, LOGIN)
    before = (tmp_path / "session.enc").read_bytes()
    with pytest.raises(saved_session.SessionUnreadable, match="does not decrypt with this BOT_STORE_KEY"):
        saved_session.load(tmp_path, "another-key-altogether-0123456789")
    assert saved_session.describe(tmp_path, "another-key-altogether-0123456789")[0] is False
    blob = json.loads(before)
    blob["ciphertext"] = blob["ciphertext"][:-4] + ("AAAA" if not blob["ciphertext"].endswith("AAAA") else "BBBB")
    (tmp_path / "session.enc").write_text(json.dumps(blob))
    with pytest.raises(saved_session.SessionUnreadable):
        saved_session.load(tmp_path, KEY)
    (tmp_path / "session.enc").write_text("not json")
    with pytest.raises(saved_session.SessionUnreadable, match="is damaged"):
        saved_session.load(tmp_path, KEY)


def test_a_plaintext_session_of_an_earlier_release_is_sealed_and_shredded(tmp_path, caplog):
    (tmp_path / "session.json").write_text(json.dumps(LOGIN))
    assert saved_session.exists(tmp_path)
    ok, detail = saved_session.describe(tmp_path, KEY)
    assert not ok and "PLAINTEXT session.json" in detail
    assert saved_session.load(tmp_path, KEY, migrate=False) == LOGIN  # doctor reads, changes nothing
    assert (tmp_path / "session.json").exists() and not (tmp_path / "session.enc").exists()

    with caplog.at_level(logging.WARNING):
        assert saved_session.load(tmp_path, KEY) == LOGIN
    assert "sealed it into session.enc" in caplog.text and "syt_secret" not in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["session.enc"]
    assert b"syt_secret_token_abc" not in every_byte(tmp_path)
    assert saved_session.load(tmp_path, KEY) == LOGIN


def test_a_plaintext_copy_left_by_a_stopped_migration_goes_on_the_next_start(tmp_path):
    saved_session.save(tmp_path, KEY, LOGIN)
    (tmp_path / "session.json").write_text(json.dumps(LOGIN))  # sealed, then stopped before the shred
    assert saved_session.load(tmp_path, KEY) == LOGIN
    assert [p.name for p in tmp_path.iterdir()] == ["session.enc"]
