"""What each dashboard page shows, gathered from a Bus as plain dicts (no HTML, no Starlette).

Invariants: read-only; every value comes from `bus.store`, `bus.messages` or `views`, and
files of the worktree (`_plans/`, `_report/`) are only read, never followed outside it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repobus.bus import Bus
from repobus.errors import NotFoundError, UsageError
from repobus.playbook import heartbeat
from repobus.records import lease, names, shown, times
from repobus.store import Slot
from repobus.views import fleet
from repobus.views import overview as views
from repobus.views.history import current, event_page
from repobus.web import spans

MAX_FILE = 256 * 1024


@dataclass(frozen=True)
class Filters:
    agents: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    task: str | None = None
    since: int | None = None
    limit: int = shown.EVENTS_PAGE
    cursor: str | None = None  # where the page starts: the "older" link of the page before

    @classmethod
    def parse(cls, q: dict[str, str], limit: int = shown.EVENTS_PAGE) -> Filters:
        """From query fields agent, event (comma-separated), task, since (ISO or 90m) and
        cursor."""

        def split(key: str) -> frozenset[str]:
            return frozenset(v.strip() for v in q.get(key, "").split(",") if v.strip())

        agents = frozenset(names.agent_id(a) for a in split("agent"))
        task = names.task_id(q["task"]) if q.get("task", "").strip() else None
        cursor = q.get("cursor", "").strip() or None
        if cursor:
            shown.parse_event_cursor(cursor)  # a bad one is a 400 before any read
        return cls(agents, split("event"), task, parse_since(q.get("since", "")), limit, cursor)

    def query(self) -> dict[str, str]:
        """The filter fields as the form shows them (the cursor is not a filter)."""
        since = times.fmt(self.since) if self.since is not None else ""
        return {
            "agent": ",".join(sorted(self.agents)),
            "event": ",".join(sorted(self.events)),
            "task": self.task or "",
            "since": since,
        }


def parse_since(value: str, now: int | None = None) -> int | None:
    """An ISO time or a duration before now (records/shown.py `since`); None when empty."""
    value = value.strip()
    return shown.since(value, now or times.now(), "since") if value else None


# -- the overview: attention first -----------------------------------------------------------

URGENCY = ("expired", "stale", "paused", "in grace", "active", "finished")
ORDER_TEXT = (
    "Claims are sorted by urgency (expired, stale, paused, in grace, active, then finished), "
    "then by lease end, soonest first (finished claims: newest first), then by task id."
)
FINISHED_SHOWN = 20  # recently finished claims listed (all of them are counted)


def urgency(c: dict[str, Any]) -> str:
    """Which of URGENCY a claim view is: its lease state (the lease rule), its stale flag (the
    stale rule), its status - never re-derived from its times."""
    if shown.finished(c.get("status")):
        return "finished"
    if c.get("lease_state") == lease.EXPIRED:
        return "expired"
    if c.get("stale"):
        return "stale"
    if c.get("status") == "paused":
        return "paused"
    return "in grace" if c.get("lease_state") == lease.IN_GRACE else "active"


def order_key(c: dict[str, Any]) -> tuple[int, float, str]:
    """The one order of claims on every page of the dashboard (ORDER_TEXT says it)."""
    rank = URGENCY.index(urgency(c))
    if rank == URGENCY.index("finished"):
        return rank, -float(c.get("finished_epoch") or 0), str(c.get("task_id"))
    end = c.get("lease_end")
    return rank, float("inf") if end is None else float(end), str(c.get("task_id"))


def claim_views(bus: Bus, slots: list[Slot], now: int, stale: set[str]) -> list[dict[str, Any]]:
    """Claims as the dashboard shows them: status's view, plus the stale flag, the lease end
    and when a finished one finished, in the one order."""
    out = [
        dict(
            views.claim_view(bus, s, now),
            stale=s.key in stale,
            lease_end=bus.lease_end(s.record),
            finished_epoch=shown.finished_at(s.record),
        )
        for s in slots
    ]
    for c in out:
        c["urgency"] = urgency(c)
    return sorted(out, key=order_key)


def overview(bus: Bus) -> dict[str, Any]:
    """The overview: counts, what needs a person, active claims, recently finished, agents.
    The counts are lengths of the lists shown (live work: records/shown.py)."""
    now = bus.clock()
    slots = bus.store.list("claims")
    records = {s.key: s.record for s in slots}
    seen = fleet.last_seen(bus, records.values())
    stale = set(fleet.stale(now, records, seen, fleet.window(bus)))
    claims = claim_views(bus, slots, now, stale)
    live = [c for c in claims if c["urgency"] != "finished"]
    start = now - shown.WINDOW
    done = [
        c
        for c in claims
        if c["urgency"] == "finished" and shown.shown(c.get("status"), c["finished_epoch"], start)
    ]
    attention = [c for c in live if c["urgency"] in ("expired", "stale", "paused")]
    beat = heartbeat.assess(
        bus, bus.repo.root, now=now, manager_window=heartbeat.MANAGER_WINDOW_MINUTES
    )
    return {
        "now": now,
        "order": ORDER_TEXT,
        "counts": counts(live, done),
        "attention": attention,
        "alerts": _alerts(beat),
        "claims": [c for c in live if c not in attention],
        "finished": done[:FINISHED_SHOWN],
        "finished_total": len(done),
        "agents": _agents(seen, live, beat, now),
        "events": [e.record for e in bus.store.tail("events", limit=10)][::-1],
    }


def counts(live: list[dict[str, Any]], done: list[dict[str, Any]]) -> dict[str, int]:
    """The header's counts, from the very lists the page shows."""

    def n(pred: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for c in live if pred(c))

    return {
        "live": len(live),
        "in grace": n(lambda c: c.get("lease_state") == lease.IN_GRACE),
        "expired": n(lambda c: c.get("lease_state") == lease.EXPIRED),
        "stale": n(lambda c: bool(c.get("stale"))),
        "paused": n(lambda c: c.get("status") == "paused"),
        "finished (24 h)": len(done),
    }


