"""RSVPs (issue #19): members answer for an action (best in a DM), those who said yes or maybe
get a private sequence (the day before, at the lead times, a follow-up), exactly once, and only
suppressed counts are ever shown."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from commands import base
from commands.base import MEMBER_DATA, DirectMessage, Post, RedactCommand, Reply, Role
from commands.rsvp import RsvpSequence, turnout_text
from storage import rsvps as store
from storage.schema import open_database
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
ENGLISH = str  # identity gettext


def user(i: int) -> str:
    return f"@member{i}:example.org"


def dm_of(i: int) -> base.RoomView:
    return base.RoomView(f"!dm{i}:example.org", "DM", is_dm=True, encrypted=True)


async def action(world: World, when: str = "in 3 days") -> None:
    out = await world.run(f"!action add {when} | Call the council --remind 1h", user="@c:x", role=C, room=ROOM)
    assert "#1" in texts(out), texts(out)


def posts(outputs: list[base.Output], lang: str = "en") -> list[tuple[str, str]]:
    return sorted((o.room_id, o.text if isinstance(o.text, str) else o.text(lang))
                  for o in outputs if isinstance(o, Post))


async def test_answers_are_private_changeable_and_shown_back(world: World):
    await action(world)
    out = await world.run("!rsvp 1 yes", user=user(1), room=DM)
    assert texts(out) == "Your answer for #1: yes. I'll remind you in our DM; `!rsvp 1 no` stops that."
    assert texts(await world.run("!rsvp 1 maybe", user=user(1), room=DM)).startswith(
        "Changed your answer for #1 to maybe.")
    assert texts(await world.run("!rsvp 1", user=user(1), room=DM)) == "Your answer for #1: maybe."
    world.shell.dms[user(2)] = "!dm2:example.org"
    out = await world.run("!rsvp #1 sí", user=user(2), room=ROOM)
    assert out[0] == Reply("I answered you in our direct chat.", private=True)  # issue #23 item 9: nothing of
    assert isinstance(out[-1], RedactCommand) and "yes" in texts(out[1:2])  # the answer in the room, all in the DM
    assert isinstance(out[1], DirectMessage)
    out = await world.run("!rsvp 1 no", user=user(2), room=ROOM)
    assert out[0].text == "I answered you in our direct chat." and "Changed your answer for #1 to no" in out[1].text
    assert "no upcoming action `#9`" in texts(await world.run("!rsvp 9 yes", user=user(3), room=DM))
    assert "Answer `yes`, `maybe` or `no`" in texts(await world.run("!rsvp 1 perhaps", user=user(3), room=DM))
    assert "direct chat" in texts(await world.run("!rsvp 1 yes", user=user(4), room=ROOM))  # no DM yet
    assert "hasn't happened yet" in texts(await world.run("!rsvp 1 went", user=user(1), room=DM))


async def test_the_private_sequence_fires_once_for_yes_and_maybe_and_stops_on_no(world: World):
    await action(world)
    for i, word in enumerate(("yes", "maybe", "no", "yes")):
        await world.run(f"!rsvp 1 {word}", user=user(i), room=dm_of(i))
    await world.run("!rsvp 1 no", user=user(3), room=dm_of(3))  # changed their mind: no more reminders
    start = world.now
    assert await RsvpSequence.next_due(world.db) == start + timedelta(days=2)  # the day before
    assert await RsvpSequence.fire(world.env()) == []
    world.now = start + timedelta(days=2, seconds=1)
    confirm = posts(await RsvpSequence.fire(world.env()))
    assert [room for room, _ in confirm] == ["!dm0:example.org", "!dm1:example.org"]
    assert "📅 Tomorrow: #1 Call the council" in confirm[0][1] and "`!rsvp 1 no`" in confirm[0][1]
    assert await RsvpSequence.fire(world.env()) == []  # once
    world.now = start + timedelta(days=3) - timedelta(hours=1) + timedelta(seconds=1)
    lead = posts(await RsvpSequence.fire(world.env()))
    assert len(lead) == 2 and "⏰ Reminder: #1 Call the council starts" in lead[0][1]
    world.now = start + timedelta(days=3, seconds=1)
    assert len(posts(await RsvpSequence.fire(world.env()))) == 2  # the start (lead 0)
    world.now = start + timedelta(days=3, hours=3, seconds=1)
    follow = posts(await RsvpSequence.fire(world.env()))
    # to yes and maybe alike: the number and timing of the bot's DMs tell no answer (issue #23)
    assert [room for room, _ in follow] == ["!dm0:example.org", "!dm1:example.org"]
    assert "`!rsvp 1 went`" in follow[0][1] and follow[0][1] == follow[1][1]
    for stage in (confirm, lead, follow):  # the same messages for yes and maybe
        assert stage[0][1] == stage[1][1]
    assert "Thanks! Only the count is kept." == texts(await world.run("!rsvp 1 went", user=user(0), room=DM))
    assert "told me already" in texts(await world.run("!rsvp 1 missed", user=user(0), room=DM))
    assert "had not said you would come" in texts(await world.run("!rsvp 1 went", user=user(2), room=DM))
    row = await world.db.fetchone("SELECT followed_up FROM rsvps WHERE member_ref=?",
                                  (world.keyring.ref("member:rsvp:1", user(0)),))
    assert tuple(row) == (1,)  # that they told, not what
    assert (await store.turnout(world.db, 1))["went"] == 1
    assert await RsvpSequence.next_due(world.db) is None


async def test_a_cancelled_action_sends_nothing_and_a_missed_stage_is_dropped(world: World):
    await action(world)
    await world.run("!rsvp 1 yes", user=user(0), room=dm_of(0))
    await world.run("!action cancel 1", user="@c:x", role=C, room=ROOM)
    world.now += timedelta(days=4)
    assert await RsvpSequence.fire(world.env()) == []
    assert await RsvpSequence.next_due(world.db) is None


async def test_spanish_reader_gets_the_sequence_in_spanish(world: World):
    await action(world)
    await world.run("!idioma es", user=user(0), room=dm_of(0))
    out = await world.run("!asistencia 1 sí", user=user(0), room=dm_of(0))
    assert texts(out).startswith("Tu respuesta para #1: sí.")
    world.now += timedelta(days=2, seconds=1)
    [(room, text)] = posts(await RsvpSequence.fire(world.env()), "es")
    assert text.startswith("📅 Mañana: #1 Call the council")


async def test_turnout_is_suppressed_and_rsvps_are_member_data(world: World):
    await action(world)
    for i in range(6):
        await world.run("!rsvp 1 yes", user=user(i), room=dm_of(i))
    await world.run("!rsvp 1 maybe", user=user(10), room=dm_of(10))
    assert await turnout_text(world.db, 1, 3, ENGLISH) == "RSVPs: yes 6, maybe fewer than 5"  # exact from 2k-1
    source = MEMBER_DATA["rsvps"]
    assert await source.describe(world.ctx(user(10), room=DM)) == ["Your answer for action #1: maybe."]
    assert "deleted 1 record" in texts(await world.run("!forget confirm", user=user(10), room=DM))
    assert await turnout_text(world.db, 1, 3, ENGLISH) == "RSVPs: yes 6, maybe fewer than 5"  # 0 reads like 1..4
    await world.run("!action cancel 1", user="@c:x", role=C, room=ROOM)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12), st.integers(2, 6))
def test_no_shown_turnout_figure_is_a_count_of_1_to_k_minus_1(yes, maybe, went, k):
    from commands.common.smallcell import suppress_total

    for n in (yes, maybe, min(went, yes + maybe)):
        shown = suppress_total(n, k)
        assert not shown.isdigit() or int(shown) == 0 or int(shown) >= k


def test_answers_stored_are_only_the_three():
    assert store.ANSWERS == ("yes", "maybe", "no")
    assert isinstance(Reply("x"), Reply)


async def test_turnout_shows_in_actions_and_in_the_actions_reminders(world: World):
    from commands.actions import ActionsDue

    await action(world)
    for i in range(5):
        await world.run("!rsvp 1 yes", user=user(i), room=dm_of(i))
    await world.run("!rsvp 1 maybe", user=user(9), room=dm_of(9))
    listing = texts(await world.run("!actions", room=ROOM))
    assert "(RSVPs: yes 5, maybe fewer than 5)" in listing
    world.now += timedelta(days=3) - timedelta(hours=1) + timedelta(seconds=1)
    out = await ActionsDue.fire(world.env())
    [english] = [t for r, t in posts(out) if r == ROOM.room_id]
    [spanish] = [t for r, t in posts(out, "es") if r == ROOM.room_id]
    assert "RSVPs: yes 5, maybe fewer than 5" in english and "Asistencia: sí 5, quizás menos de 5" in spanish


async def test_the_day_before_keeps_the_wall_clock_across_a_daylight_saving_change(world: World):
    from datetime import UTC, datetime

    # New York springs forward on Sunday 8 March 2026 at 02:00: a 10:00 action on the 8th gets its
    # confirmation at 10:00 on the 7th (EST), 23 real hours before, not at 09:00
    world.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    out = await world.run("!action add 2026-03-08 10:00 America/New_York | March --remind 1h", user="@c:x", role=C,
                          room=ROOM)
    assert "#1" in texts(out), texts(out)
    await world.run("!rsvp 1 yes", user=user(0), room=dm_of(0))
    assert await RsvpSequence.next_due(world.db) == datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # 10:00 EST
    world.now = datetime(2026, 3, 7, 15, 0, 1, tzinfo=UTC)
    assert len(posts(await RsvpSequence.fire(world.env()))) == 1
    assert await RsvpSequence.next_due(world.db) == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 1 h before 10:00 EDT


async def test_a_stage_sent_before_a_restart_is_not_sent_again_and_one_due_during_it_is(tmp_path):
    """The stage and its DMs commit together (the scheduler's transaction): after a restart the
    stage that went out stays gone, and the next one still comes."""
    from tests.fakes import make_world

    world = await make_world(tmp_path / "w")
    await action(world)
    await world.run("!rsvp 1 yes", user=user(0), room=dm_of(0))
    start = world.now
    world.now = start + timedelta(days=2, seconds=1)
    async with world.db.transaction():
        assert len(posts(await RsvpSequence.fire(world.env()))) == 1  # the day-before confirmation
    await world.db.close()
    world.db = await open_database(tmp_path / "w" / "bot.db", world.keyring.fingerprint())  # the restart
    async with world.db.transaction():
        assert await RsvpSequence.fire(world.env()) == []
    world.now = start + timedelta(days=3) - timedelta(hours=1) + timedelta(seconds=1)
    async with world.db.transaction():
        assert "⏰ Reminder: #1" in posts(await RsvpSequence.fire(world.env()))[0][1]
    await world.db.close()
