#!/usr/bin/env python3
"""Launch day (issue #15): N members who are new to the bot each open an encrypted DM with it and
type ``!pledge letter`` in one burst; the signature that meets the pledge's threshold makes the bot
announce it to every DM while the rest of the burst is still being answered. A second, smaller wave
of members (their DMs opened before the burst) signs the moment the threshold is met, while the
announcement is going out: their answer latency is what a member sees during an announcement.

``python3 bench/launch.py --sizes 100,300,1000`` (or ``python3 bench/run.py --only launch``) writes
the launch section of bench/RESULTS.md. Every member is a real matrix-nio E2EE client with its own
device (tests/security/light.py); the bot is the real ``organizer-bot run`` process
(tests/harness.py ``BotProcess``), its account exempted from rate limits the way docs/operations.md
tells a homeserver admin to. Latencies are measured on the homeserver's clock: the member's command
event → the bot's answer event (both ``origin_server_ts``), so the benchmark's own load (N clients
in one Python process) does not count against the bot; every answer is then fetched and decrypted
by its member, so "answered" means the member could read it. After each size, unless ``--no-floor``,
the same burst against the echo floor (bench/launch_floor.py), reported beside it with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run on its own: the same environment as bench/run.py
    sys.path.insert(0, str(ROOT))
    from bench.run import ensure_environment

    ensure_environment(Path(__file__))

from bench.crowd import restart  # noqa: E402
from bench.inproc import pct  # noqa: E402
from bench.launch_burst import (  # noqa: E402
    LaunchResult,
    answers_to,
    burst,
    campaign_ids,
    create_pledge,
    homeserver,
    late_size,
    make_members,
)
from bench.launch_floor import run_floor  # noqa: E402
from bot.ops.localserver import LocalSynapse  # noqa: E402
from tests.harness import PASSWORD, BotProcess  # noqa: E402
from tests.security.light import LightMember  # noqa: E402

SIZES = (100, 300, 1000)
SECTION = "launch"
STAGE_EVERY = 10  # seconds between the bot's stage-time lines (BOT_STAGE_STATS)


async def run_size(work: Path, n: int, *, log: Callable[[str], None] = print, synapse_cost: bool = False,
                   bot_code: Path | None = None, synapse_db: str = "sqlite") -> LaunchResult:
    """One size on a fresh homeserver and a fresh bot, so every member is new to it."""
    with homeserver(work / "synapse", synapse_db, access_log=synapse_cost) as hs:
        return await _run_size(hs, work, n, log=log, synapse_cost=synapse_cost, bot_code=bot_code)


async def _run_size(hs: LocalSynapse, work: Path, n: int, *, log: Callable[[str], None], synapse_cost: bool,
                    bot_code: Path | None) -> LaunchResult:
    bot: BotProcess | None = None
    members: list[LightMember] = []
    late: list[LightMember] = []
    coordinator: LightMember | None = None
    try:
        bot_id = hs.register("organizer", PASSWORD)
        hs.exempt_from_ratelimit(bot_id)  # as docs/operations.md tells a homeserver admin
        coordinator_id = f"@coordinator:{hs.server_name}"
        crowd = campaign_ids(hs, [("new", n), ("late", late_size(n))])
        bot = BotProcess(hs, work / "bot", bot_id, extra_env={"BOT_ADMINS": ",".join([coordinator_id, *crowd]),
                                                              "BOT_STAGE_STATS": str(STAGE_EVERY)},
                         code_root=bot_code)
        bot.start()
        coordinator = await LightMember.create(hs, "coordinator", work / "members", bot_id)
        threshold = max(5, n // 2)  # a threshold is at least BOT_MIN_CELL (default 5)
        coordinator_dm = await create_pledge(coordinator, threshold)
        members = await make_members(hs, n, work / "members", bot_id, "new", log)
        late = await make_members(hs, late_size(n), work / "members", bot_id, "late", log)
        res = await burst(bot, members, threshold, timeout=max(300, n * 1.2), late=late, log=log)
        log(f"  N={n}: {res.answered}/{n} answered, {res.duplicates} twice, ack p50 {pct(res.ack_ms, 50):.0f} ms "
            f"p95 {pct(res.ack_ms, 95):.0f} ms max {max(res.ack_ms, default=0):.0f} ms; announcement in "
            f"{res.announced}/{res.announce_expected} DMs in {res.announce_s:.1f} s; late wave "
            f"{res.late_answered}/{res.late_n}, {res.late_during} sent during it, p95 {pct(res.late_ms, 95):.0f} ms; "
            f"RSS {res.peak_rss / 2**20:.0f} MB; {res.cpu_per_answer_ms:.1f} ms CPU per answer")
        res.notes.extend(_log_findings(bot.log()))
        for line in stage_lines(bot.log()):
            log(f"  bot: {line}")
        # many rooms: the bot started again with every DM of the burst, timed to its answer to `!pledges`
        restarted = await restart(bot, coordinator, coordinator_dm, "!pledges",
                                  lambda sent: answers_to(coordinator, coordinator_dm, sent))
        res.restart_s, res.restart_rss = restarted.answer_s, restarted.rss
        log(f"  restart with {n + len(late) + 1} DMs: {restarted.text()}")
        if synapse_cost:
            for line in synapse_cost_lines(hs.directory / "homeserver.log", bot_id, t_burst=res.burst_t0):
                log(f"  synapse: {line}")
        return res
    finally:
        for m in [*members, *late, *([coordinator] if coordinator else [])]:
            await m.close()
        if bot is not None:
            bot.stop()


_ACCESS = re.compile(r"\{(?P<who>[^}]*)\} Processed request: (?P<total>[\d.]+)sec/[\d.]+sec "
                     r"ru=\((?P<ut>[\d.]+)sec, (?P<st>[\d.]+)sec\) db=\([\d.]+sec/(?P<db>[\d.]+)sec"
                     r".*?\"(?P<method>[A-Z]+) (?P<path>[^ ?\"]+)")
_ID_PART = re.compile(r"/(?:%21|!|%40|@|%24|\$|%23|#)[^/]*|(?<=/send/m\.room\.encrypted)/[^/]+$"
                      r"|(?<=/send/m\.room\.message)/[^/]+$|(?<=/sendToDevice/m\.room\.encrypted)/[^/]+$")


def synapse_cost_lines(path: Path, bot_id: str, t_burst: float = 0.0) -> list[str]:
    """Synapse's CPU (user + system, from its access log) from the burst on, by who asked (the
    bot, or the benchmark's member clients) and endpoint: whose requests the homeserver's one
    core is spent on."""
    cost: dict[tuple[str, str], list[float]] = {}
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_burst)) if t_burst else ""
    for line in path.read_text(errors="replace").splitlines():
        if line[:19] < since:
            continue
        m = _ACCESS.search(line)
        if m is None:
            continue
        who = "bot" if m["who"] == bot_id else "members"
        endpoint = m["method"] + " " + _ID_PART.sub("/…", m["path"].replace("/_matrix/client", ""))
        entry = cost.setdefault((who, endpoint), [0.0, 0.0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += float(m["ut"]) + float(m["st"])
        entry[2] += float(m["total"])
        entry[3] += float(m["db"])
    totals = {who: [sum(v[i] for (w, _), v in cost.items() if w == who) for i in (1, 3)] for who in ("bot", "members")}
    lines = [f"from the burst on: the bot's requests took {totals['bot'][0]:.1f} s CPU + {totals['bot'][1]:.1f} s "
             f"in the database, the members' {totals['members'][0]:.1f} s + {totals['members'][1]:.1f} s"]
    for (who, endpoint), (count, cpu, wall, db) in sorted(cost.items(), key=lambda kv: -kv[1][1] - kv[1][3])[:16]:
        lines.append(f"{who:7} {endpoint:42} {int(count):5}× CPU {cpu:6.1f} s, db {db:6.1f} s, "
                     f"mean wall {wall / count * 1000:.0f} ms")
    return lines


def stage_lines(text: str) -> list[str]:
    """The bot's per-stage counts and durations (bot/runtime/stages.py), one line per period."""
    return [line.split(": ", 1)[-1] for line in text.splitlines() if "stage times, last" in line]


