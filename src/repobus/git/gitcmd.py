"""The only module that runs git.

Invariants: git is run with argv tuples (never a shell), with a clean environment (no GIT_DIR,
GIT_WORK_TREE or GIT_INDEX_FILE leaking in from a hook), LC_ALL=C so messages parse, and no
terminal prompt.  Repository discovery is done in Python for speed, with `git rev-parse` as
the fallback for layouts it does not recognise.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from repobus.errors import GitError, RemoteError, SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_DROP = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
    "GIT_QUARANTINE_PATH",
)
_ENV: dict[str, str] | None = None


def clean_env() -> dict[str, str]:
    global _ENV
    if _ENV is None:
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        env.update(LC_ALL="C", LANG="C", GIT_TERMINAL_PROMPT="0")
        _ENV = env
    return _ENV


class Result:
    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: bytes, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def run(
    cwd: Path | str,
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> Result:
    """Run git; with `timeout` (network calls), git and every process it started are killed
    when time runs out, so no `git remote-http` or `ssh` helper is left behind."""
    import subprocess  # here, not at the top: a read served by the index starts no process

    argv = ("git", *args)
    if timeout is not None:
        return _run_bounded(cwd, argv, stdin, check, timeout)
    before = _signature(cwd) if args and args[0] == "update-ref" else None
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            env=clean_env(),
        )
    except FileNotFoundError:
        raise SetupError("git is not installed or not on PATH") from None
    res = Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))
    if before is not None:
        counted(cwd, before, res.returncode == 0)
    if check and res.returncode != 0:
        raise GitError(argv, res.returncode, res.stderr)
    return res


class _Counts(threading.local):
    bumps = 0  # ref updates this thread made and counted in the write generation
    missed = 0  # ref updates this thread made that could not be counted
    # (fingerprint before, after, generation) around this thread's refused updates: a refused
    # update moves no ref, but its lock file changes the directories' mtimes
    churn: tuple[str, str, str] | None = None


COUNTS = _Counts()
_COMMON: dict[str, str | None] = {}


def _common(cwd: Path | str) -> str | None:
    from repobus.git.locate import locate

    key = str(cwd)
    if key not in _COMMON:
        found = locate(os.path.realpath(key))
        _COMMON[key] = found[2] if found else None
    return _COMMON[key]


def _signature(cwd: Path | str) -> str:
    from repobus.git import fingerprint

    common = _common(cwd)
    return "" if common is None else fingerprint.ref_signature(common)[0]


def counted(cwd: Path | str, before: str, moved: bool) -> None:
    """Account for an `update-ref` repobus ran (every one passes here): one that moved refs
    is counted in the write generation (git/fingerprint.py `bump`); a refused one is noted
    as this thread's own churn of the fingerprint (store/snappatch.py)."""
    from repobus.git import fingerprint

    common = _common(cwd)
    if common is None:
        return
    if not moved:
        after, gen = fingerprint.ref_signature(common)[0], fingerprint.generation(common)
        last = COUNTS.churn
        start = last[0] if last is not None and last[1:] == (before, gen) else before
        COUNTS.churn = (start, after, gen)
    elif fingerprint.bump(common):
        COUNTS.bumps += 1
    else:
        COUNTS.missed += 1


def _run_bounded(
    cwd: Path | str, argv: tuple[str, ...], stdin: bytes | None, check: bool, timeout: float
) -> Result:
    import subprocess

    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
    except FileNotFoundError:
        raise SetupError("git is not installed or not on PATH") from None
    try:
        out, err = proc.communicate(stdin, timeout=max(timeout, 0.001))
    except BaseException as exc:  # time ran out, or we were interrupted: end git's whole tree
        _end_tree(proc.pid)
        proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise GitTimeout(argv[1], timeout) from None
        raise
    res = Result(proc.returncode, out, err.decode("utf-8", "replace"))
    if check and res.returncode != 0:
        raise GitError(argv, res.returncode, res.stderr)
    return res


