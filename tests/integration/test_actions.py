"""Actions, reminders and broadcasts through the real homeserver."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.ops.localserver import LocalSynapse
from tests.harness import PASSWORD, BotProcess, Member, scan_for_secrets

pytestmark = pytest.mark.integration


def at(seconds: float) -> str:
    """An ISO time ``seconds`` from now, in UTC, to the second."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")


def bodies(member: Member, room: str | None, token: str) -> list[str]:
    return [r.body for r in member.from_bot(room) if token in r.body]


def reminders(member: Member, room: str | None, token: str) -> list[str]:
    return [b for b in bodies(member, room, token) if b.startswith("⏰")]


async def wait_body(member: Member, room: str | None, token: str, timeout: float = 40) -> str:
    found = await member.wait_for(lambda: bodies(member, room, token), timeout)
    return str(found[0])


def code_in(text: str) -> str:
    match = re.search(r"confirm (\d{4})", text)
    assert match, text
    return match.group(1)


async def test_actions_reminders_broadcast(bot, members):
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    room = await alice.create_room(room_version="11", invite=(bob.user_id,), power={bob.user_id: 50})
    room2 = await alice.create_room(room_version="11", invite=(bob.user_id,), name="second room")
    bob_dm = await bob.create_dm()

    # ISO in UTC with lead reminders a few seconds apart, linked to a second room
    reply = await alice.ask(room, f"!action add {at(14)} | Rally ALPHA --remind 5s")
    assert re.search(r"#\d+ scheduled for .* UTC; reminders 5 seconds before\.", reply.body), reply.body
    rally = re.search(r"#(\d+)", reply.body).group(1)
    ask = await alice.ask(room2, f"!action rooms {rally} add")
    confirmed = await alice.ask(room, f"!confirm {code_in(ask.body)}")
    assert "second room" in confirmed.body and f"#{rally}" in confirmed.body
    await wait_body(bob, room2, f"now also gets reminders for #{rally}")

    # zoned and natural times
    year = datetime.now(UTC).year + 1
    zoned = await alice.ask(room, f"!action add {year}-12-01 10:00 America/Chicago | Council BETA --remind 1d,1h")
    assert f"1 December {year} at 10:00 CST; reminders 1 day and 1 hour before." in zoned.body, zoned.body
    natural = await alice.ask(room, "!action add tomorrow 9am | Natural GAMMA --every weekday")
    assert "scheduled for" in natural.body and "Repeats every weekday" in natural.body, natural.body
    gamma = re.search(r"#(\d+)", natural.body).group(1)
    bad = await alice.ask(room, "!action add yesterday 9am | Never")
    assert "not in the future" in bad.body
    refused = await bob.ask(room2, "!action add tomorrow 9am | Not a coordinator here")
    assert "Only a coordinator" in refused.body

    listing = await bob.ask(room, "!actions")
    assert "Council BETA" in listing.body and "Natural GAMMA" in listing.body and "every weekday" in listing.body
    cancelled = await alice.ask(room, f"!action cancel {gamma}")
    assert f"Cancelled #{gamma}" in cancelled.body
    assert "Natural GAMMA" not in (await bob.ask(room, "!actions")).body

    # personal reminder, asked in the room, delivered in the DM
    personal = await bob.ask(room, f"!remind me {at(6)} | Personal DELTA")
    assert "in our direct chat" in personal.body and not personal.relates_to
    delta = await wait_body(bob, bob_dm, "Personal DELTA")
    assert [r.content["msgtype"] for r in bob.from_bot(bob_dm) if "DELTA" in r.body] == ["m.text"]
    assert "Late" not in delta

    # the rally: lead reminder and the time itself, in both rooms, as m.text
    lead = await wait_body(bob, room, "Reminder: Rally ALPHA")
    assert "starts in" in lead
    await wait_body(bob, room, "Starting now: Rally ALPHA")
    await wait_body(bob, room2, "Starting now: Rally ALPHA")
    assert len(reminders(bob, room, "Rally ALPHA")) == 2 and len(reminders(bob, room2, "Rally ALPHA")) == 2
    assert {r.content["msgtype"] for r in bob.from_bot(room) if r.body.startswith("⏰")} == {"m.text"}

    # broadcast: counts rooms (not the DM), wrong code, another coordinator's confirm, then send
    preview = await alice.ask(room, "!broadcast Strike EPSILON at noon")
    assert "It goes to 3 rooms and" in preview.body  # the campaign's home room is a campaign room too
    the_code = code_in(preview.body)
    wrong = await alice.ask(room, f"!confirm {'1000' if the_code != '1000' else '1001'}")
    assert "Nothing is waiting" in wrong.body
    assert alice.campaign is not None
    await alice.campaign.set_power(bob.user_id, 50)  # bob coordinates the campaign too (home-room power)
    await asyncio.sleep(1)
    other = await bob.ask(room, f"!confirm {the_code}")
    assert "Only the coordinator who asked" in other.body
    assert not bodies(bob, None, "EPSILON")
    await alice.send(room, f"!confirm {the_code}")
    report = await wait_body(alice, room, "Broadcast delivered")
    assert "3 of 3 rooms" in report
    await wait_body(bob, room2, "Strike EPSILON")
    assert len(bodies(bob, room, "Strike EPSILON")) == 1 and not bodies(bob, bob_dm, "EPSILON")

    # privacy: no member IDs or texts in the data directory or the log
    paths = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    needles = [alice.user_id, bob.user_id, alice.user_id[1:].split(":")[0], bob.user_id[1:].split(":")[0],
               "Rally ALPHA", "Council BETA", "Personal DELTA", "Strike EPSILON", room, room2, bob_dm]
    assert scan_for_secrets(paths, needles) == []
    assert [n for n in needles if n.lower() in bot.log().lower()] == []


