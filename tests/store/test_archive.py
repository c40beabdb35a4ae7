"""The archive (store/archive.py): finished slots leave the advertised refs, and nothing a
reader sees changes -- status, history, verify, export, the mirror, a claim taken again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import git

from repobus.bus import open_bus
from repobus.store import archive

Clones = Callable[[str, int], list[Path]]


def finish(path: Path, tasks: range, agent: str = "a1") -> None:
    bus = open_bus(path)
    for i in tasks:
        bus.claim(agent, f"T-{i}")
        bus.release(agent, f"T-{i}", status="done")


def refs(path: Path, prefix: str = "refs/repobus/claims/") -> list[str]:
    return git(path, "for-each-ref", "--format=%(refname)", prefix).split()


def server_refs(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname)", "refs/repobus/").split()


def repobus(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "repobus", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_batch_of_finished_claims_moves_to_the_archive_and_reads_the_same(repo: Path) -> None:
    finish(repo, range(archive.BATCH - 1))
    before = {s.key: s.record for s in open_bus(repo).store.list("claims")}
    assert len(refs(repo)) == archive.BATCH - 1  # below the batch: nothing moves
    finish(repo, range(archive.BATCH - 1, archive.BATCH + 3))
    assert len(refs(repo)) == 3  # the batch moved when the 32nd finished
    assert git(repo, "rev-parse", "--verify", "-q", archive.REF)
    bus = open_bus(repo)
    after = {s.key: s.record for s in bus.store.list("claims")}
    assert len(after) == archive.BATCH + 3
    assert {k: after[k] for k in before} == before
    assert bus.store.get("claims", "T-0").record["status"] == "done"  # type: ignore[union-attr]
    assert [s.record["op"] for s in bus.store.history("claims", "T-0")] == ["claim", "release"]
    assert list(bus.store.verify()) == []
    res = repobus(repo, "status", "--json", "--limit", "1")
    assert res.returncode == 0, res
    import json

    assert len(json.loads(res.stdout)["claims"]) == archive.BATCH + 3


def test_the_index_and_a_full_read_agree_after_archiving(repo: Path) -> None:
    finish(repo, range(archive.BATCH + 2))
    git(repo, "config", "repobus.index", "false")
    plain = {s.key: (s.version, s.record) for s in open_bus(repo).store.list("claims")}
    git(repo, "config", "repobus.index", "true")
    assert repobus(repo, "reindex").returncode == 0
    indexed = {s.key: (s.version, s.record) for s in open_bus(repo).store.list("claims")}
    assert indexed == plain and len(plain) == archive.BATCH + 2


def test_an_archived_task_claimed_again_continues_its_chain_and_token(repo: Path) -> None:
    finish(repo, range(archive.BATCH))
    assert refs(repo) == []
    bus = open_bus(repo)
    slot = bus.claim("b1", "T-5")
    assert slot.record["fencing_token"] == 2
    assert [s.record["op"] for s in bus.store.history("claims", "T-5")] == [
        "claim",
        "release",
        "claim",
    ]
    assert list(bus.store.verify()) == []


def test_two_processes_claiming_one_archived_task_make_one_winner(repo: Path) -> None:
    finish(repo, range(archive.BATCH))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "repobus", "claim", "--task", "T-7", "--agent", f"r{i}"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    codes = [p.wait(120) for p in procs]
    for p in procs:
        p.communicate()
    assert sorted(codes) == [0, 3, 3, 3], codes
    hist = open_bus(repo).store.history("claims", "T-7")
    assert [s.record["fencing_token"] for s in hist] == [1, 1, 2]


def test_a_rewritten_chain_after_archiving_is_a_verify_problem(repo: Path) -> None:
    finish(repo, range(archive.BATCH))
    fresh = git(repo, "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "-m", "{}")
    git(repo, "update-ref", "refs/repobus/claims/T-3", fresh)
    problems = [p.what for p in open_bus(repo).store.verify()]
    assert any("does not continue its archived chain" in w for w in problems), problems


def test_export_and_the_mirror_are_the_same_before_and_after_archiving(
    repo: Path, tmp_path: Path
) -> None:
    assert repobus(repo, "init").returncode == 0  # a set-up repository keeps a mirror
    finish(repo, range(archive.BATCH - 1))
    assert repobus(repo, "export", "--to", str(tmp_path / "before")).returncode == 0
    assert repobus(repo, "mirror").returncode == 0
    mirror_before = {p.name: p.read_bytes() for p in (repo / "_bus" / "claims").iterdir()}
    assert open_bus(repo).store.archive_finished(force=True) == archive.BATCH - 1
    assert refs(repo) == []
    assert repobus(repo, "export", "--to", str(tmp_path / "after")).returncode == 0
    for path in sorted((tmp_path / "before").rglob("*")):
        twin = tmp_path / "after" / path.relative_to(tmp_path / "before")
        assert path.is_dir() or path.read_bytes() == twin.read_bytes(), path
    assert repobus(repo, "mirror").returncode == 0
    assert {p.name: p.read_bytes() for p in (repo / "_bus" / "claims").iterdir()} == mirror_before
    assert repobus(repo, "check").returncode == 0


# -- with a remote ------------------------------------------------------------------------------
def test_a_remote_keeps_its_layout_until_the_archive_is_made_there(
    bare: Path, make_clones: Clones
) -> None:
    a, b = make_clones(f"file://{bare}", 2)
    finish(a, range(archive.BATCH + 2))
    assert len([r for r in server_refs(bare) if "/claims/" in r]) == archive.BATCH + 2
    assert repobus(b, "sync").returncode == 0  # b holds every claim as a live ref
    assert open_bus(a).store.archive_finished(force=True) == archive.BATCH + 2
    assert [r for r in server_refs(bare) if "/claims/" in r] == []
    assert archive.REF in server_refs(bare)
    res = repobus(b, "sync")
    assert res.returncode == 0 and "deleted" not in res.stderr, res
    assert refs(b) == []
    assert len(open_bus(b).store.list("claims")) == archive.BATCH + 2
    finish(a, range(100, 100 + archive.BATCH))  # from now on, batches move by themselves
    assert [r for r in server_refs(bare) if "/claims/" in r] == []


def test_a_clone_that_saw_the_claim_live_takes_it_again_after_the_remote_archived_it(
    bare: Path, make_clones: Clones
) -> None:
    a, b = make_clones(f"file://{bare}", 2)
    finish(a, range(3))
    assert repobus(b, "sync").returncode == 0  # b: T-1 live and done, as it was
    open_bus(a).store.archive_finished(force=True)
    slot = open_bus(b).claim("b1", "T-1")  # no sync: b's copy is the live ref
    assert slot.record["fencing_token"] == 2
    assert git(bare, "rev-list", "--count", "refs/repobus/claims/T-1") == "3"


def test_a_clone_that_never_saw_the_task_continues_the_archived_chain(
    bare: Path, make_clones: Clones
) -> None:
    a, b = make_clones(f"file://{bare}", 2)
    finish(a, range(1))
    open_bus(a).store.archive_finished(force=True)
    assert repobus(b, "sync").returncode == 0  # b knows the archive, not what comes next
    finish(a, range(1, 1 + archive.BATCH))  # T-1.. made, finished and archived meanwhile
    assert "refs/repobus/claims/T-2" not in server_refs(bare)
    slot = open_bus(b).claim("b1", "T-2")
    assert slot.record["fencing_token"] == 2
    assert git(bare, "rev-list", "--count", "refs/repobus/claims/T-2") == "3"
