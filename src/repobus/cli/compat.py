"""The original `tools/agent/*.py` command lines (FORMATS §1-§19), handed to repobus.

Each tool's flags are parsed as the original parsed them (argparse: usage errors exit 2),
translated to one repobus command, and run through the same dispatch as `repobus` itself
(identity, session guard, mirror).  Exit codes follow the originals: 0 ok, 2 usage, 1 for
every refusal (repobus's finer codes 3-6 become 1), 130 interrupted, 70 a bug.  Messages keep
the original substrings (`agent id required`, `claimed by`, `agent mismatch`,
`session guard`, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]


def _parser(tool: str, desc: str = "") -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"python -m tools.agent.{tool}", description=desc)


def _session_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-stale-session", action="store_true")
    p.add_argument("--session-max-age", type=int)


def _common(a: argparse.Namespace) -> dict[str, Any]:
    out = {
        "allow_stale_session": getattr(a, "allow_stale_session", False),
        "session_max_age": getattr(a, "session_max_age", None),
    }
    if getattr(a, "agent", None) is not None:
        out["agent"] = a.agent
    return out


# -- bus_claim ------------------------------------------------------------------------------


def bus_claim(argv: list[str]) -> Plan:
    p = _parser("bus_claim", "Claim or release a task on the coordination bus.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("claim")
    c.add_argument("--task", required=True)
    c.add_argument("--plan")
    c.add_argument("--agent")
    c.add_argument("--branch")
    c.add_argument("--status", default="active")
    c.add_argument("--notes")
    c.add_argument("--clear-notes", action="store_true")
    c.add_argument("--allow-unassigned", action="store_true")
    c.add_argument("--ttl")
    _session_opts(c)
    r = sub.add_parser("release")
    r.add_argument("--task", required=True)
    r.add_argument("--status", default="done")
    r.add_argument("--agent")
    r.add_argument("--notes")
    _session_opts(r)
    a = p.parse_args(argv)
    if a.status not in ("active", "paused", "released", "done"):
        raise _Refusal("status must be one of ['active', 'done', 'paused', 'released']")
    base = {"task": a.task, **_common(a)}
    if a.status == "paused":
        if not a.notes:
            raise _Refusal("pausing a claim needs --notes saying why (what state the work is in)")
        return [("pause", {**base, "notes": a.notes})]
    if a.cmd == "release" or a.status in ("done", "released"):
        if a.status == "active":
            raise _Refusal("release --status active: use `bus_claim claim` to (re)activate")
        return [("release", {**base, "status": a.status, "notes": a.notes})]
    return [
        (
            "claim",
            {
                **base,
                "plan": a.plan,
                "branch": a.branch,
                "notes": a.notes,
                "clear_notes": a.clear_notes,
                "allow_unassigned": a.allow_unassigned,
                "ttl": a.ttl,
            },
        )
    ]


# -- bus_event ------------------------------------------------------------------------------


def bus_event(argv: list[str]) -> Plan:
    p = _parser("bus_event", "Log an event on the coordination bus.")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("log")
    g.add_argument("--event", required=True)
    g.add_argument("--summary", required=True)
    for flag in (
        "--task",
        "--plan",
        "--branch",
        "--pr",
        "--receipt",
        "--severity",
        "--agent",
        "--consensus-decision",
        "--consensus-output",
    ):
        g.add_argument(flag)
    g.add_argument("--extra", nargs="*", default=[])
    g.add_argument("--consensus-meta", nargs="*", default=[])
    _session_opts(g)
    a = p.parse_args(argv)
    extra = list(a.extra or [])
    if a.consensus_decision:
        extra.append(f"consensus_decision={a.consensus_decision}")
    if a.consensus_output:
        extra.append(f"consensus_output={a.consensus_output}")
    extra += [f"consensus_{item}" for item in a.consensus_meta or []]
    return [
        (
            "log",
            {
                "event": a.event,
                "summary": a.summary,
                "task": a.task,
                "plan": a.plan,
                "branch": a.branch,
                "pr": a.pr,
                "receipt": a.receipt,
                "severity": a.severity,
                "extra": extra,
                **_common(a),
            },
        )
    ]


# -- bus_message ----------------------------------------------------------------------------


def bus_message(argv: list[str]) -> Plan:
    p = _parser("bus_message", "Post a message to a task thread.")
    p.add_argument("--task", required=True)
    p.add_argument("--type", required=True)
    p.add_argument("--summary", required=True)
    for flag in ("--agent", "--branch", "--plan", "--note", "--target"):
        p.add_argument(flag)
    p.add_argument("--receipt", action="append", default=[])
    p.add_argument("--meta", action="append", default=[])
    _session_opts(p)
    a = p.parse_args(argv)
    if a.target is not None and not a.target.strip():
        raise _Refusal("--target must be a non-empty agent id")
    return [
        (
            "send",
            {
                "task": a.task,
                "type": a.type,
                "summary": a.summary,
                "branch": a.branch,
                "plan": a.plan,
                "note": a.note,
                "to": a.target,
                "receipt": a.receipt,
                "meta": a.meta,
                **_common(a),
            },
        )
    ]


# -- bus_status, bus_watch, bus_inbox ---------------------------------------------------------


def bus_status(argv: list[str]) -> Plan:
    p = _parser("bus_status", "Summarise claims and recent events.")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--agent", action="append", default=[])
    p.add_argument("--active-only", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--since")
    p.add_argument("--summary", action="store_true")
    p.add_argument("--preset")
    a = p.parse_args(argv)
    if a.since is not None:
        from repobus.records.times import parse_or_none

        if parse_or_none(a.since) is None:
            p.error("--since must be ISO8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    return [
        (
            "status",
            {
                "limit": a.limit,
                "agent": a.agent,
                "active_only": a.active_only,
                "json": a.json,
                "since": a.since,
            },
        )
    ]


def bus_watch(argv: list[str]) -> Plan:
    p = _parser("bus_watch", "Show (and follow) the event log.")
    p.add_argument("--since")
    p.add_argument("--agent", action="append", default=[])
    p.add_argument("--event", action="append", default=[], dest="event_type")
    p.add_argument("--follow", action="store_true")
    p.add_argument("--limit", type=int)
    p.add_argument("--window-hours", type=float, default=24.0)
    a = p.parse_args(argv)
    if a.window_hours < 0:
        p.error("--window-hours must be >= 0")
    from repobus.records import times

    since = times.parse_or_none(a.since) if a.since else None
    if a.since and since is None:
        p.error("--since must be ISO8601 UTC (YYYY-MM-DDTHH:MM:SSZ)")
    if a.window_hours > 0:
        cutoff = times.now() - int(a.window_hours * 3600)
        since = max(since or cutoff, cutoff)
    return [
        (
            "watch",
            {
                "since": times.fmt(since) if since is not None else None,
                "agent": a.agent,
                "event": a.event_type,
                "follow": a.follow,
                "limit": a.limit if a.limit is not None else 1_000_000,
                "poll": "0.5",
            },
        )
    ]


def bus_inbox(argv: list[str]) -> Plan:
    p = _parser("bus_inbox", "Read an agent's inbox.")
    p.add_argument("--agent")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--mark-read", action="store_true")
    p.add_argument("--capture-receipt", dest="capture", action="store_true", default=True)
    p.add_argument("--no-capture-receipt", dest="capture", action="store_false")
    p.add_argument("--receipt")
    p.add_argument("--state")
    a = p.parse_args(argv)
    if a.limit < 0:
        p.error("--limit must be >= 0")
    return [
        (
            "inbox",
            {
                "limit": a.limit,
                "mark_read": a.mark_read,
                "capture_receipt": a.capture,
                "receipt": a.receipt,
                "state": a.state,
                **_common(a),
            },
        )
    ]


# -- bus_heartbeat, stale_claims ------------------------------------------------------------


def bus_heartbeat(argv: list[str]) -> Plan:
    p = _parser("bus_heartbeat", "Report missing managers and idle agents.")
    p.add_argument("--manager-window", type=float, default=30.0)
    p.add_argument("--agent-window", type=float)  # none: repobus.staleAfter
    for flag in ("--now", "--task", "--plan", "--branch", "--agent-id", "--alert-dir", "--note"):
        p.add_argument(flag)
    p.add_argument("--message-task", default="manager-report")
    p.add_argument("--message-type", default="status")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--no-bus-event", action="store_true")
    p.add_argument("--no-bus-message", action="store_true")
    a = p.parse_args(argv)
    agent = a.agent_id
    alert_dir = a.alert_dir
    if alert_dir is None and agent:
        alert_dir = f"_report/agent/{agent}/apoptosis-004/alerts"
    values = {
        "manager_window": str(a.manager_window),
        "agent_window": None if a.agent_window is None else str(a.agent_window),
        "now": a.now,
        "task": a.task,
        "plan": a.plan,
        "branch": a.branch,
        "alert_dir": alert_dir,
        "message_task": a.message_task,
        "message_type": a.message_type,
        "note": a.note,
        "dry_run": a.dry_run,
        "no_bus_event": a.no_bus_event,
        "no_bus_message": a.no_bus_message,
        "fail_on": "never",
    }
    if agent:
        values["agent"] = agent
    return [("heartbeat", values)]


def stale_claims(argv: list[str]) -> Plan:
    p = _parser("stale_claims", "List stale claims.")
    p.add_argument("--agent")
    p.add_argument("--threshold-hours", type=float)  # none: repobus.staleAfter
    p.add_argument("--json", action="store_true")
    p.add_argument("--fail-on-stale", action="store_true")
    p.add_argument("--release", action="store_true")
    a = p.parse_args(argv)
    if a.release and not a.agent:
        raise _Refusal("--release currently requires --agent to avoid releasing other seats")
    return [
        (
            "stale",
            {
                "threshold_hours": None if a.threshold_hours is None else str(a.threshold_hours),
                "json": a.json,
                "fail_on_stale": a.fail_on_stale,
                "release": a.release,
                **_common(a),
            },
        )
    ]


# -- session_boot, task_assign, manager_report ----------------------------------------------


def session_boot(argv: list[str]) -> Plan:
    p = _parser("session_boot", "Announce a session: sync, handshake, peers, receipt.")
    p.add_argument("--agent")
    p.add_argument("--summary", default="Session handshake")
    p.add_argument("--focus")
    p.add_argument("--no-announce", action="store_true")
    p.add_argument("--with-status", action="store_true")
    p.add_argument("--sync", dest="sync", action="store_true", default=True)
    p.add_argument("--no-sync", dest="sync", action="store_false")
    p.add_argument("--sync-allow-dirty", action="store_true")
    for flag in (
        "--status-preset",
        "--status-agent",
        "--receipt",
        "--dashboard-format",
        "--dashboard-receipt",
        "--confidence",
        "--confidence-note",
    ):
        p.add_argument(flag)
    for flag in ("dashboard", "manager-report-tail"):
        p.add_argument(f"--{flag}", action="store_true", default=True)
        p.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false")
    p.add_argument("--manager-report-tail-count", type=int, default=10)
    p.add_argument("--allow-manifest-mismatch", action="store_true")
    p.add_argument("--allow-branch-mismatch", action="store_true")
    a = p.parse_args(argv)
    if a.confidence_note and a.confidence is None:
        p.error("--confidence-note requires --confidence")
    values = {
        "summary": a.summary,
        "focus": a.focus,
        "no_sync": not a.sync,
        "allow_dirty": a.sync_allow_dirty,
        "no_announce": a.no_announce,
        "tail_count": a.manager_report_tail_count,
        "with_status": a.with_status,
        "confidence": a.confidence,
        "confidence_note": a.confidence_note,
    }
    if a.agent:
        values["agent"] = a.agent
    return [("boot", values)]


def task_assign(argv: list[str]) -> Plan:
    p = _parser("task_assign", "Assign a task to an engineer.")
    p.add_argument("--task", required=True)
    p.add_argument("--engineer", required=True)
    for flag in ("--plan", "--branch", "--manager", "--note"):
        p.add_argument(flag)
    p.add_argument("--force", action="store_true")
    _session_opts(p)
    a = p.parse_args(argv)
    values = {
        "task": a.task,
        "engineer": a.engineer,
        "plan": a.plan,
        "branch": a.branch,
        "note": a.note,
        "force": a.force,
        **_common(a),
    }
    if a.manager:
        values["agent"] = a.manager
    return [("assign", values)]


def manager_report(argv: list[str]) -> Plan:
    p = _parser("manager_report", "Write the manager report.")
    p.add_argument("--manager")
    p.add_argument("--log-heartbeat", action="store_true")
    p.add_argument("--heartbeat-summary", default="Manager report generated")
    p.add_argument("--heartbeat-meta", action="append", default=[])
    p.add_argument("--heartbeat-shift")
    p.add_argument("--include-metrics", action="store_true")
    p.add_argument("--metrics-dir", default="_report/reconciliation")
    p.add_argument("--consensus", action="store_true")
    _session_opts(p)
    a = p.parse_args(argv)
    meta = list(a.heartbeat_meta) + ([f"shift={a.heartbeat_shift}"] if a.heartbeat_shift else [])
    values = {
        "consensus": a.consensus,
        "log_heartbeat": a.log_heartbeat,
        "heartbeat_summary": a.heartbeat_summary,
        "heartbeat_meta": meta,
        **_common(a),
    }
    if a.manager:
        values["agent"] = a.manager
    return [("report", values)]


# -- manifest_helper ------------------------------------------------------------------------


def manifest_helper(argv: list[str]) -> Plan:
    p = _parser("manifest_helper", "List and swap AGENT_MANIFEST variants.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    act = sub.add_parser("activate")
    act.add_argument("name")
    act.add_argument("--no-backup", action="store_true")
    sub.add_parser("restore")
    save = sub.add_parser("session-save")
    save.add_argument("label")
    for flag in ("--allow-dirty", "--force", "--no-heartbeat", "--dry-run"):
        save.add_argument(flag, action="store_true")
    save.add_argument("--heartbeat-summary")
    save.add_argument("--heartbeat-meta", action="append", default=[])
    rest = sub.add_parser("session-restore")
    rest.add_argument("label")
    for flag in ("--manifest-only", "--allow-dirty", "--no-backup"):
        rest.add_argument(flag, action="store_true")
    sub.add_parser("session-list")
    dele = sub.add_parser("session-delete")
    dele.add_argument("label")
    a = p.parse_args(argv)
    if a.cmd == "list":
        return [("manifest list", {})]
    if a.cmd == "activate":
        return [("manifest use", {"id": a.name, "no_backup": a.no_backup})]
    if a.cmd == "restore":
        return [("manifest restore", {})]
    return [(f"@{a.cmd}", vars(a))]


TOOLS: dict[str, Callable[[list[str]], Plan]] = {
    "bus_claim": bus_claim,
    "bus_event": bus_event,
    "bus_message": bus_message,
    "bus_status": bus_status,
    "bus_watch": bus_watch,
    "bus_inbox": bus_inbox,
    "bus_heartbeat": bus_heartbeat,
    "stale_claims": stale_claims,
    "session_boot": session_boot,
    "task_assign": task_assign,
    "manager_report": manager_report,
    "manifest_helper": manifest_helper,
}


class _Refusal(Exception):
    """A validation the original raised as SystemExit(message): exit 1, nothing written."""


def _exit_code(code: int) -> int:
    return 1 if code in (3, 4, 5, 6) else code


def run(tool: str, argv: list[str], root: Path | str | None = None) -> int:
    """Run the original tool `tool` with `argv` against the repository at `root`."""
    from repobus.cli.commands import TABLE
    from repobus.cli.runner import dispatch
    from repobus.cli.spec import defaults

    parse = TOOLS.get(tool)
    if parse is None:
        sys.stderr.write(f"error: unknown tool {tool!r}; known: {', '.join(TOOLS)}\n")
        return 2
    try:
        plan = parse(list(argv))
    except SystemExit as exc:  # argparse: usage error (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    except _Refusal as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    code = 0
    for name, given in plan:
        if name.startswith("@"):
            from repobus.cli import compat_sessions

            return compat_sessions.run(name[1:], given, root)
        values = defaults(TABLE[name])
        values.update({k: v for k, v in given.items() if v is not None or k not in values})
        values["repo"] = str(root) if root is not None else None
        values["compat"] = tool
        code = _exit_code(dispatch(TABLE[name], values))
        if code:
            return code
    return code


def main(argv: list[str] | None = None) -> int:
    """`python -m repobus.cli.compat TOOL ARGS...` (what the shims do, without a shim)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(
            f"usage: python -m repobus.cli.compat TOOL [ARGS...]; TOOL is one of "
            f"{', '.join(TOOLS)}\n"
        )
        return 2
    return run(args[0], args[1:], None)


if __name__ == "__main__":
    sys.exit(main())
