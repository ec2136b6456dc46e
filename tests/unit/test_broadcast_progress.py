"""A broadcast's reach and progress, counts only (issue 27): the preview's estimate, `!broadcast
status` while it goes out, and the home room's line when its last DM is done or failing."""

from __future__ import annotations

import time

from bot.runtime.sending.outputs import Origin
from commands.base import Broadcast, HubNews, Role
from storage import prefs
from storage.hashing import Member
from storage.hub import broadcasts
from storage.hub import members as hub_members
from tests.fakes import DM, ROOM, texts
from tests.unit.test_outbox import FakeClient, _outbox

C = Role.COORDINATOR
HOME = "!home:example.org"


async def _members(world, n: int, quiet: int = 0) -> None:
    async with world.db.transaction():
        for i in range(n):
            await hub_members.add(world.db, Member(world.keyring, f"@m{i}:example.org"))
        for i in range(quiet):
            await hub_members.set_quiet(world.db, Member(world.keyring, f"@m{i}:example.org"), True)


async def _fan_out(world, n: int):
    """An outbox that reaches ``n`` DMs of members by code, with a home room."""
    dms = [f"!dm{i}:example.org" for i in range(n)]
    client = FakeClient([HOME, ROOM.room_id, *dms], delay=0.001)
    box, book = await _outbox(world, client)

    async def hub_dms():
        return dms

    box.rooms.hub_dms = hub_dms  # type: ignore[method-assign]
    box.rooms.may_post = lambda room_id: True  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    box.rooms.joined = lambda room_id: True  # type: ignore[method-assign]
    box.rooms.campaign.configured_home = HOME
    return box, client, dms


async def _broadcast(world, box, base: str = "$confirm") -> None:
    async with world.db.transaction():
        await box.enqueue([Broadcast((ROOM.room_id,), "Walkout", "m.text"), HubNews("Walkout", "m.text", tracked=True)],
                          Origin(base, HOME))


def _home_lines(client) -> list[str]:
    return [body for room, body in client.sent if room == HOME and body != "Broadcast delivered to 1 of 1 rooms."]


async def test_the_preview_counts_rooms_and_dms_and_estimates_the_time_at_the_default_rate(world):
    world.shell.views = [ROOM, DM]
    await _members(world, 1012, quiet=12)
    out = texts(await world.run("!broadcast Walkout at noon", role=C))
    assert "It goes to 1 room and to the DMs of 1000 members by code." in out
    assert "The DMs take about 3 minutes, at about 5.0 DMs a second (a first guess" in out  # 1000 / 5 = 200 s
    assert "confirm " in out
    async with world.db.transaction():
        await world.db.set_meta(broadcasts.RATE_KEY, "40")
    out = texts(await world.run("!broadcast Walkout", role=C))
    assert "The DMs take less than a minute, at about 40 DMs a second (measured" in out


async def test_a_small_number_of_dm_members_is_not_shown_exactly(world):
    world.shell.views = [ROOM, DM]
    await _members(world, 3)
    out = texts(await world.run("!broadcast Walkout", role=C))
    assert "the DMs of fewer than 5 members by code" in out and " 3 " not in out  # BOT_MIN_CELL=3 here


async def test_status_while_it_goes_out_then_one_line_in_the_home_room_when_done(world):
    box, client, dms = await _fan_out(world, 40)
    assert "No broadcast is going out now." in texts(await world.run("!broadcast status", role=C))
    await _broadcast(world, box)
    [going] = await broadcasts.under_way(world.db)
    assert (going.total, going.remaining, going.rooms) == (40, 40, 1)
    out = texts(await world.run("!broadcast status", role=C))
    assert "Broadcast under way: 0 of 40 DMs delivered, less than a minute left" in out
    await box.drain()
    assert sorted(room for room, body in client.sent if body == "Walkout") == sorted([ROOM.room_id, *dms])
    lines = _home_lines(client)
    assert len(lines) == 1 and lines[0].startswith(
        "Broadcast to the DMs of members by code is done: 40 of 40 delivered in")
    assert await broadcasts.under_way(world.db) == []
    rate, measured = await broadcasts.rate(world.db)
    assert measured and rate > 1
    async with world.db.transaction():
        await prefs.set_room_pref(world.db, world.keyring, ROOM.room_id, prefs.LANGUAGE, "es")
    out = texts(await world.run("!broadcast estado", role=C))
    assert "No hay ninguna difusión en curso." in out and "40 de 40 entregados" in out
    await box.drain()  # nothing more: the line is said once
    assert len(_home_lines(client)) == 1


async def test_status_counts_what_is_left_in_the_outbox(world):
    box, client, dms = await _fan_out(world, 30)
    await _broadcast(world, box)
    [going] = await broadcasts.under_way(world.db)
    async with world.db.transaction():  # ten delivered: their rows are gone
        await world.db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE txn_id LIKE ? "
                               "ORDER BY id LIMIT 10)", (going.group + ".%",))
    out = texts(await world.run("!broadcast status", role=C))
    assert "10 of 30 DMs delivered" in out


async def test_dropped_and_failing_dms_are_counted_and_told_once(world):
    box, client, dms = await _fan_out(world, 20)
    box.rooms.may_post = lambda room_id: room_id != dms[3]  # type: ignore[method-assign]  # left the campaign
    await _broadcast(world, box)
    [going] = await broadcasts.under_way(world.db)
    client.fail = {f"{going.stem}.5", f"{going.stem}.6"}  # a transport failure each, retried
    for _ in range(5):
        await box.drain()
        if not await broadcasts.under_way(world.db):
            break
    await box.drain()  # the last line
    lines = _home_lines(client)
    assert lines[0].startswith("Broadcast: some DMs could not be sent just now")
    assert lines[1].startswith("Broadcast to the DMs of members by code is done: 19 of 20 delivered")
    assert "1 not delivered: the member left the campaign" in lines[1]
    assert len(lines) == 2
    assert sorted(room for room, body in client.sent if body == "Walkout") == sorted(
        [ROOM.room_id, *(d for d in dms if d != dms[3])])


async def test_a_broadcast_to_few_dms_reports_no_exact_count(world):
    box, client, dms = await _fan_out(world, 4)
    await _broadcast(world, box)
    await box.drain()
    await box.drain()
    [line] = _home_lines(client)
    assert line.startswith("Broadcast to the DMs of members by code is done (fewer than 5 DMs) in")


async def test_progress_keeps_the_last_finished_only(world):
    async with world.db.transaction():
        for i in range(8):
            await broadcasts.start(world.db, f"ob{i}.1", f"g{i}", 10, 0, time.time() - 10)
            await broadcasts.finish(world.db, f"ob{i}.1", time.time())
    assert len(await broadcasts._all(world.db)) == broadcasts.KEEP_FINISHED
    assert (await broadcasts.last_finished(world.db)).stem == "ob7.1"  # type: ignore[union-attr]


async def test_a_broadcast_whose_rows_went_another_way_is_finished_and_told(world):
    box, client, dms = await _fan_out(world, 12)
    await _broadcast(world, box)
    [going] = await broadcasts.under_way(world.db)
    async with world.db.transaction():  # e.g. a restart between its last send and its line
        await world.db.execute("DELETE FROM outbox WHERE txn_id LIKE ?", (going.group + ".%",))
    await box.drain()
    await box.drain()
    assert await broadcasts.under_way(world.db) == []
    [line] = _home_lines(client)
    assert line.startswith("Broadcast to the DMs of members by code is done: 12 of 12 delivered")
