"""The worktree's read-only `_bus/` mirror of the git backend: current after every command,
incremental (only what changed is written, events.jsonl only appended), never committed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import unchanged
from pbhelpers import git

from repobus.bus import open_bus
from repobus.git import gitcmd
from repobus.views import mirror
from repobus.views import overview as views


@pytest.fixture
def inited(repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "a1", cwd=repo).code == 0
    return repo


def _lines(root: Path) -> dict[str, list[str]]:
    out = {}
    for p in sorted((root / "_bus").rglob("*.json*")):
        out[str(p.relative_to(root / "_bus"))] = sorted(p.read_text().splitlines())
    return out


def test_claims_events_messages_are_mirrored_read_only_and_ignored(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "QUEUE-001", cwd=inited).code == 0
    assert (
        cli("log", "--event", "status", "--summary", "hi", "--task", "QUEUE-001", cwd=inited).code
        == 0
    )
    assert (
        cli(
            "send",
            "--task",
            "QUEUE-001",
            "--type",
            "note",
            "--summary",
            "n",
            "--to",
            "b2",
            cwd=inited,
        ).code
        == 0
    )
    claim = inited / "_bus/claims/QUEUE-001.json"
    assert json.loads(claim.read_text())["agent_id"] == "a1"
    assert stat.S_IMODE(claim.stat().st_mode) == 0o444
    assert (inited / "_bus/events/events.jsonl").read_text().count("\n") == 1
    assert (inited / "_bus/messages/QUEUE-001.jsonl").exists()
    assert (inited / "_bus/messages/agent-b2.jsonl").exists()
    assert "/_bus/" in (inited / ".git/info/exclude").read_text().splitlines()
    assert "_bus" not in git(inited, "status", "--porcelain")
    bus = open_bus(inited)
    tree = views.tree(bus)
    assert _lines(inited) == {k: sorted(v.splitlines()) for k, v in tree.items()}


def test_events_are_appended_never_rewritten(inited: Path, cli, make_worktrees) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        assert cli("log", "--event", "note", "--summary", f"e{i}", cwd=inited).code == 0
    log = inited / "_bus/events/events.jsonl"
    before, ino = log.read_bytes(), log.stat().st_ino
    (wt,) = make_worktrees(1)
    assert cli("log", "--event", "note", "--summary", "from wt", cwd=wt, agent="b2").code == 0
    assert cli("status", cwd=inited).code == 0  # any command refreshes the mirror
    after = log.read_bytes()
    assert log.stat().st_ino == ino and after.startswith(before)
    assert json.loads(after[len(before) :])["summary"] == "from wt"
    assert (wt / "_bus/events/events.jsonl").read_text().count("\n") == 4


def test_only_changed_claim_files_are_written(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "A-1", cwd=inited).code == 0
    first = (inited / "_bus/claims/A-1.json").stat().st_ino
    assert cli("claim", "--task", "B-1", cwd=inited).code == 0
    assert (inited / "_bus/claims/A-1.json").stat().st_ino == first
    assert cli("release", "--task", "A-1", cwd=inited).code == 0
    assert json.loads((inited / "_bus/claims/A-1.json").read_text())["status"] == "done"


def test_fast_path_runs_no_git_and_a_claim_costs_one_read(
    inited: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mirror, "RACY_NS", 0)
    assert cli("log", "--event", "note", "--summary", "x", cwd=inited).code == 0
    bus = open_bus(inited)
    mirror.refresh(bus)
    calls: list[tuple[str, ...]] = []
    real = gitcmd.run

    def counting(cwd, *args, **kw):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(cwd, *args, **kw)

    monkeypatch.setattr(gitcmd, "run", counting)
    assert mirror.refresh(bus) == {"changed": 0, "fast": True}
    assert calls == []
    bus.claim("a1", "T-9")
    calls.clear()
    assert mirror.refresh(bus)["changed"] == 1
    assert len(calls) <= 2 and all(c[0] == "for-each-ref" for c in calls)  # no event reads


def test_an_edited_mirror_is_refused_and_restored(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "T-1", cwd=inited).code == 0
    for i in range(3):
        assert cli("log", "--event", "note", "--summary", f"e{i}", cwd=inited).code == 0
    log = inited / "_bus/events/events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + '{"edited": true}\n' + lines[2])  # the bus's history, rewritten
    checked = cli("check", cwd=inited)
    assert checked.code == 1 and "_bus/events/events.jsonl: a line the mirror wrote" in checked.out
    with unchanged(inited):  # a command that fails writes nothing, the mirror included
        failed = cli("claim", "--task", "T-1", cwd=inited, agent="b2")
    assert failed.code == 3 and "edited by hand" in failed.err
    res = cli("status", cwd=inited)
    assert res.code == 0
    assert "warning: _bus/events/events.jsonl: a line the mirror wrote was edited" in res.err
    assert "note: _bus/events/events.jsonl line 2: the edit was undone" in res.err
    assert [json.loads(x)["summary"] for x in log.read_text().splitlines()] == ["e0", "e1", "e2"]
    assert cli("check", cwd=inited).code == 0
    assert cli("mirror", "--rebuild", cwd=inited).code == 0


def test_a_failed_command_writes_nothing(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "T-1", cwd=inited).code == 0
    bus = open_bus(inited)
    bus.log("zz", "note", "written behind the mirror's back")
    with unchanged(inited):
        assert cli("claim", "--task", "T-1", cwd=inited, agent="b2").code == 3


def test_no_mirror_for_the_dir_backend_or_before_init(dir_repo: Path, repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "T-1", cwd=dir_repo, agent="a1").code == 0
    assert not (dir_repo / ".git/repobus-mirror.json").exists()
    assert cli("mirror", cwd=dir_repo).out.startswith("No mirror")


def test_a_tracked_bus_is_never_clobbered(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "_bus/claims").mkdir(parents=True)
    (repo / "_bus/claims/OLD-1.json").write_text('{"committed": true}\n')
    git(repo, "add", "-f", "_bus")
    git(repo, "commit", "-qm", "committed bus")
    assert cli("init", "--agent", "a1", cwd=repo).code == 0
    assert cli("claim", "--task", "T-1", cwd=repo).code == 0
    assert not (repo / "_bus/claims/T-1.json").exists()
    assert (repo / "_bus/claims/OLD-1.json").read_text() == '{"committed": true}\n'
    assert "disabled (tracked)" in cli("mirror", cwd=repo).out


def test_mirror_can_be_turned_off(inited: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(inited, "config", "repobus.mirror", "false")
    assert cli("claim", "--task", "T-1", cwd=inited).code == 0
    assert not (inited / "_bus/claims/T-1.json").exists()


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root / "_bus")): p.read_bytes()
        for p in sorted((root / "_bus").rglob("*"))
        if p.is_file()
    }


def test_a_fresh_clones_first_sync_writes_the_mirror_the_writer_has(  # type: ignore[no-untyped-def]
    bare: Path, make_clones, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first fill (all claim files at once, events.jsonl from the index) writes what a
    mirror written one record at a time holds, byte for byte."""
    writer, fresh = make_clones(f"file://{bare}", 2)  # `fresh` is set up before anything is written
    bus = open_bus(writer)
    for i in range(mirror.MANY + 24):  # more than MANY: the first fill writes them all at once
        bus.claim("a1", f"T-{i:03d}")
        if i % 2:
            bus.release("a1", f"T-{i:03d}")
        bus.log("a1", "note", f'odd "text" é \\ {i}', task=f"T-{i:03d}", extra={"x": 0.1 * i})
    bus.send("a1", "T-001", "note", "hi ü", to="b2")
    assert cli("archive", cwd=writer).code == 0  # the released claims move to the archive
    assert cli("mirror", cwd=writer).code == 0
    assert git(bare, "for-each-ref", "refs/repobus/archive")
    (fresh / "_bus" / ".claims.99999.tmp").mkdir()  # a crashed fill's leftover
    from repobus.views import mirrorbulk

    filled: list[int] = []
    fill = mirrorbulk.start_fill  # the mirror starts a fill and finishes it after the logs
    monkeypatch.setattr(mirrorbulk, "start_fill", lambda *a: filled.append(len(a[2])) or fill(*a))
    streamed: list[bytes] = []
    lines = mirrorbulk.event_lines
    monkeypatch.setattr(mirrorbulk, "event_lines", lambda t: streamed.extend(lines(t)) or streamed)
    assert cli("sync", cwd=fresh).code == 0
    assert filled == [mirror.MANY + 24] and len(streamed) == mirror.MANY + 24
    want = _files(writer)
    assert len([k for k in want if k.startswith("claims/")]) == mirror.MANY + 24
    assert _files(fresh) == want
    assert not (fresh / "_bus" / ".claims.99999.tmp").exists()
    assert stat.S_IMODE((fresh / "_bus/claims/T-000.json").stat().st_mode) == 0o444
    assert cli("check", cwd=fresh).code == 0


