"""The shim table: the playbook's original `tools/agent/*.py` command lines (FORMATS §1-§19),
declared as data in the command table's vocabulary (cli/spec.py), so the same fast parser and
click app read them.  A tool with subcommands is one `Tool` per subcommand (`bus_claim claim`).

Invariants: each tool takes exactly the original's flags, with the original's defaults; its
handler is the planner (cli/compat_bus.py, cli/compat_manager.py) that turns the parsed values
into repobus commands.  tests/cli/test_parsers.py parses every shim line of the playbook.

Where repobus is stricter than the original, the shim keeps the original's flags and takes the
stricter rule: `bus_claim claim|release --status paused` plans `repobus pause`, which pauses
another agent's active claim only once its lease expired or its holder was silent for
`repobus.pauseSilence` (the original paused any claim at once); the original had no `--force`,
so overruling a live holder is `repobus pause --force --reason TEXT` (docs/playbook.md).
"""

from __future__ import annotations

from repobus.cli.compat_base import SESSION
from repobus.cli.spec import Arg, Command, Opt, Tool
from repobus.records.lease import MANAGER_WINDOW_MINUTES

_BUS = "repobus.cli.compat_bus:"
_MGR = "repobus.cli.compat_manager:"


def _strs(*flags: str) -> tuple[Opt, ...]:
    return tuple(Opt(f) for f in flags)


def _flags(*flags: str) -> tuple[Opt, ...]:
    return tuple(Opt(f, "flag") for f in flags)


def _required(*flags: str) -> tuple[Opt, ...]:
    return tuple(Opt(f, required=True) for f in flags)


_CLAIM = "Claim or release a task on the coordination bus."
_MANIFEST = "List and swap AGENT_MANIFEST variants."

# each tool (or subcommand): its planner and the original's description, in the shims' order
_TOOLS: dict[str, tuple[str, str]] = {
    "bus_claim claim": (_BUS + "claim", _CLAIM),
    "bus_claim release": (_BUS + "release", _CLAIM),
    "bus_event log": (_BUS + "event", "Log an event on the coordination bus."),
    "bus_message": (_BUS + "message", "Post a message to a task thread."),
    "bus_status": (_BUS + "status", "Summarise claims and recent events."),
    "bus_watch": (_BUS + "watch", "Show (and follow) the event log."),
    "bus_inbox": (_BUS + "inbox", "Read an agent's inbox."),
    "bus_heartbeat": (_MGR + "heartbeat", "Report missing managers and idle agents."),
    "stale_claims": (_MGR + "stale", "List stale claims."),
    "session_boot": (_MGR + "boot", "Announce a session: sync, handshake, peers, receipt."),
    "task_assign": (_MGR + "assign", "Assign a task to an engineer."),
    "manager_report": (_MGR + "report", "Write the manager report."),
    "manifest_helper list": (_MGR + "manifest_list", _MANIFEST),
    "manifest_helper activate": (_MGR + "manifest_activate", _MANIFEST),
    "manifest_helper restore": (_MGR + "manifest_restore", _MANIFEST),
    "manifest_helper session-save": (_MGR + "session_save", _MANIFEST),
    "manifest_helper session-restore": (_MGR + "session_restore", _MANIFEST),
    "manifest_helper session-list": (_MGR + "session_list", _MANIFEST),
    "manifest_helper session-delete": (_MGR + "session_delete", _MANIFEST),
}

