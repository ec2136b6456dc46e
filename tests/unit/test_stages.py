"""Stage times (bot/runtime/stages.py): a crowd's joins, first commands and first sends are timed as counts
and durations; the logged line never holds a room or member."""

from __future__ import annotations

import asyncio
import logging

from bot.runtime.stages import StageTimes


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_new_dm_is_timed_from_its_join_to_its_first_command_and_first_answer():
    clock = Clock()
    stages = StageTimes(10, clock)
    stages.joined("!dm:example.org")
    clock.now += 2.5
    stages.handled("!dm:example.org")
    clock.now += 1.5
    stages.sent("!dm:example.org")
    stages.handled("!dm:example.org")  # a second command in the same DM: no second join → handled
    stages.sent("!dm:example.org")
    line = stages.line()
    assert line is not None
    assert "join_to_handled 1× p50 2500" in line
    assert "handled_to_sent 1× p50 1500" in line
    assert "example.org" not in line and "!" not in line


async def test_nio_round_trips_are_timed_on_the_instance():
    clock = Clock()
    stages = StageTimes(10, clock)

    class Client:
        async def keys_query(self) -> str:
            clock.now += 0.3
            return "ok"

    client = Client()
    stages.instrument(client)  # methods the stand-in lacks are left alone
    assert await client.keys_query() == "ok"
    assert await client.keys_query() == "ok"
    line = stages.line()
    assert line is not None and "keys_query 2× p50 300 p95 300 max 300 ms" in line
    assert stages.line() is None  # a new period: nothing happened in it


async def test_the_line_is_logged_at_info_when_asked_for_and_at_debug_otherwise(caplog):
    caplog.set_level(logging.DEBUG, logger="organizer_bot")
    on, off = StageTimes(10), StageTimes(0)
    on.record("send", 0.05)
    off.record("send", 0.05)
    on.flush()
    off.flush()
    levels = [r.levelno for r in caplog.records if "stage times" in r.getMessage()]
    assert levels == [logging.INFO, logging.DEBUG]


async def test_rooms_whose_first_command_never_comes_are_forgotten():
    clock = Clock()
    stages = StageTimes(10, clock)
    stages.joined("!quiet:example.org")
    clock.now += 3600
    stages.joined("!next:example.org")
    assert list(stages._joined) == ["!next:example.org"]


async def test_the_service_logs_its_figures_when_stopped(caplog):
    caplog.set_level(logging.INFO, logger="organizer_bot")
    stages = StageTimes(600)
    task = asyncio.create_task(stages.run())
    await asyncio.sleep(0)
    stages.record("join", 0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert any("join 1×" in r.getMessage() for r in caplog.records)
