"""The coordinators' weekly digest: sent once a week at BOT_DIGEST in the home room's zone,
across restarts, in the room's language, every figure about people through the small-cell rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from commands.base import Chart, Output, Post, Role
from commands.common.smallcell import exact_from
from commands.common.weekly import next_weekly, read_weekly
from commands.digest import WeeklyDigest
from storage import digest as store
from tests.fakes import DM, ROOM, World, make_world, texts

C = Role.COORDINATOR
TUESDAY = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # BOT_DIGEST "mon 09:00" in UTC


async def fire(world: World) -> list[Output]:
    async with world.db.transaction():  # as the scheduler runs it
        return await WeeklyDigest.fire(world.env())


def test_weekly_times_are_read_and_found_on_the_wall_clock():
    assert read_weekly("mon 09:00") == (0, 9, 0) and read_weekly("Friday 17:30") == (4, 17, 30)
    assert read_weekly("someday 09:00") is None and read_weekly("mon 25:00") is None
    assert next_weekly((0, 9, 0), "UTC", TUESDAY) == MONDAY_9
    assert next_weekly((0, 9, 0), "UTC", MONDAY_9) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    # 09:00 in Chicago is 15:00 UTC in winter
    assert next_weekly((0, 9, 0), "America/Chicago", TUESDAY) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


async def test_the_digest_is_sent_once_a_week_across_restarts(tmp_path: Path):
    world = await make_world(tmp_path / "a", BOT_DIGEST="mon 09:00")
    world.now = TUESDAY
    assert await fire(world) == []  # the first look only plans
    assert await store.next_due(world.db) == MONDAY_9
    world.now = MONDAY_9.replace(hour=8)
    assert await fire(world) == []
    world.now = MONDAY_9
    sent = await fire(world)
    assert [type(o) for o in sent] == [Post] and sent[0].room_id == ROOM.room_id  # type: ignore[union-attr]
    assert "Weekly digest" in texts(sent)
    assert await fire(world) == []
    await world.db.close()
    again = await make_world(tmp_path / "a", BOT_DIGEST="mon 09:00")  # a restart on the same database
    again.now = MONDAY_9.replace(minute=5)
    assert await fire(again) == []
    again.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert len(await fire(again)) == 1
    await again.db.close()


async def test_the_digest_in_spanish_with_small_groups_pooled_and_the_pledge_chart(world: World):
    world.now = TUESDAY
    floor = exact_from(world.settings.BOT_MIN_CELL)
    await world.run("!room lang es", role=C)
    await world.run("!pledge create carta Firma la carta --goal 40", role=C)
    for i in range(floor + 2):
        await world.run("!pledge carta", user=f"@m{i}:example.org", room=DM)
    await world.run("!pledge create poco Pocas firmas", role=C)
    await world.run("!pledge poco", user="@m0:example.org", room=DM)
    await world.run("!rollcall start paro ¿Quién para?", role=C)
    await world.run("!action add 2026-12-02 10:00 UTC | Llamar al concejo", role=C)
    await fire(world)
    world.now = MONDAY_9
    sent = await fire(world)
    words = texts(sent, "es")
    assert "**Resumen semanal**" in words
    assert f"`carta` Firma la carta: {floor + 2} (nuevo esta semana)" in words
    assert f"`poco` Pocas firmas: menos de {floor}" in words
    assert "`paro` ¿Quién para?" in words and "#1 " in words and "Llamar al concejo" in words
    assert "Alertas de contratos nuevos esta semana: 0" in words
    assert f"Miembros que se unieron con código: menos de {floor}" in words
    assert f"Preguntas pendientes en la línea anónima: menos de {floor}" in words
    [chart] = [o for o in sent if isinstance(o, Chart)]
    assert chart.room_id == ROOM.room_id and callable(chart.spec)
    rows = {r["label"]: (r["value"], r["text"]) for r in chart.spec("es")["rows"]}
    assert rows == {"carta": (floor + 2, str(floor + 2)), "poco": (None, f"menos de {floor}")}
    # next week: what moved since the last digest
    for i in range(floor + 2, floor + 5):
        await world.run("!pledge carta", user=f"@m{i}:example.org", room=DM)
    world.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert f"`carta` Firma la carta: {floor + 5} (+3 desde el último resumen)" in texts(await fire(world), "es")


async def test_digest_off_in_the_home_room_sends_nothing_and_on_plans_again(world: World):
    world.now = TUESDAY
    await fire(world)
    [refused] = await world.run("!digest off", role=C, room=DM)
    assert "home room" in str(getattr(refused, "text", ""))
    off, first_contact = await world.run("!resumen no", role=C)  # a Spanish command: answered in Spanish
    assert "desactivado" in str(getattr(off, "text", "")) and "scheduler" in world.woken
    assert "`!idioma en`" in str(getattr(first_contact, "text", ""))
    world.now = MONDAY_9
    assert await fire(world) == []
    await world.run("!digest on", role=C)
    assert await fire(world) == []  # planned again: the next Monday
    world.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert len(await fire(world)) == 1


async def test_bot_digest_off_sends_nothing(tmp_path: Path):
    world = await make_world(tmp_path, BOT_DIGEST="off")
    for day in range(1, 15):
        world.now = datetime(2026, 11, day, 9, 0, tzinfo=UTC)
        assert await fire(world) == []
    await world.db.close()
