"""Spanish as members type it (issue #25): every command and subcommand has a Spanish name, the two
words mix freely across languages, accents are optional, a Spanish noun never signs anything, help
and usage read Spanish to a Spanish reader (code spans included), typo suggestions only name
commands the reader may use, and a member who writes Spanish first is answered in Spanish."""

from __future__ import annotations

import re

import pytest

from commands import base, load_all
from commands.base import REGISTRY, Role
from commands.common.i18n import number
from storage import prefs
from storage.hashing import Member
from tests.fakes import DM, ROOM, World, texts

C = Role.COORDINATOR
load_all()


def name_of(text: str) -> str | None:
    parsed = base.parse(text, "!")
    assert parsed is not None
    return parsed.command.name if parsed.command else None


@pytest.mark.parametrize(("typed", "expected"), [
    ("!encuesta crear x ¿Sí? | Sí | No", "poll create"), ("!encuesta create x", "poll create"),
    ("!poll crear x", "poll create"), ("!Encuesta Cerrar x", "poll close"), ("!encuesta huelga", "poll"),
    ("!lista iniciar paro Título", "rollcall start"), ("!pasedelista iniciar paro", "rollcall start"),
    ("!lista", "rollcall"), ("!pasedelista paro", "rollcall"), ("!lista cerrar", "rollcall end"),
    ("!rollcall iniciar x", "rollcall start"), ("!listas", "rollcall list"),
    ("!accion agregar mañana | x", "action add"), ("!acción agregar mañana | x", "action add"),
    ("!action agregar x", "action add"), ("!acción add x", "action add"), ("!acción cancelar 3", "action cancel"),
    ("!acción salas 3 agregar", "action rooms"), ("!confirmar 1234", "confirm"),
    ("!contratos buscar reconocimiento", "contracts search"), ("!contratos Palantir", "contracts"),
    ("!recuérdame mañana | x", "remind me"), ("!recuerdame mañana | x", "remind me"),
    ("!recordarme mañana | x", "remind me"), ("!mis datos", "mydata"), ("!misdatos", "mydata"),
    ("!compromiso carta", "pledge info"), ("!compromiso ver carta", "pledge info"),
    ("!firmar carta", "pledge"), ("!compromiso crear carta T", "pledge create"), ("!retirar carta", "unpledge"),
    ("!salas", "rooms"), ("!salas aprobar #x:y", "rooms approve"), ("!salas dejar 2", "rooms leave"),
    ("!sala principal", "home here"), ("!sala idioma es", "room lang"), ("!sala zona UTC", "room tz"),
    ("!difundir Hola", "broadcast"), ("!revisar", "audit"), ("!empresa alias A = B", "company alias"),
    ("!asistencia 3 sí", "rsvp"), ("!aquí Google", "here"), ("!aqui Google", "here"), ("!AQUÍ Google", "here"),
])
def test_spanish_names_and_mixes_reach_the_command(typed: str, expected: str) -> None:
    assert name_of(typed) == expected


def test_every_command_has_a_spanish_name_and_spanish_nouns_never_sign() -> None:
    assert [c.name for c in REGISTRY.values() if not c.aliases] == []
    assert name_of("!compromiso carta") != "pledge"  # a Spanish speaker typing the noun expects to see it
    parsed = base.parse("!mis datos", "!")
    assert parsed is not None and parsed.spanish and parsed.args.rest == ""


async def test_a_slug_cannot_be_a_subcommand_word_in_either_language(world: World) -> None:
    for line in ("!pledge create crear T", "!pledge create ver T", "!poll create cerrar ¿x? | a | b",
                 "!rollcall start iniciar T"):
        assert "Created" not in texts(await world.run(line, role=C)), line


async def test_typo_suggestions_are_in_the_readers_language_and_only_what_they_may_use(world: World) -> None:
    member_es = texts(await _spanish(world, "!firma carta"))
    assert "`!firmar`" in member_es and "confirm" not in member_es
    english = texts(await world.run("!firma carta", room=DM, user="@en:example.org"))
    assert "confirm" not in english
    assert "`!confirm`" in texts(await world.run("!confirn 1234", role=C, user="@en:example.org"))
    assert "`!confirmar`" in texts(await _spanish(world, "!confirma 1234", role=C))
    assert "`!confirmar`" not in texts(await _spanish(world, "!confirma 1234"))


async def _spanish(world: World, text: str, role: Role = Role.MEMBER) -> list[base.Output]:
    await world.run("!idioma es", room=DM, user="@es:example.org")
    return await world.run(text, room=DM, user="@es:example.org", role=role)


