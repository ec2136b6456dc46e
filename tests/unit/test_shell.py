"""The shell's command path without a homeserver: failures, rollback, dedup, throttling,
wakes after the commit, the campaign's gate, and the one codec between outputs and outbox rows."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from nio import MatrixRoom, RoomCreateEvent

from bot.runtime import campaign as campaign_shell
from bot.runtime.campaign import not_member_answer
from bot.runtime.intake import FAILED_TEXT, THROTTLE_TEXT
from bot.runtime.sending import outputs
from bot.runtime.sending.outputs import BroadcastTo, Leave, Origin, Redact, ReplyTarget, Send, SendDM
from bot.runtime.shell import MatrixShell
from commands import base
from commands.base import (
    REGISTRY,
    Announce,
    Broadcast,
    DirectMessage,
    LeaveRoom,
    Post,
    RedactCommand,
    Reply,
    command,
)
from commands.common.i18n import translations
from storage import campaign, prefs
from storage.core import EventBook
from storage.hashing import Member


@pytest.fixture
def exploding_command():
    @command("explode", usage="", summary="test only")
    async def explode(ctx, args):
        await EventBook(ctx.db, ctx.keyring).set_room_flag("!written:x", "half-done")  # must be rolled back
        ctx.wake("scheduler")  # must not wake: nothing was committed
        raise RuntimeError("secret member text in the exception")

    yield
    del REGISTRY["explode"]


@pytest.fixture
def waking_command():
    @command("plan", usage="", summary="test only")
    async def plan(ctx, args):
        await EventBook(ctx.db, ctx.keyring).set_room_flag("!planned:x", "planned")
        ctx.wake("scheduler")
        ctx.wake("nobody-registered")  # unknown services are ignored
        return [Reply("planned")]

    yield
    del REGISTRY["plan"]


class FakeService:
    def __init__(self, db) -> None:
        self.db = db
        self.woken_in_transaction: list[bool] = []

    async def run(self) -> None: ...

    def wake(self) -> None:
        self.woken_in_transaction.append(self.db._raw.in_transaction)


async def _shell(world) -> tuple[MatrixShell, MatrixRoom]:
    shell = MatrixShell(world.settings, world.db, world.keyring)
    room = MatrixRoom("!room:example.org", "@bot:example.org", encrypted=True)
    room.add_member("@bot:example.org", "bot", None)
    room.add_member("@alice:example.org", "alice", None)
    room.add_member("@carol:example.org", "carol", None)
    await shell.attach(SimpleNamespace(user_id="@bot:example.org", rooms={room.room_id: room}))  # type: ignore[arg-type]
    shell.known.campaign.configured_home = room.room_id  # the campaign's home room (BOT_HOME_ROOM)
    return shell, room


async def _add_campaign_room(shell: MatrixShell, world, room_id: str) -> None:
    async with world.db.transaction():
        await campaign.add_room(world.db, world.keyring, room_id)
    await shell.known.campaign.refresh(shell.book)


def _event(event_id: str, body: str, sender: str = "@alice:example.org") -> SimpleNamespace:
    return SimpleNamespace(event_id=event_id, sender=sender, server_timestamp=0,
                           source={"content": {"msgtype": "m.text", "body": body}})


async def _run(shell: MatrixShell, room: MatrixRoom, event_id: str, body: str, relation=None, **kw) -> None:
    await shell.intake.run_command(room, _event(event_id, body, **kw), base.parse(body, "!"), relation or {}, False)


async def _rows(world) -> list:
    return [outputs.decode(item.room_id, item.payload) for item in await EventBook(world.db, world.keyring).pending()]


async def _sent(world) -> list[str]:
    return [record.content["body"] for record in await _rows(world)]


async def test_handler_error_answers_politely_rolls_back_and_logs_no_text(world, exploding_command, caplog):
    shell, room = await _shell(world)
    service = FakeService(world.db)
    shell.add_service("scheduler", service)
    caplog.set_level(logging.INFO)
    await _run(shell, room, "$e1", "!explode")
    assert await _sent(world) == [FAILED_TEXT]
    book = EventBook(world.db, world.keyring)
    assert await book.room_flag("!written:x", "half-done") is None
    assert await book.handled("$e1")
    assert service.woken_in_transaction == []
    assert "command explode failed: RuntimeError" in caplog.text
    assert "secret member text" not in caplog.text and "alice" not in caplog.text

    # the same event again (a re-delivered sync batch) is not answered twice
    await _run(shell, room, "$e1", "!explode")
    assert await _sent(world) == [FAILED_TEXT]


async def test_wake_reaches_the_service_after_the_commit_and_never_the_outbox(world, waking_command):
    shell, room = await _shell(world)
    service = FakeService(world.db)
    shell.add_service("scheduler", service)
    await _run(shell, room, "$w1", "!plan")
    assert service.woken_in_transaction == [False]  # woken once, after the commit
    assert await EventBook(world.db, world.keyring).room_flag("!planned:x", "planned") == 1
    rows = await _rows(world)
    assert len(rows) == 1 and isinstance(rows[0], Send) and rows[0].content["body"] == "planned"
    await _run(shell, room, "$w1", "!plan")  # re-delivered: neither run nor woken again
    assert service.woken_in_transaction == [False]


async def test_reply_relation_and_thread(world):
    shell, room = await _shell(world)
    await _run(shell, room, "$e2", "!help", {"rel_type": "m.thread", "event_id": "$root"})
    item = (await EventBook(world.db, world.keyring).pending())[0]
    relation = item.payload["content"]["m.relates_to"]
    assert relation == {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                        "m.in_reply_to": {"event_id": "$e2"}}
    assert item.payload["content"]["msgtype"] == "m.notice"
    assert item.payload["content"]["format"] == "org.matrix.custom.html"


async def test_private_replies_carry_no_relation(world):
    shell, room = await _shell(world)
    async with world.db.transaction():
        await shell.outbox.enqueue([Reply("recorded", private=True)],
                                   Origin("$e3", room.room_id, ReplyTarget("$e3"), None))
    item = (await EventBook(world.db, world.keyring).pending())[0]
    assert "m.relates_to" not in item.payload["content"]


async def test_flooding_member_is_throttled_with_one_notice(make_world_with):
    world = await make_world_with(BOT_MEMBER_RATE=3)
    shell, room = await _shell(world)
    for i in range(8):
        await _run(shell, room, f"$f{i}", "!privacy")
    sent = await _sent(world)
    assert sent.count(THROTTLE_TEXT) == 1
    assert len(sent) == 4  # three answers, one notice, the rest ignored
    await _run(shell, room, "$c1", "!help", sender="@carol:example.org")
    assert "Commands you can use" in (await _sent(world))[-1]


async def test_coordinator_role_from_home_room_power_levels_and_v12_creators(world):
    shell, room = await _shell(world)
    known = shell.known
    assert known.role(room, "@alice:example.org") == base.Role.MEMBER
    room.power_levels.users["@alice:example.org"] = 50
    assert known.role(room, "@alice:example.org") == base.Role.COORDINATOR
    room.room_version = "12"
    create = RoomCreateEvent.parse_event({
        "type": "m.room.create", "sender": "@dave:example.org", "state_key": "", "event_id": "$c",
        "origin_server_ts": 0, "content": {"room_version": "12", "additional_creators": ["@carol:example.org"]}})
    known.note_creators(room.room_id, [create])
    assert known.role(room, "@carol:example.org") == base.Role.COORDINATOR
    assert known.role(room, "@dave:example.org") < base.Role.COORDINATOR  # a creator not in the home room
    room.add_member("@dave:example.org", "dave", None)
    assert known.role(room, "@dave:example.org") == base.Role.COORDINATOR
    room.room_version = "10"
    assert known.role(room, "@carol:example.org") == base.Role.MEMBER


# ---------------------------------------------------------------- the codec


async def test_every_output_kind_becomes_a_typed_row_and_decodes_back(world):
    shell, room = await _shell(world)
    other = MatrixRoom("!other:example.org", "@bot:example.org", encrypted=True)
    outside = MatrixRoom("!outside:example.org", "@bot:example.org", encrypted=True)  # not a campaign room
    shell.client.rooms[other.room_id] = other  # type: ignore[union-attr]
    shell.client.rooms[outside.room_id] = outside  # type: ignore[union-attr]
    await _add_campaign_room(shell, world, other.room_id)
    room.power_levels.users["@bot:example.org"] = 50  # may redact
    origin = Origin("$o1", room.room_id, ReplyTarget("$o1"), "@alice:example.org")
    async with world.db.transaction():
        await shell.outbox.enqueue([
            Reply("hi"), Post("!other:example.org", "posted", "m.text"), DirectMessage("psst"),
            Announce("news", ("!other:example.org", "!gone:example.org", outside.room_id, room.room_id), all_dms=False),
            Broadcast(("!other:example.org", outside.room_id), "all of you"), RedactCommand(),
            LeaveRoom("!other:example.org"),
        ], origin)
    book = EventBook(world.db, world.keyring)
    items = await book.pending()
    stem = f"ob{book.txn_prefix('$o1')}"
    # answers (reply, DM, redaction, leaving) come before bulk sends (post, announcement, broadcast)
    assert [item.txn_id for item in items] == [f"{stem}.0", f"{stem}.2", f"{stem}.5", f"{stem}.6", f"{stem}.1",
                                               f"{stem}.3.0", f"{stem}.3.1", f"{stem}.4"]
    by_txn = {item.txn_id: outputs.decode(item.room_id, item.payload) for item in items}
    records = [by_txn[f"{stem}.{n}"] for n in ("0", "1", "2", "3.0", "3.1", "4", "5", "6")]
    reply, post, dm, ann1, ann2, broadcast, redact, leave = records
    assert isinstance(reply, Send) and reply.room_id == room.room_id
    assert reply.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$o1"}}
    assert post == Send("!other:example.org", outputs.content("posted", "m.text"))
    assert dm == SendDM("@alice:example.org", outputs.content("psst"))
    assert [ann1.room_id, ann2.room_id] == ["!other:example.org", room.room_id]  # type: ignore[union-attr]
    assert broadcast == BroadcastTo(("!other:example.org",), outputs.content("all of you", "m.text"), room.room_id)
    assert redact == Redact(room.room_id, "$o1")
    assert leave == Leave("!other:example.org")
    for record in records:  # one codec, both ways
        assert record is not None and outputs.decode(*record.row()) == record


def test_rows_queued_by_the_previous_version_still_decode():
    content = {"msgtype": "m.notice", "body": "hi"}
    assert outputs.decode("!r:x", {"kind": "send", "content": content}) == Send("!r:x", content)
    assert outputs.decode("!r:x", {"kind": "dm", "user": "@a:x", "content": content}) == SendDM("@a:x", content)
    assert outputs.decode("", {"kind": "dm", "user": "@a:x", "any_device": True, "content": content}) == SendDM(
        "@a:x", content, any_device=True)
    assert outputs.decode("!r:x", {"kind": "redact", "event_id": "$e"}) == Redact("!r:x", "$e")
    assert outputs.decode("!r:x", {"kind": "leave"}) == Leave("!r:x")  # as the #16 branch queued it
    assert outputs.decode("!r:x", {"kind": "broadcast", "rooms": ["!a:x", "!b:x"], "content": content}) == (
        BroadcastTo(("!a:x", "!b:x"), content, "!r:x"))
    assert outputs.decode("", {"kind": "broadcast", "rooms": [], "content": content}).report_room == ""  # type: ignore[union-attr]
    # and the new rows are byte-for-byte the old format
    assert SendDM("@a:x", content).row() == ("", {"kind": "dm", "user": "@a:x", "content": content})
    assert Send("!r:x", content).row() == ("!r:x", {"kind": "send", "content": content})
    # a row this version cannot read is dropped by the sender, not crashed on
    assert outputs.decode("!r:x", {"kind": "telepathy"}) is None
    assert outputs.decode("!r:x", {"kind": "send"}) is None


async def test_redact_without_power_tells_coordinators_once(world):
    shell, room = await _shell(world)
    assert not shell.known.can_redact(room.room_id)  # power 0, redaction needs 50
    for n in range(2):
        async with world.db.transaction():
            await shell.outbox.enqueue([RedactCommand()], Origin(f"$r{n}", room.room_id, ReplyTarget(f"$r{n}"), None))
    records = await _rows(world)
    assert len(records) == 1 and records[0].content["body"] == outputs.NO_REDACT_TEXT


# ---------------------------------------------------------------- the campaign's gate


async def test_power_in_a_campaign_room_that_is_not_home_makes_a_room_coordinator(world):
    shell, home = await _shell(world)
    other = MatrixRoom("!other:example.org", "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@mallory:example.org"):
        other.add_member(user, user[1:4], None)
    other.power_levels.users["@mallory:example.org"] = 100
    shell.client.rooms[other.room_id] = other  # type: ignore[union-attr]
    assert shell.known.role(other, "@mallory:example.org") == base.Role.MEMBER  # not a campaign room yet
    await _add_campaign_room(shell, world, other.room_id)
    assert shell.known.role(other, "@mallory:example.org") == base.Role.ROOM_COORDINATOR
    assert shell.known.role(home, "@mallory:example.org") == base.Role.MEMBER


async def test_a_command_in_a_room_outside_the_campaign_gets_one_line_and_runs_nothing(world):
    shell, _home = await _shell(world)
    outside = MatrixRoom("!outside:example.org", "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@mallory:example.org", "@alice:example.org"):
        outside.add_member(user, user[1:4], None)
    outside.power_levels.users["@alice:example.org"] = 100
    shell.client.rooms[outside.room_id] = outside  # type: ignore[union-attr]
    assert outside.room_id not in {view.room_id for view in shell.rooms()}  # never a target of anything
    await _run(shell, outside, "$x1", "!pledge create letter Sign it", sender="@alice:example.org")  # a member
    assert await _sent(world) == [shell.known.campaign.outside_text(outside.room_id, translations("en").gettext)]
    assert (await world.db.fetchone("SELECT COUNT(*) FROM pledges"))[0] == 0


async def test_someone_outside_the_campaign_leaves_no_row_in_a_room_outside_it(world):
    """Issue #23 item 10: an outsider's DM after a restart (no longer known as a DM) or a "DM" of
    three is a room outside the campaign; the outsider's commands there leave no row."""
    shell, _home = await _shell(world)
    outside = MatrixRoom("!outside:example.org", "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@mallory:example.org", "@eve:example.org"):
        outside.add_member(user, user[1:4], None)
    shell.client.rooms[outside.room_id] = outside  # type: ignore[union-attr]
    said: list[str] = []

    async def fake_send(room_id, content, txn_id, any_device=False):
        said.append(content["body"])
        return "$sent"

    shell.outbox.send = fake_send  # type: ignore[method-assign]
    await _run(shell, outside, "$x1", "!pledges", sender="@mallory:example.org")
    await asyncio.sleep(0.01)
    assert said == [campaign_shell.NOT_MEMBER_TEXT.format(prefix="!")]
    for table in ("processed_events", "outbox", "room_flags", "member_flags"):
        assert (await world.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] == 0  # noqa: S608
    assert shell.known.campaign.unapproved_rooms() == []  # never stored: no approval list entry either


