"""Operations without a homeserver: healthcheck states, retention job, export, burn, !audit, secret files."""

from __future__ import annotations

import errno
import io
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from bot.config import load_settings
from bot.ops import cli
from commands import admin, base
from commands.base import Role, RoomFacts
from storage import atrest, core, retention
from storage.db import CORE
from tests.fakes import DM, ROOM, TEST_KEY, texts

STORE_KEY = "store-key-for-unit-tests"


def write_env(tmp_path: Path, **extra: str) -> Path:
    values = {"MATRIX_HOMESERVER": "http://127.0.0.1:1", "MATRIX_USER_ID": "@bot:example.org",
              "MATRIX_PASSWORD": "pw-secret-123", "BOT_DATA_DIR": str(tmp_path / "data"),
              "BOT_HASH_KEY": TEST_KEY, "BOT_STORE_KEY": STORE_KEY}
    values.update(extra)
    path = tmp_path / "bot.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


# ---------------------------------------------------------------- healthcheck


def test_healthcheck_states(tmp_path, capsys):
    env = write_env(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 1
    assert "not synced yet" in capsys.readouterr().out

    (data / "health.json").write_text(json.dumps({"last_sync": time.time() - 5}))
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("healthy") and out.count("\n") == 1

    (data / "health.json").write_text(json.dumps({"last_sync": time.time() - 121}))
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 1
    assert capsys.readouterr().out.startswith("unhealthy: last successful sync 12")

    (data / "health.json").write_text("{broken")
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 1


# ---------------------------------------------------------------- retention


async def test_retention_runs_daily_with_cutoff_and_expires_event_marks(world, monkeypatch):
    calls: list = []

    async def hook(db, cutoff):
        calls.append(cutoff)
        return 3

    monkeypatch.setattr(base, "RETENTION_HOOKS", {"unit": hook})
    monkeypatch.setattr(admin, "RETENTION_HOOKS", {"unit": hook})
    source = base.DUE_SOURCES["retention"]
    # an old handled-event mark (expired) and a fresh one
    book = core.EventBook(world.db, world.keyring)
    async with world.db.transaction():
        await book.mark_handled("$old", now=world.now.timestamp() - 30 * 86400)
        await book.mark_handled("$new", now=world.now.timestamp())

    assert await source.next_due(world.db) <= world.now  # never ran: due now
    async with world.db.transaction():
        assert await source.fire(world.env()) == []
    assert calls == [world.now - timedelta(days=180)]
    assert not await book.handled("$old")
    assert await book.handled("$new")
    assert await source.next_due(world.db) == world.now + timedelta(days=1)

    world.now += timedelta(hours=23)  # the scheduler fires every source when another is due
    async with world.db.transaction():
        await source.fire(world.env())
    assert len(calls) == 1

    world.now += timedelta(hours=1)
    async with world.db.transaction():
        await source.fire(world.env())
    assert calls[-1] == world.now - timedelta(days=180) and len(calls) == 2
    assert await retention.last_run(world.db) == world.now


async def test_retention_days_setting(make_world_with, monkeypatch):
    w = await make_world_with(BOT_RETENTION_DAYS=30)
    seen = []

    async def hook(db, cutoff):
        seen.append(cutoff)
        return 0

    monkeypatch.setattr(admin, "RETENTION_HOOKS", {"unit": hook})
    source = base.DUE_SOURCES["retention"]
    async with w.db.transaction():
        await source.fire(w.env())
    assert seen == [w.now - timedelta(days=30)]


# ---------------------------------------------------------------- export


def test_export_aggregates_prints_hooks_and_schema_versions(tmp_path, capsys, monkeypatch):
    seen_envs = []

    async def pledges(env):
        seen_envs.append(env)
        rows = await env.db.fetchall("SELECT domain FROM schema_versions")
        return {"pledges": [{"goal": 10, "signed": "fewer than 5"}], "domains": len(rows)}

    async def rollcalls(env):
        return {"answers": {"Google": 7, "Other companies": "fewer than 5"}}

    env = write_env(tmp_path, BOT_MIN_CELL="5")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.db").touch()
    monkeypatch.setattr(base, "EXPORT_HOOKS", {"rollcalls": rollcalls, "pledges": pledges})
    assert cli.main(["export-aggregates", "--env-file", str(env)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"bot", "pledges", "rollcalls"}
    assert data["bot"]["min_cell"] == 5 and data["bot"]["schema_versions"]["core"] == len(CORE.steps)
    assert data["pledges"]["pledges"] == [{"goal": 10, "signed": "fewer than 5"}]
    assert data["rollcalls"]["answers"]["Other companies"] == "fewer than 5"
    assert seen_envs[0].shell.rooms() == []  # no Matrix: nothing about rooms can leak
    assert "example.org" not in json.dumps(data)


def test_export_without_database_fails(tmp_path, capsys):
    env = write_env(tmp_path)
    assert cli.main(["export-aggregates", "--env-file", str(env)]) == 1


# ---------------------------------------------------------------- !audit

GOOD = RoomFacts("!r:example.org", "Organizing", True, "invite", "joined", "forbidden",
                 {"example.org": 6, "other.net": 2}, {"Alice": 100, "Bob": 50}, True)
BAD = RoomFacts("!r:example.org", "Organizing", False, "public", "shared", "can_join",
                {"example.org": 3, "matrix.palantir.tech": 1, "gmail.com:8448": 1}, {}, False)


def test_company_servers():
    assert admin.company_of_server("matrix.palantir.tech") == "Palantir"
    assert admin.company_of_server("gmail.com") == "Google"
    assert admin.company_of_server("chat.amazon.com:8448") == "Amazon"
    assert admin.company_of_server("matrix.org") is None
    assert admin.company_of_server("example.com") is None


async def test_audit_well_set_room(world):
    world.shell.room_facts = lambda room_id: GOOD  # type: ignore[method-assign]
    text = texts(await world.run("!audit", role=Role.COORDINATOR))
    assert "set up well" in text and "⚠️" not in text
    assert "only people who are invited" in text and "cannot read what was said before" in text
    assert "`example.org` (6)" in text and "`Alice` (admin)" in text and "`Bob` (moderator)" in text


async def test_audit_badly_set_room(world):
    world.shell.room_facts = lambda room_id: BAD  # type: ignore[method-assign]
    text = texts(await world.run("!audit", role=Role.COORDINATOR))
    assert "7 things to fix" in text
    assert "Not encrypted" in text and "anyone who finds the room" in text and "Guests" in text
    assert "anyone who joins later can read the whole history" in text
    assert "run by Palantir" in text and "run by Google" in text
    assert "Give me moderator power" in text


async def test_audit_needs_coordinator_and_a_room(world):
    world.shell.room_facts = lambda room_id: GOOD  # type: ignore[method-assign]
    assert "Only a coordinator" in texts(await world.run("!audit"))
    assert "in the room you want checked" in texts(await world.run("!audit", role=Role.ADMIN, room=DM))
    world.shell.room_facts = lambda room_id: None  # type: ignore[method-assign]
    assert "don't know this room" in texts(await world.run("!audit", role=Role.COORDINATOR, room=ROOM))


# ---------------------------------------------------------------- secrets from files


def test_secrets_from_files_only(tmp_path, monkeypatch):
    for key in ("BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "hash").write_text(TEST_KEY + "\n")
    (tmp_path / "store").write_text(STORE_KEY)
    (tmp_path / "pw").write_text("pw-from-file\n")
    env = tmp_path / "bot.env"
    env.write_text(f"MATRIX_HOMESERVER=http://127.0.0.1:1\nMATRIX_USER_ID=@bot:example.org\n"
                   f"BOT_DATA_DIR={tmp_path / 'data'}\nBOT_HASH_KEY_FILE={tmp_path / 'hash'}\n"
                   f"BOT_STORE_KEY_FILE={tmp_path / 'store'}\nMATRIX_PASSWORD_FILE={tmp_path / 'pw'}\n")
    s = load_settings(env)
    assert s.BOT_HASH_KEY.get_secret_value() == TEST_KEY and s.store_key == STORE_KEY
    assert s.MATRIX_PASSWORD is not None and s.MATRIX_PASSWORD.get_secret_value() == "pw-from-file"
    (tmp_path / "hash").unlink()
    assert cli.main(["check-config", "--env-file", str(env)]) == cli.EXIT_CONFIG


# ---------------------------------------------------------------- burn


def _burnable(tmp_path: Path) -> tuple[Path, Path]:
    env = write_env(tmp_path)
    data = tmp_path / "data"
    (data / "e2ee").mkdir(parents=True)
    (data / "e2ee" / "@bot:example.org_DEV.db").write_bytes(b"olm account pickle " * 50)
    (data / "session.json").write_text('{"access_token": "syt_secret_token"}')
    (data / "cross_signing.json").write_text('{"master": "seed"}')
    conn = sqlite3.connect(data / "bot.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES ('hashed')")
    conn.commit()
    conn.close()
    return env, data


def test_burn_needs_the_confirmation_word(tmp_path, monkeypatch, capsys):
    env, data = _burnable(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("burn\n"))
    assert cli.main(["burn", "--env-file", str(env)]) == 1
    assert "nothing was changed" in capsys.readouterr().out
    assert (data / "session.json").exists() and TEST_KEY in env.read_text()


def test_burn_destroys_keys_and_store(tmp_path, monkeypatch, capsys):
    env, data = _burnable(tmp_path)
    key_file = tmp_path / "store.key"
    key_file.write_text(STORE_KEY)
    monkeypatch.setattr("sys.stdin", io.StringIO("BURN\n"))
    assert cli.main(["burn", "--env-file", str(env), "--key-file", str(key_file)]) == 0
    assert not key_file.exists()
    text = env.read_text()
    assert TEST_KEY not in text and STORE_KEY not in text and "pw-secret-123" not in text
    assert "BOT_HASH_KEY=\n" in text and "MATRIX_HOMESERVER=http://127.0.0.1:1" in text
    assert sorted(p.name for p in data.rglob("*") if p.is_file()) == ["bot.db"]
    assert sqlite3.connect(data / "bot.db").execute("SELECT x FROM t").fetchall() == [("hashed",)]
    # the bot refuses to start: the keys are gone
    assert cli.main(["run", "--env-file", str(env)]) == cli.EXIT_CONFIG


def test_shred_overwrites_before_deleting(tmp_path, monkeypatch):
    target = tmp_path / "k"
    target.write_bytes(b"A" * 100)
    written = []
    real_unlink = Path.unlink

    def spy(self, *a, **k):
        written.append(self.read_bytes())
        real_unlink(self, *a, **k)

    monkeypatch.setattr(Path, "unlink", spy)
    assert atrest.shred(target)
    assert len(written[0]) == 100 and written[0] != b"A" * 100
    assert not target.exists()


# ---------------------------------------------------------------- container files

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_runs_unprivileged_without_secrets():
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim" in text and text.count("FROM ${BASE_IMAGE}") == 2
    assert "USER 10001" in text and 'VOLUME ["/data"]' in text and "BOT_DATA_DIR=/data" in text
    assert 'CMD ["organizer-bot", "healthcheck"]' in text
    assert 'ENTRYPOINT ["organizer-bot"]' in text and 'CMD ["run"]' in text
    for secret in ("BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_PASSWORD", "MATRIX_ACCESS_TOKEN"):
        assert secret not in text
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignore and "**/.env" in ignore and "!tests/" not in ignore


def test_compose_takes_every_secret_from_a_file():
    from bot.config import SECRET_FILE_KEYS

    text = (ROOT / "compose.yaml").read_text()
    for key in SECRET_FILE_KEYS:
        assert f"{key}_FILE: /run/secrets/{key.lower()}" in text
        assert f"\n      {key}:" not in text  # never the value itself


def test_burn_with_keys_in_the_environment_destroys_what_it_can_and_says_what_remains(
        tmp_path, monkeypatch, capsys):
    env, data = _burnable(tmp_path)
    env.write_text(f"MATRIX_HOMESERVER=http://127.0.0.1:1\nMATRIX_USER_ID=@bot:example.org\nBOT_DATA_DIR={data}\n")
    monkeypatch.setenv("BOT_HASH_KEY", TEST_KEY)  # as `docker run --env-file` passes them
    monkeypatch.setenv("BOT_STORE_KEY", STORE_KEY)
    monkeypatch.setenv("MATRIX_PASSWORD", "pw-secret-123")
    code = cli.main(["burn", "--env-file", str(env), "--yes-i-understand"])
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert sorted(p.name for p in data.rglob("*") if p.is_file()) == ["bot.db"]  # the store went anyway
    assert "NOT DONE" in err and "no longer be read" not in out
    for key in ("BOT_HASH_KEY", "BOT_STORE_KEY", "MATRIX_PASSWORD"):
        assert f"{key} is set in the environment of this process" in err
    assert "stop the container" in err and "delete the env file or secret files on the host" in err


def test_burn_reports_a_key_file_it_cannot_overwrite(tmp_path, monkeypatch, capsys):
    env, data = _burnable(tmp_path)
    key_file = tmp_path / "ro" / "bot_store_key"
    key_file.parent.mkdir()
    key_file.write_text(STORE_KEY)
    real_shred = atrest.shred

    def read_only_mount(path: Path) -> bool:
        if path == key_file:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_shred(path)

    monkeypatch.setattr(atrest, "shred", read_only_mount)
    code = cli.main(["burn", "--env-file", str(env), "--key-file", str(key_file), "--yes-i-understand"])
    out, err = capsys.readouterr()
    assert code == 3
    assert f"key file {key_file} (cannot overwrite or delete it here: Read-only file system" in err
    assert TEST_KEY not in env.read_text()  # the env file's lines were blanked all the same
    assert not (data / "session.json").exists()


def test_burn_names_a_key_file_that_does_not_exist_and_exits_non_zero(tmp_path, capsys):
    """Before: "Every key burn was told of is gone", exit 0, and the real key file survived
    (a typo in the path, or the file on another mount; issue #23)."""
    env, data = _burnable(tmp_path)
    real = tmp_path / "secrets" / "bot_store_key"
    real.parent.mkdir()
    real.write_text(STORE_KEY)
    typo = tmp_path / "secret" / "bot_store_key"
    there = tmp_path / "hash.key"
    there.write_text(TEST_KEY)
    code = cli.main(["burn", "--env-file", str(env), "--key-file", str(typo), "--key-file", str(there),
                     "--yes-i-understand"])
    out, err = capsys.readouterr()
    assert code == 3
    assert f"key file {typo} does not exist here" in err and "was not destroyed" in err
    assert "NOT DONE" in err and "Every key burn was told of is gone" not in out
    assert not there.exists() and not (data / "session.json").exists()  # the rest was destroyed all the same
    assert real.exists()  # burn could not know of it, and said so


def test_burn_names_an_env_file_that_does_not_exist(tmp_path, capsys):
    _env, data = _burnable(tmp_path)
    missing = tmp_path / "prod.env"
    code = cli.main(["burn", "--env-file", str(missing), "--data-dir", str(data), "--yes-i-understand"])
    out, err = capsys.readouterr()
    assert code == 3 and f"env file {missing} does not exist here" in err
