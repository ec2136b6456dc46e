"""The outbox for crowds, without a homeserver: answers before bulk sends, destinations in
parallel while each keeps its order, one pause for everyone after a 429, nothing lost or sent
twice when a send fails."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nio import MatrixRoom, RoomSendResponse

from bot.runtime.rooms import Rooms
from bot.runtime.sending import outbox as outbox_module
from bot.runtime.sending.outbox import Outbox, Stopping
from bot.runtime.sending.outputs import Origin, ReplyTarget
from bot.runtime.sending.ratelimit import RateGate
from commands.base import Announce, Post, Reply
from storage.core import EventBook


class FakeClient:
    """Records each send; a send takes ``delay`` seconds; ``fail`` makes one txn fail once."""

    def __init__(self, room_ids: list[str], delay: float = 0.01) -> None:
        self.user_id = "@bot:example.org"
        self.rooms = {r: MatrixRoom(r, self.user_id, encrypted=True) for r in room_ids}
        self.delay = delay
        self.sent: list[tuple[str, str]] = []  # (room, body) in the order the sends completed
        self.started: list[float] = []
        self.active = 0
        self.most_active = 0
        self.fail: set[str] = set()
        self.finished: dict[str, float] = {}  # body → when its send completed (the last one)

    async def room_send(self, room_id: str, _type: str, content: dict[str, Any], tx_id: str,
                        ignore_unverified_devices: bool = True) -> Any:
        self.started.append(time.monotonic())
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            if tx_id in self.fail:
                self.fail.discard(tx_id)
                raise TimeoutError
            self.sent.append((room_id, content["body"]))
            self.finished[content["body"]] = time.monotonic()
            return RoomSendResponse(f"$e{len(self.sent)}", room_id)
        finally:
            self.active -= 1


async def _outbox(world, client: FakeClient, gate: RateGate | None = None) -> tuple[Outbox, EventBook]:
    book = EventBook(world.db, world.keyring)
    rooms = Rooms(client, world.settings, book)  # type: ignore[arg-type]
    ready = asyncio.Event()
    ready.set()
    box = Outbox(client, world.settings, book, rooms, Stopping(), ready, gate or RateGate())  # type: ignore[arg-type]
    return box, book


async def _queue(world, box: Outbox, outputs: list[Any], base: str, room: str | None = None) -> None:
    origin = Origin(base, room, ReplyTarget(base) if room else None, None)
    async with world.db.transaction():
        await box.enqueue(outputs, origin)


async def test_answers_go_out_before_an_announcement_queued_earlier(world):
    dms = [f"!dm{i}:example.org" for i in range(40)]
    client = FakeClient(["!room:example.org", *dms])
    box, _ = await _outbox(world, client)
    box.rooms.member_dms = lambda: dms  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    await _queue(world, box, [Announce("threshold met", ("!room:example.org",))], "$announce")
    await _queue(world, box, [Reply("signed")], "$sign", "!dm7:example.org")
    await box.drain()
    bodies = [body for _, body in client.sent]
    assert bodies[0] == "signed"  # the answer did not wait behind 41 announcement sends
    assert sorted(room for room, body in client.sent if body == "threshold met") == sorted(["!room:example.org", *dms])
    assert len(client.sent) == 42  # each exactly once


async def test_rooms_are_sent_to_in_parallel_each_in_its_order(world):
    rooms = [f"!r{i}:example.org" for i in range(20)]
    client = FakeClient(rooms, delay=0.02)
    box, book = await _outbox(world, client)
    for n in range(3):
        for room in rooms:
            await _queue(world, box, [Post(room, f"{room} #{n}")], f"$p{n}{room}")
    started = time.monotonic()
    await box.drain()
    elapsed = time.monotonic() - started
    assert 1 < client.most_active <= outbox_module.PARALLEL
    for room in rooms:  # per room: the order queued
        assert [body for r, body in client.sent if r == room] == [f"{room} #{n}" for n in range(3)]
    assert elapsed < 60 * 0.02 * 0.6  # clearly faster than one send at a time
    assert await book.pending() == []


async def test_a_failed_send_keeps_its_row_and_the_rooms_order_and_sends_nothing_twice(world):
    client = FakeClient(["!a:example.org", "!b:example.org"])
    box, book = await _outbox(world, client)
    await _queue(world, box, [Post("!a:example.org", "a1"), Post("!a:example.org", "a2")], "$a")
    await _queue(world, box, [Post("!b:example.org", "b1")], "$b")
    first = (await book.pending())[0]
    client.fail.add(first.txn_id)  # a1 fails once (transport trouble)
    box.stopping.sleep = _no_sleep  # type: ignore[method-assign]
    await box.drain()
    assert client.sent == [("!b:example.org", "b1")]  # a2 never overtook a1
    assert [item.txn_id for item in await book.pending()] == [first.txn_id, first.txn_id[:-1] + "1"]
    await box.drain()
    assert [body for _, body in client.sent] == ["b1", "a1", "a2"]
    assert await book.pending() == []


async def test_a_429_pauses_every_sender(world):
    rooms = [f"!r{i}:example.org" for i in range(6)]
    client = FakeClient(rooms, delay=0.001)
    gate = RateGate()
    box, _ = await _outbox(world, client, gate)
    for room in rooms:
        await _queue(world, box, [Post(room, "hello")], f"$x{room}")
    gate.hit(300)  # what the session does when nio reports M_LIMIT_EXCEEDED
    started = time.monotonic()
    await box.drain()
    assert min(client.started) - started >= 0.28  # nobody sent during the pause
    assert len(client.sent) == 6


def test_rate_limit_is_logged_once_a_minute_with_the_count(caplog):
    now = [1000.0]
    gate = RateGate(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="organizer_bot"):
        gate.hit(2000)
        for _ in range(5):
            now[0] += 1
            gate.hit(None)
        now[0] += 60
        gate.hit(1000)
    lines = [r.getMessage() for r in caplog.records if "rate limited" in r.getMessage()]
    assert len(lines) == 2 and "1 answer 429 (" in lines[0] and "6 answers 429 in the last 65 s" in lines[1]
    assert "docs/operations.md" in lines[0] and "override_ratelimit" in lines[0]
    assert gate.total == 7 and gate.until == pytest.approx(now[0] + 1.0)


async def _no_sleep(seconds: float) -> None:
    return None




async def test_a_message_for_a_room_just_joined_waits_for_the_sync_that_brings_it(world):
    client = FakeClient([])
    box, book = await _outbox(world, client)
    box.stopping.sleep = _no_sleep  # type: ignore[method-assign]
    box.rooms.joining.add("!new:example.org")  # joined a moment ago: nio knows it from the next sync
    await _queue(world, box, [Post("!new:example.org", "this is the home room")], "$home")
    await box.drain()
    assert client.sent == [] and len(await book.pending()) == 1  # kept, not dropped
    client.rooms["!new:example.org"] = MatrixRoom("!new:example.org", client.user_id, encrypted=True)
    await box.drain()
    assert client.sent == [("!new:example.org", "this is the home room")] and await book.pending() == []
    assert "!new:example.org" not in box.rooms.joining


async def test_the_next_sync_waits_for_the_answers_not_for_an_announcement(world):
    """The sync loop waits (up to a limit) for the answers it queued; under a burst with an
    announcement going out, waiting for the whole outbox cost every sync its full limit."""
    dms = [f"!dm{i}:example.org" for i in range(200)]
    client = FakeClient(["!room:example.org", *dms], delay=0.05)
    box, book = await _outbox(world, client)
    box.rooms.member_dms = lambda: dms  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    await _queue(world, box, [Announce("threshold met", ("!room:example.org",))], "$announce")
    box.kick()
    sender = asyncio.create_task(box.run())
    try:
        await asyncio.sleep(0.02)  # the announcement's first wave is under way
        await _queue(world, box, [Reply("signed")], "$sign", "!dm7:example.org")
        box.kick()
        started = time.monotonic()
        await box.until_sent(5.0)
        waited = time.monotonic() - started
        assert ("!dm7:example.org", "signed") in client.sent  # the answer went out before it returned
        assert len(client.sent) < 100  # while the announcement was still being sent
        assert waited < 0.6  # about two waves (0.2 s each), not the whole announcement (~1.3 s) or the limit
        await box.until_sent(5.0)  # nothing unanswered: returns at once
        assert time.monotonic() - started - waited < 0.05
        for _ in range(100):  # the announcement finishes (~1.3 s)
            if len(client.sent) >= 202:
                break
            await asyncio.sleep(0.05)
        assert len(client.sent) == 202 and await book.pending() == []  # each exactly once
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def test_an_answer_takes_the_first_free_slot_not_the_next_wave(world):
    """Sends run in a pool, not in waves: an answer queued while bulk sends are under way goes out
    when one of them finishes, not after all the rows read with them (a new DM's first send takes
    several round trips, so a wave of 32 held answers back for seconds)."""
    rooms = [f"!r{i}:example.org" for i in range(64)]
    client = FakeClient([*rooms, "!dm:example.org"], delay=0.2)
    box, book = await _outbox(world, client)
    for room in rooms:
        await _queue(world, box, [Post(room, f"news {room}")], f"$p{room}")
    box.kick()
    sender = asyncio.create_task(box.run())
    try:
        await asyncio.sleep(0.05)  # the first 8 bulk sends are under way, 24 more were read with them
        await _queue(world, box, [Reply("signed")], "$sign", "!dm:example.org")
        queued = time.monotonic()
        box.kick()
        await box.until_sent(5.0)
        assert client.finished["signed"] - queued < 0.5  # a free slot (≤ 0.2 s) and its send (0.2 s); a wave: 0.8 s
        assert client.most_active <= outbox_module.PARALLEL
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    await box.drain()
    assert sorted(client.sent) == sorted([*((r, f"news {r}") for r in rooms), ("!dm:example.org", "signed")])
    assert await book.pending() == []  # each exactly once


async def test_an_announcement_waits_for_its_round_and_news_meanwhile_joins_it(make_world_with):
    """Issue #17: a threshold crossed by one member's signature is not announced right after that
    member's acknowledgement (which the homeserver sees), but in a later round drawn from
    BOT_ANNOUNCE_DELAY_MIN..MAX; news queued before the round joins it; answers are not held."""
    world = await make_world_with(BOT_ANNOUNCE_DELAY_MIN=1, BOT_ANNOUNCE_DELAY_MAX=2)
    client = FakeClient(["!room:example.org", "!dm:example.org"])
    box, book = await _outbox(world, client)
    box.rooms.member_dms = lambda: ["!dm:example.org"]  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    queued, queued_at = time.time(), time.monotonic()
    await _queue(world, box, [Reply("recorded"), Announce("threshold met", ("!room:example.org",))],
                 "$sign", "!dm:example.org")
    await _queue(world, box, [Announce("closed", ("!room:example.org",))], "$close")
    box.kick()
    runner = asyncio.create_task(box.run())
    try:
        for _ in range(200):  # the round is at most 3 s away
            if len(client.sent) == 5:
                break
            await asyncio.sleep(0.05)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [body for _, body in client.sent][0] == "recorded"
    assert client.finished["recorded"] - queued_at < 0.5  # the answer was not held
    announced = [t for body, t in client.finished.items() if body != "recorded"]
    assert sorted(body for _, body in client.sent[1:]) == ["closed", "closed", "threshold met", "threshold met"]
    # both news went in the same round, at least the minimum delay after they were queued
    round_at = await world.db.get_meta("announce_round")
    assert round_at is not None and int(queued) + 1 <= int(round_at) <= int(queued) + 3
    assert min(announced) - queued_at >= 0.5  # held (rounds are whole seconds), not sent at once
    assert await book.pending() == [] and await book.next_round() is None


async def test_rounds_are_drawn_from_the_window_and_reused_only_while_far_enough(world):
    book = EventBook(world.db, world.keyring)
    async with world.db.transaction():
        first = await book.announce_round((60, 300), now=1000)
        assert 1060 <= first <= 1300
        assert await book.announce_round((60, 300), now=1000 + (first - 1060)) == first  # still ≥ 60 s away: batched
        later = await book.announce_round((60, 300), now=first - 30)  # too close: a new round
        assert later >= first - 30 + 60
    drawn = set()
    for now in range(10_000, 210_000, 1000):  # the delay is random within the window, not fixed
        async with world.db.transaction():
            drawn.add(await book.announce_round((60, 300), now=now) - now)
    assert min(drawn) >= 60 and max(drawn) <= 300 and len(drawn) > 20


async def test_held_rows_are_not_pending_until_their_round(world):
    book = EventBook(world.db, world.keyring)
    async with world.db.transaction():
        await book.enqueue("a", "!r:x", {"kind": "send", "content": {"body": "now"}})
        await book.enqueue("b", "!r:x", {"kind": "send", "content": {"body": "later"}}, not_before=2000)
    assert [o.txn_id for o in await book.pending(now=1999)] == ["a"]
    assert await book.next_round(now=1999) == 2000
    assert [o.txn_id for o in await book.pending(now=2000)] == ["a", "b"]


async def test_an_announcement_reaches_each_room_and_dm_in_its_own_language(world):
    """Issue #18: news for many readers is rendered per destination (the room's language, a DM's
    member's), never in the language of the member who caused it."""
    from storage import prefs
    from storage.hashing import Member

    client = FakeClient(["!room:example.org", "!dm-bob:example.org", "!dm-carol:example.org"])
    for dm, user in (("!dm-bob:example.org", "@bob:example.org"), ("!dm-carol:example.org", "@carol:example.org")):
        client.rooms[dm].add_member(client.user_id, "bot", None)
        client.rooms[dm].add_member(user, user[1:4], None)
    box, _ = await _outbox(world, client)
    for dm in ("!dm-bob:example.org", "!dm-carol:example.org"):
        await box.rooms.mark_dm(dm)
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    box.rooms.campaign.members_among = set  # type: ignore[method-assign]  # both are campaign members
    async with world.db.transaction():
        await prefs.set_room_pref(world.db, world.keyring, "!room:example.org", prefs.LANGUAGE, "es")
        await prefs.set_member_pref(world.db, world.keyring, Member(world.keyring, "@carol:example.org"),
                                    prefs.LANGUAGE, "es")
    await _queue(world, box, [Announce(lambda lang: {"en": "met", "es": "alcanzado"}[lang], ("!room:example.org",))],
                 "$news")
    await box.drain()
    assert sorted(client.sent) == [("!dm-bob:example.org", "met"), ("!dm-carol:example.org", "alcanzado"),
                                   ("!room:example.org", "alcanzado")]


