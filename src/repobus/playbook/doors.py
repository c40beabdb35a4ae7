"""The writes every door shares - the CLI's handlers, the MCP server's tools and the
dashboard's write endpoints call these functions, so a rule around a bus write holds
whichever door the write came through.

A use case is: admit the writer (the session guard, when the repository's policy asks for
it: playbook/guard.py) -> the write on the bus -> the side effects the playbook attaches to it
(`agents/tasks/tasks.json` on assign, the `ack` event and message) -> the `_bus/` mirror
refresh (views/mirror.py).

Invariants:
- a `Door` is one call through a door (one CLI command, one MCP tool call, one HTTP write):
  each writer is admitted once per call and the mirror is refreshed once, after the writes;
- the guard is never skipped: it judges the identity the write acts as, against the policy in
  force when the call starts (a long-running server re-reads the repository's config for
  every call, so turning the guard on needs no restart);
- a refused write writes nothing on the bus (the guard records the refusal under
  `_report/agent/<id>/session_guard/`, as the original tools did);
- a mirror that cannot be refreshed never fails the write: the failure is kept on the door
  and handed to the caller as a warning;
- a write for another agent (`Acting`: the door runs as `actor`, the call names `agent`) is
  refused (NotAllowedError) unless the door was started for it, and an allowed one is never
  unrecorded: the claim record's `by`, an event's `by`, a message's `meta.by` name the actor,
  and an `acted_for` event of the actor's says who acted for whom, after the write succeeded.
"""

from __future__ import annotations

from repobus.bus import Bus, with_config
from repobus.errors import NotAllowedError
from repobus.git import config
from repobus.playbook import guard, tasks
from repobus.store import Entry, Slot
from repobus.views import mirror

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

    from repobus.git.config import Config

CLI_OVERRIDE = "pass --allow-stale-session"
SERVER_OVERRIDE = "restart the server with REPOBUS_ALLOW_STALE_SESSION=1"
ACTED_FOR = "acted_for"  # the event that records a write made for another agent


class Acting:
    """Who really runs a door (`actor`), whether it may write for other agents, and what to
    tell a caller refused (in the door's own words: CLI options or MCP arguments)."""

    __slots__ = ("actor", "allowed", "hint")

    def __init__(self, actor: str, *, allowed: bool, hint: str) -> None:
        self.actor, self.allowed, self.hint = actor, allowed, hint


class Door:
    """One call through a door: the bus, the guard settings of the door, what went wrong
    after the write (warnings for the caller)."""

    def __init__(
        self,
        bus: Bus,
        *,
        context: str,
        max_age: int | None = None,
        allow_stale: bool = False,
        override: str = CLI_OVERRIDE,
        cfg: Config | None = None,
        acting: Acting | None = None,
    ) -> None:
        self.bus = bus
        self.acting = acting
        self._acts: list[tuple[str, str, str | None]] = []  # (for whom, verb, task) to record
        self.cfg = bus.cfg if cfg is None else cfg  # the policy in force for this call
        self.context = context  # recorded with a guard refusal, e.g. "repobus claim"
        self.max_age = max_age
        self.allow_stale = allow_stale
        self.override = override
        self.warnings: list[str] = []
        self.failures: list[Exception] = []
        self._admitted: set[str] = set()
        self._finished = False

    @classmethod
    def serving(
        cls,
        bus: Bus,
        door: str,
        action: str,
        *,
        allow_stale: bool = False,
        acting: Acting | None = None,
    ) -> Self:
        """A call through a door that runs for hours (the MCP server, the dashboard): the
        repository's policy is read now, not when the server started."""
        return cls(
            bus,
            context=f"{door} {action}",
            allow_stale=allow_stale,
            override=SERVER_OVERRIDE,
            cfg=config.load(bus.repo),
            acting=acting,
        )

    def for_other(self, agent: str) -> str | None:
        """The actor when a write names another agent than the door runs as; else None."""
        who = self.acting.actor if self.acting is not None else None
        return who if who is not None and who != agent else None

    def enter(self, agent: str, verb: str, task: str | None) -> Bus:
        """Admit a write for `agent` (the guard judges whoever really acts) and return the bus
        to write it through; a write for another agent is refused unless the door allows it,
        and is written with its actor as `by` and recorded by `finish`."""
        actor = self.for_other(agent)
        if actor is None:
            self.admit(agent)
            return self.bus
        if self.acting is None or not self.acting.allowed:
            raise NotAllowedError(
                f"{actor} may not {verb} for {agent}: this door acts as {actor} only",
                hint=self.acting.hint if self.acting else None,
            )
        self.admit(actor)
        self._acts = [(agent, verb, task)]  # a write that raised before finish is not recorded
        bus = with_config(self.bus)
        bus.actor = actor
        return bus

    def _record_acts(self) -> None:
        for agent, verb, task in self._acts:
            actor = self.for_other(agent) or agent
            what = f"{actor} {verb} " + (f"{task} " if task else "") + f"for {agent}"
            extra = {"for": agent, "door": self.context}
            self.bus.log(actor, ACTED_FOR, f"{what} ({self.context})", task=task, extra=extra)
        self._acts = []

    def guarded(self) -> bool:
        return guard.required(self.cfg)

    def admit(self, agent: str) -> None:
        """The session guard for a write by `agent` (SetupError, exit 5, when refused)."""
        if agent in self._admitted:
            return
        guard.enforce(
            self.bus.repo.root,
            agent,
            self.cfg,
            now=self.bus.clock(),
            max_age=self.max_age,
            allow_stale=self.allow_stale,
            context=self.context,
            override=self.override,
        )
        self._admitted.add(agent)

    def finish(self) -> None:
        """Record the acts for other agents just written, then refresh the worktree's `_bus/`
        mirror, once per call; a mirror failure becomes a warning."""
        self._record_acts()
        if self._finished:
            return
        self._finished = True
        try:
            mirror.refresh(self.bus)
        except Exception as exc:  # the mirror is a convenience: never fail the write for it
            self.failures.append(exc)
            self.warnings.append(f"the _bus/ mirror was not refreshed: {exc}")


