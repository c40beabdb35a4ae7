"""Messages and assignments: the part of the bus that talks (task threads, agent inboxes,
the manager-report lane) and hands work out.

Invariants: a message is appended to its sender's chain and never rewritten; guarded message
types on a task must come from the claim holder (checked in the same transaction as the
append), from the agent the task is assigned to while it has no claim, or from a manager: the
task's assigning manager (its assignment's `manager`) or an agent its door declares a manager
(`as_manager`: the manifest's role) - the playbook's step 10 consensus, and step 8's
responses on the thread; a message of any type presenting a fence is appended only while the
claim whose current token it is stays unchanged (bus/guards.py); an assignment is a
compare-and-swap, and taking a task away from another engineer or from the agent holding its
claim needs `force`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from repobus.errors import CasFailed, ConflictError, UsageError
from repobus.records import layout, models, names, shown, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from repobus.records.types import AssignmentRecord, MessageRecord
    from repobus.store import Entry, Slot, Store

_NAME_MAX = 64
MAX_ATTEMPTS = 30  # compare-and-swap tries of one operation ...
MAX_SECONDS = 15.0  # ... and the time they may take in all


class Attempts:
    """Bounded retries of a lost compare-and-swap: at most MAX_ATTEMPTS tries within
    MAX_SECONDS, with a short randomised back-off from the third try on.  Only a lost race
    retries: a refusal (credentials, a hook, a stale token) raises at once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tries = 0
        self.start = time.monotonic()

    def __iter__(self) -> Iterator[int]:
        while self.tries < MAX_ATTEMPTS:
            if self.tries and time.monotonic() - self.start >= MAX_SECONDS:
                return
            if self.tries >= 2:  # a lost race again: back off a little, at random
                import random  # here: a claim that wins at once never loads it

                time.sleep(min(0.002 * 2**self.tries, 0.25) * random.uniform(0.5, 1.0))
            self.tries += 1
            yield self.tries

    def gave_up(self) -> ConflictError:
        took = time.monotonic() - self.start
        return ConflictError(
            f"{self.what}: lost the compare-and-swap {self.tries} times in {took:.1f}s (other "
            "agents keep changing it); gave up, nothing was changed",
            hint="retry in a moment; `repobus status` shows who is writing",
        )


