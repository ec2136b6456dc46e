#!/usr/bin/env python3
"""organizer-bot benchmarks: ``python3 bench/run.py`` writes bench/RESULTS.md (see bench/README.md).

Outside the project's venv it first creates/updates ``.venv`` the way ``python3 dev.py run`` does
and re-executes itself with ``.venv/bin/python``. Synapse goes into its own venv
(``bot.ops.localserver.synapse_python()``), matrix-reminder-bot into another (``bench/peers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_environment(script: Path | None = None) -> None:
    """Re-exec ``script`` (default: this file) inside a venv that has the bot's dependencies
    (``.venv``, made like dev.py makes it)."""
    try:
        import aiosqlite  # noqa: F401
        import nio  # noqa: F401
        import pydantic_settings  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("ORGANIZER_BENCH_REEXEC"):
        sys.exit("bench: the project's dependencies are still missing after installing them into .venv")
    sys.path.insert(0, str(ROOT))
    import dev  # the project's own set-up (creates .venv, pip install -e .)

    dev.ensure_venv()
    os.environ["ORGANIZER_BENCH_REEXEC"] = "1"
    python = str(ROOT / ".venv" / "bin" / "python")
    os.execv(python, [python, str((script or Path(__file__)).resolve()), *sys.argv[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two), for trying it out")
    parser.add_argument("--only", default="inproc,scale,live,launch",
                        help="comma list of: inproc, scale, live, launch")
    parser.add_argument("--launch-sizes", default="100,300,1000", help="N for the launch-day burst (bench/launch.py)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (Synapse, logs, DBs)")
    opts = parser.parse_args()
    ensure_environment()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from bench import report

    parts = set(opts.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="organizer-bench-"))
    started = time.monotonic()
    results: dict[str, object] = {"started": datetime.now(UTC), "quick": opts.quick,
                                  "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                                             f"Python {platform.python_version()}",
                                  "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
    try:
        asyncio.run(_run(parts, work, opts.quick, results, opts.launch_sizes))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["minutes"] = (time.monotonic() - started) / 60
    from bench import launch

    if parts == {"launch"}:  # only the launch section changes; the rest of RESULTS.md stays
        text = launch.render(results["launch"], results["machine"])  # type: ignore[arg-type]
        launch.write_section(Path(opts.out), text)
    else:
        text = report.render(results)
        Path(opts.out).write_text(text)
        if "launch" in results:
            launch.write_section(Path(opts.out), launch.render(results["launch"], results["machine"]))  # type: ignore[arg-type]
    print("\n" + text)
    print(f"written to {opts.out}")
    return 0


async def _run(parts: set[str], work: Path, quick: bool, results: dict[str, object], launch_sizes: str) -> None:
    from bench import inproc, launch, live

    if "inproc" in parts:
        print("2. bot-side cost per command (in-process) …", flush=True)
        results["inproc"] = await inproc.bench_commands(
            work / "inproc", members=5_000 if quick else 100_000, actions=1_000 if quick else 10_000,
            per_family=50 if quick else 300)
    if "scale" in parts:
        print("3. aggregates at scale …", flush=True)
        sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
        results["scale"] = await inproc.bench_scale(work / "scale", sizes=sizes, repeat=10 if quick else 30)
    if "live" in parts:
        print("1, 4, 5, 6. through a real Synapse …", flush=True)
        if quick:
            results["live"] = await live.run_live(work / "live", members_n=5, per_member=4, db_members=5_000, singles=10,
                                                  catchup_total=100, burst=100, scheduled=1_000, idle_s=10)
        else:
            results["live"] = await live.run_live(work / "live")
    if "launch" in parts:
        print("launch day: new members sign in one burst …", flush=True)
        sizes = (30,) if quick else tuple(int(x) for x in launch_sizes.split(","))
        results["launch"] = await launch.run_launch(work / "launch", sizes)


if __name__ == "__main__":
    raise SystemExit(main())
