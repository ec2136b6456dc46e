"""The foundation through the real homeserver: members in encrypted rooms and DMs talk to the
bot process, which keeps its promises across restarts."""

from __future__ import annotations

import asyncio
import base64
import secrets

import pytest

from tests.harness import scan_for_secrets

pytestmark = pytest.mark.integration


async def test_help_in_encrypted_room(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room()
    reply = await alice.ask(room, "!help")
    assert reply.content["msgtype"] == "m.notice"
    assert "!privacy" in reply.body and "<code>!privacy</code>" in reply.html
    assert reply.relates_to["m.in_reply_to"]["event_id"]
    assert alice.undecryptable == 0

    detail = await alice.ask(room, "!help forget")
    assert "Example: `!forget confirm`" in detail.body


async def test_unknown_command_and_thread_reply(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room()
    reply = await alice.ask(room, "!privcy")
    assert reply.body == "Unknown command `!privcy`. Try `!help`. Did you mean `!privacy`?"

    root = await alice.send(room, "thread root, not a command")
    threaded = await alice.ask(room, "", content={
        "msgtype": "m.text", "body": "!help",
        "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                         "m.in_reply_to": {"event_id": root}},
    })
    assert threaded.relates_to["rel_type"] == "m.thread" and threaded.relates_to["event_id"] == root


async def test_privacy_mydata_forget_in_dm(bot, members):
    alice = await members("alice", bot)
    dm = await alice.create_dm()
    privacy = await alice.ask(dm, "!privacy")
    assert "never store your Matrix ID" in privacy.body
    mydata = await alice.ask(dm, "!mydata")
    assert "I hold nothing that belongs to you" in mydata.body
    ask = await alice.ask(dm, "!forget")
    assert "!forget confirm" in ask.body
    done = await alice.ask(dm, "!forget confirm")
    assert done.body.startswith("Done: deleted 0 records")


async def test_unencrypted_room_refused_once(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room(encrypted=False)
    first = await alice.ask(room, "!help")
    assert "only work in end-to-end-encrypted rooms" in first.body
    await alice.send(room, "!privacy")
    marker = await alice.create_dm()
    await alice.ask(marker, "!help")  # by now the bot has seen the second room command
    assert len(alice.from_bot(room)) == 1


async def test_notices_and_own_messages_ignored(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room()
    await alice.send(room, "", content={"msgtype": "m.notice", "body": "!help"})
    reply = await alice.ask(room, "!privacy")
    assert "What I store" in reply.body
    assert len(alice.from_bot(room)) == 1


async def test_edited_command_is_not_run(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room()
    original = await alice.send(room, "hello")
    reply = await alice.ask(room, "", content={
        "msgtype": "m.text", "body": "* !forget confirm",
        "m.new_content": {"msgtype": "m.text", "body": "!forget confirm"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })
    assert "don't run edited commands" in reply.body


async def test_restart_answers_once_and_catches_up(make_bot, members):
    bot = make_bot().start()
    alice = await members("alice", bot)
    room = await alice.create_room()
    await alice.ask(room, "!help")
    assert bot.stop() == 0

    # sent while the bot is down: answered exactly once after it starts
    await alice.send(room, "!privacy")
    await alice.send(room, "!mydata")
    bot.start()
    await alice.wait_for(lambda: len(alice.from_bot(room)) >= 3, timeout=30)
    bot.stop()
    bot.start()
    await alice.ask(room, "!help privacy")  # a fresh command after the second restart
    await asyncio.sleep(1)
    bodies = [r.body for r in alice.from_bot(room)]
    assert len(bodies) == 4, bodies
    assert sum("never store your Matrix ID" in b for b in bodies) == 1


async def test_invites_from_other_servers_rejected(make_bot, members):
    bot = make_bot(BOT_ALLOWED_SERVERS="trusted.example.org").start()
    alice = await members("alice", bot)
    response = await alice.client.room_create(invite=[bot.user_id])
    room_id = response.room_id

    async def membership() -> str | None:
        state = await alice.client.room_get_state_event(room_id, "m.room.member", bot.user_id)
        return getattr(state, "content", {}).get("membership")

    deadline = asyncio.get_running_loop().time() + 30
    # the homeserver's state, polled (no event to wait on): alice invited the bot, so "leave" is its refusal
    while (now := await membership()) == "invite" and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    assert now == "leave"


def test_wrong_hash_key_refused_without_changes(make_bot):
    bot = make_bot().start()
    assert bot.stop() == 0
    db = bot.data_dir / "bot.db"
    before = db.read_bytes()
    bot.hash_key = base64.b64encode(secrets.token_bytes(32)).decode()
    result = bot.run_cli("run", "--env-file", str(bot.env_file))
    assert result.returncode == 2
    assert "BOT_HASH_KEY does not match" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before


def test_invalid_config_lists_every_problem(make_bot):
    bot = make_bot(BOT_HASH_KEY="c2hvcnQ=", BOT_DEFAULT_TIMEZONE="Mars/Olympus")
    bot.directory.mkdir(parents=True)
    result = bot.run_cli("check-config", "--env-file", str(bot.env_file))
    assert result.returncode == 2
    assert "BOT_HASH_KEY: is 5 bytes" in result.stderr
    assert "BOT_DEFAULT_TIMEZONE: unknown time zone" in result.stderr
    assert "Traceback" not in result.stderr


async def test_nothing_identifying_stored_or_logged(make_bot, members):
    bot = make_bot().start()
    alice = await members("alice", bot)
    room = await alice.create_room(name="Secret Organizing Room")
    secret_text = f"unique-message-{secrets.token_hex(4)}"
    await alice.ask(room, f"!help {secret_text}")
    await alice.ask(room, "!mydata")
    dm = await alice.create_dm()
    await alice.ask(dm, "!forget confirm")
    bot.stop()
    localpart = alice.user_id[1:].split(":")[0]
    files = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    needles = [alice.user_id, localpart, secret_text, "Secret Organizing Room", room, dm]
    assert scan_for_secrets(files, needles) == []
    log = bot.log().lower()
    assert all(n.lower() not in log for n in needles), log