async def test_a_non_members_dm_is_answered_once_and_nothing_is_stored(world):
    shell, _home = await _shell(world)
    dm = MatrixRoom("!dm:example.org", "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@outsider:example.org"):
        dm.add_member(user, user[1:4], None)
    shell.client.rooms[dm.room_id] = dm  # type: ignore[union-attr]
    shell.known._dm_refs.add(world.keyring.ref("room", dm.room_id))  # joined as a DM, in memory only
    sent: list[tuple[str, str]] = []

    async def fake_send(room_id, content, txn_id, any_device=False):
        sent.append((room_id, txn_id))
        return "$sent"

    shell.outbox.send = fake_send  # type: ignore[method-assign]
    for _ in range(2):
        await _run(shell, dm, "$o1", "!pledge letter", sender="@outsider:example.org")
        await asyncio.sleep(0)
    assert [room for room, _ in sent] == [dm.room_id, dm.room_id]
    assert sent[0][1] == sent[1][1]  # a resend reuses the transaction ID: the homeserver de-duplicates
    assert not await EventBook(world.db, world.keyring).handled("$o1")
    for table in ("processed_events", "outbox", "room_flags", "member_flags"):
        assert (await world.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] == 0  # noqa: S608


async def test_strict_trust_tells_a_member_on_an_unverified_device_and_an_outsider_nothing(make_world_with, caplog):
    caplog.set_level(logging.DEBUG)
    world = await make_world_with(BOT_TRUST="cross-signed")
    shell, _home = await _shell(world)
    outsider = _event("$u1", "!pledges", sender="@outsider:example.org")
    assert not await shell.intake._from_trusted_device(outsider)
    for table in ("processed_events", "outbox", "member_flags"):
        assert (await world.db.fetchone(f"SELECT COUNT(*) FROM {table}"))[0] == 0  # noqa: S608
    assert not await shell.intake._from_trusted_device(_event("$u2", "!pledges"))  # alice, in the home room
    rows = await _rows(world)
    assert len(rows) == 1 and isinstance(rows[0], SendDM) and rows[0].user == "@alice:example.org"
    logged = caplog.text
    assert "unverified device" in logged  # the line is there, and tags nobody (issue #23)
    for who in ("@alice:example.org", "@outsider:example.org"):
        member = Member(world.keyring, who)
        assert member.tag not in logged and world.keyring.ref("log", who).hex()[:6] not in logged
        assert repr(member) == str(member) == "<Member>"


