"""The echo floor of the launch-day burst (issue #27): after organizer-bot's burst at a size, the
same burst against bench/echo_bot.py, a bare matrix-nio E2EE bot that answers every ``!`` message
with a notice replying to it, so the bot's figures can be read against what the homeserver, the
client library and the benchmark's own clients cost.

The same shape: a fresh homeserver of the same kind (the bot's burst also ran on a fresh one, so
both start from a homeserver with one earlier DM; the bot's homeserver and process are stopped by
then, so neither uses CPU), one probe DM answered first (the coordinator's pledge in the bot's run),
N new members (new accounts, new DMs) opening their DMs and typing ``!pledge letter`` at once with
the same concurrency, and the late wave, which signs once the floor has answered N/2 (the bot's:
once it has handled the threshold's N/2 signatures; the floor announces nothing, so nothing is
"sent during"). The floor keeps its one-time keys topped up and a fallback key published with
organizer-bot's ``KeyUpkeep`` unless ``--bare-floor``: bare matrix-nio 0.26 runs out of one-time
keys in a burst and most members can never send it a readable command (108 of 300 and 167 of
1,000 answered). The floor's account is exempted from rate limits like the bot's. Its progress is
the count of answers it has sent (one ``answered`` line each in its log), its CPU is its process's
(bench/live.py ``proc_stats``), and its answers are recognised as the bot's are: a reply to the
member's command, decrypted by the member.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from bench.inproc import pct
from bench.launch_burst import Answerer, LaunchResult, answers_to, burst, homeserver, late_size, make_members
from bench.peers import Helper, start_echo
from bot.ops.localserver import LocalSynapse
from tests.harness import PASSWORD
from tests.security.light import LightMember

ECHOED = re.compile(r"!pledge letter$")  # the floor's answer: the command, as a notice replying to it


def start_floor(hs: LocalSynapse, directory: Path, timeout: float = 120, upkeep: bool = True) -> Helper:
    """The echo bot, exempted from rate limits, once it has synced (it joins invites from then on)."""
    echo = start_echo(hs, directory, PASSWORD, upkeep=upkeep)
    hs.exempt_from_ratelimit(echo.user_id)  # as the bot's account is
    deadline = time.monotonic() + timeout
    while "ready" not in _log(directory).splitlines():
        if echo.process.poll() is not None or time.monotonic() > deadline:
            echo.stop()
            raise RuntimeError(f"the echo floor did not start:\n{_log(directory)[-2000:]}")
        time.sleep(0.2)
    return echo


def _log(directory: Path) -> str:
    path = directory / "echo.log"
    return path.read_text(errors="replace") if path.exists() else ""


def answered_so_far(directory: Path) -> int:
    return _log(directory).count("\nanswered")


async def run_floor(work: Path, n: int, *, log: Callable[[str], None] = print,
                    synapse_db: str = "sqlite", upkeep: bool = True) -> LaunchResult:
    """The burst at size ``n`` against the echo floor, on a fresh homeserver; ``upkeep``: with
    organizer-bot's key upkeep, without which bare nio cannot serve a burst (bench/echo_bot.py)."""
    with homeserver(work / "synapse", synapse_db) as hs:
        echo = start_floor(hs, work / "echo", upkeep=upkeep)
        everyone: list[LightMember] = []
        try:
            probe = await LightMember.create(hs, "probe", work / "members", echo.user_id)
            everyone.append(probe)
            dm = await probe.open_dm(until_joined=True)
            sent = await probe.send(dm, "!pledge letter", txn_id="floor.probe")
            await probe.sync_until(lambda: answers_to(probe, dm, sent), timeout=120)
            members = await make_members(hs, n, work / "members", echo.user_id, "new", log)
            everyone += members
            late = await make_members(hs, late_size(n), work / "members", echo.user_id, "late", log)
            everyone += late
            target = Answerer(echo.process.pid, lambda: (answered_so_far(work / "echo"), 0), answer=ECHOED,
                              announces=False)
            res = await burst(target, members, max(5, n // 2), timeout=max(300, n * 1.2), late=late, log=log)
            log(f"  echo floor N={n}: {res.answered}/{n} answered, {res.duplicates} twice, ack p50 "
                f"{pct(res.ack_ms, 50):.0f} ms p95 {pct(res.ack_ms, 95):.0f} ms; late wave "
                f"{res.late_answered}/{res.late_n}; RSS {res.peak_rss / 2**20:.0f} MB; "
                f"{res.cpu_per_answer_ms:.1f} ms CPU per answer; load {res.load_before} → {res.load_after}")
            failed = _log(work / "echo").count("\nfailed")
            if failed:
                res.notes.append(f"echo floor: {failed} sends failed (it does not retry)")
            return res
        finally:
            for m in everyone:
                await m.close()
            echo.stop()
