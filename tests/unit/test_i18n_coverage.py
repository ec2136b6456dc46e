"""Every member-facing text goes through the catalog (issue #18): every registered command, its
error paths and every background output, run for a Spanish reader, leave no English sentence
outside code spans. The check is by English words that are not Spanish ones, so a text that
bypasses the catalog (or lacks a translation) is caught wherever it is produced."""

from __future__ import annotations

import re
from datetime import timedelta

from commands import base
from commands.base import DUE_SOURCES, REGISTRY, Role
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
ADMIN = Role.ADMIN
# English words that are no Spanish words (nor company names or command words outside code spans)
ENGLISH = frozenset("""the you your is are was were and with this that have has not for what will can of to
from it be by or an which when who would should please only there their they been being into about after
before than then them these those its our out over under again once more most other some such own same so
too very just don does did doing having here yet""".split())
_CODE = re.compile(r"`[^`\n]*`")
_URL = re.compile(r"https?://\S+")

# Spanish content for what members and coordinators type, so that only the bot's own words are checked
SEED = [
    "!pledge create carta Firma la carta abierta --goal 10 --threshold 5",
    "!pledge create paro Paro si se suman 5 por empresa --per-company --threshold 5",
    "!rollcall start asamblea ¿Quién viene a la asamblea?",
    "!poll create huelga ¿Huelga el viernes? | Sí | No | Más adelante",
    "!action add dentro de 2 días | Llamar a la oficina del concejo --remind 1d,1h",
]
# (command, role, room) for a Spanish reader; every registered command appears at least once
RUNS = [
    ("!ayuda", base.Role.MEMBER, DM), ("!ayuda firmar", base.Role.MEMBER, DM), ("!ayuda zzz", base.Role.MEMBER, DM),
    ("!privacidad", base.Role.MEMBER, DM), ("!misdatos", base.Role.MEMBER, DM), ("!misdatos", base.Role.MEMBER, ROOM),
    ("!olvidar", base.Role.MEMBER, DM),
    ("!idioma", base.Role.MEMBER, DM), ("!idioma zz", base.Role.MEMBER, DM),
    ("!room lang", C, ROOM), ("!room lang zz", C, ROOM), ("!room lang es", base.Role.MEMBER, ROOM),
    ("!firmar carta", base.Role.MEMBER, DM), ("!firmar carta", base.Role.MEMBER, DM), ("!firmar", base.Role.MEMBER, DM),
    ("!firmar cartx", base.Role.MEMBER, DM), ("!firmar paro", base.Role.MEMBER, DM),
    ("!firmar paro Amazn", base.Role.MEMBER, ROOM), ("!firmar paro Amazon", base.Role.MEMBER, DM),
    ("!retirar carta", base.Role.MEMBER, DM), ("!retirar carta", base.Role.MEMBER, DM),
    ("!compromisos", base.Role.MEMBER, DM), ("!pledge info paro", base.Role.MEMBER, DM),
    ("!pledge create carta Otra", C, ROOM), ("!pledge create x1 T --threshold 2", C, ROOM),
    ("!pledge create x2 T --goal 2", C, ROOM), ("!pledge create x3 T --deadline whenever-ish", C, ROOM),
    ("!pledge create Mal_Nombre T", C, ROOM), ("!pledge create", C, ROOM),
    ("!pledge rooms carta", C, ROOM), ("!pledge rooms carta add", C, ROOM), ("!pledge rooms carta zz", C, ROOM),
    ("!pledge close paro", C, ROOM), ("!pledge close paro", C, ROOM),
    ("!aquí Google", base.Role.MEMBER, DM), ("!aquí", base.Role.MEMBER, DM), ("!presente zz Amazn", base.Role.MEMBER, DM),
    ("!rollcall", base.Role.MEMBER, DM), ("!rollcall asamblea", base.Role.MEMBER, ROOM), ("!rollcall list", base.Role.MEMBER, DM),
    ("!rollcall start Mal_Nombre T", C, ROOM), ("!rollcall end zz", C, ROOM),
    ("!empresa AWS", base.Role.MEMBER, DM), ("!empresa zzqqx", base.Role.MEMBER, DM),
    ("!company alias Fresca = Amazon", C, ROOM), ("!company alias", C, ROOM),
    ("!contratos", base.Role.MEMBER, DM), ("!contratos zzqqx", base.Role.MEMBER, DM),
    ("!contracts search", base.Role.MEMBER, DM),
    ("!acciones", base.Role.MEMBER, ROOM), ("!action add", C, ROOM), ("!action add whenever-ish | x", C, ROOM),
    ("!action cancel 999", C, ROOM), ("!action rooms 999 add", C, ROOM),
    ("!recordarme dentro de 1 hora | Traer los volantes", base.Role.MEMBER, DM), ("!recordarme", base.Role.MEMBER, DM),
    ("!broadcast", C, ROOM), ("!broadcast status", C, ROOM), ("!broadcast Paro a mediodía. Nos vemos en la entrada.", C, ROOM),
    ("!confirm 0000", C, ROOM), ("!audit", C, ROOM), ("!alertas", C, ROOM), ("!alertas aquí", C, ROOM),
    ("!alertas zz", C, ROOM), ("!alertas", C, DM),
    ("!rooms", C, ROOM), ("!rooms approve zz", C, ROOM), ("!rooms leave 99", C, ROOM), ("!home here", ADMIN, ROOM),
    ("!votar huelga 1", base.Role.MEMBER, DM), ("!votar huelga", base.Role.MEMBER, DM),
    ("!votar huelga 9", base.Role.MEMBER, DM), ("!encuesta huelga", base.Role.MEMBER, DM), ("!encuestas", base.Role.MEMBER, DM),
    ("!poll create", C, ROOM), ("!poll rooms huelga add", C, ROOM), ("!poll close huelga", C, ROOM),
    ("!zona", base.Role.MEMBER, DM), ("!zona Mars/Olympus", base.Role.MEMBER, DM),
    ("!zona America/Chicago", base.Role.MEMBER, DM), ("!room tz", C, ROOM), ("!room tz Nowhere/Land", C, ROOM),
    ("!asistencia 1 sí", base.Role.MEMBER, DM), ("!asistencia 1", base.Role.MEMBER, DM),
    ("!asistencia 1 quizás", base.Role.MEMBER, DM), ("!asistencia 1 fui", base.Role.MEMBER, DM),
    ("!asistencia 9 sí", base.Role.MEMBER, DM), ("!asistencia", base.Role.MEMBER, DM),
    ("!zzz", base.Role.MEMBER, DM), ('!firmar "sin cerrar', base.Role.MEMBER, DM),
    ("!pledge create x4 T --colour red", C, ROOM), ("!pledge create x5 T --goal many", C, ROOM),
    # issue 28: charts and the weekly digest
    ("!gráfico compromiso paro", base.Role.MEMBER, DM), ("!grafico compromiso carta", base.Role.MEMBER, DM),
    ("!gráfico lista asamblea", base.Role.MEMBER, ROOM), ("!gráfico asistencia 1", base.Role.MEMBER, ROOM),
    ("!gráfico asistencia 999", base.Role.MEMBER, ROOM), ("!gráfico", base.Role.MEMBER, DM),
    ("!gráfico compromiso zz", base.Role.MEMBER, DM),
    ("!resumen", C, ROOM), ("!resumen no", C, ROOM), ("!resumen sí", C, ROOM), ("!resumen zz", C, ROOM),
    ("!resumen", C, DM),
    # issue 26: members by code, vouching, the hotline
    ("!codigos", C, ROOM), ("!codigos nuevo 2 --uses 3", C, ROOM), ("!codes new", C, ROOM),
    ("!codes new 99", C, ROOM), ("!codigos", C, ROOM), ("!codes revoke ZZZZ", C, ROOM), ("!codigos revocar", C, ROOM),
    ("!unirme ZZZZ-ZZZZ-ZZZZ-ZZZZ", base.Role.MEMBER, DM), ("!unirme", base.Role.MEMBER, DM),
    ("!unirme ZZZZ", base.Role.MEMBER, ROOM), ("!silencio", base.Role.MEMBER, DM),
    ("!silencio sí", base.Role.MEMBER, DM), ("!silencio no", base.Role.MEMBER, DM),
    ("!avalar", base.Role.MEMBER, DM), ("!avalar", base.Role.MEMBER, ROOM), ("!avalar", base.Role.MEMBER, DM),
    ("!avalar otra", base.Role.MEMBER, DM), ("!vouch limit 3", C, ROOM), ("!vouch limit", C, ROOM),
    ("!action dms 1 add", C, ROOM), ("!action dms 1 remove", C, ROOM), ("!action dms 999 add", C, ROOM),
    ("!action dms", C, ROOM),
    ("!preguntar ¿Hay reunión el viernes?", base.Role.MEMBER, DM), ("!preguntar ¿Y el turno de noche?", base.Role.MEMBER, DM),
    ("!preguntar", base.Role.MEMBER, DM), ("!preguntar hola", base.Role.MEMBER, ROOM),
    ("!responder Q1 Sí, a las seis", C, ROOM), ("!responder Q99 no", C, ROOM), ("!responder", C, ROOM),
    ("!bloquear Q1", C, ROOM), ("!bloquear Q1", C, ROOM), ("!bloquear Q99", C, ROOM), ("!bloquear", C, ROOM),
    ("!preguntar otra", base.Role.MEMBER, DM), ("!misdatos", base.Role.MEMBER, DM),
    ("!salir", base.Role.MEMBER, DM), ("!salir", base.Role.MEMBER, ROOM), ("!salir confirmar", base.Role.MEMBER, DM),
]


