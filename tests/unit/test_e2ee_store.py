"""The E2EE store at rest: one SQLCipher file, no plaintext trust files, the old plaintext
store migrated with the account and every device's trust state kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from nio.crypto import OlmAccount, OlmDevice, TrustState
from nio.store import DefaultStore

from bot.e2ee import store as e2ee_store

BOT, DEVICE = "@organizer-bot:example.org", "BOTDEVICE"
ALICE, BOB, CAROL = "@alice-marker:example.org", "@bob-marker:example.org", "@carol-marker:example.org"
STORE_KEY = "store-key-for-the-e2ee-test-0123"


def settings(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(store_key=STORE_KEY, store_dir=tmp_path)


def device(user_id: str, name: str) -> OlmDevice:
    return OlmDevice(user_id, name, {"ed25519": f"ed-{name}", "curve25519": f"cu-{name}"})


def every_byte(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def fill(store) -> OlmAccount:  # noqa: ANN001
    account = OlmAccount()
    store.save_account(account)
    devices = [device(ALICE, "ALICEDEV"), device(BOB, "BOBDEV"), device(CAROL, "CAROLDEV")]
    store.save_device_keys({d.user_id: {d.id: d} for d in devices})
    store.verify_device(devices[0])
    store.blacklist_device(devices[1])
    store.ignore_device(devices[2])
    store.save_encrypted_rooms(["!roomsecret:example.org"])
    return account


def states(store) -> dict[str, TrustState]:  # noqa: ANN001
    return {d.user_id: d.trust_state for d in store.load_device_keys()}


def test_the_encrypted_store_writes_one_file_that_names_nobody(tmp_path):
    cls = e2ee_store.store_class(settings(tmp_path))
    store = cls(BOT, DEVICE, str(tmp_path), "pickle key")
    fill(store)
    store.database.close()
    assert [p.name for p in tmp_path.iterdir()] == ["store.db"]
    data = every_byte(tmp_path)
    for needle in (ALICE, BOB, CAROL, "alice-marker", "ALICEDEV", "roomsecret", BOT):
        assert needle.encode() not in data, needle
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(tmp_path / "store.db").execute("SELECT * FROM sqlite_master").fetchall()
    reopened = cls(BOT, DEVICE, str(tmp_path), "pickle key")
    assert states(reopened) == {ALICE: TrustState.verified, BOB: TrustState.blacklisted,
                                CAROL: TrustState.ignored}
    assert reopened.load_encrypted_rooms() == {"!roomsecret:example.org"}


def test_a_plaintext_store_of_an_earlier_release_is_migrated_with_trust_kept(tmp_path):
    legacy = DefaultStore(BOT, DEVICE, str(tmp_path), "pickle key")
    account = fill(legacy)
    legacy.database.close()
    assert (tmp_path / f"{BOT}_{DEVICE}.trusted_devices").read_text().startswith(ALICE)
    assert ALICE.encode() in every_byte(tmp_path)

    store = e2ee_store.store_class(settings(tmp_path))(BOT, DEVICE, str(tmp_path), "pickle key")
    assert store.load_account().identity_keys == account.identity_keys
    assert states(store) == {ALICE: TrustState.verified, BOB: TrustState.blacklisted, CAROL: TrustState.ignored}
    assert store.load_encrypted_rooms() == {"!roomsecret:example.org"}
    store.database.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db"]
    data = every_byte(tmp_path)
    for needle in (ALICE, BOB, "ALICEDEV", "roomsecret"):
        assert needle.encode() not in data, needle
    assert e2ee_store.describe(settings(tmp_path))[0]


def test_a_wrong_store_key_does_not_open_the_store_and_changes_nothing(tmp_path):
    store = e2ee_store.store_class(settings(tmp_path))(BOT, DEVICE, str(tmp_path), "pickle key")
    fill(store)
    store.database.close()
    before = (tmp_path / "store.db").read_bytes()
    wrong = SimpleNamespace(store_key="another-store-key-0123456789", store_dir=tmp_path)
    with pytest.raises(Exception, match="file is not a database"):
        e2ee_store.store_class(wrong)(BOT, DEVICE, str(tmp_path), "pickle key")
    assert (tmp_path / "store.db").read_bytes() == before
    assert e2ee_store.describe(wrong) == (False, "encrypted, but not with this BOT_STORE_KEY")


def test_doctor_flags_leftover_plaintext_trust_files(tmp_path):
    (tmp_path / f"{BOT}_{DEVICE}.trusted_devices").write_text(f"{ALICE} ALICEDEV matrix-ed25519 x\n")
    ok, detail = e2ee_store.describe(settings(tmp_path))
    assert not ok and detail.startswith("PLAINTEXT") and ALICE not in detail


def test_two_stores_in_one_process_each_keep_their_own_rows(tmp_path):
    """The models stay bound between calls (nio re-bound them on every call): a store used after
    another one must still read and write its own file."""
    cls = e2ee_store.store_class(settings(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = cls(BOT, DEVICE, str(tmp_path / "a"), "pickle key")
    second = cls(BOT, "OTHERDEVICE", str(tmp_path / "b"), "pickle key")
    fill(first)
    second.save_account(OlmAccount())
    second.save_encrypted_rooms(["!only-in-second:example.org"])
    assert first.load_encrypted_rooms() == {"!roomsecret:example.org"}
    assert second.load_encrypted_rooms() == {"!only-in-second:example.org"}
    assert states(first)[ALICE] == TrustState.verified and states(second) == {}
    assert first.database.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_account_is_read_fresh_when_loaded(tmp_path):
    """nio's account row is looked up once for foreign keys, but loading the account reads the
    pickle saved last."""
    cls = e2ee_store.store_class(settings(tmp_path))
    store = cls(BOT, DEVICE, str(tmp_path), "pickle key")
    account = OlmAccount()
    store.save_account(account)
    store.save_encrypted_rooms(["!room:example.org"])  # looks the row up, as every save does
    account.generate_one_time_keys(3)
    store.save_account(account)
    loaded = store.load_account()
    assert loaded is not None and loaded.one_time_keys == account.one_time_keys