def _end_tree(root: int) -> None:
    """Kill `root` and everything below it.  The tree is frozen first (SIGSTOP, repeated until
    no new process appears), because a process that forks between our reading of /proc and
    the kill -- receive-pack starting a hook, say -- would otherwise outlive the kill."""
    import contextlib
    import signal

    frozen: list[int] = []
    for _ in range(20):  # bounded: each round stops every process seen so far
        fresh = [pid for pid in [root, *_descendants(root)] if pid not in frozen]
        if not fresh:
            break
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        frozen.extend(fresh)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    """Every process below `root` (children of children too), read from /proc.  git stays in
    our process group, so that a kill of the group (an agent's supervisor) reaches it; a
    timeout ends just its tree."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class GitTimeout(RemoteError):
    """A network git call ran out of time (its process group was killed)."""

    def __init__(self, what: str, timeout: float) -> None:
        super().__init__(f"git {what} timed out after {timeout:.0f}s")
        self.what = what


def stream(cwd: Path | str, *args: str, sep: bytes = b"\x1e") -> Iterator[bytes]:
    """Run git and yield its output split at `sep`, without holding it all in memory."""
    import subprocess

    argv = ("git", *args)
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    buf = b""
    try:
        while True:
            chunk = proc.stdout.read(1 << 16)
            if not chunk:
                break
            buf += chunk
            *items, buf = buf.split(sep)
            yield from items
        if buf.strip():
            yield buf
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise GitError(argv, code, err)


def out(cwd: Path | str, *args: str) -> str:
    return run(cwd, *args).stdout.decode("utf-8", "replace").strip()


class Repo:
    """A worktree of a repository: where it is checked out, its own git dir, the shared one."""

    __slots__ = ("root", "git_dir", "common_dir")

    def __init__(self, root: Path, git_dir: Path, common_dir: Path) -> None:
        self.root = root
        self.git_dir = git_dir
        self.common_dir = common_dir

    def __repr__(self) -> str:
        return f"Repo(root={str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Repo) and (self.root, self.git_dir, self.common_dir) == (
            other.root,
            other.git_dir,
            other.common_dir,
        )

    def __hash__(self) -> int:
        return hash((self.root, self.git_dir))

    @property
    def objects(self) -> Path:
        return self.common_dir / "objects"

    def git(self, *args: str, **kw: object) -> Result:
        return run(self.root, *args, **kw)  # type: ignore[arg-type]


def discover(start: Path | str | None = None) -> Repo:
    """Find the worktree containing `start` (default: the current directory)."""
    try:
        here = Path(start or os.getcwd()).resolve()
        exists, why = here.exists(), "no such directory"
    except OSError as exc:  # a name too long, a loop of links
        exists, here, why = False, Path(start or "."), exc.strerror or "cannot use"
    if not exists:
        shown = str(here) if len(str(here)) <= 200 else str(here)[:200] + "..."
        raise SetupError(f"{why}: {shown}")
    from repobus.git.locate import locate

    found = locate(str(here))
    if found is not None:
        return Repo(*(Path(p) for p in found))
    return _discover_with_git(here)


def _discover_with_git(here: Path) -> Repo:
    res = run(
        here, "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir", check=False
    )
    lines = res.stdout.decode().splitlines()
    if res.returncode != 0 or len(lines) < 3:
        _refuse_bare(here)
        raise SetupError(
            f"not a git repository: {here}",
            hint="run repobus inside a clone or worktree (git init, or cd into your repository)",
        )
    git_dir = Path(lines[1])
    common = Path(lines[2])
    if not common.is_absolute():
        common = (here / common).resolve()
    return Repo(Path(lines[0]), git_dir, common)


def _refuse_bare(here: Path) -> None:
    """A bare repository has no worktree to hold the manifest or `_bus/`: say so, rather than
    "not a git repository" (asked only once discovery has already failed)."""
    bare = run(here, "rev-parse", "--is-bare-repository", check=False)
    if bare.returncode == 0 and bare.stdout.decode().strip() == "true":
        raise SetupError(
            f"{here} is a bare repository: run repobus in a clone or worktree",
            hint="git clone it (or `git worktree add`) and run repobus there",
        )


def zero_oid() -> str:
    return "0" * 40


def quote_args(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


# -- the repository -----------------------------------------------------------------------
