"""Faults: the bot killed at random points, the homeserver gone for 30 s, tight rate limits and
a flooding member. Nothing acknowledged is lost or stored twice, nothing is answered twice, and
other members are still served. These are the long scenarios (``-m slow`` / ``-m "not slow"``)."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
from collections import Counter

import pytest

from bot.ops.localserver import LocalSynapse
from bot.runtime.intake import THROTTLE_TEXT
from storage.hashing import Keyring
from tests.harness import HOME_NOTICE, PASSWORD, BotProcess, Member, Received, gather_limited, handled_so_far
from tests.security.light import LightMember

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MEMBERS = int(os.environ.get("CRASH_MEMBERS", "50"))
PLEDGE_ACK = re.compile(r"^A pledge to `(p[12])` was recorded\.")
HERE_ACK = re.compile(r"^Recorded your answer\. Roll-call `(r[12])`")
FIGURES: dict[str, object] = {}


async def test_sigkill_three_times_during_200_commands_loses_and_repeats_nothing(make_bot, members, synapse,
                                                                                  tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    crowd_ids = [f"crowd{i}x{os.getpid()}x{seed % 1000}" for i in range(MEMBERS)]
    # the crowd DMs the bot: campaign members (admins here, so that no room has to hold 50 light clients)
    bot = make_bot(BOT_ADMINS=",".join(f"@{c}:{synapse.server_name}" for c in crowd_ids)).start()
    coordinator = await members("coord", bot)
    room = await coordinator.create_room()
    for text in ('!pledge create p1 "First" --goal 100', '!pledge create p2 "Second" --goal 100',
                 '!rollcall start r1 "One"', '!rollcall start r2 "Two"'):
        await coordinator.ask(room, text)

    crowd: list[LightMember] = await gather_limited([
        LightMember.create(synapse, crowd_ids[i], tmp_path, bot.user_id,
                           display_name=f"Crowd Member {i}") for i in range(MEMBERS)], limit=8)
    try:
        dms: list[str] = await gather_limited([m.open_dm() for m in crowd], limit=8)

        # each member first gets an answer (its Olm session with the bot established and its room key
        # shared): 50 members claiming the bot's one-time keys at once would exhaust them (nio has no
        # fallback keys), and a member whose key never reached the bot is not heard at all
        async def warm_up(i: int) -> str:
            event_id = await crowd[i].send(dms[i], "!help privacy", txn_id=f"warm{seed}.{i}")
            await crowd[i].sync_until(lambda: _replied(crowd[i], dms[i], event_id), timeout=120)
            return event_id

        warm = await gather_limited([warm_up(i) for i in range(MEMBERS)], limit=8)
        plan = ["!pledge p1", "!here r1 Amazon", "!pledge p2", "!here r2 Google"]
        sent: dict[tuple[int, int], str] = {}

        async def send_all() -> None:
            for wave in range(4):
                order = list(range(MEMBERS))
                rng.shuffle(order)
                await gather_limited([_send(i, wave) for i in order], limit=10)

        async def _send(i: int, wave: int) -> None:
            text = plan[(wave + i) % 4]  # every member sends each of the four once, in varied order
            sent[(i, wave)] = await crowd[i].send(dms[i], text, txn_id=f"crash{seed}.{i}.{wave}")

        sending = asyncio.create_task(send_all())
        kills: list[int] = []
        # kill at random points while commands are being handled: after a random number of them
        base = handled_so_far(bot)
        total = 4 * MEMBERS
        for at in sorted(rng.sample(range(total // 10, total * 9 // 10), int(os.environ.get("CRASH_KILLS", "3")))):
            while handled_so_far(bot) - base < at:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.02)
            bot.kill()
            kills.append(handled_so_far(bot) - base)
            await asyncio.to_thread(bot.start)
        await sending
        assert len(sent) == 4 * MEMBERS

        # every member gets exactly its four acknowledgements
        warm_ids = set(warm)

        def acks(m: LightMember, dm: str) -> list[Received]:
            return [r for r in m.from_bot(dm) if (r.relates_to.get("m.in_reply_to") or {}).get("event_id")
                    not in warm_ids]

        try:
            for m, dm in zip(crowd, dms, strict=True):
                await m.sync_until(lambda m=m, dm=dm: len(acks(m, dm)) >= 4, timeout=120)
        except TimeoutError:
            state = [(i, len(acks(m, dm)), len(m.undecrypted), m.sync_errors[-1:], m.seen) for i, (m, dm) in enumerate(zip(crowd, dms, strict=True))
                     if len(acks(m, dm)) < 4 or m.undecrypted]
            raise AssertionError(f"seed {seed}, handled at kills {kills}; (member, acks, undecrypted): {state}\n"
                                 + "\n".join(line for line in bot.log().splitlines() if " INFO " not in line)[-3000:]) from None
        # then a sentinel: everything queued before it has been sent once it arrives
        summary = await coordinator.ask(room, "!pledges", timeout=120)
        tally = await coordinator.ask(room, "!rollcall r1", timeout=60)
        await gather_limited([m.sync() for m in crowd])
        duplicates, wrong = 0, []
        for m, dm in zip(crowd, dms, strict=True):
            bodies = [r.body for r in acks(m, dm)]
            kinds = Counter((PLEDGE_ACK.match(b) or HERE_ACK.match(b) or re.match("(.*)", b)).group(1)  # type: ignore[union-attr]
                            for b in bodies)
            if kinds != Counter({"p1": 1, "p2": 1, "r1": 1, "r2": 1}):
                wrong.append(bodies)
            duplicates += max(0, len(bodies) - 4)
            assert not m.undecrypted, "an acknowledgement could not be decrypted"
        assert wrong == [], wrong[:3]
        assert summary.body.count(f"{MEMBERS}/100") == 2, summary.body
        # the pooled row is always there, "fewer than 2k-1" even when empty, so the total reads "at least"
        assert f"Amazon: {MEMBERS}\n" in tally.body and f"Total: at least {MEMBERS}\n" in tally.body, tally.body

        assert bot.stop() == 0
        conn = bot.open_db()
        try:
            signers = dict(conn.execute("SELECT pledge_id, count(*) FROM pledge_signers GROUP BY pledge_id"))
            answers = dict(conn.execute("SELECT rollcall_id, count(*) FROM rollcall_answers GROUP BY rollcall_id"))
            refs = {bytes(r[0]) for r in conn.execute("SELECT member_ref FROM pledge_signers")}
            outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        finally:
            conn.close()
        assert signers == {1: MEMBERS, 2: MEMBERS} and answers == {1: MEMBERS, 2: MEMBERS}
        keyring = Keyring(base64.b64decode(bot.hash_key))
        for m in crowd:
            for pledge_id in (1, 2):
                assert keyring.ref(f"member:pledge:{pledge_id}", m.user_id) in refs
        assert outbox == 0
        FIGURES.update(seed=seed, kills=len(kills), handled_at_kills=kills, commands=len(sent),
                       acknowledged=sum(len(acks(m, dm)) for m, dm in zip(crowd, dms, strict=True)),
                       duplicates=duplicates, lost=4 * MEMBERS - sum(min(4, len(acks(m, dm)))
                                                                     for m, dm in zip(crowd, dms, strict=True)))
        print(f"\ncrash figures: {FIGURES}")
        assert 0 < kills[0] < total, kills  # the kills hit the middle of the work (later ones may hit the sending)
    finally:
        await asyncio.gather(*(m.close() for m in crowd), return_exceptions=True)


def _replied(member: Member | LightMember, room: str, event_id: str) -> list[Received]:
    return [r for r in member.from_bot(room)
            if (r.relates_to.get("m.in_reply_to") or {}).get("event_id") == event_id]


async def test_homeserver_down_30s_mid_burst_every_command_answered_once(tmp_path):
    hs = LocalSynapse(tmp_path / "hs").start()
    bot: BotProcess | None = None
    crowd: list[LightMember] = []
    try:
        bot_id = hs.register(f"obot{os.getpid()}", PASSWORD)
        admins = ",".join(f"@out{i}x{os.getpid()}:{hs.server_name}" for i in range(3))  # DMs need campaign members
        bot = BotProcess(hs, tmp_path / "bot", bot_id, extra_env={"BOT_ADMINS": admins}).start()
        crowd = [await LightMember.create(hs, f"out{i}x{os.getpid()}", tmp_path, bot_id) for i in range(3)]
        dms = [await m.open_dm() for m in crowd]
        per_member = 10
        events: dict[tuple[int, int], str] = {}

        mid_burst = asyncio.Event()

        async def burst(i: int) -> None:
            for n in range(per_member):
                events[(i, n)] = await crowd[i].send(dms[i], f"!company Outage{n}", txn_id=f"outage.{i}.{n}")
                if len(events) >= 6:
                    mid_burst.set()
                await asyncio.sleep(0.3)

        sending = asyncio.gather(*(burst(i) for i in range(len(crowd))))
        await mid_burst.wait()
        await asyncio.to_thread(hs.stop)
        down_at = len(events)
        await asyncio.sleep(30)
        await asyncio.to_thread(hs.start)
        await sending
        assert down_at < len(crowd) * per_member  # some commands were sent during/after the outage

        for i, m in enumerate(crowd):
            await m.sync_until(lambda i=i, m=m: all(_replied(m, dms[i], events[(i, n)]) for n in range(per_member)),
                               timeout=180)
        sentinel = await crowd[0].send(dms[0], "!privacy", txn_id="outage.sentinel")
        await crowd[0].sync_until(lambda: _replied(crowd[0], dms[0], sentinel), timeout=60)
        for m in crowd[1:]:
            await m.sync()
        for i, m in enumerate(crowd):
            for n in range(per_member):
                answers = _replied(m, dms[i], events[(i, n)])
                assert len(answers) == 1 and f"Outage{n}" in answers[0].body, (i, n, [a.body for a in answers])
            assert len(m.from_bot(dms[i])) == per_member + (1 if i == 0 else 0)
        log = bot.log()
        assert "homeserver unreachable" in log and "connected to the homeserver" in log
        FIGURES.update(outage_commands=len(events), outage_sent_before_stop=down_at)
        print(f"\noutage figures: {FIGURES}")
    finally:
        for m in crowd:
            await m.close()
        if bot is not None:
            bot.stop()
        hs.stop()


async def test_tight_rate_limit_delivers_everything_in_order(tmp_path):
    hs = LocalSynapse(tmp_path / "hs", rc_message={"per_second": 0.5, "burst_count": 3}).start()
    bot: BotProcess | None = None
    made: list[Member] = []
    try:
        bot_id = hs.register(f"rlbot{os.getpid()}", PASSWORD)
        # alice is an admin: her first room becomes the campaign's home room, the others campaign rooms
        admin = {"BOT_ADMINS": f"@rlalice{os.getpid()}:{hs.server_name}"}
        bot = BotProcess(hs, tmp_path / "bot", bot_id, extra_env=admin).start()
        alice = await Member.create(hs, f"rlalice{os.getpid()}", tmp_path, bot_id)
        bob = await Member.create(hs, f"rlbob{os.getpid()}", tmp_path, bot_id)
        made += [alice, bob]
        rooms = [await alice.create_room(room_version="11", invite=(bob.user_id,), name=f"rl room {i}")
                 for i in range(3)]
        burst = [f"!company Burst{n}" for n in range(6)]
        sent = [await alice.send(rooms[0], text) for text in burst]
        await alice.wait_for(lambda: all(_replied(alice, rooms[0], e) for e in sent), timeout=180)
        order = [next(i for i, e in enumerate(sent) if _replied(alice, rooms[0], e) == [r])
                 for r in alice.from_bot(rooms[0]) if not r.body.startswith(HOME_NOTICE)]
        assert order == sorted(order) == list(range(len(burst))), order  # answered in order, each once

        preview = await alice.ask(rooms[1], "!broadcast Walk out at noon KAPPA", timeout=120)
        code = re.search(r"confirm (\d{4})", preview.body)
        assert code, preview.body
        await alice.send(rooms[1], f"!confirm {code.group(1)}")
        await alice.wait_for(lambda: any("Broadcast delivered to 3 of 3 rooms" in r.body
                                         for r in alice.from_bot(rooms[1])), timeout=180)
        await bob.wait_for(lambda: all(any("KAPPA" in r.body for r in bob.from_bot(room)) for room in rooms), 60)
        assert all(sum("KAPPA" in r.body for r in bob.from_bot(room)) == 1 for room in rooms)
        assert "rate limited by the homeserver" in bot.log()
        FIGURES.update(rate_limit_messages=len(burst) + 3 + 2)
    finally:
        for m in made:
            await m.close()
        if bot is not None:
            bot.stop()
        hs.stop()


async def test_flooding_member_is_throttled_with_one_notice_while_others_are_served(bot, members):
    mallory = await members("mallory", bot)
    bob = await members("bob", bot)
    room = await mallory.create_room(invite=(bob.user_id,))
    flood: list[str] = []
    bob_answered_at: list[int] = []

    thirty_sent = asyncio.Event()

    async def flood_100_in_10s() -> None:
        for _ in range(100):
            flood.append(await mallory.send(room, "!help privacy"))
            if len(flood) == 30:
                thirty_sent.set()
            await asyncio.sleep(0.1)

    flooding = asyncio.create_task(flood_100_in_10s())
    await thirty_sent.wait()
    bobs = await bob.send(room, "!privacy")
    await bob.wait_for(lambda: _replied(bob, room, bobs), timeout=60)
    bob_answered_at.append(len(flood))
    assert not flooding.done(), "bob was answered only after the flood ended"
    await flooding
    sentinel = await bob.send(room, "!help")
    await bob.wait_for(lambda: _replied(bob, room, sentinel), timeout=120)
    await mallory.wait_for(lambda: _replied(mallory, room, sentinel), timeout=30)

    answered = [e for e in flood if _replied(mallory, room, e)]
    notices = [r for r in mallory.from_bot(room) if r.body == THROTTLE_TEXT]
    assert len(notices) == 1
    rate = 20  # BOT_MEMBER_RATE default
    assert len(answered) == rate + 1  # the first 20, and the notice answering the 21st
    assert answered == flood[: rate + 1]
    FIGURES.update(flood_sent=len(flood), flood_answered=len(answered) - 1, flood_notices=len(notices),
                   bob_answered_after_flood_message=bob_answered_at[0])
    print(f"\nflood figures: {FIGURES}")


async def test_a_long_backlog_in_one_room_is_answered_after_a_restart(make_bot, synapse, tmp_path):
    """More commands in one room while the bot is down than a sync returns by default (10)."""
    name = f"gap{os.getpid()}x{random.randrange(1 << 20)}"
    bot = make_bot(BOT_MEMBER_RATE="100", BOT_ADMINS=f"@{name}:{synapse.server_name}").start()  # a campaign member
    alice = await LightMember.create(synapse, name, tmp_path, bot.user_id)
    try:
        room = await alice.open_dm()
        first = await alice.send(room, "!privacy", txn_id="gap.first")
        await alice.sync_until(lambda: _replied(alice, room, first), timeout=60)
        assert bot.stop() == 0
        backlog = [await alice.send(room, f"!company Gap{n}", txn_id=f"gap.{n}") for n in range(30)]
        bot.start()
        try:
            await alice.sync_until(lambda: all(_replied(alice, room, e) for e in backlog), timeout=60)
        except TimeoutError:
            missing = [n for n, e in enumerate(backlog) if not _replied(alice, room, e)]
            raise AssertionError(f"unanswered {missing}; undecrypted {len(alice.undecrypted)}; seen {alice.seen}; "
                                 f"{[r.body[:20] for r in alice.from_bot(room)]}") from None
        sentinel = await alice.send(room, "!help", txn_id="gap.sentinel")
        await alice.sync_until(lambda: _replied(alice, room, sentinel), timeout=60)
        for n, event_id in enumerate(backlog):
            answers = _replied(alice, room, event_id)
            assert len(answers) == 1 and f"Gap{n}" in answers[0].body, (n, [a.body for a in answers])
    finally:
        await alice.close()
