"""Pledges: a coordinator starts one, members sign it (best in a DM), thresholds and deadlines
are announced exactly once, and nothing links a member to their pledges without the key."""

from __future__ import annotations

import dataclasses
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from commands import base
from commands.base import (
    EXPORT_HOOKS,
    MEMBER_DATA,
    RETENTION_HOOKS,
    Announce,
    CommandError,
    DirectMessage,
    RedactCommand,
    Reply,
    Role,
    UsageError,
)
from commands.pledges import PledgeDeadlines
from commands.pledges.figures import bar
from commands.pledges.parsing import parse_create
from storage import pledges as store
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
OTHER_ROOM = base.RoomView("!other:example.org", "Other room", is_dm=False, encrypted=True)


def user(i: int) -> str:
    return f"@member{i}:example.org"


async def create(world: World, text: str, room: base.RoomView = ROOM) -> str:
    out = await world.run(text, user="@coord:example.org", role=C, room=room)
    return texts(out)


async def sign_many(world: World, slug: str, n: int, start: int = 0, company: str = "",
                    room: base.RoomView = DM) -> list[base.Output]:
    outputs: list[base.Output] = []
    for i in range(start, start + n):
        outputs += await world.run(f"!pledge {slug} {company}".strip(), user=user(i), room=room)
    return outputs


def announcements(outputs: list[base.Output], lang: str = "en") -> list[Announce]:
    """The announcements, their text as a reader of ``lang`` gets it."""
    return [dataclasses.replace(o, text=o.text if isinstance(o.text, str) else o.text(lang))
            for o in outputs if isinstance(o, Announce)]


# ---------------------------------------------------------------- parsing


def typed(tokens: list[str]):
    """``pledge create`` typed as these words (a word with a space in quotes)."""
    return parse_create(shlex.join(tokens), "!", lambda text: text)


def test_parse_create_all_options_and_multiword_deadline():
    req = typed(["walkout-dec1", "I", "will", "walk", "out", "--goal", "500", "--threshold=100",
                 "--per-company", "--deadline", "in", "2", "weeks"])
    assert (req.slug, req.title, req.goal, req.threshold, req.per_company, req.deadline) == (
        "walkout-dec1", "I will walk out", 500, 100, True, "in 2 weeks")
    # the deadline stops at the next option; a quoted deadline is one word
    req = typed(["letter", "Sign", "--deadline", "Dec 31", "--goal", "5"])
    assert req.deadline == "Dec 31" and req.goal == 5
    req = typed(["letter", "Sign", "--deadline", "Dec", "31", "America/New_York", "--goal", "5"])
    assert req.deadline == "Dec 31 America/New_York"
    assert typed(["Letter", "x"]).slug == "letter"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([], "short name"),
        (["letter"], "title"),
        (["Bad_Slug!", "x"], "not a usable pledge name"),
        (["-dash", "x"], "not a usable pledge name"),
        (["a" * 33, "x"], "not a usable pledge name"),
        (["create", "x"], "is a command"),
        (["info", "x"], "is a command"),
        (["close", "x"], "is a command"),
        (["rooms", "x"], "is a command"),
        (["letter", "x", "--goal", "0"], "above 0"),
        (["letter", "x", "--goal", "-5"], "above 0"),
        (["letter", "x", "--threshold", "many"], "whole number"),
        (["letter", "x", "--goal"], "needs a number"),
        (["letter", "x", "--goal", "--per-company"], "needs a number"),
        (["letter", "x", "--goal", "5", "--threshold", "6"], "can't be above the goal"),
        (["letter", "x", "--deadline"], "needs a time"),
        (["letter", "x", "--deadline", "--goal", "4"], "needs a time"),
        (["letter", "x", "--colour", "red"], "Unknown option"),
        (["letter", "x", "--goal", "5", "--goal", "6"], "twice"),
        (["letter", "x", "--per-company=yes"], "no value"),
        (["letter", "x" * 201], "too long"),
    ],
)
def test_parse_create_refuses_bad_input(tokens, message):
    with pytest.raises(CommandError, match=message):
        typed(tokens)


