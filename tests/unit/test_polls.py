"""Anonymous polls (issue #19): a coordinator asks, members vote (best in a DM), nobody sees a
figure while the poll is open, and the result at the close follows the small-cell rule."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from commands import base
from commands.base import (
    EXPORT_HOOKS,
    MEMBER_DATA,
    RETENTION_HOOKS,
    Announce,
    DirectMessage,
    RedactCommand,
    Reply,
    Role,
    RoomView,
)
from commands.common.smallcell import suppress_votes
from commands.polls import PollCloses
from storage import polls as store
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR


def user(i: int) -> str:
    return f"@voter{i}:example.org"


async def create(world: World, text: str) -> str:
    return texts(await world.run(text, user="@coord:example.org", role=C, room=ROOM))


async def vote_many(world: World, slug: str, choice: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assert "recorded" in texts(await world.run(f"!vote {slug} {choice}", user=user(i), room=DM))


def announced(outputs: list[base.Output], lang: str = "en") -> list[Announce]:
    return [dataclasses.replace(o, text=o.text if isinstance(o.text, str) else o.text(lang))
            for o in outputs if isinstance(o, Announce)]


async def test_create_posts_the_question_and_refuses_bad_input(world: World):
    text = await create(world, "!poll create strike Should we strike Friday? | Yes | No | Not yet")
    assert "**Poll `strike`**: Should we strike Friday?" in text and "1. Yes\n2. No\n3. Not yet" in text
    assert "`!vote strike <n>`" in text and "Nobody sees any figure" in text
    assert "at least two options" in await create(world, "!poll create one Only one? | Yes")
    assert "can't be a poll name" in await create(world, "!poll create Bad_Name? Q | a | b")
    assert "at most 10 options" in await create(world, "!poll create many Q | " + " | ".join("abcdefghijk"))
    assert "already a poll `strike`" in await create(world, "!poll create strike Again | a | b")
    assert "Only a coordinator of the campaign" in texts(await world.run("!poll create x Q | a | b", room=ROOM))
    row = await world.db.fetchone("SELECT question_sealed, options_sealed FROM polls WHERE slug='strike'")
    assert b"strike Friday" not in bytes(row[0]) and b"Not yet" not in bytes(row[1])  # sealed


async def test_votes_are_private_changeable_and_show_no_figure_while_open(world: World):
    await create(world, "!poll create strike Strike? | Yes | No")
    out = await world.run("!vote strike 1", user=user(1), room=ROOM)
    assert out == [Reply("I answered you in our direct chat.", private=True),  # issue #23 item 9: the room
                   DirectMessage("Your vote in `strike` was recorded. You can change it until the poll closes."),
                   RedactCommand()]  # learns nothing of the member's vote, not even whether it counted
    assert texts(await world.run("!vote strike", user=user(1), room=ROOM)).startswith(
        "I answered you in our direct chat.\nYour vote in `strike`: 1. Yes.")  # the vote itself: in the DM
    assert "was changed" in texts(await world.run("!vote strike 2", user=user(1), room=DM))
    assert texts(await world.run("!vote strike", user=user(1), room=DM)) == "Your vote in `strike`: 2. No."
    assert "from 1 to 2" in texts(await world.run("!vote strike 3", user=user(2), room=DM))
    assert "takes one option" in texts(await world.run("!vote strike 1,2", user=user(2), room=DM))
    shown = texts(await world.run("!poll strike", room=ROOM))
    assert "result is shown when it closes" in shown and "Voters" not in shown
    assert "`strike` — Strike?" in texts(await world.run("!polls", room=ROOM))
    poll = await store.by_slug(world.db, world.keyring, "strike")
    assert poll is not None and await store.count(world.db, poll.id, 2) == (1, [0, 1])


async def test_close_announces_a_suppressed_result_once_to_the_polls_rooms(world: World):
    await create(world, "!poll create strike Strike? | Yes | No | Later")
    await vote_many(world, "strike", "1", 7)
    await vote_many(world, "strike", "2", 3, start=10)
    out = await world.run("!poll close strike", user="@coord:example.org", role=C, room=ROOM)
    [news] = announced(out)
    assert news.room_ids == (ROOM.room_id,) and not news.all_dms
    assert "1. Yes: 7\n2. No: fewer than 5\n3. Later: fewer than 5\nVoters: at least 7" in news.text
    [spanish] = announced(out, "es")
    assert "2. No: menos de 5" in spanish.text and "Votantes: al menos 7" in spanish.text
    assert "already closed" in texts(await world.run("!poll close strike", user="@c:x", role=C, room=ROOM))
    assert "is closed" in texts(await world.run("!vote strike 1", user=user(99), room=DM))
    assert "1. Yes: 7" in texts(await world.run("!poll strike", room=DM))


async def test_fewer_than_k_voters_give_no_result(world: World):
    await create(world, "!poll create tiny Q? | a | b")
    await vote_many(world, "tiny", "1", 4)
    [news] = announced(await world.run("!poll close tiny", user="@c:x", role=C, room=ROOM))
    assert "No result: fewer than 5 voted" in news.text and "a:" not in news.text


async def test_multi_choice_and_the_complement(world: World):
    await create(world, "!poll create days Which days? | Mon | Tue | Wed --multi")
    for i in range(10):
        await world.run(f"!vote days {'1,2' if i < 8 else '1,3'}", user=user(i), room=DM)
    [news] = announced(await world.run("!poll close days", user="@c:x", role=C, room=ROOM))
    # Mon: all 10 (0 did not: reads like 1..4, "more than 5"); Tue: 8 of 10 (2 did not: "more
    # than 5"); Wed: 2 ("fewer than 5"): exact figures start at 2k-1 = 5
    assert "1. Mon: more than 5\n2. Tue: more than 5\n3. Wed: fewer than 5\nVoters: 10" in news.text


async def test_a_poll_closes_by_itself_once(world: World):
    await create(world, "!poll create soon Soon? | a | b --closes in 2 hours")
    assert await PollCloses.next_due(world.db) == world.now + timedelta(hours=2)
    assert await PollCloses.fire(world.env()) == []
    world.now += timedelta(hours=2, seconds=1)
    [news] = announced(await PollCloses.fire(world.env()))
    assert "Poll `soon` has closed" in news.text
    assert await PollCloses.fire(world.env()) == [] and await PollCloses.next_due(world.db) is None


async def test_mydata_forget_retention_and_export(world: World):
    await create(world, "!poll create strike Strike? | Yes | No")
    await world.run("!vote strike 2", user=user(1), room=DM)
    source = MEMBER_DATA["polls"]
    assert await source.describe(world.ctx(user(1), room=DM)) == ["Your vote in poll `strike`: 2."]
    assert "deleted 1 record" in texts(await world.run("!forget confirm", user=user(1), room=DM))
    assert await source.describe(world.ctx(user(1), room=DM)) == []
    exported = await EXPORT_HOOKS["polls"](world.env())
    assert exported == {"polls": [{"slug": "strike", "open": True, "result": None}]}
    await world.run("!poll close strike", user="@c:x", role=C, room=ROOM)
    assert await RETENTION_HOOKS["polls"](world.db, world.now - timedelta(days=1)) == 0
    assert await RETENTION_HOOKS["polls"](world.db, world.now + timedelta(days=2)) == 1
    assert await store.by_slug(world.db, world.keyring, "strike") is None


async def test_in_spanish(world: World):
    await create(world, "!poll create huelga ¿Huelga el viernes? | Sí | No")
    await world.run("!idioma es", user=user(1), room=DM)
    assert texts(await world.run("!votar huelga 1", user=user(1), room=DM)) == (
        "Quedó registrado tu voto en `huelga`. Puedes cambiarlo hasta que se cierre la encuesta.")
    assert "Abierta: el resultado se muestra cuando se cierre" in texts(await world.run("!encuesta huelga", user=user(1),
                                                                                       room=DM))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=2, max_size=5), st.integers(2, 6), st.booleans(), st.integers(0, 6))
def test_no_count_below_2k_minus_1_is_recoverable(counts, k, multi, extra):
    """Every exact figure is at least 2k-1, and so is every difference a reader can take: the
    voters minus the exact options (one choice each), or the voters minus one option (several;
    the two-option case is checked in test_smallcell.py)."""
    floor = 2 * k - 1
    voters = max(counts) + extra if multi else sum(counts)
    shown = suppress_votes(voters, counts, k, multi)
    if voters < floor:
        assert shown is None
        return
    assert shown is not None
    total, options = shown
    exact = [int(s) for s in options if s.isdigit()]
    assert all(n >= floor for n in exact)
    if multi:
        assert total == str(voters)
        assert all(voters - n >= floor for n in exact)
    elif total.isdigit():
        assert int(total) - sum(exact) == 0 or int(total) - sum(exact) >= floor


async def test_a_poll_belongs_to_its_rooms_not_to_the_whole_campaign(world: World):
    """Issue #23 item 13: a poll asked in the home room (the coordinators') is not everyone's: only
    members joined to one of the poll's rooms (and campaign coordinators) see it and vote."""
    await create(world, "!poll create budget Spend the fund? | Yes | No")  # asked in ROOM, the home room
    world.shell.joined[user(1)] = {"!branch:example.org"}  # a member of another campaign room only
    for line in ("!vote budget 1", "!vote budget", "!poll budget", "!vote budge 1"):
        out = texts(await world.run(line, user=user(1), room=DM))
        assert out.startswith("No poll") and "Did you mean" not in out  # not even a hint
    assert texts(await world.run("!polls", user=user(1), room=DM)) == "There are no open polls."
    poll = await store.by_slug(world.db, world.keyring, "budget")
    assert poll is not None and await store.count(world.db, poll.id, 2) == (0, [0, 0])
    world.shell.joined[user(2)] = {ROOM.room_id}  # in the poll's room
    assert "was recorded" in texts(await world.run("!vote budget 1", user=user(2), room=DM))
    assert "`budget`" in texts(await world.run("!polls", user=user(2), room=DM))
    assert "was recorded" in texts(await world.run("!vote budget 2", user="@coord:example.org", role=C, room=DM))
    await world.run("!poll rooms budget add", user="@coord:example.org", role=C,
                    room=RoomView("!branch:example.org", "Branch", is_dm=False, encrypted=True))
    assert "was recorded" in texts(await world.run("!vote budget 1", user=user(1), room=DM))  # now theirs too
