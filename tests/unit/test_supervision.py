"""Every long-lived task is supervised (issue #23): an exception nobody expected is counted and
logged without identities, the task restarts with backoff, and health.json, the health check and
doctor turn unhealthy when a task keeps dying or the outbox sends nothing while messages wait."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from nio import MatrixRoom

from bot.ops import cli
from bot.runtime import health, supervisor
from bot.runtime.scheduler import Scheduler
from bot.runtime.sending.outbox import Stopping
from bot.runtime.sending.window import Window
from bot.runtime.shell import MatrixShell
from bot.runtime.supervisor import Supervisor

SECRET = "@alice:example.org in !room:example.org"


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(supervisor, "RESTART_FIRST", 0.01)
    monkeypatch.setattr(supervisor, "RESTART_MAX", 0.02)


async def _shell(world) -> MatrixShell:
    shell = MatrixShell(world.settings, world.db, world.keyring)
    room = MatrixRoom("!room:example.org", "@bot:example.org", encrypted=True)

    async def close() -> None: ...

    await shell.attach(SimpleNamespace(user_id="@bot:example.org", rooms={room.room_id: room},  # type: ignore[arg-type]
                                       close=close))
    shell.add_service("scheduler", Scheduler(shell))
    return shell


async def test_every_tasks_death_is_noticed_counted_restarted_and_reported(world, caplog, tmp_path, monkeypatch):
    shell = await _shell(world)
    runs: Counter[str] = Counter()

    def exploding(name: str):
        async def run() -> None:
            runs[name] += 1
            await asyncio.sleep(0)
            raise RuntimeError(SECRET)  # a message naming people: never logged
        return run

    tasks = ["sync", "outbox", "campaign", *shell._services]
    shell.syncer.run = exploding("sync")  # type: ignore[method-assign]
    shell.outbox.run = exploding("outbox")  # type: ignore[method-assign]
    shell._after_first_sync = exploding("campaign")  # type: ignore[method-assign]
    for name, service in shell._services.items():
        service.run = exploding(name)  # type: ignore[method-assign]
    assert {"scheduler", "stages", "undecrypted"} <= set(tasks)
    shell.syncer.last_sync = time.time()  # health.json is written from the first sync on

    with caplog.at_level(logging.INFO, logger="organizer_bot"):
        running = asyncio.create_task(shell.run())
        for _ in range(500):
            if all(runs[name] >= supervisor.FAILING_DEATHS for name in tasks):
                break
            await asyncio.sleep(0.01)
        shell.stop()
        await asyncio.wait_for(running, 5)

    assert all(runs[name] >= supervisor.FAILING_DEATHS for name in tasks), runs  # each came back
    assert shell.supervisor.failing() == sorted(tasks)
    state = json.loads((world.settings.BOT_DATA_DIR / "health.json").read_text())
    assert state["healthy"] is False and set(state["tasks_failing"]) == set(tasks)
    assert all(state["task_deaths"][name] >= supervisor.FAILING_DEATHS for name in tasks)
    assert "tasks keep dying" in health.doctor_check(world.settings.BOT_DATA_DIR).detail
    assert not health.doctor_check(world.settings.BOT_DATA_DIR).ok
    text = caplog.text
    for name in tasks:
        assert f"task {name} failed: RuntimeError at test_supervision.py:" in text
    assert "@alice" not in text and "!room" not in text


async def test_a_join_that_raises_is_counted_and_the_sync_goes_on(world, caplog):
    shell = await _shell(world)

    async def broken(room_id, state) -> None:
        raise KeyError(SECRET)

    shell.known.answer_invite = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="organizer_bot"):
        [task] = shell.known.start_joins({"!invited:example.org": []})
        await task  # does not raise: the sync loop saves its token and goes on
    assert shell.supervisor.deaths["joins"].total == 1
    assert "task joins failed: KeyError" in caplog.text and "@alice" not in caplog.text


async def test_a_task_that_ran_a_while_restarts_quickly_and_old_deaths_are_forgotten(monkeypatch):
    now = [0.0]
    watch = Supervisor(Stopping(), clock=lambda: now[0])
    for _ in range(supervisor.FAILING_DEATHS):
        watch.died("outbox", RuntimeError())
    assert watch.failing() == ["outbox"]
    now[0] += supervisor.FAILING_WINDOW + 1
    assert watch.failing() == [] and watch.health()["task_deaths"] == {"outbox": supervisor.FAILING_DEATHS}


async def test_a_stalled_outbox_is_unhealthy_after_five_minutes_a_sending_one_is_not(world):
    shell = await _shell(world)
    outbox = shell.outbox
    assert outbox.undrained_since is None
    outbox.kick()  # messages queued, and the sender never gets to them
    since = outbox.undrained_since
    assert since is not None
    state = shell.health()
    assert health.problems(state, since + health.OUTBOX_STALL - 1, sync_age=False) == []
    assert health.problems(state, since + health.OUTBOX_STALL + 1,
                           sync_age=False)[0].startswith("messages have waited 30")
    outbox._sent_at = since + 200  # a row went out meanwhile: waiting counts from then
    assert outbox.undrained_since == since + 200
    await outbox._start_groups({}, Window(outbox.book, 32), None)  # the sender finds the outbox empty
    assert outbox.undrained_since is None


def test_the_healthcheck_says_why(tmp_path, capsys, monkeypatch):
    env = tmp_path / "bot.env"
    cli.main(["init", "--output", str(env)])
    data = tmp_path / "data"
    env.write_text(env.read_text().replace("BOT_DATA_DIR=./data", f"BOT_DATA_DIR={data}"))
    for key in [k for k in os.environ if k.startswith(("MATRIX_", "BOT_"))]:
        monkeypatch.delenv(key)
    data.mkdir()
    capsys.readouterr()
    now = time.time()
    (data / "health.json").write_text(json.dumps({"last_sync": now, "tasks_failing": ["outbox"]}))
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 1
    assert capsys.readouterr().out == "unhealthy: tasks keep dying: outbox\n"
    (data / "health.json").write_text(json.dumps({"last_sync": now, "outbox_undrained_since": now - 400}))
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 1
    assert "with nothing sent" in capsys.readouterr().out
    (data / "health.json").write_text(json.dumps({"last_sync": now, "outbox_undrained_since": now - 10,
                                                  "task_deaths": {"sync": 1}, "tasks_failing": []}))
    assert cli.main(["healthcheck", "--env-file", str(env)]) == 0
