"""The checks a write on a task passes before it is made: the fence rule (one place for every
write that takes a fencing token - renew, release, pause, any event, any message), and the
evidence another agent's pause of a live claim needs (the rule itself: records/lease.py).

Invariants:
- a fence given is compared with the task's current claim, whatever its status or the name
  of the write: a token that is not the current one, or a token for a task with no claim, is
  refused (StaleTokenError, exit 3) before anything is written;
- a holder's last activity is the newest of its own change of the claim (claim, renew), its
  newest event and its newest message, anywhere on the bus; None when none is on record;
- pure functions of what they are given, except `last_activity`, which reads the store.
"""

from __future__ import annotations

from repobus.errors import ConflictError, StaleTokenError
from repobus.records import lease, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.store import Store


def check_fence(task: str, fence: int | None, rec: dict[str, Any] | None) -> None:
    """Refuse a fence that is not the current token of the claim `rec` of `task` (None: the
    task has no claim); no fence given: nothing to check."""
    if fence is None:
        return
    if rec is None:
        raise StaleTokenError(
            f"stale fencing token {fence} for task {task}: the task has no claim",
            hint="the fence belongs to a claim that is gone; claim the task to get a token",
        )
    current = rec.get("fencing_token")
    if fence != current:
        raise StaleTokenError(
            f"stale fencing token {fence} for task {task}: current token is {current} "
            f"(held by {rec.get('agent_id')}, status={rec.get('status')})",
            hint="this process no longer holds the claim; nothing was written. Claim again "
            "to get a new token",
        )


def last_activity(store: Store, rec: dict[str, Any]) -> tuple[int | None, str]:
    """When the holder of claim `rec` last did something on the bus, and what (epoch, words)."""
    holder = rec.get("agent_id")
    seen: list[tuple[int, str]] = []
    own = rec.get("by") in (None, holder)  # a change by someone else is no sign of the holder
    # a claim the original tools wrote has no `updated_at`: its `claimed_at` is the sign
    when = times.parse_or_none(
        (rec.get("updated_at") or rec.get("claimed_at")) if own else rec.get("claimed_at")
    )
    if when is not None:
        seen.append((when, f"{rec.get('op') or 'claim'} of {rec.get('task_id')}"))
    if isinstance(holder, str) and holder:
        for kind, name in (("events", "event"), ("messages", "type")):
            for e in store.tail(kind, limit=1, writers=[holder]):
                epoch = times.parse_or_none(e.record.get("ts"))
                if epoch is not None:
                    seen.append((epoch, f"{kind[:-1]} {e.record.get(name)}"))
    if not seen:
        return None, "nothing on record"
    return max(seen)


def pause_refusal(
    task: str,
    rec: dict[str, Any],
    lease_end: int | None,
    seen: tuple[int | None, str],
    grace: int,
    silence: int,
) -> ConflictError:
    """The refusal of a non-holder's pause without evidence: who holds the claim, their last
    activity, and when pausing becomes possible."""
    holder = rec.get("agent_id")
    epoch, what = seen
    last = f"{times.fmt(epoch)} ({what})" if epoch is not None else what
    at = lease.pausable_from(lease_end, epoch, grace, silence)
    until = times.fmt(lease_end) if lease_end is not None else "no end"
    return ConflictError(
        f"cannot pause task {task}: {holder} holds it (lease until {until}, fencing token "
        f"{rec.get('fencing_token')}); their last activity: {last}; pausing becomes possible at "
        f"{times.fmt(at)} (lease expired, or {holder} silent for {times.human(silence)})",
        hint=f"ask {holder} first (repobus send --task {task} --to {holder} ...), or wait; to "
        f"overrule them now: repobus pause --task {task} --notes TEXT --force --reason TEXT "
        "(the reason is recorded and sent to the holder)",
    )
