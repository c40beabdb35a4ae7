"""The CLI's identity (issue 15, item 3): `--agent` naming someone the worktree does not
declare acts for that agent, and every such act is recorded (`by`, an `acted_for` event);
the worktree's own identities and a worktree without a manifest act as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _events(cli: Callable[..., Any], repo: Path) -> list[dict[str, Any]]:
    doc = cli("status", "--json", "--all", "--limit", "50", cwd=repo).json
    events: list[dict[str, Any]] = doc["events"]
    return events


def _claim(cli: Callable[..., Any], repo: Path, task: str, *args: str, **kw: Any) -> Any:
    got = cli("claim", "--task", task, "--json", *args, cwd=repo, **kw)
    assert got.code == 0, got.err
    return got.json


def test_agent_other_than_the_manifest_is_recorded_as_an_act_for_it(
    repo: Path, cli: Callable[..., Any]
) -> None:
    assert cli("init", "--agent", "me-1", cwd=repo).code == 0
    rec = _claim(cli, repo, "T-1", "--agent", "other-2")
    assert rec["agent_id"] == "other-2" and rec["by"] == "me-1"
    got = cli("log", "--event", "note", "--summary", "hi", "--agent", "other-2", cwd=repo)
    assert got.code == 0, got.err
    acts = [e for e in _events(cli, repo) if e["event"] == "acted_for"]
    assert [(e["agent_id"], e["for"], e["door"]) for e in acts] == [
        ("me-1", "other-2", "repobus claim"),
        ("me-1", "other-2", "repobus log"),
    ]
    note = next(e for e in _events(cli, repo) if e["event"] == "note")
    assert note["agent_id"] == "other-2" and note["by"] == "me-1"


def test_the_worktrees_own_identities_act_unrecorded(repo: Path, cli: Callable[..., Any]) -> None:
    assert cli("init", "--agent", "me-1", cwd=repo).code == 0
    variant = {"agent_id": "twin-3", "desired_roles": ["engineer"]}
    (repo / "AGENT_MANIFEST.twin-3.json").write_text(json.dumps(variant))
    assert _claim(cli, repo, "T-1", "--agent", "me-1")["by"] == "me-1"
    assert _claim(cli, repo, "T-2", "--agent", "twin-3")["by"] == "twin-3"
    assert _claim(cli, repo, "T-3", "--agent", "env-4", agent="env-4")["by"] == "env-4"
    assert _claim(cli, repo, "T-4")["agent_id"] == "me-1"
    assert [e for e in _events(cli, repo) if e["event"] == "acted_for"] == []


def test_env_agent_acting_for_another_is_recorded_as_the_env_agent(
    repo: Path, cli: Callable[..., Any]
) -> None:
    assert cli("init", "--agent", "me-1", cwd=repo).code == 0
    rec = _claim(cli, repo, "T-1", "--agent", "other-2", agent="env-4")
    assert rec["agent_id"] == "other-2" and rec["by"] == "env-4"
    (act,) = [e for e in _events(cli, repo) if e["event"] == "acted_for"]
    assert act["agent_id"] == "env-4" and act["for"] == "other-2"


def test_without_a_manifest_agent_is_whoever_acts(repo: Path, cli: Callable[..., Any]) -> None:
    assert _claim(cli, repo, "T-1", "--agent", "free-5")["by"] == "free-5"
    assert [e for e in _events(cli, repo) if e["event"] == "acted_for"] == []


def test_a_refused_act_for_another_records_nothing(repo: Path, cli: Callable[..., Any]) -> None:
    assert cli("init", "--agent", "me-1", cwd=repo).code == 0
    _claim(cli, repo, "T-1", "--agent", "holder-6")
    before = _events(cli, repo)
    got = cli("renew", "--task", "T-1", "--agent", "other-2", cwd=repo)
    assert got.code == 3
    assert _events(cli, repo) == before
