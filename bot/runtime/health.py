"""``health.json``: what the running bot reports about itself (written after each sync and when a
task dies), and how ``organizer-bot healthcheck`` and ``doctor`` judge it.

Unhealthy when (see docs/operations.md):

- the last successful sync is older than :data:`SYNC_MAX_AGE` seconds (healthcheck only: doctor
  is also run while the bot is stopped);
- a task keeps dying (``tasks_failing``: :data:`bot.runtime.supervisor.FAILING_DEATHS` deaths
  within :data:`bot.runtime.supervisor.FAILING_WINDOW` seconds);
- messages have waited in the outbox for :data:`OUTBOX_STALL` seconds with nothing sent
  (``outbox_undrained_since``). Five minutes is longer than any rate-limit pause the bot has met
  and than a first send's key round trips, while a bulk announcement keeps sending, so it stays
  healthy; a stopped or stuck sender (or a homeserver refusing every send) does not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.e2ee.crosssign import Check
from storage.atrest import write_private

SYNC_MAX_AGE = 120
OUTBOX_STALL = 300
FILE = "health.json"


def read(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write(data_dir: Path, fields: dict[str, Any]) -> None:
    """Write the health file, with the bot's own verdict (``healthy``, ``problems``) at this moment."""
    found = problems(fields, time.time())
    write_private(data_dir / FILE, json.dumps({**fields, "healthy": not found, "problems": found}))


def problems(health: dict[str, Any], now: float, *, sync_age: bool = True) -> list[str]:
    """What makes this health state unhealthy at ``now`` (nothing: healthy)."""
    found = []
    last = health.get("last_sync")
    if sync_age and not isinstance(last, int | float):
        found.append("the bot has not synced yet")
    elif sync_age and isinstance(last, int | float) and now - last > SYNC_MAX_AGE:
        found.append(f"last successful sync {int(now - last)} s ago")
    failing = health.get("tasks_failing")
    if isinstance(failing, list) and failing:
        found.append("tasks keep dying: " + ", ".join(str(name) for name in failing))
    since = health.get("outbox_undrained_since")
    if isinstance(since, int | float) and now - since > OUTBOX_STALL:
        found.append(f"messages have waited {int(now - since)} s in the outbox with nothing sent")
    return found


def doctor_check(data_dir: Path) -> Check:
    """``organizer-bot doctor``: tasks that keep dying, a stalled outbox, peers' unusable keys."""
    name = "running bot"
    health = read(data_dir)
    if health is None:
        return Check(name, True, "no health state yet (the bot has not synced)")
    found = problems(health, time.time(), sync_age=False)
    deaths = health.get("task_deaths") or {}
    detail = "; ".join(found) if found else "no task keeps dying; the outbox is sending"
    if isinstance(deaths, dict) and deaths:
        detail += "; task restarts since start: " + ", ".join(f"{k} {v}" for k, v in sorted(deaths.items()))
    peers = health.get("peer_key_failures")
    if isinstance(peers, int) and peers:
        detail += f"; {peers} devices published keys no Olm session could be built from (skipped)"
    return Check(name, not found, detail, "" if not found else
                 "read the bot's log for the failing task's error type and place; restart the bot, and "
                 "report the error if it persists")