# each tool's flags, as the original declared them (its defaults included)
_OPTS: dict[str, tuple[Opt, ...]] = {
    "bus_claim claim": (
        *_required("--task"),
        *_strs("--plan", "--agent", "--branch"),
        Opt("--status", default="active"),
        Opt("--notes"),
        *_flags("--clear-notes", "--allow-unassigned"),
        Opt("--ttl"),
        *SESSION,
    ),
    "bus_claim release": (
        *_required("--task"),
        Opt("--status", default="done"),
        *_strs("--agent", "--notes"),
        *SESSION,
    ),
    "bus_event log": (
        *_required("--event", "--summary"),
        *_strs("--task", "--plan", "--branch", "--pr", "--receipt", "--severity", "--agent"),
        *_strs("--consensus-decision", "--consensus-output"),
        Opt("--extra", "nargs"),
        Opt("--consensus-meta", "nargs"),
        *SESSION,
    ),
    "bus_message": (
        *_required("--task", "--type", "--summary"),
        *_strs("--agent", "--branch", "--plan", "--note", "--target"),
        Opt("--receipt", "multi"),
        Opt("--meta", "multi"),
        *SESSION,
    ),
    "bus_status": (
        Opt("--limit", "int", default=10),
        Opt("--agent", "multi"),
        *_flags("--active-only", "--json"),
        Opt("--since"),
        Opt("--summary", "flag"),
        Opt("--preset"),
    ),
    "bus_watch": (
        Opt("--since"),
        Opt("--agent", "multi"),
        Opt("--event", "multi"),
        Opt("--follow", "flag"),
        Opt("--limit", "int"),
        Opt("--window-hours", "float", default=24.0),
    ),
    "bus_inbox": (
        Opt("--agent"),
        Opt("--limit", "int", default=10),
        Opt("--mark-read", "flag"),
        Opt("--capture-receipt", "switch", default=True),
        *_strs("--receipt", "--state"),
    ),
    "bus_heartbeat": (
        Opt("--manager-window", "float", default=MANAGER_WINDOW_MINUTES),
        Opt("--agent-window", "float"),  # none: repobus.staleAfter
        *_strs("--now", "--task", "--plan", "--branch", "--agent-id", "--alert-dir", "--note"),
        Opt("--message-task", default="manager-report"),
        Opt("--message-type", default="status"),
        *_flags("--dry-run", "--no-bus-event", "--no-bus-message"),
    ),
    "stale_claims": (
        Opt("--agent"),
        Opt("--threshold-hours", "float"),  # none: repobus.staleAfter
        *_flags("--json", "--fail-on-stale", "--release"),
    ),
    "session_boot": (
        Opt("--agent"),
        Opt("--summary", default="Session handshake"),
        Opt("--focus"),
        *_flags("--no-announce", "--with-status"),
        Opt("--sync", "switch", default=True),
        Opt("--sync-allow-dirty", "flag"),
        *_strs("--status-preset", "--status-agent", "--receipt", "--dashboard-format"),
        *_strs("--dashboard-receipt", "--confidence", "--confidence-note"),
        Opt("--dashboard", "switch", default=True),
        Opt("--manager-report-tail", "switch", default=True),
        Opt("--manager-report-tail-count", "int", default=10),
        *_flags("--allow-manifest-mismatch", "--allow-branch-mismatch"),
    ),
    "task_assign": (
        *_required("--task", "--engineer"),
        *_strs("--plan", "--branch", "--manager", "--note"),
        Opt("--force", "flag"),
        *SESSION,
    ),
    "manager_report": (
        Opt("--manager"),
        Opt("--log-heartbeat", "flag"),
        Opt("--heartbeat-summary", default="Manager report generated"),
        Opt("--heartbeat-meta", "multi"),
        Opt("--heartbeat-shift"),
        Opt("--include-metrics", "flag"),
        Opt("--metrics-dir", default="_report/reconciliation"),
        Opt("--consensus", "flag"),
        *SESSION,
    ),
    "manifest_helper activate": (Opt("--no-backup", "flag"),),
    "manifest_helper session-save": (
        *_flags("--allow-dirty", "--force", "--no-heartbeat", "--dry-run"),
        Opt("--heartbeat-summary"),
        Opt("--heartbeat-meta", "multi"),
    ),
    "manifest_helper session-restore": _flags("--manifest-only", "--allow-dirty", "--no-backup"),
}

_LABEL = (Arg("label"),)
_ARGS: dict[str, tuple[Arg, ...]] = {
    "manifest_helper activate": (Arg("name"),),
    "manifest_helper session-save": _LABEL,
    "manifest_helper session-restore": _LABEL,
    "manifest_helper session-delete": _LABEL,
}

SHIMS: dict[str, Command] = {
    name: Tool(name, about, planner, opts=_OPTS.get(name, ()), args=_ARGS.get(name, ()))
    for name, (planner, about) in _TOOLS.items()
}

# the original tools, in the order the shims are written
TOOLS: tuple[str, ...] = tuple(dict.fromkeys(name.partition(" ")[0] for name in SHIMS))
