"""`.repobus.toml`: the tracked file that says a repository uses repobus, and where its bus is.

A clone does not copy `.git/config`, so the set-up `repobus init` writes there
(`repobus.backend`, `repobus.remote`) stays on the machine that ran it.  This file travels
with the repository instead.  This module owns the file - its name, its schema, reading and
writing it - and what a clone does about it before the bus is opened (`ensure_set_up`).

Invariants:
- a clone that is set up (`repobus.backend` in its config) is left as it is: the file is
  followed only by a clone that is not (`repobus doctor` reports a disagreement);
- a clone that is not set up and has the file sets itself up from it before any command
  decides anything: the bus is fetched first and the config written after, so a fetch that
  fails writes nothing; `repobus.backend` is written last, so no process ever sees a clone
  that counts as set up without its remote; concurrent commands of one clone set it up once,
  under one lock, and every one of them ends with the same config;
- a clone that is not set up and has no file asks its remote (`origin`, or its only remote)
  once per command whether it holds a bus; if it does, the command is refused (SetupError)
  rather than run against a private bus beside the team's; a remote that cannot be asked
  refuses writes (RemoteError) and lets reads go on with a note;
- the file is written as plain text and read with `tomllib`; a file that cannot be read or
  says something repobus cannot follow is refused, naming its line - never guessed around.
"""

from __future__ import annotations

from repobus.errors import CorruptError, GitError, RemoteError, SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo

FILE = ".repobus.toml"
FORMAT = 1
BACKENDS = ("git", "dir")
KEYS = ("format", "backend", "remote")
COMMIT = 'git add .repobus.toml && git commit -m "use repobus"'
_FIX = f"fix {FILE} (see docs/storage.md), or rewrite it: delete it and run `repobus init`"


class ProjectFileError(CorruptError):
    """`.repobus.toml` cannot be read, or says something this repobus cannot follow."""

    kind = "project_file"


class Project:
    """What the file declares: the backend, and for the git backend the remote (or none)."""

    __slots__ = ("backend", "remote")

    def __init__(self, backend: str = "git", remote: str | None = None) -> None:
        self.backend = backend
        self.remote = remote if backend == "git" else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and (self.backend, self.remote) == (
            other.backend,
            other.remote,
        )

    def __hash__(self) -> int:
        return hash((self.backend, self.remote))

    def __repr__(self) -> str:
        return f"Project(backend={self.backend!r}, remote={self.remote!r})"

    def describe(self) -> str:
        if self.backend != "git":
            return f"backend {self.backend}"
        return f"remote {self.remote}" if self.remote else "backend git, no remote"


# -- reading --------------------------------------------------------------------------------
def read(root: Path) -> Project | None:
    """The project file of the worktree at `root`; None when there is none."""
    path = root / FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProjectFileError(
            f"cannot read {FILE}: {exc.strerror or exc}", hint="it must be a readable file"
        ) from None
    return parse(raw)


def parse(raw: bytes) -> Project:
    import tomllib

    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ProjectFileError(f"{FILE} is not UTF-8 text", hint=_FIX) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(f"{FILE} is not valid TOML: {exc}", hint=_FIX) from None
    return _validated(data, text)


def _validated(data: dict[str, Any], text: str) -> Project:
    for key in data:
        if key not in KEYS:
            raise _bad(text, key, f"unknown key {key!r} (expected {', '.join(KEYS)})")
    _check_format(data, text)
    backend = data.get("backend")
    if backend not in BACKENDS:
        if backend is None:
            raise ProjectFileError(f'{FILE} has no backend (expected backend = "git")', hint=_FIX)
        raise _bad(text, "backend", f'backend = {backend!r}: expected "git" or "dir"')
    remote = data.get("remote")
    if remote is not None and not (isinstance(remote, str) and valid_remote_name(remote)):
        raise _bad(text, "remote", f"remote = {remote!r}: not a git remote name")
    if remote is not None and backend != "git":
        raise _bad(text, "remote", f"remote = {remote!r}: only the git backend has a remote")
    return Project(backend, remote)


def _check_format(data: dict[str, Any], text: str) -> None:
    fmt = data.get("format")
    if fmt is None:
        raise ProjectFileError(f"{FILE} has no format (expected format = {FORMAT})", hint=_FIX)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise _bad(text, "format", f"format = {fmt!r}: expected a whole number, {FORMAT}")
    if fmt > FORMAT:
        raise _bad(
            text,
            "format",
            f"format {fmt} is newer than this repobus reads ({FORMAT})",
            hint="upgrade repobus: reinstall it from a newer clone or its git URL "
            "(docs/playbook.md, 'Set up')",
        )


