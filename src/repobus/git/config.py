"""The repository's repobus settings, kept in git's own config under `[repobus]`.

They live in the common config, so every worktree of a clone shares them.  Reading parses the
config file in Python (one `git config` process per command would cost more than the claim);
writing goes through `git config` so git's own rules apply.
"""

from __future__ import annotations

import os

from repobus.records.lease import DEFAULT_PAUSE_SILENCE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.git.gitcmd import Repo

DEFAULT_TTL = 2 * 3600
DEFAULT_GRACE = 60
DEFAULT_SESSION_MAX_AGE = 3600
DEFAULT_LOCK_STALE = 10
DEFAULT_STALE_AFTER = 4 * 3600  # the playbook's bus_heartbeat agent window


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
        "stale_after": DEFAULT_STALE_AFTER,
        "pause_silence": DEFAULT_PAUSE_SILENCE,
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
    stale_after: int
    pause_silence: int
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
    from repobus.records.times import parse_duration

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
    return from_sections(read_config(str(repo.common_dir / "config")))


class Found:
    """A worktree found from a path, read without git: its root, git dir, common dir, the
    parsed config file and the settings in it.  The lean path and the CLI's check for lines
    appended to the mirror both start here, before anything heavier is imported."""

    __slots__ = ("cfg", "common", "git_dir", "root", "sections")

    def __init__(self, root: str, git_dir: str, common: str) -> None:
        self.root, self.git_dir, self.common = root, git_dir, common
        self.sections = read_config(os.path.join(common, "config"))
        self.cfg = from_sections(self.sections)


def find(path: str | None = None) -> Found | None:
    """The worktree holding `path` (the current directory when None), or None."""
    from repobus.git.locate import locate

    where = locate(os.path.realpath(path or os.getcwd()))
    return None if where is None else Found(*where)


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
        stale_after=_int(mine.get("staleafter"), DEFAULT_STALE_AFTER),
        pause_silence=_int(mine.get("pausesilence"), DEFAULT_PAUSE_SILENCE),
        remote_timeout=_int(mine.get("remotetimeout"), 30),
        index=mine.get("index", "true").lower() not in ("false", "no", "0", "off"),
        fetch_interval=_float(mine.get("fetchinterval"), 2.0),
        object_format=ext.get("objectformat", "sha1").lower(),
        initialized="backend" in mine,
        raw=dict(mine),
    )


def set_value(repo: Repo, key: str, value: str) -> None:
    repo.git("config", "--local", f"repobus.{key}", value)


# -- git's config file (the subset repobus reads) --------------------------------------------
_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_KEY_CHARS = _ALPHA | frozenset("0123456789-")
_SECTION_CHARS = _KEY_CHARS | frozenset(".")


def read_config(path: str) -> dict[str, dict[str, str]]:
    """`{section(.subsection): {key(lower): value}}` from a git config file: sections,
    `"subsections"`, `key = value`, bare keys (true), `#`/`;` comments."""
    out: dict[str, dict[str, str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return out
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0] if '"' not in raw else raw
        if not line.strip():
            continue
        head = _section(line)
        if head is not None:
            name, sub, line = head
            current = name.lower() + (f".{sub}" if sub is not None else "")
            if not line.strip():
                continue
        pair = _key(line)
        if pair is not None and current:
            value = (pair[1] or "true").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.setdefault(current, {})[pair[0].lower()] = value
    return out


def _run(s: str, chars: frozenset[str]) -> int:
    j = 0
    while j < len(s) and s[j] in chars:
        j += 1
    return j


def _section(line: str) -> tuple[str, str | None, str] | None:
    """`[name "sub"] rest` -> (name, sub, rest); None when the line is no section header."""
    s = line.lstrip()
    if not s.startswith("["):
        return None
    s = s[1:].lstrip()
    j = _run(s, _SECTION_CHARS)
    if j == 0:
        return None
    name, rest, sub = s[:j], s[j:].lstrip(), None
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            return None
        sub, rest = rest[1:end], rest[end + 1 :].lstrip()
    if not rest.startswith("]"):
        return None
    return name, sub, rest[1:].lstrip()


def _key(line: str) -> tuple[str, str | None] | None:
    """`key = value` -> (key, value); `key` -> (key, None); None otherwise."""
    s = line.lstrip()
    if not s or s[0] not in _ALPHA:
        return None
    j = _run(s, _KEY_CHARS)
    name, rest = s[:j], s[j:].lstrip()
    if not rest:
        return name, None
    if rest[0] != "=":
        return None
    return name, rest[1:].lstrip()
