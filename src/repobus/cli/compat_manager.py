"""The original manager and session tools' command lines: bus_heartbeat, stale_claims,
session_boot, task_assign, manager_report, manifest_helper (FORMATS §9-§19)."""

from __future__ import annotations

from repobus.cli.compat_base import Refusal, common, parser, session_opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]


# -- bus_heartbeat, stale_claims ------------------------------------------------------------


def bus_heartbeat(argv: list[str]) -> Plan:
    p = parser("bus_heartbeat", "Report missing managers and idle agents.")
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
    p = parser("stale_claims", "List stale claims.")
    p.add_argument("--agent")
    p.add_argument("--threshold-hours", type=float)  # none: repobus.staleAfter
    p.add_argument("--json", action="store_true")
    p.add_argument("--fail-on-stale", action="store_true")
    p.add_argument("--release", action="store_true")
    a = p.parse_args(argv)
    if a.release and not a.agent:
        raise Refusal("--release currently requires --agent to avoid releasing other seats")
    return [
        (
            "stale",
            {
                "threshold_hours": None if a.threshold_hours is None else str(a.threshold_hours),
                "json": a.json,
                "fail_on_stale": a.fail_on_stale,
                "release": a.release,
                **common(a),
            },
        )
    ]


# -- session_boot, task_assign, manager_report ----------------------------------------------


def session_boot(argv: list[str]) -> Plan:
    p = parser("session_boot", "Announce a session: sync, handshake, peers, receipt.")
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
    p = parser("task_assign", "Assign a task to an engineer.")
    p.add_argument("--task", required=True)
    p.add_argument("--engineer", required=True)
    for flag in ("--plan", "--branch", "--manager", "--note"):
        p.add_argument(flag)
    p.add_argument("--force", action="store_true")
    session_opts(p)
    a = p.parse_args(argv)
    values = {
        "task": a.task,
        "engineer": a.engineer,
        "plan": a.plan,
        "branch": a.branch,
        "note": a.note,
        "force": a.force,
        **common(a),
    }
    if a.manager:
        values["agent"] = a.manager
    return [("assign", values)]


def manager_report(argv: list[str]) -> Plan:
    p = parser("manager_report", "Write the manager report.")
    p.add_argument("--manager")
    p.add_argument("--log-heartbeat", action="store_true")
    p.add_argument("--heartbeat-summary", default="Manager report generated")
    p.add_argument("--heartbeat-meta", action="append", default=[])
    p.add_argument("--heartbeat-shift")
    p.add_argument("--include-metrics", action="store_true")
    p.add_argument("--metrics-dir", default="_report/reconciliation")
    p.add_argument("--consensus", action="store_true")
    session_opts(p)
    a = p.parse_args(argv)
    meta = list(a.heartbeat_meta) + ([f"shift={a.heartbeat_shift}"] if a.heartbeat_shift else [])
    values = {
        "consensus": a.consensus,
        "log_heartbeat": a.log_heartbeat,
        "heartbeat_summary": a.heartbeat_summary,
        "heartbeat_meta": meta,
        **common(a),
    }
    if a.manager:
        values["agent"] = a.manager
    return [("report", values)]


# -- manifest_helper ------------------------------------------------------------------------


def manifest_helper(argv: list[str]) -> Plan:
    p = parser("manifest_helper", "List and swap AGENT_MANIFEST variants.")
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
