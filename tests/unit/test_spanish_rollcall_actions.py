"""Roll-calls, actions and reminders in Spanish (issue #18): a Spanish member and a Spanish room
are answered in Spanish, English readers keep English, and what the bot posts to a room or a DM
is worded for that room or DM, never in the language of whoever caused it."""

from __future__ import annotations

import re
from datetime import timedelta

from commands.actions import ActionsDue
from commands.base import DUE_SOURCES, Broadcast, DirectMessage, Output, Post, Reply, Role, RoomView
from commands.language import reader_language
from storage.hashing import Member
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
    "direct message remind i i'll don't can't isn't".split())
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
    world = await make_world_with(BOT_MIN_CELL=2)  # exact from 2k-1 = 3
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
        "`!aquí --tal-cual Salesforse`.")
    assert spanish(await world.run("!aquí", user=member(1), room=DM)) == (
        "Dime en qué empresa trabajas, por ejemplo `!aquí Google`.")
    assert "Uso: `!aquí [nombre] <empresa> [--tal-cual]`" in spanish(
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
                   "`!aquí --tal-cual Salesforse`."]
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
    assert "`!aquí <empresa>`" in started and "menos de 3 respuestas se cuentan juntas" in started
    assert "\nSe cierra el martes 24 de noviembre a las 14:00 UTC." in started
    for i in (1, 2, 4):
        assert spanish(await world.run("!aquí Google", user=member(i), room=ROOM)) == "Registré tu respuesta."
    shown = spanish(await world.run("!rollcall", room=ROOM))
    assert "(abierto; cierre: martes 24 de noviembre a las 14:00 UTC)" in shown
    assert "Google: 3\nOtras empresas: menos de 3\nTotal: al menos 3" in shown
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
    assert "Google: 3\nOtras empresas: menos de 3\nTotal: al menos 3" in final
    assert "Final tallies:" in texts(posts, "en") and "Other companies: fewer than 3" in texts(posts, "en")
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
        ("!rollcall", "No hay ningún pase de lista abierto. `!listas` muestra los recientes."),
        ("!rollcall nada", "No hay ningún pase de lista `nada`. `!listas` muestra los que hay."),
        ("!rollcall list", "Todavía no hay pases de lista. Alguien que coordina puede abrir uno con "
                           "`!lista iniciar`."),
        ("!rollcall start soloslug", "Pon un nombre corto y un título"),
        ("!rollcall start list Título", "`list` no sirve como nombre"),
        ("!lista iniciar cerrar Título", "`cerrar` no sirve como nombre"),
        ("!rollcall start paro Título --closes", "`--cierra` necesita una hora"),
    ]:
        assert expected in spanish(await world.run(line, user=COORD, role=C, room=ROOM)), line
    await start(world, "!rollcall start a Primero")
    await start(world, "!rollcall start b Segundo")
    assert spanish(await world.run("!rollcall start a Otra vez", user=COORD, role=C, room=ROOM)) == (
        "Ya hay un pase de lista `a`. Elige otro nombre.")
    assert spanish(await world.run("!rollcall", room=ROOM)) == (
        "Hay varios pases de lista abiertos: `a`, `b`. Escribe `!lista <nombre>`.")
    assert spanish(await world.run("!aquí Google", user=member(1), room=ROOM)) == (
        "Hay varios pases de lista abiertos: `a`, `b`. Escribe `!aquí <nombre> <empresa>`.")
    await world.run("!rollcall end a", user=COORD, role=C, room=ROOM)
    assert spanish(await world.run("!rollcall end a", user=COORD, role=C, room=ROOM)) == (
        "El pase de lista `a` ya está cerrado. `!lista a` muestra su recuento final.")
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


# ---------------------------------------------------------------- actions and reminders


async def fire(world: World) -> list[Post]:
    async with world.db.transaction():
        return [o for o in await ActionsDue.fire(world.env()) if isinstance(o, Post)]


async def as_read(world: World, post: Post) -> str:
    """A post as its destination reads it: what the codec does (``bot.runtime.rooms.Rooms.language_of``),
    the DM of ``@alice`` in her language, a room in the room's."""
    is_dm = post.room_id == DM.room_id
    lang = await reader_language(world.db, world.keyring, "en", post.room_id, is_dm,
                                 Member(world.keyring, "@alice:example.org") if is_dm else None)
    return texts([post], lang)


