"""Events: `log`, and the claim guard a task event must pass (the original claim guard, with
its errors.jsonl), and the event record itself.

Invariants: an event on a task whose name is guarded is appended only while the claim it was
checked against is unchanged (the store's guarded append); the guard refuses an agent that does
not hold the claim, and a stale fencing token; on a task with no claim yet it lets through only
the agent the task is assigned to, without a fence (the playbook's ack, step 3, and a proposal
before the claim); with a remote, a refusal or a finished claim seen
locally is checked again against the remote's latest state first.  An event of any name that
presents a fence is appended only while the claim whose current token it is stays unchanged
(a stale one is refused, nothing written).  An event on a task whose live claim another agent
holds names that holder in `holder`.
"""

from __future__ import annotations

from repobus.bus import guards
from repobus.bus.messaging import Messaging
from repobus.errors import CasFailed, ConflictError, NotFoundError, UsageError
from repobus.records import models, names, shown, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.git.gitcmd import Repo
    from repobus.records.types import EventRecord
    from repobus.store import Entry, Slot

_EVENT_NAME_MAX = 64


class Events(Messaging):
    """Mixed into Bus; uses its repo, store, clock and claims."""

    repo: Repo

    @property
    def has_remote(self) -> bool:
        raise NotImplementedError

    def claim_slot(self, task: str) -> Slot | None:
        raise NotImplementedError

    def log(
        self,
        agent: str,
        event: str,
        summary: str,
        *,
        task: str | None = None,
        plan: str | None = None,
        branch: str | None = None,
        pr: str | None = None,
        receipts: list[str] | None = None,
        severity: str | None = None,
        extra: dict[str, Any] | None = None,
        fence: int | None = None,
    ) -> Entry:
        agent = names.agent_id(agent)
        rec = build_event(
            agent,
            event,
            summary,
            task=task,
            plan=plan,
            branch=branch,
            pr=pr,
            receipts=receipts,
            severity=severity,
            extra=extra,
            ts=times.fmt(self.clock()),
        )
        if task is None:
            if fence is not None:
                raise UsageError("a fence belongs to a task: give --task with --fence")
            return self.store.append("events", agent, rec)
        task = names.task_id(task)
        guarded = rec["event"] in models.GUARDED_EVENTS
        if not guarded and fence is None:
            return self.store.append("events", agent, self._marked(agent, rec, self._live(task)))
        with self._retrying(f"task {task}") as tries:
            for _ in tries:
                if guarded:
                    guard = self.claim_guard(agent, task, rec["event"], fence)
                else:
                    guard = self.fence_guard(task, fence)
                if guard is not None and guard.record.get("fencing_token") is not None:
                    rec["fencing_token"] = guard.record["fencing_token"]
                try:
                    marked = self._marked(agent, rec, guard)
                    return self.store.append("events", agent, marked, guard=guard)
                except CasFailed:
                    continue
            raise tries.gave_up()

    def _live(self, task: str) -> Slot | None:
        """The task's claim as stored, unchecked: a damaged claim must not stop an event that
        was never guarded (the mark it gives is a note, not a decision)."""
        return self.store.get("claims", task)

    @staticmethod
    def _marked(agent: str, rec: dict[str, Any], claim: Slot | None) -> dict[str, Any]:
        """`rec`, naming in `holder` the agent that holds the task's live claim when that is
        not the writer (an event by a non-holder, kept but marked)."""
        out = dict(rec)  # `holder` is a core key: --extra cannot set it (records/models.py)
        held = claim.record if claim is not None else {}
        holder = held.get("agent_id")
        live = claim is not None and not shown.finished(held.get("status"))
        if live and holder and holder != agent:
            out["holder"] = holder
        return out

    def fence_guard(self, task: str, fence: int | None) -> Slot:
        """The claim a write presenting `fence` must hold still, for writes the claim guard
        does not cover (any event or message name): refused unless `fence` is its current
        token.  With a remote, a refusal seen locally is checked again on the remote's latest
        state first."""
        if self.has_remote:
            try:
                return self._fence_check(task, fence)
            except ConflictError:
                self.store.refresh("claims", task)
        return self._fence_check(task, fence)

    def _fence_check(self, task: str, fence: int | None) -> Slot:
        cur = self.claim_slot(task)
        guards.check_fence(task, fence, cur.record if cur is not None else None)
        if cur is None:  # no fence given and no claim: nothing to hold still
            raise NotFoundError(f"task {task} has no claim")
        return cur

    def claim_guard(self, agent: str, task: str, action: str, fence: int | None) -> Slot | None:
        """The claim an action on `task` must hold still; None when the claim is finished
        (anyone may log on a done task).  Failures are recorded in the agent's errors.jsonl,
        as the original claim guard did.  With a remote, a refusal or a finished claim seen
        locally is checked again against the remote's latest state first."""
        if self.has_remote:
            try:
                guard = self._guard_check(agent, task, action, fence, record=False)
                if guard is not None:
                    return guard  # a live claim: the push itself is fenced on it
            except (ConflictError, NotFoundError):
                pass
            self.store.refresh("claims", task)
        return self._guard_check(agent, task, action, fence)

    def _guard_check(
        self, agent: str, task: str, action: str, fence: int | None, record: bool = True
    ) -> Slot | None:
        cur = self.claim_slot(task)
        if cur is None:
            if fence is None and self.assignee(task) == agent:
                return None  # the assignee speaks before claiming (ack, proposal): no claim yet
            if record:
                self._guard_error(agent, task, action, None)
            guards.check_fence(task, fence, None)
            raise NotFoundError(
                f"task {task} has no claim file; run `python -m tools.agent.bus_claim claim "
                f"--task {task}` first",
                hint=f"or: repobus claim --task {task} (before the claim, only the agent the "
                "task is assigned to may log this)",
            )
        rec = cur.record
        guards.check_fence(task, fence, rec)  # first: a finished claim's old fence is stale too
        status = str(rec.get("status") or "active").lower()
        if status in models.TERMINAL_STATUSES:
            return None
        if rec.get("agent_id") != agent:
            if record:
                self._guard_error(agent, task, action, rec)
            raise ConflictError(
                f"task {task} currently claimed by {rec.get('agent_id') or 'UNKNOWN'} "
                f"(status={status}); run bus_claim release/claim before logging {action}"
            )
        return cur

    def _guard_error(self, agent: str, task: str, action: str, rec: dict[str, Any] | None) -> None:
        entry: dict[str, Any] = {
            "ts": times.fmt(self.clock()),
            "agent_id": agent,
            "event": action,
            "reason": "claim_missing" if rec is None else "claim_owner",
            "task_id": task,
        }
        if rec is not None:
            entry["claim_owner"] = rec.get("agent_id")
            entry["claim_status"] = rec.get("status")
        path = self.repo.root / "_report" / "agent" / agent / "errors.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(models.event_line(entry))


