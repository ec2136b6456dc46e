"""Roll-calls, actions and reminders in Spanish (issue #18): a Spanish member and a Spanish room
are answered in Spanish, English readers keep English, and what the bot posts to a room or a DM
is worded for that room or DM, never in the language of whoever caused it."""

from __future__ import annotations

import re
from datetime import timedelta

from commands.base import DUE_SOURCES, DirectMessage, Output, Post, Reply, Role, RoomView
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
COORD = "@coord:example.org"
OTHER = RoomView("!other:example.org", "Other room", is_dm=False, encrypted=True)

# Words of English sentences (none of them is Spanish). What may stay English in a Spanish text:
# code spans (command words, slugs, member input), company names, and the times and durations
# that commands.common.timeparse formats (made locale-aware by another part of issue #18).
ENGLISH = frozenset(
    "the you your is are was and with of to in it its this that here there answer answers answered "
    "recorded updated companies company other fewer least roll-call roll-calls closed closes open "
    "reminder reminders action actions starts started starting now late offline scheduled once every "
    "room rooms before after skipped cancelled confirm code give type shows show yet more upcoming "
    "direct message chat remind i i'll don't can't isn't".split())
_TIME = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                   r"(?: \d{4})? \d{2}:\d{2}(?: [A-Z]{2,5}|[+-]\d{2,4})?")
_DURATION = re.compile(r"\b\d+ (?:week|day|hour|minute)s?\b|less than a minute")


def english_words(text: str) -> set[str]:
    """The English words left in ``text`` outside code spans, times and durations."""
    plain = _DURATION.sub(" ", _TIME.sub(" ", re.sub(r"`[^`]*`", " ", text)))
    return {w for w in re.findall(r"[a-z][a-z'-]*", plain.lower()) if w in ENGLISH}


def spanish(outputs: list[Output], lang: str = "es") -> str:
    """The outputs' text as a Spanish reader reads it, checked to hold no English sentence."""
    text = texts(outputs, lang)
    assert text.strip(), "no answer"
    assert english_words(text) == set(), text
    return text.strip()


def member(i: int) -> str:
    return f"@member{i}:example.org"


async def spanish_room(world: World) -> None:
    assert "español" in texts(await world.run("!room lang es", user=COORD, role=C, room=ROOM))


async def start(world: World, line: str = "!rollcall start paro ¿Quién se suma al paro?",
                room: RoomView = ROOM) -> str:
    return texts(await world.run(line, user=COORD, role=C, room=room))


# ---------------------------------------------------------------- roll-calls


async def test_a_spanish_member_answers_a_rollcall_in_their_dm(make_world_with):
    world = await make_world_with(BOT_MIN_CELL=3)
    await world.run("!idioma es", user=member(1), room=DM)
    assert spanish(await world.run("!aquí Google", user=member(1), room=DM)) == (
        "Ahora mismo no hay ningún pase de lista abierto.")
    await start(world)
    assert spanish(await world.run("!aquí Google", user=member(1), room=DM)) == (
        "Registré tu respuesta. Pase de lista `paro`: **Google**.")
    assert spanish(await world.run("!presente Meta", user=member(1), room=DM)) == (
        "Actualicé tu respuesta. Pase de lista `paro`: **Meta**.")
    assert spanish(await world.run("!aquí Salesforse", user=member(1), room=DM)) == (
        "¿Quisiste decir Salesforce? Responde `!aquí Salesforce` para confirmar, o "
        "`!aquí --as-typed Salesforse`.")
    assert spanish(await world.run("!aquí", user=member(1), room=DM)) == (
        "Dime en qué empresa trabajas, por ejemplo `!aquí Google`.")
    assert "Uso: `!here [slug] <company> [--as-typed]`" in spanish(
        await world.run("!aquí Google --bogus", user=member(1), room=DM))
    tallies = spanish(await world.run("!rollcall", user=member(1), room=DM))
    assert tallies.startswith("**Pase de lista `paro`: ¿Quién se suma al paro?** (abierto)\n")
    assert "Otras empresas: menos de 3" in tallies and "Total: menos de 3" in tallies
    assert 'Datos de las 12:00 UTC. Las empresas con menos de 3 respuestas se cuentan juntas en "Otras empresas".' \
        in tallies
    assert "Pase de lista `paro` (abierto): respondiste **Meta**" in spanish(
        await world.run("!misdatos", user=member(1), room=DM))
    # the same figures for an English member, in English
    english = texts(await world.run("!rollcall", user=member(2), room=DM))
    assert "Other companies: fewer than 3" in english and "Total: fewer than 3" in english


