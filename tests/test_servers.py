"""The test transports themselves (tests/servers.py): plain git over Apache + http-backend and
OpenSSH, the answers a refusing server gives (403, 401, publickey, pre-receive hook), the fault
proxy, and that a stopped server leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git, need_server, server_ref
from servers import (
    FaultProxy,
    HttpServer,
    SshServer,
    alive,
    install_refusing_hook,
    process_tree,
    processes_mentioning,
    remove_refusing_hook,
)

Clones = Callable[[str, int], list[Path]]


def run_git(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """git as repobus runs it: no terminal prompt, C locale; never raises on failure."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def clone(tmp_path: Path, url: str, name: str, config: dict[str, str]) -> Path:
    opts = [arg for k, v in config.items() for arg in ("-c", f"{k}={v}")]
    res = run_git(tmp_path, "clone", "-q", *opts, url, name)
    assert res.returncode == 0, res.stderr
    return tmp_path / name


def new_commit(repo: Path, msg: str) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", msg)
    return git(repo, "rev-parse", "HEAD")


def test_http_writer_clones_and_pushes(http_server: HttpServer, bare: Path, tmp_path: Path) -> None:
    c = clone(tmp_path, http_server.url(), "w", http_server.clone_config(tmp_path / "w"))
    sha = new_commit(c, "by writer")
    res = run_git(c, "push", "origin", "HEAD:refs/heads/w", "HEAD:refs/repobus/claims/T")
    assert res.returncode == 0, res.stderr
    assert server_ref(bare, "refs/heads/w") == sha == server_ref(bare, "refs/repobus/claims/T")
    # the credential is kept in the clone's own store, not in the URL
    assert "secret" not in git(c, "remote", "get-url", "origin")


def test_http_reader_fetches_but_gets_403_on_push(
    http_server: HttpServer, bare: Path, tmp_path: Path
) -> None:
    c = clone(tmp_path, http_server.url(), "r", http_server.clone_config(tmp_path / "r", "reader"))
    assert run_git(c, "fetch", "origin").returncode == 0
    new_commit(c, "by reader")
    res = run_git(c, "push", "origin", "HEAD:refs/heads/r")
    assert res.returncode == 128
    assert "The requested URL returned error: 403" in res.stderr
    assert server_ref(bare, "refs/heads/r") == ""


def test_http_wrong_password_fails_authentication(http_server: HttpServer, tmp_path: Path) -> None:
    creds = http_server.store(tmp_path / "bad", "writer", password="wrong")
    res = run_git(
        tmp_path, "-c", f"credential.helper=store --file {creds}", "ls-remote", http_server.url()
    )
    assert res.returncode == 128
    assert f"Authentication failed for '{http_server.url()}/'" in res.stderr


def test_http_anonymous_reads_but_push_needs_writer(
    http_server: HttpServer, bare: Path, tmp_path: Path
) -> None:
    url = http_server.url(anonymous_reads=True)
    c = clone(tmp_path, url, "anon", {})
    new_commit(c, "anonymous")
    res = run_git(c, "push", "origin", "HEAD:refs/heads/anon")
    assert res.returncode == 128 and "could not read Username" in res.stderr
    helper = f"credential.helper=store --file {http_server.store(c, 'writer')}"
    assert run_git(c, "-c", helper, "push", "origin", "HEAD:refs/heads/anon").returncode == 0
    assert server_ref(bare, "refs/heads/anon") == git(c, "rev-parse", "HEAD")


def test_ssh_clones_and_pushes(ssh_server: SshServer, bare: Path, tmp_path: Path) -> None:
    c = clone(tmp_path, ssh_server.url(), "s", ssh_server.clone_config(tmp_path / "s"))
    assert git(c, "config", "core.sshCommand") == ssh_server.ssh_command()
    sha = new_commit(c, "over ssh")
    res = run_git(c, "push", "origin", "HEAD:refs/repobus/claims/S")
    assert res.returncode == 0, res.stderr
    assert server_ref(bare, "refs/repobus/claims/S") == sha


def test_ssh_unauthorised_key_is_denied(ssh_server: SshServer, tmp_path: Path) -> None:
    cmd = ssh_server.ssh_command(ssh_server.other_key)
    res = run_git(tmp_path, "-c", f"core.sshCommand={cmd}", "ls-remote", ssh_server.url())
    assert res.returncode == 128 and "Permission denied (publickey)" in res.stderr


