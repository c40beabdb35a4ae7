"""The manager's tools: report (+ consensus), heartbeat (exit code for CI), stale claims."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import unchanged
from pbhelpers import run

from repobus.bus import open_bus, with_config


def _setup(repo: Path) -> None:
    (repo / "AGENT_MANIFEST.json").write_text(
        json.dumps({"agent_id": "mgr", "desired_roles": ["manager"]})
    )
    bus = open_bus(repo)
    bus.assign("mgr", "QUEUE-001", "e1", plan="p1", note="Add the guard")
    bus.claim("e1", "QUEUE-001", plan="p1")
    bus.log("e1", "status", "half done", task="QUEUE-001")
    bus.log("e2", "audit", "reviewed", extra={"reviewer": "e1"})
    bus.log("e1", "pr_opened", "Draft PR", task="QUEUE-001", pr="42")
    bus.send("e1", "QUEUE-001", "status", "tests green")


def test_report_writes_every_section(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _setup(repo)
    (repo / "_plans").mkdir()
    (repo / "_plans/p1.plan.json").write_text(
        json.dumps(
            {
                "plan_id": "p1",
                "actor": "e1",
                "status": "active",
                "steps": [{"id": "S1", "status": "done", "receipts": []}],
            }
        )
    )
    res = cli("report", "--json", cwd=repo)
    assert res.code == 0, res.err
    path = repo / res.json["report"]
    assert path.name.startswith("manager-report-") and ":" not in path.name
    text = path.read_text()
    for part in (
        "# Manager Report — ",
        "Manager: `mgr`",
        "## Claims and leases",
        "QUEUE-001: e1 [active] → agent/e1/queue-001 (token 1, lease",
        "## Stale claims",
        "## Assignments",
        "QUEUE-001 → `e1` by mgr",
        "## Activity per agent",
        "## QUEUE-001 — ",
        "- Assigned to `e1` at",
        "- Current claim: e1 [active]",
        "- Messages:",
        ":: e1: tests green",
        "## Audits",
        "e2 reviewed for e1",
        "## Plans missing receipts",
        "step S1 is done but has no receipts",
        "## Pull requests opened",
        "PR 42",
    ):
        assert part in text, part
    second = cli("report", "--json", cwd=repo)
    assert second.json["report"] != res.json["report"]  # same second: never overwritten


def test_report_consensus_and_heartbeat(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _setup(repo)
    res = cli(
        "report",
        "--manager",
        "mgr",
        "--consensus",
        "--log-heartbeat",
        "--heartbeat-meta",
        "shift=night",
        cwd=repo,
    )
    assert res.code == 0, res.err
    bus = open_bus(repo)
    lane = bus.messages(task="manager-report")
    assert lane[-1]["type"] == "consensus" and lane[-1]["receipts"][0].startswith("_report/")
    ev = bus.store.tail("events")[-1].record
    assert ev["event"] == "status" and ev["agent_id"] == "mgr" and ev["shift"] == "night"


def test_heartbeat_exit_code_and_receipt(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _setup(repo)
    res = cli("heartbeat", "--dry-run", "--json", cwd=repo)
    assert res.code == 1  # the manager never logged a handshake/status: severity high
    assert res.json["severity"] == "high"
    assert res.json["alerts"][0] == {
        "type": "manager_heartbeat_missing",
        "agent_id": "mgr",
        "last_seen": None,
    }
    assert (repo / res.json["receipt"]).exists()
    assert cli("heartbeat", "--dry-run", "--fail-on", "never", cwd=repo).code == 0
    bus = open_bus(repo)
    bus.log("mgr", "handshake", "hi")
    ok = cli("heartbeat", "--json", cwd=repo)
    assert ok.code == 0 and ok.json["severity"] == "low"
    later = cli("heartbeat", "--now", "2099-01-01T00:00:00Z", "--json", cwd=repo)
    assert later.code == 1
    kinds = sorted(a["type"] for a in later.json["alerts"])
    assert kinds == ["agent_idle", "manager_heartbeat_stale"]  # its handshake is old, not absent
    assert bus.store.tail("events")[-1].record["event"] == "alert"
    assert bus.messages(task="manager-report")[-1]["summary"].startswith("Heartbeat alerts:")
    medium = cli(
        "heartbeat",
        "--now",
        "2099-01-01T00:00:00Z",
        "--manager-window",
        "0",
        "--fail-on",
        "medium",
        "--dry-run",
        cwd=repo,
    )
    assert medium.code == 1 and "agent_idle: e1" in medium.out
    with unchanged(repo):
        assert cli("heartbeat", "--agent-window", "-1", cwd=repo).code == 2
        assert cli("heartbeat", "--now", "yesterday", cwd=repo).code == 2


def test_bus_heartbeat_shim_is_exit_0_like_the_original(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _setup(repo)
    assert cli("init", "--shims", cwd=repo).code == 0
    res = run(
        "python -m tools.agent.bus_heartbeat --agent-id mgr --plan p --task APOP-004 "
        '--note "ci sweep" --dry-run --no-bus-event --no-bus-message --manager-window 30 '
        "--agent-window 240",
        repo,
    )
    assert (
        "Alerts emitted; receipt at _report/agent/mgr/apoptosis-004/alerts/heartbeat-" in res.stdout
    )


def test_stale_claims(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    old = with_config(bus)
    old.clock = lambda: 1_000_000_000
    old.claim("e2", "QUEUE-002")
    bus.claim("e1", "QUEUE-001")
    res = cli("stale", "--json", cwd=repo)
    assert [r["task_id"] for r in res.json["stale"]] == ["QUEUE-002"]
    assert cli("stale", "--fail-on-stale", cwd=repo).code == 1
    with unchanged(repo):
        assert cli("stale", "--release", cwd=repo).code == 2
    rel = cli("stale", "--agent", "e2", "--release", cwd=repo)
    assert rel.code == 0 and "Released QUEUE-002" in rel.out
    claim = bus.store.get("claims", "QUEUE-002").record
    assert claim["status"] == "released"
    assert claim["notes"] == "Auto-release stale claim (> threshold)"
    assert "No stale claims detected." in cli("stale", cwd=repo).out
