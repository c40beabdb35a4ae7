"""Liveness: missing managers and idle agents (bus_heartbeat, FORMATS §6) and stale claims
(stale_claims, FORMATS §13).

A manager is `stale` (its last heartbeat named) when its newest heartbeat is older than the
manager window, `missing` only when the log holds none at all (as the original said).
Idle agents and stale claims are one thing (the originals disagreed): the holders of the
stale claims, by the one stale rule and the one "last seen" (views/fleet.py), with the window
`repobus.staleAfter` unless `--agent-window` / `--threshold-hours` is given.  Managers are
the agents whose manifest (or variant) lists the `manager` role and every assignment's
manager; a manager's heartbeat is its latest `handshake` or `status` event.  Receipts are
written with an exclusive create, so two runs in one second never overwrite each other.
`now` is always passed in (tests never wait on the clock).
"""

from __future__ import annotations

from pathlib import Path

from repobus.bus import Bus
from repobus.playbook import session
from repobus.records import lease, models, times
from repobus.store import files
from repobus.views import fleet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from repobus.store import Entry

HEARTBEAT_EVENTS = ("handshake", "status", "")
MANAGER_WINDOW_MINUTES = lease.MANAGER_WINDOW_MINUTES  # re-exported: the web door reads it here


def _managers(bus: Bus, root: Path) -> list[str]:
    found = session.manager_candidates(root)
    found |= {
        str(s.record["manager"]) for s in bus.store.list("assignments") if s.record.get("manager")
    }
    return sorted(found)


def _beats(entries: Iterable[Entry]) -> dict[str, int]:
    """Each agent's newest heartbeat (a `handshake` or `status` event) among `entries`."""
    beats: dict[str, int] = {}
    for rec in (e.record for e in entries):
        who = str(rec.get("agent_id") or "")
        ts = times.parse_or_none(rec.get("ts"))
        if who and ts is not None and str(rec.get("event", "")) in HEARTBEAT_EVENTS:
            beats[who] = max(ts, beats.get(who, 0))
    return beats


def assess(
    bus: Bus, root: Path, *, now: int, manager_window: float, agent_window: float | None = None
) -> dict[str, Any]:
    """The heartbeat report; `agent_window` (minutes) None: `repobus.staleAfter`, 0: no
    idle-agent check."""
    agent_minutes = fleet.window(bus) / 60 if agent_window is None else agent_window
    lookback = int(max(manager_window, agent_minutes, 0) * 60)
    since = now - lookback if lookback else now
    candidates = _managers(bus, root)
    beats = _beats(bus.store.tail("events", since=since))
    unheard = [m for m in candidates if m not in beats]
    if unheard and manager_window > 0:  # an older heartbeat makes a manager stale, not missing
        beats.update(_beats(bus.store.tail("events", writers=unheard)))
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
    idle = idle_agents(bus, now, agent_window)
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


def idle_agents(bus: Bus, now: int, window_minutes: float | None) -> list[dict[str, Any]]:
    """The holders of the stale claims, each with its stale tasks and when it was last seen."""
    if window_minutes is not None and window_minutes <= 0:
        return []
    within = None if window_minutes is None else window_minutes * 60
    claims, found = fleet.stale_claims(bus, now, within)
    tasks: dict[str, list[str]] = {}
    last: dict[str, str | None] = {}
    for task, seen in found.items():
        agent = str(claims[task]["agent_id"])
        tasks.setdefault(agent, []).append(task)
        last[agent] = times.fmt(seen) if seen else None
    return [
        {"agent_id": agent, "tasks": held, "last_activity": last[agent]}
        for agent, held in sorted(tasks.items())
    ]


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
    bus: Bus, *, now: int, threshold_hours: float | None = None, agent: str | None = None
) -> list[dict[str, Any]]:
    """The stale claims (views/fleet.py; `threshold_hours` None: `repobus.staleAfter`), the
    longest silent first, as `repobus stale` and the manager report show them."""
    within = None if threshold_hours is None else threshold_hours * 3600
    claims, found = fleet.stale_claims(bus, now, within)
    rows = []
    for task, seen in found.items():
        rec = claims[task]
        if agent and rec.get("agent_id") != agent:
            continue
        rows.append(
            {
                "task_id": task,
                "agent_id": rec.get("agent_id"),
                "plan_id": rec.get("plan_id"),
                "hours_stale": round((now - (seen or 0)) / 3600, 2),
                "last_touch": times.fmt(seen) if seen else None,
                "lease_state": bus.lease_state(rec, now),
                "path": f"_bus/claims/{task}.json",
            }
        )
    return sorted(rows, key=lambda r: -r["hours_stale"])
