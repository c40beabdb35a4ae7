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
  and handed to the caller as a warning.
"""

from __future__ import annotations

from repobus.bus import Bus, with_config
from repobus.git import config
from repobus.playbook import guard, tasks
from repobus.store import Entry, Slot
from repobus.views import mirror

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.git.config import Config

CLI_OVERRIDE = "pass --allow-stale-session"
SERVER_OVERRIDE = "restart the server with REPOBUS_ALLOW_STALE_SESSION=1"


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
    ) -> None:
        self.bus = bus
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
    def serving(cls, bus: Bus, door: str, action: str, *, allow_stale: bool = False) -> Door:
        """A call through a door that runs for hours (the MCP server, the dashboard): the
        repository's policy is read now, not when the server started."""
        return cls(
            bus,
            context=f"{door} {action}",
            allow_stale=allow_stale,
            override=SERVER_OVERRIDE,
            cfg=config.load(bus.repo),
        )

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
        """Refresh the worktree's `_bus/` mirror, once per call; a failure becomes a warning."""
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
    door.admit(agent)
    bus = door.bus
    if allow_unassigned and bus.cfg.require_assignment:
        bus = with_config(bus, require_assignment=False)
    slot = bus.claim(
        agent, task, plan=plan, branch=branch, notes=notes, clear_notes=clear_notes, ttl=ttl
    )
    door.finish()
    return slot


def renew(
    door: Door, agent: str, task: str, *, ttl: int | None = None, fence: int | None = None
) -> Slot:
    door.admit(agent)
    slot = door.bus.renew(agent, task, ttl=ttl, fence=fence)
    door.finish()
    return slot


def pause(door: Door, agent: str, task: str, *, notes: str) -> Slot:
    door.admit(agent)
    slot = door.bus.pause(agent, task, notes=notes)
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
    door.admit(agent)
    slot = door.bus.release(agent, task, status=status, notes=notes, fence=fence)
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
    door.admit(agent)
    entry = door.bus.log(agent, event, summary, **fields)
    door.finish()
    return entry


def send(door: Door, agent: str, task: str, msg_type: str, summary: str, **fields: Any) -> Entry:
    """A message; `fields` are Bus.send's (to, branch, plan, meta, receipts, note, fence)."""
    door.admit(agent)
    entry = door.bus.send(agent, task, msg_type, summary, **fields)
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
    door.admit(manager)
    got = tasks.assign(
        door.bus, manager, task, engineer, plan=plan, branch=branch, note=note, force=force
    )
    door.finish()
    return got


def ack(door: Door, agent: str, task: str, note: str | None = None) -> dict[str, Any]:
    """The engineer's acknowledgement: an `ack` event and a message to the manager."""
    door.admit(agent)
    rec = tasks.ack(door.bus, agent, task, note)
    door.finish()
    return rec
