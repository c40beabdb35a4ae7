"""The playbook's whole session loop, end to end: a manager and two engineers, each in its own
worktree, every step by its playbook command line (`<id>` filled in), including a crash: an
engineer vanishes, another pauses its claim with notes and takes it over.  Asserts the files
and refs left behind."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

from pbhelpers import VENV_BIN, argv_of, env, git, jsonl, run

MGR, E1, E2 = "codex-manager", "codex-1", "codex-2"
PLAN1, PLAN2 = "2025-09-17-anchors-append-guard", "2025-09-18-collab-support"


class Watch:
    """A `bus_watch --follow` kept open in the background; lines read by a thread."""

    def __init__(self, line: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            argv_of(line),
            cwd=cwd,
            env=env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"bus_watch never showed {text!r}")

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _setup(repo: Path, tmp: Path) -> tuple[Path, Path, Path]:
    """The manager's clone with tools/agent committed, and one worktree per engineer."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    (repo / "AGENT_MANIFEST.json").write_text(
        json.dumps(
            {"agent_id": MGR, "desired_roles": ["manager"], "branch_prefix": f"agent/{MGR}/"}
        )
    )
    run(f"repobus init --shims --hooks --no-remote --agent {MGR}", repo)
    git(repo, "config", "repobus.pushAllow", "main")
    (repo / "queue").mkdir()
    (repo / "queue/QUEUE-001.md").write_text("# Anchors append guard\n")
    (repo / "queue/QUEUE-002.md").write_text("# Collaboration docs\n")
    (repo / "queue/QUEUE-003.md").write_text("# Contended task\n")
    git(repo, "add", "tools", "queue")
    git(repo, "commit", "-qm", "playbook tools and queue")
    git(repo, "push", "-q", "-u", "origin", "main")
    trees = []
    for agent in (E1, E2):
        wt = tmp / f"wt-{agent}"
        git(repo, "worktree", "add", "-q", "-b", f"agent/{agent}/home", str(wt), "main")
        run(f"repobus init --no-remote --agent {agent}", wt)
        trees.append(wt)
    return repo, trees[0], trees[1]


def test_the_whole_session_loop(repo: Path, tmp_path: Path) -> None:
    mgr, w1, w2 = _setup(repo, tmp_path)
    watches: list[Watch] = []
    try:
        _loop(mgr, w1, w2, tmp_path, watches)
    finally:
        for w in watches:
            w.stop()


