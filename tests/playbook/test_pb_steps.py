"""Steps 3, 8 and 10 as the playbook writes them (issue 16): the engineer's ack with `--task`
before the claim, proposal and pr_opened, and the manager's consensus on the task thread -
with the guarded-event and fence rules still holding for everyone else."""

from __future__ import annotations

import json
from pathlib import Path

from pbhelpers import git, jsonl, run

MANAGER, ENG, PEER, LEAD = "codex-manager", "codex-1", "codex-2", "codex-lead"
PLAN = "_plans/2025-09-17-anchors.plan.json"


def _manifest(path: Path, agent: str, role: str) -> None:
    path.write_text(json.dumps({"agent_id": agent, "desired_roles": [role]}))


def _team(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _manifest(repo / "AGENT_MANIFEST.json", MANAGER, "manager")
    _manifest(repo / f"AGENT_MANIFEST.{ENG}.json", ENG, "engineer")
    _manifest(repo / f"AGENT_MANIFEST.{PEER}.json", PEER, "engineer")
    _manifest(repo / f"AGENT_MANIFEST.{LEAD}.json", LEAD, "manager")
    assert cli("init", "--shims", "--no-remote", cwd=repo).code == 0
    git(repo, "add", "tools")
    git(repo, "commit", "-qm", "tools")
    for agent in (MANAGER, ENG, PEER, LEAD):
        run(f"python -m tools.agent.session_boot --agent {agent} --no-sync", repo)
    run(f"python -m tools.agent.task_assign --task QUEUE-001 --engineer {ENG} --plan {PLAN}", repo)


def test_steps_3_8_10_as_written(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _team(repo, cli)
    # step 3: the engineer acknowledges with a bus_event status, on the task, before claiming
    run(
        f'bus_event log --event status --task QUEUE-001 --summary "ack QUEUE-001" --agent {ENG}',
        repo,
    )
    # step 8 before the claim: the assignee's proposal
    run(f'bus_event log --event proposal --task QUEUE-001 --summary "plan" --agent {ENG}', repo)
    # nobody else speaks on an unclaimed task with a guarded name
    res = run(
        f"bus_event log --event status --task QUEUE-001 --summary x --agent {PEER}", repo, expect=1
    )
    assert "no claim file" in res.stderr
    # step 5, then step 8 as written
    run(f"tools/agent/bus_claim.py claim --task QUEUE-001 --plan {PLAN} --agent {ENG}", repo)
    run(f'bus_event log --event proposal --task QUEUE-001 --summary "ready" --agent {ENG}', repo)
    run(
        f'bus_event log --event pr_opened --task QUEUE-001 --summary "draft" --pr 7 --agent {ENG}',
        repo,
    )
    run(
        "python -m tools.agent.bus_message --task QUEUE-001 --type status "
        f'--summary "pushed" --agent {ENG}',
        repo,
    )
    # step 10: the manager's report, then consensus on the task thread
    run("python -m tools.agent.manager_report", repo)
    run(
        f"python -m tools.agent.bus_message --task QUEUE-001 --type consensus "
        f'--summary "ready for human review" --agent {MANAGER}',
        repo,
    )
    for kind in ("note", "request", "summary", "proposal", "status"):
        run(f"bus_message --task QUEUE-001 --type {kind} --summary {kind} --agent {MANAGER}", repo)
    # a manager by its manifest's role, not the assigner, too
    run(f"bus_message --task QUEUE-001 --type consensus --summary agreed --agent {LEAD}", repo)
    thread = jsonl(repo / "_bus/messages/QUEUE-001.jsonl")
    assert [(m["from"], m["type"]) for m in thread if m["type"] == "consensus"] == [
        (MANAGER, "consensus"),
        (LEAD, "consensus"),
    ]
    events = [(e["agent_id"], e["event"]) for e in jsonl(repo / "_bus/events/events.jsonl")]
    assert (ENG, "status") in events and events.count((ENG, "proposal")) == 2
    assert (ENG, "pr_opened") in events


def test_the_guards_still_hold_for_everyone_else(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _team(repo, cli)
    run(f"tools/agent/bus_claim.py claim --task QUEUE-001 --agent {ENG}", repo)
    # an engineer who does not hold the claim: refused, events and messages alike
    res = run(
        f"bus_message --task QUEUE-001 --type consensus --summary x --agent {PEER}", repo, expect=1
    )
    assert f"claimed by {ENG}" in res.stderr
    # the manager's guarded *events* on someone else's claim stay refused
    res = run(
        f"bus_event log --event status --task QUEUE-001 --summary x --agent {MANAGER}",
        repo,
        expect=1,
    )
    assert f"claimed by {ENG}" in res.stderr
    # a manager presenting a stale fence is refused: nothing written
    res = run(
        f"repobus send --task QUEUE-001 --type consensus --summary x --fence 99 --agent {MANAGER}",
        repo,
        expect=3,
    )
    assert "stale fencing token 99" in res.stderr
    # the assignee before the claim may not present a fence (there is no token yet)
    run(f"repobus assign --task QUEUE-002 --engineer {ENG} --agent {MANAGER}", repo)
    res = run(
        f"repobus log --event status --task QUEUE-002 --summary x --fence 1 --agent {ENG}",
        repo,
        expect=3,
    )
    assert "has no claim" in res.stderr
    thread = jsonl(repo / "_bus/messages/QUEUE-001.jsonl")
    assert not [m for m in thread if m["type"] == "consensus"]
