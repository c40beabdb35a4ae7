"""Fixtures: real git in temporary repositories, with HOME and git config isolated."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from repobus import gitcmd


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n"
        "[gc]\n\tauto = 0\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("REPOBUS_AGENT", "GITHUB_ACTIONS", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(var, raising=False)
    gitcmd._ENV = None


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(path))
    git(path, "commit", "-q", "--allow-empty", "-m", "initial")
    return path


@pytest.fixture
def dir_repo(repo: Path) -> Path:
    git(repo, "config", "repobus.backend", "dir")
    return repo


@pytest.fixture(params=["git", "dir"])
def any_repo(request: pytest.FixtureRequest, repo: Path) -> Path:
    git(repo, "config", "repobus.backend", request.param)
    return repo


@pytest.fixture
def make_worktrees(repo: Path) -> Callable[[int], list[Path]]:
    def make(n: int) -> list[Path]:
        out = []
        for i in range(n):
            wt = repo.parent / f"wt{i}"
            git(repo, "worktree", "add", "-q", "-b", f"agent/wt{i}/work", str(wt))
            out.append(wt)
        return out

    return make


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> object:
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run `repobus ARGS` in-process in `cwd`, as the console script would."""
    from repobus.cli import main

    def run(*args: str, cwd: Path, agent: str | None = None, env: dict[str, str] | None = None
            ) -> Run:
        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as m:
            m.chdir(cwd)
            if agent:
                m.setenv("REPOBUS_AGENT", agent)
            for k, v in (env or {}).items():
                m.setenv(k, v)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        return Run(code, out.getvalue(), err.getvalue())

    return run


def run_console(*args: str, cwd: Path, agent: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if agent:
        env["REPOBUS_AGENT"] = agent
    return subprocess.run([sys.executable, "-m", "repobus", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(repo: Path, allow: tuple[str, ...] = ()) -> tuple[str, frozenset[tuple[str, int]]]:
    """Every ref and every file under the worktree (except .git internals and the paths
    named in `allow`): to assert that a failed command wrote nothing."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    files = frozenset(
        (str(p.relative_to(repo)), p.stat().st_size)
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.parts
        and not any(p.match(pattern) for pattern in allow)
    )
    return refs, files


# The original claim guard records its refusals here; tests of it assert that file.
GUARD_LOG = ("_report/agent/*/errors.jsonl",)


@contextlib.contextmanager
def unchanged(repo: Path, allow: tuple[str, ...] = ()) -> Iterator[None]:
    before = snapshot(repo, allow)
    yield
    assert snapshot(repo, allow) == before, "a failed command wrote something"
