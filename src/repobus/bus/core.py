"""The bus: claim, renew, pause, release and log, as logic over a Store.

Invariants:
- every change is a compare-and-swap against the version read (never check-then-write): of
  several agents claiming one task, exactly one wins; the others get ConflictError naming
  the holder;
- a claim is a lease (the rule: records/lease.py): it ends at `lease_expires_at`, stays held
  through the configured grace for clock skew (`in_grace`), then is `expired`; an expired or
  paused claim may be taken over by another agent, which raises the task's fencing token;
  the superseded holder's renew, release and guarded events are then refused
  (ConflictError / StaleTokenError), and so is any write presenting its old fence
  (bus/guards.py `check_fence`);
- the holder may pause its claim; another agent only with evidence (lease expired, holder
  silent for `repobus.pauseSilence`) or `force` with a reason (recorded on the claim as
  `force_reason`, and a `pause_notice` message sent to the holder);
- a guarded event is appended only while the claim it was checked against is unchanged.
"""

from __future__ import annotations

from repobus.bus import guards
from repobus.bus.pausing import Pausing
from repobus.errors import (
    CasFailed,
    ConflictError,
    CorruptError,
    NotFoundError,
    UsageError,
)
from repobus.records import lease, names, required, shown, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo
    from repobus.records.types import ClaimRecord
    from repobus.store import Slot, Store


_ONE_CHANGE = frozenset({"previous_holder", "force_reason"})