def build_event(
    agent: str,
    event: str,
    summary: str,
    *,
    ts: str,
    task: str | None = None,
    plan: str | None = None,
    branch: str | None = None,
    pr: str | None = None,
    receipts: list[str] | None = None,
    severity: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event record as `log` writes it: the typed fields, then `extra`'s own keys."""
    event = (event or "").strip()
    if not event or len(event) > _EVENT_NAME_MAX or any(c.isspace() for c in event):
        raise UsageError(
            f"event name {event[:40]!r} must be 1-{_EVENT_NAME_MAX} characters without spaces"
        )
    rec: EventRecord = {"ts": ts, "agent_id": agent, "event": event, "summary": summary}
    if task is not None:
        rec["task_id"] = names.task_id(task)
    texts = {"plan_id": plan, "branch": branch, "pr": pr}
    out: dict[str, Any] = {**rec, **{k: str(v) for k, v in texts.items() if v}}
    if receipts:
        out["receipts"] = [r for r in receipts if r]
    if severity:
        out["severity"] = _severity(severity)
    for key, value in (extra or {}).items():
        if key in models.CORE_EVENT_KEYS:
            raise UsageError(
                f"--extra cannot overwrite core field '{key}'",
                hint=f"use the --{key.replace('_id', '')} option, or another key",
            )
        out[key] = value
    return out


def _severity(severity: str) -> str:
    sev = severity.lower()
    if sev not in models.SEVERITIES:
        raise UsageError("severity must be one of: high, low, medium")
    return sev


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid {option.lstrip('-')} field '{item}', expected key=value")
        out[key.strip()] = value
    return out
