"""Liveness: missing managers and idle agents (bus_heartbeat, FORMATS §6) and stale claims
(stale_claims, FORMATS §13).

One definition of activity is used for both (the originals disagreed): any event or message
an agent wrote.  Managers are the agents whose manifest (or variant) lists the `manager` role
and every assignment's manager; a manager's heartbeat is its latest `handshake` or `status`
event.  Receipts are written with an exclusive create, so two runs in one second never
overwrite each other.  `now` is always passed in (tests never wait on the clock).
"""

from __future__ import annotations

from pathlib import Path

from repobus.bus import Bus
from repobus.playbook import session
from repobus.records import models, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEARTBEAT_EVENTS = ("handshake", "status", "")


def _managers(bus: Bus, root: Path) -> list[str]:
    found = session.manager_candidates(root)
    found |= {
        str(s.record["manager"]) for s in bus.store.list("assignments") if s.record.get("manager")
    }
    return sorted(found)


def assess(
    bus: Bus, root: Path, *, now: int, manager_window: float, agent_window: float
) -> dict[str, Any]:
    lookback = int(max(manager_window, agent_window, 0) * 60)
    since = now - lookback if lookback else now
    events = [e.record for e in bus.store.tail("events", since=since)]
    activity: dict[str, int] = {}
    beats: dict[str, int] = {}
    for rec in events + [e.record for e in bus.store.tail("messages", since=since)]:
        who = str(rec.get("agent_id") or rec.get("from") or "")
        ts = times.parse_or_none(rec.get("ts"))
        if not who or ts is None:
            continue
        activity[who] = max(ts, activity.get(who, 0))
        if "agent_id" in rec and str(rec.get("event", "")) in HEARTBEAT_EVENTS:
            beats[who] = max(ts, beats.get(who, 0))
    candidates = _managers(bus, root)
    manager: dict[str, Any] = {
        "window_minutes": manager_window,
        "candidates": candidates,
        "active": [],
        "stale": [],
        "missing": [],
    }
    alerts: list[dict[str, Any]] = []
    if manager_window > 0:
        for m in candidates:
            last = beats.get(m)
            if last is None:
                manager["missing"].append({"agent_id": m, "last_seen": None})
                alerts.append(
                    {"type": "manager_heartbeat_missing", "agent_id": m, "last_seen": None}
                )
            elif now - last > manager_window * 60:
                manager["stale"].append({"agent_id": m, "last_seen": times.fmt(last)})
                alerts.append(
                    {"type": "manager_heartbeat_stale", "agent_id": m, "last_seen": times.fmt(last)}
                )
            else:
                manager["active"].append({"agent_id": m, "last_seen": times.fmt(last)})
    idle = _idle(bus, activity, now, agent_window)
    alerts += [{"type": "agent_idle", **row} for row in idle]
    severity = (
        "high"
        if any(a["type"].startswith("manager") for a in alerts)
        else "medium"
        if idle
        else "low"
    )
    return {
        "version": 1,
        "ts": times.fmt(now),
        "manager": manager,
        "agent_idle": idle,
        "alerts": alerts,
        "severity": severity,
    }


def _idle(bus: Bus, activity: dict[str, int], now: int, window: float) -> list[dict[str, Any]]:
    if window <= 0:
        return []
    holders: dict[str, list[str]] = {}
    for s in bus.store.list("claims"):
        if s.record.get("status") in ("active", "paused") and s.record.get("agent_id"):
            holders.setdefault(str(s.record["agent_id"]), []).append(s.key)
    out = []
    for agent, tasks in sorted(holders.items()):
        last = activity.get(agent)
        if last is None or now - last > window * 60:
            out.append(
                {
                    "agent_id": agent,
                    "tasks": sorted(tasks),
                    "last_activity": times.fmt(last) if last else None,
                }
            )
    return out


def write_receipt(folder: Path, report: dict[str, Any], now: int) -> Path:
    stamp = times.fmt(now).replace("-", "").replace(":", "")
    return files.create_numbered(folder, f"heartbeat-{stamp}", ".json", models.doc_text(report))


def summary(report: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for a in report["alerts"]:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
    return "Heartbeat alerts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))


# -- stale claims ----------------------------------------------------------------------------


def stale_claims(
    bus: Bus, *, now: int, threshold_hours: float, agent: str | None = None
) -> list[dict[str, Any]]:
    """Active claims untouched (claimed_at, or the latest event on the task) for at least
    the threshold, oldest first."""
    touched: dict[str, int] = {}
    for e in bus.store.tail("events"):
        ts = times.parse_or_none(e.record.get("ts"))
        task = e.record.get("task_id")
        if ts is not None and task:
            touched[str(task)] = max(ts, touched.get(str(task), 0))
    rows = []
    for s in bus.store.list("claims"):
        rec = s.record
        if rec.get("status") != "active" or (agent and rec.get("agent_id") != agent):
            continue
        claimed = times.parse_or_none(rec.get("claimed_at") or rec.get("claimed")) or 0
        last = max(claimed, touched.get(s.key, 0))
        hours = (now - last) / 3600
        if hours >= threshold_hours:
            rows.append(
                {
                    "task_id": s.key,
                    "agent_id": rec.get("agent_id"),
                    "plan_id": rec.get("plan_id"),
                    "hours_stale": round(hours, 2),
                    "last_touch": times.fmt(last) if last else None,
                    "lease_state": bus.lease_state(rec, now),
                    "path": f"_bus/claims/{s.key}.json",
                }
            )
    return sorted(rows, key=lambda r: -r["hours_stale"])