async def test_an_invited_user_is_no_member_until_they_join(world):
    shell, room = await _shell(world)
    room.add_member("@dave:example.org", "dave", None, invited=True)  # nio lists invitees in room.users
    await shell.known.campaign.refresh(shell.book)
    assert not shell.known.campaign.is_member("@dave:example.org")
    assert shell.known.campaign.is_member("@carol:example.org")
    facts = shell.known.facts(room.room_id)
    assert facts is not None and facts.member_servers == {"example.org": 3}  # bot, alice, carol: not dave


# ---------------------------------------------------------------- the shell's notices in the reader's language


async def test_the_shells_notices_in_spanish(make_world_with):
    world = await make_world_with(BOT_TRUST="cross-signed")
    shell, room = await _shell(world)
    async with world.db.transaction():
        await prefs.set_room_pref(world.db, world.keyring, room.room_id, prefs.LANGUAGE, "es")
        await prefs.set_member_pref(world.db, world.keyring, Member(world.keyring, "@alice:example.org"),
                                    prefs.LANGUAGE, "es")
    # an unknown command typed in a Spanish room: the error found by parse, in the room's language
    await _run(shell, room, "$s1", "!privcy")
    assert await _sent(world) == ["No conozco el comando `!privcy`. Prueba con `!ayuda`. ¿Quisiste decir `!privacidad`?"]
    # no power to redact: coordinators are told in the room's language
    async with world.db.transaction():
        await shell.outbox.enqueue([RedactCommand()], Origin("$s2", room.room_id, ReplyTarget("$s2"), None))
    assert (await _sent(world))[-1].startswith("Coordinación: aquí no puedo borrar")
    # a command from an unverified session: the member is told in their own language
    assert not await shell.intake._from_trusted_device(_event("$s3", "!pledges"))
    rows = await _rows(world)
    assert isinstance(rows[-1], SendDM) and rows[-1].content["body"].startswith("Ignoré un comando de una de tus")


