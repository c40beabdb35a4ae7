"""`repobus init --shims`: tools/agent/ hands the original command lines to repobus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import unchanged
from pbhelpers import TOOLS, git, jsonl, run


@pytest.fixture
def shimmed(repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    res = cli("init", "--shims", "--agent", "codex-1", cwd=repo)
    assert res.code == 0, res.err
    return repo


def test_init_shims_writes_every_tool_and_the_playbook_policies(shimmed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    for name in TOOLS:
        path = shimmed / "tools" / "agent" / f"{name}.py"
        assert path.is_file() and os.access(path, os.X_OK), name
        assert len(path.read_text().splitlines()) < 30
    assert (shimmed / "tools/__init__.py").exists()
    assert git(shimmed, "config", "repobus.sessionGuard") == "true"
    assert git(shimmed, "config", "repobus.requireAssignment") == "true"
    assert git(shimmed, "config", "repobus.identity") == "manifest"
    again = cli("init", "--shims", cwd=shimmed)
    assert again.code == 0 and "nothing changed" in again.out


def test_init_shims_keeps_a_teams_own_tool_and_respects_chosen_policies(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    own = repo / "tools" / "agent" / "bus_status.py"
    own.parent.mkdir(parents=True)
    own.write_text("print('ours')\n")
    git(repo, "config", "repobus.sessionGuard", "false")
    res = cli("init", "--shims", "--agent", "a1", cwd=repo)
    assert res.code == 0
    assert "kept tools/agent/bus_status.py" in res.out
    assert own.read_text() == "print('ours')\n"
    assert git(repo, "config", "repobus.sessionGuard") == "false"


@pytest.mark.parametrize(
    "form",
    [
        "python -m tools.agent.bus_status --json",
        "python tools/agent/bus_status.py --json",
        "tools/agent/bus_status.py --json",
    ],
)
def test_a_shim_runs_three_ways(shimmed: Path, form: str) -> None:
    res = run(form, shimmed)
    data = json.loads(res.stdout)
    assert set(data) >= {"claims", "events", "filters"}


def test_bus_claim_original_flags_and_rules(shimmed: Path) -> None:
    run("python -m tools.agent.session_boot --agent codex-1 --no-sync", shimmed)
    with unchanged(shimmed):
        res = run("python -m tools.agent.bus_claim claim --task QUEUE-101", shimmed, expect=1)
    assert "assignment missing for QUEUE-101" in res.stderr
    run(
        "python -m tools.agent.bus_claim claim --task QUEUE-101 --allow-unassigned "
        "--plan _plans/2025-09-17-x.plan.json --notes first",
        shimmed,
    )
    claim = json.loads((shimmed / "_bus/claims/QUEUE-101.json").read_text())
    assert claim["status"] == "active" and claim["branch"] == "agent/codex-1/queue-101"
    assert claim["plan_id"] == "2025-09-17-x" and claim["claimed_at"]
    run(
        'python -m tools.agent.bus_claim release --task QUEUE-101 --status done --notes "merged"',
        shimmed,
    )
    claim = json.loads((shimmed / "_bus/claims/QUEUE-101.json").read_text())
    assert claim["status"] == "done" and claim["notes"] == "merged" and claim["released_at"]
    run("python -m tools.agent.bus_claim claim --task QUEUE-101", shimmed)
    claim = json.loads((shimmed / "_bus/claims/QUEUE-101.json").read_text())
    assert claim["status"] == "active" and "released_at" not in claim
    assert claim["notes"] == "merged"
    run("python -m tools.agent.bus_claim claim --task QUEUE-101 --clear-notes", shimmed)
    assert "notes" not in json.loads((shimmed / "_bus/claims/QUEUE-101.json").read_text())
    with unchanged(shimmed):
        bad = run(
            "python -m tools.agent.bus_claim claim --task QUEUE-101 --status weird",
            shimmed,
            expect=1,
        )
        usage = run("python -m tools.agent.bus_claim claim", shimmed, expect=2)
    assert "status must be one of ['active', 'done', 'paused', 'released']" in bad.stderr
    assert "--task" in usage.stderr


def test_bus_event_without_agent_writes_nothing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--shims", cwd=repo).code == 0
    with unchanged(repo):
        res = run("python -m tools.agent.bus_event log --event status --summary x", repo, expect=1)
    assert "agent id required" in res.stderr
    assert not (repo / "_bus/events/events.jsonl").exists()


def test_bus_event_claim_guard_records_errors_jsonl(shimmed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(shimmed, "config", "repobus.identity", "loose")
    git(shimmed, "config", "repobus.sessionGuard", "false")
    assert (
        cli("claim", "--task", "QUEUE-7", "--allow-unassigned", cwd=shimmed, agent="codex-3").code
        == 0
    )
    res = run(
        "python -m tools.agent.bus_event log --event status --summary s --task QUEUE-7 "
        "--agent codex-4",
        shimmed,
        expect=1,
    )
    assert "claimed by codex-3" in res.stderr and "before logging status" in res.stderr
    errors = jsonl(shimmed / "_report/agent/codex-4/errors.jsonl")
    assert errors[0]["claim_owner"] == "codex-3" and errors[0]["claim_status"] == "active"
    res = run(
        "python -m tools.agent.bus_event log --event status --summary s --task QUEUE-8 "
        "--agent codex-4",
        shimmed,
        expect=1,
    )
    assert "QUEUE-8" in res.stderr
    assert "claim_owner" not in jsonl(shimmed / "_report/agent/codex-4/errors.jsonl")[-1]
    run(
        "python -m tools.agent.bus_event log --event audit --summary reviewed "
        "--extra reviewer=codex-3 --severity MEDIUM --receipt _report/x.json",
        shimmed,
    )
    last = jsonl(shimmed / "_bus/events/events.jsonl")[-1]
    assert last["reviewer"] == "codex-3" and last["severity"] == "medium"
    assert last["receipts"] == ["_report/x.json"] and last["agent_id"] == "codex-1"
    with unchanged(shimmed):
        bad = run(
            "python -m tools.agent.bus_event log --event x --summary s --severity critical",
            shimmed,
            expect=2,
        )
    assert "severity must be one of: high, low, medium" in bad.stderr


def test_agent_mismatch_precedes_the_claim_guard(shimmed: Path) -> None:
    git(shimmed, "config", "repobus.sessionGuard", "false")
    with unchanged(shimmed):
        res = run(
            "python -m tools.agent.bus_message --task QUEUE-9 --type status --summary s "
            "--agent codex-2",
            shimmed,
            expect=1,
        )
    assert "agent mismatch: AGENT_MANIFEST.json declares 'codex-1'" in res.stderr
    assert not (shimmed / "_report/agent/codex-2").exists()


def test_a_variant_manifest_is_a_valid_identity(shimmed: Path) -> None:
    git(shimmed, "config", "repobus.sessionGuard", "false")
    (shimmed / "AGENT_MANIFEST.codex-2.json").write_text(
        json.dumps({"agent_id": "codex-2", "desired_roles": ["engineer"]})
    )
    run(
        "python -m tools.agent.bus_message --task manager-report --type status --summary hi "
        "--agent codex-2 --meta k=v --receipt a.txt --note n --target Manager",
        shimmed,
    )
    msg = jsonl(shimmed / "_bus/messages/agent-manager.jsonl")[-1]
    assert msg["from"] == "codex-2" and msg["to"] == "manager" and msg["meta"] == {"k": "v"}
    assert list(msg)[:5] == ["ts", "from", "type", "task_id", "summary"]


def test_session_guard_codes_and_override(shimmed: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = run(
        "python -m tools.agent.bus_claim claim --task Q-1 --allow-unassigned", shimmed, expect=1
    )
    assert not (shimmed / "_bus/claims/Q-1.json").exists()
    assert "session guard: no manager-report tail for codex-1" in res.stderr
    assert "{agent_id}" not in res.stderr and "--agent codex-1" in res.stderr
    log = shimmed / "_report/agent/codex-1/session_guard/events.jsonl"
    assert cli("claim", "--task", "Q-1", "--allow-unassigned", cwd=shimmed).code == 5
    assert [r["code"] for r in jsonl(log)] == ["session_missing", "session_missing"]
    receipt = shimmed / "_report/session/codex-1/manager-report-tail.txt"
    receipt.parent.mkdir(parents=True)
    receipt.write_text("# manager-report tail\n# captured_at=2000-01-01T00:00:00Z\n\n")
    res = run("python -m tools.agent.bus_event log --event note --summary s", shimmed, expect=1)
    assert "is stale" in res.stderr and jsonl(log)[-1]["code"] == "session_stale"
    run(
        "python -m tools.agent.bus_event log --event note --summary s --allow-stale-session",
        shimmed,
    )
    assert [r["code"] for r in jsonl(log)][-2:] == ["session_stale", "session_override"]
    receipt.write_text("# manager-report tail\n\n")
    assert cli("log", "--event", "note", "--summary", "s", cwd=shimmed).code == 5
    assert jsonl(log)[-1]["code"] == "session_invalid"
    run("python -m tools.agent.session_boot --agent codex-1 --no-sync", shimmed)
    assert cli("log", "--event", "note", "--summary", "s", cwd=shimmed).code == 0
    run(
        'python -m tools.agent.session_boot --agent codex-1 --no-sync --summary "session wrap"',
        shimmed,
    )
    closed = cli("log", "--event", "note", "--summary", "s", cwd=shimmed)
    assert closed.code == 5 and "closed" in closed.err


def test_guard_off_by_default_keeps_core_commands_working(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--agent", "a1", cwd=repo).code == 0
    assert cli("claim", "--task", "T-1", cwd=repo).code == 0
    assert not (repo / "_report").exists()


def test_manifest_helper_list_activate_restore(shimmed: Path) -> None:
    (shimmed / "AGENT_MANIFEST.codex-4.json").write_text(json.dumps({"agent_id": "codex-4"}))
    out = run("python -m tools.agent.manifest_helper list", shimmed).stdout
    assert "AGENT_MANIFEST.codex-4.json" in out
    run("python -m tools.agent.manifest_helper activate AGENT_MANIFEST.codex-4.json", shimmed)
    assert json.loads((shimmed / "AGENT_MANIFEST.json").read_text())["agent_id"] == "codex-4"
    assert list((shimmed / ".manifest_backups").glob("AGENT_MANIFEST.json.*"))
    assert "/.manifest_backups/" in (shimmed / ".git/info/exclude").read_text()
    run("python -m tools.agent.manifest_helper restore", shimmed)
    assert json.loads((shimmed / "AGENT_MANIFEST.json").read_text())["agent_id"] == "codex-1"
    with unchanged(shimmed):
        res = run("python -m tools.agent.manifest_helper activate codex-9", shimmed, expect=1)
    assert "variant AGENT_MANIFEST.codex-9.json not found" in res.stderr


def test_manifest_helper_sessions(shimmed: Path) -> None:
    git(shimmed, "config", "repobus.sessionGuard", "false")
    git(shimmed, "add", "tools")
    git(shimmed, "commit", "-qm", "shims")
    run("python -m tools.agent.manifest_helper session-save wrap1 --allow-dirty", shimmed)
    assert (
        "wrap1: branch=main agent=codex-1"
        in run("python -m tools.agent.manifest_helper session-list", shimmed).stdout
    )
    events = jsonl(shimmed / "_bus/events/events.jsonl")
    assert events[-1]["session_label"] == "wrap1" and events[-1]["event"] == "status"
    run("python -m tools.agent.manifest_helper session-restore wrap1 --manifest-only", shimmed)
    run("python -m tools.agent.manifest_helper session-delete wrap1", shimmed)
    assert not (shimmed / ".manifest_sessions/wrap1").exists()


def test_shim_without_repobus_installed_says_so(shimmed: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-S", "-I", "tools/agent/bus_status.py"],
        cwd=shimmed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 5 and "repobus is not installed" in res.stderr
