"""Anonymous polls over the real homeserver (issue #19): a coordinator creates a poll in a room,
members vote in their DMs, the poll shows no figure while open, and the close announces the
result once, suppressed; nothing about the voters or their votes reaches the bot's files."""

from __future__ import annotations

import pytest

from tests.harness import scan_for_secrets

pytestmark = pytest.mark.integration


async def test_a_poll_from_creation_to_its_result(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2")
    alice = await members("alice", bot)
    bot.extra_env["BOT_ADMINS"] = alice.user_id  # a campaign coordinator
    bot.start()
    voters = [await members(name, bot) for name in ("bob", "carol", "dave")]
    room = await alice.create_room(invite=tuple(v.user_id for v in voters))
    dms = [await v.create_dm() for v in voters]

    posted = await alice.ask(room, "!poll create strike Strike on Friday? | Yes | No | Later")
    assert "Poll `strike`: Strike on Friday?" in posted.body and "1. Yes" in posted.body  # the plain body
    for voter, dm, choice in zip(voters, dms, ("1", "1", "2"), strict=True):
        assert "was recorded" in (await voter.ask(dm, f"!vote strike {choice}")).body
    assert "was changed" in (await voters[2].ask(dms[2], "!vote strike 1")).body  # dave changes his mind
    shown = await voters[0].ask(dms[0], "!poll strike")
    assert "result is shown when it closes" in shown.body and "Voters" not in shown.body

    closed = await alice.ask(room, "!poll close strike")
    assert "I announce the result" in closed.body
    news = await alice.wait_for(lambda: [r for r in alice.from_bot(room) if "has closed" in r.body])
    # k = 2: exact from 3 on; an option nobody chose reads like a small one, so the total is a lower bound
    assert "1. Yes: 3\n2. No: fewer than 3\n3. Later: fewer than 3\nVoters: at least 3" in news[0].body
    assert "already closed" in (await alice.ask(room, "!poll close strike")).body
    assert len([r for r in alice.from_bot(room) if "has closed" in r.body]) == 1
    assert not [r for r in voters[0].from_bot(dms[0]) if "has closed" in r.body]  # the poll's rooms only

    bot.stop()
    needles = [v.user_id for v in voters] + ["Strike on Friday", "Later"]
    files = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    assert scan_for_secrets(files + [bot.directory / "bot-1.log"], needles) == []
