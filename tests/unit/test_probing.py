"""Measuring a small group (issue #23 items 6 and 8), tried as an attacker would.

An infiltrator controls m ≤ k−1 accounts. They sign and withdraw as often as they like and read
every figure the bot shows them (their acknowledgements, ``!pledges``, ``!pledge info``). Whatever
they do, the transcript is the same for every number of honest signers below k: they learn no
exact count below k. And the figures everyone sees change only at announcement rounds: right
after the signature that crosses a threshold, nothing shows it until the round.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.base import DUE_SOURCES, Role
from tests.fakes import DM, ROOM, make_world, texts

COORD = "@coord:example.org"
K = 3  # BOT_MIN_CELL: exact figures start at 2k−1 = 5
OPS = st.lists(st.one_of(
    st.tuples(st.just("sign"), st.integers(0, K - 2)),
    st.tuples(st.just("unsign"), st.integers(0, K - 2)),
    st.tuples(st.just("read"), st.sampled_from(["!pledges", "!pledge info carta", "!pledge info paro"])),
), max_size=20)


async def transcript(honest: int, ops: list[tuple[Any, ...]]) -> list[str]:
    """What the attacker's accounts see, with ``honest`` members signed before they start."""
    with tempfile.TemporaryDirectory() as tmp:
        world = await make_world(Path(tmp), BOT_MIN_CELL=K)
        try:
            await world.run("!pledge create carta The letter --threshold 5 --goal 20", user=COORD, role=Role.COORDINATOR)
            await world.run("!pledge create paro Walkout --per-company --threshold 5", user=COORD, role=Role.COORDINATOR)
            for i in range(honest):
                await world.run("!pledge carta", user=f"@honest{i}:example.org", room=DM)
                await world.run("!pledge paro Google", user=f"@honest{i}:example.org", room=DM)
            seen = []
            for op in ops:
                attacker = f"@mole{op[1]}:example.org" if op[0] != "read" else "@mole0:example.org"
                if op[0] == "sign":
                    lines = [*await world.run("!pledge carta", user=attacker, room=DM),
                             *await world.run("!pledge paro Google", user=attacker, room=DM)]
                elif op[0] == "unsign":
                    lines = [*await world.run("!unpledge carta", user=attacker, room=DM),
                             *await world.run("!unpledge paro", user=attacker, room=DM)]
                else:
                    lines = await world.run(op[1], user=attacker, room=ROOM)
                seen.append(texts(lines))
            return seen
        finally:
            await world.db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_k_minus_1_accounts_learn_no_count_below_k(ops: list[tuple[Any, ...]]) -> None:
    seen = [asyncio.run(transcript(h, ops)) for h in range(K)]
    assert all(s == seen[0] for s in seen[1:]), "the attacker's view depends on the hidden count"


async def test_the_crossing_shows_nothing_until_the_round(make_world_with) -> None:
    world = await make_world_with(BOT_MIN_CELL=K, BOT_ANNOUNCE_DELAY_MIN=60, BOT_ANNOUNCE_DELAY_MAX=300)
    await world.run("!pledge create carta The letter --threshold 5", user=COORD, role=Role.COORDINATOR)
    for i in range(4):
        await world.run("!pledge carta", user=f"@m{i}:example.org", room=DM)
    before = texts(await world.run("!pledges", room=ROOM))
    assert "fewer than 5" in before.lower() and "waiting" in before
    crossing = texts(await world.run("!pledge carta", user="@m4:example.org", room=DM))
    assert "fewer than 5" in crossing.lower()  # the crossing signer's own acknowledgement shows no jump
    assert "scheduler" in world.woken  # or it sleeps past the round and the figures never change
    assert texts(await world.run("!pledges", room=ROOM)) == before  # nor does anyone else's reading
    source = DUE_SOURCES["published figures"]
    due = await source.next_due(world.db)
    wall = datetime.now(UTC)  # rounds are drawn on the wall clock, as the outbox holds rows
    assert due is not None and timedelta(seconds=58) <= due - wall <= timedelta(seconds=301)
    world.now = due
    async with world.db.transaction():
        await source.fire(world.env())
    after = texts(await world.run("!pledges", room=ROOM))
    assert "5 have signed" in after and "threshold 5: met" in after


async def test_rsvp_turnout_changes_only_at_the_round(make_world_with) -> None:
    """The same for RSVPs: with five yeses an exact figure could show the fifth arrive; it shows
    at the round, and an action nobody answered reads like one a few did."""
    world = await make_world_with(BOT_MIN_CELL=K, BOT_ANNOUNCE_DELAY_MIN=60, BOT_ANNOUNCE_DELAY_MAX=300)
    world.shell.dms.update({f"@m{i}:example.org": DM.room_id for i in range(5)})
    await world.run("!action add tomorrow 18:00 | Picket", user=COORD, role=Role.ROOM_COORDINATOR, room=ROOM)
    empty = texts(await world.run("!actions", room=ROOM))
    assert "RSVPs: yes fewer than 5, maybe fewer than 5" in empty
    for i in range(5):
        await world.run("!rsvp 1 yes", user=f"@m{i}:example.org", room=DM)
    assert texts(await world.run("!actions", room=ROOM)) == empty  # five yeses, nothing shows yet
    source = DUE_SOURCES["published figures"]
    due = await source.next_due(world.db)
    assert due is not None
    world.now = due
    async with world.db.transaction():
        await source.fire(world.env())
    assert "RSVPs: yes 5, maybe fewer than 5" in texts(await world.run("!actions", room=ROOM))
