"""The remote store's view of the remote: tracking refs, integrating what was fetched, sync.

A fetch moves the tracking refs (`refs/repobus-remote/<remote>/*`); integrating moves the local
bus refs to them by fast-forward, keeps local-only records (re-chained on top when one agent id
wrote from two clones: nothing lost, nothing published rewritten) and drops offline slot
changes that lost - unless the remote's version is this clone's own change made again, which
is confirmed, never reported as lost to the same agent.  `sync` then pushes what this clone
has that the remote lacks, and raises while records stay unpushed.
"""

from __future__ import annotations

import time

from repobus.errors import CasFailed, CorruptError, RemoteError
from repobus.git.config import Config
from repobus.git.gitcmd import Repo, zero_oid
from repobus.records.layout import ROOT
from repobus.store import archive, housekeeping
from repobus.store.base import Slot
from repobus.store.failures import Failure
from repobus.store.gitstore import GitStore
from repobus.store.remote import Remote
from repobus.store.tracking import LAYOUT, migrate

TYPE_CHECKING = False
if TYPE_CHECKING:
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


class RemoteTracking(GitStore):
    """A git store with a remote: its tracking refs, integration and sync (the writes that go
    through the remote are in remotestore.RemoteGitStore)."""

    def __init__(self, repo: Repo, cfg: Config) -> None:
        super().__init__(repo, cfg)
        assert cfg.remote
        self.remote = Remote(repo, cfg.remote, cfg.remote_timeout, cfg.lock_stale)
        self.last_report: SyncReport | None = None  # what the last sync did, even if it raised
        if cfg.raw.get("trackinglayout") != LAYOUT:
            migrate(repo, cfg.remote)  # once per clone: tracking refs out of refs/remotes/

    @property
    def remote_name(self) -> str:
        return self.remote.name

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

    def refresh(self, kind: str, key: str) -> None:
        """Fetch one slot, with the archive (a glob: a remote without one is fine), in one
        fetch; a slot gone from the remote's refs is looked for in its archive."""
        ref, name = self.ref(kind, key), f"{kind}/{key}"
        with self.operation():
            if kind not in SLOTS:
                res = self.remote.fetch(name, unchanged=True)
            else:
                res = self.remote.fetch((name, "archive*"), unchanged=True)
                if res.missing:
                    res = self.remote.fetch("archive*", unchanged=True)
                    self._drop_archived(name)
        if res.refused:
            raise TamperedError(
                next(iter(res.refused.values())),
                hint="run `repobus verify`; restore the ref on the remote",
            )
        self.integrate([archive.REF, ref] if kind in SLOTS else [ref])

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

    def _both_heads(
        self, kinds: tuple[str, ...] | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Local bus refs and their tracking refs (of `kinds`, else all), in at most one git
        call: from the ref files when there are few (git/refsdisk)."""
        track = self.remote.track_prefix
        under = [""] if kinds is None else [f"{k}/" for k in kinds]
        tips = self._tips_under(*(f"{ROOT}/{u}" for u in under), *(track + u for u in under))
        local: dict[str, str] = {}
        tracking: dict[str, str] = {}
        for name, oid in tips.items():
            if name.startswith(track):
                tracking[f"{ROOT}/{name[len(track) :]}"] = oid
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
        forward: list[tuple[str, str, str | None]] = []
        for ref in names:
            t, mine = tracking.get(ref), local.get(ref)
            if t is None and mine is not None and self._archived_away(ref, mine):
                continue
            if t == mine or t is None:
                continue
            if ref == archive.REF and (mine is None or self.remote.is_ancestor(mine, t)):
                self._set(ref, t, mine)  # now: the slots after it check it (_archived_away)
            elif mine is None or self.remote.is_ancestor(mine, t):
                forward.append((ref, t, mine))  # moved together below
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
        self._forward(forward)
        return report

    def _forward(self, moves: list[tuple[str, str, str | None]]) -> None:
        """Fast-forward local refs (ref, new, old) in one transaction (a fresh clone takes
        thousands at once); one by one if it fails (a ref moved meanwhile, or a lock)."""
        if not moves:
            return
        script = "".join(f"update {r} {new} {old or zero_oid()}\n" for r, new, old in moves)
        res = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
        if res.returncode != 0:
            for r, new, old in moves:
                self._set(r, new, old)

    def _drop_archived(self, name: str) -> None:
        """Forget the tracking ref of slot `name` when the remote archived it (its archive, as
        tracked, holds it at the tracked tip or later)."""
        tracking = self.remote.tracking_heads()
        if name in tracking and archive.holds(
            self.repo, tracking.get("archive"), name, tracking[name]
        ):
            self.repo.git(
                "update-ref", "-d", f"{self.remote.track_prefix}{name}", tracking[name], check=False
            )

    def _archived_away(self, ref: str, mine: str) -> bool:
        """A local slot ref the remote archived (its archive, now this clone's, holds it at
        this tip or later) is deleted here too: the slot reads from the archive."""
        path = self._name(ref)
        if path.split("/", 1)[0] not in SLOTS or not archive.covers(self, path, mine):
            return False
        self.repo.git("update-ref", "-d", ref, mine, check=False)
        return True

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
            rec, oid = self.prepare(kind, tip.key, entry.record, tip, when)
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


def verify_remote_clock(store: RemoteTracking) -> int | None:
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
