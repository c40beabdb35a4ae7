"""A remote that refuses the credentials or the permission, over real transports (Apache +
`git http-backend` with basic auth, OpenSSH with a key): the CLI exits 7 at once with the
server's own words and what to do, makes exactly one push (no retry loop), and writes nothing
at the server; an event stays queued and every command says so; a credential that stops
working is named as such."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Cli, git, git_calls, server_ref
from servers import HttpServer, SshServer

from repobus.cli import main


def _clone(tmp: Path, url: str, name: str, config: dict[str, str]) -> Path:
    path = tmp / name
    opts = [a for k, v in config.items() for a in ("-c", f"{k}={v}")]
    git(tmp, "clone", "-q", *opts, url, str(path))
    assert main(["init", "--remote", "origin", "--repo", str(path)]) == 0
    return path


def _pushes(calls: list[tuple[str, ...]]) -> int:
    return sum(1 for c in calls if c[:1] == ("push",))


def _refused(cli: Cli, clone: Path, *args: str, agent: str = "bob") -> tuple[str, int]:
    """Run a command the remote refuses: its stderr, and how many pushes it made."""
    with git_calls() as calls:
        res = cli(*args, cwd=clone, agent=agent)
    assert res.code == 7, (args, res)
    assert "contention" not in res.err and "Traceback" not in res.err, res.err
    assert "hint:" in res.err, res.err  # what to do next
    return res.err, _pushes(calls)


def test_read_only_http_credential_is_refused_at_once_and_writes_nothing(
    http_server: HttpServer, bare: Path, tmp_path: Path, cli: Cli
) -> None:
    reader = _clone(
        tmp_path,
        http_server.url(),
        "reader",
        http_server.clone_config(tmp_path / "reader", "reader"),
    )
    err, pushes = _refused(cli, reader, "claim", "--task", "T-1")
    assert "The requested URL returned error: 403" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/claims/T-1") == ""
    assert git(reader, "for-each-ref", "refs/repobus/claims/") == ""  # nothing local either

    err, pushes = _refused(cli, reader, "log", "--event", "note", "--summary", "queued")
    assert "recorded in this clone but not on the remote" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/events/bob") == ""
    status = cli("status", cwd=reader, agent="bob")
    assert status.code == 0 and "events/bob (1)" in status.err, status
    err, _ = _refused(cli, reader, "sync")
    assert "403" in err and "stay queued" in err, err


def test_wrong_http_password_is_an_authentication_failure(
    http_server: HttpServer, bare: Path, tmp_path: Path, cli: Cli
) -> None:
    path = tmp_path / "bad"
    creds = http_server.store(path, "writer", password="wrong")
    bad = _clone(
        tmp_path,
        http_server.url(anonymous_reads=True),
        "bad",
        {"credential.helper": f"store --file {creds}"},
    )
    err, pushes = _refused(cli, bad, "claim", "--task", "T-1")
    assert "refused the credentials" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/claims/T-1") == ""


def test_a_credential_that_stops_working_is_named_and_the_claim_is_untouched(
    http_server: HttpServer, bare: Path, tmp_path: Path, cli: Cli
) -> None:
    """Pushes worked, then the credential was revoked (here: its password changed)."""
    path = tmp_path / "alice"
    alice = _clone(
        tmp_path,
        http_server.url(anonymous_reads=True),
        "alice",
        {"credential.helper": f"store --file {http_server.store(path, 'writer')}"},
    )
    assert cli("claim", "--task", "T-1", cwd=alice, agent="alice").code == 0
    held = server_ref(bare, "refs/repobus/claims/T-1")
    http_server.store(path, "writer", password="revoked")
    err, pushes = _refused(cli, alice, "renew", "--task", "T-1", agent="alice")
    assert "refused the credentials" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/claims/T-1") == held  # the claim as it was
    assert git(alice, "rev-parse", "refs/repobus/claims/T-1") == held


def test_an_unauthorised_ssh_key_is_refused_at_once(
    ssh_server: SshServer, bare: Path, tmp_path: Path, cli: Cli
) -> None:
    good = {"core.sshCommand": ssh_server.ssh_command()}
    clone = _clone(tmp_path, ssh_server.url(), "s", good)
    git(clone, "config", "core.sshCommand", ssh_server.ssh_command(ssh_server.other_key))
    err, pushes = _refused(cli, clone, "claim", "--task", "T-1")
    assert "Permission denied (publickey)" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/claims/T-1") == ""


@pytest.mark.parametrize(
    "command", [("release", "--task", "T-1"), ("pause", "--task", "T-1", "--notes", "lunch")]
)
def test_read_only_refusal_of_a_held_claim_keeps_it(
    http_server: HttpServer, bare: Path, tmp_path: Path, cli: Cli, command: tuple[str, ...]
) -> None:
    """The holder's clone loses its write permission: release and pause exit 7, the claim
    stays held at the server and in the clone."""
    path = tmp_path / "holder"
    holder = _clone(tmp_path, http_server.url(), "holder", http_server.clone_config(path))
    assert cli("claim", "--task", "T-1", cwd=holder, agent="alice").code == 0
    held = server_ref(bare, "refs/repobus/claims/T-1")
    http_server.store(path, "reader")  # the same clone, now with a read-only credential
    err, pushes = _refused(cli, holder, *command, agent="alice")
    assert "403" in err and pushes == 1, err
    assert server_ref(bare, "refs/repobus/claims/T-1") == held
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%s", "refs/repobus/claims/T-1"],
        cwd=holder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"status":"active"' in shown
