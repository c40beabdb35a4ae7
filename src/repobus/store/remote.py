"""Talking to the shared remote: pushes with a lease, fetches that refuse rewrites, and the
truth about every failure.

Invariants (GIT-FACTS.md):
- every push carries `--force-with-lease=REF:EXPECTED` (empty = must not exist) and never a
  `+` refspec, so the remote accepts a change only if the ref is still what we read: exactly
  one winner across machines;
- fetches go through a private quarantine namespace and move the tracking refs
  (`refs/repobus-remote/<remote>/*`) only by fast-forward, so a history rewritten on the remote
  is refused (reported), never taken silently; fetch negotiation offers only the bus's own refs,
  never another fetch's quarantine (which may vanish mid-fetch);
- the tracking refs live outside `refs/remotes/`, and no fetch refspec is configured for them:
  `git branch -a` does not list them, a plain `git fetch` does not print them, and a plain
  `git push` never moves them behind repobus's back;
- every failure is classified from git's own words (`Failure`): a lost lease is contention;
  a refused credential or permission, a ref the server refuses, a transport failure before the
  remote could have applied anything, and an unknown outcome are different answers;
- one command spends at most `repobus.remoteTimeout` on the network in all (`operation()`),
  and a git that runs out of time is killed with its whole process group.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from repobus.errors import AuthError, RefusedError, RemoteError
from repobus.git import gitcmd
from repobus.git.gitcmd import GitTimeout, Repo
from repobus.records.layout import ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

TRACK_ROOT = "refs/repobus-remote"
INCOMING_ROOT = "refs/repobus-incoming"
LAYOUT = "2"  # repobus.trackingLayout: 2 = tracking refs under refs/repobus-remote/<remote>/

# Words of a transport failure that happened before the remote could have applied anything.
_NOT_CONNECTED = (
    "Could not resolve host",
    "Couldn't connect to server",
    "Failed to connect",
    "Connection refused",
    "unable to connect",
    "No route to host",
    "Name or service not known",
    "does not appear to be a git repository",
    "not found",
)
_TRANSIENT = (
    "Connection reset",
    "early EOF",
    "unexpected disconnect",
    "the remote end hung up",
    "Broken pipe",
    "RPC failed",
    "Empty reply from server",
    "transfer closed",
    "Recv failure",
    "Send failure",
)
# A lost compare-and-swap, in the words of `git push --porcelain`: only these are contention.
_CONTENTION = (
    "stale info",
    "fetch first",
    "non-fast-forward",
    "already exists",
    "incorrect old value",
    "cannot lock ref",
    "failed to lock",
    "failed to update ref",
)
_NEUTRAL = ("atomic push failed", "atomic transaction failed")


def _auth_reason(stderr: str) -> str | None:
    """What git says when the remote refused who we are or what we may do; None otherwise."""
    low = stderr.lower()
    if "authentication failed" in low or "returned error: 401" in low or "http 401" in low:
        return "the remote refused the credentials (authentication failed)"
    if "could not read username" in low or "could not read password" in low:
        return "the remote asked for credentials and none are configured"
    if "returned error: 403" in low or "http 403" in low or "403 forbidden" in low:
        return "the remote refused permission to push (HTTP 403: a read-only credential?)"
    if "permission denied (publickey" in low or "permission denied, please try again" in low:
        return "the remote refused the ssh key (Permission denied)"
    if "permission to " in low and " denied" in low:
        return "the remote refused permission to push"
    return None


class Failure:
    """Why a network git call failed, classified once for every caller.  (Plain classes here,
    not dataclasses: importing dataclasses costs a claim ~10 ms of start-up.)"""

    __slots__ = ("kind", "message", "server")

    def __init__(self, kind: str, message: str, server: list[str] | None = None) -> None:
        self.kind = kind  # "auth" | "refused" | "timeout" | "unreachable" | "transport"
        self.message = message  # git's own last meaningful line
        self.server = server or []  # the remote's own `remote:` lines

    def __repr__(self) -> str:
        return f"Failure({self.kind}: {self.message})"

    @property
    def certain_nothing_applied(self) -> bool:
        """True when the remote cannot have applied a change (we never reached it, or it said
        no); False when the outcome of a push is unknown."""
        return self.kind in ("auth", "refused", "unreachable")

    def said(self) -> str:
        """The server's own words when it gave any, else git's."""
        return "; ".join(self.server) if self.server else self.message

    def error(self, remote: str, what: str, unchanged: bool = False) -> RemoteError:
        """The error to raise for this failure of `what` (e.g. "push of refs/repobus/...");
        `unchanged`: the caller knows nothing was written anywhere, and says so."""
        tail = "; nothing was changed" if unchanged else ""
        if self.kind == "auth":
            return AuthError(
                f"remote '{remote}' refused the {what}: {self.message}"
                + (f" (the server said: {'; '.join(self.server)})" if self.server else "")
                + tail,
                hint="check this clone's credential for the remote (docs/remote.md, "
                "'Credentials'): each agent should have its own, allowed to push refs/repobus/*",
            )
        if self.kind == "refused":
            return RefusedError(
                f"remote '{remote}' refused the {what}: {self.said()}{tail}",
                hint="the server (a hook, a ruleset or a receive.deny* setting) does not accept "
                "refs/repobus/*; ask its administrator to allow them (docs/remote.md, 'Hosting')",
            )
        offline = (
            "; or pass --offline to record a local-only change that the next `repobus sync` "
            "confirms or rejects"
            if unchanged
            else ""
        )
        if self.kind == "timeout":
            return RemoteError(
                f"remote '{remote}' did not answer the {what} within repobus.remoteTimeout "
                f"({self.message}){tail}",
                hint="retry when the remote answers (`git config repobus.remoteTimeout 60s` to "
                f"wait longer){offline}",
            )
        return RemoteError(
            f"remote '{remote}' is unreachable ({self.message}){tail}",
            hint=f"check the network and `git remote -v`, then retry{offline}",
        )


def server_lines(stderr: str) -> list[str]:
    """The remote's own words: `remote: …` lines, without git's padding and progress."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("remote:"):
            text = line[len("remote:") :].strip()
            if text and not text.startswith(("Counting", "Compressing", "Resolving", "Total")):
                out.append(text)
    return out


