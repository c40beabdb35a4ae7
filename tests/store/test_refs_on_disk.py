"""`fingerprint.ref_absent`: says a ref is absent only when git agrees, in every state the files
backend keeps refs in (loose, packed, both, deleted), and is unsure (False) otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repobus.bus import open_bus
from repobus.git import fingerprint

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def git_has(repo: Path, ref: str) -> bool:
    res = subprocess.run(["git", "show-ref", "--verify", "-q", ref], cwd=repo, check=False)
    return res.returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


def test_absent_only_when_git_finds_nothing(repo: Path) -> None:
    common = str(repo / ".git")
    oid = git(repo, "commit-tree", EMPTY_TREE, "-m", "r")
    refs = [f"refs/repobus/claims/T-{i}" for i in range(4)]
    assert all(fingerprint.ref_absent(common, r) for r in refs)  # no packed-refs file yet
    git(repo, "update-ref", refs[0], oid)  # loose
    git(repo, "update-ref", refs[1], oid)
    git(repo, "pack-refs", "--all")  # refs[0], refs[1] packed, loose files gone
    git(repo, "update-ref", refs[2], oid)  # loose beside packed-refs
    git(repo, "update-ref", "-d", refs[1])  # deleted from packed-refs
    for ref in refs:
        assert fingerprint.ref_absent(common, ref) == (not git_has(repo, ref)), ref
    # a longer name that merely ends like another is not taken for it
    assert fingerprint.ref_absent(common, "refs/repobus/claims/0")


def test_unsure_is_not_absent(repo: Path) -> None:
    common = repo / ".git"
    (common / "refs/repobus/claims/T-9").mkdir(parents=True)  # a directory in the way
    assert not fingerprint.ref_absent(str(common), "refs/repobus/claims/T-9")
    (common / "packed-refs").mkdir()  # cannot be read as a file
    assert not fingerprint.ref_absent(str(common), "refs/repobus/claims/T-1")
    assert not fingerprint.ref_absent(str(repo / "nowhere"), "refs/repobus/claims/T-1")


def test_store_get_reads_packed_and_loose_claims(repo: Path) -> None:
    """The store's read of one slot sees a claim however git keeps its ref."""
    bus = open_bus(repo)
    assert bus.store.get("claims", "T-1") is None
    bus.claim("a", "T-1")
    git(repo, "pack-refs", "--all")
    packed = bus.store.get("claims", "T-1")
    assert packed is not None and packed.record["agent_id"] == "a"
    bus.renew("a", "T-1")  # the ref is loose again, beside its old packed line
    loose = open_bus(repo).store.get("claims", "T-1")
    assert loose is not None and loose.version != packed.version
    assert loose.version == git(repo, "rev-parse", "refs/repobus/claims/T-1")
