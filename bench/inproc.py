"""In-process benchmarks (no network): per-command cost (part 2) and aggregates at scale (part 3).

Commands run the way the shell runs them: ``tests.fakes.World.run`` (parse, role check, handler,
inside one transaction) plus the shell's dedup mark (``EventBook.claim``) and the rendering and
queueing of every reply (``bot.runtime.sending.outputs``), all in the same transaction.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.runtime.sending.outputs import Send, content, put
from commands.base import Output, Role
from storage import actions as action_store
from storage import core
from storage.contracts import data as contract_data
from storage.directory import normalize, resolve
from tests.fakes import DM, ROOM, World, make_world

BIG_COMPANIES = ["Amazon", "Google", "Microsoft", "Palantir", "Oracle", "Salesforce", "Dell", "IBM",
                 "Deloitte", "Accenture", "Motorola Solutions", "Thomson Reuters", "LexisNexis", "Anduril"]


def company_pool(tail: int = 200) -> list[tuple[str, str]]:
    """(stored key, display) for big employers and a long tail of small ones."""
    pool = []
    for name in BIG_COMPANIES + [f"Smallco {i}" for i in range(tail)]:
        found = resolve(name)
        pool.append((found.key, found.display) if found else (normalize(name), name))
    return pool


def pick(rng: random.Random, pool: list[tuple[str, str]]) -> tuple[str, str]:
    """Skewed: most members work at the big employers."""
    if rng.random() < 0.8:
        return pool[rng.randrange(len(BIG_COMPANIES))]
    return pool[rng.randrange(len(pool))]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------- commands as the shell runs them

_event = itertools.count()


async def shell_run(world: World, text: str, user: str, role: Role = Role.MEMBER, room=ROOM) -> list[Output]:  # noqa: ANN001
    """One command, as the shell handles it: handler, dedup mark and queued replies in ONE transaction."""
    event_id = f"$bench{next(_event)}"
    book = core.EventBook(world.db, world.keyring)
    async with book.claim(event_id):
        results = await world.run(text, user=user, role=role, room=room)
        for index, output in enumerate(results):
            body = getattr(output, "text", None)
            if body is not None:
                await put(book, f"ob{event_id}.{index}", Send(room.room_id, content(body)))
    return results


async def clear_outbox(world: World) -> None:
    async with world.db.transaction():
        await world.db.execute("DELETE FROM outbox")


# ---------------------------------------------------------------- seeding (executemany)


@dataclass
class Campaign:
    members: int
    pledges: int
    rollcalls: int
    actions: int
    pledge_ids: list[int] = field(default_factory=list)
    open_rollcall: str = ""


async def _admin(world: World, text: str) -> str:
    outputs = await world.run(text, user="@coordinator:bench", role=Role.COORDINATOR, room=ROOM)
    return "\n".join(getattr(o, "text", "") for o in outputs)


async def seed_campaign(world: World, members: int = 100_000, pledges: int = 20, rollcalls: int = 10,
                        actions: int = 10_000, seed: int = 7) -> Campaign:
    """A grown campaign: ``members`` members signed the first pledge (per company) and answered the
    open roll-call; the other pledges and the closed roll-calls hold smaller shares; ``actions``
    actions with reminders across 500 rooms; the shipped contracts dataset."""
    rng = random.Random(seed)
    pool = company_pool()
    camp = Campaign(members, pledges, rollcalls, actions)
    await contract_data.ensure_loaded(world.db)
    for i in range(pledges):
        per_company = "--per-company" if i % 2 == 0 else ""
        await _admin(world, f"!pledge create p{i} Campaign pledge number {i} --goal {members * 3} "
                            f"--threshold {members * 2} {per_company}")
    rows = await world.db.fetchall("SELECT id, per_company FROM pledges ORDER BY id")
    assert len(rows) == pledges, "pledges were not created"
    camp.pledge_ids = [r[0] for r in rows]
    users = [f"@member{i}:bench.example" for i in range(members)]
    async with world.db.transaction():
        for n, (pledge_id, per_company) in enumerate(rows):
            share = users if n == 0 else users[: max(1, members // 20)]
            purpose = f"member:pledge:{pledge_id}"
            batch = []
            seen: dict[str, str] = {}
            for user in share:
                key, display = pick(rng, pool) if per_company else (None, None)
                if key is not None and display is not None:
                    seen.setdefault(key, display)
                batch.append((pledge_id, world.keyring.ref(purpose, user), key))
            await world.db.executemany(
                "INSERT OR IGNORE INTO pledge_signers (pledge_id, member_ref, company) VALUES (?, ?, ?)", batch)
            await world.db.executemany(
                "INSERT OR IGNORE INTO pledge_companies (pledge_id, company, display) VALUES (?, ?, ?)",
                [(pledge_id, k, d) for k, d in seen.items()])
    for i in range(rollcalls):
        await _admin(world, f"!rollcall start r{i} Roll-call number {i}")
    ids = [r[0] for r in await world.db.fetchall("SELECT id FROM rollcalls ORDER BY id")]
    async with world.db.transaction():
        for n, rollcall_id in enumerate(ids):
            share = users if n == len(ids) - 1 else users[: max(1, members // 20)]
            purpose = f"member:rollcall:{rollcall_id}"
            batch = []
            for user in share:
                key, display = pick(rng, pool)
                batch.append((rollcall_id, world.keyring.ref(purpose, user), key, display))
            await world.db.executemany(
                "INSERT OR IGNORE INTO rollcall_answers (rollcall_id, member_ref, company_key, company_display) "
                "VALUES (?, ?, ?, ?)", batch)
    for i in range(rollcalls - 1):
        await _admin(world, f"!rollcall end r{i}")
    camp.open_rollcall = f"r{rollcalls - 1}"
    await _admin(world, "!poll create strike Strike on Friday? | Yes | No | Later")  # every member voted
    poll_id = (await world.db.fetchone("SELECT id FROM polls WHERE slug='strike'"))[0]  # type: ignore[index]
    async with world.db.transaction():
        await world.db.executemany(
            "INSERT OR IGNORE INTO poll_votes (poll_id, member_ref, choices) VALUES (?, ?, ?)",
            [(poll_id, world.keyring.ref(f"member:poll:{poll_id}", user), str(1 + rng.randrange(3))) for user in users])
    await seed_actions(world, actions, rng)
    await world.db.execute("ANALYZE")
    return camp


async def seed_actions(world: World, count: int, rng: random.Random) -> None:
    """``count`` actions (one reminder a day before and one at the time), in 500 rooms and this room."""
    rooms = [f"!room{i}:bench.example" for i in range(500)] + [ROOM.room_id]
    base_ms = action_store.ms(world.now)
    keyring = world.keyring
    sealed_text = keyring.seal(action_store.TEXT, "Call the office about the contract")
    room_rows = {r: (keyring.ref(action_store.ROOM, r), keyring.seal(action_store.ROOM, r)) for r in rooms}
    async with world.db.transaction():
        start = (await world.db.fetchone("SELECT coalesce(max(id), 0) FROM actions"))[0]  # type: ignore[index]
        batch, reminders = [], []
        for i in range(count):
            room = rooms[rng.randrange(len(rooms))] if i >= 20 else ROOM.room_id
            occurs = base_ms + rng.randrange(1, 90 * 24 * 3600) * 1000
            ref, sealed = room_rows[room]
            anchor = action_store.from_ms(occurs).isoformat()
            batch.append((start + i + 1, ref, sealed, sealed_text, "UTC", anchor, occurs, None, "86400", base_ms))
            reminders.append((start + i + 1, occurs, 86400, occurs - 86_400_000))
            reminders.append((start + i + 1, occurs, 0, occurs))
        await world.db.executemany(
            "INSERT INTO actions (id, room_ref, room_sealed, text_sealed, zone, anchor, occurs_at, recurrence, leads,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        await world.db.executemany(
            "INSERT INTO action_reminders (action_id, occurs_at, lead_s, due_at) VALUES (?, ?, ?, ?)", reminders)


# ---------------------------------------------------------------- part 2: cost per command


@dataclass
class Family:
    name: str
    make: Callable[[int], tuple[str, str, object]]  # i → (text, user, room)


def families(camp: Campaign) -> list[Family]:
    big = "p0"
    small = f"p{min(1, camp.pledges - 1)}"
    companies = ["Amazon", "AWS", "Google", "Microsoft", "Palantir", "Smallco 7", "Dell"]

    def new_user(i: int) -> str:
        return f"@bench{i}:bench.example"

    return [
        Family("!pledge (sign, per-company, big pledge)",
               lambda i: (f"!pledge {big} {companies[i % len(companies)]}", new_user(i), DM)),
        Family("!pledge (sign, small pledge)", lambda i: (f"!pledge {small}", new_user(i), DM)),
        Family("!here (open roll-call)", lambda i: (f"!here {companies[i % len(companies)]}", new_user(i), DM)),
        Family("!vote (open poll, every member voted)", lambda i: (f"!vote strike {1 + i % 3}", new_user(i), DM)),
        Family("!rsvp (an upcoming action)", lambda i: (f"!rsvp 1 {('yes', 'maybe', 'no')[i % 3]}", new_user(i), DM)),
        Family("!pledges (20 open)", lambda i: ("!pledges", new_user(i), ROOM)),
        Family("!rollcall (tallies)", lambda i: ("!rollcall", new_user(i), ROOM)),
        Family("!contracts <company>", lambda i: (f"!contracts {['Palantir', 'Amazon', 'Dell'][i % 3]}",
                                                  new_user(i), ROOM)),
        Family("!actions", lambda i: ("!actions", new_user(i), ROOM)),
        Family("!help", lambda i: ("!help", new_user(i), ROOM)),
    ]


@dataclass
class CommandStats:
    name: str
    n: int
    p50_ms: float
    p99_ms: float
    per_second: float


async def time_commands(world: World, camp: Campaign, per_family: int = 200) -> tuple[list[CommandStats], float]:
    """Each family ``per_family`` times; then the families interleaved for the overall rate."""
    results = []
    counter = itertools.count(1_000_000)
    for fam in families(camp):
        await shell_run(world, *fam.make(next(counter))[:2], room=fam.make(0)[2])  # warm-up
        samples = []
        for _ in range(per_family):
            text, user, room = fam.make(next(counter))
            t0 = time.perf_counter()
            await shell_run(world, text, user, room=room)  # type: ignore[arg-type]
            samples.append(time.perf_counter() - t0)
        await clear_outbox(world)
        results.append(CommandStats(fam.name, len(samples), pct(samples, 50) * 1000, pct(samples, 99) * 1000,
                                    len(samples) / sum(samples)))
    # the mix: every family in turn, wall-clock rate on one event loop (one core)
    fams = families(camp)
    total = per_family * len(fams) // 2
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(total):
        text, user, room = fams[i % len(fams)].make(next(counter))
        await shell_run(world, text, user, room=room)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await clear_outbox(world)
    return results, total / max(wall, cpu, 1e-9)


async def bench_commands(directory: Path, members: int = 100_000, actions: int = 10_000,
                         per_family: int = 200, log: Callable[[str], None] = print) -> dict[str, object]:
    world = await make_world(directory)
    try:
        t0 = time.perf_counter()
        camp = await seed_campaign(world, members=members, actions=actions)
        log(f"  seeded {members:,} members, 20 pledges, 10 roll-calls, {actions:,} actions, contracts "
            f"in {time.perf_counter() - t0:.1f} s")
        stats, rate = await time_commands(world, camp, per_family)
        return {"stats": stats, "rate": rate, "members": members, "actions": actions}
    finally:
        await world.db.close()


# ---------------------------------------------------------------- part 3: aggregates at scale


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    await fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - t0)
    return pct(samples, 50) * 1000, pct(samples, 95) * 1000


async def seed_scale(world: World, rows: int, seed: int = 11) -> None:
    """One open per-company pledge with ``rows`` signers, one open roll-call with ``rows`` answers,
    and ``rows`` contract award rows (spread so each company has about 100)."""
    rng = random.Random(seed)
    pool = company_pool(tail=2000)
    await _admin(world, f"!pledge create big Big pledge --goal {rows * 3} --threshold {rows * 2} --per-company")
    await _admin(world, "!rollcall start big Big roll-call")
    pledge_id = (await world.db.fetchone("SELECT id FROM pledges WHERE slug='big'"))[0]  # type: ignore[index]
    rollcall_id = (await world.db.fetchone("SELECT id FROM rollcalls WHERE slug='big'"))[0]  # type: ignore[index]
    chunk = 100_000
    async with world.db.transaction():
        seen: dict[str, str] = {}
        for start in range(0, rows, chunk):
            signers, answers = [], []
            for _ in range(start, min(rows, start + chunk)):
                key, display = pick(rng, pool)
                seen.setdefault(key, display)
                signers.append((pledge_id, os.urandom(32), key))
                answers.append((rollcall_id, os.urandom(32), key, display))
            await world.db.executemany(
                "INSERT INTO pledge_signers (pledge_id, member_ref, company) VALUES (?, ?, ?)", signers)
            await world.db.executemany(
                "INSERT INTO rollcall_answers (rollcall_id, member_ref, company_key, company_display) "
                "VALUES (?, ?, ?, ?)", answers)
        await world.db.executemany(
            "INSERT OR IGNORE INTO pledge_companies (pledge_id, company, display) VALUES (?, ?, ?)",
            [(pledge_id, k, d) for k, d in seen.items()])
    await seed_contracts(world, rows)
    await world.db.execute("ANALYZE")


async def seed_contracts(world: World, rows: int) -> None:
    """Synthetic award rows on top of the shipped dataset, ~100 per company key. The full-text
    trigger is bypassed for the synthetic rows (``!contracts <company>`` does not use it), then restored."""
    await contract_data.ensure_loaded(world.db)
    have = (await world.db.fetchone("SELECT count(*) FROM contract_awards"))[0]  # type: ignore[index]
    companies = max(1, rows // 100)
    trigger = (await world.db.fetchone(
        "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='contract_awards_ai'"))[0]  # type: ignore[index]
    async with world.db.transaction():
        await world.db.execute("DROP TRIGGER contract_awards_ai")
        chunk = 100_000
        for start in range(0, max(0, rows - have), chunk):
            batch = []
            for i in range(start, min(rows - have, start + chunk)):
                company = f"synthetic{i % companies}"
                batch.append((f"AWD{i}", "bench", f"AWD{i}", f"Synthetic vendor {i % companies}", company, company,
                              "", "Detention services support", (i * 7919) % 10**9, "obligated", "2024-01-01",
                              "2025-01-01", "Department of Homeland Security",
                              "U.S. Immigration and Customs Enforcement", "bench", "", "", "usaspending", "2025-01-01",
                              "", "import", "x"))
            await world.db.executemany(
                "INSERT INTO contract_awards (award_key, source, award_id, vendor, vendor_key, company_key, parent, "
                "description, amount_cents, amount_kind, start_date, end_date, agency, sub_agency, source_title, "
                "source_url, note, source_kind, as_of, last_modified, origin, digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        await world.db.execute(trigger)


@dataclass
class ScaleRow:
    rows: int
    seed_s: float
    timings: dict[str, tuple[float, float]]  # name → (p50 ms, p95 ms)


SCALE_QUERIES = ["!pledges", "!rollcall", "!contracts Palantir", "!pledge big Amazon"]


async def bench_scale(directory: Path, sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000), repeat: int = 30,
                      log: Callable[[str], None] = print) -> list[ScaleRow]:
    out = []
    for rows in sizes:
        world = await make_world(directory / f"scale{rows}")
        try:
            t0 = time.perf_counter()
            await seed_scale(world, rows)
            seed_s = time.perf_counter() - t0
            timings = {}
            users = itertools.count()
            for text in SCALE_QUERIES:
                room = DM if text.startswith("!pledge ") else ROOM

                async def once(text: str = text, room=room, world: World = world,  # noqa: ANN001
                               users: itertools.count[int] = users) -> None:
                    await shell_run(world, text, f"@scale{next(users)}:bench.example", room=room)

                timings[text] = await _timed(once, repeat)
            out.append(ScaleRow(rows, seed_s, timings))
            log(f"  {rows:>9,} rows: seeded in {seed_s:.1f} s; " + ", ".join(
                f"{k} {v[0]:.1f} ms" for k, v in timings.items()))
        finally:
            await world.db.close()
            for p in (directory / f"scale{rows}").glob("bot.db*"):
                p.unlink()
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
