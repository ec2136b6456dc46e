"""A weekly time (``mon 09:00``) and its next occurrence in a zone: the digest's schedule."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKLY = re.compile(r"([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})")


def read_weekly(text: str) -> tuple[int, int, int] | None:
    """``mon 09:00`` (or ``monday 9:00``) as (weekday 0-6, hour, minute); ``None`` if it is not one."""
    found = _WEEKLY.fullmatch(text.strip().lower())
    if found is None or found[1] not in DAYS:
        return None
    hour, minute = int(found[2]), int(found[3])
    if hour > 23 or minute > 59:
        return None
    return DAYS.index(found[1]), hour, minute


def next_weekly(when: tuple[int, int, int], zone: str, after: datetime) -> datetime:
    """The first instant (UTC) strictly after ``after`` that is ``when`` on the wall clock of
    ``zone`` (a time a daylight-saving change skips is read as the clock reads it after)."""
    weekday, hour, minute = when
    tz = zoneinfo.ZoneInfo(zone)
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    for offset in (0, 7, 14):
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz) + timedelta(days=offset)
        moment = candidate.astimezone(UTC)
        if moment > after:
            return moment
    raise AssertionError("unreachable")