def test_hook_refuses_bus_refs_on_every_transport(
    remote_url: str, bare: Path, make_clones: Clones
) -> None:
    (c,) = make_clones(remote_url, 1)
    install_refusing_hook(bare)
    sha = new_commit(c, "refused")
    res = run_git(c, "push", "--porcelain", "origin", "HEAD:refs/repobus/claims/H")
    assert res.returncode == 1
    assert "[remote rejected] (pre-receive hook declined)" in res.stdout
    assert "remote: refs/repobus/claims/H: refs/repobus/* is not allowed on this host" in res.stderr
    assert server_ref(bare, "refs/repobus/claims/H") == ""
    assert run_git(c, "push", "origin", "HEAD:refs/heads/ok").returncode == 0
    remove_refusing_hook(bare)
    assert run_git(c, "push", "origin", "HEAD:refs/repobus/claims/H").returncode == 0
    assert server_ref(bare, "refs/repobus/claims/H") == sha


@pytest.fixture(params=["http", "ssh"])
def proxied(
    request: pytest.FixtureRequest, fault_proxy: Callable[..., FaultProxy], tmp_path: Path
) -> tuple[FaultProxy, str, list[str]]:
    """A proxy in front of an http or ssh server: (proxy, URL through it, `git -c` options)."""
    need_server(request.param)
    server = request.getfixturevalue(f"{request.param}_server")
    proxy = fault_proxy(server.port, seed=7)
    if isinstance(server, HttpServer):  # anonymous reads: a reset must not erase a credential
        return proxy, server.url(anonymous_reads=True, port=proxy.port), []
    cmd = server.ssh_command(port=proxy.port)  # ssh takes the first -p, the command's
    return proxy, server.url(port=proxy.port), ["-c", f"core.sshCommand={cmd}"]


def test_proxy_resets_break_transfers_and_pass_through_works(
    proxied: tuple[FaultProxy, str, list[str]], tmp_path: Path
) -> None:
    proxy, url, opts = proxied
    assert run_git(tmp_path, *opts, "ls-remote", url).returncode == 0
    proxy.reset(1.0, max_offset=512)
    failures = [run_git(tmp_path, *opts, "ls-remote", url) for _ in range(3)]
    assert [r.returncode for r in failures] == [128] * 3
    # over ssh a reset can leave only git's generic line (ssh logs nothing at LogLevel=ERROR)
    transport = ("reset by peer", "hung up", "rpc failed", "could not read from remote")
    errors = [r.stderr.lower() for r in failures]
    assert all(any(w in e for w in transport) for e in errors), "\n--\n".join(errors)
    assert proxy.resets == 3
    proxy.pass_through()
    res = run_git(tmp_path, *opts, "clone", "-q", url, "after")
    assert res.returncode == 0, res.stderr


def test_proxy_stall_holds_a_transfer_until_released(
    proxied: tuple[FaultProxy, str, list[str]], tmp_path: Path
) -> None:
    proxy, url, opts = proxied
    proxy.stall(None)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    proc = subprocess.Popen(
        ["git", *opts, "ls-remote", url],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.communicate(timeout=2)
        proxy.pass_through()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert b"refs/heads/main" in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_proxy_kill_ends_connections_and_refuses_new_ones(
    proxied: tuple[FaultProxy, str, list[str]], tmp_path: Path
) -> None:
    proxy, url, opts = proxied
    assert run_git(tmp_path, *opts, "ls-remote", url).returncode == 0
    proxy.kill()
    res = run_git(tmp_path, *opts, "ls-remote", url)
    assert res.returncode == 128
    assert any(w in res.stderr for w in ("Connection refused", "Failed to connect")), res.stderr


def test_stopped_http_server_leaves_no_process(bare: Path, tmp_path: Path) -> None:
    need_server("http")
    server = HttpServer(bare.parent)
    server.start()
    try:
        assert run_git(tmp_path, "ls-remote", server.url(anonymous_reads=True)).returncode == 0
        assert processes_mentioning(str(server.dir))
    finally:
        server.stop()
    assert len(server.tree) >= 2  # the master and its workers were running
    assert processes_mentioning(str(server.dir)) == [] and alive(server.tree) == []


def sleep_in_session(master: int) -> dict[int, int]:
    """sshd's process tree once the session's `sleep 120` runs in it, else {}."""
    tree = process_tree(master)
    for pid in tree:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00120\x00":
                return tree
    return {}


def test_stopped_ssh_server_ends_its_sessions(bare: Path, tmp_path: Path) -> None:
    need_server("ssh")
    server = SshServer(bare.parent)
    server.start()
    assert server.proc is not None
    argv = [*shlex.split(server.ssh_command()), f"{server.user}@127.0.0.1", "sleep 120"]
    client = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (session := sleep_in_session(server.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded poll: nothing tells us when the session has started
        assert session, "the ssh session did not start"
    finally:
        server.stop()
        client.wait(30)
    assert processes_mentioning(str(server.dir)) == [] and alive(session) == []
