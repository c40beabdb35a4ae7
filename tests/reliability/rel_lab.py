"""The reliability lab: real repositories, worktrees, clones and a `git daemon` on 127.0.0.1,
long-lived worker processes, and the checks every part ends with (refs readable, `git fsck`
clean, `verify` clean).

Used both by the tests in this directory (which pass pytest's tmp_path) and by
`python -m benchmarks.reliability` (which passes a temporary directory): nothing here depends
on pytest fixtures.  Invariants: every process started is stopped by its handle (PID, or its
process group for workers started in their own session); every loop is bounded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = str(HERE / "rel_worker.py")
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
ZERO = "0" * 40


# -- outcome of one part ------------------------------------------------------------------
@dataclass
class Outcome:
    """What one part did: trials run, failures seen (with the first few described), what was
    checked, and counters worth reporting (unknown outcomes, locks recovered, ...)."""

    part: str
    checked: str
    trials: int = 0
    failures: int = 0
    details: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def fail(self, what: str) -> None:
        self.failures += 1
        if len(self.details) < 10:
            self.details.append(what)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "trials": self.trials,
            "failures": self.failures,
            "checked": self.checked,
            "details": self.details,
            "counters": self.counters,
            "seconds": round(self.seconds, 2),
        }


# -- environment ----------------------------------------------------------------------------
def isolate(home: Path) -> None:
    """For the runner: git reads only `home/.gitconfig` (the tests' autouse fixture does the
    same through monkeypatch)."""
    from repobus.git import gitcmd

    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
        "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n",
        encoding="utf-8",
    )
    os.environ.update(
        HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / ".gitconfig")
    )
    for var in ("REPOBUS_AGENT", "GITHUB_ACTIONS", "GIT_DIR", "GIT_WORK_TREE"):
        os.environ.pop(var, None)
    gitcmd._ENV = None


def git(cwd: Path, *args: str, check: bool = True, stdin: bytes | None = None) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=stdin)
    if check and res.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed in {cwd}: {res.stderr.decode(errors='replace').strip()}"
        )
    return res.stdout.decode(errors="replace").strip()


def new_repo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "-q", "-b", "main", str(path))
    git(path, "commit", "-q", "--allow-empty", "-m", "initial")
    return path


def add_worktrees(repo: Path, n: int, prefix: str = "wt") -> list[Path]:
    out = []
    for i in range(n):
        wt = repo.parent / f"{repo.name}-{prefix}{i}"
        git(repo, "worktree", "add", "-q", "-b", f"agent/{repo.name}-{prefix}{i}/work", str(wt))
        out.append(wt)
    return out


def new_bare(path: Path) -> Path:
    """A bare remote with one commit on main (served as `<parent>/<name>`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    seed = path.parent / f".seed-{path.name}"
    git(path.parent, "clone", "-q", str(path), str(seed))
    git(seed, "commit", "-q", "--allow-empty", "-m", "initial")
    git(seed, "push", "-q", "origin", "main")
    return path


def cli(
    *args: str, cwd: Path | None = None, agent: str | None = None, stdin: str = ""
) -> tuple[int, str, str]:
    """`repobus ARGS` in-process (as the console script), output captured, `stdin` as input."""
    from repobus.cli import main
    from repobus.git import gitcmd

    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    old_agent = os.environ.get("REPOBUS_AGENT")
    old_stdin = sys.stdin
    try:
        sys.stdin = io.StringIO(stdin)
        if cwd is not None:
            os.chdir(cwd)
        if agent:
            os.environ["REPOBUS_AGENT"] = agent
        gitcmd._ENV = None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = old_stdin
        os.chdir(old_cwd)
        if agent:
            if old_agent is None:
                os.environ.pop("REPOBUS_AGENT", None)
            else:
                os.environ["REPOBUS_AGENT"] = old_agent
        gitcmd._ENV = None
    return code, out.getvalue(), err.getvalue()


def clone(url: str, path: Path) -> Path:
    git(path.parent, "clone", "-q", url, str(path))
    code, _, err = cli("init", "--remote", "origin", "--repo", str(path))
    if code != 0:
        raise RuntimeError(f"repobus init failed in {path}: {err}")
    return path


@contextlib.contextmanager
def serve(bare: Path) -> Iterator[str]:
    """`git daemon` on 127.0.0.1 serving `bare`; yields its URL; stopped by PID."""
    sys.path.insert(0, str(HERE.parent))
    from conftest import Daemon

    d = Daemon(bare.parent)
    d.start()
    try:
        yield f"git://127.0.0.1:{d.port}/{bare.name}"
    finally:
        d.stop()


# -- checks -------------------------------------------------------------------------------
def bus_refs(repo: Path, prefix: str = "refs/repobus/") -> dict[str, str]:
    text = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    out = {}
    for line in text.splitlines():
        name, _, oid = line.partition(" ")
        out[name] = oid
    return out


def refs_problems(repo: Path) -> list[str]:
    """Every bus ref must name a commit whose first message line is a JSON object."""
    out = []
    refs = bus_refs(repo)
    if not refs:
        return out
    batch = "".join(f"{oid}\n" for oid in refs.values()).encode()
    res = subprocess.run(
        ["git", "cat-file", "--batch-check"], cwd=repo, input=batch, capture_output=True
    )
    for (ref, _), line in zip(refs.items(), res.stdout.decode().splitlines(), strict=False):
        if " commit " not in f" {line} ":
            out.append(f"{ref}: {line}")
    return out


def fsck(repo: Path) -> str | None:
    """None when `git fsck` is clean (dangling objects are fine), else its complaint."""
    res = subprocess.run(
        ["git", "fsck", "--no-dangling", "--no-progress"], cwd=repo, capture_output=True, text=True
    )
    if res.returncode != 0:
        return (res.stderr or res.stdout).strip()[:500]
    return None


def verify_problems(repo: Path) -> list[str]:
    from repobus.bus import open_bus
    from repobus.git import gitcmd

    gitcmd._ENV = None
    return [f"{p.chain}: {p.where}: {p.what}" for p in open_bus(repo).store.verify()]


def lock_files(repo: Path) -> list[Path]:
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    return sorted(p for p in (common / "refs").rglob("*.lock")) + (
        [common / "packed-refs.lock"] if (common / "packed-refs.lock").exists() else []
    )


# -- workers --------------------------------------------------------------------------------
class Workers:
    """Long-lived `rel_worker.py` processes, each in its own session (so a kill of its process
    group takes its git children too).  Requests are JSON lines written to every worker back to
    back, so they start together; each answers one JSON line."""

    def __init__(self, places: Sequence[tuple[Path, str]], timeout: float = 120) -> None:
        self.places = list(places)
        self.timeout = timeout
        self.procs: list[subprocess.Popen[str]] = []
        try:
            for wt, agent in self.places:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, WORKER, str(wt), agent],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                        bufsize=1,
                        start_new_session=True,
                    )
                )
            for p in self.procs:
                if self._read(p) != {"ready": True}:
                    raise RuntimeError("worker did not start")
        except BaseException:
            self.close()
            raise

    def _read(self, p: subprocess.Popen[str]) -> Any:
        import select

        assert p.stdout is not None
        ready, _, _ = select.select([p.stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError(f"worker {p.pid} did not answer in {self.timeout}s")
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {p.pid} exited ({p.poll()})")
        return json.loads(line)

    def send(self, i: int, req: dict[str, Any]) -> None:
        p = self.procs[i]
        assert p.stdin is not None
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()

    def ask(self, i: int, req: dict[str, Any]) -> Any:
        self.send(i, req)
        return self._read(self.procs[i])

    def all(self, reqs: Sequence[dict[str, Any]]) -> list[Any]:
        """One request per worker, written back to back; the answers in order."""
        for i, req in enumerate(reqs):
            self.send(i, req)
        return [self._read(p) for p in self.procs]

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.stdin.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
            with contextlib.suppress(OSError):
                p.stdout.close()  # type: ignore[union-attr]
        self.procs = []

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