def test_an_interrupted_first_fill_is_completed_by_the_next_refresh(  # type: ignore[no-untyped-def]
    inited: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(inited, "config", "repobus.mirror", "false")
    bus = open_bus(inited)
    for i in range(mirror.MANY + 4):
        bus.claim("a1", f"T-{i:03d}")
    git(inited, "config", "repobus.mirror", "true")
    from repobus.views import mirrorbulk

    real, calls = mirrorbulk.doc_bytes, []

    def failing(rec):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(rec)

    monkeypatch.setattr(mirrorbulk, "doc_bytes", failing)
    with pytest.raises(OSError):
        mirror.refresh(open_bus(inited))
    claims = inited / "_bus" / "claims"
    assert claims.is_dir() and not any(claims.iterdir())  # no half folder is ever in place
    assert not list((inited / "_bus").glob(".claims.*"))
    monkeypatch.setattr(mirrorbulk, "doc_bytes", real)
    assert mirror.refresh(open_bus(inited))["changed"] == mirror.MANY + 4
    tree = views.tree(open_bus(inited))
    assert {p.name for p in claims.iterdir()} == {f"T-{i:03d}.json" for i in range(mirror.MANY + 4)}
    assert all((claims / n).read_text() == tree[f"claims/{n}"] for n in os.listdir(claims))