async def test_a_spanish_room_schedules_an_action_and_gets_its_reminders_in_spanish(world):
    await spanish_room(world)
    out = await world.run("!action add in 90 minutes | Piquete --remind 1d,1h,30s", user=COORD, role=C, room=ROOM)
    assert spanish(out) == ("Acción #1 programada para el martes 24 de noviembre a las 13:30 UTC; habrá recordatorios 1 hora y "
                            "30 segundos antes. Sin recordatorio 1 día antes: ese momento ya pasó.")
    assert spanish(await world.run("!acciones", room=ROOM)) == (
        "**Próximas acciones**\n**#1** martes 24 de noviembre a las 13:30 UTC, una vez: Piquete "
        "(Asistencia: sí menos de 5, quizás menos de 5)")  # shown with no answer too: 0 reads like a few
    world.now += timedelta(minutes=30)
    first = await fire(world)
    assert [p.room_id for p in first] == [ROOM.room_id] and callable(first[0].text)
    assert spanish(first) == ("⏰ Recordatorio: Piquete, empieza en 1 hora (martes 24 de noviembre a las 13:30 UTC, "
                              "acción #1)\nAsistencia: sí menos de 5, quizás menos de 5")
    assert texts(first, "en") == ("⏰ Reminder: Piquete, starts in 1 hour (Tuesday 24 November at 13:30 UTC, action #1)"
                                  "\nRSVPs: yes fewer than 5, maybe fewer than 5")
    world.now += timedelta(minutes=59, seconds=30)
    assert "empieza en 30 segundos" in spanish(await fire(world))
    world.now += timedelta(seconds=40)  # 10 s late
    late = spanish(await fire(world))
    assert late == ("⏰ Piquete: empezó el martes 24 de noviembre a las 13:30 UTC (acción #1)\n"
                    "Asistencia: sí menos de 5, quizás menos de 5\n"
                    "(Llega tarde: estuve sin conexión cuando tocaba.)")
    assert spanish(await world.run("!acciones", room=ROOM)).startswith("Aquí no hay acciones próximas.")


async def test_repeating_actions_are_described_in_spanish(world):
    await spanish_room(world)
    for line, rule in [("2026-12-01 10:00 | Asamblea --every weekday", "cada día laborable (de lunes a viernes)"),
                       ("2026-12-01 10:00 | Reunión --every week", "cada martes"),
                       ("2026-12-05 10:00 | Volanteo --every week", "cada sábado"),
                       ("2026-12-31 10:00 | Cuotas --every month", "cada mes el día 31 (o el último día de los "
                                                                    "meses más cortos)"),
                       ("2026-12-02 10:00 | Diario --every day", "todos los días"),
                       ("2026-12-02 10:00 | Lunes --every 0 9 * * 1", "según la línea cron `0 9 * * 1`")]:
        out = spanish(await world.run(f"!action add {line}", user=COORD, role=C, room=ROOM))
        assert f"Se repite {rule} (UTC)." in out, out
        assert f", {rule}: " in spanish(await world.run("!acciones", room=ROOM))
    await world.run("!room lang en", user=COORD, role=C, room=ROOM)
    listing = texts(await world.run("!actions", room=ROOM))
    assert "**#1** Tuesday 1 December at 10:00 UTC, every weekday (Monday to Friday): Asamblea" in listing
    assert "every Saturday: Volanteo" in listing and "every month on the 31st (or the last day" in listing


