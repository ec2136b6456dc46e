"""Undecryptable messages without a homeserver: kept sealed, retried when their key arrives,
answered once, and their sender told once after the grace period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nio import MegolmEvent, RoomKeyEvent

from bot.runtime.undecrypted import NOTICE_TEXT, TOLD_FLAG, Undecrypted, doctor_check
from commands.privacy import UnreadData
from storage import core
from storage import undecrypted as store
from storage.core import EventBook
from storage.hashing import Member
from storage.undecrypted import DAY
from tests.fakes import DM, texts

ALICE, BOB = "@alice:example.org", "@bob:example.org"
DM_ROOM, GROUP = "!dm:example.org", "!group:example.org"


def source(event_id: str, sender: str = ALICE, session: str = "S1") -> dict[str, Any]:
    return {"type": "m.room.encrypted", "event_id": event_id, "sender": sender, "origin_server_ts": 5_000,
            "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "sender_key": "KEY",
                        "session_id": session, "device_id": "DEV"}}


def megolm(event_id: str, sender: str = ALICE, session: str = "S1") -> MegolmEvent:
    event = MegolmEvent.from_dict(source(event_id, sender, session))
    assert isinstance(event, MegolmEvent)
    return event


class FakeClient:
    """Rooms by ID, and room keys that 'arrive' by session ID."""

    def __init__(self) -> None:
        self.rooms: dict[str, object] = {DM_ROOM: object(), GROUP: object()}
        self.keys: set[str] = set()

    def decrypt_event(self, event: MegolmEvent) -> Any:
        if event.session_id not in self.keys:
            raise ValueError("no session")
        return ("decrypted", event.event_id, event.room_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000 * DAY + 100.0

    def __call__(self) -> float:
        return self.now


def service(world: Any, clock: Clock, handled: list[Any], grace: float = 60) -> Undecrypted:
    async def handle(room: Any, event: Any) -> None:
        handled.append(event)

    kicks: list[int] = []
    return Undecrypted(EventBook(world.db, world.keyring), grace, handle, lambda: kicks.append(1), clock=clock)


async def test_kept_sealed_and_once_per_event(world, tmp_path: Path) -> None:
    clock, handled = Clock(), []
    svc = service(world, clock, handled)
    await svc.keep(DM_ROOM, megolm("$one"), dm=True)
    await svc.keep(DM_ROOM, megolm("$one"), dm=True)  # the same event again (backfill, a replayed sync)
    assert svc.waiting == 1
    await world.db.close()
    raw = (tmp_path / "bot.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("bot.db-*"))
    for needle in (ALICE, DM_ROOM, "$one", "S1", "AwgA"):
        assert needle.encode() not in raw, needle


async def test_retried_when_the_key_for_its_session_arrives_and_handed_on_once(world) -> None:
    clock, handled = Clock(), []
    svc = service(world, clock, handled)
    client = FakeClient()
    await svc.keep(DM_ROOM, megolm("$one", session="S1"), dm=True)
    await svc.keep(GROUP, megolm("$two", sender=BOB, session="S2"), dm=False)
    other_key = RoomKeyEvent({"sender": BOB}, BOB, "KEY", GROUP, "S2", "m.megolm.v1.aes-sha2")
    await svc.on_to_device(client, [other_key])  # a key arrived, but not in the store yet: still waiting
    assert handled == [] and svc.waiting == 2
    client.keys.add("S2")
    await svc.on_to_device(client, [other_key])
    assert handled == [("decrypted", "$two", GROUP)] and svc.waiting == 1
    await svc.on_to_device(client, [other_key])
    assert len(handled) == 1

    # a restart: a new service finds the rest and retries it at start
    client.keys.add("S1")
    again = service(world, clock, handled)
    await again.retry_all(client)
    assert handled[-1] == ("decrypted", "$one", DM_ROOM) and again.waiting == 0


async def test_a_member_is_told_once_after_the_grace_period_only_in_a_dm(world) -> None:
    clock, handled = Clock(), []
    svc = service(world, clock, handled, grace=60)
    await svc.keep(DM_ROOM, megolm("$one"), dm=True)
    await svc.keep(GROUP, megolm("$g", sender=BOB, session="S9"), dm=False)
    clock.now += 30
    assert await svc.check() == 0
    clock.now += 31
    assert await svc.check() == 1
    book = EventBook(world.db, world.keyring)
    [notice] = await book.pending()
    assert notice.room_id == DM_ROOM and notice.payload["kind"] == "send"
    assert notice.payload["content"]["body"].startswith("I could not read your last message")
    assert notice.payload["content"]["msgtype"] == "m.notice"  # the codec's content, a notice
    assert await core.member_flag(world.db, Member(world.keyring, ALICE), TOLD_FLAG) == store.today(clock.now)
    assert "send it again" in NOTICE_TEXT
    assert await svc.check() == 0
    # another unreadable message the same day: no second notice; a day later neither; after that, yes
    await svc.keep(DM_ROOM, megolm("$two", session="S3"), dm=True)
    clock.now += 120
    assert await svc.check() == 0
    clock.now += DAY
    await svc.keep(DM_ROOM, megolm("$three", session="S4"), dm=True)
    clock.now += 120
    assert await svc.check() == 0
    clock.now += DAY
    await svc.keep(DM_ROOM, megolm("$four", session="S5"), dm=True)
    clock.now += 120
    assert await svc.check() == 1
    assert len(await book.pending()) == 2


async def test_old_rows_expire_and_the_cap_drops_the_senders_own_oldest(world) -> None:
    for index in range(5):
        await store.keep(world.db, world.keyring, DM_ROOM, source(f"$e{index}"), "S", True, now=0, cap=3)
    assert [w.event_id for w in await store.every(world.db, world.keyring)] == ["$e2", "$e3", "$e4"]
    assert await store.expire(world.db, now=(store.KEEP_DAYS + 1) * DAY) == 3
    assert await store.count(world.db) == 0


async def test_a_flood_from_one_member_evicts_none_of_anothers_and_each_insert_is_bounded(world) -> None:
    """Before: past a 5,000-row cap every insert unsealed the whole table (~40 ms on the event
    loop) and evicted the oldest rows, whoever sent them (issue #23)."""
    clock, handled = Clock(), []
    svc = service(world, clock, handled)
    await svc.keep(DM_ROOM, megolm("$alice", session="SA"), dm=True)
    unsealed = 0
    unseal = world.keyring.unseal

    def counting(purpose: str, blob: bytes) -> str:
        nonlocal unsealed
        unsealed += 1
        return unseal(purpose, blob)

    world.keyring.unseal = counting
    most = 0
    for index in range(3 * store.PER_SENDER):
        clock.now += 1
        unsealed = 0
        await svc.keep(GROUP, megolm(f"$flood{index}", sender=BOB, session=f"F{index}"), dm=False)
        most = max(most, unsealed)
    world.keyring.unseal = unseal
    assert most <= store.PER_SENDER + 2  # one sender's rows at most, however big the table
    kept = await store.every(world.db, world.keyring)
    assert [w.event_id for w in kept if w.sender == ALICE] == ["$alice"]
    assert [w.event_id for w in kept if w.sender == BOB] == [f"$flood{i}" for i in range(2 * store.PER_SENDER,
                                                                                       3 * store.PER_SENDER)]
    assert svc.waiting == store.PER_SENDER + 1 == await store.count(world.db)


async def test_an_outsiders_undecryptable_event_is_not_kept_a_members_is(world) -> None:
    from types import SimpleNamespace

    from nio import MatrixRoom

    from bot.runtime.shell import MatrixShell

    shell = MatrixShell(world.settings, world.db, world.keyring)
    home = MatrixRoom(GROUP, "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", ALICE):
        home.add_member(user, None, None)
    dm = MatrixRoom(DM_ROOM, "@bot:example.org", encrypted=True)
    for user in ("@bot:example.org", "@mallory:example.org"):
        dm.add_member(user, None, None)
    asked: list[str] = []

    async def request_room_key(event: MegolmEvent) -> None:
        asked.append(event.event_id)

    await shell.attach(SimpleNamespace(user_id="@bot:example.org", rooms={GROUP: home, DM_ROOM: dm},  # type: ignore[arg-type]
                                       request_room_key=request_room_key))
    shell.known.campaign.configured_home = GROUP
    await shell.intake.handle_event(dm, megolm("$outsider", sender="@mallory:example.org"))
    assert await store.count(world.db) == 0 and shell.intake.undecrypted.waiting == 0 and asked == []
    await shell.intake.handle_event(home, megolm("$member", sender=ALICE))
    assert await store.count(world.db) == 1 and asked == ["$member"]


async def test_events_from_before_the_bot_joined_are_not_kept(world) -> None:
    clock, handled = Clock(), []
    svc = service(world, clock, handled)
    await EventBook(world.db, world.keyring).set_room_flag(DM_ROOM, "joined_at", 10_000)
    await svc.keep(DM_ROOM, megolm("$early"), dm=True)  # origin_server_ts 5000
    assert svc.waiting == 0


async def test_forget_deletes_the_members_waiting_events_and_told_flag_only(world) -> None:
    clock, handled = Clock(), []
    svc = service(world, clock, handled, grace=0)
    await svc.keep(DM_ROOM, megolm("$a1"), dm=True)
    await svc.keep(DM_ROOM, megolm("$a2", session="S2"), dm=True)
    await svc.keep("!bobdm:example.org", megolm("$b1", sender=BOB, session="S3"), dm=True)
    clock.now += 1
    assert await svc.check() == 2  # alice and bob told
    alice = world.ctx(ALICE)
    assert len(await UnreadData.describe(alice)) == 2
    assert "could not decrypt yet" in texts(await world.run("!mydata", ALICE))
    assert "deleted 3 records" in texts(await world.run("!forget confirm", ALICE))  # two events, the flag
    assert await UnreadData.describe(alice) == []
    assert [w.sender for w in await store.every(world.db, world.keyring)] == [BOB]
    assert await core.member_flag(world.db, Member(world.keyring, BOB), TOLD_FLAG) is not None


def test_doctor_reports_the_count_from_the_health_file(tmp_path: Path) -> None:
    assert "no count yet" in doctor_check(tmp_path).detail
    (tmp_path / "health.json").write_text(json.dumps({"last_sync": 1, "undecryptable_waiting": 3}))
    check = doctor_check(tmp_path)
    assert check.ok and check.detail.startswith("3 messages waiting for room keys")
    assert "to-device" not in check.detail
    (tmp_path / "health.json").write_text(json.dumps({"undecryptable_waiting": 0, "olm_undecryptable": 2}))
    check = doctor_check(tmp_path)
    assert check.detail == ("none waiting for room keys; 2 encrypted to-device messages could not be "
                            "decrypted since the bot started (their senders' devices were asked for a new session)")


async def test_a_spanish_member_is_told_in_spanish(world) -> None:
    await world.run("!idioma es", user=ALICE, room=DM)
    clock, handled = Clock(), []
    svc = service(world, clock, handled, grace=60)
    await svc.keep(DM_ROOM, megolm("$one"), dm=True)
    clock.now += 61
    assert await svc.check() == 1
    [notice] = await EventBook(world.db, world.keyring).pending()
    assert notice.payload["content"]["body"].startswith("No pude leer tu último mensaje")


async def test_mydata_lists_waiting_messages_in_the_members_language(world) -> None:
    await world.run("!idioma es", user=ALICE, room=DM)
    svc = service(world, Clock(), [], grace=0)
    await svc.keep(DM_ROOM, megolm("$a1"), dm=True)
    listing = texts(await world.run("!misdatos", ALICE, room=DM))
    assert "1 mensaje tuyo que aún no pude descifrar" in listing and "could not" not in listing, listing


async def test_forget_deletes_the_note_that_the_member_was_told_their_device_is_unverified(world) -> None:
    book = EventBook(world.db, world.keyring)
    assert await book.set_member_flag(ALICE, core.TOLD_UNTRUSTED_FLAG)  # what intake sets (strict mode)
    assert await book.set_member_flag(BOB, core.TOLD_UNTRUSTED_FLAG)
    assert "device is not verified" in texts(await world.run("!mydata", ALICE))
    assert "deleted 1 record" in texts(await world.run("!forget confirm", ALICE))
    assert await core.member_flag(world.db, Member(world.keyring, ALICE), core.TOLD_UNTRUSTED_FLAG) is None
    assert await core.member_flag(world.db, Member(world.keyring, BOB), core.TOLD_UNTRUSTED_FLAG) is not None
    assert "I hold nothing" in texts(await world.run("!mydata", ALICE))
