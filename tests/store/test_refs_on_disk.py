"""git/refsdisk: refs read from the files backend without git agree with git in every state it
keeps them in (loose, packed, both, deleted), and say "unsure" (None / False) otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repobus.bus import open_bus
from repobus.git import refsdisk

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
    assert all(refsdisk.absent(common, r) for r in refs)  # no packed-refs file yet
    git(repo, "update-ref", refs[0], oid)  # loose
    git(repo, "update-ref", refs[1], oid)
    git(repo, "pack-refs", "--all")  # refs[0], refs[1] packed, loose files gone
    git(repo, "update-ref", refs[2], oid)  # loose beside packed-refs
    git(repo, "update-ref", "-d", refs[1])  # deleted from packed-refs
    for ref in refs:
        assert refsdisk.absent(common, ref) == (not git_has(repo, ref)), ref
    # a longer name that merely ends like another is not taken for it
    assert refsdisk.absent(common, "refs/repobus/claims/0")


def test_unsure_is_not_absent(repo: Path) -> None:
    common = repo / ".git"
    (common / "refs/repobus/claims/T-9").mkdir(parents=True)  # a directory in the way
    assert not refsdisk.absent(str(common), "refs/repobus/claims/T-9")
    (common / "packed-refs").mkdir()  # cannot be read as a file
    assert not refsdisk.absent(str(common), "refs/repobus/claims/T-1")
    assert not refsdisk.absent(str(repo / "nowhere"), "refs/repobus/claims/T-1")


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


def for_each_ref(repo: Path, *patterns: str) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", *patterns)
    return {line.split(" ")[0]: line.split(" ")[1] for line in out.splitlines() if line}


def _mixed(repo: Path) -> list[str]:
    """Refs in every state: packed only, loose over packed, loose only, deleted, and names
    that only look alike (a longer key, another folder)."""
    oids = [git(repo, "commit-tree", EMPTY_TREE, "-m", str(i)) for i in range(3)]
    names = [f"refs/repobus/claims/T-{i}" for i in range(6)]
    names += ["refs/repobus/claimsX/T-0", "refs/repobus/archive", "refs/repobus/events/a"]
    for n in names:
        git(repo, "update-ref", n, oids[0])
    git(repo, "tag", "-a", "-m", "t", "v1", oids[1])  # a peeled line in packed-refs
    git(repo, "pack-refs", "--all")
    git(repo, "update-ref", names[1], oids[1])  # loose over packed
    git(repo, "update-ref", "refs/repobus/claims/T-10", oids[2])  # loose only
    git(repo, "update-ref", "-d", names[2])  # deleted
    return names


@pytest.mark.parametrize(
    "patterns",
    [
        ("refs/repobus/claims/",),
        ("refs/repobus/claims/", "refs/repobus/archive"),
        ("refs/repobus/",),
        ("refs/repobus/events/",),
        ("refs/repobus/nothing/",),
        ("refs/tags/",),
    ],
)
def test_tips_under_equals_for_each_ref(repo: Path, patterns: tuple[str, ...]) -> None:
    _mixed(repo)
    assert refsdisk.tips_under(str(repo / ".git"), *patterns) == for_each_ref(repo, *patterns)


def test_tip_equals_rev_parse(repo: Path) -> None:
    names = _mixed(repo)
    common = str(repo / ".git")
    for ref in [*names, "refs/repobus/claims/T-10", "refs/repobus/claims/T-99"]:
        want = git(repo, "rev-parse", "-q", "--verify", ref) if git_has(repo, ref) else None
        assert refsdisk.tip(common, ref) == want, ref


def test_tips_under_is_unsure_when_it_should_be(repo: Path) -> None:
    common = repo / ".git"
    oid = git(repo, "commit-tree", EMPTY_TREE, "-m", "r")
    for i in range(refsdisk.MOST + 1):
        git(repo, "update-ref", f"refs/repobus/claims/T-{i}", oid)
    assert refsdisk.tips_under(str(common), "refs/repobus/claims/") is None  # too many loose
    git(repo, "pack-refs", "--all")
    assert refsdisk.tips_under(str(common), "refs/repobus/claims/") == for_each_ref(
        repo, "refs/repobus/claims/"
    )  # packed: read at any count
    (common / "packed-refs.lock").write_text("")  # git is rewriting packed-refs
    assert refsdisk.tips_under(str(common), "refs/repobus/claims/") is None
    (common / "packed-refs.lock").unlink()
    (common / "refs/repobus/claims").mkdir(parents=True, exist_ok=True)
    (common / "refs/repobus/claims/T-0").write_text("ref: refs/heads/main\n")  # symbolic
    assert refsdisk.tips_under(str(common), "refs/repobus/claims/") is None