async def test_in_an_english_room_a_spanish_member_reads_the_room_reply_in_english_and_the_dm_in_spanish(world):
    world.shell.dms[member(1)] = DM.room_id
    await world.run("!idioma es", user=member(1), room=DM)
    await start(world)
    out = await world.run("!aquí Salesforse", user=member(1), room=ROOM)
    room_text = " ".join(o.text for o in out if isinstance(o, Reply))
    assert room_text == "I didn't record anything yet: I sent you a question in a direct message."
    dms = [o.text for o in out if isinstance(o, DirectMessage)]
    assert dms == ["¿Quisiste decir Salesforce? Responde `!aquí Salesforce` para confirmar, o "
                   "`!aquí --as-typed Salesforse`."]
    out = await world.run("!aquí AWS", user=member(1), room=ROOM)
    assert [o.text for o in out if isinstance(o, Reply)] == ["Recorded your answer."]
    assert [o.text for o in out if isinstance(o, DirectMessage)] == [
        "Registré tu respuesta. Pase de lista `paro`: **Amazon**."]


async def test_a_spanish_room_gets_its_rollcall_in_spanish_and_english_readers_keep_english(make_world_with):
    world = await make_world_with(BOT_MIN_CELL=2)
    await spanish_room(world)
    started = spanish(await world.run("!rollcall start paro ¿Quién se suma al paro? --closes in 2 hours",
                                      user=COORD, role=C, room=ROOM))
    assert started.startswith("**Pase de lista `paro`: ¿Quién se suma al paro?**\n¿Quién se suma y de qué empresa?")
    assert "`!aquí <company>`" in started and "menos de 2 respuestas se cuentan juntas" in started
    assert "\nCierre: Tue 24 Nov 2026 14:00 UTC." in started
    for i in (1, 2):
        assert spanish(await world.run("!aquí Google", user=member(i), room=ROOM)) == "Registré tu respuesta."
    shown = spanish(await world.run("!rollcall", room=ROOM))
    assert "(abierto; cierre: Tue 24 Nov 2026 14:00 UTC)" in shown and "Google: 2\nTotal: 2" in shown
    listing = spanish(await world.run("!rollcall list", room=ROOM))
    assert listing.startswith("**Pases de lista abiertos**\n• `paro`: ¿Quién se suma al paro? (cierre: ")
    assert "Registré" not in texts(await world.run("!here Meta", user=member(3), room=DM))  # English DM
    # closed by the scheduler: posted in the room it was started in, worded for that room
    source = DUE_SOURCES["rollcalls"]
    world.now += timedelta(hours=2)
    async with world.db.transaction():
        posts = [o for o in await source.fire(world.env()) if isinstance(o, Post)]
    assert [p.room_id for p in posts] == [ROOM.room_id] and callable(posts[0].text)
    final = spanish(posts)
    assert final.startswith("**El pase de lista `paro` está cerrado: ¿Quién se suma al paro?**\nRecuento final:\n")
    assert "Google: 2\nOtras empresas: menos de 2\nTotal: al menos 2" in final
    assert "Final tallies:" in texts(posts, "en") and "Other companies: fewer than 2" in texts(posts, "en")
    assert "(cerrado)" in spanish(await world.run("!rollcall paro", room=ROOM))
    assert "**Cerrados hace poco**" in spanish(await world.run("!rollcall list", room=ROOM))
    assert spanish(await world.run("!aquí paro Google", user=member(1), room=ROOM)) == (
        "El pase de lista `paro` está cerrado.")


