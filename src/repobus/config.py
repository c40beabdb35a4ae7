"""The repository's repobus settings, kept in git's own config under `[repobus]`.

They live in the common config, so every worktree of a clone shares them.  Reading parses the
config file in Python (one `git config` process per command would cost more than the claim);
writing goes through `git config` so git's own rules apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from repobus.gitcmd import Repo

DEFAULT_TTL = 2 * 3600
DEFAULT_GRACE = 60
DEFAULT_SESSION_MAX_AGE = 3600
DEFAULT_LOCK_STALE = 10

_SECTION = re.compile(r"\s*\[\s*([A-Za-z0-9.-]+)\s*(?:\"([^\"]*)\")?\s*\]\s*(.*)$")
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


def read_sections(path: Path) -> dict[str, dict[str, str]]:
    """`{section(.subsection): {key(lower): value}}` from a git config file (subset parser)."""
    out: dict[str, dict[str, str]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0] if '"' not in raw else raw
        if not line.strip():
            continue
        m = _SECTION.match(line)
        if m:
            current = m.group(1).lower() + (f".{m.group(2)}" if m.group(2) else "")
            line = m.group(3)
            if not line.strip():
                continue
        k = _KEY.match(line)
        if k and current:
            value = (k.group(2) or "true").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.setdefault(current, {})[k.group(1).lower()] = value
    return out


@dataclass(frozen=True)
class Config:
    backend: str = "git"
    ttl: int = DEFAULT_TTL
    grace: int = DEFAULT_GRACE
    remote: str | None = None
    require_assignment: bool = False
    session_max_age: int = DEFAULT_SESSION_MAX_AGE
    lock_stale: int = DEFAULT_LOCK_STALE
    remote_timeout: int = 30
    index: bool = True
    fetch_interval: float = 2.0
    object_format: str = "sha1"
    initialized: bool = False
    raw: dict[str, str] = field(default_factory=dict)


def _int(value: str | None, default: int) -> int:
    """A duration setting in seconds ('90', '15m', '2h'; '0' where zero makes sense)."""
    if value is None:
        return default
    if value.strip().lower() in ("0", "0s"):
        return 0
    from repobus.errors import UsageError
    from repobus.times import parse_duration

    try:
        return parse_duration(value, "config")
    except UsageError:
        return default


def _float(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None and float(value) > 0 else default
    except ValueError:
        return default


def load(repo: Repo) -> Config:
    sections = read_sections(repo.common_dir / "config")
    mine = sections.get("repobus", {})
    ext = sections.get("extensions", {})
    grace = mine.get("leasegrace")
    return Config(
        backend=mine.get("backend", "git"),
        ttl=_int(mine.get("ttl"), DEFAULT_TTL),
        grace=_int(grace, DEFAULT_GRACE),
        remote=mine.get("remote") or None,
        require_assignment=mine.get("requireassignment", "false").lower() in ("true", "yes", "1", "on"),
        session_max_age=_int(mine.get("sessionmaxage"), DEFAULT_SESSION_MAX_AGE),
        lock_stale=_int(mine.get("lockstale"), DEFAULT_LOCK_STALE),
        remote_timeout=_int(mine.get("remotetimeout"), 30),
        index=mine.get("index", "true").lower() not in ("false", "no", "0", "off"),
        fetch_interval=_float(mine.get("fetchinterval"), 2.0),
        object_format=ext.get("objectformat", "sha1").lower(),
        initialized="backend" in mine,
        raw=dict(mine),
    )


def set_value(repo: Repo, key: str, value: str) -> None:
    repo.git("config", "--local", f"repobus.{key}", value)
