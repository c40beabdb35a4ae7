"""Group commit: the log chains (events, messages) a clone's agents append, pushed to the remote
in as few pushes as possible, whichever agents wrote them.

Invariants:
- a record is appended locally first (never lost); its writer's `log` returns once the remote
  holds it, or with a note (queued: the next push or `repobus sync` carries it), or with the
  remote's refusal (7/8: it stays queued and says so);
- pushes of one clone take turns (a flock, `repobus-locks/push-all.lock`); a writer first
  waits, blocked in the kernel (no CPU), until no push of the clone is in flight, then reads
  from the ref files whether that push carried its record - if so it starts no git at all;
  else it takes the turn and pushes every chain that is ahead, in one git process;
- only chains ahead of their tracking refs are pushed, each as a fast-forward (no `+`): a
  chain another clone moved on is not offered, and one that diverged comes back rejected
  and is re-chained (store/remotesync.py `sync_chain`);
- a holder that dies mid-push strands nothing: the kernel drops its lock and every waiter
  whose record was not carried pushes it itself;
- one stalled push does not queue every agent of the clone behind it: a wait ends at the
  operation's time budget (`repobus.remoteTimeout`) and leaves the record queued.
"""

from __future__ import annotations

import os
import time

from repobus.errors import RemoteError
from repobus.git import fingerprint, refsdisk
from repobus.git.gitcmd import COUNTS
from repobus.records.layout import LOG_KINDS
from repobus.store import files
from repobus.store.remotesync import RemoteTracking, unpushed_marker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

GATHER = 0.01  # seconds the push turn's new holder waits for just-released agents to append
GATHER_AFTER = 0.1  # ... when the previous push of the clone ended less than this ago


class GroupPush(RemoteTracking):
    """Publishing the log chains of a clone (the base of RemoteGitStore)."""

    @property
    def _turn(self) -> Path:
        return self.repo.common_dir / "repobus-locks" / "push-all.lock"

    def _push_lock(self, shared: bool = False) -> AbstractContextManager[bool]:
        """The clone's push turn, held exclusively through a push; a `shared` hold is had
        once no push of this clone is in flight (all such waiters wake at once).  Waited
        for at most the operation's remaining time, blocked in the kernel."""
        return files.locked_within(self._turn, self.remote.remaining(), shared)

    def _carried(self, ref: str, oid: str) -> bool:
        """Whether `ref`'s tracking ref is `oid`, read from the ref files without git
        (git/refsdisk; unsure reads as not carried: the push turn then finds it up to date)."""
        return refsdisk.tip(self._common, self.remote.tracking(ref)) == oid

    def _gather(self) -> None:
        """The turn's new holder lets the agents the previous push just released append
        again before it reads what is ahead, so one push carries them all (group commit):
        a short sleep, only while pushes follow each other closely."""
        try:
            since = time.time() - self._turn.stat().st_mtime
        except OSError:
            return
        if 0 <= since < GATHER_AFTER:
            time.sleep(GATHER)

    def _publish_own(self, kind: str, writer: str, oid: str) -> None:
        """Publish after a local append: first wait for a push of this clone in flight to
        end (it may carry the record: then no git at all), else take the push turn.  A
        refusal of this writer's own chain is an error (the record stays queued locally,
        and says so); anything else is a note."""
        ref = self.ref(kind, writer)
        with self._push_lock(shared=True):
            pass
        if self._carried(ref, oid):
            return
        refusal = self.publish(kind, writer, oid)
        if refusal is not None and ref in refusal[1]:
            err = refusal[0]
            err.message = f"{kind[:-1]} recorded in this clone but not on the remote: {err.message}"
            err.hint = (err.hint or "") + "; it stays queued: `repobus sync` pushes it once allowed"
            raise err

    def publish(
        self, kind: str, writer: str, oid: str | None = None
    ) -> tuple[RemoteError, set[str]] | None:
        """Push every log chain of this clone that is ahead of the remote, in one push (group
        commit: whichever agents wrote them).

        Pushes from one clone take turns (`_push_lock`); nothing is left behind: the holder
        pushes every chain ahead when git reads them (after `_gather`), and a record
        appended after that is its writer's to push, who waits for this push to end and then
        takes the turn unless it was carried.  A waiter gives up when its time budget is
        spent (its record stays queued, with a note), so one stalled push does not make
        every agent of the clone wait in turn.  `oid`: the caller's record (no push once the
        remote holds it).  Returns the refusal (the error and the refs refused) when the
        remote refused the push for a reason retrying cannot fix."""
        with self.operation(), self._push_lock() as got:
            if not got:
                self.notes.append(
                    "another push of this clone is still running: record queued locally; the "
                    "next push or `repobus sync` carries it"
                )
                return None
            if oid is not None and self._carried(self.ref(kind, writer), oid):
                return None  # the push that held the turn before carried it
            at = fingerprint.generation(self._common)
            if at != "-" and files.read_text(self._published) == at:
                return None  # no ref moved since a push left nothing ahead: ours went with it
            self._gather()
            try:
                return self._push_rounds(self.ref(kind, writer))
            finally:
                os.utime(self._turn)  # when the last push ended (`_gather`)

    def _push_rounds(self, own: str) -> tuple[RemoteError, set[str]] | None:
        """Push the log chains ahead, in one git process (Remote.push_logs, which moves the
        tracking refs too); a chain the remote rejected is synced and pushed again.  `own`:
        the caller's chain, refused along with the rest when the whole push is."""
        for _ in range(8):
            gen, mine = fingerprint.generation(self._common), COUNTS.bumps
            ahead = self._logs_ahead(*self._both_heads(LOG_KINDS))
            if not ahead:
                unpushed_marker(self.repo, False)
                files.write_small(self._published, gen)
                return None
            # git moves the tracking refs itself: not counted in the write generation, which
            # stands for the bus's refs (refs/repobus/*) that the status snapshot and the
            # mirror are made from - a snapshot this clone's append patched stays current
            res = self.remote.push_logs(ahead)
            try:
                res.raise_refusal(self.remote.name, "push of the bus's records")
            except RemoteError as exc:
                unpushed_marker(self.repo, True)
                self.notes.append("the chain(s) ahead stay queued locally")
                return exc, set(res.refused) or {own}
            if res.failure is not None and not res.accepted and not res.rejected:
                unpushed_marker(self.repo, True)
                self.notes.append(
                    f"remote '{self.remote.name}' not reached ({res.failure.message}): "
                    "record(s) queued locally; `repobus sync` pushes them"
                )
                return None
            for r in res.rejected:
                self.sync_chain(r)
            if res.rejected or res.failure is not None:
                continue  # synced above, or cut off part-way: push again
            now = fingerprint.generation(self._common)
            if fingerprint.only_these(gen, now, COUNTS.bumps - mine):
                # no ref moved but the tracking refs this push moved: nothing is ahead now
                unpushed_marker(self.repo, False)
                files.write_small(self._published, now)
            return None  # a record appended since is its writer's to push
        return None

    @property
    def _common(self) -> str:
        return str(self.repo.common_dir)

    @property
    def _published(self) -> Path:
        """The write generation at which a push of this clone last left no chain ahead of
        the remote (waiters for the push turn read it: unchanged, their record went too)."""
        return self.repo.common_dir / "repobus" / f"published-{self.remote.name}"