def test_bar():
    assert bar(212, 500) == "▓▓▓▓░░░░░░ 212/500"
    assert bar(0, 10) == "░" * 10 + " 0/10"
    assert bar(900, 500) == "▓" * 10 + " 900/500"
    assert bar(0, 10, "fewer than 5") == "░" * 10 + " fewer than 5 of 10"  # a small total moves no cell


# ---------------------------------------------------------------- create


async def test_create_with_every_option_shows_deadline_in_zone_and_utc(world):
    text = await create(world, "!pledge create walkout Walk out with us --goal 500 --threshold 100 "
                               "--per-company --deadline 2026-12-01 17:00 America/New_York")
    assert "Created pledge `walkout`: “Walk out with us”" in text
    assert "goal 500" in text and "threshold 100 per company" in text
    assert "Tuesday 1 December at 17:00 EST" in text
    assert "!pledge walkout <company>" in text
    pledge = await store.by_slug(world.db, world.keyring, "walkout")
    assert pledge and pledge.deadline == datetime(2026, 12, 1, 22, 0, tzinfo=UTC) and pledge.zone == "America/New_York"


async def test_create_natural_deadline_wakes_scheduler(world):
    out = await world.run("!pledge create letter Sign the letter --deadline in 2 weeks", user="@c:x", role=C)
    assert world.woken == {"scheduler"}
    assert all(isinstance(o, Reply) for o in out)  # a wake is not a message
    pledge = await store.by_slug(world.db, world.keyring, "letter")
    assert pledge and pledge.deadline == world.now + timedelta(weeks=2)


async def test_create_refusals(world):
    assert "not in the future" in await create(world, "!pledge create old x --deadline 2020-01-01")
    assert "couldn't read" in await create(world, "!pledge create old x --deadline whenever-ish")
    assert "at least 5" in await create(world, "!pledge create pc x --per-company --threshold 3")
    assert "A threshold must be at least 5" in await create(world, "!pledge create few x --threshold 4")
    for slug in ("old", "pc", "few"):
        assert await store.by_slug(world.db, world.keyring, slug) is None
    assert "threshold 5" in await create(world, "!pledge create five x --threshold 5")
    await create(world, "!pledge create letter Sign")
    assert "already a pledge `letter`" in await create(world, "!pledge create letter Again")
    # members may not create
    out = await world.run("!pledge create other x", role=Role.MEMBER)
    assert "Only a coordinator" in texts(out)


# ---------------------------------------------------------------- signing


async def test_sign_in_room_is_private_counts_and_redacts(world):
    await create(world, "!pledge create letter Sign the open letter --goal 500")
    out = await world.run("!pledge letter", user=user(1), room=ROOM)
    assert out == [Reply("A pledge to `letter` was recorded. Fewer than 5 have signed.", private=True),
                   RedactCommand()]
    await sign_many(world, "letter", 3, start=2)
    out = await world.run("!pledge LETTER", user=user(5), room=ROOM)
    assert out[0] == Reply("A pledge to `letter` was recorded. 5 have signed.", private=True)


async def test_sign_in_dm_does_not_redact(world):
    await create(world, "!pledge create letter Sign")
    out = await world.run("!pledge letter", user=user(1), room=DM)
    assert not any(isinstance(o, RedactCommand) for o in out)
    assert "recorded. Fewer than 5 have signed" in texts(out)


async def test_no_redaction_when_disabled(make_world_with):
    world = await make_world_with(BOT_REDACT_SENSITIVE=False)
    await create(world, "!pledge create letter Sign")
    out = await world.run("!pledge letter", user=user(1), room=ROOM)
    assert not any(isinstance(o, RedactCommand) for o in out) and out[0].private


async def test_double_sign_changes_nothing(world):
    await create(world, "!pledge create letter Sign")
    await world.run("!pledge letter", user=user(1), room=DM)
    out = await world.run("!pledge letter", user=user(1), room=ROOM)
    assert out == [Reply("You already signed `letter`. Nothing was changed.", private=True), RedactCommand()]
    assert await store.count(world.db, (await store.by_slug(world.db, world.keyring, "letter")).id) == 1


