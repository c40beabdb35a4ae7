"""Assignment, acknowledgement, the claim-without-assignment policy, the queue, messages."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import unchanged
from pbhelpers import git, jsonl

from repobus.bus import open_bus, with_config


def test_assign_writes_assignment_message_and_registry(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "assign",
        "--task",
        "QUEUE-001",
        "--engineer",
        "codex-2",
        "--plan",
        "_plans/2025-09-17-x.plan.json",
        "--note",
        "Add the guard",
        cwd=repo,
        agent="mgr",
    )
    assert res.code == 0, res.err
    assert "Recorded assignment → _bus/assignments/QUEUE-001.json" in res.out
    asg = open_bus(repo).store.get("assignments", "QUEUE-001").record
    assert (asg["engineer"], asg["manager"], asg["plan_id"]) == ("codex-2", "mgr", "2025-09-17-x")
    reg = json.loads((repo / "agents/tasks/tasks.json").read_text())["tasks"]
    assert reg == [
        {
            "id": "QUEUE-001",
            "title": "Add the guard",
            "role": "engineer",
            "priority": "medium",
            "status": "open",
            "plan_id": "2025-09-17-x",
            "branch": None,
            "assigned_by": "mgr",
        }
    ]
    msgs = open_bus(repo).messages(task="QUEUE-001")
    assert msgs[0]["type"] == "assignment" and msgs[0]["meta"]["assignee"] == "codex-2"
    assert (
        cli("assign", "--task", "QUEUE-002", "--engineer", "codex-3", cwd=repo, agent="mgr").code
        == 0
    )
    ids = [t["id"] for t in json.loads((repo / "agents/tasks/tasks.json").read_text())["tasks"]]
    assert ids == ["QUEUE-001", "QUEUE-002"]


def test_reassign_needs_force_and_names_the_holder(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("assign", "--task", "Q-1", "--engineer", "e1", cwd=repo, agent="mgr").code == 0
    with unchanged(repo):
        res = cli("assign", "--task", "Q-1", "--engineer", "e2", cwd=repo, agent="mgr")
    assert res.code == 3 and "already assigned to e1" in res.err and "--force" in res.err
    assert cli("claim", "--task", "Q-1", cwd=repo, agent="e1").code == 0
    res = cli("assign", "--task", "Q-1", "--engineer", "e2", "--force", cwd=repo, agent="mgr")
    assert res.code == 0


def test_a_broken_registry_is_reported_before_anything_is_written(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "agents/tasks").mkdir(parents=True)
    (repo / "agents/tasks/tasks.json").write_text("{broken")
    with unchanged(repo):
        res = cli("assign", "--task", "Q-1", "--engineer", "e1", cwd=repo, agent="mgr")
    assert res.code == 1 and "Invalid JSON in agents/tasks/tasks.json" in res.err


def test_ack_logs_and_tells_the_manager(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        assert cli("ack", "--task", "Q-1", cwd=repo, agent="e1").code == 4
    assert cli("assign", "--task", "Q-1", "--engineer", "e1", cwd=repo, agent="mgr").code == 0
    with unchanged(repo):
        assert cli("ack", "--task", "Q-1", cwd=repo, agent="e2").code == 3
    res = cli("ack", "--task", "Q-1", "--note", "on it", cwd=repo, agent="e1")
    assert res.code == 0
    ev = open_bus(repo).store.tail("events")[-1].record
    assert ev["event"] == "ack" and ev["task_id"] == "Q-1" and ev["note"] == "on it"
    inbox = cli("inbox", "--json", cwd=repo, agent="mgr").json
    assert inbox["messages"][-1]["type"] == "ack" and inbox["new"] == 1


def test_claim_without_assignment_is_a_policy(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "Q-1", cwd=repo, agent="e1").code == 0  # default: off
    git(repo, "config", "repobus.requireAssignment", "true")
    with unchanged(repo):
        res = cli("claim", "--task", "Q-2", cwd=repo, agent="e1")
    assert res.code == 4 and "assignment missing for Q-2" in res.err
    assert cli("claim", "--task", "Q-2", "--allow-unassigned", cwd=repo, agent="e1").code == 0
    assert cli("assign", "--task", "Q-3", "--engineer", "e2", cwd=repo, agent="mgr").code == 0
    with unchanged(repo):
        res = cli("claim", "--task", "Q-3", cwd=repo, agent="e1")
    assert res.code == 3 and "assignment for Q-3 targets e2" in res.err
    assert cli("claim", "--task", "Q-3", cwd=repo, agent="e2").code == 0


def test_queue_states(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "queue").mkdir()
    for n, title in enumerate(["Open one", "Assigned", "Claimed", "Paused", "Stale", "Done"], 1):
        (repo / "queue" / f"QUEUE-00{n}.md").write_text(f"# {title}\n\nbody\n")
    (repo / "queue" / "README.md").write_text("not a task")
    bus = open_bus(repo)
    bus.assign("mgr", "QUEUE-002", "e1")
    bus.claim("e1", "QUEUE-003")
    bus.claim("e2", "QUEUE-004")
    with_config(bus, pause_silence=0).pause("e3", "QUEUE-004", notes="e2 crashed")
    past = with_config(bus)
    past.clock = lambda: 1_000_000_000
    past.claim("e5", "QUEUE-005", ttl=1)
    bus.claim("e6", "QUEUE-006")
    bus.release("e6", "QUEUE-006")
    bus.claim("e7", "EXTRA-1")
    bus.clock = lambda: 4_000_000_000
    res = cli("queue", "--json", cwd=repo)
    states = {t["task_id"]: t["state"] for t in res.json["tasks"]}
    assert states["QUEUE-001"] == "open" and states["QUEUE-002"] == "assigned"
    assert states["QUEUE-003"] == "claimed" and states["QUEUE-004"] == "paused"
    assert states["QUEUE-005"] == "stale" and states["QUEUE-006"] == "done"
    assert states["EXTRA-1"] == "claimed"
    rows = {t["task_id"]: t for t in res.json["tasks"]}
    assert rows["QUEUE-001"]["title"] == "Open one" and rows["EXTRA-1"]["source"] == "bus"
    assert rows["QUEUE-004"]["notes"] == "e2 crashed"
    text = cli("queue", "--state", "claimed", cwd=repo).out
    assert "QUEUE-003" in text and "by e1 (lease" in text and "QUEUE-001" not in text
    assert cli("queue", "--state", "nope", cwd=repo).code == 2


def test_send_and_inbox_cursor(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        assert (
            cli(
                "send",
                "--task",
                "manager-report",
                "--type",
                "status",
                "--summary",
                f"m{i}",
                "--to",
                "E1",
                "--meta",
                "k=v",
                "--receipt",
                "r.txt",
                cwd=repo,
                agent="mgr",
            ).code
            == 0
        )
    first = cli("inbox", "--json", "--mark-read", cwd=repo, agent="e1").json
    assert first["total"] == 3 and first["new"] == 3
    assert cli("inbox", "--json", cwd=repo, agent="e1").json["new"] == 0
    assert (
        cli(
            "send",
            "--task",
            "manager-report",
            "--type",
            "status",
            "--summary",
            "m3",
            "--to",
            "e1",
            cwd=repo,
            agent="mgr2",
        ).code
        == 0
    )
    later = cli("inbox", "--unread", "--capture-receipt", cwd=repo, agent="e1")
    assert "total=4 new=1" in later.out and "* " in later.out and "m3" in later.out
    tail = (repo / "_report/session/e1/agent-inbox-tail.txt").read_text()
    assert tail.startswith("# agent inbox tail\n# agent=e1") and "# unread_since_state=1" in tail
    msgs = jsonl(repo / "_bus/messages/agent-e1.jsonl") if (repo / "_bus").exists() else []
    assert msgs == [] or msgs[0]["meta"] == {"k": "v"}
    with unchanged(repo):
        assert (
            cli(
                "send",
                "--task",
                "Q-1",
                "--type",
                "status",
                "--summary",
                "x",
                "--meta",
                "bad",
                cwd=repo,
                agent="mgr",
            ).code
            == 2
        )
        assert cli("inbox", "--limit", "-1", cwd=repo, agent="e1").code == 2


def test_guarded_message_types_need_the_claim(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "Q-1", cwd=repo, agent="e1").code == 0
    res = cli("send", "--task", "Q-1", "--type", "status", "--summary", "x", cwd=repo, agent="e2")
    assert res.code == 3 and "claimed by e1" in res.err
    assert (
        cli(
            "send", "--task", "Q-1", "--type", "assignment", "--summary", "x", cwd=repo, agent="e2"
        ).code
        == 0
    )