def english_words(text: str) -> list[str]:
    plain = _URL.sub(" ", _CODE.sub(" ", text)).replace("**", " ")
    return [w for w in re.findall(r"[a-zA-Z']+", plain) if w.lower() in ENGLISH]


async def test_every_command_error_and_background_output_is_spanish_for_a_spanish_reader(world: World):
    world.shell.views.append(base.RoomView("!other:example.org", "Otra sala", is_dm=False, encrypted=True))
    await world.run("!room lang es", user="@coord:example.org", role=C, room=ROOM)
    for text in SEED:
        await world.run(text, user="@coord:example.org", role=C, room=ROOM)
    for i in range(5):
        await world.run("!idioma es", user=f"@m{i}:example.org", room=DM)
        await world.run("!votar huelga 1", user=f"@m{i}:example.org", room=DM)
    await world.run("!idioma es", room=DM)
    covered: set[str] = set()
    found: list[str] = []
    for text, role, room in RUNS:
        parsed = base.parse(text, "!")
        if parsed is not None and parsed.command is not None:
            covered.add(parsed.command.name)
        out = texts(await world.run(text, role=role, room=room), "es")
        if english_words(out):
            found.append(f"{text} → {out[:160]!r}")
    world.now += timedelta(days=30)
    for source in DUE_SOURCES.values():
        async with world.db.transaction():  # as the scheduler runs them
            out = texts(await source.fire(world.env()), "es")
        if english_words(out):
            found.append(f"{source.name} → {out[:160]!r}")
    assert found == [], "\n".join(found)
    assert covered == set(REGISTRY), sorted(set(REGISTRY) - covered)
