"""Issue #23 item 9: an answer that shows a member's own data (their vote, their RSVP, their
settings, how many records they had) goes to their DM, in their language, never to the room
where they typed the command; the room gets one neutral line, the same whatever the answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from commands.base import DirectMessage, Output, Reply, Role
from tests.fakes import DM, ROOM, World

ALICE = "@alice:example.org"
NEUTRAL = Reply("I answered you in our direct chat.", private=True)


def in_room(out: list[Output]) -> list[Output]:
    return [o for o in out if isinstance(o, Reply)]


def in_dm(out: list[Output]) -> str:
    return "\n".join(o.text for o in out if isinstance(o, DirectMessage))


async def _setup(world: World) -> None:
    world.shell.dms[ALICE] = DM.room_id
    await world.run("!poll create strike Strike? | Yes | No", user="@coord:example.org", role=Role.COORDINATOR)
    when = (world.now + timedelta(days=3)).strftime("%Y-%m-%d 10:00")
    await world.run(f"!action add {when} | Picket", user="@coord:example.org", role=Role.COORDINATOR)
    await world.run("!vote strike 1", room=DM)
    await world.run("!rsvp 1 yes", room=DM)


@pytest.mark.parametrize(("line", "private"), [
    ("!vote strike", "Your vote in `strike`: 1. Yes."),
    ("!vote strike 2", "Your vote in `strike` was changed."),
    ("!rsvp 1", "Your answer for #1: yes."),
    ("!rsvp 1 maybe", "Changed your answer for #1 to maybe."),
    ("!tz", "You haven't chosen a time zone"),
    ("!tz America/Chicago", "From now on I read and show your times in `America/Chicago`"),
    ("!lang", "I write to you in English."),
    ("!lang en", "From now on I write to you in English in our DM."),
    ("!mydata", "Your vote in poll `strike`: 1."),
    ("!forget confirm", "Done: deleted"),
    ("!vote strike 9", "Choose by number, from 1 to 2."),  # an error shows no one's data, yet goes there too
])
async def test_a_self_query_in_a_room_is_answered_in_the_members_dm(world: World, line: str, private: str) -> None:
    await _setup(world)
    out = await world.run(line, room=ROOM)
    assert in_room(out) == [NEUTRAL]  # the room: one line, the same for every answer
    assert private in in_dm(out)
    typed_in_dm = await world.run(line, room=DM)  # typed in the DM: an ordinary answer there
    assert all(isinstance(o, Reply) for o in typed_in_dm) and NEUTRAL not in typed_in_dm


async def test_the_dm_answer_is_in_the_members_language_the_line_in_the_rooms(world: World) -> None:
    await _setup(world)
    await world.run("!idioma es", room=DM)
    out = await world.run("!vote strike", room=ROOM)  # an English room
    assert in_room(out) == [NEUTRAL]
    assert in_dm(out) == "Tu voto en `strike`: 1. Yes."
