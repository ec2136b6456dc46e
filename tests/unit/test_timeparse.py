"""A member types a time; the bot reads it the same way in every command."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.base import CommandError
from commands.common.recurrence import Recurrence, parse_leads, parse_recurrence
from commands.common.timeparse import (
    MAX_AHEAD,
    When,
    format_duration,
    get_zone,
    parse_when,
    show_instant,
    warm_up,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
CHICAGO = ZoneInfo("America/Chicago")
# Saturday 7 March 2026, 15:00 in New York: the night before the US springs forward.
NOW = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)


def when(text: str, now: datetime = NOW, zone: str = "America/New_York", **kw: bool) -> When:
    return parse_when(text, now=now, default_zone=zone, **kw)


def local(text: str, **kw: bool) -> datetime:
    return when(text, **kw).local.replace(tzinfo=None)


def error(text: str, now: datetime = NOW, zone: str = "America/New_York") -> str:
    with pytest.raises(CommandError) as caught:
        parse_when(text, now=now, default_zone=zone)
    return str(caught.value)


# ---------------------------------------------------------------- parse_when: accepted forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 10:00", datetime(2026, 12, 1, 10, 0)),
        ("2026-12-01T10:00", datetime(2026, 12, 1, 10, 0)),
        ("2026-12-01 10:00:30", datetime(2026, 12, 1, 10, 0, 30)),
        ("2026-12-01", datetime(2026, 12, 1, 9, 0)),  # date only: 09:00
        ("tomorrow 9am", datetime(2026, 3, 8, 9, 0)),
        ("tomorrow", datetime(2026, 3, 8, 9, 0)),  # no time of day: 09:00
        ("next monday 10:00", datetime(2026, 3, 9, 10, 0)),
        ("next monday", datetime(2026, 3, 9, 9, 0)),
        ("Dec 31", datetime(2026, 12, 31, 9, 0)),
        ("Dec 31 2026 10:00", datetime(2026, 12, 31, 10, 0)),
        ("friday 5pm", datetime(2026, 3, 13, 17, 0)),
        ("noon", datetime(2026, 3, 8, 12, 0)),  # 12:00 has passed today: tomorrow
        ("at 18:30", datetime(2026, 3, 7, 18, 30)),  # still ahead today
        ("9am", datetime(2026, 3, 8, 9, 0)),
        ("10 PM", datetime(2026, 3, 7, 22, 0)),
        ("midnight", datetime(2026, 3, 8, 0, 0)),
        ("in 2 weeks", datetime(2026, 3, 21, 15, 0)),  # offsets keep the time of day
        ("in 3 days", datetime(2026, 3, 10, 15, 0)),
        ("in 1 month", datetime(2026, 4, 7, 15, 0)),
        ("in 2 weeks 10am", datetime(2026, 3, 21, 10, 0)),
        ("in 2 fortnights", datetime(2026, 4, 4, 15, 0)),
        ("in 2 hours", datetime(2026, 3, 7, 17, 0)),
        ("in 2 hours 30 minutes", datetime(2026, 3, 7, 17, 30)),
        ("in 1 day and 2 hours", datetime(2026, 3, 8, 17, 0)),  # crosses the DST change
        ("2h", datetime(2026, 3, 7, 17, 0)),
        ("90 minutes", datetime(2026, 3, 7, 16, 30)),
        ("  Tomorrow   9AM  ", datetime(2026, 3, 8, 9, 0)),
    ],
)
def test_accepted_forms_in_the_default_zone(text: str, expected: datetime) -> None:
    found = when(text)
    assert found.zone.key == "America/New_York"
    assert found.local.replace(tzinfo=None) == expected
    assert found.utc == found.local.astimezone(UTC)


def test_trailing_zone_name_wins_over_the_default() -> None:
    found = when("2026-12-01 10:00 America/Chicago")
    assert found.zone == CHICAGO
    assert found.utc == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert show_instant(found.local, found.zone) == "Tuesday 1 December 2026 at 10:00 CST"


@pytest.mark.parametrize("zone_text", ["Europe/Berlin", "europe/berlin", "EUROPE/BERLIN"])
def test_zone_names_are_case_insensitive(zone_text: str) -> None:
    found = when(f"tomorrow 9am {zone_text}")
    assert found.zone.key == "Europe/Berlin"
    assert found.local.replace(tzinfo=None) == datetime(2026, 3, 8, 9, 0)
    assert found.utc == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_utc_as_a_zone() -> None:
    found = when("tomorrow noon UTC")
    assert found.zone.key == "UTC"
    assert found.utc == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_relative_base_is_now_in_the_zone_not_utc() -> None:
    # 23:30 in New York is already the next day in UTC; "tomorrow" is still the New York tomorrow.
    late = datetime(2026, 6, 2, 3, 30, tzinfo=UTC)  # Mon 1 June 23:30 EDT
    assert local("tomorrow 9am") != datetime(2026, 6, 3, 9, 0)
    assert when("tomorrow 9am", now=late).local.replace(tzinfo=None) == datetime(2026, 6, 2, 9, 0)


def test_in_hours_counts_real_hours_across_spring_forward() -> None:
    before = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST, clocks jump at 02:00
    found = when("in 2 hours", now=before)
    assert found.utc - before == timedelta(hours=2)
    assert found.local.replace(tzinfo=None) == datetime(2026, 3, 8, 4, 30)  # EDT


def test_in_days_keeps_the_wall_clock_across_spring_forward() -> None:
    found = when("in 1 day")  # Sat 15:00 EST -> Sun 15:00 EDT, 23 real hours
    assert found.local.replace(tzinfo=None) == datetime(2026, 3, 8, 15, 0)
    assert found.utc - NOW == timedelta(hours=23)


def test_iso_with_offset_fixes_the_instant_and_shows_it_in_the_zone() -> None:
    found = when("2026-11-01T01:30-05:00")
    assert found.utc == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert found.local.fold == 1 and found.local.tzname() == "EST"
    assert when("2026-11-01T06:30Z").utc == found.utc


def test_allow_past() -> None:
    assert when("2 hours ago", allow_past=True).utc == NOW - timedelta(hours=2)


def test_get_zone() -> None:
    assert get_zone("america/chicago") == CHICAGO
    with pytest.raises(CommandError, match="Europe/Berlin"):
        get_zone("Europe/Berln")


# ---------------------------------------------------------------- parse_when: errors


def test_unreadable_says_what_to_type() -> None:
    message = error("blurb")
    assert message == (
        "I couldn't read `blurb` as a time. Try `tomorrow 9am`, `friday 17:00`, `in 2 hours` or "
        "`2026-12-01 10:00 America/Chicago`."
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "tomorrow blurb",
        "next monday 10:00 please",
        "2026-13-01",
        "2026-02-30 10:00",
        "25:00",
        "13pm",
        "in 2 blorps",
    ],
)
def test_unreadable_inputs(text: str) -> None:
    assert error(text)


def test_unknown_zone_suggests_close_names() -> None:
    message = error("tomorrow 9am Europe/Berln")
    assert "`Europe/Berln`" in message and "Did you mean `Europe/Berlin`" in message


def test_city_without_region_hints_at_the_full_name() -> None:
    assert "`Europe/Berlin`" in error("tomorrow 9am Berlin")


@pytest.mark.parametrize("text", ["tomorrow 9am CET", "monday 10:00 EST", "tomorrow 9am +0200"])
def test_zone_abbreviations_are_refused(text: str) -> None:
    assert "abbreviations" in error(text)


@pytest.mark.parametrize("text", ["tomorrow 10", "tomorrow 10.30"])
def test_a_time_of_day_dateparser_dropped_is_not_silently_replaced(text: str) -> None:
    assert "time of day" in error(text)


@pytest.mark.parametrize("text", ["tomorrow 9:75", "tomorrow at 13pm"])
def test_an_impossible_clock_says_how_times_look(text: str) -> None:
    assert "is not a time" in error(text)


@pytest.mark.parametrize("text", ["12/01/2026", "01/12/2026 10:00", "1.12.2026", "12/1"])
def test_numeric_dates_that_read_both_ways_ask_an_english_reader_which(text: str) -> None:
    assert "could be" in error(text) and "Write the month's name" in error(text)


def test_warm_up() -> None:
    warm_up()


@pytest.mark.parametrize("text", ["march", "2027"])
def test_too_vague(text: str) -> None:
    assert "vague" in error(text)


@pytest.mark.parametrize("text", ["2 hours ago", "now", "2026-01-01 10:00", "yesterday 9am", "in 0 minutes"])
def test_past_is_refused(text: str) -> None:
    assert "not in the future" in error(text)


@pytest.mark.parametrize("text", ["in 6 years", "2035-01-01", "in 99999 hours", "Dec 31 2040"])
def test_absurdly_far_is_refused(text: str) -> None:
    assert "five years" in error(text)


def test_just_under_five_years_is_fine() -> None:
    assert when("2031-03-01 10:00").utc < NOW + MAX_AHEAD


@pytest.mark.parametrize(
    ("text", "zone"),
    [("2026-03-08 02:30", "America/New_York"), ("2026-03-29 02:30", "Europe/Berlin")],
)
def test_nonexistent_local_time_on_spring_forward_day(text: str, zone: str) -> None:
    message = error(text, zone=zone)
    assert "does not exist" in message and "03:00" in message


@pytest.mark.parametrize(
    ("text", "zone", "offsets"),
    [
        ("2026-11-01 01:30", "America/New_York", ("-04:00", "-05:00")),
        ("2026-10-25 02:30", "Europe/Berlin", ("+02:00", "+01:00")),
    ],
)
def test_ambiguous_local_time_on_fall_back_day(text: str, zone: str, offsets: tuple[str, str]) -> None:
    message = error(text, zone=zone)
    assert "happens twice" in message
    assert all(offset in message for offset in offsets)


def test_ambiguous_error_suggestion_is_itself_accepted() -> None:
    assert when("2026-11-01T01:30-04:00").utc == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_when("tomorrow", now=datetime(2026, 1, 1), default_zone="UTC")


@pytest.mark.parametrize(
    "text",
    [
        "x" * 65536,
        "in 2 hours " * 6000,
        "tomorrow\x00 9am",
        "tomorrow\u200b9am",
        "\ud800",
        "明天上午9点",
        "🕘🕘🕘",
        "in 99999999999999999999999 hours",
        "99999999999999999999-01-01",
        "9999-12-31 23:59",
        "0001-01-01 00:00 Pacific/Kiritimati",
        "1" * 199,
        "in " + "99999h" * 30,
        "-" * 199,
        "tomorrow 9am Etc/GMT+14",
    ],
)
def test_hostile_input_is_a_quick_command_error(text: str) -> None:
    started = clock.perf_counter()
    with pytest.raises(CommandError):
        parse_when(text, now=NOW, default_zone="America/New_York")
    assert clock.perf_counter() - started < 1.0


_PHRASES = st.sampled_from(
    [
        "tomorrow",
        "next",
        "monday",
        "in",
        "2",
        "hours",
        "9am",
        "10:00",
        "noon",
        "Dec",
        "31",
        "2026-12-01",
        "ago",
        "weeks",
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "at",
        "pm",
        "-",
        "T",
        "Z",
        "+02:00",
        "and",
    ]
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.lists(_PHRASES, max_size=6).map(" ".join),
        st.text(alphabet="0123456789 :-/TZamp+", max_size=40),
    ),
    offset_minutes=st.integers(min_value=0, max_value=60 * 24 * 365 * 3),
    zone=st.sampled_from(["America/New_York", "Europe/Berlin", "UTC", "Australia/Lord_Howe"]),
)
def test_any_text_is_a_future_when_or_a_command_error(text: str, offset_minutes: int, zone: str) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=offset_minutes)
    try:
        found = parse_when(text, now=now, default_zone=zone)
    except CommandError:
        return
    assert isinstance(found, When)
    assert found.local.tzinfo is found.zone
    assert now < found.utc <= now + MAX_AHEAD


# ---------------------------------------------------------------- formatting


def test_an_instant_is_shown_as_a_date_in_a_sentence_in_the_readers_zone() -> None:
    assert show_instant(datetime(2026, 12, 1, 16, 0, tzinfo=UTC), CHICAGO) == "Tuesday 1 December 2026 at 10:00 CST"
    assert show_instant(datetime(2026, 12, 2, 2, 0, tzinfo=UTC), "America/Chicago",
                        now=NOW) == "Tuesday 1 December at 20:00 CST"  # this year's: no year
    assert show_instant(datetime(2027, 7, 1, 8, 0, tzinfo=UTC), BERLIN, now=NOW) == "Thursday 1 July 2027 at 10:00 CEST"
    assert show_instant(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), "UTC") == "Wednesday 1 July 2026 at 08:00 UTC"
    assert show_instant(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), "America/Sao_Paulo") == \
        "Wednesday 1 July 2026 at 05:00 UTC-3"  # a zone without an abbreviation
    with pytest.raises(ValueError):
        show_instant(datetime(2026, 7, 1), "UTC")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 minutes"),
        (10, "less than a minute"),
        (60, "1 minute"),
        (600, "10 minutes"),
        (3600, "1 hour"),
        (7500, "2 hours 5 minutes"),
        (7199, "2 hours"),  # rounded to the minute
        (86400, "1 day"),
        (90000, "1 day 1 hour"),
        (86400 + 300, "1 day"),  # two adjacent units at most
        (14 * 86400, "2 weeks"),
        (10 * 86400, "1 week 3 days"),
        (timedelta(hours=1), "1 hour"),
    ],
)
def test_format_duration(seconds: float | timedelta, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(ValueError):
        format_duration(-1)


# ---------------------------------------------------------------- leads


def test_parse_leads() -> None:
    assert parse_leads("1d,1h,10m") == [timedelta(days=1), timedelta(hours=1), timedelta(minutes=10)]
    assert parse_leads("10m 1w, 1H") == [timedelta(weeks=1), timedelta(hours=1), timedelta(minutes=10)]
    assert parse_leads("1h30m,90m") == [timedelta(minutes=90)]
    assert parse_leads("365d") == [timedelta(days=365)]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Say when"),
        ("1x", "`1x`"),
        ("1 fortnight", "`1`"),  # written-out units are read ("1 day", "1 día"), unknown ones are not
        ("0m", "no time"),
        ("366d", "365d"),
        (",".join(f"{n}m" for n in range(1, 12)), "at most 10"),
        ("1d" * 200, "too long"),
    ],
)
def test_parse_leads_errors(text: str, fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment):
        parse_leads(text)


# ---------------------------------------------------------------- recurrence


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "spec", "described"),
    [
        ("daily", "daily", "every day"),
        ("day", "daily", "every day"),
        ("every day", "daily", "every day"),
        ("weekdays", "weekdays", "every weekday (Monday to Friday)"),
        ("Every Weekday", "weekdays", "every weekday (Monday to Friday)"),
        ("week", "weekly", "every week"),
        ("monthly", "monthly", "every month"),
        ("0 9 * * 1-5", "cron 0 9 * * 1-5", "on the cron schedule `0 9 * * 1-5`"),
        ("cron 30  2 * * *", "cron 30 2 * * *", "on the cron schedule `30 2 * * *`"),
    ],
)
def test_parse_recurrence_and_spec_round_trip(text: str, spec: str, described: str) -> None:
    rule = parse_recurrence(text)
    assert rule.spec == spec
    assert Recurrence.from_spec(rule.spec) == rule
    assert rule.describe() == described


def test_describe_with_anchor() -> None:
    assert parse_recurrence("weekly").describe(at(NY, 2026, 3, 9, 9)) == "every Monday"
    assert parse_recurrence("monthly").describe(at(NY, 2026, 1, 2, 9)) == "every month on the 2nd"
    assert (
        parse_recurrence("monthly").describe(at(NY, 2026, 1, 31, 9))
        == "every month on the 31st (or the last day of shorter months)"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fortnightly", "couldn't read"),
        ("*/5 * * * *", "more than once an hour"),
        ("* 9 * * *", "more than once an hour"),
        ("61 9 * * *", "not a cron line"),
        ("0 9 30 2 *", "never happens"),
        ("0 9 * * * *", "couldn't read"),
        ("0 9 * *", "couldn't read"),
        ("0 9 * * 1-5; rm", "couldn't read"),
        ("x" * 5000, "too long"),
    ],
)
def test_parse_recurrence_errors(text: str, fragment: str) -> None:
    with pytest.raises(CommandError, match=fragment):
        parse_recurrence(text)


def test_from_spec_bad_is_a_bug_not_a_member_error() -> None:
    with pytest.raises(ValueError):
        Recurrence.from_spec("fortnightly")


def chain(rule: str, start: datetime, zone: ZoneInfo, n: int, anchored: bool = True) -> list[datetime]:
    recurrence = parse_recurrence(rule)
    out, previous = [], start
    for _ in range(n):
        previous = recurrence.next_after(previous, zone, anchor=start if anchored else None)
        out.append(previous)
    return out


def walls(values: list[datetime]) -> list[str]:
    return [f"{v:%a %Y-%m-%d %H:%M %Z}" for v in values]


def test_daily_9am_new_york_stays_9am_across_spring_forward() -> None:
    got = chain("daily", at(NY, 2026, 3, 6, 9), NY, 3)
    assert walls(got) == ["Sat 2026-03-07 09:00 EST", "Sun 2026-03-08 09:00 EDT", "Mon 2026-03-09 09:00 EDT"]
    assert got[1].astimezone(UTC) - got[0].astimezone(UTC) == timedelta(hours=23)


def test_daily_new_york_fall_back() -> None:
    got = chain("daily", at(NY, 2026, 10, 31, 9), NY, 2)
    assert walls(got) == ["Sun 2026-11-01 09:00 EST", "Mon 2026-11-02 09:00 EST"]
    assert got[0].astimezone(UTC) - at(NY, 2026, 10, 31, 9).astimezone(UTC) == timedelta(hours=25)


def test_daily_in_the_gap_moves_to_the_first_valid_time_then_returns() -> None:
    got = chain("daily", at(NY, 2026, 3, 7, 2, 30), NY, 2)
    assert walls(got) == ["Sun 2026-03-08 03:00 EDT", "Mon 2026-03-09 02:30 EDT"]
    # Without the anchor, the shifted 03:00 becomes the new wall time: why callers pass it.
    assert (
        walls(chain("daily", at(NY, 2026, 3, 7, 2, 30), NY, 2, anchored=False))[1]
        == "Mon 2026-03-09 03:00 EDT"
    )


def test_daily_in_the_fold_fires_once_at_the_first() -> None:
    got = chain("daily", at(NY, 2026, 10, 31, 1, 30), NY, 2)
    assert walls(got) == ["Sun 2026-11-01 01:30 EDT", "Mon 2026-11-02 01:30 EST"]
    assert got[0].astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_weekdays_skip_the_weekend_across_spring_forward() -> None:
    got = chain("weekdays", at(NY, 2026, 3, 5, 9), NY, 3)  # Thursday
    assert walls(got) == ["Fri 2026-03-06 09:00 EST", "Mon 2026-03-09 09:00 EDT", "Tue 2026-03-10 09:00 EDT"]


def test_weekly_berlin_both_transitions() -> None:
    spring = chain("weekly", at(BERLIN, 2026, 3, 23, 10), BERLIN, 1)
    assert walls(spring) == ["Mon 2026-03-30 10:00 CEST"]
    assert spring[0].astimezone(UTC).hour == 8
    autumn = chain("weekly", at(BERLIN, 2026, 10, 19, 10), BERLIN, 1)
    assert walls(autumn) == ["Mon 2026-10-26 10:00 CET"]
    assert autumn[0].astimezone(UTC).hour == 9


def test_berlin_gap_and_fold_for_daily() -> None:
    assert walls(chain("daily", at(BERLIN, 2026, 3, 28, 2, 30), BERLIN, 1)) == ["Sun 2026-03-29 03:00 CEST"]
    fold = chain("daily", at(BERLIN, 2026, 10, 24, 2, 30), BERLIN, 2)
    assert walls(fold) == ["Sun 2026-10-25 02:30 CEST", "Mon 2026-10-26 02:30 CET"]


def test_cron_weekdays_9am_new_york_across_spring_forward() -> None:
    got = chain("0 9 * * 1-5", at(NY, 2026, 3, 6, 9), NY, 2)
    assert walls(got) == ["Mon 2026-03-09 09:00 EDT", "Tue 2026-03-10 09:00 EDT"]


def test_cron_berlin_fall_back() -> None:
    got = chain("0 9 * * *", at(BERLIN, 2026, 10, 24, 9), BERLIN, 2)
    assert walls(got) == ["Sun 2026-10-25 09:00 CET", "Mon 2026-10-26 09:00 CET"]


def test_cron_in_the_gap() -> None:
    got = chain("30 2 * * *", at(NY, 2026, 3, 7, 2, 30), NY, 2)
    assert walls(got) == ["Sun 2026-03-08 03:00 EDT", "Mon 2026-03-09 02:30 EDT"]


def test_hourly_cron_is_wall_clock_each_local_hour_once() -> None:
    spring = chain("0 * * * *", at(NY, 2026, 3, 8, 1), NY, 2)
    assert walls(spring) == ["Sun 2026-03-08 03:00 EDT", "Sun 2026-03-08 04:00 EDT"]
    autumn = chain("0 * * * *", at(NY, 2026, 11, 1, 0), NY, 2)
    assert walls(autumn) == ["Sun 2026-11-01 01:00 EDT", "Sun 2026-11-01 02:00 EST"]


def test_monthly_clamps_to_month_end_and_returns_with_the_anchor() -> None:
    got = chain("monthly", at(NY, 2026, 1, 31, 10), NY, 4)
    assert [v.date() for v in got] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    leap = chain("monthly", at(NY, 2028, 1, 30, 10), NY, 1)
    assert leap[0].date() == date(2028, 2, 29)


def test_monthly_across_dst_keeps_local_time() -> None:
    assert walls(chain("monthly", at(BERLIN, 2026, 3, 15, 10), BERLIN, 1)) == ["Wed 2026-04-15 10:00 CEST"]


def test_previous_in_the_second_pass_of_the_fold_is_compared_in_real_time() -> None:
    # 01:30 EST is after 01:45 EDT in real time, though its wall time is earlier.
    second = at(NY, 2026, 11, 1, 1, 30, fold=1)
    got = parse_recurrence("45 * * * *").next_after(second, NY)
    assert got.astimezone(UTC) == datetime(2026, 11, 1, 7, 45, tzinfo=UTC)  # 02:45 EST
    daily = parse_recurrence("daily").next_after(second, NY)
    assert walls([daily]) == ["Mon 2026-11-02 01:30 EST"]


def test_naive_previous_is_read_as_wall_time_in_the_zone() -> None:
    rule = parse_recurrence("daily")
    assert rule.next_after(datetime(2026, 3, 7, 9), "America/New_York") == at(NY, 2026, 3, 8, 9)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(
        ["daily", "weekdays", "weekly", "monthly", "0 9 * * 1-5", "30 2 * * *", "15 * * * *"]
    ),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    zone=st.sampled_from([NY, BERLIN, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]),
)
def test_next_after_is_always_later_and_on_the_anchor_wall_time(
    kind: str, start: datetime, zone: ZoneInfo
) -> None:
    rule = parse_recurrence(kind)
    anchor = start.replace(second=0, microsecond=0, tzinfo=zone)
    previous = anchor
    for _ in range(5):
        following = rule.next_after(previous, zone, anchor=anchor)
        assert following.tzinfo is zone
        assert following.astimezone(UTC) > previous.astimezone(UTC)
        assert following.astimezone(UTC) - previous.astimezone(UTC) <= timedelta(days=32)
        if rule.kind != "cron":
            intended = datetime.combine(following.date(), anchor.time())
            exists = intended.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
            if exists == intended:  # not in a gap: exactly the anchor's wall time
                assert following.time() == anchor.time()
        previous = following
