"""Timestamps and durations in the original tools' format: UTC, whole seconds, a literal Z."""

from __future__ import annotations

import re
import time

from repobus.errors import UsageError

ISO_FMT = "%Y-%m-%dT%H:%M:%SZ"
_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z\Z")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DUR_RE = re.compile(r"(\d+)\s*([smhd]?)\Z")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS: dict[str, int] = {}  # "YYYY-MM-DD" of a valid date -> its epoch at midnight


def now() -> int:
    return int(time.time())


def fmt(epoch: float) -> str:
    return time.strftime(ISO_FMT, time.gmtime(int(epoch)))


def is_iso(value: object) -> bool:
    return (
        isinstance(value, str) and bool(_ISO_RE.match(value)) and parse_or_none(value) is not None
    )


def parse_or_none(value: object) -> int | None:
    """Epoch seconds of an ISO_FMT string; None when it is not one (tolerant readers).

    Computed directly (days from the civil date), as `datetime.strptime` would, without its
    cost: status reads this for every claim."""
    if not isinstance(value, str):
        return None
    m = _ISO_RE.match(value)
    if m is None:
        return None
    h, mi, sec = int(m[4]), int(m[5]), int(m[6])
    if h > 23 or mi > 59 or sec > 59:
        return None
    day = _DAYS.get(value[:10])  # a reindex parses a million times, over a few dates
    if day is None:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        if y < 1 or not (1 <= mo <= 12 and 1 <= d <= _MONTH_DAYS[mo - 1] + (mo == 2 and leap)):
            return None
        day = _days_from_civil(y, mo, d) * 86400
        if len(_DAYS) < 4096:
            _DAYS[value[:10]] = day
    return day + h * 3600 + mi * 60 + sec


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_since(value: str, option: str = "--since") -> int:
    epoch = parse_or_none(value)
    if epoch is None:
        raise UsageError(f"{option} must be ISO8601 UTC (YYYY-MM-DDTHH:MM:SSZ), got {value!r}")
    return epoch


def parse_duration(value: str, option: str = "--ttl") -> int:
    """'90', '90s', '15m', '2h', '1d' -> seconds (> 0)."""
    m = _DUR_RE.match(str(value).strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise UsageError(
            f"{option} must be a positive duration like 90s, 15m, 2h or 1d, got {value!r}"
        )
    return int(m.group(1)) * _UNIT[m.group(2)]


def human(seconds: float) -> str:
    s = int(abs(seconds))
    if s >= 3600:
        text = f"{s // 3600}h{(s % 3600) // 60:02d}m"
    elif s >= 60:
        text = f"{s // 60}m{s % 60:02d}s"
    else:
        text = f"{s}s"
    return text if seconds >= 0 else "-" + text
