"""AWS schedule expressions read to the longest interval between runs (drguard.schedule)."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drguard.schedule import DAYS, ScheduleError, parse

Y = 2026


@pytest.mark.parametrize("expr,hours", [
    ("cron(0 5 ? * * *)", 24),
    ("cron(0 5 * * ? *)", 24),
    ("cron(0 */6 * * ? *)", 6),
    ("cron(15 0/12 ? * * *)", 12),
    ("cron(0,30 * ? * * *)", 0.5),
    ("cron(0 5 ? * MON-FRI *)", 72),  # Friday 05:00 -> Monday 05:00
    ("cron(0 5 ? * 2-6 *)", 72),
    ("cron(0 22 ? * SUN,WED *)", 96),
    ("cron(0 5 ? * 1 *)", 168),
    ("cron(0 5 1 * ? *)", 31 * 24),
    ("cron(0 5 L * ? *)", 31 * 24),  # Jan 31 -> Feb 28/29 is shorter; Feb -> Mar is 31
    ("cron(0 5 1,15 * ? *)", 17 * 24),  # the 15th of a 31-day month -> the 1st
    ("cron(0 5 31 * ? *)", 61 * 24),  # Mar 31 -> May 31 (April has none)
    ("cron(0 5 ? * 6#5 *)", None),  # the fifth Friday: months without one; checked below
    ("cron(0 3 ? JAN,JUL * *)", None),
    ("rate(1 hour)", 1),
    ("rate(12 hours)", 12),
    ("rate(1 day)", 24),
    ("rate(7 days)", 168),
    ("rate(30 minutes)", 0.5),
])
def test_intervals(expr: str, hours: float | None) -> None:
    got = parse(expr, Y).max_interval_hours
    if hours is not None:
        assert got == pytest.approx(hours), expr
    else:
        assert got > 24 * 28 and math.isfinite(got)


def test_last_weekday_nearest_weekday_and_nth() -> None:
    # LW: the last weekday of the month; two months of last weekdays are at most ~35 days apart
    lw = parse("cron(0 5 LW * ? *)", Y).max_interval_hours
    assert 28 * 24 <= lw <= 35 * 24
    # 15W in a month whose 15th is a Saturday runs Friday 14th
    assert parse("cron(0 5 15W * ? *)", Y).max_interval_hours <= 33 * 24
    # 1W when the 1st is a Saturday runs Monday 3rd (not the previous month)
    assert parse("cron(0 5 1W * ? *)", Y).max_interval_hours <= 33 * 24
    # the last Friday (6L) and the second Tuesday (3#2) are monthly
    assert 28 * 24 <= parse("cron(0 5 ? * 6L *)", Y).max_interval_hours <= 35 * 24
    assert 28 * 24 <= parse("cron(0 5 ? * TUE#2 *)", Y).max_interval_hours <= 35 * 24
    # day-of-week L: the last day of the week, Saturday: weekly
    assert parse("cron(0 5 ? * L *)", Y).max_interval_hours == 168


def test_leap_day_and_schedules_that_stop() -> None:
    # Feb 29 runs every four years (28-year horizon from 2026)
    assert parse("cron(0 5 29 2 ? *)", Y).max_interval_hours == pytest.approx(4 * 365.25 * 24,
                                                                             abs=24)
    assert parse("cron(0 5 1 * ? 2026)", Y).max_interval_hours == math.inf
    assert parse("cron(0 5 30 2 ? *)", Y).max_interval_hours == math.inf  # never runs
    assert parse("cron(0 5 1 * ? 2020-2024)", Y).max_interval_hours == math.inf
    assert not parse("cron(0 5 1 * ? 2026)", Y).runs_forever


@pytest.mark.parametrize("expr", [
    "cron(0 5 * * * *)",  # both day fields set
    "cron(0 5 ? * ? *)",  # neither
    "cron(0 5 ? * *)",  # five fields
    "cron(60 5 ? * * *)", "cron(0 24 ? * * *)", "cron(0 5 32 * ? *)",
    "cron(0 5 ? 13 * *)", "cron(0 5 ? * 8 *)", "cron(0 5 ? * FOO *)",
    "cron(0 5 ? * 2#6 *)", "cron(0 5 ? * FRI-MON *)", "cron(0 */0 ? * * *)",
    "cron(0 5 ,1 * ? *)", "cron(a b c d e f)",
    "rate(0 hours)", "rate(1 hours)", "rate(2 hour)", "rate(5 weeks)", "rate(-1 days)",
    "every day", "", "cron(0 5 ? * * *", "rate(1.5 hours)",
])
def test_unreadable_is_an_error(expr: str) -> None:
    with pytest.raises(ScheduleError) as e:
        parse(expr, Y)
    assert "schedule" in str(e.value)


def test_not_a_string() -> None:
    with pytest.raises(ScheduleError):
        parse(None, Y)  # type: ignore[arg-type]


# ---- property: agrees with a naive walk over the calendar -----------------------------------

def _naive(minutes: list[int], hours: list[int], days: set[int] | None,
           weekdays: set[int] | None, years: int = 5) -> float:
    """Longest gap between runs, walking every day of `years` years (weekday 1 = Sunday)."""
    runs: list[dt.datetime] = []
    d = dt.date(Y, 1, 1)
    while d.year < Y + years:
        hit = (d.day in days) if days is not None else \
            ((d.weekday() + 1) % 7 + 1 in (weekdays or set()))
        if hit:
            runs += [dt.datetime(d.year, d.month, d.day, h, m) for h in sorted(hours)
                     for m in sorted(minutes)]
        d += dt.timedelta(days=1)
    return max((b - a).total_seconds() / 3600 for a, b in zip(runs, runs[1:], strict=False))


def _field(values: list[int]) -> str:
    return ",".join(str(v) for v in sorted(set(values)))


@settings(max_examples=60, deadline=None)
@given(minutes=st.lists(st.integers(0, 59), min_size=1, max_size=4),
       hours=st.lists(st.integers(0, 23), min_size=1, max_size=4),
       weekdays=st.lists(st.integers(1, 7), min_size=1, max_size=7),
       names=st.booleans())
def test_weekly_schedules_match_a_calendar_walk(minutes: list[int], hours: list[int],
                                                weekdays: list[int], names: bool) -> None:
    by_num = {v: k for k, v in DAYS.items()}
    dow = ",".join(by_num[w] if names else str(w) for w in sorted(set(weekdays)))
    expr = f"cron({_field(minutes)} {_field(hours)} ? * {dow} *)"
    want = _naive(minutes, hours, None, set(weekdays), years=1)
    assert parse(expr, Y).max_interval_hours == pytest.approx(want), expr


@settings(max_examples=40, deadline=None)
@given(days=st.lists(st.integers(1, 31), min_size=1, max_size=4),
       hour=st.integers(0, 23))
def test_monthly_schedules_match_a_calendar_walk(days: list[int], hour: int) -> None:
    expr = f"cron(0 {hour} {_field(days)} * ? *)"
    want = _naive([0], [hour], set(days), None, years=5)
    assert parse(expr, Y).max_interval_hours == pytest.approx(want), expr


@given(n=st.integers(1, 500), unit=st.sampled_from(["minute", "hour", "day"]))
def test_rates(n: int, unit: str) -> None:
    expr = f"rate({n} {unit}{'' if n == 1 else 's'})"
    assert parse(expr, Y).max_interval_hours == pytest.approx(
        n * {"minute": 1 / 60, "hour": 1, "day": 24}[unit])