async def test_a_room_outside_the_campaign_and_a_non_member_in_spanish(make_world_with):
    world = await make_world_with(BOT_DEFAULT_LANGUAGE="es")
    shell, _home = await _shell(world)
    outside = MatrixRoom("!outside:example.org", "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@alice:example.org"):
        outside.add_member(user, user[1:4], None)
    shell.client.rooms[outside.room_id] = outside  # type: ignore[union-attr]
    await _run(shell, outside, "$x1", "!pledges", sender="@alice:example.org")
    assert (await _sent(world))[0].startswith("En esta sala no ejecuto comandos")
    _txn, answer = not_member_answer(EventBook(world.db, world.keyring), "!dm:example.org", "$o1",
                                     world.settings.BOT_DEFAULT_LANGUAGE)
    assert answer.content["body"].startswith("Solo trabajo con miembros de la campaña. Si tienes un código")
    _txn, answer = not_member_answer(EventBook(world.db, world.keyring), "!dm:example.org", "$o1", "en")
    assert answer.content["body"] == campaign_shell.NOT_MEMBER_TEXT.format(prefix="!")


async def test_a_broadcasts_report_in_the_report_rooms_language(world):
    shell, room = await _shell(world)
    sent: list[tuple[str, str]] = []

    async def fake_send(room_id, content, txn_id, any_device=False):
        sent.append((room_id, content["body"]))
        return "" if room_id == "!gone:example.org" else "$sent"

    shell.outbox.send = fake_send  # type: ignore[method-assign]
    record = BroadcastTo((room.room_id, "!gone:example.org"), outputs.content("hola", "m.text"), room.room_id)
    await shell.outbox._broadcast(record, "b1")
    assert sent[-1] == (room.room_id, "Broadcast delivered to 1 of 2 rooms. Failed: a room I left.")
    async with world.db.transaction():
        await prefs.set_room_pref(world.db, world.keyring, room.room_id, prefs.LANGUAGE, "es")
    await shell.outbox._broadcast(record, "b2")
    assert sent[-1] == (room.room_id, "Difusión entregada en 1 de 2 salas. No llegó a: una sala de la que salí.")


async def test_a_new_home_room_is_greeted_in_the_bots_default_language(make_world_with):
    world = await make_world_with(BOT_DEFAULT_LANGUAGE="es")
    shell, _room = await _shell(world)
    shell.known.campaign.configured_home = None
    async with world.db.transaction():
        await shell.known.campaign.joined(shell.book, "!new:example.org", campaign_shell.Invite.HOME, None)
    [greeting] = await _sent(world)
    assert greeting.startswith("Esta es la sala principal de la campaña.") and "`!ayuda`" in greeting
