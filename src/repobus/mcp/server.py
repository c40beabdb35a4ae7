"""Tools and resources of `repobus mcp`, over stdio, with the official MCP SDK.

Identity and start-up (context.py): one agent per server, fixed at start; a write tool's
`agent` naming another agent is refused (`not_allowed`) unless the server may act for others,
and an allowed act is recorded (playbook/doors.py `Acting`); outside a repository the server
still serves the handshake and answers `not_set_up`.  Strict calls (schema.py): an unknown
argument is refused before anything runs; error texts speak in tools (texts.py).  Tool calls
run one at a time against the bus (a lock), because the SDK runs sync tools in threads.

Every write goes through the use cases the CLI runs (playbook/doors.py): the session guard
judges the agent that really acts, at each call, against the repository's policy; the
`_bus/` mirror is refreshed after the write (a refresh that failed comes back as `warnings`);
`assign` updates `agents/tasks/tasks.json`.
"""

from __future__ import annotations

import inspect
import json
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

from mcp.types import CallToolResult, ToolAnnotations

from repobus.bus import Bus
from repobus.errors import BusError
from repobus.mcp import schema
from repobus.mcp.context import Tools
from repobus.mcp.report import MAX_CHARS, PAGE, compact, fit, summary
from repobus.mcp.texts import error_text
from repobus.playbook import doors
from repobus.records import names, shown, times
from repobus.views import history
from repobus.views import overview as views

HISTORY = 50  # claim history entries `task_history` shows (the newest)
INSTRUCTIONS = (
    "repobus: coordinate with other agents through the git repository. Claim a task before "
    "working on it (one winner); renew before the lease ends; pass `fence` (the fencing_token "
    "your claim returned) to every write on that task so a lost lease is refused. Errors start "
    "with their kind: conflict, stale_token, not_found, usage, not_allowed, not_set_up."
)
Json = dict[str, Any]


def _ttl(ttl: str | None) -> int | None:
    return times.parse_duration(ttl, "ttl") if ttl else None


def _done(call: doors.Door, result: Json) -> Json:
    """The result of a write; what failed after it (the mirror) comes back as `warnings`."""
    return {**result, "warnings": list(call.warnings)} if call.warnings else result


# -- tools: module functions whose parameters after the first are the tool's arguments -------
def claim(
    t: Tools,
    task: str,
    plan: str | None = None,
    branch: str | None = None,
    notes: str | None = None,
    ttl: str | None = None,
    allow_unassigned: bool = False,
    agent: str | None = None,
) -> Json:
    me, call = t.who(agent), t.door("claim")
    slot = doors.claim(
        call,
        me,
        task,
        plan=names.plan_id(plan),
        branch=branch,
        notes=notes,
        ttl=_ttl(ttl),
        allow_unassigned=allow_unassigned,
    )
    return _done(call, t.slot_view(slot))


def renew(
    t: Tools, task: str, fence: int | None = None, ttl: str | None = None, agent: str | None = None
) -> Json:
    me, call = t.who(agent), t.door("renew")
    return _done(call, t.slot_view(doors.renew(call, me, task, ttl=_ttl(ttl), fence=fence)))


def release(
    t: Tools,
    task: str,
    status: str = "done",
    notes: str | None = None,
    fence: int | None = None,
    agent: str | None = None,
) -> Json:
    me, call = t.who(agent), t.door("release")
    slot = doors.release(call, me, task, status=status, notes=notes, fence=fence)
    return _done(call, t.slot_view(slot))


def pause(
    t: Tools,
    task: str,
    notes: str,
    fence: int | None = None,
    force: bool = False,
    reason: str | None = None,
    agent: str | None = None,
) -> Json:
    me, call = t.who(agent), t.door("pause")
    slot = doors.pause(call, me, task, notes=notes, fence=fence, force=force, reason=reason)
    return _done(call, t.slot_view(slot))


def log_event(
    t: Tools,
    event: str,
    summary: str,
    task: str | None = None,
    receipts: list[str] | None = None,
    severity: str | None = None,
    fence: int | None = None,
    extra: dict[str, str] | None = None,
    agent: str | None = None,
) -> Json:
    me, call = t.who(agent), t.door("log_event")
    entry = doors.log(
        call,
        me,
        event,
        summary,
        task=task,
        receipts=receipts,
        severity=severity,
        extra=extra,
        fence=fence,
    )
    return _done(call, entry.record)


