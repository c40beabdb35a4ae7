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
import servers
from servers import FaultProxy, HttpServer, SshServer

from repobus.git import gitcmd


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
        "[gc]\n\tauto = 0\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for var in ("REPOBUS_AGENT", "GITHUB_ACTIONS", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(var, raising=False)
    gitcmd._ENV = None


def claims_of_every_kind(bus: object) -> None:
    """An active claim (T-active), one whose 1 s lease runs out (T-expired), a paused one
    taken over (T-paused), a released one (T-done)."""
    bus.claim("a1", "T-active", ttl=3600)  # type: ignore[attr-defined]
    bus.claim("a2", "T-expired", ttl=1)  # type: ignore[attr-defined]
    bus.claim("a1", "T-paused")  # type: ignore[attr-defined]
    from repobus.bus import with_config  # pauseSilence 0: a1 counts as gone, a3 may pause

    with_config(bus, pause_silence=0).pause("a3", "T-paused", notes="crashed")  # type: ignore[arg-type]
    bus.claim("a2", "T-done")  # type: ignore[attr-defined]
    bus.release("a2", "T-done")  # type: ignore[attr-defined]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


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

    def run(
        *args: str, cwd: Path, agent: str | None = None, env: dict[str, str] | None = None
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


def run_console(
    *args: str,
    cwd: Path,
    agent: str | None = None,
    timeout: float = 60,
    flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`python [FLAGS] -m repobus ARGS` in `cwd`, as a user's shell would start it."""
    env = dict(os.environ)
    if agent:
        env["REPOBUS_AGENT"] = agent
    return subprocess.run(
        [sys.executable, *flags, "-m", "repobus", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(repo: Path, allow: tuple[str, ...] = ()) -> tuple[str, frozenset[tuple[str, int]]]:
    """Every ref and every file under the worktree (except .git internals and the paths
    named in `allow`): to assert that a failed command wrote nothing."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    files = frozenset(
        (str(p.relative_to(repo)), p.stat().st_size)
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.parts and not any(p.match(pattern) for pattern in allow)
    )
    return refs, files


# The original claim guard records its refusals here; tests of it assert that file.
GUARD_LOG = ("_report/agent/*/errors.jsonl",)


@contextlib.contextmanager
def unchanged(repo: Path, allow: tuple[str, ...] = ()) -> Iterator[None]:
    before = snapshot(repo, allow)
    yield
    assert snapshot(repo, allow) == before, "a failed command wrote something"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """`git daemon` on 127.0.0.1 serving `base`, with push enabled; stopped by PID."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"git://127.0.0.1:{self.port}/bus.git"

    def start(self) -> None:
        import socket
        import time

        self.proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--enable=receive-pack",
                "--export-all",
                f"--base-path={self.base}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("git daemon did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A bare remote with one commit on main."""
    path = tmp_path / "served" / "bus.git"
    path.parent.mkdir()
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(path), str(seed))
    git(seed, "commit", "-q", "--allow-empty", "-m", "initial")
    git(seed, "push", "-q", "origin", "main")
    return path


@pytest.fixture
def daemon(bare: Path) -> Iterator[Daemon]:
    d = Daemon(bare.parent)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def need_server(kind: str) -> None:
    """Skip a test whose server (`http`, `ssh`) cannot run here; under CI=true, fail instead:
    CI must really run them."""
    reason = servers.missing(kind)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the {kind} server cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture
def clone_options() -> dict[str, servers.CloneConfig]:
    """URL prefix -> the `git clone -c` config a clone of it needs (an ssh command, a credential
    store); the server fixtures register here and `make_clones` applies it."""
    return {}


@pytest.fixture
def http_server(bare: Path, clone_options: dict[str, servers.CloneConfig]) -> Iterator[HttpServer]:
    """Apache + git http-backend serving `bare` (`http_server.url()`); clones made by
    `make_clones` authenticate as `writer` through a credential store of their own."""
    need_server("http")
    with HttpServer(bare.parent) as server:
        clone_options[server.url_prefix] = server.clone_config
        yield server


@pytest.fixture
def ssh_server(bare: Path, clone_options: dict[str, servers.CloneConfig]) -> Iterator[SshServer]:
    """sshd serving `bare` (`ssh_server.url()`); clones made by `make_clones` keep its
    `core.sshCommand` in their config."""
    need_server("ssh")
    with SshServer(bare.parent) as server:
        clone_options[server.url_prefix] = server.clone_config
        yield server


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """`fault_proxy(target_port, seed=0)`: a started FaultProxy, killed at teardown."""
    made: list[FaultProxy] = []

    def make(target_port: int, seed: int = 0) -> FaultProxy:
        made.append(FaultProxy(target_port, seed).start())
        return made[-1]

    yield make
    for proxy in made:
        proxy.kill()


@pytest.fixture(params=["file", "daemon", "http", "ssh"])
def remote_url(request: pytest.FixtureRequest, bare: Path) -> Iterator[str]:
    if request.param == "file":
        yield f"file://{bare}"
        return
    if request.param in ("http", "ssh"):
        yield request.getfixturevalue(f"{request.param}_server").url()
        return
    d = Daemon(bare.parent)
    d.start()
    try:
        yield d.url
    finally:
        d.stop()


@pytest.fixture
def make_clones(
    tmp_path: Path, clone_options: dict[str, servers.CloneConfig]
) -> Callable[[str, int], list[Path]]:
    """Clones of a remote URL, each set up with `repobus init --remote origin`."""
    from repobus.cli import main

    def make(url: str, n: int) -> list[Path]:
        out = []
        for i in range(n):
            path = tmp_path / f"clone{i}"
            opts = servers.clone_args(clone_options, url, path)
            git(tmp_path, "clone", "-q", *opts, url, str(path))
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["init", "--remote", "origin", "--repo", str(path)]) == 0
            gitcmd._ENV = None
            out.append(path)
        return out

    return make


@contextlib.contextmanager
def git_calls() -> Iterator[list[tuple[str, ...]]]:
    """Every git process started meanwhile (subprocess.run, and Popen for network calls)."""
    calls: list[tuple[str, ...]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def note(args: tuple[object, ...], kw: dict[str, object]) -> None:
        argv = args[0] if args else kw.get("args")
        if isinstance(argv, (list, tuple)) and argv and argv[0] == "git":
            args = list(argv[1:])
            while args[:1] == ["-c"]:  # `git -c NAME=VALUE push ...`: the subcommand's words
                args = args[2:]
            calls.append(tuple(args[:2]))

    def run(*args: object, **kw: object) -> object:
        note(args, kw)
        return real_run(*args, **kw)  # type: ignore[call-overload]

    class Popen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kw: object) -> None:
            note(args, kw)
            super().__init__(*args, **kw)

    subprocess.run, subprocess.Popen = run, Popen  # type: ignore[assignment, misc]
    try:
        yield calls
    finally:
        subprocess.run, subprocess.Popen = real_run, real_popen  # type: ignore[misc]


Cli = Callable[..., Run]  # the `cli` fixture's type


def server_ref(bare: Path, ref: str) -> str:
    """The commit `ref` names in the bare repository `bare`; "" when there is none."""
    return git(bare, "for-each-ref", "--format=%(objectname)", ref)


@contextlib.contextmanager
def released_together(
    argvs: list[list[str]], cwd: Path | None = None
) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started from `argvs`, each of which prints `ready` once it has started and
    then waits for a line on stdin: all are released at once (the line written to each), and
    stopped by PID however the test ends."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for argv in argvs:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
