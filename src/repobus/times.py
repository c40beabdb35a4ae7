"""Timestamps and durations in the original tools' format: UTC, whole seconds, a literal Z."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from repobus.errors import UsageError

ISO_FMT = "%Y-%m-%dT%H:%M:%SZ"
_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_DUR_RE = re.compile(r"(\d+)\s*([smhd]?)\Z")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def now() -> int:
    return int(time.time())


def fmt(epoch: float) -> str:
    return time.strftime(ISO_FMT, time.gmtime(int(epoch)))


def is_iso(value: object) -> bool:
    return (
        isinstance(value, str) and bool(_ISO_RE.match(value)) and parse_or_none(value) is not None
    )


def parse_or_none(value: object) -> int | None:
    """Epoch seconds of an ISO_FMT string; None when it is not one (tolerant readers)."""
    if not isinstance(value, str) or not _ISO_RE.match(value):
        return None
    try:
        return int(datetime.strptime(value, ISO_FMT).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


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
