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
from dataclasses import dataclass, field

from repobus import models
from repobus.config import Config
from repobus.errors import CasFailed, CorruptError, RemoteError
from repobus.gitcmd import Repo, zero_oid
from repobus.store import Entry, Slot
from repobus.store.gitstore import ROOT, GitStore
from repobus.store.remote import Remote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

SLOTS = ("claims", "assignments")


class TamperedError(CorruptError):
    kind = "rewritten"


@dataclass
class SyncReport:
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    queued: list[str] = field(default_factory=list)
    rechained: list[str] = field(default_factory=list)


class RemoteGitStore(GitStore):
    def __init__(self, repo: Repo, cfg: Config) -> None:
        super().__init__(repo, cfg)
        assert cfg.remote
        self.remote = Remote(repo, cfg.remote, cfg.remote_timeout, cfg.lock_stale)
        self.offline = False
        self.notes: list[str] = []

    # -- helpers -------------------------------------------------------------------------
    def _name(self, ref: str) -> str:
        return ref[len(ROOT) + 1 :]

    def _set(self, ref: str, new: str, old: str | None) -> bool:
        return self.remote.set_ref(ref, new, old)

    def _track(self, pushed: list[tuple[str, str, str | None]]) -> None:
        """Move the tracking refs of pushed chains, (ref, new, old) each, in one git call;
        one by one if that transaction fails (a tracking ref moved meanwhile)."""
        if not pushed:
            return
        script = "".join(
            f"update {self.remote.tracking(r)} {new} {old or zero_oid()}\n"
            for r, new, old in pushed
        )
        res = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
        if res.returncode != 0:
            for r, new, old in pushed:
                if not self._set(self.remote.tracking(r), new, old):
                    self.notes.append(
                        f"could not move {self.remote.tracking(r)} (locked?); "
                        "`repobus doctor --fix` clears a stale lock"
                    )

    def _accepted(self, ref: str, oid: str, old: str | None) -> None:
        self._set(ref, oid, old)
        self._set(self.remote.tracking(ref), oid, self.tracking_of(ref))

    def tracking_of(self, ref: str) -> str | None:
        res = self.repo.git("rev-parse", "-q", "--verify", self.remote.tracking(ref), check=False)
        return res.stdout.decode().strip() or None

    @contextmanager
    def _chain_lock(self, name: str, blocking: bool = True) -> Iterator[bool]:
        folder = self.repo.common_dir / "repobus-locks"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"push-{name.replace('/', '-')}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def _unreachable(self, err: str | None) -> RemoteError:
        return RemoteError(
            f"remote '{self.remote.name}' is unreachable ({err}); nothing was changed",
            hint="retry when the remote is back, or pass --offline to record a local-only "
            "change that the next `repobus sync` confirms or rejects",
        )

    # -- slots: compare-and-swap on the remote ---------------------------------------------
    def refresh(self, kind: str, key: str) -> None:
        ref = self.ref(kind, key)
        res = self.remote.fetch(f"{kind}/{key}")
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
        ref = self.ref(kind, key)
        old = expect.version if expect else None
        res = self.remote.push([(oid, ref, old)])
        if res.ok and ref in res.accepted:
            self._accepted(ref, oid, old)
            return Slot(kind, key, rec, oid)
        if res.rejected:
            self.refresh(kind, key)
            raise CasFailed(ref, self.get(kind, key), known=True)
        now = self.remote.ls(ref)  # unknown outcome: does the remote hold my commit?
        if now == oid:
            self._accepted(ref, oid, old)
            return Slot(kind, key, rec, oid)
        if now is None:
            raise self._unreachable(res.transport_error)
        self.refresh(kind, key)
        raise CasFailed(ref)

    # -- logs: local first, then pushed ------------------------------------------------------
    def append(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot | None = None
    ) -> Entry:
        if guard is not None and not self.offline:
            entry = self._append_fenced(kind, writer, record, guard)
            if entry is not None:
                return entry
        entry = super().append(kind, writer, record, guard)
        if not self.offline:
            self.publish(kind, writer)
        return entry

    def _append_fenced(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot
    ) -> Entry | None:
        """Push the record and a heartbeat on the guard claim in one atomic push.  None when
        the remote is unreachable (the caller then queues the record locally)."""
        ref, gref = self.ref(kind, writer), self.ref(guard.kind, guard.key)
        for _ in range(5):
            with self._chain_lock("all"):
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
                res = self.remote.push(
                    [(oid, ref, self.tracking_of(ref)), (boid, gref, guard.version)], atomic=True
                )
                if res.ok:
                    self._accepted(ref, oid, tip.version if tip else None)
                    self._accepted(gref, boid, guard.version)
                    return Entry(rec, writer, oid)
            if not res.rejected:
                self.notes.append(f"remote unreachable: {kind} record queued locally")
                return None
            self.refresh(guard.kind, guard.key)
            now = self.get(guard.kind, guard.key)
            if now is None or now.version != guard.version:
                raise CasFailed(gref)
            self.sync_chain(ref)
        raise CasFailed(ref)

    def publish(self, kind: str, writer: str) -> None:
        """Push every log chain of this clone that is ahead of the remote, in one push.

        Pushes from one clone are serialised by a clone-wide lock; a process that waited for
        it usually finds its record already carried by the previous push (records batch under
        load), and nothing is left behind: the holder pushes until no chain is ahead."""
        with self._chain_lock("all"):
            for _ in range(8):
                local, tracking = self._both_heads()
                ahead = [
                    r
                    for r, oid in sorted(local.items())
                    if tracking.get(r) != oid and self._name(r).split("/", 1)[0] not in SLOTS
                ]
                if not ahead:
                    return
                res = self.remote.push([(local[r], r, tracking.get(r)) for r in ahead])
                self._track([(r, local[r], tracking.get(r)) for r in ahead if r in res.accepted])
                if res.transport_error and not res.accepted:
                    self.notes.append(
                        f"remote unreachable: {len(ahead)} chain(s) queued "
                        "locally; `repobus sync` pushes them"
                    )
                    return
                for r in res.rejected:
                    self.sync_chain(r)

    def _both_heads(self) -> tuple[dict[str, str], dict[str, str]]:
        """Local bus refs and their tracking refs, in one git call."""
        prefix = f"refs/remotes/{self.remote.name}-repobus/"
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
                report.lost[ref] = self._holder(t)
            else:
                self._rechain(ref, t, mine)
                report.rechained.append(ref)
        return report

    def _heads_all(self) -> dict[str, str]:
        """Every bus ref's tip, keyed `kind/key` (as the tracking heads are)."""
        return {ref[len(ROOT) + 1 :]: oid for ref, oid in self.all_heads().items()}

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
            from repobus.times import parse_or_none

            when = parse_or_none(ts) or int(time.time())
            rec, oid = self.prepare(entry.record, tip, when)
            tip = Slot(kind, tip.key, rec, oid)
        if not self._set(ref, tip.version, mine):
            raise CasFailed(ref)

    # -- sync ------------------------------------------------------------------------------
    def sync(self) -> SyncReport:
        report = SyncReport()
        fetched = self.remote.fetch()
        report.fetched = fetched.updated
        report.refused = fetched.refused
        self.integrate(report=report)
        tracking = {f"{ROOT}/{k}": v for k, v in self.remote.tracking_heads().items()}
        local = {f"{ROOT}/{k}": v for k, v in self._heads_all().items()}
        ahead = [
            r
            for r, oid in sorted(local.items())
            if tracking.get(r) != oid and r not in report.refused
        ]
        logs = [r for r in ahead if self._name(r).split("/", 1)[0] not in SLOTS]
        if logs:
            res = self.remote.push([(local[r], r, tracking.get(r)) for r in logs])
            if res.transport_error and not res.accepted:
                raise self._unreachable(res.transport_error)
            self._track([(r, local[r], tracking.get(r)) for r in logs if r in res.accepted])
            for r in logs:
                (report.pushed if r in res.accepted else report.queued).append(r)
        for r in (r for r in ahead if r not in logs):
            res = self.remote.push([(local[r], r, tracking.get(r))])
            if res.ok and r in res.accepted:
                self._set(self.remote.tracking(r), local[r], tracking.get(r))
                report.confirmed.append(r)
            elif res.rejected:
                self.sync_chain(r)
                after = self._heads_all().get(self._name(r))
                report.lost[r] = self._holder(after) if after else "?"
            else:
                raise self._unreachable(res.transport_error)
        # Bus writes bypass git's own auto-gc triggers; sync is the natural moment to let git
        # pack loose objects when there are enough of them (cheap when there are not).
        self.repo.git("gc", "--auto", "--quiet", check=False)
        return report


def verify_remote_clock(store: RemoteGitStore) -> int | None:
    """Seconds by which the newest fetched remote commit is ahead of the local clock."""
    res = store.repo.git(
        "for-each-ref",
        "--sort=-committerdate",
        "--count=1",
        "--format=%(committerdate:unix)",
        f"refs/remotes/{store.remote.name}-repobus/",
    )
    text = res.stdout.decode().strip()
    return int(text) - int(time.time()) if text else None


__all__ = ["RemoteGitStore", "SyncReport", "TamperedError", "verify_remote_clock", "models"]