async def test_a_room_linked_to_a_spanish_action_reads_in_its_own_language(world):
    world.shell.views = [ROOM, OTHER, DM]
    await spanish_room(world)
    await world.run("!action add in 1 hour | Mitin", user=COORD, role=C, room=ROOM)
    out = await world.run("!action rooms 1 add", user=COORD, role=C, room=OTHER)  # an English room asks
    code_ = texts(out).split("confirm ")[1][:4]
    assert texts(out).startswith("To add this room to #1's reminders")
    out = await world.run(f"!confirm {code_}", user=COORD, role=C, room=ROOM)
    assert spanish([o for o in out if isinstance(o, Reply)]) == (
        "La sala `Other room` ahora también recibe los recordatorios de la acción #1.")
    linked = [o for o in out if isinstance(o, Post)]
    assert [p.room_id for p in linked] == [OTHER.room_id]
    assert await as_read(world, linked[0]) == (
        "This room now also gets reminders for #1: Mitin (Tuesday 24 November 2026 at 13:00 UTC, once).")
    assert "(programada en otra sala)" not in texts(await world.run("!actions", room=OTHER))
    world.now += timedelta(hours=1)
    read = {p.room_id: await as_read(world, p) for p in await fire(world)}
    assert read == {ROOM.room_id: "⏰ Empieza ahora: Mitin (martes 24 de noviembre a las 13:00 UTC, acción #1)\n"
                                  "Asistencia: sí menos de 5, quizás menos de 5",
                    OTHER.room_id: "⏰ Starting now: Mitin (Tuesday 24 November at 13:00 UTC, action #1)\n"
                                   "RSVPs: yes fewer than 5, maybe fewer than 5"}
    assert spanish(await world.run("!action rooms 1 remove", user=COORD, role=C, room=ROOM)) == (
        "Esta sala no recibe recordatorios adicionales de la acción #1.")


async def test_a_spanish_member_gets_personal_reminders_in_spanish_wherever_they_asked(world):
    world.shell.dms["@alice:example.org"] = DM.room_id
    await world.run("!idioma es", room=DM)
    assert spanish(await world.run("!recordarme in 2 hours | Llamar a Sam", room=DM)) == (
        "Te lo recordaré aquí el martes 24 de noviembre a las 14:00 UTC.")
    # asked in an English room: answered in her DM, in her own language, reminded there
    out = await world.run("!recordarme in 3 hours | Traer volantes", room=ROOM)
    assert texts(out) == ("I answered you in our direct chat.\n"  # the room: one neutral line; her DM: the
                          "Te lo recordaré en nuestros mensajes directos el martes 24 de noviembre a las 15:00 UTC.")
    spanish(await world.run("!misdatos", room=DM))
    assert ("2 recordatorios personales (en espera: 2, el próximo: martes 24 de noviembre a las 14:00 UTC; los textos y "
            "nuestros mensajes directos van cifrados)") in texts(await world.run("!misdatos", room=DM))
    world.now += timedelta(hours=2)
    sent = await fire(world)
    assert [(p.room_id, p.msgtype) for p in sent] == [(DM.room_id, "m.text")]
    assert await as_read(world, sent[0]) == "⏰ Recordatorio: Llamar a Sam (martes 24 de noviembre de 2026 a las 14:00 UTC)"
    world.now += timedelta(hours=1, seconds=30)
    late = await as_read(world, (await fire(world))[0])
    assert late == ("⏰ Recordatorio: Traer volantes (martes 24 de noviembre de 2026 a las 15:00 UTC)\n"
                    "(Llega tarde: estuve sin conexión cuando tocaba.)")
    assert "(entregados o vencidos: 2;" in texts(await world.run("!misdatos", room=DM))
    await world.run("!lang en", room=DM)
    world.now += timedelta(hours=1)
    await world.run("!remind me in 1 hour | Back in English", room=DM)
    world.now += timedelta(hours=1)
    assert await as_read(world, (await fire(world))[0]) == (
        "⏰ Reminder: Back in English (Tuesday 24 November 2026 at 17:00 UTC)")