def send_message(
    t: Tools,
    task: str,
    type: str,
    summary: str,
    to: str | None = None,
    receipts: list[str] | None = None,
    fence: int | None = None,
    agent: str | None = None,
) -> Json:
    me, call = t.who(agent), t.door("send_message")
    entry = doors.send(call, me, task, type, summary, to=to, receipts=receipts, fence=fence)
    return _done(call, entry.record)


def inbox(t: Tools, task: str | None = None, limit: int = 20, agent: str | None = None) -> Json:
    if task:
        return {"task_id": task, "messages": t.bus.messages(task=names.task_id(task), limit=limit)}
    me = t.who(agent)
    return {"agent_id": me, "messages": t.bus.messages(to=me, limit=limit)}


def status(
    t: Tools,
    limit: int = 10,
    active_only: bool = False,
    agents: list[str] | None = None,
    since: str | None = None,
    all: bool = False,  # the CLI's --all
    cursor: str | None = None,
    page_size: int = PAGE,
) -> Json:
    start = shown.since(since, t.bus.clock(), "since") if since else None
    who = [names.agent_id(a) for a in agents or []]

    def page(size: int, events: int) -> Json:
        text = views.status_json(
            t.bus,
            limit=events,
            agents=who,
            active_only=active_only,
            since=start,
            all_claims=all,
            cursor=cursor,
            page_size=size,
        )
        doc: Json = json.loads(text)
        return doc

    return fit(page, shown.page_size(page_size, "page_size"), max(limit, 0))


def assign(
    t: Tools,
    task: str,
    engineer: str,
    plan: str | None = None,
    note: str | None = None,
    force: bool = False,
    agent: str | None = None,
) -> Json:
    """Through the use case the CLI runs, so `agents/tasks/tasks.json` is updated too."""
    me, call = t.who(agent), t.door("assign")
    slot, _ = doors.assign(
        call, me, task, engineer, plan=names.plan_id(plan), note=note, force=force
    )
    return _done(call, slot.record)


def report(
    t: Tools, events_per_task: int = 3, cursor: str | None = None, page_size: int = PAGE
) -> Json:
    after = shown.parse_cursor(cursor, "cursor")[1] if cursor else None
    size = shown.page_size(page_size, "page_size")
    return fit(lambda n, _: summary(t.bus, events_per_task, after=after, size=n), size, 0)


