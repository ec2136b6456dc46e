"""Operations against the real homeserver: graceful stop, reconnect, backup and export while
running, !audit on real room state, secrets from files, burn."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import pytest

from bot.ops.localserver import LocalSynapse
from storage.db import CORE
from tests.harness import PASSWORD, BotProcess, Member, scan_for_secrets

pytestmark = pytest.mark.integration


def _private(bot: BotProcess) -> list:
    return [p for p in bot.data_dir.iterdir() if p.name != "e2ee"] + [p for p in bot.directory.glob("bot-*.log")]


def _answered(member: Member, room: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in member.from_bot(room):
        target = r.relates_to.get("m.in_reply_to", {}).get("event_id")
        if target:
            counts[target] = counts.get(target, 0) + 1
    return counts


async def test_sigterm_during_a_burst_loses_nothing(make_bot, members):
    # 25 commands: more than one sync returns after the restart (the gap is fetched), and
    # a member rate high enough that throttling is not what is tested here
    bot = make_bot(BOT_MEMBER_RATE="100").start()
    alice = await members("alice", bot)
    room = await alice.create_room(name="burst room zq")
    await alice.ask(room, "!help")  # keys shared, bot warmed up

    sent: list[str] = []

    async def burst() -> None:
        for i in range(25):
            sent.append(await alice.send(room, "!privacy" if i % 2 else "!help"))

    sender = asyncio.create_task(burst())
    await alice.wait_for(lambda: len(_answered(alice, room)) >= 3, 30)  # the bot is busy answering
    assert bot.process is not None
    bot.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(bot.process.wait, 10)  # must stop within 10 s
    assert code == 0
    bot.process = None
    await sender
    answered_before_restart = len(_answered(alice, room))

    bot.start()
    try:
        await alice.wait_for(lambda: set(sent) <= set(_answered(alice, room)), 60)
    except TimeoutError:
        missing = [sent.index(e) for e in sent if e not in _answered(alice, room)]
        raise AssertionError(f"unanswered: {missing}\n{bot.log()}") from None
    marker = await alice.ask(room, "!help")  # everything queued before it has been sent
    counts = _answered(alice, room)
    assert all(counts[e] == 1 for e in sent), counts
    assert marker.relates_to["m.in_reply_to"]["event_id"] in counts
    assert answered_before_restart < len(sent) + 1  # some answers came only after the restart
    assert "stopped cleanly" in bot.log()
    assert scan_for_secrets(_private(bot), [alice.user_id, alice.user_id[1:].split(":")[0], "burst room zq"]) == []


async def test_reconnects_after_homeserver_outage(tmp_path, members):
    hs = LocalSynapse(tmp_path / "own-synapse").start()  # our own: stopping it disturbs no other test
    bot = None
    alice = None
    try:
        bot_id = hs.register("outagebot", PASSWORD)
        # alice is an admin: the room she invites the bot into becomes the campaign's home room (#16)
        bot = BotProcess(hs, tmp_path / "outagebot", bot_id, extra_env={
            "BOT_LOG_FORMAT": "json", "BOT_ADMINS": f"@outagealice:{hs.server_name}"}).start()
        alice = await Member.create(hs, "outagealice", tmp_path, bot_id)
        room = await alice.create_room(name="outage room qv")
        assert "!privacy" in (await alice.ask(room, "!help")).body

        hs.stop()
        deadline = time.monotonic() + 30
        while "homeserver unreachable" not in bot.log():
            assert time.monotonic() < deadline, bot.log()
            await asyncio.sleep(0.2)
        await asyncio.sleep(8)  # keep it down for several retries (~10 s outage)
        hs.start()

        assert "!privacy" in (await alice.ask(room, "!help", timeout=60)).body
        assert bot.run_cli("healthcheck", "--env-file", str(bot.env_file)).returncode == 0

        records = [json.loads(line) for line in bot.log().splitlines() if line.startswith("{")]
        assert records and len(records) == len([ln for ln in bot.log().splitlines() if ln.strip()])
        messages = [r["message"] for r in records]
        assert sum("homeserver unreachable" in m for m in messages) == 1, messages
        assert sum(m == "connected to the homeserver" for m in messages) == 2, messages  # start + after outage
        assert scan_for_secrets(_private(bot), [alice.user_id, "outagealice", "outage room qv"]) == []
    finally:
        if alice is not None:
            await alice.close()
        if bot is not None:
            bot.stop()
        hs.stop()


async def test_backup_and_export_while_the_bot_answers(bot, members, tmp_path):
    alice = await members("alice", bot)
    room = await alice.create_room(name="backup room kx")
    await alice.ask(room, "!help")
    sent: list[str] = []

    async def burst() -> None:
        for _ in range(20):
            sent.append(await alice.send(room, "!help"))

    sender = asyncio.create_task(burst())
    await alice.wait_for(lambda: len(_answered(alice, room)) >= 3, 30)
    target = tmp_path / "copy.db"
    backup = await asyncio.to_thread(bot.run_cli, "backup", str(target), "--env-file", str(bot.env_file))
    export = await asyncio.to_thread(bot.run_cli, "export-aggregates", "--env-file", str(bot.env_file))
    await sender
    await alice.wait_for(lambda: set(sent) <= set(_answered(alice, room)), 60)

    assert backup.returncode == 0, backup.stderr
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(target).execute("SELECT count(*) FROM sqlite_master").fetchone()
    conn = bot.open_db(target)  # encrypted under the bot.db key
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT version FROM schema_versions WHERE domain='core'").fetchone() == (len(CORE.steps),)
    handled = conn.execute("SELECT count(*) FROM processed_events").fetchone()[0]
    assert 1 <= handled <= len(sent) + 1
    conn.close()
    assert target.stat().st_mode & 0o777 == 0o600

    assert export.returncode == 0, export.stderr
    data = json.loads(export.stdout)
    assert data["bot"]["schema_versions"]["core"] == len(CORE.steps) and data["bot"]["min_cell"] == 5
    assert alice.user_id not in export.stdout and "backup room kx" not in export.stdout

    health = bot.run_cli("healthcheck", "--env-file", str(bot.env_file))
    assert health.returncode == 0 and health.stdout.startswith("healthy")
    assert scan_for_secrets(_private(bot) + [target], [alice.user_id, "backup room kx"]) == []


async def test_audit_of_a_well_set_and_a_badly_set_room(bot, members):
    alice = await members("alice", bot)
    bob = await members("bob", bot)  # a third member: a room of two counts as a DM
    good = await alice.create_room(name="good room pw", invite=(bob.user_id,))
    levels = await alice.client.room_get_state_event(good, "m.room.power_levels")
    content = dict(levels.content)
    content["users"] = {**content.get("users", {}), bot.user_id: 50}
    await alice.client.room_put_state(good, "m.room.power_levels", content)
    await alice.client.room_put_state(good, "m.room.history_visibility", {"history_visibility": "joined"})
    reply = await alice.ask(good, "!audit")
    assert "this room is set up well" in reply.body, reply.body
    assert "only people who are invited" in reply.body and "before they joined" in reply.body
    assert "`localhost` (3)" in reply.body and "⚠️" not in reply.body

    bad = await alice.create_room(name="bad room pw", invite=(bob.user_id,))
    await alice.client.room_put_state(bad, "m.room.join_rules", {"join_rule": "public"})
    await alice.client.room_put_state(bad, "m.room.history_visibility", {"history_visibility": "shared"})
    reply = await alice.ask(bad, "!audit")
    assert "things to fix" in reply.body
    assert "anyone who finds the room" in reply.body
    assert "anyone who joins later can read the whole history" in reply.body
    assert "Give me moderator power" in reply.body

    assert "Only a coordinator" in (await bob.ask(bad, "!audit")).body
    assert scan_for_secrets(_private(bot), [alice.user_id, bob.user_id, "good room pw", "bad room pw"]) == []


async def test_secrets_from_files_then_burn(make_bot, members):
    bot = make_bot()
    secrets_dir = bot.directory / "secrets"
    secrets_dir.mkdir(parents=True)
    files = {"BOT_HASH_KEY": bot.hash_key, "BOT_STORE_KEY": bot.store_key, "MATRIX_PASSWORD": PASSWORD}
    for key, value in files.items():
        (secrets_dir / key.lower()).write_text(value + "\n")

    def write_env() -> None:  # no secret in the env file: only *_FILE paths
        bot.env_file.write_text(
            f"MATRIX_HOMESERVER={bot.hs.url}\nMATRIX_USER_ID={bot.user_id}\nBOT_DATA_DIR={bot.data_dir}\n"
            f"BOT_ADMINS={bot.organizer}\n"  # the harness's campaign organizer (issue #16)
            + "".join(f"{key}_FILE={secrets_dir / key.lower()}\n" for key in files))

    bot.write_env = write_env  # type: ignore[method-assign]
    bot.start()
    alice = await members("alice", bot)
    room = await alice.create_room(name="burn room jj")
    assert "!privacy" in (await alice.ask(room, "!help")).body
    assert bot.stop() == 0
    assert any(bot.data_dir.joinpath("e2ee").iterdir()) and (bot.data_dir / "session.enc").exists()

    refused = bot.run_cli("burn", "--env-file", str(bot.env_file), input_text="no\n")
    assert refused.returncode == 1 and (secrets_dir / "bot_hash_key").exists()

    burned = bot.run_cli("burn", "--env-file", str(bot.env_file), input_text="BURN\n")
    assert burned.returncode == 0, burned.stdout + burned.stderr
    assert list(secrets_dir.iterdir()) == []
    assert not (bot.data_dir / "session.enc").exists()
    assert [p for p in bot.data_dir.rglob("*") if p.is_file()] == [bot.data_dir / "bot.db"]

    db = (bot.data_dir / "bot.db").read_bytes()
    import base64
    for secret in (bot.hash_key.encode(), base64.b64decode(bot.hash_key), bot.store_key.encode(),
                   PASSWORD.encode(), alice.user_id.encode(), b"burn room jj"):
        assert secret not in db

    with pytest.raises(RuntimeError, match="exited with 2"):
        bot.start()
    assert "BOT_HASH_KEY_FILE: cannot read" in bot.log()
