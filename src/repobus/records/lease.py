"""The lease rule and the stale rule: written once, called from every door (the bus, the SQL
index, the status snapshot, the views, the dashboard, MCP, the playbook).  Pure functions of
their arguments: no I/O, no clock.

Invariants:
- a claim's lease ends at `lease_expires_at`; a claim written before leases existed ends the
  default TTL after `updated_at` (else `claimed_at`); with neither time readable it has no end
  and never runs out;
- the state of an active claim is `active` until its lease ends, `in_grace` from then until
  the grace (for clock skew between machines) is over, then `expired`; a claim that is not
  active shows its status (`paused`, `done`, `released`, ...);
- a status repobus does not know (not active, paused or finished: the original tools'
  `in_progress`, `pending`, anything else, missing or not text included) is *held*: its state
  is `held` ("unknown status, held"), its holder keeps it, and it has no lease end, so it never
  runs out by time alone; another agent takes it over only as it takes a silent holder's
  active claim: pausing it once its holder is silent for the pause silence (the pause rule
  below), then claiming the paused claim; it is stale by the stale rule like an active claim;
- the time left is never negative: the seconds to the lease end while `active`, 0 once it
  ended (`in_grace`), None otherwise (`expired`, not active, or no end);
- only an `expired` claim is free to be taken over among active ones: an `in_grace` claim is
  still held;
- a claim is stale when it is active (or held under an unknown status) and its holder was
  last seen `window` seconds ago or more, or never;
- the pause rule: the holder may always pause its own claim; another agent may pause an active
  claim only with evidence that its holder is gone - the lease `expired`, or the holder silent
  (no renew, event or message) for the pause silence (`repobus.pauseSilence`, default 15 min:
  the stale rule with that window) - or when forced with a reason; a claim held under an
  unknown status likewise (it has no lease to expire: silence is the evidence); a paused
  claim may be paused again by anyone.
"""

from __future__ import annotations

ACTIVE = "active"
PAUSED = "paused"
IN_GRACE = "in_grace"
EXPIRED = "expired"
UNKNOWN_HELD = "held"  # the state of a claim whose status repobus does not know
HELD = frozenset({ACTIVE, IN_GRACE, UNKNOWN_HELD})  # nobody else may take the claim
DEFAULT_PAUSE_SILENCE = 15 * 60  # `repobus.pauseSilence`: a holder this silent may be paused
MANAGER_WINDOW_MINUTES = 30.0  # a manager silent this long is missing (heartbeat --manager-window)


def unknown(status: object) -> bool:
    """Whether a claim's status is one repobus does not know: not active, not paused, not
    finished (records/models.py `TERMINAL_STATUSES`).  Such a claim counts as held."""
    from repobus.records.models import TERMINAL_STATUSES

    if status in (ACTIVE, PAUSED):
        return False
    return not (isinstance(status, str) and status in TERMINAL_STATUSES)


def leased(status: object) -> bool:
    """Whether a claim is held by its holder until a takeover rule frees it: active, or a
    status repobus does not know."""
    return status == ACTIVE or unknown(status)


def end(expires_at: int | None, started: int | None, ttl: int) -> int | None:
    """The lease end, from the claim's `lease_expires_at` and, for a claim written before
    leases, its `updated_at`/`claimed_at` plus the default TTL (epoch seconds, or None)."""
    if expires_at is not None:
        return expires_at
    return None if started is None else started + ttl


def record_end(rec: dict[str, object], ttl: int) -> int | None:
    """`end` of a claim record, its times read as the original tools wrote them."""
    # imported here: the lean status path renders leases without loading the time parser
    from repobus.records.times import parse_or_none

    if "status" in rec and unknown(rec["status"]):
        return None  # held with no end: not the default TTL of a claim it may not be
    started = parse_or_none(rec.get("updated_at") or rec.get("claimed_at"))
    return end(parse_or_none(rec.get("lease_expires_at")), started, ttl)


def state(status: object, lease_end: int | None, now: int, grace: int) -> str:
    """`active`, `in_grace`, `expired`, `held` (a status repobus does not know), or the
    claim's own status (paused, done, released, ...)."""
    if status != ACTIVE:
        return UNKNOWN_HELD if unknown(status) else str(status)
    if lease_end is None or now <= lease_end:
        return ACTIVE
    return IN_GRACE if now <= lease_end + grace else EXPIRED


def seconds_left(lease_state: str, lease_end: int | None, now: int) -> int | None:
    """Seconds until the lease end, never negative; None when the claim is not held or
    held with no lease (an unknown status)."""
    if lease_end is None or lease_state not in (ACTIVE, IN_GRACE):
        return None
    return max(lease_end - now, 0)


def fields(status: object, lease_end: int | None, now: int, grace: int) -> tuple[str, int | None]:
    """`(lease_state, lease_seconds_left)`, the two fields every claim view shows."""
    got = state(status, lease_end, now, grace)
    return got, seconds_left(got, lease_end, now)


def is_stale(status: object, last_seen: int | None, now: int, window: int) -> bool:
    """Whether the holder of an active claim (or one held under an unknown status) has been
    silent (no renew, event or message) for `window` seconds or more; `last_seen` None: never
    heard from."""
    return leased(status) and (last_seen is None or now - last_seen >= window)


def may_pause(
    status: object, lease_end: int | None, last_seen: int | None, now: int, grace: int, silence: int
) -> bool:
    """Whether an agent that does not hold a claim may pause it without force: the claim is
    paused, or its lease expired, or its holder (of an active claim, or one held under an
    unknown status) was silent for `silence` seconds or more."""
    if not leased(status):
        return True
    expired = state(status, lease_end, now, grace) == EXPIRED
    return expired or is_stale(status, last_seen, now, silence)


def pausable_from(lease_end: int | None, last_seen: int | None, grace: int, silence: int) -> int:
    """The first instant (epoch seconds) `may_pause` holds for an active claim, if nothing is
    heard from its holder meanwhile: the earlier of its lease expiring and its silence
    reaching `silence`; 0 when the holder was never heard from."""
    if last_seen is None:
        return 0
    at = last_seen + silence
    return at if lease_end is None else min(at, lease_end + grace + 1)
