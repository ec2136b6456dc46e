"""Languages (issue #18), second part: contracts, companies, the campaign's rooms, !audit,
creating and announcing pledges, and the errors found before a command runs (unknown command,
broken quoting, a bad --option) answer a Spanish reader in Spanish, with no English sentence
left outside code spans; English readers keep the English text."""

from __future__ import annotations

import re

from commands import base
from commands.base import Role
from storage.contracts.data import ensure_loaded
from tests.fakes import DM, ROOM, World, texts
from tests.unit.test_ops import BAD, GOOD

C = Role.COORDINATOR
# words that only an English sentence has (none of them is Spanish)
_ENGLISH = re.compile(r"\b(the|you|your|is|are|with|this|that|was|were|room|rooms|pledge|company|known|"
                      r"contracts?|award|awards|give|type|only|there|here|nothing|already|can't|don't|"
                      r"and|or|of|to|in|for|not|it)\b", re.IGNORECASE)


def english_left(text: str) -> list[str]:
    """English words outside code spans and **names** (company and room names stay as they are)."""
    prose = re.sub(r"`[^`\n]*`|\*\*[^*\n]+\*\*", " ", text)
    return _ENGLISH.findall(prose)


async def spanish_dm(world: World, user: str = "@alice:example.org") -> None:
    await world.run("!idioma es", user=user, room=DM)


async def spanish_room(world: World) -> None:
    await world.run("!room lang es", user="@coord:example.org", role=C, room=ROOM)


async def test_errors_found_before_a_command_runs_are_in_the_readers_language(world: World):
    await spanish_dm(world)
    unknown = texts(await world.run("!privcy", room=DM))
    assert unknown == "No conozco el comando `!privcy`. Prueba con `!ayuda`. ¿Quisiste decir `!privacidad`?"
    assert texts(await world.run("!zzzz", room=DM)) == "No conozco el comando `!zzzz`. Prueba con `!ayuda`."
    quote = texts(await world.run('!contratos "Palantir', room=DM))
    assert quote.startswith("Falta cerrar unas comillas.") and not english_left(quote)
    long = texts(await world.run("!ayuda " + "x" * 5000, room=DM))
    assert "demasiado largo" in long and "4000" in long and not english_left(long)
    # the same mistakes in English, for a member who chose nothing
    assert texts(await world.run("!privcy", user="@bob:example.org", room=DM)) == (
        "Unknown command `!privcy`. Try `!help`. Did you mean `!privacy`?")
    assert "A quote is not closed" in texts(await world.run('!contracts "Palantir', user="@bob:example.org", room=DM))


async def test_option_errors_are_in_the_readers_language(world: World):
    await spanish_dm(world)
    await ensure_loaded(world.db)
    unknown = texts(await world.run("!contratos Palantir --todo", room=DM))
    assert unknown == "No conozco la opción `--todo`. Opciones de este comando: `--todas`.\nUso: `!contratos [<empresa>] [--todas]`"
    coordinator = {"user": "@alice:example.org", "role": C, "room": DM}
    for typed, expected in (
        ("!pledge create carta Firma --goal mucho", "`--meta` lleva un número entero, no `mucho`."),
        ("!pledge create carta Firma --goal 0", "`--meta` tiene que ser un número entero mayor que 0, no 0."),
        ("!pledge create carta Firma --goal 99999999", "`--meta` puede ser como mucho 10\u00a0000\u00a0000."),
        ("!pledge create carta Firma --goal", "`--meta` necesita un número, por ejemplo `--meta 100`."),
        ("!pledge create carta Firma --per-company=sí", "`--por-empresa` no lleva valor."),
        ("!pledge create carta Firma --goal 5 --goal 6", "`--meta` está dos veces."),
        ("!pledge create carta Firma --deadline", "`--plazo` necesita una fecha, por ejemplo"),
        ("!pledge create Carta!", "`Carta!` no sirve como nombre de compromiso."),
        ("!pledge create info Firma", "`info` no puede ser nombre de compromiso"),
        ("!pledge create carta", "Escribe el título del compromiso después de su nombre"),
    ):
        answer = texts(await world.run(typed, **coordinator))
        assert answer.startswith(expected), (typed, answer)
        assert not english_left(answer.split("\nUso:")[0]), (typed, answer)


