"""The fleet: when each agent was last seen, and which claims are stale.

Invariants:
- an agent's "last seen" is the newest of its events and messages (among the newest
  SEEN_WINDOW of each) and of the claim changes it made (claim, renew, pause, release:
  `updated_at`, else `claimed_at`, of the claims whose `by`, else holder, it is); one
  definition for every door (dashboard, MCP, manager report, heartbeat, `repobus stale`,
  session boot);
- a claim is stale by the one rule (records/lease.py `is_stale`): active, and its holder
  silent for `repobus.staleAfter` (default 4 h) or more, unless a caller passes its own
  window (the original tools' `--threshold-hours`, `--agent-window`).
"""

from __future__ import annotations

from repobus.bus import Bus
from repobus.records import lease, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

SEEN_WINDOW = 2000  # newest events (and messages) scanned for "last seen"


def last_seen(bus: Bus, claims: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per agent: `{agent_id, epoch, ts, what}` of the newest thing it did on the bus;
    `claims` are the claim records (every status: a release is a sign of life too)."""
    seen: dict[str, dict[str, Any]] = {}

    def note(agent: Any, ts: Any, what: str) -> None:
        epoch = times.parse_or_none(ts)
        if not agent or not isinstance(agent, str) or epoch is None:
            return
        cur = seen.get(agent)
        if cur is None or epoch >= cur["epoch"]:
            seen[agent] = {"agent_id": agent, "epoch": epoch, "ts": ts, "what": what}

    for e in bus.store.tail("events", limit=SEEN_WINDOW):
        note(e.record.get("agent_id"), e.record.get("ts"), f"event {e.record.get('event')}")
    for e in bus.store.tail("messages", limit=SEEN_WINDOW):
        note(e.record.get("from"), e.record.get("ts"), f"message {e.record.get('type')}")
    for c in claims:
        note(
            c.get("by") or c.get("agent_id"),
            c.get("updated_at") or c.get("claimed_at"),
            f"{c.get('op') or 'claim'} {c.get('task_id')}",
        )
    return seen


def window(bus: Bus, given: float | None = None) -> int:
    """The stale window in seconds: `given` (a caller's own option) or `repobus.staleAfter`."""
    return bus.cfg.stale_after if given is None else int(given)


def stale(
    now: int, claims: dict[str, dict[str, Any]], seen: dict[str, dict[str, Any]], within: int
) -> dict[str, int | None]:
    """The stale claims among `claims` (task -> record), each with its holder's last seen
    (epoch; None: never seen), in task order.  A claim naming no holder has nobody to be
    silent: it is not stale (`repobus verify` names it)."""
    out: dict[str, int | None] = {}
    for task in sorted(claims):
        rec = claims[task]
        holder = rec.get("agent_id")
        if not isinstance(holder, str) or not holder:
            continue
        epoch = seen[holder]["epoch"] if holder in seen else None
        if lease.is_stale(rec.get("status"), epoch, now, within):
            out[task] = epoch
    return out


def claim_is_stale(bus: Bus, task: str, rec: dict[str, Any], now: int) -> bool:
    """`stale` for one claim, reading only what it needs: its holder's last seen only grows
    with each source `last_seen` reads, so the claim's own last change, then the newest
    events and messages, each can show it is not stale; only a claim they cannot clear
    costs the reading of every claim (what `stale_claims` reads)."""
    holder, within = rec.get("agent_id"), window(bus)
    if (
        not isinstance(holder, str)
        or not holder
        or not lease.is_stale(rec.get("status"), None, now, within)
    ):
        return False
    if (rec.get("by") or holder) == holder:
        own = times.parse_or_none(rec.get("updated_at") or rec.get("claimed_at"))
        if own is not None and not lease.is_stale(rec.get("status"), own, now, within):
            return False
    if task not in stale(now, {task: rec}, last_seen(bus, [rec]), within):
        return False  # the newest events or messages show its holder
    return task in stale_claims(bus, now)[1]


def stale_claims(
    bus: Bus, now: int, within: float | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, int | None]]:
    """Every claim (task -> record), and the stale ones with their holders' last seen: what
    every door that shows staleness reads."""
    claims = {s.key: s.record for s in bus.store.list("claims")}
    return claims, stale(now, claims, last_seen(bus, claims.values()), window(bus, within))
