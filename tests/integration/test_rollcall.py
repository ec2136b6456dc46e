"""Roll-calls through the real homeserver: members answer in a room and in a DM, tallies are
shown only in suppressed form, and a roll-call closes by itself across a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nio import RoomGetEventResponse

from tests.harness import scan_for_secrets

pytestmark = pytest.mark.integration


async def redacted(member, room_id: str, event_id: str, timeout: float = 20) -> bool:
    """Whether the homeserver shows the event as redacted (polls: the harness keeps no redactions)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await member.client.room_get_event(room_id, event_id)
        if isinstance(response, RoomGetEventResponse) and not response.event.source.get("content"):
            return True
        await asyncio.sleep(0.3)
    return False


async def settle(people, room_id: str, reply) -> None:
    for person in people:
        if room_id in person.client.rooms:
            await person.wait_for(lambda p=person: any(r.event_id == reply.event_id for r in p.from_bot(room_id)))


def privacy_hits(bot, people, texts: list[str]) -> list[str]:
    paths = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    needles = [m.user_id for m in people] + [m.user_id.split(":")[0].lstrip("@") for m in people] + texts
    hits = scan_for_secrets(paths, needles)
    log = Path(bot.directory / "all.log")
    log.write_text(bot.log())
    return hits + scan_for_secrets([log], needles)


