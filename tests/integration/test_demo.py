"""The newcomer's first minute: ``organizer-bot demo`` (what ``python3 dev.py run`` starts with no
homeserver configured) prints every message from the bot as it arrives, in the room and in the
DM, while the member is still at the prompt: nothing waits for the next command to be typed."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


class _Prompt:
    def __init__(self, directory: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--dir", str(directory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=0)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} did not appear; the prompt printed:\n{''.join(self.seen)[-3000:]}")

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


def test_every_answer_appears_as_it_arrives_in_the_room_and_the_dm(tmp_path: Path) -> None:
    prompt = _Prompt(tmp_path / "demo")
    try:
        prompt.wait_for("Ready.", timeout=240)
        prompt.type("!help")
        # both of !help's messages (the home-room note, then the list) with no further command typed
        prompt.wait_for("!privacy", timeout=60)
        prompt.type("!tz Europe/Madrid")
        prompt.wait_for("Europe/Madrid", timeout=60)
        prompt.type("!mydata")  # answered by DM: the prompt joins the DM the bot opens and shows it
        prompt.wait_for("bot (in a DM):", timeout=60)
        prompt.type("/quit")
        assert prompt.process.wait(60) == 0
    finally:
        if prompt.process.poll() is None:
            prompt.process.terminate()
            prompt.process.wait(30)
