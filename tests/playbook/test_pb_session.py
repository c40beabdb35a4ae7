"""Sessions and identity: boot (sync, handshake, peers, receipt), manifests, per-process ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import unchanged
from pbhelpers import git

from repobus.bus import open_bus, with_config


def test_boot_logs_handshake_lists_peers_and_writes_the_receipt(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("codex-2", "QUEUE-002", ttl=3600)
    with_config(bus, grace=0).claim("codex-3", "QUEUE-003", ttl=1)
    bus.pause("codex-3", "QUEUE-003", notes="codex-3 crashed")
    bus.claim("codex-4", "QUEUE-004", ttl=1)
    bus.clock = lambda: 4_000_000_000
    bus.send("mgr", "manager-report", "status", "directive posted", meta={"directive": "D-1"})
    res = cli("boot", "--agent", "codex-1", "--focus", "docs", "--no-sync", "--json", cwd=repo)
    assert res.code == 0, res.err
    data = res.json
    assert data["handshake"]["event"] == "handshake"
    assert data["handshake"]["branch_prefix"] == "agent/codex-1/"
    assert data["handshake"]["meta"] == {"focus": "docs"}
    peers = {p["task_id"]: p for p in data["peers"]}
    assert set(peers) == {"QUEUE-002", "QUEUE-003", "QUEUE-004"}
    assert peers["QUEUE-002"]["stale"] is False and peers["QUEUE-002"]["last_seen"]
    assert peers["QUEUE-003"]["status"] == "paused" and peers["QUEUE-003"]["notes"]
    receipt = repo / "_report/session/codex-1/manager-report-tail.txt"
    text = receipt.read_text()
    assert text.startswith("# manager-report tail\n# source=_bus/messages/manager-report.jsonl")
    assert "# captured_at=" in text and "directive posted" in text
    assert "/_report/session/" in (repo / ".git/info/exclude").read_text()
    plain = cli("boot", "--agent", "codex-1", "--no-sync", cwd=repo)
    assert "Peer codex-2: QUEUE-002[active]=@agent/codex-2/queue-002" in plain.out


def test_boot_flags_an_expired_lease_as_stale(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = with_config(open_bus(repo), ttl=1, grace=0)
    bus.clock = lambda: 1_000_000_000
    bus.claim("codex-2", "QUEUE-002")
    res = cli("boot", "--agent", "codex-1", "--no-sync", cwd=repo)
    assert "QUEUE-002[active]=@agent/codex-2/queue-002 (STALE)" in res.out


def test_boot_refuses_a_dirty_tree_and_writes_nothing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "tracked.txt").write_text("v1\n")
    git(repo, "add", "tracked.txt")
    git(repo, "commit", "-qm", "tracked")
    (repo / "untracked.txt").write_text("fine\n")
    assert cli("boot", "--agent", "codex-1", cwd=repo).code == 0  # untracked files never block
    (repo / "tracked.txt").write_text("v2\n")
    with unchanged(repo):
        res = cli("boot", "--agent", "codex-1", cwd=repo)
    assert res.code == 5 and "uncommitted change" in res.err and "tracked.txt" in res.err
    assert cli("boot", "--agent", "codex-1", "--allow-dirty", cwd=repo).code == 0


def test_boot_pulls_fast_forward_only(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "new.txt").write_text("x\n")
    git(other, "add", "new.txt")
    git(other, "commit", "-qm", "new")
    git(other, "push", "-q", "origin", "main")
    res = cli("boot", "--agent", "codex-1", "--json", cwd=repo)
    assert res.code == 0, res.err
    assert res.json["sync"]["action"] == "pulled" and (repo / "new.txt").exists()
    (repo / "mine.txt").write_text("m\n")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-qm", "mine")
    (other / "theirs.txt").write_text("t\n")
    git(other, "add", "theirs.txt")
    git(other, "commit", "-qm", "theirs")
    git(other, "push", "-q", "origin", "main")
    events = git(repo, "rev-parse", "refs/repobus/events/codex-1")
    diverged = cli("boot", "--agent", "codex-1", cwd=repo)  # (git's own fetch moves origin/main)
    assert diverged.code == 3 and "git pull --ff-only failed" in diverged.err
    assert git(repo, "rev-parse", "refs/repobus/events/codex-1") == events
    git(repo, "switch", "-q", "-c", "agent/codex-1/x")
    fetched = cli("boot", "--agent", "codex-1", "--json", cwd=repo)
    assert fetched.code == 0 and fetched.json["sync"]["action"] == "fetched"


def test_boot_warns_about_a_foreign_branch_and_bad_confidence_is_refused(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(repo, "switch", "-q", "-c", "agent/codex-9/x")
    res = cli("boot", "--agent", "codex-1", "--no-sync", cwd=repo)
    assert res.code == 0 and "branch agent/codex-9/x is not under agent/codex-1/" in res.out
    with unchanged(repo):
        bad = cli("boot", "--agent", "codex-1", "--no-sync", "--confidence", "7", cwd=repo)
    assert bad.code == 2 and "--confidence" in bad.err
    ok = cli(
        "boot",
        "--agent",
        "codex-1",
        "--no-sync",
        "--confidence",
        "0.8",
        "--confidence-note",
        "fine",
        cwd=repo,
    )
    assert ok.code == 0
    line = json.loads((repo / "_report/agent/codex-1/confidence.jsonl").read_text())
    assert line["confidence"] == 0.8 and line["note"] == "fine"


def test_strict_identity_policy(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "codex-1", cwd=repo).code == 0
    assert cli("claim", "--task", "T-1", cwd=repo, agent="codex-2").code == 0  # loose default
    git(repo, "config", "repobus.identity", "manifest")
    with unchanged(repo):
        res = cli("claim", "--task", "T-2", cwd=repo, agent="codex-2")
    assert res.code == 5
    assert res.err.startswith(
        "error: agent mismatch: AGENT_MANIFEST.json declares 'codex-1' but command used 'codex-2'."
    )
    (repo / "AGENT_MANIFEST.codex-2.json").write_text(json.dumps({"agent_id": "codex-2"}))
    assert cli("claim", "--task", "T-2", cwd=repo, agent="codex-2").code == 0
    assert cli("claim", "--task", "T-3", cwd=repo).code == 0  # the manifest's own id


def test_manifest_commands(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "codex-1", cwd=repo).code == 0
    (repo / "AGENT_MANIFEST.codex-4.json").write_text(
        json.dumps({"agent_id": "codex-4", "desired_roles": ["manager"]})
    )
    listed = cli("manifest", "list", "--json", cwd=repo).json
    assert listed["active"] == "codex-1"
    assert listed["variants"][0]["file"] == "AGENT_MANIFEST.codex-4.json"
    with unchanged(repo):
        assert cli("manifest", "use", "codex-9", cwd=repo).code == 4
        assert cli("manifest", "use", "../x", cwd=repo).code == 2
        assert cli("manifest", "restore", cwd=repo).code == 4
    assert cli("manifest", "use", "codex-4", cwd=repo).code == 0
    assert json.loads((repo / "AGENT_MANIFEST.json").read_text())["agent_id"] == "codex-4"
    assert cli("manifest", "restore", cwd=repo).code == 0
    assert json.loads((repo / "AGENT_MANIFEST.json").read_text())["agent_id"] == "codex-1"


@pytest.mark.parametrize("line", ["--summary", "--wrap"])
def test_wrap_closes_the_session(repo: Path, cli, line: str) -> None:  # type: ignore[no-untyped-def]
    git(repo, "config", "repobus.sessionGuard", "true")
    assert cli("boot", "--agent", "a1", "--no-sync", cwd=repo).code == 0
    assert cli("log", "--event", "note", "--summary", "s", cwd=repo, agent="a1").code == 0
    args = ["--summary", "session wrap"] if line == "--summary" else ["--wrap"]
    res = cli("boot", "--agent", "a1", "--no-sync", *args, "--json", cwd=repo)
    assert res.json["closed"] is True and res.json["handshake"]["session"] == "wrap"
    refused = cli("log", "--event", "note", "--summary", "s", cwd=repo, agent="a1")
    assert refused.code == 5 and "session guard" in refused.err
