"""A fresh clone's first `repobus sync`: its fetch lands in the tracking refs directly (no
quarantine) and the `_bus/` claim folder is filled by a helper process; the refs, the index's
answers and the `_bus/` bytes are the same as a clone synced through the quarantine with the
folder written in-process, and as the writer's own."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git

from repobus.bus import open_bus
from repobus.views import mirrorbulk

Clones = Callable[[str, int], list[Path]]
TASKS = 40  # more than the mirror's MANY: the claim folder is filled in bulk


def _writer(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A bus with live, finished (archived) and reassigned claims, events and messages."""
    assert cli("init", cwd=repo).code == 0
    bus = open_bus(repo)
    for i in range(TASKS):
        bus.claim(f"a{i % 3}", f"T-{i}")
        bus.log(f"a{i % 3}", "progress", f"step {i}", task=f"T-{i}")
        if i % 2:
            bus.release(f"a{i % 3}", f"T-{i}", status="done")
    bus.assign("m1", "T-1", "a1")
    bus.send("a1", "T-3", "question", "why?", to="a2")
    assert open_bus(repo).store.archive_finished(force=True) > 0
    assert cli("mirror", "--rebuild", cwd=repo).code == 0


def _bus_files(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for path in sorted((root / "_bus").rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = (path.stat().st_mode & 0o777, path.read_bytes())
    return out


def _refs(clone: Path, *prefixes: str) -> str:
    return git(clone, "for-each-ref", "--format=%(refname) %(objectname)", *prefixes)


def _status(clone: Path, cli) -> dict[str, object]:  # type: ignore[no-untyped-def]
    run = cli("status", "--json", "--all", cwd=clone)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert isinstance(data, dict)
    return data


def test_a_first_sync_gives_the_refs_index_and_mirror_of_the_quarantine_path_and_the_writer(
    repo: Path, bare: Path, make_clones: Clones, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _writer(repo, cli)
    git(repo, "push", "-q", str(bare), "refs/repobus/*:refs/repobus/*")
    fresh, old_way = make_clones(f"file://{bare}", 2)
    # the old way: a tracking ref already there sends the fetch through the quarantine
    git(old_way, "fetch", "-q", "origin", "refs/repobus/archive:refs/repobus-remote/origin/archive")
    monkeypatch.setattr(mirrorbulk, "HELPER_MIN", 10**9)  # and the folder written in-process
    assert cli("sync", cwd=old_way).code == 0
    monkeypatch.setattr(mirrorbulk, "HELPER_MIN", 1)  # the fresh clone: by a helper process
    (fresh / "_bus" / ".claims.99999.feed.tmp").write_bytes(b"x")  # a killed fill's leftovers
    (fresh / "_bus" / ".claims.99999.tmp").mkdir()
    run = cli("sync", "--json", cwd=fresh)
    assert run.code == 0, run.err
    assert len(json.loads(run.out)["fetched"]) == len(_refs(repo, "refs/repobus/").splitlines())
    bus_refs = ("refs/repobus/", "refs/repobus-remote/")
    assert _refs(fresh, *bus_refs) == _refs(old_way, *bus_refs)
    assert _refs(fresh, "refs/repobus/") == _refs(repo, "refs/repobus/")
    assert _refs(fresh, "refs/repobus-incoming/") == ""
    assert _status(fresh, cli) == _status(old_way, cli)
    mine = _bus_files(fresh)
    assert len([m for m in mine if m.startswith("_bus/claims/")]) == TASKS
    assert mine == _bus_files(old_way) == _bus_files(repo)
    assert not [n for n in os.listdir(fresh / "_bus") if n.startswith(".")]  # no leftovers
    assert cli("check", cwd=fresh).code == 0


def test_a_first_fetch_never_moves_a_tracking_ref_back(
    repo: Path, bare: Path, make_clones: Clones, cli
) -> None:  # type: ignore[no-untyped-def]
    """A tracking ref set meanwhile (a push of this clone) to a descendant of what the remote
    holds: git refuses to move it back, and the quarantine path takes the rest."""
    _writer(repo, cli)
    git(repo, "push", "-q", str(bare), "refs/repobus/*:refs/repobus/*")
    (clone,) = make_clones(f"file://{bare}", 1)
    store = open_bus(clone).store
    ref = "refs/repobus-remote/origin/events/a1"
    git(clone, "fetch", "-q", "origin", "refs/repobus/events/a1:refs/x/a1")
    empty_tree = git(clone, "hash-object", "-t", "tree", "/dev/null")
    newer = git(clone, "commit-tree", "-p", "refs/x/a1", "-m", "newer", empty_tree)
    git(clone, "update-ref", ref, newer)
    git(clone, "update-ref", "-d", "refs/x/a1")
    assert store.remote._first(False) is None  # git refused the non-fast-forward
    assert git(clone, "rev-parse", ref) == newer
    git(clone, "push", "-q", str(bare), f"{newer}:refs/repobus/events/a1")  # the push lands
    result = store.remote.fetch()  # through the quarantine now: tracking refs exist
    assert not result.refused
    assert git(clone, "rev-parse", ref) == newer
    assert _refs(clone, "refs/repobus-remote/").count("\n") + 1 == len(
        _refs(repo, "refs/repobus/").splitlines()
    )
    assert _refs(clone, "refs/repobus-incoming/") == ""


def test_a_first_sync_of_a_remote_without_a_bus_fetches_nothing(
    bare: Path, make_clones: Clones, cli
) -> None:  # type: ignore[no-untyped-def]
    (clone,) = make_clones(f"file://{bare}", 1)
    run = cli("sync", "--json", cwd=clone)
    assert run.code == 0, run.err
    assert json.loads(run.out)["fetched"] == []
    assert _refs(clone, "refs/repobus-remote/") == ""


def test_a_helper_fill_that_cannot_run_is_written_in_process(tmp_path: Path) -> None:
    class S:
        def __init__(self, key: str) -> None:
            self.key, self.record = key, {"task_id": key, "status": "active"}

    folder = tmp_path / "claims"
    folder.mkdir()
    fill = mirrorbulk.start_fill(folder, "claims", [S("A"), S("B")], helper=True)
    assert fill.proc is not None
    fill.proc.wait()
    fill.proc = None  # as if the helper never started: finish() writes the files itself
    for name in os.listdir(fill.stage):  # undo what the helper wrote
        os.unlink(fill.stage / name)
    assert fill.finish() == 2
    assert sorted(os.listdir(folder)) == ["A.json", "B.json"]
    assert (folder / "A.json").read_bytes() == mirrorbulk.doc_bytes(S("A").record)
    assert (folder / "A.json").stat().st_mode & 0o777 == 0o444
    assert sorted(os.listdir(tmp_path)) == ["claims"]  # neither the stage nor the feed left


def test_the_index_gives_each_event_as_the_events_log_line_the_one_rule_writes(
    repo: Path,
) -> None:
    """`snapshot(lines=True)`: the lines made from an event's columns are `models.event_line`
    of its record, whatever its summary holds (its own agent and event names, non-ASCII,
    quotes and backslashes, which take the text's way)."""
    from repobus.records import models

    bus = open_bus(repo)
    summaries = ["", "plain", "a1 did progress", "é ü 中", 'say "hi"', "back\\slash", "tab\tx"]
    for i, summary in enumerate(summaries * 2):
        bus.log(f"a{i % 2 + 1}", "progress", summary, task=f"T-{i}")
    bus.log("a1", "a1", "a1 a1 progress", task="a1")
    index = bus.store.index  # type: ignore[attr-defined]
    _, _, texts = index.snapshot("events")
    want = [models.event_line(models.loads(t, "test")).encode("utf-8") for t in texts]
    _, _, rows = index.snapshot("events", lines=True)
    got = list(rows)
    assert any(isinstance(r, bytes) for r in got) and any(isinstance(r, str) for r in got)
    assert list(mirrorbulk.event_lines(got)) == want
