"""What each dashboard page shows, gathered from a Bus as plain dicts (no HTML, no Starlette).

Invariants: read-only; every value comes from `bus.store`, `bus.messages` or `views`, and
files of the worktree (`_plans/`, `_report/`) are only read, never followed outside it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repobus.bus import Bus
from repobus.errors import NotFoundError
from repobus.records import names, shown, times
from repobus.views import fleet
from repobus.views import overview as views
from repobus.views.history import current, event_page

LIVE = ("active", "paused")
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


def overview(bus: Bus) -> dict[str, Any]:
    now = bus.clock()
    slots = sorted(bus.store.list("claims"), key=lambda s: s.key)
    records = {s.key: s.record for s in slots}
    seen = fleet.last_seen(bus, records.values())
    found = fleet.stale(now, records, seen, fleet.window(bus))
    claims = [dict(views.claim_view(bus, s, now), stale=s.key in found) for s in slots]
    live = [c for c in claims if c.get("status") in LIVE]
    done = sorted(
        (c for c in claims if c.get("status") not in LIVE),
        key=lambda c: str(c.get("updated_at") or ""),
        reverse=True,
    )[:20]
    agents = []
    for agent, info in sorted(seen.items(), key=lambda kv: -kv[1]["epoch"]):
        held = [c["task_id"] for c in live if c.get("agent_id") == agent]
        agents.append({**info, "ago": now - info["epoch"], "holds": held})
    events = [e.record for e in bus.store.tail("events", limit=10)]
    return {"now": now, "agents": agents, "claims": live, "finished": done, "events": events[::-1]}


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
        "claim": views.claim_view(bus, cur, now) if cur else None,
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
