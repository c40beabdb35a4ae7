"""A new team runs the playbook as written (issue 16, Deliver 13): a bare origin, a manager
and two engineers in three worktrees of one clone, repobus installed in an isolated venv
whose only things on PATH are its `repobus` and the playbook's bare names (the fixture of
test_pb_install.py), the shims run by the system python3 - and the playbook's own command
lines in order through steps 1-11, including step 8's JSONL appended by hand, a crash (the
engineer's process killed, its short lease left to run out) and a takeover with a higher
fencing token.  After each step: what it left on the bus.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pbhelpers import git, jsonl
from test_pb_install import _env, _run, installed, system_python  # noqa: F401

MGR, E1, E2 = "codex-manager", "codex-1", "codex-2"
PLAN = "_plans/2025-09-17-anchors.plan.json"


class Team:
    """The three seats, and the playbook's lines run in them as a new team would type them."""

    def __init__(self, on_path: Path, py: str, seats: dict[str, Path]) -> None:
        self.on_path, self.py, self.seats = on_path, py, seats

    def run(self, who: str, line: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(line)
        if argv[0] in ("python", "python3"):
            argv[0] = self.py  # the system python3: it cannot import repobus
        return _run(argv, self.seats[who], self.on_path, expect)

    def status(self, who: str = MGR) -> dict[str, Any]:
        return json.loads(self.run(who, "repobus status --json --all").stdout)

    def claim(self, task: str) -> dict[str, Any]:
        return next(c for c in self.status()["claims"] if c["task_id"] == task)

    def read(self, who: str, rel: str) -> list[dict[str, Any]]:
        """A file of `who`'s `_bus/` mirror as step 4 reads it (any command refreshes it)."""
        self.run(who, "repobus mirror")
        return jsonl(self.seats[who] / "_bus" / rel)

    def events(self, who: str = MGR) -> list[dict[str, Any]]:
        return self.read(who, "events/events.jsonl")


def _origin_and_clone(tmp: Path) -> Path:
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", str(origin))
    seed = tmp / "seed"
    git(tmp, "clone", "-q", str(origin), str(seed))
    (seed / "queue").mkdir()
    for n, title in ((1, "Anchors append guard"), (2, "Collaboration docs")):
        (seed / f"queue/QUEUE-00{n}.md").write_text(f"# {title}\n")
    git(seed, "add", "queue")
    git(seed, "commit", "-qm", "queue")
    git(seed, "push", "-q", "origin", "HEAD:main")
    mgr = tmp / "team"
    git(tmp, "clone", "-q", str(origin), str(mgr))
    return mgr


@pytest.fixture
def team(tmp_path: Path, installed: Path, system_python: str) -> Team:  # noqa: F811
    """The documented set-up (docs/playbook.md): the manager's clone, init --shims --hooks,
    the tools committed and pushed; one worktree per engineer, each with `repobus init`."""
    mgr = _origin_and_clone(tmp_path)
    manifest = {"agent_id": MGR, "desired_roles": ["manager"], "branch_prefix": f"agent/{MGR}/"}
    (mgr / "AGENT_MANIFEST.json").write_text(json.dumps(manifest))
    t = Team(installed, system_python, {MGR: mgr})
    t.run(MGR, f"repobus init --shims --hooks --no-remote --agent {MGR}")
    git(mgr, "config", "repobus.leaseGrace", "0")  # a lease ends when it ends: the crash below
    git(mgr, "add", "tools")
    git(mgr, "commit", "-qm", "playbook tools (repobus shims)")
    t.run(MGR, "git push -q origin main")  # the manager's push passes the pre-push hook
    for agent in (E1, E2):
        wt = tmp_path / f"wt-{agent}"
        git(mgr, "worktree", "add", "-q", "-b", f"agent/{agent}/home", str(wt), "main")
        t.seats[agent] = wt
        t.run(agent, f"repobus init --agent {agent}")
    return t


def test_a_new_team_runs_the_playbook(team: Team) -> None:
    t = team
    # 1-2. Sync, announce the session: a handshake per agent, the session receipt
    for who in (MGR, E1, E2):
        t.run(who, "git pull -q origin main")
        assert (
            "Logged handshake"
            in t.run(who, f"python -m tools.agent.session_boot --agent {who}").stdout
        )
    assert {e["agent_id"] for e in t.events() if e["event"] == "handshake"} == {MGR, E1, E2}

    # 3. The manager assigns; the engineers acknowledge with a bus_event status on the task
    t.run(MGR, f"python -m tools.agent.task_assign --task QUEUE-001 --engineer {E1} --plan {PLAN}")
    t.run(MGR, f"python -m tools.agent.task_assign --task QUEUE-002 --engineer {E2}")
    t.run(E1, 'bus_event log --event status --task QUEUE-001 --summary "ack QUEUE-001"')
    t.run(E2, 'bus_event log --event status --task QUEUE-002 --summary "ack QUEUE-002"')
    acks = [e for e in t.events() if e["summary"].startswith("ack ")]
    assert sorted((e["agent_id"], e["task_id"]) for e in acks) == [
        (E1, "QUEUE-001"),
        (E2, "QUEUE-002"),
    ]
    asg = json.loads((t.seats[E1] / "_bus/assignments/QUEUE-001.json").read_text())
    assert (asg["engineer"], asg["manager"]) == (E1, MGR)

    # 4. Review: queue/, _bus/claims/ (none yet), the engineer's inbox
    assert "QUEUE-001      assigned  to codex-1" in t.run(E1, "repobus queue").stdout
    assert list((t.seats[E1] / "_bus/claims").iterdir()) == []
    assert t.read(E1, f"messages/agent-{E1}.jsonl")[0]["type"] == "assignment"

    # 5. Claim (codex-2 with a short lease: it is about to crash)
    t.run(E1, f"python tools/agent/bus_claim.py claim --task QUEUE-001 --plan {PLAN}")
    t.run(E2, "bus_claim claim --task QUEUE-002 --ttl 3")
    one, two = t.claim("QUEUE-001"), t.claim("QUEUE-002")
    assert (one["agent_id"], one["status"], two["agent_id"]) == (E1, "active", E2)
    assert "already claimed by codex-1" in t.run(E2, "bus_claim claim --task QUEUE-001", 1).stderr

    # 6-7. Plan with a justification; the agent branch; a receipt
    t.run(
        E1,
        'repobus plan new --task QUEUE-001 --title "Anchors append guard" '
        '--id 2025-09-17-anchors --step "write tests" --justification "never checked"',
    )
    t.run(E1, "repobus branch queue-001")
    (t.seats[E1] / "pytest.txt").write_text("2 passed\n")
    t.run(E1, "repobus receipt add pytest.txt --kind agent --task QUEUE-001")
    assert git(t.seats[E1], "branch", "--show-current") == "agent/codex-1/queue-001"

    # 8. Events (proposal, pr_opened), message responses - one appended by hand as JSONL
    t.run(E1, 'bus_event log --event proposal --task QUEUE-001 --summary "guard ready"')
    t.run(E1, 'bus_event log --event pr_opened --task QUEUE-001 --pr 7 --summary "Draft PR"')
    thread = t.seats[E1] / "_bus/messages/QUEUE-001.jsonl"
    with open(thread, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "status", "summary": "ready for review", "to": MGR}) + "\n")
    t.run(
        E1,
        'python -m tools.agent.bus_message --task QUEUE-001 --type status --summary "tests pass"',
    )
    mine = [m for m in jsonl(thread) if m["from"] == E1]
    assert [m["summary"] for m in mine] == ["ready for review", "tests pass"]
    assert all(isinstance(m["seq"], int) for m in mine)  # the real records, nothing left over
    inbox = t.run(MGR, f"repobus inbox --agent {MGR} --json").stdout
    assert "ready for review" in inbox
    assert {e["event"] for e in t.events() if e.get("task_id") == "QUEUE-001"} >= {
        "proposal",
        "pr_opened",
    }

    # 9. The session loop's heartbeat: the holder renews; the manager checks liveness
    t.run(E1, "repobus renew --task QUEUE-001")
    assert t.claim("QUEUE-001")["fencing_token"] == one["fencing_token"]
    t.run(MGR, "bus_heartbeat")
    # The crash: codex-2's process dies mid-lease; its 3 s lease runs out
    t.run(E2, 'bus_event log --event status --task QUEUE-002 --summary "docs half written"')
    agent = subprocess.Popen(
        ["repobus", "watch", "--follow"],
        cwd=t.seats[E2],
        env=_env(t.on_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent.kill()
    agent.wait(timeout=30)
    deadline = time.monotonic() + 20
    while t.claim("QUEUE-002")["lease_state"] != "expired":
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.5)
    took = t.run(E1, "tools/agent/bus_claim.py claim --task QUEUE-002").stdout
    assert "Took over QUEUE-002 from codex-2" in took
    now = t.claim("QUEUE-002")
    assert now["agent_id"] == E1 and now["fencing_token"] > two["fencing_token"]
    late = t.run(E2, 'bus_event log --event status --task QUEUE-002 --summary "back"', 1)
    assert "claimed by codex-1" in late.stderr
    stale = (
        f"repobus log --event progress --task QUEUE-002 --summary x --fence {two['fencing_token']}"
    )
    assert t.run(E2, stale, 3).returncode == 3  # fenced off

    # 10. The manager's report, and a consensus message on the task thread
    t.run(MGR, "python -m tools.agent.manager_report")
    (report,) = (t.seats[MGR] / "_report/manager").glob("manager-report-*.md")
    assert "QUEUE-002: codex-1 [active]" in report.read_text()
    t.run(MGR, 'bus_message --task QUEUE-001 --type consensus --summary "ready for human review"')
    last = t.read(MGR, "messages/QUEUE-001.jsonl")[-1]
    assert (last["type"], last["from"]) == ("consensus", MGR)

    # 11. Release once merged; wrap the session
    t.run(E1, "bus_claim release --task QUEUE-001 --status done")
    t.run(E1, 'python -m tools.agent.session_boot --agent codex-1 --summary "session wrap"')
    assert t.claim("QUEUE-001")["status"] == "done"
    assert t.run(MGR, "repobus check").returncode == 0
    assert t.run(MGR, "repobus verify").returncode == 0