def _alerts(beat: dict[str, Any]) -> list[dict[str, Any]]:
    """The heartbeat's alerts (playbook/heartbeat.py): managers missing or silent, agents
    idle - as lines for people."""
    out = []
    for a in beat["alerts"]:
        if a["type"] == "agent_idle":
            text = f"idle (last seen {a['last_activity'] or 'never'}), holds"
        elif a["type"] == "manager_heartbeat_missing":
            text = "manager: no handshake or status event in the heartbeat window"
        else:
            text = f"manager: last handshake or status event at {a['last_seen']}"
        out.append(
            {
                "type": a["type"],
                "agent_id": a["agent_id"],
                "text": text,
                "tasks": a.get("tasks", []),
            }
        )
    return out


def _agents(
    seen: dict[str, dict[str, Any]], live: list[dict[str, Any]], beat: dict[str, Any], now: int
) -> list[dict[str, Any]]:
    """Each agent seen, newest first, with what it holds (in the one order) and whether the
    heartbeat calls it idle."""
    idle = {row["agent_id"] for row in beat["agent_idle"]}
    return [
        {
            **info,
            "ago": now - info["epoch"],
            "holds": [c["task_id"] for c in live if c.get("agent_id") == agent],
            "idle": agent in idle,
        }
        for agent, info in sorted(seen.items(), key=lambda kv: (-kv[1]["epoch"], kv[0]))
    ]


def stream(bus: Bus, f: Filters) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the events matching the filters, newest first, at most `f.limit`, from
    an indexed query (views/history.py); and the cursor of the older page, None at the end."""
    return event_page(
        bus,
        limit=f.limit,
        task=f.task,
        agents=f.agents,
        events=f.events,
        since=f.since,
        cursor=f.cursor,
    )


def task(bus: Bus, task_id: str) -> dict[str, Any]:
    task_id = names.task_id(task_id)
    now = bus.clock()
    history = [dict(s.record) for s in bus.store.history("claims", task_id)]
    cur = current(bus, "claims", task_id)
    events, older = event_page(bus, task=task_id)  # newest first, one page
    thread = bus.messages(task=task_id)
    asg = current(bus, "assignments", task_id)
    if cur is None and not events and not thread and asg is None:
        raise NotFoundError(f"nothing on the bus for task {task_id}")
    plan_id = next((h.get("plan_id") for h in reversed(history) if h.get("plan_id")), None) or (
        asg.record.get("plan_id") if asg else None
    )
    receipts: list[str] = []
    for rec in [*reversed(events), *thread]:
        receipts += [str(r) for r in rec.get("receipts") or [] if str(r) not in receipts]
    return {
        "task_id": task_id,
        "now": now,
        "claim": _claim(bus, cur, now),
        "timeline": task_timeline(bus, task_id, history, events, now),
        "history": history,
        "events": events,
        "events_older": older,
        "thread": thread,
        "assignment": asg.record if asg else None,
        "plan": plan(bus, plan_id) if plan_id else None,
        "receipts": [
            {"path": r, "exists": _inside(bus.repo.root, r) is not None} for r in receipts
        ],
    }


def _claim(bus: Bus, cur: Slot | None, now: int) -> dict[str, Any] | None:
    """The current claim as the overview shows it; only an active claim can be stale, so
    only then are the fleet's "last seen" read (views/fleet.py: the one stale rule)."""
    if cur is None:
        return None
    stale = {cur.key} if fleet.claim_is_stale(bus, cur.key, cur.record, now) else set()
    return claim_views(bus, [cur], now, stale)[0]


