"""Lines appended by hand to the `_bus/` mirror (the playbook's step 8: "append message
responses via `bus_event` or JSONL entries"), taken in on the next repobus command in the
worktree, or refused naming the file and the line.

With the git backend `_bus/` is a mirror of the bus (views/mirror.py); a line appended to
`_bus/events/events.jsonl`, `_bus/messages/<task>.jsonl` or `_bus/messages/agent-<id>.jsonl`
after what the mirror wrote (views/mirrorlog.py tells the two apart) is a write the agent
asked for.

Invariants:
- a line is judged by the bus's own rules: JSON object, the required fields and their types
  (records/required.py, with `ts` and the writer filled in), an event name `log` accepts, the
  thread or inbox it was appended to; the writer is the worktree's agent (`REPOBUS_AGENT`,
  else the manifest), and a line naming another agent than the worktree's is refused;
- every line is judged before any is written: with one refused, nothing is written, the
  command fails naming the first (`_bus/messages/T.jsonl line 4: ...`, UsageError, exit 2),
  and every line stays where it is, for the agent to fix or delete;
- a line reaches the bus through the write every door makes (playbook/doors.py `log`,
  `send`: the session guard, the claim guard, fences); a write that fails stops the intake
  there, naming the line, which stays;
- a line leaves the file only once its record is on the bus (a crash in between can take it
  in twice, never lose it); the mirror is then restored, so the file shows the real record
  (`seq`, `prev_hash`);
- lines the mirror wrote are the bus's history: an edit of one never reaches the bus; the
  command says so and, once it succeeded, the file is restored from the bus (naming the first
  line changed) - a command that fails writes nothing, the mirror included;
- one intake at a time per worktree (flock); `problems` gives `check` the same judgement, so
  `check` never says all is well while a line waits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from repobus.bus import Bus
from repobus.bus.events import build_event
from repobus.errors import BusError, UsageError
from repobus.playbook import doors, session
from repobus.records import layout, models, names, required, times
from repobus.store import files
from repobus.views import mirror
from repobus.views.mirrorlog import Found

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LOCK = "repobus-intake.lock"
# What the bus assigns to a record: a line that sets one is refused, not silently changed.
ASSIGNED = frozenset({"seq", "prev_hash", "holder", "anchor", "hash"})
MESSAGE_KEYS = (frozenset(required.FIELDS["message"]) - ASSIGNED) | {"fencing_token"}
FIX = (
    "fix or delete the line (lines after what the mirror wrote are yours to edit); "
    "`repobus check` lists every line waiting"
)
UNKNOWN = "not a file of the bus: appended lines go to events/events.jsonl, "
UNKNOWN += "messages/<task>.jsonl or messages/agent-<id>.jsonl"


class Refused(Exception):
    """Why a line cannot go on the bus."""


class Quiet(doors.Door):
    """A door whose writes leave the mirror alone: intake restores it once, after the lines
    it took in are out of the files."""

    def finish(self) -> None:
        return None


@dataclass
class Who:
    """The worktree's agent (`own`) and every identity a line may name (`known`)."""

    own: str | None
    known: list[str] = field(default_factory=list)


def worktree_agent(bus: Bus, env_agent: str | None) -> Who:
    root = bus.repo.root
    env = (env_agent or "").strip()
    if env:
        own = names.agent_id(env)
        return Who(own, [own])
    main = session.manifest_agent(root)
    return Who(names.agent_id(main) if main else None, session.known_agents(root))


@dataclass
class Take:
    """A judged line: the file, the line number, its bytes, and the write it asks for
    (`kind` None: a blank line, dropped)."""

    rel: str
    n: int
    raw: bytes
    kind: str | None = None
    agent: str = ""
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{layout.bus_path(self.rel)} line {self.n}"


