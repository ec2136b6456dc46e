#!/usr/bin/env python3
"""The cost of the scheduled rebuild of the member tables (issue #17; bench/RESULTS.md section 7c).

``.venv/bin/python -m bench.rebuild_cost [--sizes 1000,10000,100000] [--repeat 3]``

For each size N: an encrypted bot.db (SQLCipher, the bot's page cache) with N member rows, half
pledge signers and half roll-call answers, written in random order as members would; then,
``repeat`` times, the rebuild as the scheduler runs it (one transaction: every table of
``storage.schema.MEMBER_TABLES`` rewritten in key order) and the WAL-truncating checkpoint that
follows it. Beside them, floors measured in the same run on the same file: an empty transaction,
and one transaction reading every member row (a full scan of both tables). Commands wait for
the rebuild's transaction; the checkpoint runs on another thread and holds the write lock only
for its final TRUNCATE. Median of ``repeat``, in milliseconds, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def _timed(job: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await job()
    return (time.perf_counter() - t0) * 1000


async def measure(directory: Path, rows: int, repeat: int) -> dict[str, float]:
    from storage import pledges, rebuild, rollcalls
    from storage.hashing import Member
    from tests.fakes import make_world

    world = await make_world(directory, at_rest=True)
    db = world.db
    try:
        async with db.transaction():
            pledge_id = await pledges.create(db, world.keyring, slug="p", title="t", goal=None, threshold=None,
                                             per_company=True, deadline=None, zone="UTC", now=world.now)
            rollcall_id = await rollcalls.create(db, world.keyring, "r", "t", None, world.now, None)
        order = list(range(rows // 2))
        random.Random(rows).shuffle(order)
        companies = ["amazon", "google", "palantir", "microsoft", "acme"]
        for start in range(0, len(order), 1000):  # as members sign: in no key order
            batch = [Member(world.keyring, f"@m{i}:example.org") for i in order[start:start + 1000]]
            async with db.transaction():
                await db.executemany(
                    "INSERT INTO pledge_signers (pledge_id, member_ref, company) VALUES (?, ?, ?)",
                    [(pledge_id, m.ref(f"pledge:{pledge_id}"), companies[n % 5]) for n, m in enumerate(batch)])
                await db.executemany(
                    "INSERT INTO rollcall_answers (rollcall_id, member_ref, company_key, company_display) "
                    "VALUES (?, ?, ?, ?)",
                    [(rollcall_id, m.ref(f"rollcall:{rollcall_id}"), companies[n % 5], companies[n % 5].title())
                     for n, m in enumerate(batch)])
        await db.checkpoint()

        async def empty() -> None:
            async with db.transaction():
                pass

        async def scan() -> None:
            async with db.transaction():
                await db.fetchone("SELECT sum(length(member_ref)) FROM pledge_signers")
                await db.fetchone("SELECT sum(length(member_ref)) FROM rollcall_answers")

        timings: dict[str, list[float]] = {"empty": [], "scan": [], "rebuild": [], "checkpoint": []}
        for _ in range(repeat):
            timings["empty"].append(await _timed(empty))
            timings["scan"].append(await _timed(scan))
            t0 = time.perf_counter()
            async with db.transaction():
                await rebuild.run(db, world.now, timedelta(hours=1))
            timings["rebuild"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await db.checkpoint()
            timings["checkpoint"].append((time.perf_counter() - t0) * 1000)
        result = {name: statistics.median(values) for name, values in timings.items()}
        result["db_mb"] = (directory / "bot.db").stat().st_size / 2**20
        return result
    finally:
        await db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sizes = [int(x) for x in opts.sizes.split(",")]
    load = [Path("/proc/loadavg").read_text().split()[0]]
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rebuild-cost-") as tmp:
            results[size] = asyncio.run(measure(Path(tmp), size, opts.repeat))
        print(f"{size:,} rows: rebuild {results[size]['rebuild']:.1f} ms", file=sys.stderr)
    load.append(Path("/proc/loadavg").read_text().split()[0])
    print(f"\nSQLCipher bot.db, median of {opts.repeat}; load average {' → '.join(load)}\n")
    print("| member rows | empty transaction (floor), ms | read every member row (floor), ms | "
          "rebuild transaction, ms | checkpoint + TRUNCATE after it, ms | bot.db, MB |")
    print("|---|---|---|---|---|---|")
    for size, r in results.items():
        print(f"| {size:,} | {r['empty']:.2f} | {r['scan']:.1f} | {r['rebuild']:.1f} | {r['checkpoint']:.1f} "
              f"| {r['db_mb']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
