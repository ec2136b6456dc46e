"""A bot configured with another command prefix (BOT_COMMAND_PREFIX=?) names its commands with
that prefix in every reply: no reply shows a `!command` the member could not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands import base
from commands.base import Output, Reply, Role, RoomView
from tests.fakes import DM, ROOM, World, make_world, texts

PREFIX = "?"
ADMIN = Role.ADMIN


async def run(world: World, text: str, room: RoomView = ROOM, role: Role = ADMIN) -> list[Output]:
    """Like ``World.run`` with the prefix ``?``."""
    parsed = base.parse(text, PREFIX)
    assert parsed is not None, text
    if parsed.error is not None or parsed.command is None:
        return [Reply(parsed.error("en") if parsed.error is not None else "")]
    ctx = world.ctx(role=role, room=room)
    ctx.prefix = PREFIX
    async with world.db.transaction():
        try:
            return await parsed.command.handler(ctx, parsed.args)
        except base.UsageError as exc:
            return [Reply(f"{exc}\nUsage: `{PREFIX}{parsed.command.usage}`")]
        except base.CommandError as exc:
            return [Reply(str(exc))]


@pytest.fixture
async def world(tmp_path: Path):
    made = await make_world(tmp_path)
    yield made
    await made.db.close()


async def test_the_action_replies_that_once_said_bang_use_the_configured_prefix(world: World) -> None:
    replies = {
        "?action add tomorrow 9am Call the council": "`?action add tomorrow 9am | Call the council`",
        "?action add tomorrow 9am |": "`?action add tomorrow 9am | Call the council`",
        "?remind me tomorrow": "`?remind me tomorrow 9am | Bring the flyers`",
        "?action cancel x": "`?actions`",
        "?action rooms x add": "`?actions`",
        "?help action rooms": "`?confirm CODE`",
        "?help broadcast": "`?confirm CODE`",
        "?unpledge": "`?unpledge letter`",
    }
    for typed, expected in replies.items():
        text = texts(await run(world, typed))
        assert expected in text, (typed, text)
        assert "`!" not in text, (typed, text)


async def test_no_reply_of_any_command_names_the_default_prefix(world: World) -> None:
    """Every command, bare and with odd input, in a room and in a DM, and its help."""
    tails = ["", " x", " x y --bogus", " 1 | x --remind", " | x", " --all --new --as-typed"]
    for name in sorted(base.REGISTRY):
        for tail in tails:
            for room in (ROOM, DM):
                text = texts(await run(world, f"{PREFIX}{name}{tail}", room=room))
                assert "`!" not in text, (name, tail, text)
        text = texts(await run(world, f"{PREFIX}help {name}"))
        assert "`!" not in text and f"`{PREFIX}{name}" in text, (name, text)
    assert "`!" not in texts(await run(world, f"{PREFIX}help"))