def classify(stderr: str) -> Failure:
    """Classify a failed network git call from its stderr."""
    server = server_lines(stderr)
    message = last_error(stderr)
    auth = _auth_reason(stderr)
    if auth is not None:
        return Failure("auth", f"{auth}: {message}" if message not in auth else auth, server)
    if "timed out after" in stderr:
        return Failure("timeout", message, server)
    if any(t in stderr for t in _NOT_CONNECTED):
        return Failure("unreachable", message, server)
    return Failure("transport", message, server)


class PushResult:
    __slots__ = ("ok", "failure", "accepted", "rejected", "refused")

    def __init__(self, ok: bool, failure: Failure | None = None) -> None:
        self.ok = ok
        self.failure = failure  # the push as a whole failed (no per-ref verdict)
        self.accepted: set[str] = set()
        self.rejected: dict[str, str] = {}  # lost the lease (contention)
        self.refused: dict[str, str] = {}  # the server refused the ref

    @property
    def transport_error(self) -> str | None:
        return self.failure.message if self.failure is not None else None

    def raise_refusal(self, remote: str, what: str) -> None:
        """Raise AuthError/RefusedError when the remote refused (retrying cannot help)."""
        if self.failure is not None and self.failure.kind in ("auth", "refused"):
            raise self.failure.error(remote, what)
        if self.refused:
            ref, why = next(iter(sorted(self.refused.items())))
            raise Failure("refused", why, self.failure.server if self.failure else []).error(
                remote, f"{what} ({ref})"
            )


class FetchResult:
    __slots__ = ("updated", "refused", "stuck")

    def __init__(
        self, updated: list[str], refused: dict[str, str], stuck: dict[str, str] | None = None
    ) -> None:
        self.updated = updated
        self.refused = refused
        self.stuck = stuck or {}


