"""Nothing on disk ties a member row to the moment its command was handled (issue #23).

The adversary holds bot.db, its WAL and BOT_STORE_KEY (not BOT_HASH_KEY), and the homeserver's
record of who sent the bot a message when. 60 members, in an order drawn at random, each sign a
per-company pledge and answer a roll-call in their DM with the bot, through the shell's own path:
sync batches of 1 to 6 members handed to ``Syncer.handle`` (the dedup mark, the member's rows and
the acknowledgement in one transaction per command), the outbox's rows deleted as they are sent,
the sync token saved after each batch. Then the adversary reads every page of bot.db and every
WAL frame (decrypted with the key, tests/sqlite_pages.py) and ranks the signer rows and the
answer rows by everything the files say about when each was written:

- the WAL commit that first holds the row (the old code: its command's own commit, with the
  dedup mark's exact expiry, the outbox row's queue time and the transaction ID);
- any time-like value in that commit (a dedup mark's expiry minus its 14 days, a queue time);
- for rows already in the database file, the cell's place in its page (newer cells sit lower).

The guess maps the k-th row of that ranking to the k-th member the homeserver saw. Under no
information the guess is a random permutation of the members, whose number of right guesses is
about Poisson(1): P(≥ 6 of 60) ≈ 6·10⁻⁴. The test asserts at most :data:`CHANCE_BOUND` right
for each table and each reading. The scenario is seeded and the keys are fixed, so a run is
deterministic; the bound says it is not a lucky seed. The same scenario with the batch's
settling switched off (what main did, where only the scheduled rebuild reset the order) links
nearly every member: the reading works.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from nio import MatrixRoom, RoomMessageText

from bot.runtime import sync as sync_module
from bot.runtime.shell import MatrixShell
from commands.base import Role
from storage import atrest
from storage import db as db_module
from storage.core import EVENT_TTL_SECONDS, EventBook
from storage.hashing import Member
from tests.fakes import World
from tests.sqlite_pages import Image, cells, images

MEMBERS = 60
SEED = 2323
CHANCE_BOUND = 5  # right guesses allowed of 60: P(Poisson(1) >= 6) < 6e-4
BOT = "@bot:example.org"
COMPANIES = ["Amazon", "Palantir", "Google"]


def user(i: int) -> str:
    return f"@worker{i:03d}:example.org"


def message(event_id: str, sender: str, ts: int, body: str) -> RoomMessageText:
    return RoomMessageText.from_dict({"type": "m.room.message", "event_id": event_id, "sender": sender,
                                      "origin_server_ts": ts, "content": {"msgtype": "m.text", "body": body}})


async def sign_in_random_order(world: World) -> tuple[list[int], int, int]:
    """The scenario; returns the members in the order the homeserver saw them, the pledge's and
    the roll-call's IDs."""
    home = MatrixRoom("!home:example.org", BOT, encrypted=True)
    rooms = {home.room_id: home}
    home.add_member(BOT, None, None)
    for i in range(MEMBERS):
        home.add_member(user(i), None, None)
        dm = rooms[f"!dm{i:03d}:example.org"] = MatrixRoom(f"!dm{i:03d}:example.org", BOT, encrypted=True)
        dm.add_member(BOT, None, None)
        dm.add_member(user(i), None, None)
    shell = MatrixShell(world.settings, world.db, world.keyring)
    await shell.attach(SimpleNamespace(user_id=BOT, rooms=rooms))  # type: ignore[arg-type]
    shell.known.campaign.configured_home = home.room_id
    for i in range(MEMBERS):
        await shell.known.mark_dm(f"!dm{i:03d}:example.org")
    coordinator = Role.COORDINATOR
    await world.run("!pledge create letter Sign the letter --per-company", user="@coord:example.org", role=coordinator)
    await world.run("!rollcall start strike Who strikes?", user="@coord:example.org", role=coordinator)
    pledge_id = (await world.db.fetchone("SELECT id FROM pledges"))[0]
    rollcall_id = (await world.db.fetchone("SELECT id FROM rollcalls"))[0]

    rng = random.Random(SEED)
    order = list(range(MEMBERS))
    rng.shuffle(order)
    ts = int(time.time() * 1000)
    book = EventBook(world.db, world.keyring)
    queue = deque(order)
    batch_no = 0
    while queue:
        batch = [queue.popleft() for _ in range(min(len(queue), rng.randint(1, 6)))]
        join = {}
        for i in batch:  # each member's two commands, as the homeserver stamped them
            ts += rng.randint(500, 20_000)
            company = COMPANIES[rng.randrange(len(COMPANIES))]
            events = [message(f"$p{i}", user(i), ts, f"!pledge letter {company}"),
                      message(f"$h{i}", user(i), ts + 900, f"!here {company}")]
            join[f"!dm{i:03d}:example.org"] = SimpleNamespace(
                state=[], timeline=SimpleNamespace(events=events, limited=False, prev_batch=""))
        response = SimpleNamespace(device_list=SimpleNamespace(changed=[]), to_device_events=[],
                                   rooms=SimpleNamespace(invite={}, join=join))
        await shell.syncer.handle(response, f"s{batch_no}")  # type: ignore[arg-type]
        for item in await book.pending():  # the outbox sends them: one commit each, as it runs
            await book.done(item.id)
        batch_no += 1
        await shell.syncer._save_token(deque([(f"s{batch_no}_{ts}", [])]))
    if world.db._checkpointer is not None:  # the one the last settle asked for (milliseconds)
        await world.db._checkpointer
    return order, pledge_id, rollcall_id


