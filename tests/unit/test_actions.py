"""Actions, reminders and broadcasts with fixed clocks (no homeserver)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from commands.actions import MAX_LISTED, ActionsDue
from commands.base import RETENTION_HOOKS, Broadcast, HubNews, Post, Reply, Role, RoomView
from storage import actions as store
from tests.fakes import DM, ROOM, texts

C = Role.COORDINATOR
OTHER = RoomView("!other:example.org", "Other room", is_dm=False, encrypted=True)


async def fire(world):
    async with world.db.transaction():
        return await ActionsDue.fire(world.env())


def posts(outputs, lang="en"):
    """The posts, as a room (or DM) in ``lang`` reads them: their text is worded per destination."""
    return [replace(o, text=o.text if isinstance(o.text, str) else o.text(lang)) for o in outputs
            if isinstance(o, Post)]


async def test_add_iso_zone_reply_states_local_and_utc(world):
    out = await world.run("!action add 2026-12-01 10:00 America/Chicago | Call the council --remind 1d,1h",
                          role=C)
    assert texts(out).strip() == ("#1 scheduled for Tuesday 1 December at 10:00 CST; "
                          "reminders 1 day and 1 hour before.")
    assert world.woken == {"scheduler"}
    assert await store.next_due(world.db) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


async def test_member_cannot_add_and_bad_input_stores_nothing(world):
    assert "Only a coordinator" in texts(await world.run("!action add tomorrow 9am | x"))
    for bad in ["!action add tomorrow 9am Call", "!action add 2020-01-01 10:00 | past",
                "!action add tomorrow 9am Mars/Base | x", "!action add tomorrow 9am | x --every fortnight",
                "!action add 2026-11-01 01:30 America/New_York | fold", "!action add tomorrow 9am | x --remind 3q",
                "!action add tomorrow 9am | "]:
        out = await world.run(bad, role=C)
        assert len(out) == 1 and isinstance(out[0], Reply), bad
    assert await store.next_due(world.db) is None


async def test_past_leads_skipped_and_reminders_fire_in_order(world):
    # now is 2026-11-24 12:00 UTC; the action is in 90 minutes: the 1-day lead is already past
    out = await world.run("!action add in 90 minutes | Picket --remind 1d,1h,30s", role=C)
    assert "reminders 1 hour and 30 seconds before" in texts(out)
    assert "Skipped 1 day before" in texts(out)
    assert await fire(world) == []
    world.now += timedelta(minutes=30)
    first = posts(await fire(world))
    assert len(first) == 1 and first[0].room_id == ROOM.room_id and first[0].msgtype == "m.text"
    assert "Picket, starts in 1 hour" in first[0].text
    assert await fire(world) == []  # never twice
    world.now += timedelta(minutes=59, seconds=30)
    assert "starts in 30 seconds" in posts(await fire(world))[0].text
    world.now += timedelta(seconds=30)
    assert "Starting now: Picket" in posts(await fire(world))[0].text
    assert await store.next_due(world.db) is None
    assert "No upcoming actions" in texts(await world.run("!actions"))


async def test_list_and_cancel(world):
    await world.run("!action add 2026-12-01 10:00 | First", role=C)
    await world.run("!action add 2026-12-02 10:00 | Second --every weekday", role=C)
    listing = texts(await world.run("!actions"))
    assert "#1" in listing and "First" in listing and "once" in listing
    assert "#2" in listing and "every weekday" in listing
    assert "Only a coordinator" in texts(await world.run("!action cancel 1"))
    assert "no upcoming action #1" in texts(await world.run("!action cancel 1", role=C, room=OTHER))
    assert "Cancelled #1" in texts(await world.run("!action cancel 1", role=C))
    assert "First" not in texts(await world.run("!actions"))
    world.now = datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC)
    assert await fire(world) == []


async def test_long_list_shows_the_soonest_and_counts_the_rest(world):
    for day in range(1, 31):  # added latest first: the listing must still be soonest first
        await world.run(f"!action add 2026-12-{31 - day:02d} 10:00 | Action on day {31 - day}", role=C)
    lines = texts(await world.run("!actions")).splitlines()
    listed = [line for line in lines if line.startswith("**#")]
    assert len(listed) == MAX_LISTED
    assert "Action on day 1" in listed[0] and f"Action on day {MAX_LISTED}" in listed[-1]
    assert lines[-1] == f"…and {30 - MAX_LISTED} more."


async def test_recurrence_keeps_wall_time_across_dst(world):
    # every weekday 9am New York; 2026-11-01 is the fall-back Sunday
    world.now = datetime(2026, 10, 29, 12, 0, tzinfo=UTC)
    await world.run("!action add 2026-10-30 09:00 America/New_York | Standup --every weekday --remind 10m",
                    role=C)
    seen = []
    for _ in range(6):
        due = await store.next_due(world.db)
        assert due is not None
        world.now = due
        for post in posts(await fire(world)):
            seen.append((due, post.text))
    at_time = [d for d, text in seen if "Starting now" in text]
    assert at_time == [datetime(2026, 10, 30, 13, 0, tzinfo=UTC),  # EDT
                       datetime(2026, 11, 2, 14, 0, tzinfo=UTC),  # EST after the change, still 09:00
                       datetime(2026, 11, 3, 14, 0, tzinfo=UTC)]
    assert all("09:00 E" in text for _, text in seen)


async def test_downtime_grace_and_catch_up(make_world_with):
    world = await make_world_with(BOT_REMINDER_GRACE=60)
    await world.run("!action add 2026-11-24 12:10 | Late one", role=C)
    await world.run("!action add 2026-11-24 12:20 | Missed one --every day", role=C)
    world.now = datetime(2026, 11, 24, 12, 20, 30, tzinfo=UTC)  # 10m30s and 30s late
    out = posts(await fire(world))
    assert len(out) == 1 and "Missed one" in out[0].text and "Late:" in out[0].text
    # the daily action was rescheduled for tomorrow, the missed one-off is gone
    assert await store.next_due(world.db) == datetime(2026, 11, 25, 12, 20, tzinfo=UTC)
    world.now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # down for days
    assert await fire(world) == []
    assert await store.next_due(world.db) == datetime(2026, 11, 30, 12, 20, tzinfo=UTC)


async def test_personal_reminder_in_dm_sealed(world):
    world.shell.dms["@alice:example.org"] = DM.room_id
    out = await world.run("!remind me in 2 hours | Call Sam")
    assert out[0].private and "in our direct chat" in texts(out)
    assert "don't have one yet" in texts(await world.run("!remind me in 2 hours | x", user="@bob:example.org"))
    world.now += timedelta(hours=2)
    sent = posts(await fire(world))
    assert [(p.room_id, p.msgtype) for p in sent] == [(DM.room_id, "m.text")] and "Call Sam" in sent[0].text
    raw = open(world.db.path, "rb").read() + b"".join(
        (world.db.path.parent / n).read_bytes() for n in ("bot.db-wal",) if (world.db.path.parent / n).exists())
    assert b"Call Sam" not in raw and DM.room_id.encode() not in raw and b"alice" not in raw
    assert "1 personal reminder" in texts(await world.run("!mydata", room=DM))
    assert "deleted 1 record" in texts(await world.run("!forget confirm", room=DM))


async def test_broadcast_confirm_rules(world):
    world.shell.views = [ROOM, OTHER, DM]
    out = await world.run("!broadcast Walkout at noon", user="@c1:x", role=C)
    assert "It goes to 2 rooms and to the DMs of fewer than 5 members by code." in texts(out)
    confirm_code = texts(out).split("confirm ")[1][:4]
    wrong = "0000" if confirm_code != "0000" else "1111"
    assert "Nothing is waiting" in texts(await world.run(f"!confirm {wrong}", user="@c1:x", role=C))
    assert "Only the coordinator" in texts(await world.run(f"!confirm {confirm_code}", user="@c2:x", role=C))
    assert "Nothing is waiting" in texts(await world.run(f"!confirm {confirm_code}", user="@c1:x", role=C,
                                                         room=OTHER))
    sent = await world.run(f"!confirm {confirm_code}", user="@c1:x", role=C)
    assert sent == [Broadcast((ROOM.room_id, OTHER.room_id), "Walkout at noon", "m.text"),
                    HubNews("Walkout at noon", "m.text", tracked=True)]  # and to members by code, in their DMs
    assert "Nothing is waiting" in texts(await world.run(f"!confirm {confirm_code}", user="@c1:x", role=C))


async def test_broadcast_code_expires_and_listed_rooms(make_world_with):
    world = await make_world_with(BOT_BROADCAST_ROOMS=f"{OTHER.room_id},!gone:x")
    world.shell.views = [ROOM, OTHER, DM]
    out = await world.run("!broadcast hi", role=C)
    assert "It goes to 1 room and" in texts(out)
    world.now += timedelta(minutes=5, seconds=1)
    assert "Nothing is waiting" in texts(await world.run(f"!confirm {texts(out).split('confirm ')[1][:4]}",
                                                         role=C))


async def test_link_room_needs_same_coordinator_in_owner_room(world):
    world.shell.views = [ROOM, OTHER, DM]
    await world.run("!action add in 1 hour | Rally", user="@c1:x", role=C)
    out = await world.run("!action rooms 1 add", user="@c1:x", role=C, room=OTHER)
    confirm_code = texts(out).split("confirm ")[1][:4]
    assert "Only the coordinator" in texts(await world.run(f"!confirm {confirm_code}", user="@c2:x", role=C))
    out = await world.run(f"!confirm {confirm_code}", user="@c1:x", role=C)
    assert "now also gets reminders for #1" in texts(out)
    assert any(isinstance(o, Post) and o.room_id == OTHER.room_id for o in out)
    assert "scheduled in another room" in texts(await world.run("!actions", room=OTHER))
    world.now += timedelta(hours=1)
    assert {p.room_id for p in posts(await fire(world))} == {ROOM.room_id, OTHER.room_id}
    assert "no longer" in texts(await world.run("!action rooms 1 remove", role=C, room=OTHER))


async def test_retention_removes_past_one_offs_and_delivered(world):
    world.shell.dms["@alice:example.org"] = DM.room_id
    await world.run("!action add in 1 hour | Old", role=C)
    await world.run("!action add in 1 hour | Repeating --every day", role=C)
    await world.run("!remind me in 1 hour | mine")
    world.now += timedelta(hours=1)
    await fire(world)
    async with world.db.transaction():
        removed = sum([await hook(world.db, world.now + timedelta(days=1)) for hook in RETENTION_HOOKS.values()])
    assert removed >= 3
    assert (await store.upcoming(world.db, world.keyring, ROOM.room_id))[1] == 1
