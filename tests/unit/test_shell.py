"""The shell's command path without a homeserver: failures, rollback, dedup, throttling."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from nio import MatrixRoom

from bot.shell import FAILED_TEXT, THROTTLE_TEXT, MatrixShell, _ReplyTarget
from commands import base
from commands.base import REGISTRY, Reply, command
from storage import core


@pytest.fixture
def exploding_command():
    @command("explode", usage="explode", summary="test only")
    async def explode(ctx, args):
        await core.set_flag(ctx.db, ctx.keyring, "!written:x", "half-done")  # must be rolled back
        raise RuntimeError("secret member text in the exception")

    yield
    del REGISTRY["explode"]


def _shell(world) -> tuple[MatrixShell, MatrixRoom]:
    shell = MatrixShell(world.settings, world.db, world.keyring)
    room = MatrixRoom("!room:example.org", "@bot:example.org", encrypted=True)
    room.add_member("@bot:example.org", "bot", None)
    room.add_member("@alice:example.org", "alice", None)
    room.add_member("@carol:example.org", "carol", None)
    shell.client = SimpleNamespace(user_id="@bot:example.org", rooms={room.room_id: room})  # type: ignore[assignment]
    return shell, room


def _event(event_id: str, body: str) -> SimpleNamespace:
    return SimpleNamespace(event_id=event_id, sender="@alice:example.org", server_timestamp=0,
                           source={"content": {"msgtype": "m.text", "body": body}})


async def _sent(world) -> list[str]:
    return [item.payload["content"]["body"] for item in await core.pending(world.db, world.keyring)]


async def test_handler_error_answers_politely_rolls_back_and_logs_no_text(world, exploding_command, caplog):
    shell, room = _shell(world)
    caplog.set_level(logging.INFO)
    await shell._run_command(room, _event("$e1", "!explode"), base.parse("!explode", "!"), {}, False)
    assert await _sent(world) == [FAILED_TEXT]
    assert await core.get_flag(world.db, world.keyring, "!written:x", "half-done") is None
    assert await core.already_handled(world.db, world.keyring, "$e1")
    assert "command explode failed: RuntimeError" in caplog.text
    assert "secret member text" not in caplog.text and "alice" not in caplog.text

    # the same event again (a re-delivered sync batch) is not answered twice
    await shell._run_command(room, _event("$e1", "!explode"), base.parse("!explode", "!"), {}, False)
    assert await _sent(world) == [FAILED_TEXT]


async def test_reply_relation_and_thread(world):
    shell, room = _shell(world)
    await shell._run_command(room, _event("$e2", "!help"), base.parse("!help", "!"),
                             {"rel_type": "m.thread", "event_id": "$root"}, False)
    item = (await core.pending(world.db, world.keyring))[0]
    relation = item.payload["content"]["m.relates_to"]
    assert relation == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                        "m.in_reply_to": {"event_id": "$e2"}}
    assert item.payload["content"]["msgtype"] == "m.notice"
    assert item.payload["content"]["format"] == "org.matrix.custom.html"


async def test_private_replies_carry_no_relation(world):
    shell, room = _shell(world)
    async with world.db.transaction():
        await shell._enqueue([Reply("recorded", private=True)], room.room_id, "$e3", _ReplyTarget("$e3", None), None)
    item = (await core.pending(world.db, world.keyring))[0]
    assert "m.relates_to" not in item.payload["content"]


async def test_flooding_member_is_throttled_with_one_notice(make_world_with):
    world = await make_world_with(BOT_MEMBER_RATE=3)
    shell, room = _shell(world)
    for i in range(8):
        await shell._run_command(room, _event(f"$f{i}", "!privacy"), base.parse("!privacy", "!"), {}, False)
    sent = await _sent(world)
    assert sent.count(THROTTLE_TEXT) == 1
    assert len(sent) == 4  # three answers, one notice, the rest ignored
    other = SimpleNamespace(event_id="$c1", sender="@carol:example.org", server_timestamp=0,
                            source={"content": {"msgtype": "m.text", "body": "!help"}})
    await shell._run_command(room, other, base.parse("!help", "!"), {}, False)
    assert "Commands you can use" in (await _sent(world))[-1]


async def test_coordinator_role_from_power_levels_and_v12_creators(world):
    shell, room = _shell(world)
    assert shell._role(room, "@alice:example.org") == base.Role.MEMBER
    room.power_levels.users["@alice:example.org"] = 50
    assert shell._role(room, "@alice:example.org") == base.Role.COORDINATOR
    room.room_version = "12"
    shell._creators[room.room_id] = {"@carol:example.org"}
    assert shell._role(room, "@carol:example.org") == base.Role.COORDINATOR
    room.room_version = "10"
    assert shell._role(room, "@carol:example.org") == base.Role.MEMBER