def claim(
    door: Door,
    agent: str,
    task: str,
    *,
    plan: str | None = None,
    branch: str | None = None,
    notes: str | None = None,
    clear_notes: bool = False,
    ttl: int | None = None,
    allow_unassigned: bool = False,
) -> Slot:
    bus = door.enter(agent, "claim", task)
    if allow_unassigned and bus.cfg.require_assignment:
        actor, bus = bus.actor, with_config(bus, require_assignment=False)
        bus.actor = actor
    slot = bus.claim(
        agent, task, plan=plan, branch=branch, notes=notes, clear_notes=clear_notes, ttl=ttl
    )
    door.finish()
    return slot


def renew(
    door: Door, agent: str, task: str, *, ttl: int | None = None, fence: int | None = None
) -> Slot:
    slot = door.enter(agent, "renew", task).renew(agent, task, ttl=ttl, fence=fence)
    door.finish()
    return slot


def pause(
    door: Door,
    agent: str,
    task: str,
    *,
    notes: str,
    fence: int | None = None,
    force: bool = False,
    reason: str | None = None,
) -> Slot:
    """Bus.pause: another agent's live claim needs evidence, or `force` with a `reason`."""
    bus = door.enter(agent, "pause", task)
    slot = bus.pause(agent, task, notes=notes, fence=fence, force=force, reason=reason)
    door.finish()
    return slot


def release(
    door: Door,
    agent: str,
    task: str,
    *,
    status: str = "done",
    notes: str | None = None,
    fence: int | None = None,
) -> Slot:
    bus = door.enter(agent, "release", task)
    slot = bus.release(agent, task, status=status, notes=notes, fence=fence)
    door.finish()
    return slot


def operator_release(
    door: Door, person: str, task: str, *, status: str, notes: str, where: str
) -> Slot:
    """A person releases whoever holds the claim (an operator override the door authorised);
    the record names the person in `by`, and an event of theirs says so."""
    door.admit(person)
    why = f"released by {person} from {where}" + (f": {notes}" if notes else "")
    slot = door.bus.release(person, task, status=status, notes=why, operator=True)
    holder = slot.record.get("agent_id")
    if holder != person:
        door.bus.log(person, "dashboard_release", f"{why} (held by {holder})", task=task)
    door.finish()
    return slot


def log(door: Door, agent: str, event: str, summary: str, **fields: Any) -> Entry:
    """An event; `fields` are Bus.log's (task, plan, branch, pr, receipts, severity, extra,
    fence)."""
    bus = door.enter(agent, "log", fields.get("task"))
    if bus.actor:
        fields["extra"] = {**(fields.get("extra") or {}), "by": bus.actor}
    entry = bus.log(agent, event, summary, **fields)
    door.finish()
    return entry


def send(door: Door, agent: str, task: str, msg_type: str, summary: str, **fields: Any) -> Entry:
    """A message; `fields` are Bus.send's (to, branch, plan, meta, receipts, note, fence)."""
    from repobus.playbook import session

    bus = door.enter(agent, "send", task)
    if bus.actor:
        fields["meta"] = {**(fields.get("meta") or {}), "by": bus.actor}
    # the manifest's role, at every door: a manager speaks on any task thread (step 10)
    fields.setdefault("as_manager", agent in session.manager_candidates(bus.repo.root))
    entry = bus.send(agent, task, msg_type, summary, **fields)
    door.finish()
    return entry


def assign(
    door: Door,
    manager: str,
    task: str,
    engineer: str,
    *,
    plan: str | None = None,
    branch: str | None = None,
    note: str | None = None,
    force: bool = False,
) -> tuple[Slot, dict[str, Any]]:
    """The assignment, its message, and the task registry entry (playbook/tasks.py)."""
    bus = door.enter(manager, "assign", task)
    got = tasks.assign(
        bus, manager, task, engineer, plan=plan, branch=branch, note=note, force=force
    )
    door.finish()
    return got


def ack(door: Door, agent: str, task: str, note: str | None = None) -> dict[str, Any]:
    """The engineer's acknowledgement: an `ack` event and a message to the manager."""
    rec = tasks.ack(door.enter(agent, "ack", task), agent, task, note)
    door.finish()
    return rec