async def test_a_rollcall_closed_from_an_english_room_is_posted_in_spanish_in_its_spanish_room(world):
    world.shell.views = [ROOM, OTHER, DM]
    await spanish_room(world)
    await start(world)
    out = await world.run("!rollcall end paro", user=COORD, role=C, room=OTHER)
    replies = [o for o in out if isinstance(o, Reply)]
    posts = [o for o in out if isinstance(o, Post)]
    assert len(replies) == 1 and replies[0].text.startswith("**Roll-call `paro` is closed")
    assert [p.room_id for p in posts] == [ROOM.room_id]
    assert spanish(posts).startswith("**El pase de lista `paro` está cerrado")


async def test_rollcall_errors_in_spanish(world):
    await spanish_room(world)
    for line, expected in [
        ("!rollcall", "No hay ningún pase de lista abierto. `!rollcall list` muestra los recientes."),
        ("!rollcall nada", "No hay ningún pase de lista `nada`. `!rollcall list` muestra los que hay."),
        ("!rollcall list", "Todavía no hay pases de lista. Alguien que coordina puede abrir uno con "
                           "`!rollcall start`."),
        ("!rollcall start soloslug", "Pon un nombre corto (el slug) y un título"),
        ("!rollcall start list Título", "`list` no sirve como nombre"),
        ("!rollcall start paro Título --closes", "`--closes` necesita una hora"),
    ]:
        assert expected in spanish(await world.run(line, user=COORD, role=C, room=ROOM)), line
    await start(world, "!rollcall start a Primero")
    await start(world, "!rollcall start b Segundo")
    assert spanish(await world.run("!rollcall start a Otra vez", user=COORD, role=C, room=ROOM)) == (
        "Ya hay un pase de lista `a`. Elige otro nombre.")
    assert spanish(await world.run("!rollcall", room=ROOM)) == (
        "Hay varios pases de lista abiertos: `a`, `b`. Escribe `!rollcall <slug>`.")
    assert spanish(await world.run("!aquí Google", user=member(1), room=ROOM)) == (
        "Hay varios pases de lista abiertos: `a`, `b`. Escribe `!aquí <slug> <company>`.")
    await world.run("!rollcall end a", user=COORD, role=C, room=ROOM)
    assert spanish(await world.run("!rollcall end a", user=COORD, role=C, room=ROOM)) == (
        "El pase de lista `a` ya está cerrado. `!rollcall a` muestra su recuento final.")
    out = await world.run("!aquí a Google", user=member(1), room=ROOM)  # one open: `a Google` is a name
    assert spanish([o for o in out if isinstance(o, Reply)]) == (
        "Todavía no registré nada: te mandé una pregunta por mensaje directo.")
    assert "Did you mean Google?" in texts([o for o in out if isinstance(o, DirectMessage)])  # an English DM
    await start(world, "!rollcall start c Tercero")
    assert spanish(await world.run("!aquí a Google", user=member(1), room=ROOM)) == (
        "El pase de lista `a` está cerrado.")
    assert spanish(await world.run("!aquí b " + "x" * 81, user=member(1), room=ROOM)) == (
        "Ese nombre de empresa es demasiado largo: usa menos de 80 caracteres.")
    assert spanish(await world.run("!aquí b ¡¿!?", user=member(1), room=ROOM)) == (
        "El nombre de una empresa necesita letras o números.")
    assert spanish(await world.run("!rollcall start d " + "x" * 201, user=COORD, role=C, room=ROOM)) == (
        "Ese título es demasiado largo: usa menos de 200 caracteres.")


async def test_rollcall_help_in_spanish(world):
    await world.run("!idioma es", room=DM)
    for name in ("rollcall start", "aquí", "rollcall"):
        spanish(await world.run(f"!ayuda {name}", role=C, room=DM))
