#!/usr/bin/env python3
"""The two set-up commands of organizer-bot, for a fresh machine with Python 3.11+.

    python3 dev.py run    # the bot; with no homeserver configured, a throwaway local demo
    python3 dev.py test   # lint, types and the whole test suite (Synapse started by the tests)

Both create ./.venv and install the project into it first. Synapse (for the demo and the tests)
goes into its own venv (ORGANIZER_SYNAPSE_VENV, default ~/.cache/organizer-bot/synapse-venv), the
Element-stack test client's npm packages into tests/js/node_modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def sh(*args: str | Path, check: bool = True) -> int:
    return subprocess.run([str(a) for a in args], cwd=ROOT, check=check).returncode


def ensure_venv(extra: str = "") -> None:
    if sys.version_info < (3, 11):
        sys.exit("organizer-bot needs Python 3.11 or newer.")
    if not (BIN / "python").exists():
        print(f"Creating {VENV} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed{extra}"
    pyproject = ROOT / "pyproject.toml"
    if not stamp.exists() or stamp.stat().st_mtime < pyproject.stat().st_mtime:
        print("Installing organizer-bot and its dependencies …", flush=True)
        sh(BIN / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", f".{extra}")
        stamp.touch()


def configured() -> bool:
    if os.environ.get("MATRIX_HOMESERVER"):
        return True
    env = ROOT / ".env"
    return env.exists() and any(line.startswith("MATRIX_HOMESERVER=") for line in env.read_text().splitlines())


def run(args: list[str]) -> int:
    ensure_venv()
    if configured():
        return sh(BIN / "organizer-bot", "run", *args, check=False)
    print("No homeserver configured (.env or MATRIX_HOMESERVER): starting the local demo.", flush=True)
    return sh(BIN / "organizer-bot", "demo", *args, check=False)


def test(args: list[str]) -> int:
    """Lint, types, then pytest in ORGANIZER_TEST_WORKERS parallel workers (default 3: the
    integration tests mostly wait on the homeserver and the bot, so 3 fill 2 cores without
    starving them). A test file stays on one worker; each worker starts its own Synapse.
    ``-n 0`` among the arguments runs everything in this process."""
    ensure_venv("[test]")
    workers = os.environ.get("ORGANIZER_TEST_WORKERS", "3")
    lint = [d for d in ("bot", "commands", "storage", "tests", "bench") if (ROOT / d).exists()]
    steps = [
        [BIN / "ruff", "check", *lint],
        [BIN / "mypy", "bot", "commands", "storage"],
        [BIN / "python", "-m", "pytest", "-n", workers, "--dist", "loadfile", *(args or ["tests"])],
    ]
    for step in steps:
        print("$", " ".join(str(s) for s in step), flush=True)
        code = sh(*step, check=False)
        if code != 0:
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    return run(rest) if command == "run" else test(rest)


if __name__ == "__main__":
    raise SystemExit(main())
