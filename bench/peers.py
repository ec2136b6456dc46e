"""The other bots on the same homeserver: the echo floor (bench/echo_bot.py) and the peer,
matrix-reminder-bot from PyPI in its own venv with a generated config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from bot.ops.localserver import LocalSynapse

HERE = Path(__file__).resolve().parent
PEER_SPEC = "matrix-reminder-bot"


def peer_venv() -> Path:
    return Path(os.environ.get("ORGANIZER_PEER_VENV", Path.home() / ".cache/organizer-bot/reminder-bot-venv"))


def peer_executable() -> Path:
    """matrix-reminder-bot's console script, installed into its own venv on first use."""
    root = peer_venv()
    script = root / "bin" / "matrix-reminder-bot"
    if not script.exists():
        print(f"Installing matrix-reminder-bot (peer) into {root} …", flush=True)
        venv.EnvBuilder(with_pip=True).create(root)
        subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        PEER_SPEC], check=True)
    return script


@dataclass
class Helper:
    """A bot process we started (stopped by its own PID)."""

    user_id: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_echo(hs: LocalSynapse, directory: Path, password: str, upkeep: bool = False) -> Helper:
    """bench/echo_bot.py; ``upkeep``: with organizer-bot's one-time and fallback key upkeep."""
    directory.mkdir(parents=True, exist_ok=True)
    user_id = hs.register("echofloor", password)
    log = open(directory / "echo.log", "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen([sys.executable, str(HERE / "echo_bot.py"), hs.url, user_id, password,
                                str(directory), *(["upkeep"] if upkeep else [])], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Helper(user_id, process)


def start_reminder_bot(hs: LocalSynapse, directory: Path, password: str) -> Helper:
    """matrix-reminder-bot with a config.yaml (JSON is YAML) written from its sample's keys."""
    script = peer_executable()
    directory.mkdir(parents=True, exist_ok=True)
    user_id = hs.register("reminderpeer", password)
    config = {
        "command_prefix": "!",
        "matrix": {"user_id": user_id, "user_password": password, "device_id": "REMINDERPEER",
                   "device_name": "matrix-reminder-bot", "homeserver_url": hs.url},
        "storage": {"database": f"sqlite://{directory / 'reminders.db'}", "store_path": str(directory / "store")},
        "reminders": {"timezone": "Etc/UTC"},
        "allowlist": {"enabled": False, "regexes": []},
        "blocklist": {"enabled": False, "regexes": []},
        "logging": {"level": "WARNING", "file_logging": {"enabled": False},
                    "console_logging": {"enabled": True}},
    }
    path = directory / "config.yaml"
    path.write_text(json.dumps(config, indent=2))
    log = open(directory / "reminder-bot.log", "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen([str(script), str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=directory,
                               start_new_session=True)
    return Helper(user_id, process)