_HISTORY_KEYS = (
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


def task_history(t: Tools, task: str, limit: int = 20, cursor: str | None = None) -> Json:
    tid = names.task_id(task)
    cur = history.current(t.bus, "claims", tid)
    hist = [
        {k: s.record[k] for k in _HISTORY_KEYS if k in s.record}
        for s in t.bus.store.history("claims", tid)
    ]
    events, more = history.event_page(t.bus, task=tid, limit=max(limit, 0), cursor=cursor)
    return {
        "task_id": tid,
        "claim": t.slot_view(cur) if cur else None,
        "history": hist[-HISTORY:],
        "history_left_out": max(len(hist) - HISTORY, 0),
        "events": events[::-1],
        "next_cursor": more,
        "thread": t.bus.messages(task=tid, limit=limit),
    }


TOOLS: tuple[tuple[Callable[..., Json], str], ...] = (
    (
        claim,
        "Claim a task as a lease; exactly one agent wins. Returns fencing_token and "
        "lease_expires_at. ttl like 30m or 2h.",
    ),
    (renew, "Renew your lease on a task (heartbeat) before it ends."),
    (release, "Release your claim: status done, released or paused."),
    (
        pause,
        "Pause a claim with notes on the state of the work; a paused claim can be taken "
        "over. Another agent's live claim only when its lease expired or its holder went "
        "silent, else with force and reason.",
    ),
    (
        log_event,
        "Append an event (status, complete, audit ... on a task must come from its holder).",
    ),
    (send_message, "Post a message to a task's thread, and to an agent's inbox with `to`."),
    (inbox, "Messages sent to you, oldest first; or a task's thread with `task`."),
    (
        status,
        "Live claims (and those finished in the last 24h) with lease state and seconds "
        "left, a page in task order, and the latest `limit` events. Pass `next_cursor` back "
        f"as `cursor` for the next page; a result stays under {MAX_CHARS} characters.",
    ),
    (assign, "Assign a task to an engineer (as manager); force to take it from another."),
    (
        report,
        "Compact summary of the open tasks (a live claim, or an assignment not finished), "
        f"`page_size` (default {PAGE}) a page in task order: their claims with lease state, "
        "expired/stale/paused ones, recent events per task, assignments. Pass `next_cursor` "
        "back as `cursor` for the next page.",
    ),
    (
        task_history,
        "One task: current claim, claim history (takeovers, fencing tokens; the newest "
        f"{HISTORY}), its newest `limit` events (pass `next_cursor` as `cursor` for older "
        "ones), thread.",
    ),
)


class _Strict(_Server):  # type: ignore[misc,valid-type,unused-ignore]
    """The SDK's server, reading every call strictly: an argument the tool does not take is
    refused before the SDK's validation (which would drop it silently)."""

    accepted: dict[str, frozenset[str]]

    async def call_tool(self, name: str, arguments: dict[str, Any], *rest: Any) -> Any:
        if name in self.accepted:
            try:
                schema.check(name, arguments or {}, self.accepted[name])
            except BusError as exc:
                raise ToolError(error_text(exc)) from None
        return await super().call_tool(name, arguments, *rest)


def _register(srv: _Strict, t: Tools, fn: Callable[..., Json], description: str) -> None:
    """Serve `fn` as a tool: its arguments are `fn`'s after the first (the SDK reads them from
    the signature; schema.py describes them), each call holds the lock, and a BusError
    becomes a tool error in tool words."""
    sig = inspect.signature(fn, eval_str=True)
    name = fn.__name__
    srv.accepted[name] = frozenset(list(sig.parameters)[1:])

    def run(**kw: Any) -> Any:
        try:
            with t.lock:
                t.take_in()
                result = fn(t, **kw)
        except BusError as exc:
            raise ToolError(error_text(exc)) from None
        return CallToolResult.model_validate(  # compact text, not the SDK's indented dump
            {"content": [{"type": "text", "text": compact(result)}], "structuredContent": result}
        )

    run.__name__ = run.__qualname__ = fn.__name__
    run.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=list(sig.parameters.values())[1:], return_annotation=Json
    )
    hints = ToolAnnotations.model_validate(schema.tool_hints(name))
    srv.tool(name=name, description=description, structured_output=True, annotations=hints)(run)
    # the SDK derives the schema from the signature; the list shows it described and slim
    tool = srv._tool_manager.get_tool(name)
    assert tool is not None  # registered just above
    tool.parameters = schema.slim(name, tool.parameters, act_as=t.may_act_for)


def _resources(srv: _Server, t: Tools) -> None:
    @srv.resource(
        "repobus://claims/active",
        name="active-claims",
        mime_type="application/json",
        description="Active and paused claims with lease state.",
    )
    def active_claims() -> str:
        with t.lock:
            data = views.status(t.bus, limit=0, active_only=True)
        return compact(data["claims"])

    @srv.resource(
        "repobus://events/recent",
        name="recent-events",
        mime_type="application/json",
        description="The 50 newest events, oldest first.",
    )
    def recent_events() -> str:
        with t.lock:
            recs = [e.record for e in t.bus.store.tail("events", limit=50)]
        return compact(recs)


def build(
    bus: Bus | Callable[[], Bus],
    *,
    agent: str | None = None,
    env_agent: str | None = None,
    allow_stale: bool = False,
    allow_act_as: bool = False,
    where: str = ".",
) -> Any:
    """The server with its tools and resources; `.run("stdio")` serves it.  `bus` is the bus,
    or what opens it (tried at start, and at each call until it opens).  `allow_stale` lets
    every write through a stale session (recorded as session_override), as
    REPOBUS_ALLOW_STALE_SESSION does for the CLI; `allow_act_as` lets a tool's `agent` name
    another agent (recorded)."""
    srv = _Strict("repobus", instructions=INSTRUCTIONS, log_level="WARNING")
    srv.accepted = {}
    opener = bus if callable(bus) else (lambda: bus)
    t = Tools(opener, agent, env_agent, allow_stale, allow_act_as, where)
    t.start()
    for fn, description in TOOLS:
        _register(srv, t, fn, description)
    _resources(srv, t)
    return srv