async def test_action_errors_and_confirmations_in_spanish(world):
    world.shell.views = [ROOM, OTHER, DM]
    await spanish_room(world)
    for line, expected in [
        ("!action add tomorrow 9am Llamar", "Pon una `|` entre la hora y el texto, por ejemplo "
                                            "`!acción agregar mañana a las 9:00 | Llamar al concejo`."),
        ("!action add tomorrow 9am | ", "Escribe la acción después de la `|`"),
        ("!action add tomorrow 9am | " + "x" * 1001, "Ese texto es demasiado largo (más de 1000 caracteres)."),
        ("!action add tomorrow 9am | x --remind 3q", "No entendí `3q` como tiempo de aviso."),
        ("!action add tomorrow 9am | x --remind 0s", "`0s` no sirve: el aviso tiene que ser de al menos `1s`."),
        ("!action add tomorrow 9am | x --remind 0m", "`0m` no sirve: el aviso tiene que ser de al menos `1m`."),
        ("!action add tomorrow 9am | x --remind 400d", "`400d` es demasiada antelación."),
        ("!action add tomorrow 9am | x --remind 1m,2m,3m,4m,5m,6m,7m,8m,9m,10m,11m", "Eso son 11 tiempos de aviso"),
        ("!action add tomorrow 9am | x --every fortnight", "No entendí `fortnight` como regla de repetición. Usa "
                                                           "`cada día`, `días laborables`, `cada semana`, `cada mes` o una línea "
                                                           "cron como `0 9 * * 1-5`."),
        ("!action add tomorrow 9am | x --every */5 * * * *", "se dispararía más de una vez por hora"),
        ("!action add tomorrow 9am | x --every 0 9 31 2 *", "no es una línea cron que pueda usar"),
        ("!action add tomorrow 9am | x --every " + "day " * 30, "Esa regla de repetición es demasiado larga."),
        ("!action cancel", "Indica el número de la acción.\nUso: `!acción cancelar <n>`"),
        ("!action cancel x", "`x` no es un número de acción. `!acciones` muestra los números."),
        ("!action cancel 7", "En esta sala no hay ninguna acción #7 pendiente. Mira `!acciones`."),
        ("!action rooms 7", "Indica el número de la acción y `agregar` o `quitar`."),
        ("!action rooms 7 add", "No hay ninguna acción #7 pendiente."),
        ("!broadcast", "Escribe el texto que quieres enviar a todas las salas."),
        ("!broadcast " + "x" * 1001, "Ese texto es demasiado largo"),
        ("!confirm 12", "Escribe el código de 4 cifras que te mostré."),
        ("!confirm 1234", "No hay nada pendiente con el código `1234` en esta sala."),
        ("!recordarme tomorrow 9am Llamar", "`!recuérdame mañana a las 9:00 | Llevar los volantes`"),
        ("!recordarme tomorrow 9am | ", "Escribe qué quieres que te recuerde después de la `|`"),
        ("!recordarme tomorrow 9am | x --every day", "Los recordatorios personales no llevan opciones."),
        ("!recordarme tomorrow 9am | x", "todavía no tenemos uno"),
    ]:
        assert expected in spanish(await world.run(line, user=COORD, role=C, room=ROOM)), line
    await world.run("!action add in 1 hour | Mitin", user=COORD, role=C, room=ROOM)
    assert spanish(await world.run("!action rooms 1 add", user=COORD, role=C, room=ROOM)) == (
        "La acción #1 se programó en esta sala, así que esta sala ya recibe sus recordatorios.")
    assert spanish(await world.run("!action cancel #1", user=COORD, role=C, room=ROOM)) == (
        "Cancelé la acción #1; ya no habrá más recordatorios.")
    out = spanish(await world.run("!broadcast Paro a mediodía", user=COORD, role=C, room=ROOM))
    assert out.startswith("Va a 2 salas y a los mensajes directos de menos de 5 personas que se unieron con "
                          "código. Responde `!confirmar ") and out.endswith("` antes de 5 minutos para enviarla.")
    code_ = out.split("confirmar ")[1][:4]
    assert spanish(await world.run(f"!confirm {code_}", user="@other:example.org", role=C, room=ROOM)) == (
        "Solo puede confirmarlo quien lo pidió.")
    sent = await world.run(f"!confirm {code_}", user=COORD, role=C, room=ROOM)
    assert sent[0] == Broadcast((ROOM.room_id, OTHER.room_id), "Paro a mediodía", "m.text")  # the coordinator's words


async def test_action_help_in_spanish(world):
    await world.run("!idioma es", room=DM)
    for name in ("action add", "action rooms", "broadcast", "recordarme", "acciones", "confirm"):
        spanish(await world.run(f"!ayuda {name}", role=C, room=DM))