def _log_findings(text: str) -> list[str]:
    """Warnings and errors in the bot's log, counted by their message (no identities in the log)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if " WARNING " in line or " ERROR " in line:
            key = re.sub(r"\d+", "N", line.split(": ", 1)[-1])[:120]
            counts[key] = counts.get(key, 0) + 1
    return [f"bot log ×{c}: {k}" for k, c in sorted(counts.items(), key=lambda kv: -kv[1])[:8]]


async def run_launch(work: Path, sizes: tuple[int, ...] = SIZES, *, log: Callable[[str], None] = print,
                     synapse_cost: bool = False, bot_code: Path | None = None,
                     synapse_db: str = "sqlite", floor: bool = True, bare_floor: bool = False) -> list[LaunchResult]:
    """Each size on its own homeserver; with ``floor``, then the same burst against the echo floor
    on another fresh one (bench/launch_floor.py), the bot's homeserver and process stopped."""
    results = []
    for n in sizes:
        log(f"  launch burst, N = {n}, Synapse on {synapse_db} …")
        res = await run_size(work / f"n{n}", n, log=log, synapse_cost=synapse_cost, bot_code=bot_code,
                             synapse_db=synapse_db)
        if floor:
            log(f"  the same burst against the echo floor, N = {n} …")
            res.floor = await run_floor(work / f"n{n}-floor", n, log=log, synapse_db=synapse_db, upkeep=not bare_floor)
            log(f"  bot / echo: ack p50 {ratio(res.ack_ms, res.floor.ack_ms, 50)}, p95 "
                f"{ratio(res.ack_ms, res.floor.ack_ms, 95)}, CPU per answer "
                f"{res.cpu_per_answer_ms / res.floor.cpu_per_answer_ms:.2f}×")
        results.append(res)
    return results