async def test_unpledge(world):
    await create(world, "!pledge create letter Sign")
    await sign_many(world, "letter", 6)
    out = await world.run("!unpledge letter", user=user(1), room=ROOM)
    assert out == [Reply("Your pledge to `letter` was withdrawn. 5 have signed.", private=True), RedactCommand()]
    out = await world.run("!unpledge letter", user=user(2), room=DM)  # 4 left: no longer counted exactly
    assert texts(out) == "Your pledge to `letter` was withdrawn. Fewer than 5 have signed."
    out = await world.run("!unpledge letter", user=user(1), room=DM)
    assert texts(out) == "You had not signed `letter`. Nothing was changed."
    assert "Usage" in texts(await world.run("!unpledge", room=DM))


async def test_unknown_slug_suggests_and_lists_open(world):
    await create(world, "!pledge create letter Sign")
    await create(world, "!pledge create walkout Walk")
    out = await world.run("!pledge lettr", room=DM)
    assert texts(out) == "No pledge `lettr`. Did you mean `letter`?\nOpen pledges: `letter`, `walkout`."
    out = await world.run("!pledge info lettr", room=DM)
    assert "Did you mean `letter`?" in texts(out)
    # in a room the error is private and the command is still removed
    out = await world.run("!pledge lettr", room=ROOM)
    assert out[0].private and "Did you mean" in out[0].text and out[-1] == RedactCommand()
    out = await world.run("!pledge", room=DM)
    assert "Name the pledge" in texts(out) and "Open pledges" in texts(out)


async def test_company_rules(world):
    await create(world, "!pledge create letter Sign")
    await create(world, "!pledge create walkout Walk --per-company --threshold 5")
    assert "doesn't ask for a company" in texts(await world.run("!pledge letter Amazon", room=DM))
    assert "add your employer" in texts(await world.run("!pledge walkout", room=DM))
    out = await world.run("!pledge walkout Amazn", room=DM)
    assert "Did you mean **Amazon**?" in texts(out)
    # in a room, employer problems go to the member's DM, not into the room
    out = await world.run("!pledge walkout Amazn", room=ROOM)
    assert isinstance(out[1], DirectMessage) and "Amazon" in out[1].text
    assert "Amazn" not in out[0].text and "Amazon" not in out[0].text and out[0].private
    # aliases and spacing normalise to one company
    out = await world.run("!pledge walkout  aws ", user=user(1), room=DM)
    assert "recorded" in texts(out) and "Counted for Amazon" in texts(out)
    await world.run("!pledge walkout Amazon.com, Inc.", user=user(2), room=DM)
    pledge = await store.by_slug(world.db, world.keyring, "walkout")
    assert await store.company_counts(world.db, pledge.id) == {"amazon": 2}
    # the room ack never names the employer
    out = await world.run("!pledge walkout AWS", user=user(3), room=ROOM)
    assert "Amazon" not in out[0].text
    # an unknown company far from any known one is accepted and kept only as a keyed reference
    # (issue #23): neither the member's wording nor its normalized key is stored or shown
    out = await world.run("!pledge walkout Zyxwv Quorble LLC (Austin QA team)", user=user(4), room=DM)
    assert "Counted for a company I don't know yet" in texts(out) and "zyxwv" not in texts(out).lower()
    keys = [key for key in await store.company_counts(world.db, pledge.id) if key != "amazon"]
    assert len(keys) == 1 and keys[0].startswith("~") and "zyxwv" not in keys[0]
    assert keys[0] not in await store.company_displays(world.db, pledge.id)
    dump = [tuple(r) for r in await world.db.fetchall("SELECT * FROM pledge_companies")]
    dump += [tuple(r) for r in await world.db.fetchall("SELECT * FROM pledge_signers")]
    assert "Austin" not in str(dump) and "Quorble" not in str(dump) and "zyxwv" not in str(dump)
    await world.run("!unpledge walkout", user=user(4), room=DM)
    assert "amazon" in await store.company_displays(world.db, pledge.id)


async def test_closed_pledge_refuses_sign_and_unsign(world):
    await create(world, "!pledge create letter Sign")
    await world.run("!pledge letter", user=user(1), room=DM)
    await create(world, "!pledge close letter")
    assert "is closed" in texts(await world.run("!pledge letter", user=user(2), room=DM))
    assert "is closed" in texts(await world.run("!unpledge letter", user=user(1), room=DM))
    assert "already closed" in await create(world, "!pledge close letter")