# ---------------------------------------------------------------- the adversary


def time_like(value: Any, now: float) -> float | None:
    """A handling time read from an integer: itself (a queue time) or, for a dedup mark's expiry,
    14 days earlier; ``None`` for anything else."""
    if not isinstance(value, int):
        return None
    if now - 86_400 <= value <= now + 86_400:
        return float(value)
    if now + EVENT_TTL_SECONDS - 86_400 <= value <= now + EVENT_TTL_SECONDS + 2 * 86_400:
        return float(value - EVENT_TTL_SECONDS)
    return None


def readings(found: list[Image], table_id: int, arity: int, now: float) -> dict[str, dict[bytes, tuple[float, ...]]]:
    """For every row of the member table whose records read ``(table_id, 32-byte reference,
    company texts…)`` with ``arity`` columns (the schema tells the tables apart): a sort key per reading ("order": commit, then place in the page; "time": the commit's
    time-like value first)."""
    def rows(image: Image) -> list[tuple[int, bytes]]:
        return [(offset, values[1]) for offset, values in cells(image)
                if len(values) == arity and values[0] == table_id and isinstance(values[1], bytes)
                and len(values[1]) == 32 and all(v is None or isinstance(v, str) for v in values[2:])]

    order: dict[bytes, tuple[float, ...]] = {}
    when: dict[bytes, tuple[float, ...]] = {}
    for image in (im for im in found if im.where == "db"):  # before the WAL: older cells sit higher
        placed = sorted(rows(image), reverse=True)
        for rank, (_, ref) in enumerate(placed):
            order.setdefault(ref, (-1.0, rank / len(placed)))
            when.setdefault(ref, (float("inf"), -1.0, rank / len(placed)))
    commit, pending, times = 0, [], []
    for image in (im for im in found if im.where == "wal"):
        pending.append(image)
        times += [t for _, values in cells(image) for v in values if (t := time_like(v, now)) is not None]
        if not image.commit:
            continue
        stamp = max(times) if times else float("inf")
        for frame in pending:
            placed = sorted(rows(frame), reverse=True)
            for rank, (_, ref) in enumerate(placed):
                order.setdefault(ref, (float(commit), rank / len(placed)))
                when.setdefault(ref, (stamp, float(commit), rank / len(placed)))
        commit, pending, times = commit + 1, [], []
    return {"order": order, "time": when}


