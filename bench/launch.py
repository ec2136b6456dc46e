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
by its member, so "answered" means the member could read it.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run on its own: the same environment as bench/run.py
    sys.path.insert(0, str(ROOT))
    from bench.run import ensure_environment

    ensure_environment(Path(__file__))

from bench.crowd import restart  # noqa: E402
from bench.inproc import pct  # noqa: E402
from bench.live import proc_stats  # noqa: E402
from bench.postgres import LocalPostgres  # noqa: E402
from bot.ops.localserver import LocalSynapse  # noqa: E402
from tests.harness import PASSWORD, BotProcess, Received, gather_limited, handled_so_far, outbox_waiting  # noqa: E402
from tests.security.light import LightMember  # noqa: E402

SIZES = (100, 300, 1000)
ANNOUNCED = re.compile(r"Pledge `letter` is active")
RECORDED = re.compile(r"A pledge to `letter` was recorded")
SECTION = "launch"
STAGE_EVERY = 10  # seconds between the bot's stage-time lines (BOT_STAGE_STATS)


def late_size(n: int) -> int:
    """The second wave: members who sign while the announcement goes out."""
    return max(10, n // 10)


@dataclass
class LaunchResult:
    n: int
    threshold: int
    answered: int = 0  # members holding exactly one decrypted answer to their command
    missing: int = 0  # members with none
    duplicates: int = 0  # answers beyond the first
    ack_ms: list[float] = field(default_factory=list)  # command → answer, homeserver clock
    announce_expected: int = 0  # members the bot had surely answered before the threshold was met
    met_ms: float = float("nan")  # when the benchmark saw the threshold's signature handled (wall clock, ms)
    announced: int = 0  # of those, how many hold the announcement
    announce_s: float = float("nan")  # threshold met → the announcement in the last of those DMs
    during_ms: list[float] = field(default_factory=list)  # acks of commands sent while it went out
    late_n: int = 0  # the second wave: members who sign once the threshold is met
    late_answered: int = 0
    late_ms: list[float] = field(default_factory=list)  # their acks (command → answer)
    late_during: int = 0  # of their commands, those sent before the announcement reached its last DM
    cpu_per_answer_ms: float = float("nan")
    peak_rss: int = 0
    restart_s: float = float("nan")  # the bot restarted with every DM: start → a member holds an answer
    restart_rss: int = 0  # its peak RSS by then
    burst_t0: float = 0.0  # wall clock when the burst began
    burst_s: float = float("nan")  # first command → last command accepted by the homeserver
    done_s: float = float("nan")  # first command → last answer
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.answered == self.n and self.late_answered == self.late_n and self.duplicates == 0


def _answers(member: LightMember, dm: str, event_id: str) -> list[Received]:
    """The bot's answers to the member's one command: replies to it, or private acknowledgements
    (no reply relation; a pledge is acknowledged privately), not the announcement."""
    return [r for r in member.from_bot(dm) if not ANNOUNCED.search(r.body)
            and (r.relates_to.get("m.in_reply_to") or {}).get("event_id", event_id) == event_id]


def campaign_ids(hs: LocalSynapse, groups: list[tuple[str, int]]) -> list[str]:
    """The Matrix IDs :func:`make_members` will register. Only campaign members may use the bot
    (issue #16); the burst's members are listed as admins rather than joined to a campaign room,
    so the setup does not make N room joins (the DM path measured is the same)."""
    return [f"@{prefix}{i}:{hs.server_name}" for prefix, n in groups for i in range(n)]


async def make_members(hs: LocalSynapse, n: int, directory: Path, bot_id: str, prefix: str,
                       log: Callable[[str], None] = print) -> list[LightMember]:
    """N new users, registered through the shared-secret admin API, each logged in with its own device."""
    t0 = time.monotonic()
    made: list[LightMember] = await gather_limited(
        [LightMember.create(hs, f"{prefix}{i}", directory, bot_id) for i in range(n)], limit=16)
    log(f"  {n} members registered and logged in in {time.monotonic() - t0:.0f} s")
    return made


async def create_pledge(coordinator: LightMember, threshold: int) -> str:
    """The coordinator's DM, where it created the pledge."""
    dm = await coordinator.open_dm(until_joined=True)
    sent = await coordinator.send(dm, f'!pledge create letter "Launch letter" --threshold {threshold}',
                                  txn_id="launch.create")
    await coordinator.sync_until(lambda: _answers(coordinator, dm, sent), timeout=120)
    return dm


async def burst(bot: BotProcess, members: list[LightMember], threshold: int, *, timeout: float = 600,
                stall: float = 90, late: list[LightMember] | None = None,
                log: Callable[[str], None] = print) -> LaunchResult:
    """Every member opens a DM and signs at once (the ``late`` ones, whose DMs are opened first,
    sign the moment the threshold is met); waits until the bot is done (or makes no progress for
    ``stall`` seconds), then every member fetches what it got."""
    assert bot.process is not None
    late = late or []
    n, everyone = len(members), [*members, *late]
    res = LaunchResult(n, threshold, late_n=len(late))
    late_dms = await gather_limited([m.open_dm(until_joined=True) for m in late], limit=16)
    handled_before = handled_so_far(bot)
    cpu0, _ = proc_stats(bot.process.pid)
    sent: dict[int, tuple[str, str]] = {}

    opening: list[float] = []  # the benchmark's own side: room creation + its sync, then the send
    sending: list[float] = []

    async def sign(i: int) -> None:
        t = time.monotonic()
        dm = await members[i].open_dm()  # the bot is invited; the member types at once
        opening.append(time.monotonic() - t)
        t = time.monotonic()
        sent[i] = (dm, await members[i].send(dm, "!pledge letter", txn_id=f"launch.{i}"))
        sending.append(time.monotonic() - t)

    async def sign_late() -> None:
        # the bot's database is another process's: polled, no event to wait on
        while handled_so_far(bot) - handled_before < threshold:  # noqa: ASYNC110 - queued by then
            await asyncio.sleep(0.1)
        t_late = time.time()
        res.met_ms = t_late * 1000

        async def one(j: int) -> None:
            sent[n + j] = (late_dms[j], await late[j].send(late_dms[j], "!pledge letter", txn_id=f"launch.late.{j}"))

        await gather_limited([one(j) for j in range(len(late))], limit=64)
        log(f"  {len(late)} late commands sent in {time.time() - t_late:.1f} s once the threshold was met")

    t0 = res.burst_t0 = time.time()
    late_task = asyncio.create_task(sign_late())
    await gather_limited([sign(i) for i in range(n)], limit=64)
    res.burst_s = time.time() - t0
    log(f"  {n} commands sent in {res.burst_s:.1f} s (members' side: open a DM p50 {pct(opening, 50):.1f} s "
        f"p95 {pct(opening, 95):.1f} s, first send p50 {pct(sending, 50):.1f} s p95 {pct(sending, 95):.1f} s)")

    deadline, last, last_change = time.monotonic() + timeout, (-2, -2), time.monotonic()
    while time.monotonic() < deadline:
        now = (handled_so_far(bot) - handled_before, outbox_waiting(bot))
        if now != last:
            last, last_change = now, time.monotonic()
        if now[0] >= n + len(late) and now[1] == 0:
            break
        if time.monotonic() - last_change > stall:
            res.notes.append(f"no progress for {stall:.0f} s: {now[0]} of {n} handled, {now[1]} queued")
            break
        await asyncio.sleep(0.5)
    cpu1, res.peak_rss = proc_stats(bot.process.pid)
    late_task.cancel()
    await asyncio.gather(late_task, return_exceptions=True)

    async def fetch(i: int) -> None:
        m = everyone[i]
        dm, event_id = sent[i]
        try:
            await m.sync_until(lambda: _answers(m, dm, event_id) and (
                dm not in m.bot_joined_ts or any(ANNOUNCED.search(r.body) for r in m.from_bot(dm))), timeout=20)
        except TimeoutError:
            pass

    await gather_limited([fetch(i) for i in sent], limit=32)
    _tally(res, everyone, sent)
    res.cpu_per_answer_ms = (cpu1 - cpu0) * 1000 / max(1, res.answered + res.late_answered)
    return res


def _tally(res: LaunchResult, members: list[LightMember], sent: dict[int, tuple[str, str]]) -> None:
    """``members``: the first wave, then the late ones (index ``res.n`` on)."""
    acks: list[tuple[int, int]] = []  # (command ts, answer ts), first wave
    late_acks: list[tuple[int, int]] = []
    announced: dict[int, int] = {}  # member → announcement ts
    answered_at: dict[int, int] = {}  # member → answer ts
    reasons: dict[str, int] = {}  # why members hold no answer (diagnostics)
    first_cmd = min((members[i].sent_ts.get(e, 0) for i, (_, e) in sent.items()), default=0)
    for i, (dm, event_id) in sent.items():
        m = members[i]
        answers = _answers(m, dm, event_id)
        res.duplicates += max(0, len(answers) - 1)
        if answers and not RECORDED.match(answers[0].body):
            res.notes.append(f"an unexpected answer: {answers[0].body[:80]}")
        is_late = i >= res.n
        if answers:
            answered_at[i] = answers[0].ts
        if answers and is_late:
            res.late_answered += 1
        elif answers:
            res.answered += 1
        if answers and event_id in m.sent_ts:
            (late_acks if is_late else acks).append((m.sent_ts[event_id], answers[0].ts))
        elif answers:
            res.notes.append("a member's own command was not in its timeline (no latency for it)")
        else:
            res.missing += 1
            got = m.from_bot(dm)
            why = (f"{len(got)} readable message(s) from the bot (not an answer), {len(m.undecrypted)} unreadable"
                   if got or m.undecrypted else "nothing from the bot")
            reasons[why] = reasons.get(why, 0) + 1
        news = [r.ts for r in m.from_bot(dm) if ANNOUNCED.search(r.body)]
        if news:
            announced[i] = min(news)
    res.ack_ms = [float(a - c) for c, a in acks]
    res.late_ms = [float(a - c) for c, a in late_acks]
    res.notes.extend(f"{count} members without an answer hold {why}" for why, count in reasons.items())
    if announced:
        # the announcement is queued with the answer to the signature that met the threshold and sent
        # right after it: its first delivery marks the moment the threshold was met
        met = min(announced.values())
        # expected in the DMs the bot surely knew when it queued the announcement (with the answer to
        # the threshold's signature): those it had answered in a second before the benchmark saw that
        # signature handled (polled every 0.1 s), so handled before it. Not "answered before the
        # announcement's first delivery" (answers go before bulk sends, so DMs joined after it was
        # queued counted: 70/106), nor "joined before" (a DM joined while the bot works through a
        # sync's invites is known only from the next sync: 128/144 at N = 200)
        known = res.met_ms - 1000 if res.met_ms == res.met_ms else met
        expected = [i for i, a in answered_at.items() if a < known]
        res.announce_expected = len(expected)
        res.announced = sum(1 for i in expected if i in announced)
        last = max(announced.values())
        res.announce_s = (last - met) / 1000
        # the late wave signs once the threshold-meeting command is handled, just before the
        # announcement's first delivery: counted as during it when sent before its last
        res.during_ms = [float(a - c) for c, a in acks if met <= c <= last]
        res.during_ms += [float(a - c) for c, a in late_acks if c <= last]
        res.late_during = sum(1 for c, _ in late_acks if c <= last)
    if acks:
        res.done_s = (max(a for _, a in acks) - first_cmd) / 1000


async def run_size(work: Path, n: int, *, log: Callable[[str], None] = print, synapse_cost: bool = False,
                   bot_code: Path | None = None, synapse_db: str = "sqlite") -> LaunchResult:
    """One size on a fresh homeserver and a fresh bot, so every member is new to it."""
    pg = LocalPostgres().start() if synapse_db == "postgres" else None
    try:
        hs = LocalSynapse(work / "synapse", bcrypt_rounds=4, access_log=synapse_cost,
                          database=pg.synapse_database() if pg else None).start()
    except BaseException:
        if pg is not None:
            pg.stop()
        raise
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
                                  lambda sent: _answers(coordinator, coordinator_dm, sent))
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
        hs.stop()
        if pg is not None:
            pg.stop()


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
                     synapse_db: str = "sqlite") -> list[LaunchResult]:
    results = []
    for n in sizes:
        log(f"  launch burst, N = {n}, Synapse on {synapse_db} …")
        results.append(await run_size(work / f"n{n}", n, log=log, synapse_cost=synapse_cost, bot_code=bot_code,
                                      synapse_db=synapse_db))
    return results


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
           "| N | answered | twice | ack p50 | ack p95 | ack max | announcement: in DMs answered before it, time | acks during it p95 "
           "| late wave: answered, sent during, ack p50 / p95 | first command → last answer | RSS | CPU per answer | restart with every DM: start → answer, RSS |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        out.append(
            f"| {r.n:,} | {'✅' if r.answered == r.n else '❌'} {r.answered}/{r.n} | {r.duplicates} | "
            f"{_ms(r.ack_ms, 50)} | {_ms(r.ack_ms, 95)} | {_ms(r.ack_ms, 100)} | "
            f"{r.announced}/{r.announce_expected}, {r.announce_s:.1f} s | {_ms(r.during_ms, 95)} "
            f"({len(r.during_ms)}) | {r.late_answered}/{r.late_n}, {r.late_during}, {_ms(r.late_ms, 50)} / "
            f"{_ms(r.late_ms, 95)} | {r.done_s:.1f} s | {r.peak_rss / 2**20:.0f} MB | {r.cpu_per_answer_ms:.1f} ms | "
            f"{r.restart_s:.1f} s, {r.restart_rss / 2**20:.0f} MB |")
    notes = [f"- N={r.n}: {note}" for r in results for note in r.notes]
    return "\n".join([*out, "", *notes, f"<!-- /{name} -->", ""])


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
    opts = parser.parse_args(argv)
    sizes = tuple(int(x) for x in opts.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="organizer-launch-"))
    print(f"work directory: {work}")
    try:
        results = asyncio.run(run_launch(work, sizes, synapse_cost=opts.synapse_cost,
                                         bot_code=Path(opts.bot_code).resolve() if opts.bot_code else None,
                                         synapse_db=opts.synapse_db))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(results, f"{os.cpu_count()} cores", opts.synapse_db)
    print("\n" + text)
    write_section(Path(opts.out), text, section_name(opts.synapse_db))
    print(f"written to {opts.out}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