# -- judging ------------------------------------------------------------------------------
def judge_all(found: Found, who: Who, ts: str) -> tuple[list[Take], list[str]]:
    """Every appended line judged: the writes, and the refusals (`<file> line N: why`)."""
    takes: list[Take] = []
    refused = [f"{layout.bus_path(rel)}: {UNKNOWN}" for rel in found.unknown]
    for rel, first, tail in found.tails:
        for n, raw in enumerate(tail.splitlines(keepends=True), first):
            take = Take(rel, n, raw)
            try:
                judge(take, who, ts)
            except Refused as why:
                refused.append(f"{take.where}: {why}")
            takes.append(take)
    return takes, refused


def judge(take: Take, who: Who, ts: str) -> None:
    """Fill `take` with the write its line asks for, or raise Refused."""
    at = layout.place(take.rel)
    if at is None:
        raise Refused(UNKNOWN)
    if not take.raw.strip():
        return  # a blank line: nothing to write, dropped with the rest
    try:
        rec = json.loads(take.raw)
    except ValueError as exc:
        raise Refused(f"not JSON ({exc})") from None
    if not isinstance(rec, dict):
        raise Refused("not a JSON object")
    assigned = sorted(ASSIGNED & set(rec))
    if assigned:
        raise Refused(f"field '{assigned[0]}' is the bus's to assign: leave it out")
    key = "agent_id" if at.kind == "events" else "from"
    take.agent = _agent(rec.get(key), who, key)
    rec = {**rec, key: take.agent, "ts": rec.get("ts", ts)}
    if at.kind == "messages":
        _message_place(rec, at.key)
    record = required.RECORD_OF[at.kind]
    lacking = required.missing(record, rec)
    if lacking:
        need = ", ".join(required.REQUIRED[record])
        raise Refused(
            f"missing field '{lacking[0]}' (a {record} needs {need}; ts and {key} are filled in)"
        )
    bad = required.wrong_type(record, rec)
    if bad is not None:
        raise Refused(f"field '{bad}' must be {required.expected(record, bad)}")
    take.kind = at.kind
    take.args = _event(rec, take.rel) if at.kind == "events" else _message(rec, take.rel)


def _agent(named: Any, who: Who, key: str) -> str:
    if named is None:
        if who.own is None:
            raise Refused(
                f"no {key}, and this worktree names no agent: run `repobus init "
                "--agent ID` (AGENT_MANIFEST.json) or set REPOBUS_AGENT"
            )
        return who.own
    if not isinstance(named, str) or not named.strip():
        raise Refused(f"{key} must be an agent id")
    try:
        agent = names.agent_id(named)
    except UsageError as exc:
        raise Refused(exc.message) from None
    if who.known and agent not in who.known:
        raise Refused(
            f"{key} {agent!r} is not this worktree's agent ({', '.join(who.known)}): "
            "a line goes on the bus as the agent that wrote it"
        )
    return agent


def _message_place(rec: dict[str, Any], lane: str) -> None:
    """A thread's line belongs to its task; an inbox's line is addressed to its agent."""
    if layout.is_inbox(lane):
        to = rec.setdefault("to", lane[len(layout.INBOX_PREFIX) :])
        if not isinstance(to, str) or layout.inbox_lane(to) != lane:
            raise Refused(f"addressed to {to!r}, but this is the inbox {lane}")
        return
    task = rec.setdefault("task_id", lane)
    if task != lane:
        raise Refused(f"task_id {task!r} is not this thread's ({lane})")


def _event(rec: dict[str, Any], rel: str) -> dict[str, Any]:
    extra = {k: v for k, v in rec.items() if k not in models.CORE_EVENT_KEYS}
    extra["via"] = layout.bus_path(rel)
    args = {
        "event": rec["event"],
        "summary": rec["summary"],
        "task": rec.get("task_id"),
        "plan": rec.get("plan_id"),
        "branch": rec.get("branch"),
        "pr": rec.get("pr"),
        "receipts": rec.get("receipts"),
        "severity": rec.get("severity"),
        "extra": extra,
    }
    try:  # the event rules of `log` itself (name, severity), before anything is written
        build_event(
            "x", args["event"], args["summary"], ts="", **_without(args, "event", "summary")
        )
    except UsageError as exc:
        raise Refused(exc.message) from None
    return {**args, "fence": rec.get("fencing_token")}


