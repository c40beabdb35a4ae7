"""The git backend with a shared remote as the arbiter.

Claims and assignments are compare-and-swaps on the remote's ref: the change is pushed with a
lease on the version read, and local refs move only after the remote accepted it.  A lost race
re-fetches that ref so the caller can name the winner.  Remote unreachable: nothing changes
anywhere (claims fail closed) unless the store is `offline`, in which case the change is
recorded locally and the next `sync` confirms it or reports that another agent won.

Events and messages are written locally first (never lost), then pushed at once when the
remote is reachable, by `sync` otherwise.  One chain per writer means pushes do not contend;
if one agent id wrote from two clones, the local-only records are re-chained on top of the
remote's (nothing is lost, nothing published is rewritten).  A guarded event is pushed
atomically with a heartbeat on the claim it was checked against, so a holder fenced off on
another machine cannot log on the task.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from repobus.errors import CasFailed, CorruptError, RemoteError, UnknownOutcomeError
from repobus.git.config import Config
from repobus.git.gitcmd import Repo, zero_oid
from repobus.records import models
from repobus.records.layout import ROOT
from repobus.store import housekeeping
from repobus.store.base import Entry, Slot
from repobus.store.failures import Failure
from repobus.store.gitstore import GitStore
from repobus.store.remote import Remote
from repobus.store.tracking import LAYOUT, migrate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any

SLOTS = ("claims", "assignments")


class TamperedError(CorruptError):
    kind = "rewritten"


class SyncReport:
    """What one sync did (`sync --json` prints `as_dict()`)."""

    FIELDS = ("fetched", "pushed", "confirmed", "lost", "refused", "queued", "rechained")

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.pushed: list[str] = []
        self.confirmed: list[str] = []
        self.lost: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.queued: list[str] = []
        self.rechained: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.FIELDS}


class RemoteGitStore(GitStore):
    def __init__(self, repo: Repo, cfg: Config) -> None:
        super().__init__(repo, cfg)
        assert cfg.remote
        self.remote = Remote(repo, cfg.remote, cfg.remote_timeout, cfg.lock_stale)
        self.offline = False
        self.notes: list[str] = []
        self.last_report: SyncReport | None = None  # what the last sync did, even if it raised
        if cfg.raw.get("trackinglayout") != LAYOUT:
            migrate(repo, cfg.remote)  # once per clone: tracking refs out of refs/remotes/

    # -- helpers -------------------------------------------------------------------------
    def operation(self) -> AbstractContextManager[None]:
        return self.remote.operation()

    def _name(self, ref: str) -> str:
        return ref[len(ROOT) + 1 :]

    def _set(self, ref: str, new: str, old: str | None) -> bool:
        return self.remote.set_ref(ref, new, old)

    def _track(self, pushed: list[tuple[str, str, str | None]]) -> None:
        """Move the tracking refs of pushed chains, (ref, new, old) each, in one git call;
        one by one if that transaction fails (a concurrent fetch of this clone moved one)."""
        if not pushed:
            return
        script = "".join(
            f"update {self.remote.tracking(r)} {new} {old or zero_oid()}\n"
            for r, new, old in pushed
        )
        res = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
        if res.returncode != 0:
            for r, new, _old in pushed:
                self.remote._settle(self.remote.tracking(r), new)

    def _accepted(self, ref: str, oid: str, old: str | None) -> None:
        """The remote took `oid` for `ref`: move the local ref (from `old`) and its tracking
        ref in one git call.  The tracking ref is set as the remote now holds it; should a
        concurrent fetch of this clone have seen a newer tip, the next fetch fast-forwards it
        again.  If the local ref moved meanwhile, settle both one by one."""
        script = (
            f"update {ref} {oid} {old or zero_oid()}\nupdate {self.remote.tracking(ref)} {oid}\n"
        )
        res = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
        if res.returncode != 0:
            self._set(ref, oid, old)
            self.remote._settle(self.remote.tracking(ref), oid)
        housekeeping.after_write(self, oid)  # keep the bus's loose objects packed

    def tracking_of(self, ref: str) -> str | None:
        return self.remote.current(self.remote.tracking(ref))

    @contextmanager
    def _chain_lock(self, name: str, wait: float | None = None) -> Iterator[bool]:
        """The clone's push lock; yields False when it was not had within `wait` seconds
        (None: as long as it takes)."""
        folder = self.repo.common_dir / "repobus-locks"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"push-{name.replace('/', '-')}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = None if wait is None else time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.01)
            yield True
        finally:
            os.close(fd)

    def _resolve(self, ref: str, oid: str, old: str | None) -> str:
        """After a push whose outcome is unknown: re-read the remote ref while time is left.
        "applied" (it holds our commit, which is unique to this attempt), "not applied" (it
        holds the old value), "moved" (someone else's), or "unknown"."""
        while True:
            now = self.remote.ls(ref)
            if now is not None:
                if now == oid:
                    return "applied"
                return "not applied" if now == (old or "") else "moved"
            if self.remote.remaining() <= 0.5:
                return "unknown"
            time.sleep(0.2)

    def _outcome_unknown(self, what: str, failure: Failure) -> UnknownOutcomeError:
        return UnknownOutcomeError(
            f"the outcome of the {what} is unknown: the connection to remote "
            f"'{self.remote.name}' was cut off ({failure.message}) and the remote did not "
            "confirm it in time; the remote may hold your change",
            hint="run `repobus sync` to find out (it recognises your change if it was applied)",
        )

    # -- slots: compare-and-swap on the remote ---------------------------------------------
    def refresh(self, kind: str, key: str) -> None:
        ref = self.ref(kind, key)
        with self.operation():
            res = self.remote.fetch(f"{kind}/{key}", unchanged=True)
        if res.refused:
            raise TamperedError(
                next(iter(res.refused.values())),
                hint="run `repobus verify`; restore the ref on the remote",
            )
        self.integrate([ref])

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        if self.offline:
            slot = super().put(kind, key, record, expect)
            self.notes.append(
                f"{self.ref(kind, key)} recorded offline; `repobus sync` will "
                "confirm it or report who won"
            )
            return slot
        rec, oid = self.prepare(record, expect)
        old = expect.version if expect else None
        with self.operation():
            return self._put_remote(Slot(kind, key, rec, oid), old)

    def _put_remote(self, slot: Slot, old: str | None) -> Slot:
        """Push `slot`'s commit with a lease on `old`.  A push cut off in transit may still be
        applied by the server after we read the ref back, so once any try was cut off, giving
        up is "outcome unknown" (9), never "nothing was changed"."""
        ref, oid = self.ref(slot.kind, slot.key), slot.version
        cut_off: Failure | None = None
        for _attempt in range(3):
            res = self.remote.push([(oid, ref, old)])
            if res.ok and ref in res.accepted:
                self._accepted(ref, oid, old)
                return slot
            if res.rejected:
                self.refresh(slot.kind, slot.key)
                now = self.get(slot.kind, slot.key)
                if now is not None and now.version == oid:  # our own earlier try landed
                    return slot
                raise CasFailed(ref, now, known=True)
            failure = res.failure or Failure("transport", "push failed")
            if cut_off is None:
                res.raise_refusal(self.remote.name, f"push of {ref}")
                if failure.certain_nothing_applied:
                    raise failure.error(self.remote.name, f"push of {ref}", unchanged=True)
            cut_off = cut_off or failure
            verdict = self._resolve(ref, oid, old)
            if verdict == "applied":
                self._accepted(ref, oid, old)
                return slot
            if verdict == "moved":
                self.refresh(slot.kind, slot.key)
                raise CasFailed(ref)
            if verdict == "unknown" or self.remote.remaining() <= 1:
                break
            # not there yet: push the very same commit again (if the cut-off try lands after
            # all, this one finds it there and reads it back as ours)
        raise self._outcome_unknown(f"push of {ref}", cut_off or failure)

    # -- logs: local first, then pushed ------------------------------------------------------
    def append(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot | None = None
    ) -> Entry:
        with self.operation():
            if guard is not None and not self.offline:
                entry = self._append_fenced(kind, writer, record, guard)
                if entry is not None:
                    return entry
            entry = super().append(kind, writer, record, guard)
            if not self.offline:
                self._publish_own(kind, writer)
            return entry

    def _publish_own(self, kind: str, writer: str) -> None:
        """Publish after a local append: a refusal of this writer's own chain is an error
        (the record stays queued locally, and says so); anything else is a note."""
        ref = self.ref(kind, writer)
        refusal = self.publish(kind, writer)
        if refusal is not None and ref in refusal[1]:
            err = refusal[0]
            err.message = f"{kind[:-1]} recorded in this clone but not on the remote: {err.message}"
            err.hint = (err.hint or "") + "; it stays queued: `repobus sync` pushes it once allowed"
            raise err

    def _append_fenced(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot
    ) -> Entry | None:
        """Push the record and a heartbeat on the guard claim in one atomic push.  None when
        the remote could not be reached (the caller then queues the record locally)."""
        ref, gref = self.ref(kind, writer), self.ref(guard.kind, guard.key)
        for _ in range(5):
            with self._chain_lock("all", wait=max(self.remote.remaining(), 0)) as got:
                if not got:
                    self.notes.append(
                        f"another push of this clone is still running: {kind[:-1]} queued "
                        "locally; the next push or `repobus sync` carries it"
                    )
                    return None
                tip = self.get(kind, writer)
                rec, oid = self.prepare(record, tip)
                beat = dict(
                    guard.record,
                    op="heartbeat",
                    by=writer,
                    updated_at=rec.get("ts") or guard.record.get("updated_at"),
                )
                beat.pop("previous_holder", None)
                brec, boid = self.prepare(beat, guard)
                tracked = self.tracking_of(ref)
                res = self.remote.push(
                    [(oid, ref, tracked), (boid, gref, guard.version)], atomic=True
                )
                if res.ok:
                    self._accepted(ref, oid, tip.version if tip else None)
                    self._accepted(gref, boid, guard.version)
                    return Entry(rec, writer, oid)
                res.raise_refusal(self.remote.name, f"push of {kind[:-1]} {ref}; nothing written")
                if not res.rejected:
                    failure = res.failure or Failure("transport", "push failed")
                    verdict = (
                        "not applied"
                        if failure.certain_nothing_applied
                        else self._resolve(ref, oid, tracked)
                    )
                    if verdict == "applied":  # atomic: the heartbeat landed with it
                        self._accepted(ref, oid, tip.version if tip else None)
                        self._accepted(gref, boid, guard.version)
                        return Entry(rec, writer, oid)
                    # Queue this very commit: should the remote hold it after all, the next
                    # push finds it there, so it can never be published twice.
                    if self._set(ref, oid, tip.version if tip else None):
                        self._tips[ref] = Slot(kind, writer, rec, oid)
                        self.notes.append(
                            f"remote '{self.remote.name}' not reached ({failure.message}): "
                            f"{kind[:-1]} queued locally; `repobus sync` pushes it"
                        )
                        return Entry(rec, writer, oid)
                    return None
            self.refresh(guard.kind, guard.key)
            now = self.get(guard.kind, guard.key)
            if now is None or now.version != guard.version:
                raise CasFailed(gref)
            self.sync_chain(ref)
        raise CasFailed(ref)

    def publish(self, kind: str, writer: str) -> tuple[RemoteError, set[str]] | None:
        """Push every log chain of this clone that is ahead of the remote, in one push (group
        commit: whichever agents wrote them).

        Pushes from one clone are serialised by a clone-wide lock; a process that waited for
        it usually finds its record already carried by the previous push, and nothing is left
        behind: the holder pushes until no chain is ahead.  A waiter gives up when its time
        budget is spent (its record stays queued, with a note), so one stalled push does not
        make every agent of the clone wait in turn.  Returns the refusal (the error and the
        refs refused) when the remote refused the push for a reason retrying cannot fix."""
        with self.operation(), self._chain_lock("all", wait=max(self.remote.remaining(), 0)) as got:
            if not got:
                self.notes.append(
                    "another push of this clone is still running: record queued locally; the "
                    "next push or `repobus sync` carries it"
                )
                return None
            for _ in range(8):
                local, tracking = self._both_heads()
                ahead = self._logs_ahead(local, tracking)
                if not ahead:
                    unpushed_marker(self.repo, False)
                    return None
                res = self.remote.push([(local[r], r, tracking.get(r)) for r in ahead])
                self._track([(r, local[r], tracking.get(r)) for r in ahead if r in res.accepted])
                try:
                    res.raise_refusal(self.remote.name, "push of the bus's records")
                except RemoteError as exc:
                    unpushed_marker(self.repo, True)
                    refused = set(res.refused) or set(ahead)
                    self.notes.append(f"{len(ahead)} chain(s) stay queued locally")
                    return exc, refused
                if res.failure is not None and not res.accepted and not res.rejected:
                    unpushed_marker(self.repo, True)
                    self.notes.append(
                        f"remote '{self.remote.name}' not reached ({res.failure.message}): "
                        f"{len(ahead)} chain(s) queued locally; `repobus sync` pushes them"
                    )
                    return None
                for r in res.rejected:
                    self.sync_chain(r)
            return None

    def _logs_ahead(self, local: dict[str, str], tracking: dict[str, str]) -> list[str]:
        return [
            r
            for r, oid in sorted(local.items())
            if tracking.get(r) != oid and self._name(r).split("/", 1)[0] not in SLOTS
        ]

    def unpushed(self) -> dict[str, int]:
        """Records of this clone not yet on the remote, per chain (`events/<agent>`)."""
        local, tracking = self._both_heads()
        out: dict[str, int] = {}
        for r in self._logs_ahead(local, tracking):
            spec = [local[r]] + ([f"^{tracking[r]}"] if r in tracking else [])
            res = self.repo.git("rev-list", "--count", *spec, "--", check=False)
            count = int(res.stdout.strip() or 0) if res.returncode == 0 else 0
            if count:
                out[self._name(r)] = count
        return out

    def _both_heads(self) -> tuple[dict[str, str], dict[str, str]]:
        """Local bus refs and their tracking refs, in one git call."""
        prefix = self.remote.track_prefix
        res = self.repo.git("for-each-ref", "--format=%(refname) %(objectname)", f"{ROOT}/", prefix)
        local: dict[str, str] = {}
        tracking: dict[str, str] = {}
        for line in res.stdout.decode().splitlines():
            name, _, oid = line.partition(" ")
            if name.startswith(prefix):
                tracking[f"{ROOT}/{name[len(prefix) :]}"] = oid
            else:
                local[name] = oid
        return local, tracking

    def sync_chain(self, ref: str) -> None:
        name = self._name(ref)
        with self.operation():
            res = self.remote.fetch(name)
        if res.refused:
            raise TamperedError(next(iter(res.refused.values())))
        self.integrate([ref])

    # -- integration -----------------------------------------------------------------------
    def integrate(
        self, only: list[str] | None = None, report: SyncReport | None = None
    ) -> SyncReport:
        """Move local bus refs to what was fetched: fast-forward; keep local-only records
        (re-chained on top when the remote moved too); drop offline slot changes that lost."""
        report = report or SyncReport()
        tracking = {f"{ROOT}/{k}": v for k, v in self.remote.tracking_heads().items()}
        local = {f"{ROOT}/{k}": v for k, v in self._heads_all().items()}
        names = only if only is not None else sorted(set(tracking) | set(local))
        for ref in names:
            t, mine = tracking.get(ref), local.get(ref)
            if t == mine or t is None:
                continue
            if mine is None or self.remote.is_ancestor(mine, t):
                self._set(ref, t, mine)
            elif self.remote.is_ancestor(t, mine):
                continue  # local-only records, to be pushed
            elif self._name(ref).split("/", 1)[0] in SLOTS:
                self._set(ref, t, mine)
                if self._same_change(t, mine):
                    report.confirmed.append(ref)  # our own write, applied by an earlier push
                else:
                    report.lost[ref] = self._holder(t)
            else:
                self._rechain(ref, t, mine)
                report.rechained.append(ref)
        return report

    def _heads_all(self) -> dict[str, str]:
        """Every bus ref's tip, keyed `kind/key` (as the tracking heads are)."""
        return {ref[len(ROOT) + 1 :]: oid for ref, oid in self.all_heads().items()}

    def _same_change(self, theirs: str, mine: str) -> bool:
        """Whether the remote's version is this clone's own change made again: both on the
        same parent, by the same agent, to the same status and fencing token (a claim whose
        push outcome was unknown, then recorded offline and synced)."""
        res = self.repo.git("log", "--no-walk", "--format=%P%x00%B%x1e", theirs, mine)
        parts = [c.lstrip(b"\n") for c in res.stdout.split(b"\x1e") if c.strip()]
        if len(parts) != 2:
            return False
        (p1, b1), (p2, b2) = (p.split(b"\x00", 1) for p in parts)
        if p1 != p2:
            return False
        r1, r2 = self._record(b1, theirs), self._record(b2, mine)
        keys = ("task_id", "agent_id", "engineer", "status", "fencing_token")
        return all(r1.get(k) == r2.get(k) for k in keys)

    def _holder(self, oid: str) -> str:
        body = self.repo.git("log", "-1", "--format=%B", oid).stdout
        rec = self._record(body, oid)
        return str(rec.get("agent_id") or rec.get("engineer") or "?")

    def _rechain(self, ref: str, onto: str, mine: str) -> None:
        """Re-create the local-only records of `ref` on top of the remote's chain."""
        kind = self._name(ref).split("/", 1)[0]
        mine_only = self._log([f"{mine}", f"^{onto}"], reverse=True)
        base_body = self.repo.git("log", "-1", "--format=%B", onto).stdout
        tip = Slot(kind, self._name(ref), self._record(base_body, onto), onto)
        for entry in mine_only:
            ts = entry.record.get("ts")
            from repobus.records.times import parse_or_none

            when = parse_or_none(ts) or int(time.time())
            rec, oid = self.prepare(entry.record, tip, when)
            tip = Slot(kind, tip.key, rec, oid)
        if not self._set(ref, tip.version, mine):
            raise CasFailed(ref)

    # -- sync ------------------------------------------------------------------------------
    def sync(self) -> SyncReport:
        """Fetch the whole bus, integrate it, push what this clone has that the remote lacks.
        Raises (after integrating) when records stay unpushed: the refusal's own error for a
        refused push, RemoteError when the remote could not be reached."""
        report = self.last_report = SyncReport()
        with self.operation():
            fetched = self.remote.fetch()
            report.fetched = fetched.updated
            report.refused = fetched.refused
            self.integrate(report=report)
            local, tracking = self._both_heads()
            ahead = [
                r
                for r, oid in sorted(local.items())
                if tracking.get(r) != oid and r not in report.refused
            ]
            logs = self._logs_ahead(local, tracking)
            logs = [r for r in logs if r not in report.refused]
            failure: RemoteError | None = None
            if logs:
                res = self.remote.push([(local[r], r, tracking.get(r)) for r in logs])
                self._track([(r, local[r], tracking.get(r)) for r in logs if r in res.accepted])
                for r in logs:
                    (report.pushed if r in res.accepted else report.queued).append(r)
                try:
                    res.raise_refusal(self.remote.name, "push of the bus's records")
                except RemoteError as exc:
                    failure = exc
                if failure is None and res.failure is not None and not res.accepted:
                    failure = res.failure.error(self.remote.name, "push of the bus's records")
            for r in (r for r in ahead if r not in logs):
                self._sync_slot(r, local[r], tracking.get(r), report)
            unpushed_marker(self.repo, bool(report.queued))
        housekeeping.maybe_pack(self.repo, self.cfg)  # fetched objects too, in a reading clone
        if failure is not None:
            failure.message += f" ({len(report.queued)} chain(s) stay queued in this clone)"
            raise failure
        return report

    def _sync_slot(self, r: str, mine: str, tracked: str | None, report: SyncReport) -> None:
        """Push one offline slot change; the remote decides whether it stands."""
        res = self.remote.push([(mine, r, tracked)])
        if res.ok and r in res.accepted:
            self._set(self.remote.tracking(r), mine, tracked)
            report.confirmed.append(r)
            return
        res.raise_refusal(self.remote.name, f"push of {r}")
        if res.rejected:
            self.sync_chain(r)  # integrate tells our own earlier write from another's win
            after = self._heads_all().get(self._name(r))
            if after is not None and after != mine and r not in report.confirmed:
                if self._same_change(after, mine):
                    report.confirmed.append(r)
                else:
                    report.lost[r] = self._holder(after)
            return
        raise (res.failure or Failure("transport", "push failed")).error(
            self.remote.name, f"push of {r}"
        )


def unpushed_marker(repo: Repo, present: bool) -> None:
    """A file that exists while this clone holds records the remote refused or could not
    take: status and doctor then count them (the lean status path steps aside for it)."""
    from pathlib import Path

    from repobus.git.fingerprint import unpushed_path

    path = Path(unpushed_path(str(repo.common_dir)))
    if present:
        path.parent.mkdir(exist_ok=True)
        path.touch()
    else:
        path.unlink(missing_ok=True)


def verify_remote_clock(store: RemoteGitStore) -> int | None:
    """Seconds by which the newest fetched remote commit is ahead of the local clock."""
    res = store.repo.git(
        "for-each-ref",
        "--sort=-committerdate",
        "--count=1",
        "--format=%(committerdate:unix)",
        store.remote.track_prefix,
    )
    text = res.stdout.decode().strip()
    return int(text) - int(time.time()) if text else None


__all__ = [
    "RemoteGitStore",
    "SyncReport",
    "TamperedError",
    "unpushed_marker",
    "verify_remote_clock",
    "models",
]
