"""Every command line the playbook prints, run as written (`<id>` filled in, `...` completed)
in a temporary repository set up with `repobus init --shims`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pbhelpers import argv_of, env, git, jsonl, run

ID = "codex-2"
PLAN = "_plans/2025-09-17-anchors.plan.json"

# (playbook line, as the test runs it)
LINES = [
    ("git pull origin main", "git pull origin main"),
    (
        "python -m tools.agent.session_boot --agent <id>",
        f"python -m tools.agent.session_boot --agent {ID}",
    ),
    (
        "python -m tools.agent.task_assign --task <id> --engineer <id> --plan <plan>",
        f"python -m tools.agent.task_assign --task QUEUE-001 --engineer {ID} --plan {PLAN}",
    ),
    (
        "tools/agent/bus_claim.py claim --task QUEUE-001",
        "tools/agent/bus_claim.py claim --task QUEUE-001",
    ),
    (
        "tools/agent/bus_claim.py claim ... (set --plan to _plans/<id>.plan.json)",
        f"tools/agent/bus_claim.py claim --task QUEUE-001 --plan {PLAN}",
    ),
    (
        "tools/agent/bus_event.py log ...",
        'tools/agent/bus_event.py log --event status --summary "started" --task QUEUE-001',
    ),
    (
        "bus_event log --event proposal",
        'bus_event log --event proposal --summary "guard ready" --task QUEUE-001',
    ),
    (
        "bus_event log --event pr_opened",
        'bus_event log --event pr_opened --summary "draft PR" --task QUEUE-001 --pr 12',
    ),
    (
        "--extra reviewer=<agent> / event=audit",
        'bus_event log --event audit --summary "reviewed plan" --extra reviewer=codex-1',
    ),
    ("python -m tools.agent.manager_report", "python -m tools.agent.manager_report"),
    (
        "tools/agent/bus_status.py --limit 20 --agent <id> --active-only",
        f"tools/agent/bus_status.py --limit 20 --agent {ID} --active-only",
    ),
    ("... --json", f"tools/agent/bus_status.py --limit 20 --agent {ID} --active-only --json"),
    (
        "bus_claim release --task QUEUE-001 --status done",
        "bus_claim release --task QUEUE-001 --status done",
    ),
    ('session_boot --summary "session wrap"', 'session_boot --summary "session wrap"'),
]

FOLLOW = [
    "python -m tools.agent.bus_watch --limit 20 --follow",
    f"python -m tools.agent.bus_watch --limit 20 --follow --agent {ID}",
    "python -m tools.agent.bus_watch --limit 20 --follow --event status",
    "python -m tools.agent.bus_watch --limit 20 --follow --since 2000-01-01T00:00:00Z",
]


def _first_line(line: str, cwd: Path) -> str:
    proc = subprocess.Popen(
        argv_of(line),
        cwd=cwd,
        env=env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        return proc.stdout.readline()  # the replayed tail arrives at once
    finally:
        proc.kill()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def test_every_playbook_line_runs_verbatim(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    (repo / "AGENT_MANIFEST.json").write_text(
        json.dumps({"agent_id": ID, "desired_roles": ["engineer", "manager"]})
    )
    assert cli("init", "--shims", "--no-remote", cwd=repo).code == 0
    git(repo, "add", "tools")
    git(repo, "commit", "-qm", "tools")
    git(repo, "push", "-q", "-u", "origin", "main")
    for _, line in LINES:
        run(line, repo)
        if line.startswith("tools/agent/bus_event.py"):
            for follow in FOLLOW:
                assert " :: " in _first_line(follow, repo), follow
    events = jsonl(repo / "_bus/events/events.jsonl")
    assert [e["event"] for e in events] == [
        "handshake",
        "status",
        "proposal",
        "pr_opened",
        "audit",
        "handshake",
    ]
    assert events[-1]["session"] == "wrap"
    claim = json.loads((repo / "_bus/claims/QUEUE-001.json").read_text())
    assert claim["status"] == "done" and claim["plan_id"] == "2025-09-17-anchors"
    assert list((repo / "_report/manager").glob("manager-report-*.md"))
