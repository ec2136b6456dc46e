"""Key handling: the bot refuses a wrong or missing key before changing anything, reads keys
from files, and its E2EE store cannot be opened without BOT_STORE_KEY."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

import pytest

from tests.harness import BotProcess

pytestmark = pytest.mark.integration


def snapshot(directory: Path) -> dict[str, str]:
    """Content hashes of every file (health.json aside: a running bot rewrites it)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != "health.json"}


def env_without(bot: BotProcess, *keys: str) -> Path:
    bot.write_env()
    kept = [line for line in bot.env_file.read_text().splitlines() if line.split("=", 1)[0] not in keys]
    path = bot.directory / "partial.env"
    path.write_text("\n".join(kept) + "\n")
    return path


async def test_keys_wrong_missing_from_files_and_the_store_key(make_bot, members, tmp_path):
    hash_file, store_file = tmp_path / "hash.key", tmp_path / "store.key"
    hash_key = base64.b64encode(secrets.token_bytes(32)).decode()
    store_key = secrets.token_urlsafe(24)
    hash_file.write_text(hash_key + "\n")
    store_file.write_text(store_key + "\n")
    hash_file.chmod(0o600)
    store_file.chmod(0o600)
    # keys from files only (the container convention): the env has empty key values
    bot = make_bot(BOT_HASH_KEY="", BOT_STORE_KEY="", BOT_HASH_KEY_FILE=str(hash_file),
                   BOT_STORE_KEY_FILE=str(store_file)).start()
    alice = await members("alice", bot)
    dm = await alice.create_dm()
    assert "Matrix ID" in (await alice.ask(dm, "!privacy")).body
    assert bot.stop() == 0
    before = snapshot(bot.data_dir)

    # a wrong hash key: every entry point refuses, nothing changes
    bot.extra_env["BOT_HASH_KEY_FILE"] = str(tmp_path / "wrong.key")
    (tmp_path / "wrong.key").write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    for args in (("run",), ("export-aggregates",)):
        result = bot.run_cli(*args, "--env-file", str(bot.env_file))
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "BOT_HASH_KEY does not match" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert snapshot(bot.data_dir) == before
    # a backup copies the (opaque) file and needs no key; it changes nothing either
    result = bot.run_cli("backup", str(tmp_path / "copy.db"), "--env-file", str(bot.env_file))
    assert result.returncode == 0, result.stderr
    assert snapshot(bot.data_dir) == before

    # a missing key: one clear line each, exit 2
    for key in ("BOT_HASH_KEY", "BOT_STORE_KEY"):
        partial = env_without(bot, key, key + "_FILE")
        result = bot.run_cli("run", "--env-file", str(partial))
        assert result.returncode == 2 and f"{key}: is required but not set" in result.stderr, result.stderr
    # a key file that cannot be read
    bot.extra_env["BOT_HASH_KEY_FILE"] = str(tmp_path / "missing.key")
    result = bot.run_cli("run", "--env-file", str(bot.env_file))
    assert result.returncode == 2 and "BOT_HASH_KEY_FILE: cannot read" in result.stderr, result.stderr
    assert snapshot(bot.data_dir) == before

    # bot.db (checked first) and the E2EE store do not open with another store key: exit 2, one clear
    # line, data directory untouched
    bot.extra_env["BOT_HASH_KEY_FILE"] = str(hash_file)
    other_store = tmp_path / "other-store.key"
    other_store.write_text(secrets.token_urlsafe(24))
    bot.extra_env["BOT_STORE_KEY_FILE"] = str(other_store)
    result = bot.run_cli("run", "--env-file", str(bot.env_file))
    assert result.returncode == 2, result.stderr
    assert "BOT_STORE_KEY does not open bot.db" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(bot.data_dir) == before

    # with the right files it runs again and answers
    bot.extra_env["BOT_STORE_KEY_FILE"] = str(store_file)
    bot.start()
    assert "Matrix ID" in (await alice.ask(dm, "!privacy")).body
    # no key appears in the data directory, nor in the log
    assert bot.stop() == 0
    for path in bot.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert hash_key.encode() not in data and store_key.encode() not in data, path
    assert hash_key not in bot.log() and store_key not in bot.log()
