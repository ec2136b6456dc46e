"""Time zones and the wall clock, for the time parser and recurrences: IANA names (any case,
with suggestions for typos) and how a local time maps to an instant across DST gaps and folds.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from commands.common.errors import CommandError, code
from commands.common.i18n import translations

# ---------------------------------------------------------------- zones


@lru_cache(maxsize=1)
def zone_names() -> dict[str, str]:
    """Lower-cased name -> canonical IANA name, for region zones (with a ``/``) and UTC.

    Legacy names such as ``EST`` or ``CET`` are left out on purpose: they are fixed offsets that
    read like abbreviations and silently ignore summer time."""
    names: dict[str, str] = {}
    for name in zoneinfo.available_timezones():
        if name.startswith(("posix/", "right/")) or ("/" not in name and name != "UTC"):
            continue
        names[name.lower()] = name
    names.setdefault("utc", "UTC")
    return names


@lru_cache(maxsize=1)
def zone_cities() -> dict[str, str]:
    """``berlin`` -> ``Europe/Berlin``, to suggest the full name when only the city is typed."""
    cities: dict[str, str] = {}
    for name in zone_names().values():
        if "/" in name and not name.startswith("Etc/"):
            city = name.rsplit("/", 1)[1].lower()
            cities.setdefault(city, name)
            cities.setdefault(city.replace("_", " "), name)
    return cities


def zone_suggestions(word: str, limit: int = 3) -> list[str]:
    """Close IANA zone names for a mistyped one (``Europe/Berln`` -> ``Europe/Berlin``)."""
    from rapidfuzz import fuzz, process, utils

    choices = list(zone_names().values())
    found = process.extract(
        word[:64],
        choices,
        scorer=fuzz.WRatio,
        processor=utils.default_process,
        limit=limit,
        score_cutoff=70,
    )
    best = found[0][1] if found else 0
    return [name for name, score, _index in found if score >= best - 5]


def get_zone(name: str, lang: str = "en") -> zoneinfo.ZoneInfo:
    """The zone for an IANA name (any case), or a :class:`CommandError` suggesting close names,
    in the reader's language ``lang``."""
    canonical = zone_names().get(name.strip().lower())
    if canonical is None:
        _ = translations(lang).gettext
        close = zone_suggestions(name)
        if close:
            raise CommandError(_("I don't know the time zone {zone}. Did you mean {names}? Zone names look like "
                                 "`America/Chicago`, `Europe/Berlin` or `UTC`.").format(
                zone=code(name, 60), names=", ".join(f"`{c}`" for c in close)))
        raise CommandError(_("I don't know the time zone {zone}. Zone names look like `America/Chicago`, "
                             "`Europe/Berlin` or `UTC`.").format(zone=code(name, 60)))
    return zoneinfo.ZoneInfo(canonical)


def as_zone(zone: zoneinfo.ZoneInfo | str) -> zoneinfo.ZoneInfo:
    return zone if isinstance(zone, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(zone)


# ---------------------------------------------------------------- local time resolution


def resolve_local(naive: datetime, zone: zoneinfo.ZoneInfo) -> tuple[datetime, str]:
    """Attach ``zone`` to a wall time: ``("ok" | "gap" | "fold", fold=0 datetime)``."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first, "ok"
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return first, ("gap" if round_trip != naive else "fold")


def after_gap(naive: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The first valid wall time after the gap that swallows ``naive`` (the transition)."""
    early = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)  # instant before the jump
    late = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # instant after the jump
    lo, hi = min(early, late), max(early, late)
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0).astimezone(zone)


def is_after(a: datetime, b: datetime) -> bool:
    """Real-time order. Python compares two datetimes sharing a tzinfo by wall time, ignoring
    ``fold``, which is wrong for the repeated hour of a fall-back night."""
    return a.astimezone(UTC) > b.astimezone(UTC)


def wall_time(naive: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The forgiving resolution recurrences use: gap -> first time after it, fold -> first one."""
    resolved, status = resolve_local(naive.replace(tzinfo=None), zone)
    return after_gap(naive.replace(tzinfo=None), zone) if status == "gap" else resolved
