"""Languages over the real homeserver (issue #18): a member who chooses Spanish in their DM is
answered in Spanish while an English member in the same room is answered in English; a room set to
Spanish gets its news in Spanish; the same announcement reaches each DM in its member's language;
`!olvidar` removes the choice; nothing about the choice is readable on disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import Member, Received, scan_for_secrets

pytestmark = pytest.mark.integration


def said(member: Member, room: str, needle: str) -> list[Received]:
    return [r for r in member.from_bot(room) if needle in r.body]


async def test_each_reader_in_their_own_language(make_bot, members):
    bot = make_bot(BOT_MIN_CELL="2")
    alice = await members("alice", bot)
    bot.extra_env["BOT_ADMINS"] = alice.user_id  # a campaign coordinator (room v12 creators: see test_pledges)
    bot.start()
    bob, carol = await members("bob", bot), await members("carol", bot)
    room = await alice.create_room(invite=(bob.user_id, carol.user_id))
    bob_dm, carol_dm, alice_dm = await bob.create_dm(), await carol.create_dm(), await alice.create_dm()

    # ---- a member chooses Spanish in their DM; the other member stays in English
    assert (await bob.ask(bob_dm, "!idioma es")).body == \
        "Desde ahora te escribo en español en nuestros mensajes directos."  # the glossary: "mensaje directo"
    help_es = (await bob.ask(bob_dm, "!ayuda")).body
    assert "Comandos que puedes usar" in help_es and "!firmar <nombre> [empresa]" in help_es  # usage in Spanish
    assert "Commands you can use" in (await carol.ask(carol_dm, "!help")).body
    assert "Qué guardo y qué nunca guardo" in (await bob.ask(bob_dm, "!privacidad")).body

    # ---- pledges: answers in each member's language, the news in each reader's
    created = await alice.ask(room, "!pledge create carta Firma la carta --threshold 3")  # k = 2: at least 2k-1
    assert "Created pledge `carta`" in created.body  # the room is still English
    assert (await alice.ask(room, "!room lang es")).body == "Desde ahora escribo en español en esta sala."
    ack = await bob.ask(bob_dm, "!firmar carta")
    assert ack.body == "Quedó registrado tu compromiso con `carta`. Menos de 3 personas han firmado."
    ack = await carol.ask(carol_dm, "!pledge carta")
    assert ack.body == "A pledge to `carta` was recorded. Fewer than 3 have signed."
    ack = await alice.ask(alice_dm, "!pledge carta")
    assert ack.body == "A pledge to `carta` was recorded. 3 have signed."
    await alice.wait_for(lambda: said(alice, room, "El compromiso `carta` está activo"))
    await bob.wait_for(lambda: said(bob, bob_dm, "El compromiso `carta` está activo"))
    await carol.wait_for(lambda: said(carol, carol_dm, "Pledge `carta` is active"))
    assert not said(carol, carol_dm, "está activo") and not said(bob, bob_dm, "is active")
    listing = (await bob.ask(bob_dm, "!compromisos")).body
    assert "**Compromisos abiertos**" in listing or "Compromisos abiertos" in listing

    # ---- roll-calls, contracts, reminders: the Spanish member and the Spanish room in Spanish
    assert "Pase de lista" in (await alice.ask(room, "!rollcall start paro ¿Quién se suma al paro?")).body
    answered = await bob.ask(bob_dm, "!aquí Google")
    assert answered.body.startswith("Registré tu respuesta."), answered.body
    assert "Recorded your answer." in (await carol.ask(carol_dm, "!here Google")).body
    contracts = (await bob.ask(bob_dm, "!contratos Palantir")).body
    assert "contratos conocidos relacionados con ICE" in contracts, contracts[:200]
    when = (datetime.now(UTC) + timedelta(seconds=8)).strftime("%Y-%m-%d %H:%M:%S UTC")
    scheduled = await alice.ask(room, f"!action add {when} | Asamblea en la entrada")
    assert "programada" in scheduled.body, scheduled.body
    await alice.wait_for(lambda: said(alice, room, "⏰ Empieza ahora: Asamblea en la entrada"), timeout=40)

    # ---- a zone of his own: his times are read and shown in it, in Spanish
    assert "America/Chicago" in (await bob.ask(bob_dm, "!zona America/Chicago")).body
    reminder = await bob.ask(bob_dm, "!recordarme mañana a las 9:00 | Llamar a Sam")
    assert reminder.body.startswith("Te lo recordaré aquí el ") and "09:00 CST" in reminder.body, reminder.body

    # ---- !misdatos lists the choices; !olvidar removes them, and the answers are English again
    mine = (await bob.ask(bob_dm, "!misdatos")).body
    assert "Tu idioma: español." in mine and "America/Chicago" in mine  # a language's name lowercase mid-sentence
    forgot = await bob.ask(bob_dm, "!olvidar confirmar")
    assert forgot.body.startswith("Listo: borré")
    assert (await bob.ask(bob_dm, "!mydata")).body == "I hold nothing that belongs to you."
    assert "You haven't chosen a time zone" in (await bob.ask(bob_dm, "!tz")).body

    # ---- nothing readable on disk or in the log
    bot.stop()
    needles = [bob.user_id, carol.user_id, "Español", "idioma", "America/Chicago", "Llamar a Sam"]
    files = [p for p in bot.data_dir.iterdir() if p.name != "e2ee"]
    assert scan_for_secrets(files + [bot.directory / "bot-1.log"], needles) == []
