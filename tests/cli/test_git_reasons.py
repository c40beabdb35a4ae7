"""Errors that wrap git carry git's reason (its last meaningful line, not its first line of
context), and a bare repository is named as such (issue 16, item 9).  Real git throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git

from repobus.errors import ConflictError, GitError, RemoteError, SetupError, git_reason
from repobus.git import gitcmd
from repobus.playbook import boot, branches
from repobus.store.failures import last_error


def test_the_reason_is_the_last_meaningful_line() -> None:
    said = "Preparing worktree (checking out 'x')\nfatal: 'x' is already checked out at '/a'\n"
    assert git_reason(said) == "fatal: 'x' is already checked out at '/a'"
    assert last_error(said) == git_reason(said)  # one rule, shared by the remote errors
    assert git_reason("From /o\n ! [rejected] main -> origin/main (non-fast-forward)\n") == (
        "! [rejected] main -> origin/main (non-fast-forward)"
    )
    assert git_reason("") == "no message from git"


def test_git_error_shows_the_reason(repo: Path) -> None:
    with pytest.raises(GitError) as caught:
        gitcmd.run(repo, "worktree", "add", str(repo.parent / "again"), "main")
    assert "already" in caught.value.message and "Preparing" not in caught.value.message


def test_branch_worktree_names_where_it_is_checked_out(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    r = gitcmd.discover(repo)
    branches.create(r, "a1", "queue-001", worktree=repo.parent / "one")
    git(repo.parent / "one", "switch", "-q", "--detach")
    git(repo, "switch", "-q", "agent/a1/queue-001")
    with pytest.raises(ConflictError) as caught:
        branches.create(r, "a1", "queue-001", worktree=repo.parent / "two")
    said = caught.value.message
    assert "cannot add a worktree" in said and "Preparing worktree" not in said
    assert "already" in said and str(repo) in said


def test_a_bare_repository_is_named(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(SetupError) as caught:
        gitcmd.discover(bare)
    assert "is a bare repository: run repobus in a clone or worktree" in caught.value.message
    res = cli("status", cwd=bare)
    assert res.code != 0 and "bare repository" in res.err and "not a git repository" not in res.err
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SetupError, match="not a git repository"):
        gitcmd.discover(plain)


def test_boot_pull_failure_shows_gits_reason_and_the_hint(bare: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    # a refspec without '+': git refuses to fetch a rewound branch, as it does a bus chain
    git(clone, "config", "remote.origin.fetch", "refs/heads/*:refs/remotes/origin/*")
    seed = tmp_path / "seed"
    git(seed, "commit", "-q", "--allow-empty", "-m", "two")
    git(seed, "push", "-q", "origin", "main")
    git(clone, "pull", "-q", "--ff-only")
    git(bare, "update-ref", "refs/heads/main", "refs/heads/main~1")  # the remote is rewound
    with pytest.raises(RemoteError) as caught:
        boot.sync_git(gitcmd.discover(clone))
    assert "[rejected]" in caught.value.message and "From " not in caught.value.message
    assert caught.value.hint is not None and "rewound" in caught.value.hint