async def test_the_sync_loop_is_spaced_only_while_a_fan_out_goes_out(world):
    """Issue 27: during a broadcast every sync came back at once with the bot's own new events, and
    the homeserver computed one per handful of sends (1.6× the bare client's time at N = 1,000)."""
    from bot.runtime.sync import BULK_SYNC_SPACING, spacing

    dms = [f"!dm{i}:example.org" for i in range(40)]
    client = FakeClient(dms, delay=0.005)
    box, _ = await _outbox(world, client)
    box.rooms.member_dms = lambda: dms  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    await _queue(world, box, [Announce("news", ())], "$news")
    seen: list[bool] = []
    draining = asyncio.create_task(box.drain())
    while not draining.done():
        seen.append(box.bulk_under_way)
        await asyncio.sleep(0.005)
    assert True in seen and not box.bulk_under_way  # the last read found nothing left
    await _queue(world, box, [Reply("signed")], "$sign", "!dm3:example.org")
    await box.drain()
    assert not box.bulk_under_way  # an answer alone: syncs are not spaced
    assert spacing(True, 0.2) == pytest.approx(BULK_SYNC_SPACING - 0.2)
    assert spacing(True, BULK_SYNC_SPACING + 1) == 0 and spacing(False, 0.0) == 0


async def test_a_threshold_chart_waits_for_the_announcements_round(make_world_with):
    """Issue #28: the threshold announcement carries the pledge's chart to its rooms, held for the
    same round as the announcement (a chart sent at once would show when the crossing happened)."""
    from commands.base import Chart, Role
    from commands.pledges.figures import crossings
    from storage import pledges as pledge_store
    from tests.fakes import DM, ROOM

    world = await make_world_with(BOT_MIN_CELL=3, BOT_ANNOUNCE_DELAY_MIN=60, BOT_ANNOUNCE_DELAY_MAX=300)
    await world.run("!pledge create carta The letter --threshold 5", user="@c:x", role=Role.COORDINATOR)
    for i in range(4):
        await world.run("!pledge carta", user=f"@m{i}:x", room=DM)
    out = await world.run("!pledge carta", user="@m4:x", room=DM)  # the crossing
    charts = [o for o in out if isinstance(o, Chart)]
    assert [c.room_id for c in charts] == [ROOM.room_id] and all(c.news for c in charts)
    spec = charts[0].spec("en") if callable(charts[0].spec) else charts[0].spec
    assert "Pledge carta" in str(spec)
    pledge = await pledge_store.by_slug(world.db, world.keyring, "carta")
    assert pledge is not None
    async with world.db.transaction():
        assert await crossings(world.db, world.keyring, pledge, None, 3) == []  # once
    client = FakeClient([ROOM.room_id])
    box, book = await _outbox(world, client)
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    await _queue(world, box, charts, "$chart")
    assert await book.pending() == []  # held: nothing due before the round
    assert await book.next_round() is not None


