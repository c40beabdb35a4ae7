"""The git backend with a shared remote as the arbiter.

Claims and assignments are compare-and-swaps on the remote's ref: the change is pushed with a
lease on the version read, and local refs move only after the remote accepted it.  A lost race
re-fetches that ref so the caller can name the winner.  Remote unreachable: nothing changes
anywhere (claims fail closed) unless the store is `offline`, in which case the change is
recorded locally and the next `sync` confirms it or reports that another agent won.

Events and messages are written locally first (never lost), then pushed at once when the
remote is reachable, by `sync` otherwise (group commit: store/grouppush.py).  One chain per
writer means pushes do not contend;
if one agent id wrote from two clones, the local-only records are re-chained on top of the
remote's (nothing is lost, nothing published is rewritten).  A guarded event is pushed
atomically with a heartbeat on the claim it was checked against, so a holder fenced off on
another machine cannot log on the task.
"""

from __future__ import annotations

import os
import time

from repobus.errors import CasFailed, UnknownOutcomeError
from repobus.records.layout import ROOT
from repobus.store import archive, snappatch
from repobus.store.base import Entry, Slot
from repobus.store.failures import Failure
from repobus.store.grouppush import GroupPush

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class RemoteGitStore(GroupPush):
    """The writes: compare-and-swaps on the remote for slots, local-first logs published in
    group pushes, guarded events pushed atomically with a heartbeat on their claim."""

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

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        if self.offline:
            slot = super().put(kind, key, record, expect)
            self.notes.append(
                f"{self.ref(kind, key)} recorded offline; `repobus sync` will "
                "confirm it or report who won"
            )
            return slot
        rec, oid = self.prepare(kind, key, record, expect)
        old = archive.old_value(expect)
        probe = snappatch.probe(self.repo.common_dir, self.use_index)
        with self.operation():
            slot = self._put_remote(Slot(kind, key, rec, oid), old)
        if kind == "claims" and rec.get("status") in archive.FINISHED:
            self.archive_finished()
        else:  # the status snapshot as a rebuild would give it (store/snappatch.py)
            snappatch.apply(probe, claims=[(key, slot.record)] if kind == "claims" else [])
        return self.remember(slot)  # read back without git while its ref names it

    def _archive_lease(self, kind: str, old: str | None) -> list[tuple[str, str, str | None]]:
        """Creating a slot (new or archived) also leases the archive as this clone last saw
        it: git checks a lease against what the server advertised, so a slot archived there
        meanwhile makes the atomic push fail instead of starting its chain over."""
        if old is not None or kind not in archive.KINDS:
            return []
        seen = archive.tip_on_disk(self.repo.common_dir, self.remote.tracking(archive.REF))
        return [(seen, archive.REF, seen)] if seen else []

    def _put_remote(self, slot: Slot, old: str | None) -> Slot:
        """Push `slot`'s commit with a lease on `old`.  A push cut off in transit may still be
        applied by the server after we read the ref back, so once any try was cut off, giving
        up is "outcome unknown" (9), never "nothing was changed"."""
        ref, oid = self.ref(slot.kind, slot.key), slot.version
        cut_off: Failure | None = None
        lease = self._archive_lease(slot.kind, old)
        for _attempt in range(3):
            res = self.remote.push([(oid, ref, old), *lease], atomic=bool(lease))
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

    def archive_finished(
        self, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Archive the finished slots on the remote, then here, in one atomic push (below).
        Only on a remote whose bus has an archive, unless `force` (`repobus archive`, which
        first fetches the whole bus); a push that fails changes nothing, and a later write
        tries again (`force`: raises)."""
        if self.offline or (self.tracking_of(archive.REF) is None and not force):
            return 0
        if force:  # decide on the remote's whole bus, not on this clone's copy
            with self.operation():
                self.remote.fetch()
            self.integrate()
        tracked = self.remote.tracking_heads()  # only what the remote holds as we do moves
        moving = sorted(
            (r, o)
            for r, o in archive.finished(self).items()
            if tracked.get(r[len(ROOT) + 1 :]) == o
        )
        if not moving or (len(moving) < archive.BATCH and not force):
            return 0
        if not self._archive_push(dict(moving), tracked, force):
            return 0
        if progress is not None:
            progress(len(moving), len(moving))
        return len(moving)

    def _archive_push(self, moving: dict[str, str], tracked: dict[str, str], force: bool) -> bool:
        """One atomic push: the archive's new commit, and the deletion of every moving slot
        by pruning the slot kinds down to the slots that stay (staged under a private
        namespace), each ref leased on what this clone tracked.  Then the same moves here."""
        seen = tracked.get("archive")
        paths = {r[len(ROOT) + 1 :]: o for r, o in moving.items()}
        new, _ = archive.build(self.repo, seen, paths, int(time.time()))
        assert new is not None
        stage = f"refs/repobus-stage/{self.remote.name}/{os.getpid()}-{os.urandom(4).hex()}"
        keep = {
            n: o
            for n, o in tracked.items()
            if n.split("/", 1)[0] in archive.KINDS and f"{ROOT}/{n}" not in moving
        }
        script = "".join(f"create {stage}/{n} {o}\n" for n, o in keep.items())
        try:
            if script:
                self.repo.git("update-ref", "--stdin", stdin=script.encode())
            specs = [f"{stage}/{k}/*:{ROOT}/{k}/*" for k in archive.KINDS]
            with self.operation():
                res = self.remote.prune_push([*specs, f"{new}:{archive.REF}"])
        finally:
            drop = "".join(f"delete {stage}/{n} {o}\n" for n, o in keep.items())
            if drop:
                self.repo.git("update-ref", "--stdin", stdin=drop.encode(), check=False)
        if not res.ok:
            if force:
                res.raise_refusal(self.remote.name, "push of the archive")
                if res.failure is not None:
                    raise res.failure.error(self.remote.name, "push of the archive")
                raise CasFailed(archive.REF)
            return False
        # git moved the tracking refs itself (the push's fetch refspec); ours follow suit
        script = f"update {archive.REF} {new}\nupdate {self.remote.tracking(archive.REF)} {new}\n"
        for r, o in moving.items():
            script += f"delete {r} {o}\ndelete {self.remote.tracking(r)}\n"
        moved = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
        if moved.returncode != 0:  # a local ref moved meanwhile: the next sync settles it
            self.notes.append(
                f"archived on remote '{self.remote.name}'; `repobus sync` tidies here"
            )
        return True

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
                self._publish_own(kind, writer, entry.pos)
            return entry

    def _both_landed(
        self,
        landed: tuple[Slot, Slot],
        tip: Slot | None,
        guard: Slot,
        probe: snappatch.Probe | None,
    ) -> Entry:
        """A guarded record and its heartbeat the remote took together: move the local refs,
        and patch the status snapshot as a rebuild would give it (store/snappatch.py)."""
        entry, beat = landed
        ref, gref = self.ref(entry.kind, entry.key), self.ref(beat.kind, beat.key)
        self._accepted(ref, entry.version, tip.version if tip else None)
        self._accepted(gref, beat.version, guard.version)
        snappatch.apply(
            probe,
            events=[(ref, entry.record)] if entry.kind == "events" else [],
            claims=[(beat.key, beat.record)] if beat.kind == "claims" else [],
        )
        return Entry(entry.record, entry.key, entry.version)

    def _append_fenced(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot
    ) -> Entry | None:
        """Push the record and a heartbeat on the guard claim in one atomic push.  None when
        the remote could not be reached (the caller then queues the record locally)."""
        ref, gref = self.ref(kind, writer), self.ref(guard.kind, guard.key)
        for _ in range(5):
            with self._push_lock() as got:
                if not got:
                    self.notes.append(
                        f"another push of this clone is still running: {kind[:-1]} queued "
                        "locally; the next push or `repobus sync` carries it"
                    )
                    return None
                tip = self.get(kind, writer)
                rec, oid = self.prepare(kind, writer, record, tip)
                beat = dict(
                    guard.record,
                    op="heartbeat",
                    by=writer,
                    updated_at=rec.get("ts") or guard.record.get("updated_at"),
                )
                beat.pop("previous_holder", None)
                brec, boid = self.prepare(guard.kind, guard.key, beat, guard)
                tracked = self.tracking_of(ref)
                probe = snappatch.probe(self.repo.common_dir, self.use_index)
                res = self.remote.push(
                    [(oid, ref, tracked), (boid, gref, guard.version)], atomic=True
                )
                landed = (Slot(kind, writer, rec, oid), Slot(guard.kind, guard.key, brec, boid))
                if res.ok:
                    return self._both_landed(landed, tip, guard, probe)
                res.raise_refusal(self.remote.name, f"push of {kind[:-1]} {ref}; nothing written")
                if not res.rejected:
                    failure = res.failure or Failure("transport", "push failed")
                    verdict = (
                        "not applied"
                        if failure.certain_nothing_applied
                        else self._resolve(ref, oid, tracked)
                    )
                    if verdict == "applied":  # atomic: the heartbeat landed with it
                        return self._both_landed(landed, tip, guard, probe)
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


__all__ = ["RemoteGitStore"]
