"""The foundation through the real homeserver: a member in an encrypted room talks to the bot."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


async def test_help_in_encrypted_room(bot, members):
    alice = await members("alice", bot)
    room = await alice.create_room()
    reply = await alice.ask(room, "!help")
    assert reply.content["msgtype"] == "m.notice"
    assert "!privacy" in reply.body and "<code>!privacy</code>" in reply.html
    assert reply.relates_to["m.in_reply_to"]["event_id"]