def ratio(bot: list[float], floor: list[float], q: float) -> str:
    return f"{pct(bot, q) / pct(floor, q):.2f}×" if bot and floor and pct(floor, q) > 0 else "–"


def _ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) / 1000:.1f} s" if values else "–"


def section_name(synapse_db: str) -> str:
    return SECTION if synapse_db == "sqlite" else f"{SECTION}-{synapse_db}"


def render(results: list[LaunchResult], machine: str = "", synapse_db: str = "sqlite") -> str:
    name = section_name(synapse_db)
    homeserver = {"sqlite": "Synapse on SQLite", "postgres": "Synapse on PostgreSQL"}[synapse_db]
    out = [f"<!-- {name} -->", f"## Launch day: N new members sign in one burst ({homeserver})", "",
           "Each member is new to the bot: opens an encrypted DM and types `!pledge letter` at once; the "
           "signature that meets the threshold (N/2) announces the pledge to every DM (bench/launch.py). "
           "Latency on the homeserver's clock, command → answer. Targets (issue #15): N of N answered exactly "
           "once; at N = 1,000 ack p95 ≤ 10 s, the announcement in every DM within 120 s with answers still "
           "p95 ≤ 10 s, RSS ≤ 250 MB." + (f" Machine: {machine}." if machine else ""), "",
           "The late wave (N/10, at least 10) opened their DMs before the burst and sign the moment the "
           "threshold is met: their answers are what a member sees while the announcement goes out "
           "(\"sent during\": of their commands, how many the homeserver stamped before the announcement reached "
           "its last DM).", "",
           "The **echo floor** row (bench/launch_floor.py; `--no-floor` skips it) is the same burst in the same run "
           "against bench/echo_bot.py, a matrix-nio E2EE bot that answers each command with a notice, 8 at a time, "
           "with organizer-bot's one-time and fallback key upkeep (bare nio runs out of one-time keys in a burst "
           "and most members' commands stay unreadable to it; `--bare-floor`): N "
           "new members on a fresh homeserver of the same kind (the bot's is stopped), the same concurrency, the "
           "late wave signing once the floor has answered N/2 (it announces nothing). Target (issue #27): at "
           "N = 300 and 1,000, organizer-bot's ack p50/p95 ≤ 1.3× the floor's, CPU per answer ≤ 2×.", "",
           "| N | bot | answered | twice | ack p50 | ack p95 | ack max | announcement: in DMs answered before it, time "
           "| acks during it p95 | late wave: answered, sent during, ack p50 / p95 | first command → last answer | RSS "
           "| CPU per answer | bot / echo: ack p50, ack p95, CPU per answer | load before → after "
           "| restart with every DM: start → answer, RSS |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        out.append(_row(r, "organizer-bot"))
        if r.floor is not None:
            out.append(_row(r.floor, "echo floor"))
    notes = [f"- N={r.n}{' (echo floor)' if f is r.floor else ''}: {note}" for r in results
             for f in (r, r.floor) if f is not None for note in f.notes]
    return "\n".join([*out, "", *notes, f"<!-- /{name} -->", ""])


def _row(r: LaunchResult, who: str) -> str:
    bot = who == "organizer-bot"
    vs = (f"{ratio(r.ack_ms, r.floor.ack_ms, 50)}, {ratio(r.ack_ms, r.floor.ack_ms, 95)}, "
          f"{r.cpu_per_answer_ms / r.floor.cpu_per_answer_ms:.2f}×") if r.floor is not None else "–"
    return (f"| {r.n:,} | {who} | {'✅' if r.answered == r.n else '❌'} {r.answered}/{r.n} | {r.duplicates} | "
            f"{_ms(r.ack_ms, 50)} | {_ms(r.ack_ms, 95)} | {_ms(r.ack_ms, 100)} | "
            + (f"{r.announced}/{r.announce_expected}, {r.announce_s:.1f} s | {_ms(r.during_ms, 95)} ({len(r.during_ms)}) | "
               f"{r.late_answered}/{r.late_n}, {r.late_during}, " if bot else f"– | – | {r.late_answered}/{r.late_n}, –, ")
            + f"{_ms(r.late_ms, 50)} / {_ms(r.late_ms, 95)} | {r.done_s:.1f} s | {r.peak_rss / 2**20:.0f} MB | "
            f"{r.cpu_per_answer_ms:.1f} ms | {vs} | {r.load_before or '–'} → {r.load_after or '–'} | "
            + (f"{r.restart_s:.1f} s, {r.restart_rss / 2**20:.0f} MB |" if bot else "– |"))


def write_section(path: Path, text: str, name: str = SECTION) -> None:
    """Replace (or append) the named launch section of RESULTS.md, leaving the rest as it is."""
    old = path.read_text() if path.exists() else ""
    start, end = old.find(f"<!-- {name} -->"), old.find(f"<!-- /{name} -->")
    if start >= 0 and end > start:
        new = old[:start] + text + old[end + len(f"<!-- /{name} -->") + 1:]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma list of N (default 100,300,1000)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="file whose launch section to write")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (Synapse, bot and member logs)")
    parser.add_argument("--bot-code", help="run the bot from this tree (e.g. `git archive main`), this harness: "
                        "before/after with the same benchmark")
    parser.add_argument("--synapse-cost", action="store_true",
                        help="log Synapse's requests and print its CPU by requester (bot or members) and endpoint")
    parser.add_argument("--synapse-db", choices=("sqlite", "postgres"), default="sqlite",
                        help="the homeserver's database: SQLite (default, no set-up) or a throwaway PostgreSQL "
                        "(Synapse's production database; needs PostgreSQL's server programs)")
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                        help="after each size, the same burst against the echo floor (bench/echo_bot.py) on a fresh "
                        "homeserver, reported beside the bot with the ratios (default: on)")
    parser.add_argument("--bare-floor", action="store_true",
                        help="the echo floor without organizer-bot's one-time/fallback key upkeep: bare matrix-nio, "
                        "which cannot open Olm sessions for most of a large burst (see bench/echo_bot.py)")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True,
                        help="write the section into --out (--no-write: only print it)")
    opts = parser.parse_args(argv)
    sizes = tuple(int(x) for x in opts.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="organizer-launch-"))
    print(f"work directory: {work}")
    try:
        results = asyncio.run(run_launch(work, sizes, synapse_cost=opts.synapse_cost,
                                         bot_code=Path(opts.bot_code).resolve() if opts.bot_code else None,
                                         synapse_db=opts.synapse_db, floor=opts.floor,
                                         bare_floor=opts.bare_floor))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(results, f"{os.cpu_count()} cores", opts.synapse_db)
    print("\n" + text)
    if opts.write:
        write_section(Path(opts.out), text, section_name(opts.synapse_db))
        print(f"written to {opts.out}")
    return 0 if all(r.ok and (r.floor is None or r.floor.ok) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