async def test_rollcall_answers_aliases_fuzzy_and_small_cells(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2").start()  # figures are exact from 2k-1 = 3 on
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    carol = await members("carol", bot)
    dave = await members("dave", bot)
    room = await alice.create_room(invite=(bob.user_id, carol.user_id, dave.user_id), power={bot.user_id: 50})
    for m in (bob, carol, dave):
        await m.wait_joined(room, m.user_id)
    sent: list[str] = []
    everyone = (alice, bob, carol, dave)

    async def ask(member, where, text):
        """Ask, then wait until everyone in the room has seen the answer (so the next ``ask``
        by someone else does not take this answer for its own)."""
        sent.append(text)
        reply = await member.ask(where, text)
        await settle(everyone, where, reply)
        return reply

    # permissions: a member cannot start
    reply = await ask(bob, room, "!rollcall start sneaky Members only")
    assert "Only a coordinator" in reply.body

    reply = await ask(alice, room, "!rollcall start walkout Who joins the Friday walkout?")
    assert "Roll-call `walkout`: Who joins the Friday walkout?" in reply.body
    assert "`!here <company>`" in reply.body

    # answer in the room: no name, no reply relation, the command is redacted
    seen = len(bob.from_bot(room))
    event_id = await bob.send(room, "!here AWS")
    sent.append("!here AWS")
    reply = (await bob.wait_for(lambda: bob.from_bot(room)[seen:]))[0]
    await settle(everyone, room, reply)
    assert reply.body == "Recorded your answer."
    assert not reply.relates_to
    assert await redacted(alice, room, event_id)

    # answer in an encrypted DM
    carol_dm = await carol.create_dm()
    reply = await ask(carol, carol_dm, "!here amazon.com, inc.")
    assert reply.body == "Recorded your answer. Roll-call `walkout`: Amazon."

    # just below 2k-1: nothing named, no exact figure
    shown = (await ask(alice, room, "!rollcall")).body
    assert "Amazon:" not in shown
    assert "Other companies: fewer than 3" in shown and "Total: fewer than 3" in shown

    # at 2k-1: named; the empty pool still reads "fewer than 3", so the total is a lower bound
    await ask(dave, room, "!here Amazon Web Services")
    shown = (await ask(alice, room, "!rollcall")).body
    assert "Amazon: 3" in shown and "Other companies: fewer than 3" in shown and "Total: at least 3" in shown
    at_threshold = shown

    # differencing: one more answer elsewhere must not turn the total into 4, nor change anything
    await ask(alice, room, "!here Meta")
    shown = (await ask(alice, room, "!rollcall")).body
    assert "Amazon: 3" in shown and "Meta" not in shown
    assert "Other companies: fewer than 3" in shown and "Total: at least 3" in shown
    assert shown.split("\nAs of ")[0] == at_threshold.split("\nAs of ")[0]

    # changing an answer
    reply = await ask(carol, carol_dm, "!here Google")
    assert reply.body.startswith("Updated your answer.")
    shown = (await ask(bob, room, "!rollcall")).body
    assert "Amazon:" not in shown and "Other companies: 4" in shown and "Total: 4" in shown

    # fuzzy suggestion records nothing; --as-typed records an unlisted company, never its name
    reply = await ask(carol, carol_dm, "!here Salesforse")
    assert reply.body == ("Did you mean Salesforce? Reply `!here Salesforce` to confirm, "
                          "or `!here --as-typed Salesforse`.")
    reply = await ask(carol, carol_dm, "!here --as-typed Salesforse")
    assert reply.body == ("Updated your answer. Roll-call `walkout`: a company I don't know yet (counted with "
                          "the other companies until a coordinator names it with `company alias`).")
    shown = (await ask(alice, room, "!rollcall")).body
    assert "Salesforse" not in shown and "Other companies: 4" in shown

    # a coordinator's alias
    reply = await ask(alice, room, "!company alias Acme Cloud = Amazon")
    assert "now means Amazon" in reply.body
    reply = await ask(carol, carol_dm, "!here acme cloud")
    assert reply.body == "Updated your answer. Roll-call `walkout`: Amazon."
    shown = (await ask(alice, room, "!rollcall")).body
    assert "Amazon: 3" in shown and "Total: at least 3" in shown

    # permissions: a member cannot end; the coordinator can
    reply = await ask(bob, room, "!rollcall end")
    assert "Only a coordinator" in reply.body
    reply = await ask(alice, room, "!rollcall end")
    assert "Roll-call `walkout` is closed" in reply.body and "Amazon: 3" in reply.body
    reply = await ask(carol, carol_dm, "!here Google")
    assert reply.body == "No roll-call is open right now."

    hits = privacy_hits(bot, [alice, bob, carol, dave], [t for t in sent if t.startswith("!here")] + ["Salesforse"])
    assert hits == []


async def test_tallies_refresh_by_interval_and_close_by_themselves_across_a_restart(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2", BOT_TALLY_INTERVAL="3600").start()  # exact from 2k-1 = 3 on
    alice = await members("alice", bot)
    bob = await members("bob", bot)
    carol = await members("carol", bot)
    room = await alice.create_room(invite=(bob.user_id, carol.user_id), power={bot.user_id: 50})
    for m in (bob, carol):
        await m.wait_joined(room, m.user_id)

    trio = (alice, bob, carol)

    async def ask(member, text):
        reply = await member.ask(room, text)
        await settle(trio, room, reply)
        return reply

    await ask(alice, "!rollcall start poll Are you in?")
    await ask(alice, "!here Google")
    await ask(bob, "!here Google")
    await ask(carol, "!here Google")
    first = (await ask(alice, "!rollcall")).body
    assert "Google: 3" in first and "As of " in first and " UTC." in first
    reply = await ask(bob, "!here Meta")
    assert reply.body == "Updated your answer."
    assert (await ask(alice, "!rollcall poll")).body == first  # the snapshot, not a fresh count
    final = (await ask(alice, "!rollcall end poll")).body
    assert "Final tallies" in final and "Google:" not in final and "Other companies: 3" in final

    closes = (datetime.now(UTC) + timedelta(seconds=10)).replace(microsecond=0)
    reply = await ask(alice, f"!rollcall start auto Closing soon --closes {closes:%Y-%m-%dT%H:%M:%SZ}")
    assert "Closes" in reply.body
    await ask(alice, "!here auto Google")
    await ask(bob, "!here auto Google")
    await ask(carol, "!here auto Google")
    bot.stop()

    def finals() -> list[str]:
        return [r.body for r in alice.from_bot(room) if "Roll-call `auto` is closed" in r.body]

    assert finals() == [], "closed before the restart: make --closes later"
    await asyncio.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()) + 1)
    bot.start()
    posted = await alice.wait_for(finals, timeout=30)
    # the empty pool reads "fewer than 3", so the total is a lower bound
    assert "Google: 3" in posted[0] and "Total: at least 3" in posted[0]
    listing = (await alice.ask(room, "!rollcall list")).body
    assert "`auto`: Closing soon (closed" in listing
    bot.stop()
    bot.start()
    await alice.ask(room, "!rollcall list")
    assert len(finals()) == 1

    hits = privacy_hits(bot, [alice, bob, carol], ["!here Google", "!here Meta", "!here auto Google"])
    assert hits == []
