"""AWS schedule expressions (AWS Backup, EventBridge): `cron(...)` and `rate(...)`, read to the
longest interval between two consecutive runs.

Pure: no clock is read; the caller says from which year the schedule is followed.

Cron has six fields: minutes, hours, day-of-month, month, day-of-week, year. Values, ranges
(`a-b`), steps (`*/n`, `a/n`, `a-b/n`) and lists (`,`) in every field; month and day-of-week
names (`JAN`, `MON`; day-of-week 1 = Sunday); exactly one of day-of-month / day-of-week is `?`;
day-of-month `L` (last day), `LW` (last weekday), `nW` (the weekday nearest to n within the
month); day-of-week `L` (Saturday, the last day of the week), `nL` (the last such day of the
month), `n#k` (the k-th such day). The interval is found by walking the calendar: 28 years from
the start year (weekdays and leap years repeat, 1901-2099) plus one, so Feb 29 and
`6#5`-style rules get their real gaps. A schedule that stops (a bounded year field) or never
runs has no finite interval (`math.inf`). Anything else is a `ScheduleError`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from functools import lru_cache

from .records import record

HORIZON_YEARS = 28  # the Gregorian weekday/leap pattern repeats every 28 years in 1901-2099

MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValueError):
    """A schedule expression that cannot be read (named in the message)."""


@record(frozen=True)
class Schedule:
    """A backup schedule expression and the longest interval between two of its runs."""

    expression: str
    max_interval_hours: float  # math.inf: it stops or never runs

    @property
    def runs_forever(self) -> bool:
        return math.isfinite(self.max_interval_hours)


_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNIT_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0}


def parse(expression: str, start_year: int) -> Schedule:
    """The schedule of `expression`, followed from `start_year`; raises ScheduleError."""
    if not isinstance(expression, str):
        raise ScheduleError(f"schedule {expression!r} is not a string")
    return _parse(expression.strip(), start_year)


@lru_cache(maxsize=512)
def _parse(text: str, start_year: int) -> Schedule:
    m = _RATE.fullmatch(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n < 1:
            raise ScheduleError(f"schedule {text!r}: a rate must be at least 1")
        if (n == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"schedule {text!r}: the unit must be singular for 1 and "
                                "plural otherwise")
        return Schedule(text, n * _UNIT_HOURS[unit.rstrip("s")])
    m = _CRON.fullmatch(text)
    if not m:
        raise ScheduleError(f"schedule {text!r} is neither cron(...) nor rate(...)")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"schedule {text!r}: cron needs 6 fields (minutes hours "
                            f"day-of-month month day-of-week year), got {len(fields)}")
    try:
        minutes, hrs, dom, month, dow, year = fields
        hours = _max_gap(minutes, hrs, dom, month, dow, year, start_year=start_year)
    except ScheduleError as e:
        raise ScheduleError(f"schedule {text!r}: {e}") from None
    return Schedule(text, hours)


# ---- fields -----------------------------------------------------------------------------------

def _number(token: str, lo: int, hi: int, names: dict[str, int] | None, what: str) -> int:
    t = token.upper()
    if names and t in names:
        return names[t]
    if not t.isdigit():
        raise ScheduleError(f"{what}: {token!r} is not a value")
    v = int(t)
    if not lo <= v <= hi:
        raise ScheduleError(f"{what}: {v} is outside {lo}-{hi}")
    return v


def _values(field: str, lo: int, hi: int, what: str,
            names: dict[str, int] | None = None) -> frozenset[int]:
    """Values of a plain field (`*`, lists, ranges, steps)."""
    out: set[int] = set()
    for part in field.split(","):
        if not part:
            raise ScheduleError(f"{what}: empty list item in {field!r}")
        base, slash, step_s = part.partition("/")
        if slash:
            if not step_s.isdigit() or int(step_s) < 1:
                raise ScheduleError(f"{what}: bad step in {part!r}")
            step = int(step_s)
        else:
            step = 1
        if base == "*":
            a, b = lo, hi
        elif "-" in base:
            x, _, y = base.partition("-")
            a, b = _number(x, lo, hi, names, what), _number(y, lo, hi, names, what)
            if a > b:
                raise ScheduleError(f"{what}: range {base!r} runs backwards")
        else:
            a = _number(base, lo, hi, names, what)
            b = hi if slash else a
        out.update(range(a, b + 1, step))
    return frozenset(out)


@record(frozen=True)
class _DayRule:
    """Which days of a month run: plain values, or the special forms."""

    dom: frozenset[int] | None = None  # plain day-of-month values
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: int | None = None  # nW
    dow: frozenset[int] | None = None  # plain day-of-week values (1 = Sunday)
    last_of: int | None = None  # nL: last <day-of-week n> of the month
    nth: tuple[int, int] | None = None  # n#k

    def days(self, year: int, month: int) -> set[int]:
        n_days = calendar.monthrange(year, month)[1]

        def dow_of(day: int) -> int:  # 1 = Sunday .. 7 = Saturday
            return (dt.date(year, month, day).isoweekday() % 7) + 1

        if self.dom is not None:
            return {d for d in self.dom if d <= n_days}
        if self.last:
            return {n_days}
        if self.last_weekday:
            d = n_days
            while dow_of(d) in (1, 7):
                d -= 1
            return {d}
        if self.nearest_weekday is not None:
            d = self.nearest_weekday
            if d > n_days:
                return set()
            w = dow_of(d)
            if w == 7:  # Saturday: Friday, or Monday when the 1st
                d = d - 1 if d > 1 else d + 2
            elif w == 1:  # Sunday: Monday, or Friday when the last day
                d = d + 1 if d < n_days else d - 2
            return {d}
        if self.dow is not None:
            return {d for d in range(1, n_days + 1) if dow_of(d) in self.dow}
        if self.last_of is not None:
            return {max(d for d in range(n_days - 6, n_days + 1) if dow_of(d) == self.last_of)}
        assert self.nth is not None
        want, k = self.nth
        hits = [d for d in range(1, n_days + 1) if dow_of(d) == want]
        return {hits[k - 1]} if k <= len(hits) else set()


def _day_rule(dom: str, dow: str) -> _DayRule:
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("exactly one of day-of-month and day-of-week must be '?'")
    if dow == "?":
        d = dom.upper()
        if d == "L":
            return _DayRule(last=True)
        if d == "LW":
            return _DayRule(last_weekday=True)
        if d.endswith("W"):
            return _DayRule(nearest_weekday=_number(d[:-1], 1, 31, None, "day-of-month"))
        return _DayRule(dom=_values(d, 1, 31, "day-of-month"))
    w = dow.upper()
    if w == "L":
        return _DayRule(dow=frozenset({7}))
    if "#" in w:
        day, _, k = w.partition("#")
        return _DayRule(nth=(_number(day, 1, 7, DAYS, "day-of-week"),
                             _number(k, 1, 5, None, "day-of-week #")))
    if w.endswith("L"):
        return _DayRule(last_of=_number(w[:-1], 1, 7, DAYS, "day-of-week"))
    return _DayRule(dow=_values(w, 1, 7, "day-of-week", DAYS))


def _max_gap(minutes: str, hours: str, dom: str, month: str, dow: str, year: str,
             start_year: int) -> float:
    mins = _values(minutes, 0, 59, "minutes")
    hrs = _values(hours, 0, 23, "hours")
    rule = _day_rule(dom, dow)
    months = _values(month, 1, 12, "month", MONTHS)
    years = _values(year, 1970, 2199, "year")
    times = sorted(h * 60 + m for h in hrs for m in mins)
    within = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0)
    end = start_year + HORIZON_YEARS  # gaps that start before this are judged
    run_days: list[int] = []  # proleptic ordinals
    for y in range(start_year, end + 1 + 8):  # +8: room for the gap after the last run day
        if y not in years:
            continue
        for mo in sorted(months):
            run_days += [dt.date(y, mo, d).toordinal() for d in sorted(rule.days(y, mo))]
    limit = dt.date(end, 1, 1).toordinal()
    judged = [d for d in run_days if d < limit]
    if not judged:
        return math.inf
    gap = within
    for a, b in zip(run_days, run_days[1:], strict=False):
        if a >= limit:
            break
        gap = max(gap, (b - a) * 1440 + times[0] - times[-1])
    if run_days[-1] == judged[-1]:  # no run after the last judged one: it stops
        return math.inf
    return gap / 60