def right_guesses(keys: dict[bytes, tuple[float, ...]], truth: list[bytes]) -> int:
    """The k-th row by the reading is guessed to be the k-th member the homeserver saw; rows the
    reading did not find go last, in reference order (no information)."""
    ranked = sorted(keys, key=lambda ref: (keys[ref], ref)) + sorted(set(truth) - set(keys))
    return sum(1 for guess, ref in zip(ranked, truth, strict=False) if guess == ref)


async def attack(world: World, order: list[int], pledge_id: int, rollcall_id: int) -> dict[str, int]:
    key = atrest.file_key(world.settings.store_key, atrest.DB_PURPOSE)
    found = list(images(world.settings.BOT_DATA_DIR, key))
    now = time.time()
    linked = {}
    for table, table_id, arity, purpose in (("signers", pledge_id, 3, f"pledge:{pledge_id}"),
                                            ("answers", rollcall_id, 4, f"rollcall:{rollcall_id}")):
        truth = [Member(world.keyring, user(i)).ref(purpose) for i in order]  # scoring only
        read = readings(found, table_id, arity, now)
        assert set(read["order"]) >= set(truth)  # every row was read
        for name, keys in read.items():
            linked[f"{table} by {name}"] = right_guesses(keys, truth)
    return linked


# ---------------------------------------------------------------- the tests


# the bot checkpoints every 100 commits; 100,000 keeps every command's commit in the WAL
WAL_KEPT = pytest.mark.parametrize("checkpoint_every", [db_module.CHECKPOINT_EVERY, 100_000])


@WAL_KEPT
async def test_with_the_keys_and_the_homeservers_times_no_member_row_is_linked_better_than_chance(
        make_world_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, checkpoint_every: int) -> None:
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", checkpoint_every)
    world = await make_world_with(at_rest=True)
    order, pledge_id, rollcall_id = await sign_in_random_order(world)
    assert (await world.db.fetchone("SELECT count(*) FROM pledge_signers"))[0] == MEMBERS
    assert (await world.db.fetchone("SELECT count(*) FROM rollcall_answers"))[0] == MEMBERS
    linked = await attack(world, order, pledge_id, rollcall_id)
    assert all(right <= CHANCE_BOUND for right in linked.values()), linked


@WAL_KEPT
async def test_without_settling_the_same_reading_links_nearly_every_member(
        make_world_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, checkpoint_every: int) -> None:
    """The reading works: with the rows left where their commands wrote them (the scheduled
    rebuild only, as on main), the WAL's commits and the pages' cells give the members away."""
    async def unsettled(db: Any) -> int:
        return 0

    monkeypatch.setattr(sync_module.rebuild, "settle", unsettled)
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", checkpoint_every)
    world = await make_world_with(at_rest=True)
    order, pledge_id, rollcall_id = await sign_in_random_order(world)
    linked = await attack(world, order, pledge_id, rollcall_id)
    # each table is given away by at least one reading (the times are day-coarse now, so the
    # commit order and the place in the page are what link them)
    for table in ("signers", "answers"):
        assert max(n for reading, n in linked.items() if reading.startswith(table)) >= 0.9 * MEMBERS, linked


def test_right_guesses_counts_a_random_ranking_near_one() -> None:
    """The bound's premise: a ranking with no information is right about once in 60."""
    rng = random.Random(1)
    truth = [bytes([i]) * 32 for i in range(MEMBERS)]
    counts = []
    for _ in range(2000):
        shuffled = truth[:]
        rng.shuffle(shuffled)
        counts.append(right_guesses({ref: (float(n),) for n, ref in enumerate(shuffled)}, truth))
    assert 0.9 < sum(counts) / len(counts) < 1.1
    assert sum(c > CHANCE_BOUND for c in counts) <= 5  # about 1 in 1,700 expected
    assert right_guesses({ref: (float(n),) for n, ref in enumerate(truth)}, truth) == MEMBERS
