"""The bounded results of `repobus mcp`: the manager's summary (`report`), a page at a time,
and the rule that keeps every tool result small for a model's context.

Invariants:
- a tool result is compact JSON (sorted keys, no indentation) of at most MAX_CHARS characters
  (about 5,000 tokens) whenever one item of it fits: a page that would be larger is halved
  (then its events) until it fits, and its cursor continues right after what it shows;
- the report pages over the open tasks - a live claim (records/shown.py), or an assignment
  whose task is not finished - in task order; each task's recent events come from an indexed
  query by task (views/history.py), not a scan of the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from repobus.bus import Bus
from repobus.records import lease, shown, times
from repobus.views import fleet, history

Json = dict[str, Any]
PAGE = 25  # claims (or tasks) a page of `status` / `report` holds by default
MAX_CHARS = 20_000  # a tool result's bound: about 5,000 tokens (4 characters a token)


def summary(bus: Bus, per_task: int = 3, *, after: str | None = None, size: int = PAGE) -> Json:
    """What a manager needs at a glance, kept small for a model's context: one page of the
    open tasks (a live claim, or an assignment whose task is not finished), in task order."""
    now = bus.clock()
    claims, found = fleet.stale_claims(bus, now)
    asg = {s.key: s.record for s in bus.store.list("assignments")}
    open_tasks = sorted(
        k
        for k in {*claims, *asg}
        if not shown.finished((claims.get(k) or {}).get("status")) and (after is None or k > after)
    )
    page = open_tasks[:size]
    out: Json = {"now": times.fmt(now), "claims": [], "expired": [], "stale": [], "paused": []}
    for tid in page:
        if tid in claims:
            _summarize(bus, out, tid, claims[tid], tid in found, now)
    out["recent_events"] = {
        tid: [_event_line(rec) for rec in got]
        for tid in page
        if (got := history.event_page(bus, task=tid, limit=max(per_task, 0))[0])
    }
    out["assignments"] = [
        {k: asg[tid].get(k) for k in ("task_id", "engineer", "manager", "assigned_at")}
        for tid in page
        if tid in asg
    ]
    more = len(open_tasks) > size
    out["next_cursor"] = shown.cursor(None, page[-1]) if more and page else None
    return out


def _summarize(bus: Bus, out: Json, tid: str, rec: Json, stale: bool, now: int) -> None:
    state, left = bus.lease_fields(rec, now)
    c = dict(rec, lease_state=state, lease_seconds_left=left)
    keys = ("task_id", "agent_id", "status", "lease_state", "lease_seconds_left")
    out["claims"].append(
        {k: c.get(k) for k in (*keys, "fencing_token", "notes") if c.get(k) is not None}
    )
    if state == lease.EXPIRED:
        out["expired"].append(tid)
    if stale:
        out["stale"].append(tid)
    if rec.get("status") == "paused":
        out["paused"].append(tid)


def _event_line(rec: Json) -> str:
    return f"{rec.get('ts')} {rec.get('agent_id')} {rec.get('event')}: {rec.get('summary', '')}"


def compact(result: Any) -> str:
    """A tool result as the text a model reads: compact JSON, sorted keys."""
    return json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fit(page: Callable[[int, int], Json], size: int, events: int) -> Json:
    """`page(size, events)`, the page halved (then the events) until its compact JSON is
    within MAX_CHARS; the cursor it carries continues after what it shows."""
    while True:
        got = page(size, events)
        if len(compact(got)) <= MAX_CHARS or (size <= 1 and events <= 0):
            return got
        if size > 1:
            size //= 2
        else:
            events //= 2
