"""The command table: every command's options, help and examples, declared once."""

from __future__ import annotations

from repobus.cli.spec import Arg, Command, Opt
from repobus.cli.table_status import STATUS

_TASK = Opt("--task", required=True, metavar="TASK", help="Task id, e.g. QUEUE-001.")
_FENCE = Opt(
    "--fence",
    "int",
    metavar="N",
    help="Fencing token from your claim; refused (exit 3) if no longer current.",
)
_OFFLINE = Opt(
    "--offline",
    "flag",
    help="Remote unreachable: record locally; `repobus sync` confirms or rejects it.",
)
_TTL = Opt("--ttl", metavar="DURATION", help="Lease length: 90s, 15m, 2h, 1d (default 2h).")

COMMANDS = [
    Command(
        "init",
        "Set up repobus in this repository (idempotent).",
        "repobus.cli.cmd_setup:init",
        opts=(
            Opt(
                "--backend",
                "choice",
                choices=("git", "dir"),
                metavar="git|dir",
                help="Where the bus lives: refs/repobus/ (git, default) or _bus/ (dir). "
                "Refused (exit 5) on a bus holding records under the other backend, "
                "unless --migrate.",
            ),
            _TTL,
            Opt(
                "--remote",
                metavar="NAME",
                help="Remote that decides every claim (default: origin when present).",
            ),
            Opt("--no-remote", "flag", help="Keep the bus on this clone only."),
            Opt(
                "--migrate",
                "flag",
                help="With --backend: carry every record over to the new backend, then verify.",
            ),
            Opt(
                "--shims",
                "flag",
                help="Write tools/agent/ (the playbook's command lines) "
                "and turn on the playbook's policies.",
            ),
            Opt("--hooks", "flag", help="Install the pre-push hook (agent/<id>/ branches)."),
            Opt(
                "--agents-md",
                "choice",
                choices=("codex", "claude", "both"),
                metavar="codex|claude|both",
                help="Write the agents' instructions into AGENTS.md, CLAUDE.md or both "
                "(between repobus markers; text outside them is kept).",
            ),
        ),
        doc="Write AGENT_MANIFEST.json when it is missing, the repository's repobus config, "
        "and .repobus.toml (commit it: a clone that has it sets itself up from it). "
        "Running it twice changes nothing.",
        examples=(
            "repobus init --agent codex-1",
            "repobus init --remote origin",
            "repobus init --shims --hooks --agent codex-manager",
            "repobus init --backend dir --agent codex-1",
            "repobus init --agents-md both",
        ),
        needs_agent=True,
    ),
    Command(
        "claim",
        "Claim a task: exactly one agent wins.",
        "repobus.cli.cmd_claims:claim",
        opts=(
            _TASK,
            Opt("--plan", metavar="PLAN", help="Plan id or _plans/<id>.plan.json."),
            Opt("--branch", metavar="BRANCH", help="Default: agent/<id>/<task lower-cased>."),
            Opt("--notes", metavar="TEXT"),
            Opt("--clear-notes", "flag"),
            _TTL,
            _OFFLINE,
            Opt(
                "--allow-unassigned",
                "flag",
                help="Claim without an assignment (when repobus.requireAssignment is on).",
            ),
        ),
        doc="Claim TASK as a lease. Prints the lease expiry and the fencing token. If another "
        "agent holds an unexpired, active claim, exits 3 naming holder, branch and expiry. "
        "An expired or paused claim is taken over: the fencing token goes up and the "
        "previous holder is locked out.",
        examples=(
            "repobus claim --task QUEUE-001 --plan 2025-09-17-anchors",
            "repobus claim --task QUEUE-001 --ttl 30m --json",
        ),
    ),
    Command(
        "renew",
        "Extend your lease on a task (heartbeat).",
        "repobus.cli.cmd_claims:renew",
        opts=(_TASK, _TTL, _FENCE, _OFFLINE),
        examples=("repobus renew --task QUEUE-001", "repobus renew --task QUEUE-001 --fence 3"),
    ),
    Command(
        "pause",
        "Pause a claim with notes (another agent's: only once its holder is gone).",
        "repobus.cli.cmd_claims:pause",
        opts=(
            _TASK,
            Opt(
                "--notes", required=True, metavar="TEXT", help="Why, and what state the work is in."
            ),
            _FENCE,
            Opt("--force", "flag", help="Pause another agent's live claim now (needs --reason)."),
            Opt("--reason", metavar="TEXT", help="Why --force: recorded, and sent to the holder."),
            _OFFLINE,
        ),
        doc="The holder may always pause its own claim. Another agent may pause it only when "
        "its lease has expired or its holder has been silent (no renew, event or message) for "
        "repobus.pauseSilence (default 15m); otherwise exits 3 naming the holder, their last "
        "activity and when pausing becomes possible. --force --reason TEXT overrules that: the "
        "reason is recorded on the claim and the holder is sent a message.",
        examples=(
            'repobus pause --task QUEUE-001 --notes "codex-2 crashed; tests half done"',
            'repobus pause --task QUEUE-001 --notes "tests half done" --force --reason '
            '"codex-2 is stuck in a loop"',
        ),
    ),
    Command(
        "release",
        "Release your claim (done, released or paused).",
        "repobus.cli.cmd_claims:release",
        opts=(
            _TASK,
            Opt(
                "--status",
                "choice",
                default="done",
                choices=("done", "released", "paused"),
                metavar="done|released|paused",
            ),
            Opt("--notes", metavar="TEXT"),
            _FENCE,
            _OFFLINE,
        ),
        examples=("repobus release --task QUEUE-001 --status done",),
    ),
    Command(
        "log",
        "Append an event to the bus.",
        "repobus.cli.cmd_events:log",
        opts=(
            Opt("--event", required=True, metavar="EVENT"),
            Opt("--summary", required=True, metavar="TEXT"),
            Opt("--task", metavar="TASK"),
            Opt("--plan", metavar="PLAN"),
            Opt("--branch", metavar="BRANCH"),
            Opt("--pr", metavar="N"),
            Opt("--receipt", metavar="PATH"),
            Opt("--severity", metavar="low|medium|high"),
            Opt("--extra", "nargs", metavar="K=V", help="Extra top-level fields (k=v ...)."),
            _FENCE,
            _OFFLINE,
        ),
        doc="Append one event. Events named status, complete, proposal, pr_opened, audit or "
        "release on a task must come from the claim holder (the original claim guard).",
        examples=(
            'repobus log --event status --summary "tests green" --task QUEUE-001',
            'repobus log --event audit --summary "reviewed" --extra reviewer=codex-2',
        ),
    ),
    STATUS,
    Command(
        "watch",
        "Show events; --follow streams new ones from every worktree.",
        "repobus.cli.cmd_events:watch",
        opts=(
            Opt("--limit", "int", default=20, metavar="N"),
            Opt("--follow", "flag"),
            Opt("--agent", "multi", metavar="ID"),
            Opt("--event", "multi", metavar="EVENT"),
            Opt("--since", metavar="ISO"),
            Opt("--poll", metavar="SECONDS", default="0.1", help="Follow poll interval."),
            Opt(
                "--remote",
                "flag",
                help="With --follow: also poll the remote for other machines' events.",
            ),
            Opt(
                "--interval",
                metavar="SECONDS",
                help="Remote poll interval (default 2, or repobus.fetchInterval).",
            ),
        ),
        reads=True,
        needs_agent=False,
        examples=(
            "repobus watch --limit 20 --follow",
            "repobus watch --event status --agent codex-1",
        ),
    ),
    Command(
        "check",
        "Validate the bus for CI (exit 1 on problems).",
        "repobus.cli.cmd_prcheck:check",
        opts=(
            Opt("--dir", metavar="PATH", help="Check this _bus/ tree instead of the bus."),
            Opt(
                "--pr",
                metavar="BASE..HEAD",
                help="Check a pull request: agent branch, claim held, no duplicate claims.",
            ),
            Opt(
                "--branch",
                metavar="BRANCH",
                help="The PR's branch (default: HEAD's, or $GITHUB_HEAD_REF).",
            ),
        ),
        doc="Everything the original CI checker checked (claims, events, assignments, "
        "messages, directive pointers), plus: no task with two active claims, every hash "
        "chain intact, every memory/log.jsonl reference resolves; with --pr, that the "
        "branch is agent/<id>/... and <id> held an unexpired claim on its task.",
        reads=True,
        needs_agent=False,
        examples=(
            "repobus check",
            "repobus check --dir _bus",
            "repobus check --pr origin/main..HEAD",
        ),
    ),
    Command(
        "verify",
        "Recompute the hash chains; name the first record edited, dropped or reordered.",
        "repobus.cli.cmd_admin:verify",
        reads=True,
        needs_agent=False,
        examples=("repobus verify", "repobus verify --json"),
    ),
    Command(
        "export",
        "Write the _bus/ tree of the bus (for reading, CI and the original scripts).",
        "repobus.cli.cmd_admin:export",
        opts=(Opt("--to", metavar="DIR", help="Destination (default: _bus in this worktree)."),),
        reads=True,
        needs_agent=False,
        examples=("repobus export", "repobus export --to /tmp/bus"),
    ),
    Command(
        "schema",
        "Print the JSON Schema of a stored format.",
        "repobus.cli.cmd_admin:schema",
        args=(Arg("name", required=False, help="manifest, claim, assignment, event or message"),),
        reads=True,
        needs_agent=False,
        examples=("repobus schema claim", "repobus schema"),
    ),
    Command(
        "demo",
        "Three agents in three worktrees race, pause, take over and release.",
        "repobus.cli.cmd_demo:run",
        opts=(Opt("--keep", "flag", help="Keep the temporary repository and print its path."),),
        reads=True,
        needs_agent=False,
        examples=("repobus demo",),
    ),
]


def _extra_tables() -> list[Command]:
    """Command groups declared in their own modules (one module per command group)."""
    import importlib

    out: list[Command] = []
    for module in EXTRA_TABLES:
        try:
            out += importlib.import_module(module).COMMANDS
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return out


# Each module listed here defines COMMANDS, a list of Command.
EXTRA_TABLES: tuple[str, ...] = (
    "repobus.cli.table_remote",
    "repobus.cli.table_playbook",
    "repobus.cli.table_doors",
    "repobus.cli.table_ops",
)

TABLE = {c.name: c for c in [*COMMANDS, *_extra_tables()]}
