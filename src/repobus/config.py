"""The repository's repobus settings, kept in git's own config under `[repobus]`.

They live in the common config, so every worktree of a clone shares them.  Reading parses the
config file in Python (one `git config` process per command would cost more than the claim);
writing goes through `git config` so git's own rules apply.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.gitcmd import Repo

DEFAULT_TTL = 2 * 3600
DEFAULT_GRACE = 60
DEFAULT_SESSION_MAX_AGE = 3600
DEFAULT_LOCK_STALE = 10


class Config:
    """The settings in force; `replace()` gives a copy with some changed."""

    _DEFAULTS: dict[str, Any] = {
        "backend": "git",
        "ttl": DEFAULT_TTL,
        "grace": DEFAULT_GRACE,
        "remote": None,
        "require_assignment": False,
        "session_max_age": DEFAULT_SESSION_MAX_AGE,
        "lock_stale": DEFAULT_LOCK_STALE,
        "remote_timeout": 30,
        "index": True,
        "fetch_interval": 2.0,
        "object_format": "sha1",
        "initialized": False,
        "raw": None,
    }
    backend: str
    ttl: int
    grace: int
    remote: str | None
    require_assignment: bool
    session_max_age: int
    lock_stale: int
    remote_timeout: int
    index: bool
    fetch_interval: float
    object_format: str
    initialized: bool
    raw: dict[str, str]

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._DEFAULTS)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        for key, default in self._DEFAULTS.items():
            setattr(self, key, values.get(key, default))
        if self.raw is None:
            self.raw = {}

    def replace(self, **changes: Any) -> Config:
        return Config(**{**{k: getattr(self, k) for k in self._DEFAULTS}, **changes})

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self._DEFAULTS) + ")"


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
    from repobus.quick import read_config

    return from_sections(read_config(str(repo.common_dir / "config")))


def from_sections(sections: dict[str, dict[str, str]]) -> Config:
    """The settings a parsed config file holds (defaults for the rest)."""
    mine = sections.get("repobus", {})
    ext = sections.get("extensions", {})
    grace = mine.get("leasegrace")
    return Config(
        backend=mine.get("backend", "git"),
        ttl=_int(mine.get("ttl"), DEFAULT_TTL),
        grace=_int(grace, DEFAULT_GRACE),
        remote=mine.get("remote") or None,
        require_assignment=mine.get("requireassignment", "false").lower()
        in ("true", "yes", "1", "on"),
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
