"""The one rule for times on rows (issue #17): what only retention or a listing reads is kept to
the day, so no stored time lines up with the homeserver's record of who sent what when. Times a
feature must act on (a deadline, a reminder's due time) are kept exactly; a time a feature must
show exactly is sealed (see the domains)."""

from __future__ import annotations

from datetime import datetime

DAY_S = 86_400
DAY_MS = DAY_S * 1000


def day_s(dt: datetime) -> int:
    """Unix seconds of the start (UTC) of ``dt``'s day."""
    return int(dt.timestamp()) // DAY_S * DAY_S


def day_ms(dt: datetime) -> int:
    """Unix milliseconds of the start (UTC) of ``dt``'s day."""
    return day_s(dt) * 1000
