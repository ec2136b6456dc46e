"""Being rate limited: the operator sees one line a minute with the count, and doctor reports it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bot.runtime.sending import ratelimit
from bot.runtime.sending.ratelimit import RateGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "rate limited" in r.getMessage()]


def test_a_storm_of_429s_gives_one_line_a_minute_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limits = RateGate(clock=clock, wall=clock)
    with caplog.at_level(logging.INFO, logger="organizer_bot"):
        limits.hit(2000)  # the first is said at once
        for _ in range(99):
            clock.now += 0.3
            limits.hit(500)
        assert len(lines(caplog)) == 1 and "1 answer 429" in lines(caplog)[0]
        clock.now += 31  # a minute after the first line: the rest are summed up
        limits.flush()
    said = lines(caplog)
    assert len(said) == 2
    assert "99 answers 429 in the last 61 s" in said[1] and "100 since start" in said[1]
    assert "override_ratelimit" in said[1]
    assert limits.health() == {"rate_limited": 100, "rate_limited_last": clock.now - 31}


def test_nothing_is_logged_without_429s(caplog: pytest.LogCaptureFixture) -> None:
    limits = RateGate()
    with caplog.at_level(logging.INFO, logger="organizer_bot"):
        limits.flush()
    assert lines(caplog) == [] and limits.health()["rate_limited"] == 0


async def test_doctor_reports_the_recorded_429s_and_how_to_fix_them(tmp_path: Path) -> None:
    (tmp_path / "health.json").write_text(json.dumps({"last_sync": 1.0, "rate_limited": 7,
                                                      "rate_limited_last": 1.0}))
    check = await ratelimit.doctor_check(tmp_path, "http://127.0.0.1:9", "@bot:example.org", "token")
    assert not check.ok and "7 answers 429" in check.detail and "exemption unknown" in check.detail
    assert "override_ratelimit" in check.fix


async def test_doctor_is_content_when_nothing_was_rate_limited(tmp_path: Path) -> None:
    check = await ratelimit.doctor_check(tmp_path, "http://127.0.0.1:9", "@bot:example.org", "token")
    assert check.ok and "none recorded" in check.detail
