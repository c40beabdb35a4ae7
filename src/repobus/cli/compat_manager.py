"""The planners of the original manager and session tools: bus_heartbeat, stale_claims,
session_boot, task_assign, manager_report, manifest_helper (FORMATS §9-§19).  Each gets the
values the shim table's tool parsed (cli/compat_tools.py) and plans the repobus commands; a
plan step named `@…` is one of manifest_helper's session commands (cli/compat_sessions.py)."""

from __future__ import annotations

from repobus.cli.compat_base import Refusal, ShimUsage, common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]


def _pick(a: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: a[k] for k in keys}


def _acting(values: dict[str, Any], agent: str | None) -> dict[str, Any]:
    """The originals named the acting agent --agent-id or --manager: repobus's --agent."""
    if agent:
        values["agent"] = agent
    return values


# -- bus_heartbeat, stale_claims ------------------------------------------------------------


def heartbeat(a: dict[str, Any]) -> Plan:
    agent = a["agent_id"]
    alert_dir = a["alert_dir"]
    if alert_dir is None and agent:
        alert_dir = f"_report/agent/{agent}/apoptosis-004/alerts"
    values = {
        "manager_window": str(a["manager_window"]),
        "agent_window": None if a["agent_window"] is None else str(a["agent_window"]),
        **_pick(a, "now", "task", "plan", "branch"),
        "alert_dir": alert_dir,
        **_pick(a, "message_task", "message_type", "note"),
        **_pick(a, "dry_run", "no_bus_event", "no_bus_message"),
        "fail_on": "never",
    }
    return [("heartbeat", _acting(values, agent))]


def stale(a: dict[str, Any]) -> Plan:
    if a["release"] and not a["agent"]:
        raise Refusal("--release currently requires --agent to avoid releasing other seats")
    hours = a["threshold_hours"]
    values = {
        "threshold_hours": None if hours is None else str(hours),
        **_pick(a, "json", "fail_on_stale", "release"),
        **common(a),
    }
    return [("stale", values)]


# -- session_boot, task_assign, manager_report ----------------------------------------------


def boot(a: dict[str, Any]) -> Plan:
    if a["confidence_note"] and a["confidence"] is None:
        raise ShimUsage("--confidence-note requires --confidence")
    values = {
        **_pick(a, "summary", "focus"),
        "no_sync": not a["sync"],
        "allow_dirty": a["sync_allow_dirty"],
        "no_announce": a["no_announce"],
        "tail_count": a["manager_report_tail_count"],
        **_pick(a, "with_status", "confidence", "confidence_note"),
    }
    return [("boot", _acting(values, a["agent"]))]


def assign(a: dict[str, Any]) -> Plan:
    values = {**_pick(a, "task", "engineer", "plan", "branch", "note", "force"), **common(a)}
    return [("assign", _acting(values, a["manager"]))]


def report(a: dict[str, Any]) -> Plan:
    shift = a["heartbeat_shift"]
    meta = list(a["heartbeat_meta"]) + ([f"shift={shift}"] if shift else [])
    values = {
        **_pick(a, "consensus", "log_heartbeat", "heartbeat_summary"),
        "heartbeat_meta": meta,
        **common(a),
    }
    return [("report", _acting(values, a["manager"]))]


# -- manifest_helper ------------------------------------------------------------------------


def manifest_list(a: dict[str, Any]) -> Plan:
    return [("manifest list", {})]


def manifest_activate(a: dict[str, Any]) -> Plan:
    return [("manifest use", {"id": a["name"], "no_backup": a["no_backup"]})]


def manifest_restore(a: dict[str, Any]) -> Plan:
    return [("manifest restore", {})]


def session_save(a: dict[str, Any]) -> Plan:
    return [("@session-save", a)]


def session_restore(a: dict[str, Any]) -> Plan:
    return [("@session-restore", a)]


def session_list(a: dict[str, Any]) -> Plan:
    return [("@session-list", a)]


def session_delete(a: dict[str, Any]) -> Plan:
    return [("@session-delete", a)]