# ---------------------------------------------------------------- listing and info


async def test_pledges_list_shows_bar_deadline_and_threshold_state(world):
    await create(world, "!pledge create letter Sign the open letter --goal 10 --threshold 5 --deadline Dec 31")
    await sign_many(world, "letter", 6)
    text = texts(await world.run("!pledges", room=DM))
    assert "`letter` — Sign the open letter" in text
    assert "▓▓▓▓▓▓░░░░ 6/10" in text and "deadline Thursday 31 December 2026 at 09:00 UTC" in text
    assert "threshold 5: met" in text
    await create(world, "!pledge create walkout Walk --threshold 50")
    assert "threshold 50: waiting" in texts(await world.run("!pledges", room=DM))
    await create(world, "!pledge close letter")
    assert "letter" not in texts(await world.run("!pledges", room=DM))


async def test_info_per_company_is_suppressed_including_the_total(world):
    await create(world, "!pledge create walkout Walk --per-company --goal 100")
    await sign_many(world, "walkout", 6, company="Google")
    await sign_many(world, "walkout", 2, start=10, company="Amazon")
    await sign_many(world, "walkout", 1, start=20, company="Microsoft")
    text = texts(await world.run("!pledge info walkout", room=DM))
    assert "Google: 6" in text and "Other companies: fewer than 5" in text
    assert "Amazon" not in text and "Microsoft" not in text
    assert "All companies: at least 6" in text and "9" not in text and " 3" not in text
    # the list and the acknowledgement use the same suppressed total
    assert "at least 6 of 100" in texts(await world.run("!pledges", room=DM))
    out = await world.run("!pledge walkout Google", user=user(99), room=DM)
    assert "At least 7 have signed" in texts(out)
    out = await world.run("!unpledge walkout", user=user(99), room=DM)
    assert "At least 6 have signed" in texts(out)


async def test_info_of_ordinary_pledge(world):
    await create(world, "!pledge create letter Sign it --goal 500")
    await sign_many(world, "letter", 2)
    text = texts(await world.run("!pledge info letter", room=DM))
    assert "**Pledge `letter`** (open): “Sign it”" in text and "░░░░░░░░░░ fewer than 5 of 500" in text
    assert "2" not in text.replace("500", "") and "!pledge letter" in text
    await sign_many(world, "letter", 3, start=2)
    assert "░ 5/500" in texts(await world.run("!pledge info letter", room=DM))
    assert "Usage" in texts(await world.run("!pledge info", room=DM))


# ---------------------------------------------------------------- thresholds


async def test_threshold_announced_exactly_once(world):
    await create(world, "!pledge create walkout Walk out --threshold 5")
    out = await sign_many(world, "walkout", 4)
    assert not announcements(out)
    out = await sign_many(world, "walkout", 1, start=4)
    [notice] = announcements(out)
    assert notice.room_ids == (ROOM.room_id,) and notice.all_dms
    assert "threshold of 5 was met" in notice.text and "member" not in notice.text
    # dropping below and reaching it again does not announce twice
    await world.run("!unpledge walkout", user=user(0), room=DM)
    out = await sign_many(world, "walkout", 2, start=5)
    assert not announcements(out)
    assert (await store.by_slug(world.db, world.keyring, "walkout")).announced


async def test_threshold_announced_in_added_rooms(world):
    world.shell.views.append(OTHER_ROOM)
    await create(world, "!pledge create walkout Walk out --threshold 5")
    out = await world.run("!pledge rooms walkout add", user="@c:x", role=C, room=OTHER_ROOM)
    assert "Walk out" in texts(out) and "announced here" in texts(out)
    assert "already gets" in texts(await world.run("!pledge rooms walkout add", user="@c:x", role=C, room=OTHER_ROOM))
    listing = texts(await world.run("!pledge rooms walkout", user="@c:x", role=C, room=OTHER_ROOM))
    assert "`Test room`" in listing and "`Other room`" in listing
    [notice] = announcements(await sign_many(world, "walkout", 5))
    assert set(notice.room_ids) == {ROOM.room_id, OTHER_ROOM.room_id}
    out = await world.run("!pledge rooms walkout remove", user="@c:x", role=C, room=OTHER_ROOM)
    assert "no longer" in texts(out)
    assert "Only a coordinator" in texts(await world.run("!pledge rooms walkout add", room=OTHER_ROOM))