async def test_contracts_in_spanish(world: World):
    await ensure_loaded(world.db)
    await spanish_dm(world)
    found = texts(await world.run("!contratos Palantir", room=DM))
    head, rest = found.split("\n", 1)
    assert head == "**Palantir**: contratos conocidos relacionados con ICE"
    assert "Valor conocido, contando cada contrato una sola vez:" in rest and "de mayor a menor:" in rest
    assert "  Fuente: " in rest and "Source:" not in rest
    for line in rest.splitlines():
        if not line.startswith(("•", "  ")):  # award lines quote the public record as it is
            assert not english_left(line), line
    overview = texts(await world.run("!contratos", room=DM))
    assert overview.startswith("**Empresas con más dinero conocido en contratos relacionados con ICE**")
    assert "empresas en total." in overview and "comprometido" in overview
    nothing = texts(await world.run("!contratos Fabrica Inventada", room=DM))
    assert nothing.startswith("No hay contratos conocidos con ICE de `Fabrica Inventada`.")
    assert not english_left(nothing)
    searched = texts(await world.run("!contracts search facial recognition", room=DM))
    assert "mencionan `facial recognition`, de mayor a menor:" in searched
    in_room = texts(await world.run("!contracts Palantir --all", room=ROOM, user="@coord:example.org", role=C))
    assert in_room.startswith("The full list can be long")  # the room's language is still English
    await spanish_room(world)
    in_room = texts(await world.run("!contracts Palantir --all", room=ROOM))
    assert in_room.startswith("La lista completa puede ser larga") and not english_left(in_room)


async def test_companies_in_spanish(world: World):
    await spanish_dm(world)
    assert texts(await world.run("!empresa AWS", room=DM)).startswith("`AWS` es **Amazon**.\nTambién se conoce como:")
    unknown = texts(await world.run("!empresa Salesforc", room=DM))
    assert unknown.startswith("No conozco la empresa `Salesforc`. ¿Quisiste decir **Salesforce**?")
    assert "Quien coordina puede agregarla" in unknown
    coordinator = {"user": "@alice:example.org", "role": C, "room": DM}
    assert texts(await world.run("!company alias Amazon Fresh = Amazon", **coordinator)) == (
        "Listo: `Amazon Fresh` ahora es **Amazon**.")
    assert texts(await world.run("!company alias Amazon Fresh = Amazon", **coordinator)) == (
        "`Amazon Fresh` ya es **Amazon**. No se cambió nada.")
    created = texts(await world.run("!company alias Cafe Uno = Cafeteria Nueva", **coordinator))
    assert created.startswith("No conozco la empresa `Cafeteria Nueva`.") and "Para crearla, agrega `--nueva`" in created
    for answer in (unknown, created):
        assert not english_left(answer), answer


async def test_campaign_rooms_in_a_spanish_home_room(world: World):
    await spanish_room(world)
    listing = texts(await world.run("!rooms", role=C))
    assert listing.startswith("**Salas de la campaña**\n1. `Test room` (sala principal)")
    assert "`!salas dejar <n>` hace que me salga de una sala." in listing
    answers = [
        texts(await world.run("!home here", role=Role.ADMIN)),
        texts(await world.run("!rooms leave 1", role=C)),
        texts(await world.run("!rooms leave 7", role=C)),
        texts(await world.run("!rooms approve nada", role=C)),
        texts(await world.run("!rooms approve !room:example.org", role=C)),
    ]
    assert answers[0] == "Esta ya es la sala principal. No se cambió nada."
    assert answers[1].startswith("Esa es la sala principal; ahí me quedo.")
    assert answers[2] == "No hay sala 7. `!salas` en la sala principal las muestra."
    assert answers[3].startswith("Dame un ID o alias de sala")
    assert answers[4] == "Esa sala ya es de la campaña. No se cambió nada."
    for answer in answers:
        assert not english_left(answer.split("\nUso:")[0]), answer
    # a coordinator's DM in Spanish sees counts, never names
    await spanish_dm(world, "@coord:example.org")
    counted = texts(await world.run("!rooms", user="@coord:example.org", role=C, room=DM))
    assert counted == ("La campaña tiene 1 sala (0 esperando aprobación). Los nombres solo se muestran en la "
                       "sala principal.")


