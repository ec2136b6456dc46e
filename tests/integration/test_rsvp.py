"""RSVPs over the real homeserver (issue #19): members answer in their DMs; only those who said
yes or maybe get the private reminders (the day-before confirmation, the lead-time reminder, the
start), a `no` stops them, and turnout shows in `!actions` only through the small-cell rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import Member, scan_for_secrets

pytestmark = pytest.mark.integration


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")


def got(member: Member, dm: str, needle: str) -> list[str]:
    return [r.body for r in member.from_bot(dm) if needle in r.body]


async def test_private_reminders_only_for_those_who_said_yes_or_maybe(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2")
    alice = await members("alice", bot)
    bot.extra_env["BOT_ADMINS"] = alice.user_id
    bot.start()
    bob, carol, dave = await members("bob", bot), await members("carol", bot), await members("dave", bot)
    room = await alice.create_room(invite=(bob.user_id, carol.user_id, dave.user_id))
    bob_dm, carol_dm, dave_dm = await bob.create_dm(), await carol.create_dm(), await dave.create_dm()

    # #1 is a day and 25 s away: its day-before confirmation falls due in 25 s
    first = await alice.ask(room, f"!action add {at(24 * 3600 + 25)} | Town hall")
    assert "#1 scheduled" in first.body, first.body
    # #2 is 40 s away with a reminder 30 s before it
    second = await alice.ask(room, f"!action add {at(40)} | Picket --remind 30s")
    assert "#2 scheduled" in second.body, second.body

    assert "I'll remind you in our DM" in (await bob.ask(bob_dm, "!rsvp 1 yes")).body
    assert "Your answer for #1: no." == (await carol.ask(carol_dm, "!rsvp 1 no")).body
    assert "Your answer for #2: maybe." in (await bob.ask(bob_dm, "!rsvp 2 maybe")).body
    await carol.ask(carol_dm, "!rsvp 2 yes")
    assert "Changed your answer for #2 to no." in (await carol.ask(carol_dm, "!rsvp 2 no")).body  # stops them
    listing = await dave.ask(room, "!actions")
    # k = 2: below 2k-1 = 3, 0 included, every figure reads the same
    assert listing.body.count("(RSVPs: yes fewer than 3, maybe fewer than 3)") == 2, listing.body

    await bob.wait_for(lambda: got(bob, bob_dm, "⏰ Reminder: #2 Picket starts"), timeout=40)
    await bob.wait_for(lambda: got(bob, bob_dm, "📅 Tomorrow: #1 Town hall"), timeout=40)
    await bob.wait_for(lambda: got(bob, bob_dm, "⏰ Starting now: #2 Picket"), timeout=40)
    await asyncio.sleep(2)
    for member, dm in ((carol, carol_dm), (dave, dave_dm)):
        assert not got(member, dm, "#1 Town hall") and not got(member, dm, "#2 Picket"), member.user_id
    assert len(got(bob, bob_dm, "📅 Tomorrow: #1")) == 1 and len(got(bob, bob_dm, "⏰ Reminder: #2")) == 1

    bot.stop()
    needles = [m.user_id for m in (bob, carol, dave)] + ["Town hall", "Picket"]
    files = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    assert scan_for_secrets(files + [bot.directory / "bot-1.log"], needles) == []