async def test_a_fan_out_unseals_each_row_once_not_once_per_send_before_it(world, monkeypatch):
    """A 300-DM broadcast's profile: the outbox read and unsealed its window of up to 40 rows again
    each time one send finished (≈ 40 × N rows). Now each row is read once, and the database is
    asked again only when the rows read run low (or new rows were committed)."""
    dms = [f"!dm{i}:example.org" for i in range(200)]
    client = FakeClient(dms, delay=0.001)
    box, book = await _outbox(world, client)
    box.rooms.member_dms = lambda: dms  # type: ignore[method-assign]
    box.rooms.is_campaign_room = lambda room_id: True  # type: ignore[method-assign]
    await _queue(world, box, [Announce("news", ())], "$news")
    unsealed: list[str] = []
    unseal = world.keyring.unseal

    def counting(purpose: str, blob: bytes) -> str:
        if purpose == "outbox":
            unsealed.append(purpose)
        return unseal(purpose, blob)

    monkeypatch.setattr(world.keyring, "unseal", counting)
    reads = []
    pending = book.pending

    async def counting_reads(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return await pending(*args, **kwargs)

    monkeypatch.setattr(book, "pending", counting_reads)
    await box.drain()
    assert sorted(room for room, _ in client.sent) == sorted(dms)  # each exactly once
    rows = len(unsealed) // 3  # its transaction ID, room and payload
    assert rows <= len(dms) + outbox_module.PARALLEL * outbox_module.WAVE_DEPTH  # was 832: up to 40 per send finished
    assert len(reads) <= len(dms) // 8  # was one per send finished
    monkeypatch.undo()
    assert await book.pending() == [] and not box.bulk_under_way


async def test_a_round_that_comes_due_during_a_fan_out_goes_out_in_it(world):
    """Rows read once are not read again, but a held row whose round comes while a fan-out is under
    way is still found, though every row due was read at the start."""
    dms = [f"!dm{i}:example.org" for i in range(24)]
    client = FakeClient([*dms, "!room:example.org"], delay=0.5)  # the fan-out takes 1.5 s
    box, book = await _outbox(world, client)
    async with world.db.transaction():
        await book.enqueue("held", "!room:example.org", {"kind": "send", "content": {"body": "held"}},
                           not_before=int(time.time()) + 1)  # due within a second
    for dm in dms:
        await _queue(world, box, [Post(dm, "bulk")], f"$p{dm}")
    await box.drain()
    assert ("!room:example.org", "held") in client.sent[:-8] and len(client.sent) == 25
    assert await book.pending() == [] and await book.next_round() is None