def valid_remote_name(name: str) -> bool:
    """A name git could call a remote, and that cannot pass for an option on a git command
    line (it is given to `git fetch` and `git ls-remote` as an argument)."""
    return (
        bool(name)
        and not name.startswith("-")
        and not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _bad(text: str, key: str, what: str, hint: str = _FIX) -> ProjectFileError:
    line = line_of(text, key)
    where = f"{FILE} line {line}" if line else FILE
    return ProjectFileError(f"{where}: {what}", hint=hint)


def line_of(text: str, key: str) -> int | None:
    """The 1-based line where `key` is set (`key = ...`) or opened (`[key]`)."""
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            if s.strip("[]").strip().strip("\"'") == key:
                return number
        elif "=" in s and s.split("=", 1)[0].strip().strip("\"'") == key:
            return number
    return None


# -- writing --------------------------------------------------------------------------------
def render(project: Project) -> str:
    import json  # a JSON string with ensure_ascii off is a valid TOML basic string

    lines = [
        "# This repository coordinates its coding agents with repobus.",
        "# Commit this file: a clone that has it sets itself up to use the same bus",
        f"# ({COMMIT}).",
        "# Written by `repobus init`; the format is in docs/storage.md.",
        f"format = {FORMAT}",
        f'backend = "{project.backend}"',
    ]
    if project.remote:
        name = json.dumps(project.remote, ensure_ascii=False)
        lines.append(f"remote = {name}  # the git remote that decides every claim")
    elif project.backend == "git":
        lines.append(
            "# no remote: each clone keeps its own bus (share it: repobus init --remote origin)"
        )
    return "\n".join(lines) + "\n"


def write(root: Path, project: Project) -> Path:
    """Write the file (atomically) at the worktree root `root`; its text reads back as
    `project`, or nothing is written."""
    from repobus.store.files import write_atomic

    text = render(project)
    if parse(text.encode("utf-8")) != project:  # a name render cannot spell: refuse it
        raise ProjectFileError(f"cannot write {project!r} to {FILE}")
    path = root / FILE
    write_atomic(path, text)
    return path


# -- the clone's set-up ---------------------------------------------------------------------
def set_up(
    repo: Repo, backend: str, remote: str | None, extra: dict[str, str] | None = None
) -> list[str]:
    """Make this clone's config say `backend` and `remote` (plus `extra` repobus keys): what
    `repobus init` writes and what a clone following the file writes.  Idempotent; returns
    what it changed.  `repobus.backend` goes last: it is what marks a clone as set up."""
    from repobus.git import config

    cfg = config.load(repo)
    done: list[str] = []
    if backend == "git" and remote:
        from repobus.store import tracking as rmt

        done += rmt.configure(repo, remote)
    elif cfg.remote:
        repo.git("config", "--local", "--unset-all", "repobus.remote")
        done.append(f"unset repobus.remote (was {cfg.remote})")
    for key, value in {"format": str(FORMAT), **(extra or {}), "backend": backend}.items():
        if cfg.raw.get(key.lower()) != value:
            config.set_value(repo, key, value)
            done.append(f"set repobus.{key}={value}")
    return done


def setup_lock(repo: Repo) -> AbstractContextManager[None]:
    """The clone-wide lock every set-up runs under (a flock: the kernel drops it when its
    holder dies).  Not re-entrant: a process takes it once."""
    from repobus.store.files import locked

    return locked(repo.common_dir / "repobus-locks" / "setup.lock")


def ensure_set_up(
    repo: Repo, cfg: Config, *, writes: bool, notes: list[str] | None = None
) -> Config:
    """The settings to open the bus with.  A clone that is set up: `cfg` as it is.  Not set
    up, with the file: set up from it (the bus fetched first), a line added to `notes`.
    Not set up, without the file: refused when its remote holds a bus."""
    if cfg.initialized:
        return cfg
    declared = read(repo.root)
    if declared is not None:
        return _follow(repo, declared, notes)
    _probe(repo, cfg, writes, notes)
    return cfg


def _follow(repo: Repo, declared: Project, notes: list[str] | None) -> Config:
    from repobus.git import config

    with setup_lock(repo):
        cfg = config.load(repo)
        if cfg.initialized:  # another command of this clone set it up meanwhile
            return cfg
        if declared.remote:
            _require_remote(repo, declared.remote)
            _fetch_bus(repo, cfg.replace(backend="git", remote=declared.remote))
        _retrying(lambda: set_up(repo, declared.backend, declared.remote))
    if notes is not None:
        notes.append(f"set up this clone from {FILE} ({declared.describe()})")
    return config.load(repo)


def _require_remote(repo: Repo, name: str) -> None:
    res = repo.git("remote", "get-url", "--", name, check=False)
    if res.returncode != 0:
        raise SetupError(
            f"{FILE} names remote {name!r}, which this clone does not have",
            hint="run: repobus init --remote NAME (NAME: this clone's remote for the team's "
            f"server; `git remote -v` lists them), or add it: git remote add {name} URL",
        )


def _fetch_bus(repo: Repo, cfg: Config) -> None:
    """Bring the remote's bus into this clone; raises the remote's own error (RemoteError),
    having written nothing: the store (which may record its layout) is opened only after."""
    from repobus.store.remote import Remote
    from repobus.store.remotestore import RemoteGitStore

    assert cfg.remote
    Remote(repo, cfg.remote, cfg.remote_timeout, cfg.lock_stale).fetch()
    RemoteGitStore(repo, cfg).integrate()


def _retrying(step: Callable[[], list[str]], tries: int = 40) -> list[str]:
    """Run a config write again while another git holds `config.lock` (git does not wait
    for that lock; each write is atomic and idempotent, so running it again is safe)."""
    import time

    for attempt in range(tries):
        try:
            return step()
        except GitError as exc:
            if "could not lock config file" not in exc.stderr or attempt == tries - 1:
                raise
            time.sleep(min(0.005 * (attempt + 1), 0.1))
    return []


# -- a clone with neither set-up nor file: ask its remote -------------------------------------
def probe_remote(repo: Repo) -> str | None:
    """The remote a clone that was never set up is checked against: `origin`, or its only
    remote (as named in the clone's config file); None when there is none."""
    from repobus.git.config import read_config

    sections = read_config(str(repo.common_dir / "config"))
    names = sorted(s[len("remote.") :] for s in sections if s.startswith("remote."))
    if "origin" in names:
        return "origin"
    return names[0] if len(names) == 1 else None


def _probe(repo: Repo, cfg: Config, writes: bool, notes: list[str] | None) -> None:
    name = probe_remote(repo)
    if name is None or not valid_remote_name(name):
        return
    try:
        held = remote_holds_bus(repo, name, cfg.remote_timeout)
    except RemoteError as exc:
        if writes:  # the remote's own kind of failure (6, 7) is kept; the words say what for
            exc.message = (
                f"cannot tell whether remote '{name}' holds a repobus bus: {exc.message}; "
                "nothing was changed"
            )
            exc.hint = (
                f"fix the remote (git ls-remote {name}), or set this clone up: "
                f"repobus init --remote {name} (or --no-remote)"
            )
            raise exc from None
        if notes is not None:
            notes.append(
                f"could not ask remote '{name}' whether it holds a repobus bus "
                f"({exc.message}); showing this clone's own bus"
            )
        return
    if held:
        raise SetupError(
            f"remote '{name}' holds a repobus bus but this clone is not set up",
            hint=f"run: repobus init --remote {name}",
        )


def remote_holds_bus(repo: Repo, name: str, timeout: float) -> bool:
    """Whether remote `name` advertises any ref under refs/repobus/ (one `git ls-remote`).
    Raises the remote's own refusal (RemoteError and its kinds) when it cannot be asked."""
    from repobus.store.remote import Remote

    remote = Remote(repo, name, timeout)
    with remote.operation():
        return remote.holds_bus()


def is_tracked(repo: Repo) -> bool:
    """Whether the file is in git's index (committed or about to be)."""
    res = repo.git("ls-files", "--", FILE, check=False)
    return bool(res.stdout.strip())


# -- doctor -----------------------------------------------------------------------------------
def diagnose(repo: Repo, cfg: Config) -> list[tuple[str, str]]:
    """(level, detail) findings: the file unreadable, disagreeing with this clone's set-up,
    or not in git while the repository has a bus."""
    try:
        declared = read(repo.root)
    except ProjectFileError as exc:
        return [("problem", f"{exc.message}; {exc.hint}")]
    if declared is None:
        if not (cfg.initialized or _has_bus_refs(repo)):
            return [("ok", f"no {FILE} and no bus in this clone")]
        return [("warning", f"no {FILE}: run `repobus init` to write it, then {_COMMIT_IT}")]
    out = [("warning", text) for text in _disagreement(cfg, declared)]
    if not is_tracked(repo):
        out.append(("warning", f"{FILE} is not in git: {_COMMIT_IT}"))
    return out or [("ok", f"{FILE} declares {declared.describe()}, as this clone is set up")]


_COMMIT_IT = f"commit .repobus.toml ({COMMIT}) so that clones find the bus"


def _disagreement(cfg: Config, declared: Project) -> list[str]:
    here = f"{FILE} declares {declared.describe()}"
    if not cfg.initialized:
        return [f"this clone is not set up; {here}: the next repobus command sets it up"]
    if Project(cfg.backend, cfg.remote) == declared:
        return []
    mine = Project(cfg.backend, cfg.remote).describe()
    return [f"this clone uses {mine} but {here}: run `repobus init` to follow the file"]


def _has_bus_refs(repo: Repo) -> bool:
    res = repo.git("for-each-ref", "--count=1", "--format=%(refname)", "refs/repobus/", check=False)
    return bool(res.stdout.strip())
