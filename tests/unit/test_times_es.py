"""Times in both languages and each member's zone (issue #18): a member types a time in Spanish
or English, in their own zone or their room's, and sees it in their language and zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commands.base import CommandError, Role
from commands.common.recurrence import parse_leads, parse_recurrence
from commands.common.timeparse import parse_when, show_instant
from commands.language import reader_zone
from storage import prefs
from storage.hashing import Member
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
ALICE = "@alice:example.org"
# Tuesday 24 November 2026, 14:00 in Chicago
NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def local(text: str, now: datetime = NOW, zone: str = "America/Chicago") -> datetime:
    return parse_when(text, now=now, default_zone=zone).local.replace(tzinfo=None)


def error(text: str, lang: str = "en", now: datetime = NOW, zone: str = "America/Chicago") -> str:
    with pytest.raises(CommandError) as caught:
        parse_when(text, now=now, default_zone=zone, lang=lang)
    return str(caught.value)


# ---------------------------------------------------------------- reading Spanish


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mañana a las 17:00", datetime(2026, 11, 25, 17, 0)),
        ("Mañana a las 17:00", datetime(2026, 11, 25, 17, 0)),
        ("manana a las 17:00", datetime(2026, 11, 25, 17, 0)),  # accents are optional
        ("el viernes a las 6pm", datetime(2026, 11, 27, 18, 0)),
        ("el viernes a las 18:00", datetime(2026, 11, 27, 18, 0)),
        ("el martes a las 18:00", datetime(2026, 12, 1, 18, 0)),  # today is Tuesday: the next one, as `tuesday`
        ("el próximo lunes", datetime(2026, 11, 30, 9, 0)),  # a day without a time: 09:00
        ("pasado mañana 9:00", datetime(2026, 11, 26, 9, 0)),
        ("pasado mañana a las 9:00", datetime(2026, 11, 26, 9, 0)),
        ("dentro de 3 días", datetime(2026, 11, 27, 14, 0)),  # an offset keeps the time of day
        ("dentro de 3 días a las 10:00", datetime(2026, 11, 27, 10, 0)),
        ("dentro de una semana", datetime(2026, 12, 1, 14, 0)),
        ("1 de diciembre a las 10:00", datetime(2026, 12, 1, 10, 0)),
        ("el 1 de diciembre de 2026", datetime(2026, 12, 1, 9, 0)),
        ("24 de septiembre a las 10:00", datetime(2027, 9, 24, 10, 0)),  # passed months ago: next year's
        ("en 2 horas", datetime(2026, 11, 24, 16, 0)),
        ("en 1 hora y 30 minutos", datetime(2026, 11, 24, 15, 30)),
        ("a las 18:00", datetime(2026, 11, 24, 18, 0)),  # still ahead today
        ("a las 13:00", datetime(2026, 11, 25, 13, 0)),  # passed today: tomorrow, never a past date
        ("a la 1", datetime(2026, 11, 25, 1, 0)),
        ("hoy a las 8 de la noche", datetime(2026, 11, 24, 20, 0)),
        ("mañana a las 9 de la mañana", datetime(2026, 11, 25, 9, 0)),
        ("mañana al mediodía", datetime(2026, 11, 25, 12, 0)),
        ("a las 12 de la noche", datetime(2026, 11, 25, 0, 0)),
        ("el sábado a las 10 de la noche", datetime(2026, 11, 28, 22, 0)),
        ("viernes 18:00", datetime(2026, 11, 27, 18, 0)),
    ],
)
def test_spanish_times(text: str, expected: datetime) -> None:
    assert local(text) == expected


def test_english_is_read_as_before_and_a_zone_name_still_ends_a_spanish_time() -> None:
    assert local("tomorrow 9am") == datetime(2026, 11, 25, 9, 0)
    assert local("friday 5pm") == datetime(2026, 11, 27, 17, 0)
    assert local("at 18:30") == datetime(2026, 11, 24, 18, 30)
    when = parse_when("mañana a las 17:00 Europe/Madrid", now=NOW, default_zone="America/Chicago")
    assert when.zone.key == "Europe/Madrid" and when.local.hour == 17


def test_spanish_mistakes_are_refused_in_the_readers_language() -> None:
    assert error("el viernez") == ("I couldn't read `el viernez` as a time. Try `tomorrow 9am`, `friday 17:00`, "
                                   "`in 2 hours` or `2026-12-01 10:00 America/Chicago`.")
    assert error("el viernez", "es") == ("No entendí `el viernez` como fecha u hora. Prueba con `mañana a las 9:00`, "
                                         "`el viernes a las 17:00`, `en 2 horas` o `2026-12-01 10:00 America/Chicago`.")
    assert "no es una hora" in error("mañana a las 25:00", "es")
    assert "no es una fecha u hora real" in error("30 de febrero", "es")
    assert error("hoy a las 8", "es").startswith("`hoy a las 8` es el martes 24 de noviembre a las 08:00 CST, y esa "
                                                 "hora ya pasó.")
    assert "Las abreviaturas de zona horaria como `EST` son ambiguas" in error("mañana 9:00 EST", "es")
    assert "¿Quisiste decir `Europe/Berlin`?" in error("mañana 9:00 Europe/Berln", "es")


def test_the_examples_in_the_spanish_errors_are_read() -> None:
    for example in ("mañana a las 9:00", "en 2 horas", "mañana a las 14:30", "31 de diciembre",
                    "mañana a las 9:00 America/New_York"):
        parse_when(example, now=NOW, default_zone="UTC")


def test_spanish_and_written_out_lead_times_and_repeats() -> None:
    assert parse_leads("30 minutos antes") == parse_leads("30m")
    assert parse_leads("1 día y 2 horas antes") == parse_leads("1d,2h")
    assert parse_leads("una hora antes") == parse_leads("1h")
    assert parse_leads("1 day, 2 hours and 30 minutes before") == parse_leads("1d,2h,30m")
    assert [parse_recurrence(t).kind for t in ("cada día", "todos los días", "días laborables", "entre semana",
                                               "cada semana", "semanal", "cada mes", "mensual")] == [
        "daily", "daily", "weekdays", "weekdays", "weekly", "weekly", "monthly", "monthly"]


# ---------------------------------------------------------------- showing times


def test_times_are_shown_as_a_native_writes_a_date_in_a_sentence() -> None:
    at = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert show_instant(at, "America/Chicago") == "Tuesday 1 December 2026 at 17:00 CST"
    assert show_instant(at, "America/Chicago", "es") == "martes 1 de diciembre de 2026 a las 17:00 CST"
    assert show_instant(at, "America/Chicago", "es", now=at) == "martes 1 de diciembre a las 17:00 CST"
    one = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert show_instant(one, "America/Chicago", "es", now=at) == "miércoles 2 de diciembre a la 1:30 CST"
    assert show_instant(at, "UTC", "es") == "martes 1 de diciembre de 2026 a las 23:00 UTC"


# ---------------------------------------------------------------- a zone per member


async def test_a_member_sets_their_zone_sees_it_and_forgets_it(world: World) -> None:
    await world.run("!idioma es", room=DM)
    out = await world.run("!zona america/chicago", room=DM)
    assert texts(out) == ("Desde ahora, en nuestros mensajes directos leo y te muestro las horas en `America/Chicago`. "
                          "Tu hora actual: martes 24 de noviembre a las 06:00 CST.")
    assert out[0].private  # type: ignore[union-attr]
    assert "Tu zona horaria es `America/Chicago`" in texts(await world.run("!zona", room=DM))
    member = Member(world.keyring, ALICE)
    assert await reader_zone(world.db, world.keyring, DM.room_id, True, member) == "America/Chicago"
    raw = await world.db.fetchall("SELECT * FROM member_prefs")
    assert b"Chicago" not in b"".join(bytes(c) for row in raw for c in row if isinstance(c, bytes))  # sealed
    assert "Tu zona horaria: `America/Chicago`." in texts(await world.run("!misdatos", room=DM))
    assert texts(await world.run("!olvidar confirmar", room=DM)) == "Listo: borré 2 datos tuyos."
    assert await reader_zone(world.db, world.keyring, DM.room_id, True, member) is None
    assert "You haven't chosen a time zone; I use `UTC`." in texts(await world.run("!tz", room=DM))


async def test_a_bad_zone_name_is_explained_with_an_example(world: World) -> None:
    out = texts(await world.run("!tz Mars/Olympus", room=DM))
    assert out.startswith("I don't know the time zone `Mars/Olympus`.")
    assert "Zone names look like `America/Chicago`, `Europe/Berlin` or `UTC`." in out
    await world.run("!idioma es", room=DM)
    out = texts(await world.run("!zona Europe/Berln", room=DM))
    assert out == ("No conozco la zona horaria `Europe/Berln`. ¿Quisiste decir `Europe/Berlin`? Los nombres de zona "
                   "son como `America/Chicago`, `Europe/Berlin` o `UTC`.")
    assert "EST" not in texts(await world.run("!misdatos", room=DM))  # nothing was stored
    assert "Escribe un solo nombre de zona" in texts(await world.run("!zona America Chicago", room=DM))


async def test_times_a_member_types_in_their_dm_are_in_their_zone(world: World) -> None:
    await world.run("!tz America/Chicago", room=DM)
    out = texts(await world.run("!remind me mañana a las 9:00 | Llevar los volantes", room=DM))
    assert "Wednesday 25 November at 09:00 CST" in out
    await world.run("!idioma es", room=DM)
    out = texts(await world.run("!recordarme el viernes a las 18:00 | Asamblea", room=DM))
    assert "viernes 27 de noviembre a las 18:00 CST" in out
    assert "no es una hora" in texts(await world.run("!recordarme mañana a las 25:00 | x", room=DM))


async def test_member_zone_and_room_zone(world: World) -> None:
    world.shell.dms[ALICE] = DM.room_id
    await world.run("!tz America/Chicago", room=DM)
    assert "Only a coordinator of the campaign" in texts(await world.run("!room tz Europe/Madrid", room=ROOM))
    assert "Type this in the room" in texts(await world.run("!room tz Europe/Madrid", role=C, room=DM))
    out = texts(await world.run("!room tz Europe/Madrid", user="@coord:example.org", role=C, room=ROOM))
    assert out == "From now on I read and show times in `Europe/Madrid` in this room: it is Tuesday 24 November at 13:00 " \
                  "CET here."
    # in the room, a time without a zone is the room's, whoever types it
    out = texts(await world.run("!action add mañana a las 9:00 | Llamar al concejo", role=C, room=ROOM))
    assert "#1 scheduled for Wednesday 25 November at 09:00 CET" in out
    # the member's own zone does not apply in the room ...
    reply = await world.run("!tz Asia/Tokyo", room=ROOM)
    assert texts(reply).endswith("In a room I keep to the room's time zone.")
    out = texts(await world.run("!action add 2026-12-01 10:00 America/Chicago | Piquete", role=C, room=ROOM))
    assert "Tuesday 1 December at 10:00 CST" in out  # a zone typed is kept
    listed = texts(await world.run("!actions", room=ROOM))  # ... and the room reads its own zone
    assert "Wednesday 25 November at 09:00 CET" in listed and "Tuesday 1 December at 17:00 CET" in listed
    # a personal reminder typed in the room is read in the room's zone, shown in the member's own
    await world.run("!remind me mañana a las 9:00 | Volantes", room=ROOM)
    assert "next Wednesday 25 November at 17:00 JST" in texts(await world.run("!mydata", room=DM))


async def test_rooms_without_a_zone_keep_showing_each_time_in_its_own_zone(world: World) -> None:
    await world.run("!action add 2026-12-01 10:00 America/Chicago | Piquete", role=C, room=ROOM)
    assert "Tuesday 1 December at 10:00 CST" in texts(await world.run("!actions", room=ROOM))
    out = texts(await world.run("!action add mañana a las 9:00 | x", role=C, room=ROOM))
    assert "Wednesday 25 November at 09:00 UTC" in out  # BOT_DEFAULT_TIMEZONE


async def test_roll_calls_and_pledges_read_spanish_times_in_the_rooms_zone(world: World) -> None:
    await world.run("!room tz America/Chicago", user="@coord:example.org", role=C, room=ROOM)
    out = texts(await world.run("!rollcall start paro ¿Quién se une al paro? --closes el viernes a las 18:00",
                                role=C, room=ROOM))
    assert "Closes Friday 27 November at 18:00 CST." in out
    assert "closes Friday 27 November at 18:00 CST" in texts(await world.run("!rollcall list", room=ROOM))
    out = texts(await world.run("!pledge create carta Firma la carta --goal 10 --deadline 1 de diciembre a las 10:00",
                                role=C, room=ROOM))
    assert "deadline Tuesday 1 December at 10:00 CST" in out
    await world.run("!idioma es", room=DM)
    await world.run("!zona Europe/Madrid", room=DM)
    assert "plazo: martes 1 de diciembre de 2026 a las 17:00 CET" in texts(await world.run("!compromisos", room=DM))


# ---------------------------------------------------------------- daylight saving time in a member's zone


async def test_dst_edges_in_a_members_zone(world: World) -> None:
    await world.run("!idioma es", room=DM)
    await world.run("!zona America/New_York", room=DM)
    world.now = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # Saturday 15:00 EST, the night before spring-forward
    out = texts(await world.run("!recordarme mañana a las 2:30 | x", room=DM))
    assert out == ("2026-03-08 02:30 no existe en America/New_York: esa noche los relojes se adelantan. Elige otra "
                   "hora, por ejemplo `2026-03-08 03:00 America/New_York`.")
    assert "domingo 8 de marzo a las 09:00 EDT" in texts(await world.run("!recordarme mañana a las 9:00 | x",
                                                                            room=DM))
    assert "domingo 8 de marzo a las 15:00 EDT" in texts(await world.run("!recordarme dentro de 1 día | x",
                                                                            room=DM))  # wall clock
    assert "domingo 8 de marzo a las 16:00 EDT" in texts(await world.run("!recordarme en 24 horas | x",
                                                                            room=DM))  # elapsed
    world.now = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # Saturday 12:00 EDT, the night before fall-back
    out = texts(await world.run("!recordarme mañana a la 1:30 | x", room=DM))
    assert out.startswith("2026-11-01 01:30 ocurre dos veces en America/New_York: esa noche los relojes se atrasan.")
    assert "`2026-11-01T01:30-04:00` o `2026-11-01T01:30-05:00`" in out
    assert "domingo 1 de noviembre a las 09:00 EST" in texts(await world.run("!recordarme mañana a las 9:00 | x",
                                                                            room=DM))


async def test_the_default_zone_setting_applies_without_a_choice(make_world_with) -> None:
    world = await make_world_with(BOT_DEFAULT_TIMEZONE="America/New_York")
    out = texts(await world.run("!remind me a las 18:00 | x", room=DM))
    assert "Tuesday 24 November at 18:00 EST" in out
    member = Member(world.keyring, ALICE)
    assert await prefs.member_pref(world.db, world.keyring, member, prefs.ZONE) is None


async def test_a_spanish_room_gets_the_repeat_rule_errors_in_spanish(world: World) -> None:
    await world.run("!room lang es", user="@coord:example.org", role=C, room=ROOM)
    out = texts(await world.run("!action add mañana a las 9:00 | Asamblea --every cada viernes", role=C, room=ROOM))
    assert out == ("No entendí `cada viernes` como regla de repetición. Usa `cada día`, `días laborables`, `cada semana`, "
                   "`cada mes` o una línea cron como `0 9 * * 1-5`.")
    out = texts(await world.run("!action add el 1 de diciembre | Piquete", role=C, room=ROOM))
    assert "martes 1 de diciembre a las 09:00 UTC" in out
    with pytest.raises(CommandError, match="no sirve: el aviso"):
        parse_leads("0m", "es")


def test_repeats_are_described_in_the_readers_language() -> None:
    friday, last = datetime(2026, 11, 27, 9, 0), datetime(2026, 10, 31, 9, 0)
    assert parse_recurrence("weekly").describe(friday) == "every Friday"
    assert parse_recurrence("cada semana").describe(friday, "es") == "cada viernes"
    assert parse_recurrence("mensual").describe(last, "es") == "cada mes el día 31 (o el último día de los meses más cortos)"
    assert parse_recurrence("monthly").describe(last) == "every month on the 31st (or the last day of shorter months)"
    assert parse_recurrence("días laborables").describe(None, "es") == "cada día laborable (de lunes a viernes)"


def test_two_units_are_joined_with_y_in_spanish():
    from commands.common.timeparse import format_duration

    assert format_duration(86400 + 5 * 3600, "es") == "1 día y 5 horas"
    assert format_duration(2 * 3600 + 60, "es") == "2 horas y 1 minuto"
    assert format_duration(86400 + 5 * 3600, "en") == "1 day 5 hours"