async def test_a_threshold_below_k_from_an_older_release_is_met_at_k(world):
    """Pledges created before thresholds had to be at least k: "met" at 2 would tell that a
    group of 2 signed, so the announcement waits for k signers."""
    await create(world, "!pledge create walkout Walk out")
    await world.db.execute("UPDATE pledges SET threshold=2 WHERE slug='walkout'")
    assert not announcements(await sign_many(world, "walkout", 4))
    [notice] = announcements(await sign_many(world, "walkout", 1, start=4))
    assert "threshold of 2 was met" in notice.text


async def test_goal_below_k_is_refused(world):
    assert "A goal must be at least 5" in await create(world, "!pledge create small x --goal 4")
    assert await store.by_slug(world.db, world.keyring, "small") is None


async def test_per_company_threshold(world):
    await create(world, "!pledge create walkout Walk --per-company --threshold 5")
    out = await sign_many(world, "walkout", 4, company="AWS")
    out += await sign_many(world, "walkout", 4, start=10, company="Google")
    assert not announcements(out)
    [notice] = announcements(await sign_many(world, "walkout", 1, start=20, company="Amazon"))
    assert "active at Amazon" in notice.text and "Google" not in notice.text
    assert not announcements(await sign_many(world, "walkout", 1, start=30, company="Amazon"))
    assert "met at Amazon" in texts(await world.run("!pledges", room=DM))


# ---------------------------------------------------------------- deadlines


async def test_deadline_closes_once_with_result(world):
    await create(world, "!pledge create letter Sign --goal 6 --threshold 5 --deadline in 2 hours")
    await create(world, "!pledge create later Later --deadline in 3 days")
    await sign_many(world, "letter", 5)
    assert await PledgeDeadlines.next_due(world.db) == world.now + timedelta(hours=2)
    assert await PledgeDeadlines.fire(world.env()) == []  # not due yet
    world.now += timedelta(hours=2, seconds=1)
    assert "is closed" in texts(await world.run("!pledge letter", user=user(9), room=DM))  # before fire
    [result] = announcements(await PledgeDeadlines.fire(world.env()))
    assert result.room_ids == (ROOM.room_id,)
    assert "has closed** (deadline reached)" in result.text and "5 have signed" in result.text
    assert "Goal of 6: not reached" in result.text and "Threshold 5: met" in result.text
    assert await PledgeDeadlines.fire(world.env()) == []  # never twice
    assert await PledgeDeadlines.next_due(world.db) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    info = texts(await world.run("!pledge info letter", room=DM))
    assert "closed" in info and "Deadline was" in info


async def test_deadline_missed_while_down_fires_later(world):
    await create(world, "!pledge create a A --deadline in 1 hour --threshold 5")
    await create(world, "!pledge create b B --deadline in 2 hours")
    world.now += timedelta(days=1)
    out = announcements(await PledgeDeadlines.fire(world.env()))
    assert len(out) == 2 and "Threshold 5: not met" in out[0].text
    assert await PledgeDeadlines.next_due(world.db) is None


async def test_manual_close_posts_result(world):
    await create(world, "!pledge create letter Sign --goal 5")
    await sign_many(world, "letter", 5)
    out = await world.run("!pledge close letter", user="@c:x", role=C, room=OTHER_ROOM)
    [result] = announcements(out)
    assert "Goal of 5: reached" in result.text
    [spanish] = announcements(out, "es")  # each reader gets it in their language
    assert "Meta de 5: ¡alcanzada!" in spanish.text and "se cerró" in spanish.text
    assert Reply(result.text) in out  # the asking room is not an announce room, so it gets it too
    assert "Only a coordinator" in texts(await world.run("!pledge close letter"))


# ---------------------------------------------------------------- privacy


