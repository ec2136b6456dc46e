"""Pure parts of bot.e2ee.crosssign: canonical JSON, signatures, fingerprints, the encrypted key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.e2ee import crosssign
from bot.e2ee.crosssign import CrossSigningError, CrossSigningKeys


def test_canonical_json_sorts_keys_has_no_spaces_and_keeps_unicode() -> None:
    assert crosssign.canonical_json({"b": 1, "a": {"é": [1, 2]}}) == '{"a":{"é":[1,2]},"b":1}'.encode()


def test_signatures_ignore_signatures_and_unsigned_and_catch_tampering() -> None:
    keys = CrossSigningKeys.generate("@bot:example.org")
    obj = {"user_id": "@bot:example.org", "keys": {"x": "y"}, "unsigned": {"n": 1}}
    obj["signatures"] = {"@bot:example.org": {f"ed25519:{keys.master_pub}": crosssign.sign_object(obj, keys.master)}}
    assert crosssign.verify_signature(obj, "@bot:example.org", keys.master_pub)
    assert not crosssign.verify_signature(obj, "@bot:example.org", keys.self_signing_pub)
    assert not crosssign.verify_signature(obj | {"keys": {"x": "z"}}, "@bot:example.org", keys.master_pub)


def test_upload_body_chains_sub_keys_to_the_master() -> None:
    keys = CrossSigningKeys.generate("@bot:example.org")
    body = keys.upload_body()
    assert crosssign.cross_signing_key(body["master_key"], "@bot:example.org", "master") == keys.master_pub
    got = crosssign.cross_signed_from_query(
        {"master_keys": {"@bot:example.org": body["master_key"]},
         "self_signing_keys": {"@bot:example.org": body["self_signing_key"]}, "device_keys": {}},
        ["@bot:example.org", "@nobody:example.org"])
    assert got == {"@bot:example.org": set(), "@nobody:example.org": set()}
    assert crosssign.verify_signature(body["user_signing_key"], "@bot:example.org", keys.master_pub)


def test_fingerprint_groups_of_four() -> None:
    assert crosssign.fingerprint("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_key_file_round_trip_mode_and_wrong_key(tmp_path: Path) -> None:
    keys = CrossSigningKeys.generate("@bot:example.org")
    path = tmp_path / crosssign.KEY_FILE
    crosssign.save_keys(path, keys, "the right store key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = crosssign.load_keys(path, "the right store key")
    assert again is not None and again.master_pub == keys.master_pub
    assert again.self_signing_pub == keys.self_signing_pub and again.user_signing_pub == keys.user_signing_pub
    with pytest.raises(CrossSigningError, match="does not decrypt"):
        crosssign.load_keys(path, "the wrong store key")
    assert crosssign.load_keys(tmp_path / "absent", "k") is None
    path.write_text(path.read_text().replace("@bot:example.org", "@eve:example.org"))
    with pytest.raises(CrossSigningError):  # the user ID is bound to the ciphertext
        crosssign.load_keys(path, "the right store key")