# -- the timeline ----------------------------------------------------------------------------

DEFAULT_WINDOW = "24h"
MAX_WINDOW = 90 * 86400
MAX_TASKS = 300  # claims drawn at most (the newest changed); the page says when more fit
MAX_HISTORIES = 60  # histories read at most (newest changed first); the rest: current versions
MAX_TICKS = 2000  # events drawn at most (the newest); the page says when more fit


def parse_window(value: str | None) -> int:
    """The timeline's window from `?window=` (6h, 7d, 90m; default 24 h), checked."""
    seconds = times.parse_duration(value or DEFAULT_WINDOW, "window")
    if seconds > MAX_WINDOW:
        raise UsageError(f"window must be at most {MAX_WINDOW // 86400}d, got {value!r}")
    return seconds


def timeline(bus: Bus, window: int, now: int) -> dict[str, Any]:
    """Swimlanes over `[now - window, now]`: the claims live in it (live ones, and finished
    ones that finished inside it: records/shown.py with the window as its start), each
    task's holdings as bars, and the window's events as ticks (an indexed query).  The cost
    follows the window: the claims in it, read from their current versions (the index) unless
    one may hide more than one holding (spans.needs_history: a takeover, a pause, ...), whose
    history is read (at most MAX_HISTORIES), and the events since its start."""
    start = now - window
    slots = [
        s
        for s in bus.store.list("claims")
        if shown.shown(s.record.get("status"), shown.finished_at(s.record), start)
    ]
    slots.sort(key=lambda s: (-(shown.finished_at(s.record) or 0), s.key))
    bars: list[spans.Bar] = []
    marks: list[spans.Mark] = []
    reads = 0
    for s in slots[:MAX_TASKS]:
        if spans.needs_history(s.record) and reads < MAX_HISTORIES:
            reads += 1
            history = [h.record for h in bus.store.history("claims", s.key)]
            drawn = spans.spans(s.key, history, now, bus.lease_end)
        else:  # one holding, told by the current version: no history to read
            drawn = spans.current_spans(s.key, s.record, now, bus.lease_end)
        got = spans.clip(*drawn, start, now)
        bars += got[0]
        marks += got[1]
    ticks, older = event_page(bus, since=start, limit=MAX_TICKS)
    return _drawn(start, now, window, bars, marks, ticks) | {
        "tasks_left_out": max(len(slots) - MAX_TASKS, 0),
        "ticks_cut": older is not None,
    }


def task_timeline(
    bus: Bus, task_id: str, history: list[dict[str, Any]], events: list[dict[str, Any]], now: int
) -> dict[str, Any]:
    """One task's claim history on the same timeline, from its first claim to now (or to its
    last change), with its events (the page of them the task page shows) as ticks."""
    bars, marks = spans.spans(task_id, history, now, bus.lease_end)
    start, end = spans.task_window(bars, history, now)
    bars, marks = spans.clip(bars, marks, start, end)
    ticks = [t for t in events if start <= (times.parse_or_none(t.get("ts")) or 0) <= end]
    return _drawn(start, end, end - start, bars, marks, ticks) | {
        "tasks_left_out": 0,
        "ticks_cut": False,
    }


def _drawn(
    start: int,
    end: int,
    window: int,
    bars: list[spans.Bar],
    marks: list[spans.Mark],
    ticks: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "window": window,
        "lanes": spans.lanes(bars, marks, ticks),
        "bars": bars,
        "marks": marks,
        "ticks": ticks,
    }


def plan(bus: Bus, plan_id: str) -> dict[str, Any]:
    """The plan file `_plans/<id>.plan.json`, pretty-printed when it is JSON."""
    rel = f"_plans/{names.plan_id(plan_id)}.plan.json"
    path = _inside(bus.repo.root, rel)
    if path is None:
        return {"id": plan_id, "path": rel, "text": None}
    text = path.read_bytes()[:MAX_FILE].decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    return {"id": plan_id, "path": rel, "text": text}


def latest_report(bus: Bus) -> dict[str, Any] | None:
    """The newest `_report/manager/manager-report-*.md` (names carry the timestamp)."""
    folder = bus.repo.root / "_report" / "manager"
    found = sorted(folder.glob("manager-report-*.md")) if folder.is_dir() else []
    if not found:
        return None
    path = found[-1]
    text = path.read_bytes()[:MAX_FILE].decode("utf-8", "replace")
    return {
        "path": str(path.relative_to(bus.repo.root)),
        "text": text,
        "modified": times.fmt(path.stat().st_mtime),
        "count": len(found),
    }


def _inside(root: Path, rel: str) -> Path | None:
    """`root/rel` when it is an existing file inside root (receipts are caller-written)."""
    try:
        path = (root / rel).resolve()
        path.relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    return path if path.is_file() else None
