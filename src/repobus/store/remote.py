"""Talking to the shared remote: pushes with a lease, fetches that refuse rewrites, and the
truth about every failure.

Invariants (GIT-FACTS.md):
- every push carries `--force-with-lease=REF:EXPECTED` (empty = must not exist) and never a
  `+` refspec, so the remote accepts a change only if the ref is still what we read: exactly
  one winner across machines;
- fetches go through a private quarantine namespace and move the tracking refs
  (`refs/repobus-remote/<remote>/*`) only by fast-forward, so a history rewritten on the remote
  is refused (reported), never taken silently; fetch negotiation offers only the bus's own refs,
  never another fetch's quarantine (which may vanish mid-fetch).  A clone's first fetch of the
  whole bus (no tracking ref yet: nothing to compare) lands in the tracking refs directly, by a
  refspec without `+`, so git too only creates or fast-forwards them;
- the tracking refs live outside `refs/remotes/`, and no fetch refspec is configured for them:
  `git branch -a` does not list them, a plain `git fetch` does not print them, and a plain
  `git push` never moves them behind repobus's back;
- every failure is classified from git's own words (store/failures.py);
- one command spends at most `repobus.remoteTimeout` on the network in all (`operation()`),
  and a git that runs out of time is killed with every process below it.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from repobus.git import gitcmd
from repobus.git.gitcmd import GitTimeout, Repo
from repobus.records.layout import ROOT
from repobus.store import incoming
from repobus.store.failures import (
    CONTENTION,
    NEUTRAL,
    TRANSIENT,
    Failure,
    FetchResult,
    PushResult,
    classify,
    last_error,
)
from repobus.store.tracking import INCOMING_ROOT, TRACK_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager


class Remote:
    def __init__(
        self, repo: Repo, name: str, timeout: float = 30.0, lock_stale: float = 10.0
    ) -> None:
        self.repo = repo
        self.name = name
        self.timeout = timeout
        self.lock_stale = lock_stale
        # One budget per operation, per thread: the dashboard and the MCP server share one
        # store between the threads that serve requests.
        self._budget = threading.local()

    # -- one time budget per operation -------------------------------------------------------
    @contextmanager
    def operation(self) -> Iterator[None]:
        """Every network call inside shares one budget of `timeout` seconds; nested
        operations (in the same thread) share the outermost one."""
        b = self._budget
        depth = getattr(b, "depth", 0)
        if depth == 0:
            b.deadline = time.monotonic() + self.timeout
        b.depth = depth + 1
        try:
            yield
        finally:
            b.depth -= 1
            if b.depth == 0:
                b.deadline = None

    def remaining(self) -> float:
        deadline: float | None = getattr(self._budget, "deadline", None)
        if deadline is None:
            return self.timeout
        return deadline - time.monotonic()

    def _git(self, *args: str, keep: float = 0.0) -> gitcmd.Result:
        """Run a network git with the operation's remaining time, less `keep` seconds kept
        for what must follow (reading a push's outcome back)."""
        left = self.remaining() - keep
        if left <= 0:
            raise GitTimeout(args[0], self.timeout)
        return gitcmd.run(self.repo.root, *args, check=False, timeout=left)

    def _read(self, *args: str) -> gitcmd.Result:
        """A read from the remote (fetch, ls-remote), tried again after a transient transport
        failure (a busy server resets connections) while time is left; reads change nothing."""
        res = self._git(*args)
        for attempt in range(3):
            if res.returncode == 0 or not any(t in res.stderr for t in TRANSIENT):
                break
            pause = 0.1 * 3**attempt
            if self.remaining() <= pause:
                break
            time.sleep(pause)
            res = self._git(*args)
        return res

    # -- names -------------------------------------------------------------------------------
    def tracking(self, ref: str) -> str:
        """refs/repobus/claims/T -> refs/repobus-remote/<remote>/claims/T"""
        return f"{self.track_prefix}{ref[len(ROOT) + 1 :]}"

    @property
    def track_prefix(self) -> str:
        return f"{TRACK_ROOT}/{self.name}/"

    def _negotiation(self) -> list[str]:
        """Offer only the bus's own refs as haves, never a fetch quarantine's (one left by a
        killed fetch can be deleted mid-fetch by `doctor --fix`).  Where neither glob matches
        (a clone's first fetch), git ignores the option and offers its branches, which is fine:
        fetches of one clone take turns, so no other quarantine exists then."""
        return [f"--negotiation-tip={ROOT}/*", f"--negotiation-tip={self.track_prefix}*"]

    # -- local refs --------------------------------------------------------------------------
    def set_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Compare-and-swap one local ref; a lock left by a killed writer (older than the
        safe age) is removed and the update tried once more.  True when the ref holds `new`
        afterwards (also when another process of this clone moved it there first)."""
        res = gitcmd.run(
            self.repo.root, "update-ref", ref, new, old or gitcmd.zero_oid(), check=False
        )
        if res.returncode != 0 and ".lock" in res.stderr:
            lock = self.repo.common_dir / f"{ref}.lock"
            try:
                if time.time() - lock.stat().st_mtime >= self.lock_stale:
                    lock.unlink()
            except FileNotFoundError:
                pass
            res = gitcmd.run(
                self.repo.root, "update-ref", ref, new, old or gitcmd.zero_oid(), check=False
            )
        return res.returncode == 0 or self.current(ref) == new

    def current(self, ref: str) -> str | None:
        res = gitcmd.run(self.repo.root, "rev-parse", "-q", "--verify", ref, check=False)
        return res.stdout.decode().strip() or None

    def _heads(self, prefix: str) -> dict[str, str]:
        res = gitcmd.run(
            self.repo.root, "for-each-ref", "--format=%(refname) %(objectname)", prefix
        )
        out = {}
        for line in res.stdout.decode().splitlines():
            name, _, oid = line.partition(" ")
            out[name[len(prefix) :]] = oid
        return out

    def tracking_heads(self) -> dict[str, str]:
        """{'claims/T': oid, ...} as last fetched."""
        return self._heads(self.track_prefix)

    def is_ancestor(self, old: str, new: str) -> bool:
        res = gitcmd.run(self.repo.root, "merge-base", "--is-ancestor", old, new, check=False)
        return res.returncode == 0

    # -- push --------------------------------------------------------------------------------
    def push(self, updates: list[tuple[str, str, str | None]], atomic: bool = False) -> PushResult:
        """updates: (new oid or local ref, remote ref, expected old oid; None = must not exist)."""
        args = ["push", "--porcelain", "--no-verify"]  # not --quiet: it hides accepted refs
        if atomic:
            args.append("--atomic")
        for _, ref, old in updates:
            args.append(f"--force-with-lease={ref}:{old or ''}")
        args.append(self.name)
        args += [f"{src}:{ref}" for src, ref, _ in updates]
        return self._pushed(args)

    def prune_push(self, specs: list[str]) -> PushResult:
        """An atomic push of pattern refspecs that also deletes every remote ref under their
        destinations the local side does not hold, each ref leased on this clone's tracking
        ref of it (git finds them through a fetch refspec given for this command only; a
        remote ref with no tracking ref must not exist).  git matches each refspec against
        every advertised ref, so a push of n deletions by name costs n x refs; one pattern
        with --prune costs the refs once."""
        fetch = f"remote.{self.name}.fetch=+{ROOT}/*:{self.track_prefix}*"
        args = ["-c", fetch, "push", "--porcelain", "--no-verify", "--atomic", "--prune"]
        return self._pushed([*args, "--force-with-lease", self.name, *specs])

    def push_logs(self, refs: list[str]) -> PushResult:
        """Push the log chains `refs` (those ahead of the remote) in one git process, each
        as it is when git reads it: refspecs without `+`, so the remote takes fast-forwards
        only (a log chain is only ever appended to: one that diverged comes back rejected and
        is synced).  Only chains ahead: a pattern would also offer the chains of other
        clones' agents this clone is behind on, each rejected and fetched on every push.
        git moves the tracking refs of the refs it pushed itself (the push's fetch refspec,
        given for this process only); `accepted` holds them."""
        fetch = f"remote.{self.name}.fetch=+{ROOT}/*:{self.track_prefix}*"
        specs = [f"{r}:{r}" for r in refs]
        return self._pushed(["-c", fetch, "push", "--porcelain", "--no-verify", self.name, *specs])

    def _pushed(self, args: list[str]) -> PushResult:
        try:  # keep a slice of the budget to read the outcome back if the push is cut off
            res = self._git(*args, keep=min(3.0, 0.2 * self.timeout))
        except GitTimeout as exc:
            return PushResult(False, failure=Failure("timeout", exc.message))
        out = PushResult(res.returncode == 0)
        _read_porcelain(res.stdout.decode("utf-8", "replace"), out)
        if out.refused:  # atomic: the other refs failed only because of this one
            out.rejected = {}
        if res.returncode != 0 and (out.refused or not out.rejected):
            failure = classify(res.stderr)
            if out.refused:
                failure = Failure("refused", failure.message, failure.server)
            out.failure = failure
        return out

    # -- fetch -------------------------------------------------------------------------------
    def fetch(self, pattern: str | tuple[str, ...] = "*", unchanged: bool = False) -> FetchResult:
        """Fetch bus refs (`pattern` under refs/repobus/, or several) into a private
        quarantine namespace, then move each tracking ref only by fast-forward.  A remote ref
        rewritten (neither a descendant nor an ancestor of what was tracked) is refused and
        named; with the whole bus fetched, a tracked ref missing on the remote is reported as
        deleted, unless the remote's archive holds it (it was archived).  A clone's first
        fetch of the whole bus skips the quarantine (`_first`)."""
        with self._fetch_lock() as got:
            if not got:
                raise Failure("timeout", "another fetch of this clone is still running").error(
                    self.name, "fetch of the bus", unchanged
                )
            before = self.tracking_heads()  # what the remote held before we asked it
            if pattern == "*" and not before:
                first = self._first(unchanged)
                if first is not None:
                    return first
                before = self.tracking_heads()  # values the remote held a moment ago
            return self._quarantined(pattern, before, unchanged)

    def _first(self, unchanged: bool) -> FetchResult | None:
        """The first fetch of the whole bus (no tracking ref yet: nothing to compare against)
        lands in the tracking refs directly, by a refspec without `+`: git only creates or
        fast-forwards, so a tracking ref a push of this clone moved meanwhile is not moved
        back (git refuses it).  None when git failed: the caller fetches again through the
        quarantine, which compares, names and classifies (objects already here stay)."""
        res = self._fetch_git([f"{ROOT}/*:{self.track_prefix}*"], unchanged)
        if res.returncode != 0:
            return None
        return FetchResult([f"{ROOT}/{name}" for name in sorted(self.tracking_heads())], {})

    def _quarantined(
        self, pattern: str | tuple[str, ...], before: dict[str, str], unchanged: bool
    ) -> FetchResult:
        """Fetch into a private quarantine, integrate from it (store/incoming.py), drop it."""
        import os

        quarantine = f"{INCOMING_ROOT}/{self.name}/{os.getpid()}-{os.urandom(4).hex()}"
        patterns = (pattern,) if isinstance(pattern, str) else pattern
        res = self._fetch_git([f"+{ROOT}/{p}:{quarantine}/{p}" for p in patterns], unchanged)
        try:
            if res.returncode != 0:
                if "couldn't find remote ref" in res.stderr:
                    return FetchResult([], {}, missing=True)
                if "did not send all necessary objects" in res.stderr:
                    from repobus.errors import CorruptError

                    raise CorruptError(
                        f"a fetch from remote '{self.name}' failed: this clone lacks objects "
                        f"its bus refs name ({last_error(res.stderr)})",
                        hint="run `repobus doctor --fix`: it restores or rewinds the chain "
                        "whose commit is missing",
                    )
                raise classify(res.stderr).error(self.name, "fetch of the bus", unchanged)
            fetched = self._heads(f"{quarantine}/")
            return incoming.integrate(self, fetched, pattern == "*", before)
        finally:
            self._drop(quarantine)

    def _fetch_git(self, specs: list[str], unchanged: bool) -> gitcmd.Result:
        """One `git fetch` of `specs` from the remote; a timeout is the classified failure."""
        try:
            return self._read(
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--no-auto-maintenance",  # the bus packs its own objects (housekeeping)
                "--quiet",
                "--refmap=",
                *self._negotiation(),
                self.name,
                *specs,
            )
        except GitTimeout as exc:
            raise Failure("timeout", exc.message).error(
                self.name, "fetch of the bus", unchanged
            ) from None

    def _fetch_lock(self) -> AbstractContextManager[bool]:
        """Fetches of one clone take turns.  git's connectivity check after a fetch walks
        every ref of the clone (`--not --all`); another fetch's quarantine refs, deleted in
        the middle of that walk, made it fail ("did not send all necessary objects", "bad
        object").  Waits at most the operation's remaining time; yields False then."""
        from repobus.store import files

        return files.locked_within(
            self.repo.common_dir / "repobus-locks" / "fetch.lock", self.remaining()
        )

    def _drop(self, prefix: str) -> None:
        """Delete this fetch's quarantine refs.  Deleting needs packed-refs.lock: one left by
        a killed process (older than the safe age) is removed and the deletion tried again;
        a deletion that still fails is an error, not a silent leak of refs."""
        refs = self._heads(f"{prefix}/")
        if not refs:
            return
        script = "".join(f"delete {prefix}/{name} {oid}\n" for name, oid in refs.items())
        for attempt in range(2):
            res = gitcmd.run(
                self.repo.root, "update-ref", "--stdin", stdin=script.encode(), check=False
            )
            if res.returncode == 0:
                return
            if attempt == 0 and "packed-refs.lock" in res.stderr:
                lock = self.repo.common_dir / "packed-refs.lock"
                try:
                    if time.time() - lock.stat().st_mtime >= self.lock_stale:
                        lock.unlink()
                except FileNotFoundError:
                    pass
        from repobus.errors import LockedError

        raise LockedError(
            f"cannot remove the fetch's quarantine refs {prefix}/*: {last_error(res.stderr)}",
            hint="if no other git is running, `repobus doctor --fix` clears a stale lock",
        )

    def _settle(self, ref: str, new: str) -> bool:
        """Move tracking ref `ref` forward to `new` unless another process already moved it
        there or further; True when it holds `new` or a descendant of it."""
        for attempt in range(20):
            cur = self.current(ref)
            if cur == new or (cur is not None and self.is_ancestor(new, cur)):
                return True
            if cur is not None and not self.is_ancestor(cur, new):
                return True  # it diverged meanwhile: the next fetch compares again
            if self.set_ref(ref, new, cur):
                return True
            time.sleep(0.01 * (attempt + 1))
        return False

    def ls(self, ref: str) -> str | None:
        """The remote's value of `ref` ("" when it does not exist), None when unreadable."""
        try:
            res = self._read("ls-remote", self.name, ref)
        except GitTimeout:
            return None
        if res.returncode != 0:
            return None
        for line in res.stdout.decode().splitlines():
            oid, _, name = line.partition("\t")
            if name == ref:
                return oid
        return ""

    def holds_bus(self) -> bool:
        """Whether the remote holds any bus ref; raises the classified failure when it cannot
        be read."""
        try:
            res = self._read("ls-remote", self.name, f"{ROOT}/*")
        except GitTimeout as exc:
            raise Failure("timeout", exc.message).error(self.name, "ls-remote") from None
        if res.returncode != 0:
            raise classify(res.stderr).error(self.name, "ls-remote")
        return any(
            line.split("\t", 1)[-1].startswith(f"{ROOT}/")
            for line in res.stdout.decode("utf-8", "replace").splitlines()
        )


def _read_porcelain(text: str, out: PushResult) -> None:
    """Sort the refs of `git push --porcelain` output into accepted, rejected (a lost
    compare-and-swap) and refused (the server said no)."""
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or ":" not in parts[1]:
            continue
        ref = parts[1].split(":", 1)[1]
        if parts[0] != "!":
            out.accepted.add(ref)
        elif any(c in parts[2] for c in CONTENTION):
            out.rejected[ref] = parts[2]
        elif not any(n in parts[2] for n in NEUTRAL):
            out.refused[ref] = parts[2]
