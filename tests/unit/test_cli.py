"""The command line: init, check-config, help, healthcheck."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from bot.config import load_settings
from bot.ops import cli


def test_init_writes_fresh_secrets_and_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "bot.env"
    assert cli.main(["init", "--output", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert "BOT_HASH_KEY=" in text and "BOT_STORE_KEY=" in text
    before = text
    assert cli.main(["init", "--output", str(target)]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert target.read_text() == before
    other = tmp_path / "other.env"
    cli.main(["init", "--output", str(other)])
    key = [line for line in before.splitlines() if line.startswith("BOT_HASH_KEY=")][0]
    assert key not in other.read_text()  # a new key each time


def test_generated_env_is_valid_and_check_config_masks_secrets(tmp_path, capsys, monkeypatch):
    target = tmp_path / "bot.env"
    cli.main(["init", "--output", str(target), "--homeserver", "https://hs.example", "--user-id", "@b:hs.example"])
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("MATRIX_", "BOT_")):
            monkeypatch.delenv(key)
    settings = load_settings(target)
    assert settings.MATRIX_HOMESERVER == "https://hs.example"
    capsys.readouterr()
    assert cli.main(["check-config", "--env-file", str(target)]) == 0
    out = capsys.readouterr().out
    secret = settings.BOT_HASH_KEY.get_secret_value()
    assert secret not in out and "BOT_HASH_KEY" in out and "****** (set)" in out
    assert "configuration ok" in out


def test_missing_env_file_is_a_clear_config_error(tmp_path, capsys):
    assert cli.main(["check-config", "--env-file", str(tmp_path / "nope.env")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["run", "init", "check-config", "demo", "healthcheck", "backup", "doctor",
                                     "export-aggregates", "burn",
                                     "contracts"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: organizer-bot " + command in capsys.readouterr().out


def test_healthcheck_states(tmp_path, capsys, monkeypatch):
    target = tmp_path / "bot.env"
    cli.main(["init", "--output", str(target)])
    data = tmp_path / "data"
    text = target.read_text().replace("BOT_DATA_DIR=./data", f"BOT_DATA_DIR={data}")
    target.write_text(text)
    for key in list(os.environ):
        if key.startswith(("MATRIX_", "BOT_")):
            monkeypatch.delenv(key)
    assert cli.main(["healthcheck", "--env-file", str(target)]) == 1
    assert "not synced yet" in capsys.readouterr().out
    data.mkdir()
    (data / "health.json").write_text(json.dumps({"last_sync": time.time() - 600}))
    assert cli.main(["healthcheck", "--env-file", str(target)]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: last successful sync 6")
    (data / "health.json").write_text(json.dumps({"last_sync": time.time()}))
    assert cli.main(["healthcheck", "--env-file", str(target)]) == 0
