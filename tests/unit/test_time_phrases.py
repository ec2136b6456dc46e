"""A time is never silently wrong (issue #25): each phrase a member types, in Spanish and in English,
with the instant it means or the message that explains why it was not taken. Now is Monday
7 December 2026, 10:00 in Los Angeles, the reader's zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from commands.base import CommandError, Role
from commands.common.timeparse import parse_when
from tests.fakes import DM, ROOM, World, texts

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=LA)
TODAY, TOMORROW = "2026-12-07", "2026-12-08"

# phrase -> "YYYY-MM-DD HH:MM" local in Los Angeles, or "!" and a part of the refusal
SPANISH = [
    ("mañana a las 9:00", f"{TOMORROW} 09:00"), ("mañana a las 9", f"{TOMORROW} 09:00"),
    ("mañana a las 17:30", f"{TOMORROW} 17:30"), ("mañana por la mañana", f"{TOMORROW} 09:00"),
    ("mañana por la tarde", f"{TOMORROW} 15:00"), ("mañana por la noche", f"{TOMORROW} 20:00"),
    ("mañana en la tarde", f"{TOMORROW} 15:00"), ("mañana en la noche", f"{TOMORROW} 20:00"),
    ("mañana al mediodía", f"{TOMORROW} 12:00"), ("mañana a medianoche", f"{TOMORROW} 00:00"),
    ("hoy a las 15:00", f"{TODAY} 15:00"), ("hoy a las 3 de la tarde", f"{TODAY} 15:00"),
    ("hoy por la tarde", f"{TODAY} 15:00"), ("hoy por la noche", f"{TODAY} 20:00"),
    ("esta noche", f"{TODAY} 20:00"), ("esta tarde", f"{TODAY} 15:00"),
    ("por la mañana", f"{TOMORROW} 09:00"), ("por la tarde", f"{TODAY} 15:00"),
    ("por la noche", f"{TODAY} 20:00"), ("mediodía", f"{TODAY} 12:00"), ("al mediodía", f"{TODAY} 12:00"),
    ("medianoche", f"{TOMORROW} 00:00"), ("a medianoche", f"{TOMORROW} 00:00"),
    ("a las 19h", f"{TODAY} 19:00"), ("19 hs", f"{TODAY} 19:00"), ("18 hrs", f"{TODAY} 18:00"),
    ("a las 19 hs", f"{TODAY} 19:00"), ("a las 19 horas", f"{TODAY} 19:00"), ("a las 19h30", f"{TODAY} 19:30"),
    ("a las 7", f"{TOMORROW} 07:00"), ("a las 11", f"{TODAY} 11:00"), ("a las 6 de la tarde", f"{TODAY} 18:00"),
    ("a las 9 de la noche", f"{TODAY} 21:00"), ("a las 2 de la madrugada", f"{TOMORROW} 02:00"),
    ("a las 12 de la noche", f"{TOMORROW} 00:00"), ("a la 1", f"{TOMORROW} 01:00"),
    ("a la 1 de la tarde", f"{TODAY} 13:00"), ("a las 17.30", f"{TODAY} 17:30"), ("a las 6pm", f"{TODAY} 18:00"),
    ("a las 6 p.m.", f"{TODAY} 18:00"), ("a las 10:00", f"{TOMORROW} 10:00"),
    ("en media hora", f"{TODAY} 10:30"), ("en 1 hora y media", f"{TODAY} 11:30"),
    ("en una hora y media", f"{TODAY} 11:30"), ("en hora y media", f"{TODAY} 11:30"),
    ("en 2 horas", f"{TODAY} 12:00"), ("en 2 horas y 30 minutos", f"{TODAY} 12:30"),
    ("en 45 minutos", f"{TODAY} 10:45"), ("en 1 hora", f"{TODAY} 11:00"), ("en un día", f"{TOMORROW} 10:00"),
    ("dentro de 3 días", "2026-12-10 10:00"), ("en 3 días", "2026-12-10 10:00"), ("en 2 semanas", "2026-12-21 10:00"),
    ("dentro de una semana", "2026-12-14 10:00"), ("pasado mañana", "2026-12-09 09:00"),
    ("pasado mañana a las 18:00", "2026-12-09 18:00"), ("pasado mañana por la mañana", "2026-12-09 09:00"),
    ("el viernes", "2026-12-11 09:00"), ("el viernes a las 17:00", "2026-12-11 17:00"),
    ("el viernes 11", "2026-12-11 09:00"), ("el viernes 11 a las 17:00", "2026-12-11 17:00"),
    ("el sábado 12", "2026-12-12 09:00"), ("el domingo 13", "2026-12-13 09:00"),
    ("el martes 15 a las 6 de la tarde", "2026-12-15 18:00"), ("el sábado 12 a las 10 de la mañana", "2026-12-12 10:00"),
    ("el lunes", "2026-12-14 09:00"), ("el lunes 14", "2026-12-14 09:00"), ("el próximo lunes", "2026-12-14 09:00"),
    ("el lunes que viene", "2026-12-14 09:00"), ("este jueves", "2026-12-10 09:00"),
    ("el miércoles por la tarde", "2026-12-09 15:00"), ("el jueves por la noche", "2026-12-10 20:00"),
    ("el jueves en la mañana", "2026-12-10 09:00"), ("el viernes al mediodía", "2026-12-11 12:00"),
    ("el martes 8", f"{TOMORROW} 09:00"), ("el 11", "2026-12-11 09:00"), ("el 11 a las 18:00", "2026-12-11 18:00"),
    ("el día 11", "2026-12-11 09:00"), ("el 5", "2027-01-05 09:00"), ("el 7 a las 11:00", f"{TODAY} 11:00"),
    ("15/12 a las 17:30", "2026-12-15 17:30"), ("15/12", "2026-12-15 09:00"), ("13/12/2026 11:00", "2026-12-13 11:00"),
    ("el domingo 13/12/2026 11:00", "2026-12-13 11:00"), ("el domingo 13/12 a las 11", "2026-12-13 11:00"),
    ("10/12", "2026-12-10 09:00"), ("1/2", "2027-02-01 09:00"), ("5/1/2027", "2027-01-05 09:00"),
    ("13.12.2026", "2026-12-13 09:00"), ("24/12 a las 20:00", "2026-12-24 20:00"), ("13 dic 17:30", "2026-12-13 17:30"),
    ("13 dic. a las 17:30", "2026-12-13 17:30"), ("13 de dic 17:30", "2026-12-13 17:30"),
    ("24 de diciembre", "2026-12-24 09:00"), ("24 de diciembre a las 20:00", "2026-12-24 20:00"),
    ("el 24 de diciembre a las 8 de la noche", "2026-12-24 20:00"), ("1 de enero", "2027-01-01 09:00"),
    ("el 1 de enero de 2027 a las 10:00", "2027-01-01 10:00"), ("5 ene 2027", "2027-01-05 09:00"),
    ("el 15 de marzo", "2027-03-15 09:00"), ("3 feb a las 10:00", "2027-02-03 10:00"),
    ("el 20 de sept", "2027-09-20 09:00"), ("el jueves 10 de diciembre a las 17:00", "2026-12-10 17:00"),
    ("el viernes 11 de diciembre", "2026-12-11 09:00"), ("MAÑANA A LAS 9:00", f"{TOMORROW} 09:00"),
    ("manana a las 9", f"{TOMORROW} 09:00"), ("el sabado 12", "2026-12-12 09:00"),
    ("miércoles a las 10:00", "2026-12-09 10:00"), ("el miercoles 9 a las 19hs", "2026-12-09 19:00"),
    ("2026-12-20 10:00", "2026-12-20 10:00"),
    # refused, saying why and what to type
    ("el viernes 12", "!el 12 de diciembre es sábado, no viernes"), ("el domingo 12/12/2026", "!es sábado, no domingo"),
    ("el 7 de diciembre a las 9:00", "!ya pasó. Si te refieres al año que viene"),
    ("30/11", "!ya pasó"), ("hoy a las 8", "!ya pasó"), ("esta mañana", "!ya pasó"),
    ("el 31 de febrero", "!no es una fecha u hora real"), ("13/13", "!no es una fecha u hora real"),
    ("mañana a las 25:00", "!no es una hora"), ("el viernez", "!Prueba con `mañana a las 9:00`"),
    ("mañana 9", "!`el viernes a las 17:00`"),
]

ENGLISH = [
    ("tomorrow at 9", f"{TOMORROW} 09:00"), ("tomorrow at 9am", f"{TOMORROW} 09:00"),
    ("tomorrow 9am", f"{TOMORROW} 09:00"), ("tomorrow at 17:30", f"{TOMORROW} 17:30"),
    ("tomorrow 5:30pm", f"{TOMORROW} 17:30"), ("tomorrow morning", f"{TOMORROW} 09:00"),
    ("tomorrow afternoon", f"{TOMORROW} 15:00"), ("tomorrow evening", f"{TOMORROW} 18:00"),
    ("tomorrow night", f"{TOMORROW} 20:00"), ("tomorrow at noon", f"{TOMORROW} 12:00"),
    ("tomorrow noon", f"{TOMORROW} 12:00"), ("tomorrow at midnight", f"{TOMORROW} 00:00"),
    ("tonight", f"{TODAY} 20:00"), ("tonight at 9", f"{TODAY} 21:00"), ("tonight at 11pm", f"{TODAY} 23:00"),
    ("this afternoon", f"{TODAY} 15:00"), ("this evening", f"{TODAY} 18:00"), ("noon", f"{TODAY} 12:00"),
    ("midnight", f"{TOMORROW} 00:00"), ("midday", f"{TODAY} 12:00"), ("at noon", f"{TODAY} 12:00"),
    ("9am", f"{TOMORROW} 09:00"), ("5pm", f"{TODAY} 17:00"), ("at 7", f"{TOMORROW} 07:00"),
    ("at 18:30", f"{TODAY} 18:30"), ("18:30", f"{TODAY} 18:30"), ("at 6 in the evening", f"{TODAY} 18:00"),
    ("at 9 in the morning", f"{TOMORROW} 09:00"), ("at 3 in the afternoon", f"{TODAY} 15:00"),
    ("in the evening", f"{TODAY} 18:00"), ("in the morning", f"{TOMORROW} 09:00"), ("at 10:00", f"{TOMORROW} 10:00"),
    ("in 2 hours", f"{TODAY} 12:00"), ("in 30 minutes", f"{TODAY} 10:30"), ("in half an hour", f"{TODAY} 10:30"),
    ("in an hour and a half", f"{TODAY} 11:30"), ("in an hour", f"{TODAY} 11:00"), ("in 3 days", "2026-12-10 10:00"),
    ("in 2 weeks", "2026-12-21 10:00"), ("in 1 month", "2027-01-07 10:00"), ("in 2 hours 30 minutes", f"{TODAY} 12:30"),
    ("in 1 hour and 30 minutes", f"{TODAY} 11:30"), ("2h", f"{TODAY} 12:00"), ("today at 15:00", f"{TODAY} 15:00"),
    ("today 3pm", f"{TODAY} 15:00"), ("day after tomorrow", "2026-12-09 09:00"),
    ("the day after tomorrow at 10am", "2026-12-09 10:00"), ("friday", "2026-12-11 09:00"),
    ("on friday", "2026-12-11 09:00"), ("friday at 5pm", "2026-12-11 17:00"), ("friday 17:00", "2026-12-11 17:00"),
    ("friday 11", "2026-12-11 09:00"), ("friday 11 at 5pm", "2026-12-11 17:00"), ("friday the 11th", "2026-12-11 09:00"),
    ("friday 11 december", "2026-12-11 09:00"), ("Friday 11 December at 18:00", "2026-12-11 18:00"),
    ("saturday 12", "2026-12-12 09:00"), ("sunday 13 at 10am", "2026-12-13 10:00"),
    ("tuesday 15 at 6pm", "2026-12-15 18:00"), ("saturday 12 at 10 in the morning", "2026-12-12 10:00"),
    ("next monday", "2026-12-14 09:00"), ("next monday 10:00", "2026-12-14 10:00"), ("this friday", "2026-12-11 09:00"),
    ("monday", "2026-12-14 09:00"), ("mon 9am", "2026-12-14 09:00"), ("wed at 14:00", "2026-12-09 14:00"),
    ("thursday evening", "2026-12-10 18:00"), ("thursday night", "2026-12-10 20:00"),
    ("friday morning", "2026-12-11 09:00"), ("sunday afternoon", "2026-12-13 15:00"), ("the 11th", "2026-12-11 09:00"),
    ("the 11th at 6pm", "2026-12-11 18:00"), ("on the 24th", "2026-12-24 09:00"), ("Dec 11", "2026-12-11 09:00"),
    ("Dec 11 17:30", "2026-12-11 17:30"), ("Dec 11 at 5:30pm", "2026-12-11 17:30"), ("December 11th", "2026-12-11 09:00"),
    ("11 December", "2026-12-11 09:00"), ("11 Dec 2026 10:00", "2026-12-11 10:00"),
    ("December 24 at 8pm", "2026-12-24 20:00"), ("24th of December", "2026-12-24 09:00"),
    ("Dec 31 23:00", "2026-12-31 23:00"), ("Jan 5", "2027-01-05 09:00"), ("January 5 2027", "2027-01-05 09:00"),
    ("Jan 5, 2027 at 9am", "2027-01-05 09:00"), ("March 15", "2027-03-15 09:00"), ("Feb 3 10:00", "2027-02-03 10:00"),
    ("15/12", "2026-12-15 09:00"), ("15/12 5pm", "2026-12-15 17:00"), ("12/15", "2026-12-15 09:00"),
    ("12/15 at 17:30", "2026-12-15 17:30"), ("24/12/2026 20:00", "2026-12-24 20:00"),
    ("12/24/2026 8pm", "2026-12-24 20:00"), ("sunday 13/12/2026 11:00", "2026-12-13 11:00"),
    ("13.12.2026", "2026-12-13 09:00"), ("2026-12-20 10:00", "2026-12-20 10:00"), ("2026-12-20", "2026-12-20 09:00"),
    ("2026-12-20T10:00", "2026-12-20 10:00"), ("next week", "2026-12-14 09:00"), ("TOMORROW AT 9", f"{TOMORROW} 09:00"),
    ("Tomorrow Morning", f"{TOMORROW} 09:00"), ("friday at noon", "2026-12-11 12:00"),
    ("saturday at midnight", "2026-12-12 00:00"), ("tomorrow at 6 in the evening", f"{TOMORROW} 18:00"),
    ("thursday 10 december 5pm", "2026-12-10 17:00"),
    # refused, saying why and what to type
    ("friday 12", "!12 December is a Saturday, not a Friday. Write the day you mean, like `Saturday 12` or `Friday 11`"),
    ("12/11", "!could be 12 November or December 11. Write the month's name"),
    ("Dec 7 9:00", "!which has passed. If you mean next year, add it: `Tuesday 7 December 2027 at 09:00`"),
    ("Dec 1", "!which has passed"), ("this morning", "!not in the future"), ("tomorrow 9", "!time of day"),
    ("13/13", "!not a real date"), ("feb 30", "!not a real date"), ("blurb", "!Try `tomorrow 9am`"),
]


def _read(text: str, lang: str) -> str:
    try:
        found = parse_when(text, now=NOW, default_zone=LA, lang=lang)
    except CommandError as exc:
        return f"!{exc}"
    assert found.zone == LA
    return f"{found.local:%Y-%m-%d %H:%M}"


def test_the_tables_hold_at_least_a_hundred_phrases_each() -> None:
    assert len({p for p, _ in SPANISH}) >= 100 and len({p for p, _ in ENGLISH}) >= 100


@pytest.mark.parametrize(("text", "expected"), SPANISH)
def test_spanish_phrases(text: str, expected: str) -> None:
    got = _read(text, "es")
    assert (expected[1:] in got and got.startswith("!")) if expected.startswith("!") else got == expected, got


@pytest.mark.parametrize(("text", "expected"), ENGLISH)
def test_english_phrases(text: str, expected: str) -> None:
    got = _read(text, "en")
    assert (expected[1:] in got and got.startswith("!")) if expected.startswith("!") else got == expected, got


def test_a_spanish_reader_reads_dd_mm_day_first_and_an_english_reader_is_asked() -> None:
    assert _read("10/12", "es") == "2026-12-10 09:00"
    assert _read("10/12", "en").startswith("!`10/12` could be 10 December or October 12.")
    assert _read("13/12", "en") == "2026-12-13 09:00"  # only one reading is a real date


# ---------------------------------------------------------------- what the member reads back


async def test_every_confirmation_states_the_exact_date_understood(world: World) -> None:
    world.now = NOW
    world.shell.dms["@alice:example.org"] = DM.room_id
    await world.run("!idioma es", room=DM)
    await world.run("!zona America/Los_Angeles", room=DM)
    out = texts(await world.run("!recordarme a las 7 | Volantes", room=DM))  # 07:00 has passed: tomorrow, said so
    assert out == "Te lo recordaré aquí el martes 8 de diciembre a las 07:00 PST."
    out = texts(await world.run("!recordarme mañana por la tarde | Asamblea", room=DM))
    assert out == "Te lo recordaré aquí el martes 8 de diciembre a las 15:00 PST."  # the default hour, stated
    out = texts(await world.run("!recordarme el 5 de enero | Cuotas", room=DM))
    assert out == "Te lo recordaré aquí el martes 5 de enero de 2027 a las 09:00 PST."  # next year, with its year
    out = texts(await world.run("!recordarme el 7 de diciembre a las 9:00 | x", room=DM))
    assert out == ("`el 7 de diciembre a las 9:00` era el lunes 7 de diciembre de 2026 a las 09:00, y ya pasó. Si te "
                   "refieres al año que viene, escríbelo: `martes 7 de diciembre de 2027 a las 09:00`.")


async def test_an_english_room_with_its_own_zone_reads_back_in_english(world: World) -> None:
    world.now = NOW
    await world.run("!room tz America/Los_Angeles", user="@coord:example.org", role=Role.COORDINATOR, room=ROOM)
    out = texts(await world.run("!action add friday 11 at 5pm | Picket", role=Role.COORDINATOR, room=ROOM))
    assert out.startswith("#1 scheduled for Friday 11 December at 17:00 PST;"), out
    out = texts(await world.run("!action add friday 12 | Picket", role=Role.COORDINATOR, room=ROOM))
    assert out == ("`friday 12`: 12 December is a Saturday, not a Friday. Write the day you mean, like `Saturday 12` "
                   "or `Friday 11`.")
