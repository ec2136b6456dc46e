#!/usr/bin/env python3
"""The cost of encryption at rest, side by side on the same run (bench/RESULTS.md section 7).

``.venv/bin/python -m bench.atrest_cost [--members N] [--actions N] [--per-family N] [--rounds R]``

Three variants of ``bench/inproc.py``'s command bench, each in its own process (so each has its
own peak RSS), in rotating order over ``rounds`` rounds so a load spike on a shared machine does
not land on one variant only:

- ``plaintext``: ``Database.open`` without a key (what the figures before #17 measured);
- ``sqlcipher, default cache``: encrypted, the build's default page cache (8 MB in the sqlcipher3
  wheel: ``PRAGMA cache_size`` reads -8000), as the first #17 measurement ran;
- ``sqlcipher, 64 MB cache``: encrypted with ``storage.atrest.PAGE_CACHE_KIB`` (what the bot runs).

Per variant: the mix rate (commands/s), p50 of each family, re-opening the database (min of 5)
and the process's peak RSS. The median over rounds is printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage.schema import open_database

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"plaintext": (False, None), "sqlcipher, default cache": (True, None),
            "sqlcipher, 64 MB cache": (True, 65536)}


async def _one(variant: str, directory: Path, members: int, actions: int, per_family: int) -> dict[str, object]:
    from bench import inproc
    from storage import atrest
    from tests.fakes import make_world

    at_rest, cache = VARIANTS[variant]
    atrest.PAGE_CACHE_KIB = cache
    world = await make_world(directory, at_rest=at_rest)
    try:
        camp = await inproc.seed_campaign(world, members=members, actions=actions)
        stats, rate = await inproc.time_commands(world, camp, per_family)
    finally:
        await world.db.close()
    key = atrest.file_key(world.settings.store_key, atrest.DB_PURPOSE) if at_rest else None
    opens = []
    for _ in range(5):
        t0 = time.perf_counter()
        db = await open_database(directory / "bot.db", world.keyring.fingerprint(), key=key)
        await db.fetchone("SELECT count(*) FROM pledge_signers")
        opens.append(time.perf_counter() - t0)
        await db.close()
    return {"rate": rate, "p50": {s.name: s.p50_ms for s in stats}, "open_ms": min(opens) * 1000,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "db_mb": (directory / "bot.db").stat().st_size / 2**20}


def _child(opts: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="atrest-cost-") as tmp:
        result = asyncio.run(_one(opts.child, Path(tmp), opts.members, opts.actions, opts.per_family))
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--per-family", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        _child(opts)
        return 0
    names = list(VARIANTS)
    runs: dict[str, list[dict]] = {n: [] for n in names}  # type: ignore[type-arg]
    load = [Path("/proc/loadavg").read_text().split()[0]]
    for r in range(opts.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out = subprocess.run([sys.executable, "-m", "bench.atrest_cost", "--child", name,
                                  "--members", str(opts.members), "--actions", str(opts.actions),
                                  "--per-family", str(opts.per_family)],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}: {name}: {runs[name][-1]['rate']:.0f} commands/s", file=sys.stderr)
        load.append(Path("/proc/loadavg").read_text().split()[0])

    def med(name: str, f) -> float:  # noqa: ANN001
        return statistics.median(f(run) for run in runs[name])

    print(f"\n{opts.members:,} members, {opts.actions:,} actions, {opts.per_family} per family, "
          f"median of {opts.rounds} rounds; load average {' → '.join(load)}\n")
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| mix of all families, commands/s | " + " | ".join(f"{med(n, lambda x: x['rate']):.0f}" for n in names)
          + " |")
    for family in runs[names[0]][0]["p50"]:
        print(f"| `{family}` p50 ms | " + " | ".join(
            f"{med(n, lambda x, f=family: x['p50'][f]):.1f}" for n in names) + " |")
    for label, field, fmt in (("re-open the database, ms (min of 5)", "open_ms", "{:.1f}"),
                              ("peak RSS of the process, MB", "rss_mb", "{:.0f}"),
                              ("bot.db size, MB", "db_mb", "{:.1f}")):
        print(f"| {label} | " + " | ".join(fmt.format(med(n, lambda x, f=field: x[f])) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
