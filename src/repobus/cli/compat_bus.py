"""The planners of the original bus tools: bus_claim, bus_event, bus_message, bus_status,
bus_watch, bus_inbox (FORMATS §1-§8).  Each gets the values the shim table's tool parsed
(cli/compat_tools.py) and plans the repobus commands, with the original's checks."""

from __future__ import annotations

from repobus.cli.compat_base import Refusal, ShimUsage, common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]

_ISO = "--since must be ISO8601 UTC (YYYY-MM-DDTHH:MM:SSZ)"


# -- bus_claim ------------------------------------------------------------------------------


def claim(a: dict[str, Any]) -> Plan:
    return _claim("claim", a)


def release(a: dict[str, Any]) -> Plan:
    return _claim("release", a)


def _claim(cmd: str, a: dict[str, Any]) -> Plan:
    # --status paused is `repobus pause`: another agent's live claim needs evidence there
    # (records/lease.py may_pause); the original's flags have no --force (compat_tools.py)
    if a["status"] not in ("active", "paused", "released", "done"):
        raise Refusal("status must be one of ['active', 'done', 'paused', 'released']")
    base = {"task": a["task"], **common(a)}
    if a["status"] == "paused":
        if not a["notes"]:
            raise Refusal("pausing a claim needs --notes saying why (what state the work is in)")
        return [("pause", {**base, "notes": a["notes"]})]
    if cmd == "release" or a["status"] in ("done", "released"):
        if a["status"] == "active":
            raise Refusal("release --status active: use `bus_claim claim` to (re)activate")
        return [("release", {**base, "status": a["status"], "notes": a["notes"]})]
    keys = ("plan", "branch", "notes", "clear_notes", "allow_unassigned", "ttl")
    return [("claim", {**base, **{k: a[k] for k in keys}})]


# -- bus_event, bus_message -----------------------------------------------------------------


def event(a: dict[str, Any]) -> Plan:
    extra = list(a["extra"])
    if a["consensus_decision"]:
        extra.append(f"consensus_decision={a['consensus_decision']}")
    if a["consensus_output"]:
        extra.append(f"consensus_output={a['consensus_output']}")
    extra += [f"consensus_{item}" for item in a["consensus_meta"]]
    keys = ("event", "summary", "task", "plan", "branch", "pr", "receipt", "severity")
    return [("log", {**{k: a[k] for k in keys}, "extra": extra, **common(a)})]


def message(a: dict[str, Any]) -> Plan:
    if a["target"] is not None and not a["target"].strip():
        raise Refusal("--target must be a non-empty agent id")
    keys = ("task", "type", "summary", "branch", "plan", "note", "receipt", "meta")
    return [("send", {**{k: a[k] for k in keys}, "to": a["target"], **common(a)})]


# -- bus_status, bus_watch, bus_inbox ---------------------------------------------------------


def status(a: dict[str, Any]) -> Plan:
    if a["since"] is not None:
        from repobus.records.times import parse_or_none

        if parse_or_none(a["since"]) is None:
            raise ShimUsage(_ISO)
    keys = ("limit", "agent", "active_only", "json", "since")
    return [("status", {k: a[k] for k in keys})]


def watch(a: dict[str, Any]) -> Plan:
    if a["window_hours"] < 0:
        raise ShimUsage("--window-hours must be >= 0")
    from repobus.records import times

    since = times.parse_or_none(a["since"]) if a["since"] else None
    if a["since"] and since is None:
        raise ShimUsage(_ISO)
    if a["window_hours"] > 0:
        cutoff = times.now() - int(a["window_hours"] * 3600)
        since = max(since or cutoff, cutoff)
    return [
        (
            "watch",
            {
                "since": times.fmt(since) if since is not None else None,
                "agent": a["agent"],
                "event": a["event"],
                "follow": a["follow"],
                "limit": a["limit"] if a["limit"] is not None else 1_000_000,
                "poll": "0.5",
            },
        )
    ]


def inbox(a: dict[str, Any]) -> Plan:
    if a["limit"] < 0:
        raise ShimUsage("--limit must be >= 0")
    keys = ("limit", "mark_read", "receipt", "state")
    return [
        ("inbox", {**{k: a[k] for k in keys}, "capture_receipt": a["capture_receipt"], **common(a)})
    ]