def _loop(mgr: Path, w1: Path, w2: Path, tmp: Path, watches: list[Watch]) -> None:
    # 1. Sync
    for wt in (mgr, w1, w2):
        run("git pull origin main", wt)
    # 2. Announce session: handshake + peers; the session guard needs its receipt
    for wt, agent in ((mgr, MGR), (w1, E1), (w2, E2)):
        out = run(f"python -m tools.agent.session_boot --agent {agent}", wt).stdout
        assert "Logged handshake" in out
        assert (wt / f"_report/session/{agent}/manager-report-tail.txt").is_file()
    handshakes = [e for e in jsonl(w2 / "_bus/events/events.jsonl") if e["event"] == "handshake"]
    assert {e["branch_prefix"] for e in handshakes} == {f"agent/{a}/" for a in (MGR, E1, E2)}

    # 3. Managers assign tasks; engineers acknowledge
    run(
        f"python -m tools.agent.task_assign --task QUEUE-001 --engineer {E1} "
        f"--plan _plans/{PLAN1}.plan.json",
        mgr,
    )
    run(f"python -m tools.agent.task_assign --task QUEUE-002 --engineer {E2} --plan {PLAN2}", mgr)
    run("repobus ack --task QUEUE-001", w1)
    run('python -m tools.agent.bus_event log --event status --summary "ack QUEUE-002"', w2)
    tasks = json.loads((mgr / "agents/tasks/tasks.json").read_text())["tasks"]
    assert [(t["id"], t["plan_id"]) for t in tasks] == [("QUEUE-001", PLAN1), ("QUEUE-002", PLAN2)]

    # 4. Review queue (queue/, _bus/claims/, _bus/messages/, _bus/events/)
    assert sorted(p.name for p in (w1 / "queue").iterdir()) == [
        "QUEUE-001.md",
        "QUEUE-002.md",
        "QUEUE-003.md",
    ]
    assert json.loads((w1 / "_bus/assignments/QUEUE-001.json").read_text())["engineer"] == E1
    assert jsonl(w1 / "_bus/messages/QUEUE-001.jsonl")[0]["type"] == "assignment"
    assert jsonl(w1 / f"_bus/messages/agent-{E1}.jsonl")[0]["summary"] == f"Assigned to {E1}"
    assert list((w1 / "_bus/claims").iterdir()) == []
    assert "new=1" in run("python -m tools.agent.bus_inbox --mark-read", w1).stdout
    assert "QUEUE-001      assigned  to codex-1" in run("repobus queue", w1).stdout

    # 5. Claim (engineer role) and keep bus_watch open
    watch = Watch("python -m tools.agent.bus_watch --limit 20 --follow", mgr)
    watches.append(watch)
    watch2 = Watch("python -m tools.agent.bus_watch --limit 20 --follow", w2)
    watches.append(watch2)
    run(f"tools/agent/bus_claim.py claim --task QUEUE-001 --plan _plans/{PLAN1}.plan.json", w1)
    run(f"tools/agent/bus_claim.py claim --task QUEUE-002 --plan _plans/{PLAN2}.plan.json", w2)
    dup = run("tools/agent/bus_claim.py claim --task QUEUE-001", w2, expect=1)
    assert f"task QUEUE-001 already claimed by {E1}" in dup.stderr
    assert json.loads((w2 / "_bus/claims/QUEUE-001.json").read_text())["agent_id"] == E1

    # 6. Plan modifications under _plans/ + justification
    run(
        f'repobus plan new --task QUEUE-001 --title "Anchors append guard" --id {PLAN1} '
        '--step "write tests" --step "add the guard" '
        '--justification "appends to anchors were never checked"',
        w1,
    )
    run(
        f'repobus plan new --task QUEUE-002 --title "Collaboration docs" --id {PLAN2} '
        '--step "write docs/collab-support.md"',
        w2,
    )
    plan1 = json.loads((w1 / f"_plans/{PLAN1}.plan.json").read_text())
    assert {"type": "bus", "ref": "_bus/claims/QUEUE-001.json"} in plan1["links"]

    # 7. Implement on agent/<id>/<slug>, receipts under _report/agent/<id>/ and _report/runner/
    run("repobus branch queue-001", w1)
    (w1 / "anchors.py").write_text("def append(xs, x):\n    assert x not in xs\n")
    (w1 / "pytest.txt").write_text("2 passed\n")
    (w1 / "run.log").write_text("runner ok\n")
    run("repobus receipt add pytest.txt --kind agent --task QUEUE-001", w1)
    run("repobus receipt add run.log --kind runner --task QUEUE-001", w1)
    receipt = "_report/agent/codex-1/QUEUE-001/pytest.txt"
    run(f"repobus plan step {PLAN1} S1 --receipt {receipt}", w1)
    run(f"repobus plan step {PLAN1} S2 --receipt _report/runner/QUEUE-001/run.log", w1)
    git(w1, "add", "anchors.py", "_plans", "_report/agent", "_report/runner")
    git(w1, "commit", "-qm", "QUEUE-001: anchors append guard")
    push = subprocess.run(
        ["git", "push", "-u", "origin", "agent/codex-1/queue-001"],
        cwd=w1,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert push.returncode == 0 and "holds no active claim" not in push.stderr, push.stderr
    refused = subprocess.run(
        ["git", "push", "origin", "HEAD:refs/heads/agent/codex-2/sneaky"],
        cwd=w1,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "outside agent/codex-1/" in refused.stderr

    # 8. Log events and message responses; cross-audit
    run(
        'tools/agent/bus_event.py log --event proposal --summary "guard + tests ready" '
        f"--task QUEUE-001 --plan {PLAN1} --receipt {receipt}",
        w1,
    )
    run(
        "python -m tools.agent.bus_message --task QUEUE-001 --type status "
        f'--summary "ready for review" --receipt {receipt}',
        w1,
    )
    run(
        'python -m tools.agent.bus_event log --event audit --summary "reviewed the anchors plan" '
        f"--extra reviewer={E2} reviewed_task=QUEUE-001",
        w2,
    )

    # 9. Open draft PR with plan, justification, receipts (a recording gh on PATH)
    ghdir = tmp / "gh-bin"
    ghdir.mkdir()
    (ghdir / "gh").write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$GH_LOG"\necho "https://github.com/acme/teof/pull/7"\n'
    )
    (ghdir / "gh").chmod(0o755)
    gh_log = tmp / "gh-argv.txt"
    run(
        "repobus pr --label codex::tests",
        w1,
        PATH=f"{ghdir}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        GH_LOG=str(gh_log),
    )
    argv = gh_log.read_text().splitlines()
    assert argv[:3] == ["pr", "create", "--draft"] and "codex::tests" in argv
    body = (w1 / argv[argv.index("--body-file") + 1]).read_text()
    assert "appends to anchors were never checked" in body and receipt in body
    watch.wait_for("pr_opened")
    run("repobus check --pr main..agent/codex-1/queue-001", w1)

    # The crash: codex-2 logs, then vanishes; codex-1 pauses its claim with notes, takes over
    run(
        'python -m tools.agent.bus_event log --event status --summary "docs half written" '
        "--task QUEUE-002",
        w2,
    )
    watch2.stop(kill=True)
    pause = (
        "tools/agent/bus_claim.py claim --task QUEUE-002 --status paused "
        '--notes "codex-2 vanished mid-task; docs half written, nothing pushed"'
    )
    early = run(pause, w1, expect=1)  # codex-2 was heard from seconds ago: no evidence yet
    assert "codex-2 holds it" in early.stderr and "pausing becomes possible at" in early.stderr
    git(w1, "config", "repobus.pauseSilence", "0")  # stands for 15 minutes of codex-2's silence
    run(pause, w1)
    paused = json.loads(
        run("tools/agent/bus_status.py --limit 20 --agent codex-2 --active-only --json", w1).stdout
    )
    assert paused["claims"][0]["status"] == "paused" and paused["claims"][0]["by"] == E1
    out = run("tools/agent/bus_claim.py claim --task QUEUE-002", w1).stdout
    assert "Took over QUEUE-002 from codex-2" in out
    run(f"python -m tools.agent.task_assign --task QUEUE-002 --engineer {E1} --force", mgr)
    back = run(
        'python -m tools.agent.bus_event log --event status --summary "still here" '
        "--task QUEUE-002",
        w2,
        expect=1,
    )
    assert f"claimed by {E1}" in back.stderr
    assert jsonl(w2 / f"_report/agent/{E2}/errors.jsonl")[-1]["claim_owner"] == E1
    git(mgr, "branch", "agent/codex-2/queue-002", "main")
    stale_pr = run("repobus check --pr main..agent/codex-2/queue-002", mgr, expect=1)
    assert f"claimed by {E1}" in stale_pr.stdout

    # codex-1 finishes QUEUE-002 in its own new worktree; no gh here: body file + instructions
    w3 = Path(json.loads(run("repobus branch queue-002 --worktree --json", w1).stdout)["worktree"])
    run(f"python -m tools.agent.session_boot --agent {E1}", w3)
    (w3 / "docs.md").write_text("# Collaboration\n")
    git(w3, "add", "docs.md")
    git(w3, "commit", "-qm", "QUEUE-002: docs")
    nogh = tmp / "no-gh"
    nogh.mkdir()
    no_pr = run(
        "repobus pr --task QUEUE-002",
        w3,
        PATH=f"{nogh}{os.pathsep}{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
    ).stdout
    assert "gh (the GitHub CLI) is not on PATH" in no_pr
    assert (w3 / "_report/agent/codex-1/pr/QUEUE-002-pr-body.md").is_file()
    run('bus_event log --event pr_opened --task QUEUE-002 --pr 8 --summary "Draft PR opened"', w3)

    # Self-audit and cross-audit views
    status = run("tools/agent/bus_status.py --limit 20 --agent codex-1 --active-only", mgr).stdout
    assert "QUEUE-001 [active] by codex-1" in status and "QUEUE-002 [active] by codex-1" in status
    replay = run(
        "python -m tools.agent.bus_watch --limit 20 --agent codex-2 --event status "
        "--since 2000-01-01T00:00:00Z",
        mgr,
    ).stdout
    assert "ack QUEUE-002" in replay and "docs half written" in replay
    assert "proposal" not in replay
    watch.wait_for(":: codex-2 :: status :: task=QUEUE-002 :: docs half written")

    # 10. Managers run reports and post consensus
    run("python -m tools.agent.manager_report", mgr)
    reports = list((mgr / "_report/manager").glob("manager-report-*.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    assert "QUEUE-002: codex-1 [active]" in text and "PR 7" in text
    assert "reviewed the anchors plan" in text
    run("python -m tools.agent.manager_report --consensus", mgr)
    lane = jsonl(mgr / "_bus/messages/manager-report.jsonl")
    assert lane[-1]["type"] == "consensus" and lane[-1]["from"] == MGR
    assert run("repobus heartbeat", mgr).returncode == 0

    # Failure mode: two agents grab one task at the same instant: exactly one wins
    procs = [
        subprocess.Popen(
            argv_of("tools/agent/bus_claim.py claim --task QUEUE-003 --allow-unassigned"),
            cwd=wt,
            env=env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for wt in (mgr, w1)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outs
    winner = mgr if codes[0] == 0 else w1
    assert "already claimed by" in outs[codes.index(1)][1]
    run("bus_claim release --task QUEUE-003 --status released", winner)

    # Memory: tie a human approval to the bus receipt
    run(
        'repobus memory log --summary "Human approved QUEUE-001 for merge" --last-event '
        "--task QUEUE-001 --event pr_opened",
        w1,
    )

    # 11. Release once merged, then wrap the session
    run("bus_claim release --task QUEUE-001 --status done", w1)
    run('session_boot --summary "session wrap"', w1)
    closed = run("python -m tools.agent.bus_event log --event status --summary late", w1, expect=1)
    assert "session guard" in closed.stderr and "closed" in closed.stderr

    _assert_left_behind(mgr, w1, w2, w3)


def _assert_left_behind(mgr: Path, w1: Path, w2: Path, w3: Path) -> None:
    refs = set(git(mgr, "for-each-ref", "--format=%(refname)", "refs/repobus/").splitlines())
    for ref in (
        "claims/QUEUE-001",
        "claims/QUEUE-002",
        "claims/QUEUE-003",
        "assignments/QUEUE-001",
        "assignments/QUEUE-002",
        f"events/{MGR}",
        f"events/{E1}",
        f"events/{E2}",
        f"messages/{MGR}",
        f"messages/{E1}",
    ):
        assert f"refs/repobus/{ref}" in refs, ref
    q1 = json.loads((w1 / "_bus/claims/QUEUE-001.json").read_text())
    assert (q1["status"], q1["agent_id"], q1["fencing_token"]) == ("done", E1, 1)
    assert q1["released_at"] and q1["plan_id"] == PLAN1
    q2 = json.loads((w1 / "_bus/claims/QUEUE-002.json").read_text())
    assert (q2["status"], q2["agent_id"], q2["fencing_token"]) == ("active", E1, 2)
    assert q2["notes"].startswith("codex-2 vanished")
    from repobus.bus import open_bus

    ops = [s.record.get("op") for s in open_bus(mgr).store.history("claims", "QUEUE-002")]
    assert ops == ["claim", "pause", "takeover"]
    events = jsonl(mgr / "_bus/events/events.jsonl")
    kinds = [e["event"] for e in events]
    for kind in ("handshake", "ack", "status", "proposal", "audit", "pr_opened"):
        assert kind in kinds, kind
    prs = {e["task_id"]: e["pr"] for e in events if e["event"] == "pr_opened"}
    assert prs == {"QUEUE-001": "7", "QUEUE-002": "8"}
    memory = jsonl(w1 / "memory/log.jsonl")
    assert memory[0]["ref"].startswith("_bus/events/events.jsonl#sha256:")
    tail = (w1 / "_report/session/codex-1/manager-report-tail.txt").read_text()
    assert "# closed_at=" in tail
    assert (w3 / "_report/session/codex-1/manager-report-tail.txt").is_file()
    assert git(mgr, "ls-remote", "origin", "refs/heads/agent/codex-1/queue-001")
    assert "_bus" not in git(w1, "status", "--porcelain")
    assert run("repobus verify", mgr).returncode == 0
    assert run("repobus check", mgr).returncode == 0
    assert run("repobus plan check", w1).returncode == 0
    assert run("repobus check", w1).returncode == 0  # memory/log.jsonl references resolve
