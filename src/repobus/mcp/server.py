"""Tools and resources of `repobus mcp`, over stdio, with the official MCP SDK.

Identity: a tool's `agent` argument, else `--agent`, else `REPOBUS_AGENT`, else the worktree's
AGENT_MANIFEST.json (resolved on each call, so a manifest written later is seen).  Tool calls
run one at a time against the bus (a lock), because the SDK runs sync tools in threads.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ModuleNotFoundError as exc:  # mcp 1.x names it FastMCP
    if not (exc.name or "").startswith("mcp.server"):
        raise
    from mcp.server.fastmcp import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        FastMCP as _Server,
    )
    from mcp.server.fastmcp.exceptions import (  # type: ignore[no-redef,import-not-found,unused-ignore]
        ToolError,
    )

from repobus.bus import Bus
from repobus.errors import BusError
from repobus.playbook.session import resolve_agent
from repobus.records import names, times
from repobus.views import fleet
from repobus.views import overview as views

LIVE = ("active", "paused")
INSTRUCTIONS = (
    "repobus: coordinate with other agents through the git repository. Claim a task before "
    "working on it (one winner); renew before the lease ends; pass `fence` (the fencing_token "
    "your claim returned) to renew/release/log_event so a lost lease is refused. Errors start "
    "with their kind: conflict, stale_token, not_found, usage, not_set_up."
)

Json = dict[str, Any]


def error_text(exc: BusError) -> str:
    return f"{exc.kind}: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else "")


def _ttl(ttl: str | None) -> int | None:
    return times.parse_duration(ttl, "ttl") if ttl else None


def build(bus: Bus, *, agent: str | None = None, env_agent: str | None = None) -> Any:
    """The server with its tools and resources; `.run("stdio")` serves it."""
    srv = _Server("repobus", instructions=INSTRUCTIONS, log_level="WARNING")
    lock = threading.Lock()

    def who(given: str | None) -> str:
        return resolve_agent(bus.repo.root, given or agent, env_agent)

    def tool(description: str) -> Callable[[Callable[..., Json]], Callable[..., Json]]:
        def register(fn: Callable[..., Json]) -> Callable[..., Json]:
            @functools.wraps(fn)
            def run(*args: Any, **kw: Any) -> Json:
                try:
                    with lock:
                        return fn(*args, **kw)
                except BusError as exc:
                    raise ToolError(error_text(exc)) from None

            srv.tool(name=fn.__name__, description=description, structured_output=True)(run)
            return fn

        return register

    def slot_view(slot: Any) -> Json:
        rec = views.claim_view(bus, slot, bus.clock())
        return {k: v for k, v in rec.items() if k != "_path"}

    @tool(
        "Claim a task as a lease; exactly one agent wins. Returns fencing_token and "
        "lease_expires_at. ttl like 30m or 2h."
    )
    def claim(
        task: str,
        plan: str | None = None,
        branch: str | None = None,
        notes: str | None = None,
        ttl: str | None = None,
        agent: str | None = None,
    ) -> Json:
        return slot_view(
            bus.claim(
                who(agent),
                task,
                plan=names.plan_id(plan),
                branch=branch,
                notes=notes,
                ttl=_ttl(ttl),
            )
        )

    @tool("Renew your lease on a task (heartbeat).")
    def renew(
        task: str, fence: int | None = None, ttl: str | None = None, agent: str | None = None
    ) -> Json:
        return slot_view(bus.renew(who(agent), task, ttl=_ttl(ttl), fence=fence))

    @tool("Release your claim: status done, released or paused.")
    def release(
        task: str,
        status: str = "done",
        notes: str | None = None,
        fence: int | None = None,
        agent: str | None = None,
    ) -> Json:
        return slot_view(bus.release(who(agent), task, status=status, notes=notes, fence=fence))

    @tool(
        "Pause a claim with notes on the state of the work (any agent may, e.g. after a "
        "crash); a paused claim can be taken over."
    )
    def pause(task: str, notes: str, agent: str | None = None) -> Json:
        return slot_view(bus.pause(who(agent), task, notes=notes))

    @tool("Append an event (status, complete, audit ... on a task must come from its holder).")
    def log_event(
        event: str,
        summary: str,
        task: str | None = None,
        receipts: list[str] | None = None,
        severity: str | None = None,
        fence: int | None = None,
        extra: dict[str, str] | None = None,
        agent: str | None = None,
    ) -> Json:
        return bus.log(
            who(agent),
            event,
            summary,
            task=task,
            receipts=receipts,
            severity=severity,
            extra=extra,
            fence=fence,
        ).record

    @tool("Post a message to a task's thread, and to an agent's inbox with `to`.")
    def send_message(
        task: str,
        type: str,
        summary: str,
        to: str | None = None,
        receipts: list[str] | None = None,
        agent: str | None = None,
    ) -> Json:
        return bus.send(who(agent), task, type, summary, to=to, receipts=receipts).record

    @tool("Messages sent to you, oldest first; or a task's thread with `task`.")
    def inbox(task: str | None = None, limit: int = 20, agent: str | None = None) -> Json:
        if task:
            return {
                "task_id": task,
                "messages": bus.messages(task=names.task_id(task), limit=limit),
            }
        me = who(agent)
        return {"agent_id": me, "messages": bus.messages(to=me, limit=limit)}

    @tool("Claims with lease state and seconds left, and the latest events.")
    def status(limit: int = 10, active_only: bool = False, agents: list[str] | None = None) -> Json:
        return views.status(
            bus,
            limit=limit,
            active_only=active_only,
            agents=[names.agent_id(a) for a in agents or []],
        )

    @tool("Assign a task to an engineer (as manager); force to take it from another.")
    def assign(
        task: str,
        engineer: str,
        plan: str | None = None,
        note: str | None = None,
        force: bool = False,
        agent: str | None = None,
    ) -> Json:
        return bus.assign(
            who(agent), task, engineer, plan=names.plan_id(plan), note=note, force=force
        ).record

    @tool(
        "Compact summary: live claims with lease state, expired/stale/paused ones, "
        "recent events per task, assignments."
    )
    def report(events_per_task: int = 3) -> Json:
        return summary(bus, events_per_task)

    @tool("One task: current claim, claim history (takeovers, fencing tokens), events, thread.")
    def task_history(task: str, limit: int = 20) -> Json:
        tid = names.task_id(task)
        cur = bus.store.get("claims", tid)
        keep = (
            "updated_at",
            "op",
            "by",
            "agent_id",
            "status",
            "fencing_token",
            "previous_holder",
            "lease_expires_at",
            "notes",
        )
        hist = [
            {k: s.record[k] for k in keep if k in s.record}
            for s in bus.store.history("claims", tid)
        ]
        events = [e.record for e in bus.store.tail("events") if e.record.get("task_id") == tid]
        return {
            "task_id": tid,
            "claim": slot_view(cur) if cur else None,
            "history": hist,
            "events": events[-limit:],
            "thread": bus.messages(task=tid, limit=limit),
        }

    @srv.resource(
        "repobus://claims/active",
        name="active-claims",
        mime_type="application/json",
        description="Active and paused claims with lease state.",
    )
    def active_claims() -> str:
        with lock:
            data = views.status(bus, limit=0, active_only=True)
        return json.dumps(data["claims"], sort_keys=True)

    @srv.resource(
        "repobus://events/recent",
        name="recent-events",
        mime_type="application/json",
        description="The 50 newest events, oldest first.",
    )
    def recent_events() -> str:
        with lock:
            recs = [e.record for e in bus.store.tail("events", limit=50)]
        return json.dumps(recs, sort_keys=True)

    return srv


def summary(bus: Bus, per_task: int = 3) -> Json:
    """What a manager needs at a glance, kept small for a model's context."""
    now = bus.clock()
    data = views.status(bus, limit=0)
    events = [e.record for e in bus.store.tail("events", limit=500)]
    _, found = fleet.stale_claims(bus, now)
    claims, expired, stale, paused = [], [], [], []
    for c in data["claims"]:
        if c.get("status") not in LIVE:
            continue
        tid = c["task_id"]
        claims.append(
            {
                k: c.get(k)
                for k in (
                    "task_id",
                    "agent_id",
                    "status",
                    "lease_state",
                    "lease_seconds_left",
                    "fencing_token",
                    "notes",
                )
                if c.get(k) is not None
            }
        )
        if c.get("lease_state") == "expired":
            expired.append(tid)
        if tid in found:
            stale.append(tid)
        if c.get("status") == "paused":
            paused.append(tid)
    recent: dict[str, list[str]] = {}
    for rec in reversed(events):
        tid = rec.get("task_id")
        if tid and len(recent.setdefault(tid, [])) < max(per_task, 0):
            recent[tid].append(
                f"{rec.get('ts')} {rec.get('agent_id')} {rec.get('event')}: "
                f"{rec.get('summary', '')}"
            )
    asg = [
        {k: s.record.get(k) for k in ("task_id", "engineer", "manager", "assigned_at")}
        for s in sorted(bus.store.list("assignments"), key=lambda s: s.key)
    ]
    return {
        "now": times.fmt(now),
        "claims": claims,
        "expired": expired,
        "stale": stale,
        "paused": paused,
        "recent_events": recent,
        "assignments": asg,
    }