async def test_rows_are_unlinkable_across_pledges(world):
    await create(world, "!pledge create a A")
    await create(world, "!pledge create b B")
    await world.run("!pledge a", user=user(1), room=DM)
    await world.run("!pledge b", user=user(1), room=DM)
    rows = await world.db.fetchall("SELECT member_ref FROM pledge_signers")
    assert len(rows) == 2 and rows[0][0] != rows[1][0]
    dump = b"".join(bytes(r[0]) for r in rows)
    assert b"member1" not in dump
    titles = await world.db.fetchall("SELECT title_sealed FROM pledges")
    assert all(b"A" != bytes(t[0]) for t in titles)


async def test_title_and_rooms_are_sealed_by_storage_and_read_back_plain(world):
    await create(world, "!pledge create letter Sign the letter")
    await create(world, "!pledge rooms letter add", room=OTHER_ROOM)
    stored = b"".join(bytes(r[0]) + bytes(r[1]) for r in await world.db.fetchall(
        "SELECT p.title_sealed, r.room_sealed FROM pledges p JOIN pledge_rooms r ON r.pledge_id = p.id"))
    for plain in ("Sign the letter", ROOM.room_id, OTHER_ROOM.room_id):
        assert plain.encode() not in stored
    pledge = await store.by_slug(world.db, world.keyring, "letter")
    assert pledge.title == "Sign the letter"
    assert sorted(await store.rooms(world.db, world.keyring, pledge.id)) == sorted([ROOM.room_id, OTHER_ROOM.room_id])
    async with world.db.transaction():
        assert await store.remove_room(world.db, world.keyring, pledge.id, OTHER_ROOM.room_id)
    assert await store.rooms(world.db, world.keyring, pledge.id) == [ROOM.room_id]


async def test_mydata_and_forget(world):
    await create(world, "!pledge create a First")
    await create(world, "!pledge create b Second --per-company")
    await world.run("!pledge a", user=user(1), room=DM)
    await world.run("!pledge b AWS", user=user(1), room=DM)
    await world.run("!pledge a", user=user(2), room=DM)
    source = MEMBER_DATA["pledges"]
    described = await source.describe(world.ctx(user(1), room=DM))
    assert described == ["You signed pledge `a` (“First”).", "You signed pledge `b` (“Second”) for Amazon."]
    out = await world.run("!forget confirm", user=user(1), room=DM)
    assert "deleted 2 records" in texts(out)
    assert await source.describe(world.ctx(user(1), room=DM)) == []
    assert await store.count(world.db, (await store.by_slug(world.db, world.keyring, "a")).id) == 1


async def test_retention_and_export(world):
    await create(world, "!pledge create old Old")
    await create(world, "!pledge create walkout Walk --per-company --threshold 5")
    await sign_many(world, "old", 2)
    await sign_many(world, "walkout", 5, company="Google")
    await sign_many(world, "walkout", 1, start=10, company="Amazon")
    await create(world, "!pledge close old")
    exported = await EXPORT_HOOKS["pledges"](world.env())
    [old, walkout] = exported["pledges"]
    assert old["signed"] == "fewer than 5" and old["open"] is False  # 2 signers: never exact
    assert walkout["signed"] == "at least 5" and walkout["threshold_state"].endswith("met at Google")
    assert walkout["companies"] == [{"company": "Google", "signed": "5"},
                                    {"company": "Other companies", "signed": "fewer than 5"}]
    assert "Amazon" not in str(exported)
    removed = sum([await hook(world.db, world.now - timedelta(days=1)) for hook in RETENTION_HOOKS.values()])
    assert removed == 0
    removed = sum([await hook(world.db, world.now + timedelta(seconds=1)) for hook in RETENTION_HOOKS.values()])
    assert removed == 4  # two signer rows, the room row and the pledge
    assert await store.by_slug(world.db, world.keyring, "old") is None and await store.by_slug(world.db, world.keyring, "walkout")


async def test_help_documents_pledge_in_dm(world):
    text = texts(await world.run("!help pledge", room=DM))
    assert "Best typed in an encrypted DM with me" in text and "remove your message" in text
    assert "Example: `!pledge letter`" in text
    text = texts(await world.run("!help pledge create", role=C))
    assert "up to the next `--option`" in text and "Example:" in text


def test_usage_error_is_command_error():
    assert issubclass(UsageError, CommandError)