# words that must not be left in a Spanish reader's code spans: English placeholders, examples and
# command or option words (company names, zones and cron lines may stay)
ENGLISH_IN_CODE = frozenset("""company slug when text words confirm yes maybe went missed add remove create close
start end list search tomorrow friday thursday closes goal threshold deadline all every remind new zone command
code letter strike walkout here pledge pledges unpledge rollcall help forget mydata rsvp broadcast audit rooms
actions vote poll polls lang tz question option title name day weekday week month typed multi""".split())


async def test_spanish_help_usage_and_examples_are_spanish_and_sorted_by_the_names_seen(world: World) -> None:
    help_all = texts(await _spanish(world, "!ayuda", role=Role.ADMIN))
    for usage in ("`!contratos [<empresa>] [--todas]`", "`!olvidar [confirmar]`",
                  "`!asistencia <n> [sí|quizás|no|fui|falté]`", "`!recuérdame <cuándo> | <texto>`",
                  "`!encuesta crear <nombre> <pregunta> | <opción> | <opción> … [--cierra CUÁNDO] [--varias]`"):
        assert usage in help_all, usage
    shown = re.findall(r"^`!([^` ]+)", help_all, re.M)
    assert shown == sorted(shown, key=lambda w: w.replace("á", "a").replace("í", "i").replace("ó", "o")), shown
    found = []
    for c in REGISTRY.values():
        out = texts(await _spanish(world, f"!ayuda {c.shown_name('es')}", role=Role.ADMIN))
        for span in re.findall(r"`([^`\n]*)`", out):
            plain = re.sub(r"[A-Z][a-z]+/[A-Za-z_]+", " ", span)  # zone names stay as the tz database spells them
            left = {w.lower() for w in re.findall(r"[A-Za-z]+", plain)} & ENGLISH_IN_CODE
            if left:
                found.append(f"{c.name}: `{span}` {sorted(left)}")
        example = c.example_in("es")
        if example is not None:  # every Spanish example is the same command
            assert name_of("!" + example) == c.name, example
    assert found == [], "\n".join(found)


async def test_spanish_option_names_are_accepted(world: World) -> None:
    await world.run("!room lang es", role=C)
    created = texts(await world.run("!compromiso crear carta Firma la carta --meta 10 --umbral 5 --por-empresa",
                                    role=C))
    assert created.startswith("Compromiso `carta` creado") and "meta 10 · umbral 5 por empresa" in created
    poll = texts(await world.run("!encuesta crear huelga ¿Huelga? | Sí | No --varias", role=C))
    assert "huelga" in poll and "--varias" not in poll
    bad = texts(await world.run("!compromiso crear otra T --meta mucho", role=C))
    assert bad.startswith("`--meta` lleva un número entero")


def test_numbers_in_spanish_plurals_are_grouped_without_de() -> None:
    assert number(1_000_000, "es") == "1\u00a0000\u00a0000" and number(1234, "es") == "1234"
    assert number(1_000_000, "en") == "1,000,000"
    from commands.common.i18n import translations
    said = translations("es").ngettext("{n} award, largest first:", "{n} awards, largest first:", 1_000_000)
    assert said.format(n=number(1_000_000, "es")) == "1\u00a0000\u00a0000 contratos, de mayor a menor:"


async def test_a_member_who_writes_spanish_first_is_answered_in_spanish_and_told_once(world: World) -> None:
    await world.run("!rollcall start paro ¿Quién se suma?", user="@coord:example.org", role=C)
    first = texts(await world.run("!aquí Gugle", room=DM))
    assert "Te respondo en español" in first and "`!idioma en`" in first
    assert "Gugle" in first and "Did you mean" not in first
    member = Member(world.keyring, "@alice:example.org")
    assert await prefs.member_pref(world.db, world.keyring, member, prefs.LANGUAGE) == "es"
    again = texts(await world.run("!aquí Google", room=DM))
    assert "Te respondo en español" not in again
    assert "English" not in texts(await world.run("!help", room=DM))  # now Spanish whatever name is typed
    assert "From now on" in texts(await world.run("!idioma en", room=DM))
    assert "Te respondo" not in texts(await world.run("!aquí Google", room=DM))  # a choice is kept


async def test_a_room_whose_language_was_chosen_keeps_it(world: World) -> None:
    await world.run("!room lang en", user="@coord:example.org", role=C)
    out = texts(await world.run("!contratos", room=ROOM))
    assert "Te respondo" not in out
