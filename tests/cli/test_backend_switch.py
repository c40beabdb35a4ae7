"""`repobus init --backend X` on a clone whose bus holds records under the other backend is
refused (exit 5) naming what would be lost and how to keep a copy; nothing changes. An empty
bus switches freely (issue 16, item 8)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _backend(repo: Path) -> str:
    return subprocess.run(
        ["git", "config", "repobus.backend"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()


def _fill(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "Q-1", cwd=repo, agent="a").code == 0
    assert cli("log", "--event", "progress", "--summary", "s", cwd=repo, agent="a").code == 0
    assert (
        cli("send", "--task", "Q-1", "--type", "note", "--summary", "n", cwd=repo, agent="a").code
        == 0
    )


def test_git_to_dir_is_refused_and_nothing_is_lost(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--no-remote", cwd=repo).code == 0
    _fill(repo, cli)
    res = cli("init", "--backend", "dir", cwd=repo)
    assert res.code == 5, res
    assert "1 claims" in res.err and "1 events" in res.err and "1 messages" in res.err
    assert "--backend dir --migrate" in res.err
    assert _backend(repo) == "git"
    assert "git" in (repo / ".repobus.toml").read_text()
    status = cli("status", "--json", cwd=repo)
    assert status.code == 0 and "Q-1" in status.out
    assert cli("verify", cwd=repo).code == 0
    # the way the hint names to keep a copy works
    assert cli("export", "--to", str(tmp_path / "copy"), cwd=repo).code == 0
    assert (tmp_path / "copy" / "claims" / "Q-1.json").exists()


def test_dir_to_git_is_refused(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--backend", "dir", cwd=dir_repo).code == 0
    _fill(dir_repo, cli)
    res = cli("init", "--backend", "git", "--no-remote", cwd=dir_repo)
    assert res.code == 5 and "dir backend" in res.err and "1 claims" in res.err
    assert _backend(dir_repo) == "dir"
    assert cli("status", "--json", cwd=dir_repo).out.count("Q-1") >= 1


def test_an_empty_bus_switches_freely(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--no-remote", cwd=repo).code == 0
    assert cli("init", "--backend", "dir", cwd=repo).code == 0
    assert _backend(repo) == "dir"
    assert cli("init", "--backend", "dir", cwd=repo).code == 0  # the same backend: no change


def _count(repo: Path, cli) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    import json

    data = json.loads(cli("export", "--to", str(repo.parent / "count"), "--json", cwd=repo).out)
    assert data["written"] >= 0
    base = repo.parent / "count"
    events = (base / "events" / "events.jsonl").read_text().splitlines()
    thread = (base / "messages" / "Q-1.jsonl").read_text().splitlines()
    return len(list((base / "claims").glob("*.json"))), len(events), len(thread)


def test_git_to_dir_with_migrate_carries_every_record(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--no-remote", cwd=repo).code == 0
    _fill(repo, cli)
    assert cli("renew", "--task", "Q-1", cwd=repo, agent="a").code == 0
    res = cli("init", "--backend", "dir", "--migrate", cwd=repo)
    assert res.code == 0, res
    assert "2 claims" in res.out and "1 events" in res.out and "1 messages" in res.out
    assert "verified the dir backend" in res.out
    assert _backend(repo) == "dir"
    claim = (repo / "_bus" / "claims" / "Q-1.json").read_text()
    assert '"agent_id": "a"' in claim and '"seq": 2' in claim  # both versions, chained anew
    assert len((repo / "_bus" / "history" / "claims" / "Q-1.jsonl").read_text().splitlines()) == 2
    assert cli("verify", cwd=repo).code == 0
    assert cli("check", cwd=repo).code == 0
    # the holder still holds it: another agent is refused
    assert cli("claim", "--task", "Q-1", cwd=repo, agent="b").code == 3


def test_dir_to_git_with_migrate_carries_every_record(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--backend", "dir", cwd=dir_repo).code == 0
    _fill(dir_repo, cli)
    res = cli("init", "--backend", "git", "--no-remote", "--migrate", cwd=dir_repo)
    assert res.code == 0, res
    assert "imported 1 claims, 0 assignments, 1 events, 1 messages" in res.out
    assert "verified the git backend" in res.out
    assert _backend(dir_repo) == "git"
    assert cli("verify", cwd=dir_repo).code == 0
    assert _count(dir_repo, cli) == (1, 2, 1)  # the event, and the import's own event
    assert cli("claim", "--task", "Q-1", cwd=dir_repo, agent="b").code == 3
    again = cli("claim", "--task", "Q-1", cwd=dir_repo, agent="a")
    assert again.code == 0, again
    assert "fencing token" in again.out