def _message(rec: dict[str, Any], rel: str) -> dict[str, Any]:
    stray = sorted(set(rec) - MESSAGE_KEYS)
    if stray:
        raise Refused(f"field '{stray[0]}' is not a message field: put it in meta")
    fence = rec.get("fencing_token")
    if fence is not None and (type(fence) is not int):
        raise Refused("field 'fencing_token' must be a whole number")
    meta = {**(rec.get("meta") or {}), "via": layout.bus_path(rel)}
    return {
        "task": rec["task_id"],
        "msg_type": rec["type"],
        "summary": rec["summary"],
        "to": rec.get("to"),
        "branch": rec.get("branch"),
        "meta": meta,
        "receipts": rec.get("receipts"),
        "note": rec.get("note"),
        "fence": fence,
    }


def _without(args: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in keys}


# -- taking in ----------------------------------------------------------------------------
def take_in(bus: Bus, door: Quiet, env_agent: str | None) -> list[str]:
    """Take in every line appended by hand (see the module's invariants); the files found
    edited, which the caller has restored once its command succeeded (a command that fails
    writes nothing, so it restores nothing).  Costs a `stat` per log file when nothing
    was appended."""
    if not mirror.applies(bus):
        return []
    view = mirror.Mirror(bus)
    if view.files_as_left():
        return []
    with files.locked(bus.repo.git_dir / LOCK):
        found = view.scan()
        if not (found.tails or found.unknown):
            return found.edited
        takes, refused = judge_all(found, worktree_agent(bus, env_agent), times.fmt(bus.clock()))
        if refused:
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise UsageError(refused[0] + more, hint=FIX)
        try:
            _write(view, door, takes)
        finally:
            view.refresh()
    return found.edited


def edited_note(rel: str) -> str:
    """What a command says of a mirror file edited by hand."""
    return (
        f"{layout.bus_path(rel)}: a line the mirror wrote was edited by hand; those lines are "
        "the bus's history, so the file is restored from the bus (append new lines at its end, "
        "or write with repobus log / send)"
    )


def restore(bus: Bus, rels: list[str]) -> list[str]:
    """Write the edited files again from the bus; what to tell (the first line changed)."""
    changed = mirror.Mirror(bus).restore(rels)
    return [
        f"{layout.bus_path(rel)}" + (f" line {n}" if n else "") + ": the edit was undone"
        for rel, n in changed.items()
    ]


def _write(view: mirror.Mirror, door: Quiet, takes: list[Take]) -> None:
    for take in takes:
        try:
            if take.kind == "events":
                doors.log(door, take.agent, **take.args)
            elif take.kind == "messages":
                doors.send(door, take.agent, **take.args)
        except BusError as exc:  # the line stays: say which, keep the error's own code
            exc.message = f"{take.where}: {exc.message}"
            exc.args = (exc.message,)
            exc.hint = "; ".join(h for h in (exc.hint, "the line stays in place") if h)
            raise
        view.drop(take.rel, take.raw)


def problems(bus: Bus, env_agent: str | None) -> list[str]:
    """What `check` reports about the mirror: files edited, files that are no file of the
    bus, and every line appended by hand that is not on the bus (refused, or waiting)."""
    if not mirror.applies(bus):
        return []
    found = mirror.Mirror(bus).scan()
    out = [edited_note(rel) for rel in found.edited]
    takes, refused = judge_all(found, worktree_agent(bus, env_agent), times.fmt(bus.clock()))
    waiting = [
        f"{t.where}: appended by hand and not on the bus yet (the next repobus command in "
        "this worktree takes it in)"
        for t in takes
        if t.kind is not None
    ]
    return out + refused + waiting