async def test_audit_in_a_spanish_room(world: World):
    await spanish_room(world)
    world.shell.room_facts = lambda room_id: GOOD  # type: ignore[method-assign]
    good = texts(await world.run("!audit", role=C))
    assert good.startswith("**Revisión de seguridad de la sala: esta sala está bien configurada**")
    assert "`Bob` (moderación)" in good
    world.shell.room_facts = lambda room_id: BAD  # type: ignore[method-assign]
    bad = texts(await world.run("!audit", role=C))
    assert bad.startswith("**Revisión de seguridad de la sala: 7 cosas por arreglar**")
    assert "parece un servidor de Palantir" in bad and "Sin cifrar" in bad
    for text in (good, bad):
        assert not english_left(text.replace("Palantir", "").replace("Google", "")), text
    assert "7 things to fix" in texts(await world.run("!audit", role=C, room=base.RoomView(
        "!other:example.org", "Other", is_dm=False, encrypted=True)))  # another room: English


async def test_creating_and_announcing_a_pledge_in_a_spanish_room(world: World):
    await spanish_room(world)
    created = texts(await world.run("!pledge create carta Firma la carta --goal 10 --threshold 5 --per-company",
                                    role=C))
    assert created == ("Compromiso `carta` creado: “Firma la carta”\nmeta 10 · umbral 5 por empresa\n"
                       "Se firma con `!firmar carta <empresa>`, mejor por mensaje directo conmigo. Se retira con "
                       "`!retirar carta`.")
    assert texts(await world.run("!pledge create carta Otra", role=C)) == "Ya hay un compromiso `carta`. Elige otro nombre."
    small = texts(await world.run("!pledge create poca Firma --goal 2", role=C))
    assert small.startswith("La meta tiene que ser de al menos 5") and not english_left(small)
    rooms = texts(await world.run("!pledge rooms carta", role=C))
    assert rooms == "Las noticias de `carta` van a todos mis mensajes directos y a: `Test room`."
    assert texts(await world.run("!pledge rooms carta add", role=C)) == "Esta sala ya recibe las noticias de `carta`."
    assert texts(await world.run("!compromiso salas carta quitar", role=C)) == "Esta sala ya no recibe las noticias de `carta`."
    assert texts(await world.run("!pledge rooms carta zz", role=C)).startswith("`zz` no es `agregar` ni `quitar`.")
    assert texts(await world.run("!pledge rooms carta remove", role=C)) == "Esta sala no estaba recibiendo las noticias de `carta`."
    await world.run("!pledge close carta", role=C)
    assert texts(await world.run("!pledge close carta", role=C)) == "El compromiso `carta` ya está cerrado."
    assert texts(await world.run("!pledge rooms carta add", role=C)) == "El compromiso `carta` está cerrado."


async def test_help_details_of_these_families_in_spanish(world: World):
    await spanish_dm(world)
    for name in ("contracts", "contracts search", "company", "company alias", "rooms", "rooms approve",
                 "rooms leave", "home here", "audit", "pledge create", "pledge rooms"):
        details = base.REGISTRY[name].details
        assert details, name
        shown = texts(await world.run(f"!ayuda {name}", room=DM, role=Role.ADMIN))
        assert details not in shown, name  # translated, not the English text
        assert not english_left(shown.split("\n", 1)[-1]), (name, shown)
