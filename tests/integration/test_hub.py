"""Members nobody can see (issue 26), through the real homeserver: a person in no campaign room
joins with a code in a DM, takes part there, hears the campaign there, asks the coordinators
without being named, and leaves; codes that don't work are refused and leave no row."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.harness import BotProcess, Member, Received, scan_for_secrets

pytestmark = pytest.mark.integration

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
HUB_TABLES = ("hub_members", "hub_codes", "hub_quiet", "hub_vouches", "hotline_questions", "hotline_blocked",
              "room_flags", "member_prefs")


def rows(bot: BotProcess, tables: tuple[str, ...] = HUB_TABLES) -> dict[str, int]:
    conn = bot.open_db()
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
    finally:
        conn.close()


def with_text(member: Member, room: str | None, needle: str) -> list[Received]:
    return [m for m in member.from_bot(room) if needle in m.body]


async def wait_text(member: Member, room: str, needle: str, timeout: float = 30) -> Received:
    found = await member.wait_for(lambda: with_text(member, room, needle), timeout)
    return found[0]  # type: ignore[no-any-return]


async def new_codes(organizer: Member, home: str, line: str = "!codes new") -> list[str]:
    return CODE.findall((await organizer.ask(home, line)).body)


async def broadcast(organizer: Member, home: str, text: str) -> None:
    preview = await organizer.ask(home, f"!broadcast {text}")
    found = re.search(r"confirm (\d{4})", preview.body)
    assert found is not None, preview.body
    reports = len(with_text(organizer, home, "Broadcast delivered"))
    await organizer.send(home, f"!confirm {found.group(1)}")
    await organizer.wait_for(lambda: len(with_text(organizer, home, "Broadcast delivered")) > reports)


async def test_a_member_by_code_takes_part_hears_the_campaign_asks_and_leaves(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2", BOT_ANNOUNCE_DELAY_MIN="0", BOT_ANNOUNCE_DELAY_MAX="1").start()
    alice = await members("alice", bot)  # a member in the home room
    dora = await members("dora", bot, enroll=False)  # in no campaign room
    campaign = alice.campaign
    assert campaign is not None
    organizer, home = campaign.organizer, campaign.home
    await campaign.ready()
    dm = await dora.create_dm()

    # outside: one line that says how to join; a guessed code is refused and stores nothing
    assert "`!join <code>`" in (await dora.ask(dm, "!pledges")).body
    before = rows(bot)
    assert "doesn't work" in (await dora.ask(dm, "!join ABCD-EFGH-JKMN-PQRS")).body
    assert rows(bot) == before, "a wrong code left a row"

    # the coordinator makes a code; dora joins with it in her DM
    [code] = await new_codes(organizer, home)
    assert "Welcome" in (await dora.ask(dm, f"!join {code}")).body

    # she takes part in her DM
    # with k = 2 a threshold is at least 2k - 1 = 3: dora, alice and the organizer meet it
    assert "Created pledge" in (await organizer.ask(home, "!pledge create walk Walk out --threshold 3")).body
    assert "was recorded" in (await dora.ask(dm, "!pledge walk")).body
    assert "`!here <company>`" in (await organizer.ask(home, "!rollcall start meet Who comes?")).body
    assert "Recorded" in (await dora.ask(dm, "!here Amazon")).body

    # the threshold news and a broadcast reach her DM
    alice_dm = await alice.create_dm()
    await alice.ask(alice_dm, "!pledge walk")
    await organizer.ask(await organizer.create_dm(), "!pledge walk")
    await wait_text(dora, dm, "Pledge `walk` is active")
    await broadcast(organizer, home, "Walkout ALPHA at noon")
    await wait_text(dora, dm, "Walkout ALPHA at noon")
    assert {m.room_id for m in dora.from_bot()} == {dm}, "she heard the campaign somewhere else"

    # a question reaches the home room naming nobody; the answer comes back to her DM
    said = await dora.ask(dm, "!ask Is **night shift** welcome? @room `x`")
    assert "Q1" in said.body
    question = await wait_text(organizer, home, "Question Q1")
    assert dora.user_id not in question.body and "dora" not in question.body.lower()
    assert "<strong>" not in question.html and "<code>x" not in question.html
    assert "@room" not in question.body and not question.relates_to
    await organizer.ask(home, "!answer Q1 Yes, everyone is welcome.")
    await wait_text(dora, dm, "answered your question Q1: “Yes, everyone is welcome.”")

    # quiet stops broadcasts; off brings them back
    await dora.ask(dm, "!quiet on")
    for word in ("BETA", "GAMMA"):
        if word == "GAMMA":
            await dora.ask(dm, "!quiet off")
        await broadcast(organizer, home, f"Rally {word}")
    await wait_text(dora, dm, "Rally GAMMA")
    assert not with_text(dora, dm, "Rally BETA"), "a quiet member got a broadcast"

    # a blocked asker is told so, and nobody is named
    blocked = await organizer.ask(home, "!block Q1")
    assert "nobody learned who" in blocked.body and dora.user_id not in blocked.body
    await wait_text(dora, dm, "stopped your questions")
    assert "stopped your questions" in (await dora.ask(dm, "!ask One more?")).body

    # she leaves: everything of hers is gone, and she is an outsider again
    assert "left the campaign" in (await dora.ask(dm, "!leave confirm")).body
    assert "`!join <code>`" in (await dora.ask(dm, "!pledges")).body
    left = rows(bot, ("hub_members", "hotline_questions", "hotline_blocked", "pledge_signers"))
    assert left["hub_members"] == 0 and left["hotline_questions"] == 0 and left["hotline_blocked"] == 0
    assert left["pledge_signers"] == 2  # alice's and the organizer's
    # no file under the data directory (bot.db, WAL, E2EE store) and no log line holds the code, the texts or her
    secrets = [code, code.replace("-", ""), "night shift", "everyone is welcome", dora.user_id]
    assert scan_for_secrets([bot.data_dir], secrets) == []
    assert not [s for s in secrets if s.lower() in bot.log().lower()]


async def test_used_revoked_and_guessed_codes_are_refused_without_a_row(make_bot, members):
    bot = make_bot().start()
    alice = await members("alice", bot)
    campaign = alice.campaign
    assert campaign is not None
    organizer, home = campaign.organizer, campaign.home
    await campaign.ready()
    used, revoked = await new_codes(organizer, home, "!codes new 2")
    listing = (await organizer.ask(home, "!codes")).body
    assert "1 use left" in listing and used not in listing and revoked not in listing
    assert "Revoked 1 code" in (await organizer.ask(home, f"!codes revoke {revoked}")).body
    erin, fay = await members("erin", bot, enroll=False), await members("fay", bot, enroll=False)
    erin_dm, fay_dm = await erin.create_dm(), await fay.create_dm()
    assert "Welcome" in (await erin.ask(erin_dm, f"!join {used.lower()}")).body
    before = rows(bot)
    for line in (f"!join {used}", f"!join {revoked}", "!join 0000-0000-0000-0000", "!join 1234"):
        assert "doesn't work" in (await fay.ask(fay_dm, line)).body, line
    for _ in range(2):
        await fay.ask(fay_dm, "!join ZZZZ-ZZZZ-ZZZZ-ZZZZ")
    assert "Too many" in (await fay.ask(fay_dm, "!join ZZZZ-ZZZZ-ZZZZ-ZZZZ")).body  # guessing is rate-limited
    assert rows(bot) == before, "a refused code left a row"
    assert "`!join <code>`" in (await fay.ask(fay_dm, "!pledges")).body
    await asyncio.sleep(0)
