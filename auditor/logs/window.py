"""The --since/--until window: record filtering and which log folders/files can hold it."""

from __future__ import annotations

import datetime as dt
import re

from drguard.errors import ConfigError
from drguard.records import record

UTC = dt.UTC
# CloudTrail delivers most files minutes after their events, some hours late; the folder date and
# the time in the file name are the delivery time. Files (and Athena partitions) delivered up to
# the window's slack after `until` are read, and every record is then kept or dropped by its
# own eventTime: a late event inside the window is never lost, one outside it never reported.
SLACK = dt.timedelta(hours=12)

# The delivery stamp in a CloudTrail file name (`..._20240502T1205Z_...`), ASCII digits only;
# the Athena query finds it in "$path" with the same pattern (`athena.build_query`).
FILE_STAMP = r"_([0-9]{8}T[0-9]{4})Z_"
_FILE_TIME = re.compile(FILE_STAMP)


def stamp(t: dt.datetime) -> str:
    """A time as the delivery stamp of a file name (to the minute, floored)."""
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}"


def parse_time(value: str) -> dt.datetime:
    """A record's eventTime (or any ISO 8601 time) as an aware UTC datetime."""
    t = dt.datetime.fromisoformat(value.strip())
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_bound(value: str | None, option: str, end: bool = False) -> dt.datetime | None:
    """`2024-05-01` or a full ISO time; a date-only `--until` includes that whole day."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            t = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
            return t + dt.timedelta(days=1) if end else t
        return parse_time(text)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not an ISO date (YYYY-MM-DD) or time "
                          "(YYYY-MM-DDTHH:MM:SSZ)") from None


@record(frozen=True)
class Window:
    """[since, until): either bound may be open; `slack`: how late a delivery is still read."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    slack: dt.timedelta = SLACK

    @classmethod
    def parse(cls, since: str | None, until: str | None,
              slack_hours: float | None = None) -> Window:
        slack = SLACK if slack_hours is None else dt.timedelta(hours=slack_hours)
        if slack < dt.timedelta(0) or slack > dt.timedelta(days=7):
            raise ConfigError(f"--delivery-slack {slack_hours}: expected 0 to 168 hours")
        w = cls(parse_bound(since, "--since"), parse_bound(until, "--until", end=True), slack)
        if w.since and w.until and w.until <= w.since:
            raise ConfigError(f"--until ({until}) must be after --since ({since})")
        return w

    def contains(self, t: dt.datetime) -> bool:
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def _last(self) -> dt.datetime | None:
        if self.until is None:
            return None
        return self.until + self.slack \
            if self.until < dt.datetime.max.replace(tzinfo=UTC) - self.slack else self.until

    def wants_days(self, first: dt.date, last: dt.date) -> bool:
        """Whether a folder covering delivery days first..last may hold events of the window."""
        if self.since and last < self.since.date():
            return False
        end = self._last()
        return not (end and first > end.date())

    def wants_year(self, year: int) -> bool:
        return self.wants_days(dt.date(year, 1, 1), dt.date(year, 12, 31))

    def wants_month(self, year: int, month: int) -> bool:
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        return self.wants_days(dt.date(year, month, 1), nxt - dt.timedelta(days=1))

    def wants_day(self, day: dt.date) -> bool:
        return self.wants_days(day, day)

    def stamps(self) -> tuple[str | None, str | None]:
        """The first and last delivery stamps of the files that may hold the window's events:
        none delivered before `since`, none later than the slack after `until`."""
        end = self._last()
        return (stamp(self.since) if self.since else None, stamp(end) if end else None)

    def wants_file(self, name: str) -> bool:
        """By the delivery stamp in a CloudTrail file name, compared as text (as the Athena
        query compares it): a name without one is read, its records' eventTime decides."""
        m = _FILE_TIME.search(name)
        if not m:
            return True
        first, last = self.stamps()
        return (first is None or m.group(1) >= first) and (last is None or m.group(1) <= last)

    def describe(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}
