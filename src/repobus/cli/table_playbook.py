"""The playbook's commands: session, identity, assignment, queue, messages, plans, receipts,
branches, draft PRs, manager report, heartbeat, memory, hooks, and `check --pr`."""

from __future__ import annotations

from repobus.cli.spec import Arg, Command, Opt
from repobus.records.lease import MANAGER_WINDOW_MINUTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

_TASK = Opt("--task", required=True, metavar="TASK", help="Task id, e.g. QUEUE-001.")
_PLAN = Opt("--plan", metavar="PLAN", help="Plan id or _plans/<id>.plan.json.")
_STALE = (
    Opt(
        "--allow-stale-session",
        "flag",
        help="Proceed without a fresh session (recorded as session_override).",
    ),
    Opt(
        "--session-max-age",
        "int",
        metavar="SECONDS",
        help="Session freshness for this command (default repobus.sessionMaxAge, 1h).",
    ),
)
_M = "repobus.cli.cmd_session"
_T = "repobus.cli.cmd_tasks"
_W = "repobus.cli.cmd_work"
_R = "repobus.cli.cmd_manager"

_COMMANDS = [
    Command(
        "boot",
        "Announce a session: sync, handshake, peers, session receipt.",
        f"{_M}:boot",
        opts=(
            Opt(
                "--summary",
                default="Session handshake",
                metavar="TEXT",
                help='"session wrap" closes the session.',
            ),
            Opt("--focus", metavar="TEXT"),
            Opt("--no-sync", "flag", help="Do not git pull / sync the bus."),
            Opt("--allow-dirty", "flag", help="Sync even with uncommitted tracked changes."),
            Opt("--no-announce", "flag", help="No handshake event."),
            Opt("--wrap", "flag", help='Close the session (same as --summary "session wrap").'),
            Opt(
                "--tail-count",
                "int",
                default=10,
                metavar="N",
                help="Manager-report messages copied into the receipt.",
            ),
            Opt("--with-status", "flag", help="Also print the status table."),
            Opt("--confidence", metavar="0..1"),
            Opt("--confidence-note", metavar="TEXT"),
        ),
        doc="Start (or wrap up) an agent session: git pull --ff-only (a dirty tree is refused "
        "unless --allow-dirty), sync the bus, log a handshake with branch_prefix, list the "
        "peers (other agents' active and paused claims, last seen, stale ones flagged) and "
        "write the session receipt _report/session/<id>/manager-report-tail.txt that the "
        "session guard (git config repobus.sessionGuard) requires before bus writes.",
        examples=(
            "repobus boot --agent codex-2",
            'repobus boot --summary "session wrap"',
            "repobus boot --no-sync --focus docs --json",
        ),
    ),
    Command(
        "manifest list",
        "List AGENT_MANIFEST.<id>.json variants.",
        f"{_M}:manifest_list",
        needs_agent=False,
        reads=True,
        examples=("repobus manifest list",),
    ),
    Command(
        "manifest use",
        "Make a variant this worktree's AGENT_MANIFEST.json (with backup).",
        f"{_M}:manifest_use",
        args=(Arg("id", help="codex-4 or AGENT_MANIFEST.codex-4.json"),),
        opts=(Opt("--no-backup", "flag"),),
        needs_agent=False,
        examples=("repobus manifest use codex-4",),
    ),
    Command(
        "manifest restore",
        "Restore AGENT_MANIFEST.json from the latest backup.",
        f"{_M}:manifest_restore",
        needs_agent=False,
        examples=("repobus manifest restore",),
    ),
    Command(
        "assign",
        "Assign a task to an engineer (manager).",
        f"{_T}:assign",
        opts=(
            _TASK,
            Opt("--engineer", required=True, metavar="ID"),
            _PLAN,
            Opt("--branch", metavar="BRANCH"),
            Opt("--note", metavar="TEXT"),
            Opt("--manager", metavar="ID", help="Acting manager (same as --agent)."),
            Opt("--force", "flag", help="Re-assign a task assigned or claimed elsewhere."),
            *_STALE,
        ),
        doc="Write _bus/assignments/<TASK>.json, post the assignment message to the task thread "
        "and the engineer's inbox, and upsert agents/tasks/tasks.json. Taking a task from "
        "another engineer or a claim holder needs --force and names who holds it.",
        examples=(
            "repobus assign --task QUEUE-001 --engineer codex-2 --plan 2025-09-17-anchors",
            "repobus assign --task QUEUE-001 --engineer codex-3 --force",
        ),
    ),
    Command(
        "ack",
        "Acknowledge your assignment (engineer).",
        f"{_T}:ack",
        opts=(_TASK, Opt("--note", metavar="TEXT"), *_STALE),
        examples=("repobus ack --task QUEUE-001",),
    ),
    Command(
        "queue",
        "Tasks of queue/ with their state on the bus.",
        f"{_T}:queue",
        opts=(
            Opt(
                "--state",
                "multi",
                metavar="STATE",
                help="open, assigned, claimed, paused, held, stale or done (repeatable).",
            ),
        ),
        needs_agent=False,
        reads=True,
        examples=("repobus queue", "repobus queue --state open --json"),
    ),
    Command(
        "send",
        "Post a message to a task thread (and an agent's inbox).",
        f"{_T}:send",
        opts=(
            _TASK,
            Opt("--type", required=True, metavar="TYPE"),
            Opt("--summary", required=True, metavar="TEXT"),
            Opt("--to", metavar="AGENT", help="Also deliver to this agent's inbox."),
            Opt("--meta", "multi", metavar="K=V"),
            Opt("--receipt", "multi", metavar="PATH"),
            Opt("--note", metavar="TEXT"),
            Opt("--branch", metavar="BRANCH"),
            _PLAN,
            Opt("--fence", "int", metavar="N"),
            *_STALE,
        ),
        examples=(
            'repobus send --task QUEUE-001 --type status --summary "tests green"',
            'repobus send --task manager-report --type consensus --summary "ready"',
            'repobus send --task QUEUE-001 --type request --summary "review?" --to codex-1',
        ),
    ),
    Command(
        "inbox",
        "Your inbox, unread first marked; --mark-read moves your cursor.",
        f"{_T}:inbox",
        opts=(
            Opt("--limit", "int", default=10, metavar="N"),
            Opt("--mark-read", "flag"),
            Opt("--unread", "flag", help="Only unread messages."),
            Opt(
                "--capture-receipt", "flag", help="Write _report/session/<id>/agent-inbox-tail.txt."
            ),
            Opt("--receipt", metavar="PATH"),
            Opt("--state", metavar="PATH"),
        ),
        reads=True,
        examples=("repobus inbox", "repobus inbox --mark-read --json"),
    ),
    Command(
        "plan new",
        "Write _plans/<id>.plan.json for a task.",
        f"{_W}:plan_new",
        opts=(
            _TASK,
            Opt("--title", required=True, metavar="TEXT"),
            Opt("--id", metavar="PLAN_ID", help="Default: <date>-<title slug>."),
            Opt("--step", "multi", metavar="TEXT", help="A step (repeatable)."),
            Opt("--justification", metavar="TEXT"),
        ),
        examples=(
            'repobus plan new --task QUEUE-001 --title "Anchor guard" --step "tests" '
            '--step "guard" --justification "appends were unchecked"',
        ),
    ),
    Command(
        "plan check",
        "Validate plans: steps, receipts, bus links (exit 1 on problems).",
        f"{_W}:plan_check",
        args=(Arg("plan", required=False, help="Plan id or path."),),
        needs_agent=False,
        reads=True,
        examples=("repobus plan check", "repobus plan check 2025-09-17-anchors"),
    ),
    Command(
        "plan step",
        "Set a plan step's status and receipts.",
        f"{_W}:plan_step",
        args=(Arg("plan"), Arg("step")),
        opts=(
            Opt("--status", default="done", metavar="STATUS"),
            Opt("--receipt", "multi", metavar="PATH"),
        ),
        needs_agent=False,
        examples=(
            "repobus plan step 2025-09-17-anchors S1 --receipt "
            "_report/agent/codex-2/QUEUE-001/pytest.txt",
        ),
    ),
    Command(
        "receipt add",
        "Store a receipt under _report/ with its sha256.",
        f"{_W}:receipt_add",
        args=(Arg("path"),),
        opts=(
            Opt(
                "--kind",
                "choice",
                default="agent",
                choices=("agent", "runner", "planner"),
                metavar="agent|runner|planner",
            ),
            Opt("--task", metavar="TASK"),
            Opt("--name", metavar="FILE"),
        ),
        examples=("repobus receipt add pytest.txt --kind agent --task QUEUE-001",),
    ),
    Command(
        "branch",
        "Create/switch to agent/<id>/<slug> (optionally in a new worktree).",
        f"{_W}:branch",
        args=(Arg("slug"),),
        opts=(
            Opt("--worktree", "flag"),
            Opt("--path", metavar="DIR"),
            Opt("--base", metavar="REV"),
        ),
        examples=("repobus branch queue-001", "repobus branch queue-001 --worktree"),
    ),
    Command(
        "pr",
        "Open a draft PR (gh) or write its body: plan, justification, receipts, claim.",
        f"{_W}:pr",
        opts=(
            Opt("--task", metavar="TASK", help="Default: the task your branch's claim names."),
            Opt(
                "--label",
                "multi",
                metavar="LABEL",
                help="codex::docs, codex::tests, codex::refactor (repeatable).",
            ),
            Opt("--title", metavar="TEXT"),
            Opt("--base", metavar="BRANCH"),
            Opt("--justification", metavar="TEXT"),
            Opt("--dry-run", "flag", help="Print the body; run nothing, log nothing."),
            *_STALE,
        ),
        examples=("repobus pr --label codex::tests", "repobus pr --task QUEUE-001 --dry-run"),
    ),
    Command(
        "report",
        "Write the manager report; --consensus posts the consensus message.",
        f"{_R}:report",
        opts=(
            Opt("--manager", metavar="ID", help="Acting manager (same as --agent)."),
            Opt("--consensus", "flag", help="Post a consensus message to manager-report."),
            Opt("--log-heartbeat", "flag", help="Log a status event (manager heartbeat)."),
            Opt("--heartbeat-summary", default="Manager report generated", metavar="TEXT"),
            Opt("--heartbeat-meta", "multi", metavar="K=V"),
            *_STALE,
        ),
        examples=("repobus report", "repobus report --manager codex-manager --consensus"),
    ),
    Command(
        "heartbeat",
        "Missing managers and idle agents; exit 1 at --fail-on severity.",
        f"{_R}:heartbeat",
        opts=(
            Opt("--manager-window", default=f"{MANAGER_WINDOW_MINUTES:g}", metavar="MIN"),
            Opt(
                "--agent-window",
                metavar="MIN",
                help="Idle after MIN minutes (default repobus.staleAfter, 4h); 0: no check.",
            ),
            Opt("--now", metavar="ISO"),
            Opt("--task", metavar="TASK"),
            _PLAN,
            Opt("--branch", metavar="BRANCH"),
            Opt("--alert-dir", metavar="DIR"),
            Opt("--message-task", default="manager-report", metavar="TASK"),
            Opt("--message-type", default="status", metavar="TYPE"),
            Opt("--note", metavar="TEXT"),
            Opt("--dry-run", "flag", help="Write the receipt only; nothing on the bus."),
            Opt("--no-bus-event", "flag"),
            Opt("--no-bus-message", "flag"),
            Opt(
                "--fail-on",
                "choice",
                default="high",
                choices=("never", "medium", "high"),
                metavar="never|medium|high",
            ),
        ),
        doc="Managers (manifests with the manager role, assignment managers) whose last "
        "handshake/status event is missing or older than --manager-window, and agents "
        "holding claims with no activity within --agent-window. Writes a receipt; with "
        "alerts, logs an alert event and a manager-report message. Exits 1 when the "
        "severity reaches --fail-on (high: a manager alert), for CI.",
        examples=("repobus heartbeat", "repobus heartbeat --dry-run --fail-on medium --json"),
    ),
    Command(
        "stale",
        "Active claims whose holder was silent too long; --release releases them.",
        f"{_R}:stale",
        opts=(
            Opt(
                "--threshold-hours",
                metavar="HOURS",
                help="Silent for HOURS (default repobus.staleAfter, 4h).",
            ),
            Opt("--fail-on-stale", "flag"),
            Opt("--release", "flag", help="Release the stale claims of --agent."),
        ),
        reads=True,
        examples=("repobus stale", "repobus stale --agent codex-2 --release"),
    ),
    Command(
        "memory log",
        "Append an approval to memory/log.jsonl citing bus receipts.",
        f"{_R}:memory_log",
        opts=(
            Opt("--summary", required=True, metavar="TEXT"),
            Opt(
                "--ref",
                "multi",
                metavar="REF",
                help="_bus/events/events.jsonl#sha256:..., _bus/claims/T.json, a file.",
            ),
            Opt("--last-event", "flag", help="Cite your latest event (see --task, --event)."),
            Opt("--task", metavar="TASK"),
            Opt("--event", metavar="EVENT"),
            Opt("--note", metavar="TEXT"),
        ),
        examples=(
            'repobus memory log --summary "approved QUEUE-001" --last-event --task QUEUE-001',
            'repobus memory log --summary "ok" --ref _bus/claims/QUEUE-001.json',
        ),
    ),
    Command(
        "hook pre-push",
        "The pre-push hook: refuse branches outside agent/<id>/.",
        "repobus.cli.cmd_setup:pre_push",
        args=(Arg("remote", required=False), Arg("url", required=False)),
        examples=("repobus hook pre-push origin git@host:repo.git < refs",),
    ),
    Command(
        "mirror",
        "Refresh the read-only _bus/ mirror (--rebuild: whole; hand-appended lines stay).",
        f"{_R}:mirror",
        opts=(Opt("--rebuild", "flag"),),
        needs_agent=False,
        reads=True,
        examples=("repobus mirror", "repobus mirror --rebuild"),
    ),
]

COMMANDS = _COMMANDS
