"""A clone knows its bus: `.repobus.toml`, committed by the team, makes a plain `git clone`
use the shared remote; without it, a clone refuses to run a private bus beside the server's.

Real git, real bare remotes (every transport of `remote_url`: file://, git daemon, http, ssh),
real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
import servers
from conftest import Run, free_port, git, released_together, run_console, unchanged

Cli = Callable[..., Run]
NOTE = "note: set up this clone from .repobus.toml (remote origin)"
WROTE = 'wrote .repobus.toml (commit it: git add .repobus.toml && git commit -m "use repobus")'


def server_claim(bare: Path, task: str) -> dict[str, object] | None:
    """The claim record the server holds for `task` (the tip commit's message)."""
    res = subprocess.run(
        ["git", "log", "-1", "--format=%B", f"refs/repobus/claims/{task}", "--"],
        cwd=bare,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout) if res.returncode == 0 else None


def config_all(clone: Path, key: str) -> list[str]:
    res = subprocess.run(
        ["git", "config", "--get-all", key], cwd=clone, capture_output=True, text=True
    )
    return res.stdout.split()


Fresh = Callable[[str, str], Path]


@pytest.fixture
def fresh(tmp_path: Path, clone_options: dict[str, Any]) -> Fresh:
    """`fresh(url, name)`: a plain `git clone` (with what the server needs to be reached, an
    ssh command or a credential store): no `repobus init`."""

    def make(url: str, name: str) -> Path:
        path = tmp_path / name
        git(tmp_path, "clone", "-q", *servers.clone_args(clone_options, url, path), url, str(path))
        return path

    return make


def set_up_alice(fresh: Fresh, url: str, cli: Cli, *, commit: bool = True) -> Path:
    """alice's clone, set up with `repobus init --remote origin` (which writes the file),
    the file committed and pushed to main (unless `commit` is off), and T claimed by alice."""
    path = fresh(url, "alice")
    res = cli("init", "--remote", "origin", cwd=path)
    assert res.code == 0 and WROTE in res.out, res
    if commit:
        git(path, "add", ".repobus.toml")
        git(path, "commit", "-q", "-m", "use repobus")
        git(path, "push", "-q", "origin", "main")
    assert cli("claim", "--task", "T", cwd=path, agent="alice").code == 0
    return path


@pytest.fixture
def alice(fresh: Fresh, remote_url: str, cli: Cli) -> Path:
    return set_up_alice(fresh, remote_url, cli)


# -- with the file: a fresh clone sets itself up --------------------------------------------------
def test_fresh_clones_follow_the_file_and_lose_a_task_held_at_the_server(
    alice: Path, remote_url: str, bare: Path, fresh: Fresh
) -> None:
    for name in ("bob1", "bob2"):
        clone = fresh(remote_url, name)
        res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
        assert res.returncode == 3, res
        assert "already claimed by alice" in res.stderr
        assert NOTE in res.stderr
        assert config_all(clone, "repobus.remote") == ["origin"]
        assert config_all(clone, "repobus.backend") == ["git"]
    assert server_claim(bare, "T")["agent_id"] == "alice"  # type: ignore[index]


def test_a_fresh_clone_wins_a_free_task_at_the_server(
    alice: Path, remote_url: str, bare: Path, fresh: Fresh
) -> None:
    clone = fresh(remote_url, "bob")
    res = run_console("claim", "--task", "T2", "--agent", "bob", cwd=clone)
    assert res.returncode == 0, res
    assert NOTE in res.stderr
    assert server_claim(bare, "T2")["agent_id"] == "bob"  # type: ignore[index]
    again = run_console("claim", "--task", "T2", "--agent", "bob", cwd=clone)
    assert again.returncode == 0 and "note:" not in again.stderr  # set up once


GATE = (
    "import sys\nfrom repobus.cli import main\nprint('ready', flush=True)\n"
    "sys.stdin.readline()\nsys.exit(main(sys.argv[1:]))"
)


def gated(clone: Path, argvs: list[list[str]]) -> AbstractContextManager[list[Popen[str]]]:
    """repobus runs in `clone`, started together (conftest.released_together)."""
    return released_together([[sys.executable, "-c", GATE, *a] for a in argvs], cwd=clone)


def test_four_processes_set_up_one_fresh_clone_once_and_one_wins(
    alice: Path, remote_url: str, bare: Path, fresh: Fresh
) -> None:
    clone = fresh(remote_url, "bob")
    argvs = [["claim", "--task", "T3", "--agent", f"racer-{i}"] for i in range(4)]
    with gated(clone, argvs) as procs:
        results = [(p.wait(120), *p.communicate(timeout=30)) for p in procs]
    codes = [code for code, _, _ in results]
    assert sorted(codes) == [0, 3, 3, 3], results
    winner = f"racer-{codes.index(0)}"
    assert server_claim(bare, "T3")["agent_id"] == winner  # type: ignore[index]
    for code, _, err in results:
        assert code == 0 or f"already claimed by {winner}" in err
    assert sum(NOTE in err for _, _, err in results) == 1
    assert config_all(clone, "repobus.remote") == ["origin"]
    assert config_all(clone, "repobus.backend") == ["git"]
    assert config_all(clone, "repobus.format") == ["1"]
    fetch = config_all(clone, "remote.origin.fetch")
    assert len(fetch) == len(set(fetch))


def test_a_remote_named_in_the_file_that_the_clone_lacks_exits_5(
    bare: Path, fresh: Fresh, cli: Cli
) -> None:
    url = f"file://{bare}"
    alice = fresh(url, "alice")
    git(alice, "remote", "rename", "origin", "upstream")
    assert cli("init", "--remote", "upstream", cwd=alice).code == 0
    git(alice, "add", ".repobus.toml")
    git(alice, "commit", "-q", "-m", "use repobus")
    git(alice, "push", "-q", "upstream", "main")
    clone = fresh(url, "bob")
    with unchanged(clone):
        res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
    assert res.returncode == 5, res
    assert "names remote 'upstream'" in res.stderr
    assert "run: repobus init --remote NAME" in res.stderr
    assert config_all(clone, "repobus.backend") == []


def test_a_fetch_that_fails_exits_6_and_writes_nothing(bare: Path, fresh: Fresh, cli: Cli) -> None:
    set_up_alice(fresh, f"file://{bare}", cli)
    clone = fresh(f"file://{bare}", "bob")
    git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{free_port()}/bus.git")
    before = git(clone, "config", "--list", "--local")
    with unchanged(clone):
        res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
    assert res.returncode == 6, res
    assert "origin" in res.stderr and "note:" not in res.stderr
    assert git(clone, "config", "--list", "--local") == before


def test_a_bad_file_is_refused_naming_its_line(bare: Path, fresh: Fresh, cli: Cli) -> None:
    clone = fresh(f"file://{bare}", "bob")
    (clone / ".repobus.toml").write_text('format = 1\nbackend = "svn"\n')
    res = cli("claim", "--task", "T", cwd=clone, agent="bob")
    assert res.code == 1 and ".repobus.toml line 2" in res.err and "svn" in res.err
    (clone / ".repobus.toml").write_text("format = 1\nbackend = \n")
    res = cli("status", cwd=clone)
    assert res.code == 1 and "line 2" in res.err
    (clone / ".repobus.toml").write_text('format = 7\nbackend = "git"\n')
    res = cli("init", cwd=clone)
    assert res.code == 1 and "line 1" in res.err and "upgrade repobus" in res.err


# -- without the file: ask the remote ----------------------------------------------------------
def test_without_the_file_a_clone_refuses_when_the_server_holds_a_bus(
    remote_url: str, bare: Path, fresh: Fresh, cli: Cli
) -> None:
    set_up_alice(fresh, remote_url, cli, commit=False)
    clone = fresh(remote_url, "bob")
    with unchanged(clone):
        res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
        status = run_console("status", "--json", cwd=clone)
    assert res.returncode == 5, res
    assert "remote 'origin' holds a repobus bus but this clone is not set up" in res.stderr
    assert "hint: run: repobus init --remote origin" in res.stderr
    assert status.returncode == 5 and '"code":5' in status.stdout
    assert server_claim(bare, "T")["agent_id"] == "alice"  # type: ignore[index]


def test_without_the_file_or_a_bus_at_the_server_a_clone_works_locally(
    remote_url: str, bare: Path, fresh: Fresh
) -> None:
    clone = fresh(remote_url, "bob")
    res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
    assert res.returncode == 0, res
    assert "refs/repobus/claims/T" in git(clone, "for-each-ref", "refs/repobus/")
    assert git(bare, "for-each-ref", "refs/repobus/") == ""
    assert config_all(clone, "repobus.backend") == []


def test_an_unreachable_remote_refuses_writes_and_lets_reads_go_on(
    bare: Path, fresh: Fresh
) -> None:
    clone = fresh(f"file://{bare}", "bob")
    git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{free_port()}/bus.git")
    with unchanged(clone):
        res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
    assert res.returncode == 6, res
    assert "cannot tell whether remote 'origin' holds a repobus bus" in res.stderr
    read = run_console("status", cwd=clone)
    assert read.returncode == 0, read
    assert "note: could not ask remote 'origin'" in read.stderr


def test_commands_that_work_before_set_up_do_not_ask(bare: Path, fresh: Fresh) -> None:
    clone = fresh(f"file://{bare}", "bob")
    git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{free_port()}/bus.git")
    for argv in (["doctor"], ["schema", "claim"], ["--version"], ["claim", "--help"]):
        res = run_console(*argv, cwd=clone)
        assert res.returncode in (0, 1) and "origin" not in res.stderr, (argv, res)


# -- init, the lean status path and doctor -----------------------------------------------------
def test_init_takes_the_file_as_its_defaults_and_rewrites_it_only_for_a_flag(
    bare: Path, fresh: Fresh, cli: Cli
) -> None:
    alice = set_up_alice(fresh, f"file://{bare}", cli)
    path = alice / ".repobus.toml"
    path.write_text(path.read_text() + "# the team's own note\n")
    res = cli("init", cwd=alice)
    assert res.code == 0 and "nothing changed" in res.out
    assert path.read_text().endswith("# the team's own note\n")
    clone = fresh(f"file://{bare}", "bob")
    res = cli("init", "--agent", "bob", cwd=clone)  # the committed file: origin, not rewritten
    assert (
        res.code == 0 and "set repobus.remote=origin" in res.out and "wrote .repobus" not in res.out
    )
    res = cli("init", "--no-remote", cwd=clone)
    assert res.code == 0 and WROTE in res.out
    assert "remote =" not in (clone / ".repobus.toml").read_text()
    assert config_all(clone, "repobus.remote") == []


def test_status_json_of_a_private_clone_follows_the_file_once_it_arrives(
    bare: Path, fresh: Fresh, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repobus.cli.lean import serve_status

    set_up_alice(fresh, f"file://{bare}", cli)
    private = tmp_path / "private"
    git(tmp_path, "init", "-q", "-b", "main", str(private))
    git(private, "commit", "-q", "--allow-empty", "-m", "private work")
    assert cli("claim", "--task", "MINE", cwd=private, agent="bob").code == 0
    old = time.time() - 3600  # the index trusts a ref fingerprint only once it has settled
    for path in [private / ".git/refs/repobus", *(private / ".git/refs/repobus").iterdir()]:
        os.utime(path, (old, old))
    for _ in range(2):  # the index, then the snapshot the lean path answers from
        assert run_console("status", "--json", cwd=private).returncode == 0
    monkeypatch.chdir(private)
    assert serve_status(["--json"]) is not None  # the lean path can answer now
    git(private, "remote", "add", "origin", f"file://{bare}")
    git(private, "fetch", "-q", "origin", "main")
    git(private, "checkout", "-q", "origin/main", "--", ".repobus.toml")
    assert serve_status(["--json"]) is None  # ... and steps aside for the file
    res = run_console("status", "--json", cwd=private)
    assert res.returncode == 0, res
    assert NOTE in res.stderr
    holders = {c["task_id"]: c["agent_id"] for c in json.loads(res.stdout)["claims"]}
    assert holders["T"] == "alice"


def test_doctor_warns_about_a_disagreement_and_an_uncommitted_file(
    bare: Path, fresh: Fresh, cli: Cli
) -> None:
    alice = set_up_alice(fresh, f"file://{bare}", cli, commit=False)

    def project_findings() -> list[dict[str, str]]:
        res = cli("doctor", "--json", cwd=alice)
        return [f for f in res.json["findings"] if f["check"] == "project"]  # type: ignore[index]

    found = project_findings()
    assert [f["level"] for f in found] == ["warning"]
    assert "commit .repobus.toml" in found[0]["detail"]
    git(alice, "add", ".repobus.toml")
    assert [f["level"] for f in project_findings()] == ["ok"]
    git(alice, "config", "--unset", "repobus.remote")
    found = project_findings()
    assert [f["level"] for f in found] == ["warning"]
    assert "but .repobus.toml declares remote origin" in found[0]["detail"]
    (alice / ".repobus.toml").unlink()
    found = project_findings()
    assert found[0]["level"] == "warning" and "commit .repobus.toml" in found[0]["detail"]


def test_a_dir_backend_file_sets_a_clone_up_for_the_dir_backend(
    bare: Path, fresh: Fresh, cli: Cli
) -> None:
    alice = fresh(f"file://{bare}", "alice")
    assert cli("init", "--backend", "dir", cwd=alice).code == 0
    assert 'backend = "dir"' in (alice / ".repobus.toml").read_text()
    git(alice, "add", ".repobus.toml")
    git(alice, "commit", "-q", "-m", "use repobus")
    git(alice, "push", "-q", "origin", "main")
    clone = fresh(f"file://{bare}", "bob")
    res = run_console("claim", "--task", "T", "--agent", "bob", cwd=clone)
    assert res.returncode == 0, res
    assert "note: set up this clone from .repobus.toml (backend dir)" in res.stderr
    assert config_all(clone, "repobus.backend") == ["dir"]
    assert (clone / "_bus/claims/T.json").is_file()


@pytest.mark.parametrize("name", ["origin", "up-stream", "team/gitlab", "dépôt", 'a"b\\c'])
def test_the_file_reads_back_what_init_wrote(name: str) -> None:
    from repobus.store import project

    for declared in (project.Project("git", name), project.Project("dir")):
        assert project.parse(project.render(declared).encode()) == declared


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('format = 1\nbackend = "git"\nremot = "origin"\n', "line 3: unknown key 'remot'"),
        ('format = 1\nbackend = "git"\nremote = "--upload-pack=x"\n', "line 3: remote ="),
        ('format = 1\nbackend = "dir"\nremote = "origin"\n', "only the git backend"),
        ('format = "1"\nbackend = "git"\n', "line 1: format = '1'"),
        ('backend = "git"\n', "has no format"),
        ("format = 1\n", "has no backend"),
        ('format = 1\n[repobus]\nbackend = "git"\n', "line 2: unknown key 'repobus'"),
    ],
)
def test_a_file_repobus_cannot_follow_is_named(text: str, words: str) -> None:
    from repobus.store import project

    with pytest.raises(project.ProjectFileError) as err:
        project.parse(text.encode())
    assert words in err.value.message and err.value.code == 1