class Messaging:
    """Mixed into Bus; uses its store, clock and claim guard."""

    store: Store
    clock: Callable[[], int]

    def claim_guard(self, agent: str, task: str, action: str, fence: int | None) -> Slot | None:
        raise NotImplementedError

    def fence_guard(self, task: str, fence: int | None) -> Slot:
        raise NotImplementedError

    @contextmanager
    def _retrying(self, what: str) -> Iterator[Attempts]:
        """One operation: bounded compare-and-swap tries sharing one network time budget."""
        with self.store.operation():
            yield Attempts(what)

    def send(
        self,
        agent: str,
        task: str,
        msg_type: str,
        summary: str,
        *,
        to: str | None = None,
        branch: str | None = None,
        plan: str | None = None,
        meta: dict[str, Any] | None = None,
        receipts: list[str] | None = None,
        note: str | None = None,
        fence: int | None = None,
        as_manager: bool = False,
    ) -> Entry:
        """Post a message to a task thread (and to an agent's inbox with `to`).  Guarded types
        on a task must come from the claim holder (or a manager, see the module's invariants);
        lanes that are not tasks (manager-report, BUS-COORD-* directive threads) are not
        guarded."""
        agent, task, msg_type = names.agent_id(agent), names.task_id(task), _type(msg_type)
        if not summary or not summary.strip():
            raise UsageError("message --summary must not be empty")
        rec: MessageRecord = {  # typed: mypy checks every field name and value written
            "ts": times.fmt(self.clock()),
            "from": agent,
            "type": msg_type,
            "task_id": task,
            "summary": summary,
        }
        _optional(rec, branch=branch, plan=plan, meta=meta, receipts=receipts, note=note, to=to)
        guarded = self._guarded(task, msg_type) and not self.manages(agent, task, as_manager)
        if not guarded and fence is None:
            return self.store.append("messages", agent, dict(rec))
        with self._retrying(f"task {task}") as tries:
            for _ in tries:
                guard = self._message_guard(agent, task, msg_type, fence, guarded)
                try:
                    return self.store.append("messages", agent, dict(rec), guard=guard)
                except CasFailed:
                    continue
            raise tries.gave_up()

    def _message_guard(
        self, agent: str, task: str, msg_type: str, fence: int | None, guarded: bool
    ) -> Slot | None:
        """The claim a message must hold still: the claim guard's for a guarded type; for
        any other type presenting a fence, the claim that fence must be current on."""
        if guarded:
            return self.claim_guard(agent, task, msg_type, fence)
        return self.fence_guard(task, fence)

    @staticmethod
    def _guarded(task: str, msg_type: str) -> bool:
        return not layout.is_lane(task) and msg_type in models.GUARDED_MESSAGE_TYPES

    def assignee(self, task: str) -> str | None:
        """The engineer the task is assigned to on the bus, if any."""
        asg = self.store.get("assignments", task)
        who = asg.record.get("engineer") if asg is not None else None
        return who if isinstance(who, str) else None

    def manages(self, agent: str, task: str, declared: bool = False) -> bool:
        """Whether `agent` speaks on `task`'s thread as a manager: declared one by its door,
        or the manager that assigned the task."""
        if declared:
            return True
        asg = self.store.get("assignments", task)
        return asg is not None and asg.record.get("manager") == agent

    def check_send(self, agent: str, task: str, msg_type: str, as_manager: bool = False) -> None:
        """Raise what `send(agent, task, msg_type, ...)` would refuse with, writing nothing:
        for commands that write something else first (a receipt, an event)."""
        agent, task, msg_type = names.agent_id(agent), names.task_id(task), _type(msg_type)
        if self._guarded(task, msg_type) and not self.manages(agent, task, as_manager):
            self.claim_guard(agent, task, msg_type, None)

    def messages(
        self, *, task: str | None = None, to: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """A task thread, or an agent's inbox, oldest first."""
        out = [
            e.record
            for e in self.store.tail("messages")
            if (task is None or e.record.get("task_id") == task)
            and (to is None or str(e.record.get("to", "")).lower() == to.lower())
        ]
        return out[-limit:] if limit else out

    def assign(
        self,
        manager: str,
        task: str,
        engineer: str,
        *,
        plan: str | None = None,
        branch: str | None = None,
        note: str | None = None,
        force: bool = False,
    ) -> Slot:
        """Write the assignment (compare-and-swap) and post the assignment message.  Taking a
        task away from another engineer, or from an agent holding its claim, needs force."""
        manager, task, engineer = (
            names.agent_id(manager),
            names.task_id(task),
            names.agent_id(engineer),
        )
        with self._retrying(f"task {task}") as tries:
            for _ in tries:
                cur = self.store.get("assignments", task)
                held = self.claim_slot(task)  # type: ignore[attr-defined]
                if not force:
                    self._check_reassign(task, engineer, cur, held)
                rec: AssignmentRecord = {
                    "task_id": task,
                    "engineer": engineer,
                    "manager": manager,
                    "plan_id": plan,
                    "branch": branch,
                    "assigned_at": times.fmt(self.clock()),
                    "note": note,
                }
                try:
                    slot = self.store.put("assignments", task, dict(rec), cur)
                    break
                except CasFailed:
                    continue
            else:
                raise tries.gave_up()
        meta = {"assignee": engineer}
        self.send(
            manager,
            task,
            "assignment",
            f"Assigned to {engineer}",
            to=engineer,
            branch=branch,
            plan=plan,
            meta=meta,
            note=note,
        )
        return slot

    def _check_reassign(
        self, task: str, engineer: str, cur: Slot | None, held: Slot | None
    ) -> None:
        if cur is not None and cur.record.get("engineer") not in (None, engineer):
            raise ConflictError(
                f"task {task} is already assigned to {cur.record.get('engineer')} "
                f"(by {cur.record.get('manager')} at {cur.record.get('assigned_at')})",
                hint="re-assign with --force",
            )
        if held is not None:
            rec = held.record
            if not shown.finished(rec.get("status")) and rec.get("agent_id") != engineer:
                raise ConflictError(
                    f"task {task} is claimed by {rec.get('agent_id')} "
                    f"(status={rec.get('status')}, token {rec.get('fencing_token')})",
                    hint="re-assign with --force, or ask the holder to release it",
                )


def _type(msg_type: str | None) -> str:
    msg_type = (msg_type or "").strip()
    if not msg_type or any(c.isspace() for c in msg_type) or len(msg_type) > _NAME_MAX:
        raise UsageError(
            f"message type {msg_type[:40]!r} must be 1-{_NAME_MAX} characters without spaces"
        )
    return msg_type


def _optional(
    rec: MessageRecord,
    *,
    branch: str | None,
    plan: str | None,
    meta: dict[str, Any] | None,
    receipts: list[str] | None,
    note: str | None,
    to: str | None,
) -> None:
    """A message's optional fields, each only when given (`plan` goes into `meta`)."""
    if branch:
        rec["branch"] = branch
    full_meta = dict(meta or {})
    if plan:
        full_meta["plan_id"] = plan
    if full_meta:
        rec["meta"] = full_meta
    if receipts:
        rec["receipts"] = [r for r in receipts if r]
    if note:
        rec["note"] = note
    if to:
        rec["to"] = names.agent_id(to.lower())
