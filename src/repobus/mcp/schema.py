"""The tool list a model reads, and the strict reading of its calls.

One table says, per argument name, the one line that describes it, the closed set of values
it takes (an enum) where there is one, and per tool its MCP annotations; `slim` writes them
into the schemas the SDK derived from the tools' signatures and drops what costs tokens and
says nothing (titles, `anyOf [T, null]` for an optional T).

Invariants:
- every parameter of every tool has a description (a test lists the tool list and checks);
- an argument a tool does not take is an error naming it and the closest valid one, never
  ignored; a value outside an enum is an error listing the values; both before anything runs;
- `agent` on a write tool is taken even when not listed (the server may not act for others):
  naming another agent is then refused by the use case (`not_allowed`), not called unknown.
"""

from __future__ import annotations

import difflib
from typing import Any

from repobus.errors import UsageError
from repobus.records import models

Json = dict[str, Any]

ARGS = {  # argument -> its one-line description (a tool's own line overrides: "tool.arg")
    "task": "Task id, e.g. QUEUE-001.",
    "plan": "Plan id the work follows.",
    "branch": "Git branch of the work.",
    "notes": "Free text on the state of the work.",
    "ttl": "Lease length, e.g. 30m or 2h.",
    "fence": "The fencing_token your claim returned; a stale one is refused.",
    "agent": "Act for this agent (recorded).",
    "allow_unassigned": "Claim without an assignment.",
    "status": "How the claim ends.",
    "force": "Act although another agent holds it (recorded).",
    "reason": "Why force (sent to the holder).",
    "event": "Event name, e.g. progress, status, complete, audit.",
    "summary": "One line saying what happened.",
    "receipts": "Paths of receipts (evidence) under _report/.",
    "severity": "How serious.",
    "extra": "More string fields for the record.",
    "type": "Message type, e.g. comment, request, note, status.",
    "to": "Agent whose inbox also gets it.",
    "limit": "How many (the newest).",
    "inbox.agent": "Whose inbox to read (default: yours).",
    "inbox.task": "Read this task's thread instead of an inbox.",
    "active_only": "Only live claims (active, paused, held).",
    "agents": "Only these agents.",
    "since": "Finished claims since: ISO time or e.g. 7d.",
    "all": "Every claim, finished ones too.",
    "cursor": "next_cursor of the previous page.",
    "page_size": "Claims (tasks) per page.",
    "engineer": "Agent the task is assigned to.",
    "note": "Note for the engineer.",
    "assign.force": "Take the assignment from another engineer.",
    "events_per_task": "Recent events shown per task.",
}
ENUMS: dict[str, tuple[str, ...]] = {  # closed sets: argument (or "tool.arg") -> its values
    "release.status": ("done", "released", "paused"),
    "severity": models.SEVERITIES,
}
ALIASES = {  # names a model reaches for (the claim result's own words) -> the argument
    "fencing_token": "fence",
    "task_id": "task",
    "agent_id": "agent",
    "message": "summary",
}
READ, WRITE, ENDS = (True, False, True), (False, False, False), (False, True, False)
HINTS = {  # tool -> (readOnlyHint, destructiveHint, idempotentHint)
    "claim": WRITE,
    "renew": (False, False, True),
    "release": ENDS,
    "pause": ENDS,
    "log_event": WRITE,
    "send_message": WRITE,
    "inbox": READ,
    "status": READ,
    "assign": ENDS,
    "report": READ,
    "task_history": READ,
}
WRITES = frozenset(t for t, h in HINTS.items() if not h[0])


def tool_hints(tool: str) -> Json:
    read, destructive, idempotent = HINTS[tool]
    return {
        "readOnlyHint": read,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
    }


def _lookup(table: dict[str, Any], tool: str, arg: str) -> Any:
    return table.get(f"{tool}.{arg}", table.get(arg))


def slim(tool: str, schema: Json, *, act_as: bool) -> Json:
    """The SDK's schema of `tool`, each property described (and its enum given), without
    titles and null alternatives; `agent` left out of a write tool the server keeps to
    itself; unknown properties refused (`additionalProperties: false`)."""
    props: Json = {}
    for name, prop in schema.get("properties", {}).items():
        if name == "agent" and tool in WRITES and not act_as:
            continue
        props[name] = _property(tool, name, prop)
    out: Json = {"type": "object", "properties": props, "additionalProperties": False}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    return out


def _property(tool: str, name: str, prop: Json) -> Json:
    kinds = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    got: Json = {k: v for k, v in kinds[0].items() if k != "title"} if kinds else {}
    if isinstance(got.get("items"), dict):
        got["items"] = {k: v for k, v in got["items"].items() if k != "title"}
    if prop.get("default") is not None:
        got["default"] = prop["default"]
    values = _lookup(ENUMS, tool, name)
    if values:
        got["enum"] = list(values)
    got["description"] = _lookup(ARGS, tool, name)
    return got


def check(tool: str, arguments: Json, accepted: frozenset[str]) -> None:
    """UsageError for an argument `tool` does not take, or a value outside its enum."""
    for name in sorted(arguments):
        if name in accepted:
            continue
        guess = ALIASES.get(name)
        if guess not in accepted:
            near = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.5)
            guess = near[0] if near else None
        listed = ", ".join(sorted(accepted))
        raise UsageError(
            f"`{name}` is not an argument of {tool}"
            + (f"; did you mean `{guess}`?" if guess else "")
            + f" ({tool} takes: {listed})",
            hint="call again without it; nothing was done",
        )
    for name, value in arguments.items():
        values = _lookup(ENUMS, tool, name)
        if values and value is not None and value not in values:
            raise UsageError(
                f"`{name}` of {tool} must be one of {', '.join(values)}, got {value!r}",
                hint="call again with one of those; nothing was done",
            )