async def test_reminders_survive_kill_and_restart(make_bot, members):
    bot = make_bot(BOT_REMINDER_GRACE="20").start()
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    room = await alice.create_room(room_version="11", invite=(bob.user_id,))

    # several reminders a second and a half apart; SIGKILL the bot right after some arrive
    tokens = [f"KILL{i}" for i in range(6)]
    for i, token in enumerate(tokens):
        await alice.ask(room, f"!action add {at(6 + 1.5 * i)} | Drill {token}")
    for index in (0, 3):
        await wait_body(bob, room, f"Drill {tokens[index]}")
        bot.kill()
        bot.start()
    for token in tokens:
        await wait_body(bob, room, f"Drill {token}")
    await alice.ask(room, "!actions")  # the outbox is sent in order: anything queued is out by now
    assert {t: len(reminders(bob, room, f"Drill {t}")) for t in tokens} == dict.fromkeys(tokens, 1)

    # due while stopped: posted once, marked late; overdue beyond the grace: skipped
    await alice.ask(room, f"!action add {at(5)} | Overdue ZETA")
    await alice.ask(room, f"!action add {at(20)} | Late ETA")
    bot.stop()
    await asyncio.sleep(28)  # wall-clock downtime: ZETA becomes >20 s overdue, ETA a little late
    bot.start()
    late = await wait_body(bob, room, "Late ETA")
    assert "Late: I was offline" in late
    await alice.ask(room, "!actions")
    assert not reminders(bob, room, "ZETA")
    assert len(reminders(bob, room, "Late ETA")) == 1
    assert "skipped 1 reminders that were more than 20 seconds overdue" in bot.log()
    assert "ZETA" not in bot.log() and "Late ETA" not in bot.log()


async def test_broadcast_to_20_rooms_under_rate_limit(tmp_path):
    hs = LocalSynapse(tmp_path / "hs", rc_message={"per_second": 1, "burst_count": 3}).start()
    made: list[Member] = []
    bot = None
    try:
        bot_id = hs.register(f"rbot{os.getpid()}", PASSWORD)
        # alice is an admin: her first room becomes the campaign's home room, the others campaign rooms
        bot = BotProcess(hs, tmp_path / "bot", bot_id,
                         extra_env={"BOT_ADMINS": f"@ralice{os.getpid()}:{hs.server_name}"}).start()
        alice = await Member.create(hs, f"ralice{os.getpid()}", tmp_path, bot_id)
        bob = await Member.create(hs, f"rbob{os.getpid()}", tmp_path, bot_id)
        made += [alice, bob]
        rooms = [await alice.create_room(room_version="11", invite=(bob.user_id,), name=f"room {i}") for i in range(20)]
        await alice.ask(rooms[-1], "!privacy", timeout=60)  # the bot has synced its last join
        preview = await alice.ask(rooms[0], "!broadcast Everyone out THETA", timeout=60)
        assert "It goes to 20 rooms and" in preview.body
        await alice.send(rooms[0], f"!confirm {code_in(preview.body)}")
        report = await wait_body(alice, rooms[0], "Broadcast delivered", timeout=120)
        assert "20 of 20 rooms" in report
        await bob.wait_for(lambda: all(bodies(bob, r, "Everyone out THETA") for r in rooms), 30)
        assert all(len(bodies(bob, r, "THETA")) == 1 for r in rooms)
        assert "rate limited by the homeserver" in bot.log()  # the limit was really hit, and waited out
    finally:
        for member in made:
            await member.close()
        if bot is not None:
            bot.stop()
        hs.stop()


async def test_resend_with_same_transaction_id_is_deduplicated(bot, members):
    """What exactly-once rests on when the bot dies between sending and recording: the outbox
    resends with the same transaction ID, re-encrypting the content, and the homeserver answers
    with the first event instead of posting a second one."""
    from nio import RoomSendResponse

    alice = await members("alice", bot)
    bob = await members("bob", bot)
    room = await alice.create_room(room_version="11", invite=(bob.user_id,))
    content = {"msgtype": "m.text", "body": "Once IOTA"}
    first = await alice.client.room_send(room, "m.room.message", content, tx_id="outbox-iota.0",
                                         ignore_unverified_devices=True)
    again = await alice.client.room_send(room, "m.room.message", content, tx_id="outbox-iota.0",
                                         ignore_unverified_devices=True)
    assert isinstance(first, RoomSendResponse) and isinstance(again, RoomSendResponse)
    assert first.event_id == again.event_id
    await bob.wait_for(lambda: [r for r in bob.received if r.body == "Once IOTA"])
    await alice.send(room, "after IOTA")
    await bob.wait_for(lambda: [r for r in bob.received if r.body == "after IOTA"])
    assert len([r for r in bob.received if r.body == "Once IOTA"]) == 1