class Bus(Pausing):
    """One repository's bus: its worktree, settings, store, and the clock leases are read by
    (replaceable in tests)."""

    # Who really writes, when a door acts for another agent (playbook/doors.py): a claim
    # record's `by` names it; None: the agent itself.
    actor: str | None = None

    def __init__(
        self, repo: Repo, cfg: Config, store: Store, clock: Callable[[], int] = times.now
    ) -> None:
        self.repo = repo
        self.cfg = cfg
        self.store = store
        self.clock = clock

    # -- leases (the rule itself is records/lease.py) -------------------------------------
    def lease_end(self, rec: dict[str, Any]) -> int | None:
        """When a claim's lease ends; claims written before leases get the default TTL."""
        return lease.record_end(rec, self.cfg.ttl)

    def is_expired(self, rec: dict[str, Any], now: int | None = None) -> bool:
        """Whether the lease ran out, grace included (the status is not looked at)."""
        got = lease.state(lease.ACTIVE, self.lease_end(rec), self._now(now), self.cfg.grace)
        return got == lease.EXPIRED

    def lease_state(self, rec: dict[str, Any], now: int | None = None) -> str:
        """`active`, `in_grace`, `expired`, or the claim's own status (lease.state)."""
        return lease.state(rec.get("status"), self.lease_end(rec), self._now(now), self.cfg.grace)

    def lease_fields(self, rec: dict[str, Any], now: int | None = None) -> tuple[str, int | None]:
        """`(lease_state, lease_seconds_left)` of a claim (lease.fields)."""
        return lease.fields(rec.get("status"), self.lease_end(rec), self._now(now), self.cfg.grace)

    def _now(self, now: int | None) -> int:
        return self.clock() if now is None else now

    # -- claims --------------------------------------------------------------------------
    def claim(
        self,
        agent: str,
        task: str,
        *,
        plan: str | None = None,
        branch: str | None = None,
        notes: str | None = None,
        clear_notes: bool = False,
        ttl: int | None = None,
    ) -> Slot:
        agent, task = names.agent_id(agent), names.task_id(task)
        ttl = ttl or self.cfg.ttl
        if self.cfg.require_assignment:
            self._require_assignment(agent, task)
        stale = self.has_remote  # with a remote, the local copy may lag: check before refusing
        cur: Slot | None = self.claim_slot(task) if stale else None
        with self._retrying(f"task {task}") as tries:
            for _ in tries:
                now = self.clock()
                try:
                    rec = self._granted(
                        agent, task, cur, now, ttl, plan, branch, notes, clear_notes
                    )
                except ConflictError:
                    if not stale:
                        raise
                    stale = False  # decide again once, on the remote's latest state
                    self.store.refresh("claims", task)
                    cur = self.claim_slot(task)
                    continue
                try:
                    return self.store.put("claims", task, dict(rec), cur)
                except CasFailed as lost:
                    # a lost race leaves the store's copy fresh (a remote store re-fetched it)
                    stale = False
                    cur = self._checked(lost.current) if lost.known else self.claim_slot(task)  # type: ignore[arg-type]
            raise tries.gave_up()

    def _granted(
        self,
        agent: str,
        task: str,
        cur: Slot | None,
        now: int,
        ttl: int,
        plan: str | None,
        branch: str | None,
        notes: str | None,
        clear_notes: bool,
    ) -> ClaimRecord:
        old = cur.record if cur else {}
        holder = old.get("agent_id")
        status = old.get("status")
        fence = old.get("fencing_token") or 0
        if not isinstance(fence, int) or isinstance(fence, bool) or fence < 0:
            # a token repobus cannot read cannot be safely succeeded: refuse, name it
            raise CorruptError(
                f"claim {task} holds a damaged fencing_token {fence!r}: not a whole number",
                hint="run `repobus verify`, then restore refs/repobus/claims/"
                f"{task} from its history (git log)",
            )
        same = holder == agent and not shown.finished(status)
        if cur is not None and not same and self.lease_state(old, now) in lease.HELD:
            raise self._held(task, old)
        rec: ClaimRecord = {  # typed: mypy checks every field name and value written
            "task_id": task,
            "agent_id": agent,
            "branch": branch
            or (old.get("branch") if same else None)
            or names.default_branch(agent, task),
            "status": "active",
            "claimed_at": old["claimed_at"] if same and old.get("claimed_at") else times.fmt(now),
            "lease_expires_at": times.fmt(now + ttl),
            # a claim written before repobus has no token: its holder's first claim gives it
            # one above that implicit 0, so the holder has a fence to present
            "fencing_token": fence if same and "fencing_token" in old else fence + 1,
            "op": ("resume" if status == "paused" else "reclaim") if same else "claim",
            "by": self.actor or agent,
            "updated_at": times.fmt(now),
        }
        if cur is not None and not same and holder and status in ("active", "paused"):
            rec["op"] = "takeover"
            rec["previous_holder"] = holder
        plan_id = plan or old.get("plan_id")
        kept = None if clear_notes else (notes if notes is not None else old.get("notes"))
        if plan_id:
            rec["plan_id"] = plan_id
        if kept:
            rec["notes"] = kept
        return rec

    def _held(self, task: str, rec: dict[str, Any]) -> ConflictError:
        end = self.lease_end(rec)
        until = times.fmt(end) if end else "unknown"
        if lease.unknown(rec.get("status")):  # held with no lease: the pause rule frees it
            return ConflictError(
                f"task {task} already claimed by {rec.get('agent_id')}; current "
                f"status={rec.get('status')} (unknown status, held; branch {rec.get('branch')})",
                hint=f"pick another task; once {rec.get('agent_id')} is silent for the pause "
                f"silence: repobus pause --task {task} --notes TEXT, then claim it",
            )
        return ConflictError(
            f"task {task} already claimed by {rec.get('agent_id')}; current status=active "
            f"(branch {rec.get('branch')}, lease until {until})",
            hint="pick another task, or wait for the lease to expire or be paused",
        )

    def _require_assignment(self, agent: str, task: str) -> None:
        if self.claim_slot(task) is not None:
            return
        asg = self.store.get("assignments", task)
        if asg is None:
            raise NotFoundError(
                f"assignment missing for {task}; run tools.agent.task_assign first or use "
                "--allow-unassigned"
            )
        eng = asg.record.get("engineer")
        if eng and eng != agent:
            raise ConflictError(
                f"assignment for {task} targets {eng}; update assignment or claim with "
                "--allow-unassigned"
            )

    def claim_slot(self, task: str) -> Slot | None:
        """The task's current claim, its required fields (records/required.py) checked as the
        original bus_claim did ("Claim <path> missing field '<f>'"), so no decision is made on
        a damaged record."""
        return self._checked(self.store.get("claims", task))

    def _checked(self, slot: Slot | None) -> Slot | None:
        lacking = required.missing("claim", slot.record) if slot is not None else []
        if slot is not None and lacking:
            raise CorruptError(
                required.refusal("claim", self.store.where("claims", slot.key), lacking[0]),
                hint="run `repobus verify`; restore or release the claim",
            )
        return slot

    @property
    def has_remote(self) -> bool:
        return self.store.remote_name is not None and not self.store.offline

    def _fresh(self, task: str, check: Any) -> Any:
        """Run a check on the local state; with a remote, re-run it once on the remote's
        latest state before reporting a conflict or a missing claim."""
        try:
            return check()
        except (ConflictError, NotFoundError):
            if not self.has_remote:
                raise
            self.store.refresh("claims", task)
            return check()

    def _holder_slot(self, agent: str, task: str, fence: int | None, verb: str) -> Slot:
        slot: Slot = self._fresh(task, lambda: self._holder_check(agent, task, fence, verb))
        return slot

    def _holder_check(self, agent: str, task: str, fence: int | None, verb: str) -> Slot:
        cur = self.claim_slot(task)
        if cur is None:
            raise NotFoundError(
                f"no claim found for task {task}",
                hint=f"claim it first: repobus claim --task {task}",
            )
        rec = cur.record
        guards.check_fence(task, fence, rec)  # first: a stale fence is named as such (exit 3)
        if rec.get("agent_id") != agent:
            taken = rec.get("previous_holder") == agent or rec.get("op") == "takeover"
            why = (
                (
                    f"its lease was taken over by {rec.get('agent_id')} "
                    f"(fencing token {rec.get('fencing_token')})"
                )
                if taken
                else f"owned by {rec.get('agent_id')}, not {agent}"
            )
            raise ConflictError(
                f"cannot {verb} task {task}: {why}" if taken else f"task {task} {why}"
            )
        return cur

    def _update_claim(
        self,
        agent: str,
        task: str,
        read: Callable[[], Slot],
        changes: Callable[[int], dict[str, Any]],
    ) -> Slot:
        """The compare-and-swap every change of a held claim shares: read the slot as `read`
        checks it, write its record with `changes(now)`, by `agent`; again after a lost race."""
        with self._retrying(f"task {task}") as tries:
            for _ in tries:
                cur = read()
                now = self.clock()
                by = self.actor or agent
                # previous_holder and force_reason were said of one change, not of what follows
                kept = {k: v for k, v in cur.record.items() if k not in _ONE_CHANGE}
                rec = dict(kept, by=by, updated_at=times.fmt(now), **changes(now))
                try:
                    return self.store.put("claims", task, rec, cur)
                except CasFailed:
                    continue
            raise tries.gave_up()

    def renew(
        self, agent: str, task: str, *, ttl: int | None = None, fence: int | None = None
    ) -> Slot:
        agent, task = names.agent_id(agent), names.task_id(task)
        ttl = ttl or self.cfg.ttl
        return self._update_claim(
            agent,
            task,
            lambda: self._fresh(task, lambda: self._renewable(agent, task, fence)),
            lambda now: {"lease_expires_at": times.fmt(now + ttl), "op": "renew"},
        )

    def release(
        self,
        agent: str,
        task: str,
        *,
        status: str = "done",
        notes: str | None = None,
        fence: int | None = None,
        operator: bool = False,
    ) -> Slot:
        """Release the claim `agent` holds.  With `operator=True`, `agent` is a person
        overriding the owner rule (the dashboard, authorised by its token): whoever holds the
        claim at that instant is released, and the record names the person in `by`."""
        agent, task = names.agent_id(agent), names.task_id(task)
        if status not in ("done", "released", "paused"):
            raise UsageError(
                f"status must be one of ['done', 'paused', 'released'], got {status!r}"
            )

        def read() -> Slot:
            if operator:
                slot: Slot = self._fresh(task, lambda: self._operable(task))
                return slot
            return self._holder_slot(agent, task, fence, "release")

        def changes(now: int) -> dict[str, Any]:
            out: dict[str, Any] = {
                "status": status,
                "op": "release" if status != "paused" else "pause",
            }
            if status != "paused":
                out["released_at"] = times.fmt(now)
            if notes is not None:
                out["notes"] = notes
            return out

        return self._update_claim(agent, task, read, changes)

    def _renewable(self, agent: str, task: str, fence: int | None) -> Slot:
        cur = self._holder_check(agent, task, fence, "renew")
        if cur.record.get("status") != "active":
            raise ConflictError(
                f"cannot renew task {task}: status={cur.record.get('status')}",
                hint=f"claim it again: repobus claim --task {task}",
            )
        return cur


def open_bus(
    path: Path | str | None = None,
    backend: str | None = None,
    *,
    writes: bool | None = True,
    notes: list[str] | None = None,
) -> Bus:
    """The bus of the repository at `path`.  A clone not set up first follows its
    `.repobus.toml` or asks its remote (project.ensure_set_up); `writes` says whether the
    caller may write (a remote that cannot be asked then refuses), None skips that for the
    commands that work before set-up; what set-up did is appended to `notes`."""
    from repobus.git import config, gitcmd
    from repobus.store import open_store, project

    repo = gitcmd.discover(path)
    cfg = config.load(repo)
    if writes is not None:
        cfg = project.ensure_set_up(repo, cfg, writes=writes, notes=notes)
    return Bus(repo, cfg, open_store(repo, cfg, backend))


def with_config(bus: Bus, **changes: Any) -> Bus:
    return Bus(bus.repo, bus.cfg.replace(**changes), bus.store, bus.clock)
