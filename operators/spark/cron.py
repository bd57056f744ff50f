"""Cron schedules, pure: parse five-field expressions and find the next run time (UTC).

The syntax is Vixie cron's as Kubernetes CronJob takes it (crontab(5)): minute, hour,
day of month, month, day of week (0-7, both 0 and 7 are Sunday), each ``*``, a number, a
range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; and the macros
@hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually). When both day of month
and day of week are restricted, a day matching either runs (crontab(5), "Note: The day of
a command's execution can be specified by two fields"). Month and day names are not taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# One value of each field, as a regular expression (RE2, no backslashes, so CEL takes it as is).
_VALUE = ("[0-5]?[0-9]", "[01]?[0-9]|2[0-3]", "0?[1-9]|[12][0-9]|3[01]", "0?[1-9]|1[0-2]", "[0-7]")


def _field_pattern(value: str) -> str:
    item = f"([*]|({value})(-({value}))?)(/0?[1-9][0-9]?)?"  # a step of 0 never advances
    return f"{item}(,{item})*"


CRON_PATTERN = ("^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
                + " +".join(f"({_field_pattern(v)})" for v in _VALUE) + ")$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse ``text``; raises ValueError naming the field and what it allows."""
        expr = MACROS.get(text.strip(), text.strip())
        fields = expr.split()
        if len(fields) != 5:
            raise ValueError(f"a cron schedule has five fields (minute hour day-of-month month day-of-week), "
                             f"got {len(fields)} in {text!r}")
        sets = [_parse_field(f, lo, hi, name) for f, (lo, hi), name in zip(fields, _BOUNDS, _NAMES, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(sets[0], sets[1], sets[2], sets[3], weekdays,
                   day_restricted=not fields[2].startswith("*"), weekday_restricted=not fields[4].startswith("*"))

    def _day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def next_after(self, after: datetime) -> datetime | None:
        """The first run time strictly after ``after`` (minute precision, same tzinfo), or None
        when none falls within five years (e.g. "0 0 30 2 *")."""
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The last run time at or before ``at`` (minute precision), or None when none falls within
        the five years before it."""
        end = at.replace(second=0, microsecond=0)
        day = end.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate <= end:
                            return candidate
            day -= timedelta(days=1)
        return None


def _parse_field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if match is None:
            raise ValueError(f"{name}: {part!r} is not *, a number, a range a-b or a step */n")
        star, first, last, step = match.groups()
        start, end = (lo, hi) if star == "*" else (int(first), int(last) if last else int(first))
        if step and star != "*" and not last:
            end = hi  # "5/15" means 5-max/15
        if not (lo <= start <= end <= hi):
            raise ValueError(f"{name}: {part!r} is out of range {lo}-{hi}")
        if step is not None and int(step) == 0:
            raise ValueError(f"{name}: step must be positive in {part!r}")
        values.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(values)
