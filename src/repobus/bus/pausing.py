"""Pausing a claim: the holder's own pause, and another agent's, which needs evidence that the
holder is gone (the rule: records/lease.py `may_pause`; the refusal: bus/guards.py) or `force`
with a reason.

Invariants:
- a pause is a compare-and-swap of the claim (Bus._update_claim): the evidence is judged on
  the very version the pause replaces, so a renew that lands first wins and is judged again;
- a fence given is checked as on every write (bus/guards.py `check_fence`);
- a forced pause of another agent's active claim records `force_reason` on the claim and
  sends the holder a `pause_notice` message naming who paused and why.
"""

from __future__ import annotations

from repobus.bus import guards
from repobus.bus.events import Events
from repobus.errors import ConflictError, NotFoundError, UsageError
from repobus.records import lease, names, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from repobus.git.config import Config
    from repobus.store import Slot


class Pausing(Events):
    """Mixed into Bus; uses its config, clock, claims and compare-and-swap of a claim."""

    cfg: Config

    def lease_end(self, rec: dict[str, Any]) -> int | None:
        raise NotImplementedError

    def _fresh(self, task: str, check: Any) -> Any:
        raise NotImplementedError

    def _update_claim(
        self,
        agent: str,
        task: str,
        read: Callable[[], Slot],
        changes: Callable[[int], dict[str, Any]],
    ) -> Slot:
        raise NotImplementedError

    def pause(
        self,
        agent: str,
        task: str,
        *,
        notes: str,
        fence: int | None = None,
        force: bool = False,
        reason: str | None = None,
    ) -> Slot:
        """Pause a claim.  Its holder always may; another agent only with evidence that the
        holder is gone (records/lease.py `may_pause`), or with `force` and a `reason`, which is
        recorded on the claim (`force_reason`) and sent to the holder as a message."""
        agent, task = names.agent_id(agent), names.task_id(task)
        if not notes or not notes.strip():
            raise UsageError("pause needs --notes saying why (what state the work is in)")
        if force and not (reason and reason.strip()):
            raise UsageError("pause --force needs --reason TEXT saying why the holder is overruled")
        forced: list[str] = []  # the holder overruled by this pause, once it is decided

        def read() -> Slot:
            cur: Slot = self._fresh(task, lambda: self._pausable(agent, task, fence, force))
            holder = cur.record.get("agent_id")
            live = lease.leased(cur.record.get("status")) and holder != agent
            forced[:] = [str(holder)] if force and live else []
            return cur

        def changes(now: int) -> dict[str, Any]:
            out = {"status": "paused", "op": "pause", "notes": notes}
            return {**out, "force_reason": reason} if forced else out

        slot = self._update_claim(agent, task, read, changes)
        if forced:
            self.send(
                agent,
                task,
                "pause_notice",
                f"{agent} paused your claim on {task} with --force: {reason}",
                to=forced[0],
                note=notes,
            )
        return slot

    def _operable(self, task: str, verb: str = "release", fence: int | None = None) -> Slot:
        """The task's claim, live (active, paused, or held under an unknown status): what an
        operator or a pause acts on; a fence given is checked first (a stale one is named as
        such, whatever the status)."""
        cur = self.claim_slot(task)
        guards.check_fence(task, fence, cur.record if cur is not None else None)
        if cur is None:
            raise NotFoundError(f"no claim found for task {task}")
        status = cur.record.get("status")
        if shown.finished(status):
            raise ConflictError(f"cannot {verb} task {task}: status={status}")
        return cur

    def _pausable(self, agent: str, task: str, fence: int | None, force: bool) -> Slot:
        cur = self._operable(task, "pause", fence)
        rec, status = cur.record, cur.record.get("status")
        if force or rec.get("agent_id") == agent:
            return cur
        seen = guards.last_activity(self.store, rec)
        end, now, cfg = self.lease_end(rec), self.clock(), self.cfg
        if not lease.may_pause(status, end, seen[0], now, cfg.grace, cfg.pause_silence):
            raise guards.pause_refusal(task, rec, end, seen, cfg.grace, cfg.pause_silence)
        return cur
