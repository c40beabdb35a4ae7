"""The original bus tools' command lines: bus_claim, bus_event, bus_message, bus_status,
bus_watch, bus_inbox (FORMATS §1-§8), each parsed as the original and planned as repobus
commands."""

from __future__ import annotations

from repobus.cli.compat_base import Refusal, common, parser, session_opts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]


# -- bus_claim ------------------------------------------------------------------------------


def bus_claim(argv: list[str]) -> Plan:
    p = parser("bus_claim", "Claim or release a task on the coordination bus.")
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
    session_opts(c)
    r = sub.add_parser("release")
    r.add_argument("--task", required=True)
    r.add_argument("--status", default="done")
    r.add_argument("--agent")
    r.add_argument("--notes")
    session_opts(r)
    a = p.parse_args(argv)
    if a.status not in ("active", "paused", "released", "done"):
        raise Refusal("status must be one of ['active', 'done', 'paused', 'released']")
    base = {"task": a.task, **common(a)}
    if a.status == "paused":
        if not a.notes:
            raise Refusal("pausing a claim needs --notes saying why (what state the work is in)")
        return [("pause", {**base, "notes": a.notes})]
    if a.cmd == "release" or a.status in ("done", "released"):
        if a.status == "active":
            raise Refusal("release --status active: use `bus_claim claim` to (re)activate")
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
    p = parser("bus_event", "Log an event on the coordination bus.")
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
    session_opts(g)
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
                **common(a),
            },
        )
    ]


# -- bus_message ----------------------------------------------------------------------------


def bus_message(argv: list[str]) -> Plan:
    p = parser("bus_message", "Post a message to a task thread.")
    p.add_argument("--task", required=True)
    p.add_argument("--type", required=True)
    p.add_argument("--summary", required=True)
    for flag in ("--agent", "--branch", "--plan", "--note", "--target"):
        p.add_argument(flag)
    p.add_argument("--receipt", action="append", default=[])
    p.add_argument("--meta", action="append", default=[])
    session_opts(p)
    a = p.parse_args(argv)
    if a.target is not None and not a.target.strip():
        raise Refusal("--target must be a non-empty agent id")
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
                **common(a),
            },
        )
    ]


# -- bus_status, bus_watch, bus_inbox ---------------------------------------------------------


def bus_status(argv: list[str]) -> Plan:
    p = parser("bus_status", "Summarise claims and recent events.")
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
    p = parser("bus_watch", "Show (and follow) the event log.")
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
    p = parser("bus_inbox", "Read an agent's inbox.")
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
                **common(a),
            },
        )
    ]
