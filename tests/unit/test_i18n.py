"""Languages (issue #18, first part): the catalogs are complete and compiled, a member chooses
their language (kept sealed as their data), a coordinator sets a room's, and the commands
translated so far answer in it, with Spanish command words beside the English ones."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from commands import base
from commands.base import DirectMessage, Reply
from commands.common import i18n
from commands.language import reader_language
from storage import prefs
from storage.hashing import Member
from tests.fakes import DM, ROOM, World

ROOT = Path(__file__).resolve().parents[2]
PO = i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
C = base.Role.COORDINATOR


def texts(outputs: list[base.Output]) -> str:
    return "\n".join(getattr(o, "text", "") for o in outputs)


def _marked() -> set[str]:
    """Every text the code marks for translation, as ``pybabel extract -F babel.cfg`` finds it."""
    found: set[str] = set()
    for folder in ("bot", "commands"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_marked_text_has_a_spanish_translation_and_the_compiled_catalog_is_current():
    catalog = read_po(PO.open("rb"))
    translated = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in catalog if m.id}
    missing = sorted(t for t in _marked() if t not in translated)
    assert missing == [], f"run pybabel extract/update and translate: {missing[:5]}"
    empty = sorted(k for k, m in translated.items() if not all(m.string if isinstance(m.string, tuple) else [m.string])
                   or m.fuzzy)
    assert empty == [], f"untranslated or fuzzy in es: {empty[:5]}"
    compiled = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["es"])
    for key, message in translated.items():
        expected = message.string[0] if isinstance(message.string, tuple) else message.string
        got = compiled.ngettext(key, message.id[1], 1) if isinstance(message.id, tuple) else compiled.gettext(key)
        assert got == expected, f"commands/locale is stale: run pybabel compile ({key[:40]!r})"


def test_placeholders_and_code_spans_survive_translation():
    catalog = read_po(PO.open("rb"))
    for message in catalog:
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        for text in (message.string,) if isinstance(message.string, str) else message.string:
            for field in ("{prefix}", "{k}", "{p}", "{language}", "{choices}", "{n}", "{usage}", "{role}"):
                assert (field in source) == (field in text), (field, source[:50])
            assert source.count("`") == text.count("`"), source[:50]


def test_language_words():
    assert [i18n.language(w) for w in ("es", "Español", "espanol", "SPANISH", "en", "inglés", "fr")] == [
        "es", "es", "es", "es", "en", "en", None]


async def test_a_member_chooses_spanish_and_is_answered_in_it_in_their_dm(world: World):
    out = await world.run("!idioma es", room=DM)
    assert texts(out) == "Desde ahora te escribo en español en nuestros mensajes directos."
    member = Member(world.keyring, "@alice:example.org")
    assert await prefs.member_pref(world.db, world.keyring, member, prefs.LANGUAGE) == "es"
    raw = await world.db.fetchall("SELECT * FROM member_prefs")
    assert b"es" not in b"".join(bytes(c) for row in raw for c in row if isinstance(c, bytes))  # sealed
    assert "**Comandos que puedes usar**" in texts(await world.run("!ayuda", room=DM))
    assert "Qué guardo y qué nunca guardo" in texts(await world.run("!privacidad", room=DM))
    assert "Tu idioma: español." in texts(await world.run("!misdatos", room=DM))
    # another member, and the same member in a room, are answered in English
    assert "**Commands you can use**" in texts(await world.run("!help", user="@bob:example.org", room=DM))
    assert "**Commands you can use**" in texts(await world.run("!ayuda", room=ROOM))
    assert "Solo alguien que coordina la campaña" in texts(await world.run("!room lang es", room=DM))


async def test_forget_removes_the_language(world: World):
    await world.run("!lang es", room=DM)
    assert "olvidar confirmar" in texts(await world.run("!olvidar", room=DM))
    out = await world.run("!olvidar confirmar", room=DM)
    assert texts(out) == "Listo: borré 1 dato tuyo."
    assert await reader_language(world.db, world.keyring, "en", DM.room_id, True,
                                 Member(world.keyring, "@alice:example.org")) == "en"
    assert texts(await world.run("!mydata", room=DM)) == "I hold nothing that belongs to you."


async def test_a_coordinator_sets_a_rooms_language(world: World):
    refused = await world.run("!room lang es", room=ROOM)
    assert "Only a coordinator of the campaign" in texts(refused)
    out = await world.run("!room lang es", user="@coord:example.org", role=C, room=ROOM)
    assert texts(out) == "Desde ahora escribo en español en esta sala."
    assert "**Comandos que puedes usar**" in texts(await world.run("!help", room=ROOM))
    assert "Solo alguien que coordina la campaña" in texts(await world.run("!room lang en", room=ROOM))
    # a member's own choice does not change the room's
    await world.run("!lang en", user="@bob:example.org", room=ROOM)
    assert "**Comandos que puedes usar**" in texts(await world.run("!help", user="@bob:example.org", room=ROOM))
    answer = await world.run("!lang en", user="@bob:example.org", room=ROOM)  # in the room: a neutral line in
    assert answer == [Reply("Te respondí por mensaje directo.", private=True),  # the room's language, the
                      DirectMessage("From now on I write to you in English in our DM. "  # answer in Bob's DM in his
                                    "In a room I keep to the room's language.")]  # own
    assert "Type this in the room" in texts(await world.run("!room lang es", role=C, room=DM))


async def test_unknown_language_and_the_default_setting(make_world_with):
    world = await make_world_with(BOT_DEFAULT_LANGUAGE="es")
    out = await world.run("!lang klingon", room=DM)
    assert "No tengo el idioma `klingon`" in texts(out) and "Uso: `!idioma [en|es]`" in texts(out)
    assert "Te escribo en español" in texts(await world.run("!lang", room=DM))
    assert "From now on I write to you in English" in texts(await world.run("!lang en", room=DM))


def test_a_missing_catalog_is_an_error_not_english():
    with pytest.raises(ValueError):
        i18n.translations("fr")


async def test_a_spanish_member_signs_a_pledge_in_spanish(world: World):
    await world.run("!pledge create carta Firma la carta --goal 10", user="@coord:example.org", role=C)
    await world.run("!idioma es", room=DM)
    out = await world.run("!firmar carta", room=DM)
    assert texts(out) == "Quedó registrado tu compromiso con `carta`. Menos de 5 personas han firmado."
    listing = texts(await world.run("!compromisos", room=DM))
    assert "**Compromisos abiertos**" in listing and "░░░░░░░░░░ menos de 5 de 10" in listing
    assert "Firma con `!firmar <nombre>`" in listing
    assert texts(await world.run("!retirar carta", room=DM)) == "Retiré tu firma de `carta`. Menos de 5 personas han firmado."
    # the Spanish help shows the Spanish names, and the English names keep working
    help_text = texts(await world.run("!ayuda", room=DM))
    assert "`!firmar <nombre> [empresa]` — Firma un compromiso" in help_text and "`!olvidar [confirmar]`" in help_text
    assert "Quedó registrado" in texts(await world.run("!pledge carta", room=DM))


def test_pybabel_extracts_and_compiles_the_shipped_catalog(tmp_path):
    """The documented workflow runs here as in CI: ``pybabel extract`` finds nothing the Spanish
    catalog lacks, and ``pybabel compile`` of the .po gives the .mo that is shipped."""
    import shutil
    import subprocess
    import sys

    pybabel = str(Path(sys.executable).with_name("pybabel"))
    pot = tmp_path / "organizer_bot.pot"
    subprocess.run([pybabel, "-q", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "ngettext:1,2", "--no-location",
                    "-o", str(pot), "."], cwd=ROOT, check=True)
    extracted = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(pot.open("rb")) if m.id}
    shipped = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(PO.open("rb")) if m.id}
    assert extracted <= shipped, sorted(extracted - shipped)[:5]
    compiled = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, compiled)
    subprocess.run([pybabel, "-q", "compile", "-d", str(compiled), "-D", i18n.DOMAIN], check=True)
    ours = gettext.GNUTranslations((compiled / "es" / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo").open("rb"))
    theirs = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["es"])
    assert ours._catalog == theirs._catalog  # type: ignore[attr-defined]