class Remote:
    def __init__(
        self, repo: Repo, name: str, timeout: float = 30.0, lock_stale: float = 10.0
    ) -> None:
        self.repo = repo
        self.name = name
        self.timeout = timeout
        self.lock_stale = lock_stale
        self._deadline: float | None = None
        self._depth = 0

    # -- one time budget per operation -------------------------------------------------------
    @contextmanager
    def operation(self) -> Iterator[None]:
        """Every network call inside shares one budget of `timeout` seconds; nested
        operations share the outermost one."""
        if self._depth == 0:
            self._deadline = time.monotonic() + self.timeout
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._deadline = None

    def remaining(self) -> float:
        if self._deadline is None:
            return self.timeout
        return self._deadline - time.monotonic()

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
            if res.returncode == 0 or not any(t in res.stderr for t in _TRANSIENT):
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
        try:  # keep a slice of the budget to read the outcome back if the push is cut off
            res = self._git(*args, keep=min(3.0, 0.2 * self.timeout))
        except GitTimeout as exc:
            return PushResult(False, failure=Failure("timeout", exc.message))
        out = PushResult(res.returncode == 0)
        for line in res.stdout.decode("utf-8", "replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or ":" not in parts[1]:
                continue
            ref = parts[1].split(":", 1)[1]
            if parts[0] != "!":
                out.accepted.add(ref)
            elif any(c in parts[2] for c in _CONTENTION):
                out.rejected[ref] = parts[2]
            elif not any(n in parts[2] for n in _NEUTRAL):
                out.refused[ref] = parts[2]
        if out.refused:  # atomic: the other refs failed only because of this one
            out.rejected = {}
        if res.returncode != 0 and (out.refused or not out.rejected):
            failure = classify(res.stderr)
            if out.refused:
                failure = Failure("refused", failure.message, failure.server)
            out.failure = failure
        return out

    # -- fetch -------------------------------------------------------------------------------
    def fetch(self, pattern: str = "*", unchanged: bool = False) -> FetchResult:
        """Fetch bus refs (`pattern` under refs/repobus/) into a private quarantine namespace,
        then move each tracking ref only by fast-forward.  A remote ref rewritten (neither a
        descendant nor an ancestor of what was tracked) is refused and named; with the whole
        bus fetched, a tracked ref missing on the remote is reported as deleted."""
        import os

        with self._fetch_lock() as got:
            if not got:
                raise Failure("timeout", "another fetch of this clone is still running").error(
                    self.name, "fetch of the bus", unchanged
                )
            quarantine = f"{INCOMING_ROOT}/{self.name}/{os.getpid()}-{os.urandom(4).hex()}"
            spec = f"+{ROOT}/{pattern}:{quarantine}/{pattern}"
            try:
                res = self._read(
                    "fetch",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--no-auto-maintenance",  # the bus packs its own objects (housekeeping)
                    "--quiet",
                    "--refmap=",
                    *self._negotiation(),
                    self.name,
                    spec,
                )
            except GitTimeout as exc:
                raise Failure("timeout", exc.message).error(
                    self.name, "fetch of the bus", unchanged
                ) from None
            try:
                if res.returncode != 0:
                    if "couldn't find remote ref" in res.stderr:
                        return FetchResult([], {})
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
                return self._integrate_tracking(fetched, whole=pattern == "*")
            finally:
                self._drop(quarantine)

    @contextmanager
    def _fetch_lock(self) -> Iterator[bool]:
        """Fetches of one clone take turns.  git's connectivity check after a fetch walks
        every ref of the clone (`--not --all`); another fetch's quarantine refs, deleted in
        the middle of that walk, made it fail ("did not send all necessary objects", "bad
        object").  Waits at most the operation's remaining time; yields False then."""
        import fcntl
        import os

        folder = self.repo.common_dir / "repobus-locks"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / "fetch.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + max(self.remaining(), 0)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.005)
            yield True
        finally:
            os.close(fd)

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

    def _integrate_tracking(self, fetched: dict[str, str], whole: bool) -> FetchResult:
        tracking = self.tracking_heads()
        updated: list[str] = []
        refused: dict[str, str] = {}
        stuck: dict[str, str] = {}
        script = []
        for name, oid in sorted(fetched.items()):
            old = tracking.get(name)
            if old == oid:
                continue
            if old is not None and not self.is_ancestor(old, oid):
                if self.is_ancestor(oid, old):
                    continue  # an older copy than ours (a slower fetch, or our own push): fine
                refused[f"{ROOT}/{name}"] = (
                    f"remote '{self.name}' rewrote {ROOT}/{name} (not a fast-forward of "
                    f"{old[:12]}): refusing to take it"
                )
                continue
            script.append(f"update {self.track_prefix}{name} {oid} {old or gitcmd.zero_oid()}\n")
            updated.append(f"{ROOT}/{name}")
        if whole:
            for name in sorted(set(tracking) - set(fetched)):
                refused[f"{ROOT}/{name}"] = (
                    f"remote '{self.name}' deleted {ROOT}/{name}: keeping this clone's copy"
                )
        if script:
            res = gitcmd.run(
                self.repo.root, "update-ref", "--stdin", stdin="".join(script).encode(), check=False
            )
            if res.returncode != 0:  # a tracking ref moved meanwhile (another fetch of this
                for line in script:  # clone) or is locked: settle them one by one
                    _, ref, new, _old = line.split()
                    if not self._settle(ref, new):
                        name = ref[len(self.track_prefix) :]
                        updated.remove(f"{ROOT}/{name}")
                        stuck[f"{ROOT}/{name}"] = (
                            f"cannot update {ref}: locked; if no other repobus is running, "
                            "`repobus doctor --fix` clears a stale lock"
                        )
        return FetchResult(updated, refused, stuck)

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


def last_error(stderr: str) -> str:
    """git's reason: the last `fatal:`/`error:` line (git's first line is often context, its
    last the cause), else the last non-empty line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [
        ln
        for ln in lines
        if ln.startswith(("fatal:", "error:")) and "failed to push some refs" not in ln
    ]
    if errs:
        return errs[-1]
    return lines[-1] if lines else "no message from git"


def configure(repo: Repo, name: str) -> list[str]:
    """Point the bus at remote `name`, and bring the clone to the current tracking layout.

    No refspec is added to the remote, neither fetch nor push: a fetch refspec would make a
    plain `git fetch` print every bus ref and a plain `git push` move tracking refs behind our
    back; a push refspec would change what `git push` does for the user's branches.  repobus
    fetches and pushes the bus itself, always with a lease."""
    res = gitcmd.run(repo.root, "remote", "get-url", name, check=False)
    if res.returncode != 0:
        from repobus.errors import NotFoundError

        raise NotFoundError(
            f"no git remote named {name!r}", hint="add it first: git remote add NAME URL"
        )
    done = migrate(repo, name)
    cur = gitcmd.run(repo.root, "config", "--get", "repobus.remote", check=False)
    if cur.stdout.decode().strip() != name:
        gitcmd.run(repo.root, "config", "repobus.remote", name)
        done.append(f"set repobus.remote={name}")
    return done


def legacy_refspec(name: str) -> str:
    return f"{ROOT}/*:refs/remotes/{name}-repobus/*"


def migrate(repo: Repo, name: str) -> list[str]:
    """From layout 1 (tracking refs under refs/remotes/<name>-repobus/, a fetch refspec on the
    remote) to layout 2: the refs move (same objects, one transaction), the refspec goes.
    Idempotent; records `repobus.trackingLayout`."""
    done: list[str] = []
    spec = legacy_refspec(name)
    have = (
        gitcmd.run(repo.root, "config", "--get-all", f"remote.{name}.fetch", check=False)
        .stdout.decode()
        .split()
    )
    if spec in have:
        gitcmd.run(
            repo.root, "config", "--unset-all", "--fixed-value", f"remote.{name}.fetch", spec
        )
        done.append(f"removed fetch refspec {spec} from remote {name}")
    old_prefix = f"refs/remotes/{name}-repobus/"
    res = gitcmd.run(repo.root, "for-each-ref", "--format=%(refname) %(objectname)", old_prefix)
    script = []
    for line in res.stdout.decode().splitlines():
        ref, _, oid = line.partition(" ")
        script.append(f"create {TRACK_ROOT}/{name}/{ref[len(old_prefix) :]} {oid}\n")
        script.append(f"delete {ref} {oid}\n")
    if script:
        gitcmd.run(repo.root, "update-ref", "--stdin", stdin="".join(script).encode())
        done.append(f"moved {len(script) // 2} tracking ref(s) to {TRACK_ROOT}/{name}/")
    decorations = gitcmd.run(
        repo.root, "config", "--get-all", "log.excludeDecoration", check=False
    ).stdout.decode()
    if "refs/repobus*" not in decorations.split():
        # `git log --decorate` (and --all with a decoration) names no bus ref
        gitcmd.run(repo.root, "config", "--add", "log.excludeDecoration", "refs/repobus*")
        done.append("set log.excludeDecoration=refs/repobus*")
    cur = gitcmd.run(repo.root, "config", "--get", "repobus.trackingLayout", check=False)
    if cur.stdout.decode().strip() != LAYOUT:
        gitcmd.run(repo.root, "config", "repobus.trackingLayout", LAYOUT)
    return done


def default_remote(repo: Repo) -> str | None:
    names = gitcmd.run(repo.root, "remote", check=False).stdout.decode().split()
    return "origin" if "origin" in names else None
