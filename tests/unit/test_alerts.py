"""Award alerts: what a look-up finds becomes one alert per new award or changed amount, posted
once to the home room and the rooms that asked, in each room's language."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from commands.alerts import AwardAlertPosts
from commands.base import Role
from storage import contracts as store
from storage.contracts import Award
from storage.contracts.data import award_from_api
from storage.directory import directory
from tests.fakes import DM, ROOM, World, make_world, texts
from tests.unit.test_refresh import result

OTHER = ROOM.__class__("!other:example.org", "Other room", is_dm=False, encrypted=True)


@pytest.fixture
async def world(tmp_path: Path) -> World:
    w = await make_world(tmp_path)
    w.shell.views = [ROOM, OTHER, DM]  # ROOM is the home room
    return w


async def awards(world: World, *numbers: int, bump: int = 0) -> list[Award]:
    found = await directory(world.db)
    out = []
    for n in numbers:
        award = award_from_api(result(n), found, "2026-12-01")
        assert award is not None
        out.append(replace(award, amount_cents=award.amount_cents + bump) if bump and n == numbers[-1] else award)
    return out


async def look_up(world: World, found: list[Award], day: str = "2026-12-01") -> int:
    async with world.db.transaction():
        await store.upsert_awards(world.db, found)
        return await store.note_awards(world.db, found, day)


async def fire(world: World) -> list:
    async with world.db.transaction():
        return await AwardAlertPosts.fire(world.env())


async def test_the_first_look_up_sets_the_baseline_and_alerts_nothing(world):
    assert await look_up(world, await awards(world, 1, 2)) == 0
    assert await store.next_alert(world.db) is False
    assert await store.refresh_status(world.db) == ("2026-12-01", None)


async def test_a_new_award_and_a_changed_amount_alert_once_each(world):
    await look_up(world, await awards(world, 1, 2))
    assert await look_up(world, await awards(world, 1, 2, 3, bump=0)) == 1  # award 3 is new
    assert await look_up(world, await awards(world, 1, 3, bump=250_000_00)) == 1  # award 3's amount changed
    assert await look_up(world, await awards(world, 1, 3, bump=250_000_00)) == 0  # the same again: nothing
    posts = await fire(world)
    assert {p.room_id for p in posts} == {ROOM.room_id}  # the home room only: nobody else asked
    new, changed = (p.text("en") for p in posts)
    assert "New contract award: **PALANTIR TECHNOLOGIES INC.**, $1,000,004 from ICE" in new
    assert "https://www.usaspending.gov/award/CONT_AWD_70CTAPI00003_7012_-NONE-_-NONE-/" in new
    assert "Contract award changed" in changed and "now $1,250,004" in changed and "was $1,000,004, +$250,000" in changed
    assert "Nuevo contrato adjudicado" in posts[0].text("es")
    assert await fire(world) == []  # posted once


async def test_rooms_opt_in_and_out(world):
    await world.run("!alerts here", role=Role.ROOM_COORDINATOR, room=OTHER)
    await world.run("!alerts off", role=Role.ROOM_COORDINATOR, room=ROOM)
    await look_up(world, await awards(world, 1))
    await look_up(world, await awards(world, 1, 2))
    assert {p.room_id for p in await fire(world)} == {OTHER.room_id}
    shown = texts(await world.run("!alerts", role=Role.ROOM_COORDINATOR, room=OTHER))
    assert "This room gets new contract award alerts. Last look-up: 2026-12-01." in shown


async def test_a_failed_look_up_is_recorded_until_the_next_success(world):
    await store.note_refresh_error(world.db, "2026-12-02", "HTTP 503")
    assert await store.refresh_status(world.db) == (None, "2026-12-02 HTTP 503")
    await look_up(world, await awards(world, 1), day="2026-12-03")
    assert await store.refresh_status(world.db) == ("2026-12-03", None)
