"""Talking to the shared remote: pushes with a lease, fetches that refuse rewrites.

Invariants (GIT-FACTS.md):
- every push carries `--force-with-lease=REF:EXPECTED` (empty = must not exist) and never a
  `+` refspec, so the remote accepts a change only if the ref is still what we read: exactly
  one winner across machines;
- fetches go into `refs/remotes/<remote>-repobus/*` without `+`, so a history rewritten on
  the remote is refused (reported), never taken silently;
- a transport failure is an unknown outcome: the caller re-reads the remote ref before
  deciding (each attempt's commit is unique, so "the remote holds my commit" means "I won").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repobus import gitcmd
from repobus.errors import RemoteError
from repobus.gitcmd import Repo

ROOT = "refs/repobus"
_TRANSIENT = (
    "Connection reset",
    "early EOF",
    "unexpected disconnect",
    "the remote end hung up",
    "Broken pipe",
)


@dataclass
class PushResult:
    ok: bool
    transport_error: str | None = None
    accepted: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass
class FetchResult:
    updated: list[str]
    refused: dict[str, str]
    stuck: dict[str, str] = field(default_factory=dict)


class Remote:
    def __init__(
        self, repo: Repo, name: str, timeout: float = 30.0, lock_stale: float = 10.0
    ) -> None:
        self.repo = repo
        self.name = name
        self.timeout = timeout
        self.lock_stale = lock_stale

    def set_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Compare-and-swap one local ref; a lock left by a killed writer (older than the
        safe age) is removed and the update tried once more."""
        res = gitcmd.run(
            self.repo.root, "update-ref", ref, new, old or gitcmd.zero_oid(), check=False
        )
        if res.returncode != 0 and ".lock" in res.stderr:
            import time

            lock = self.repo.common_dir / f"{ref}.lock"
            try:
                if time.time() - lock.stat().st_mtime >= self.lock_stale:
                    lock.unlink()
            except FileNotFoundError:
                pass
            res = gitcmd.run(
                self.repo.root, "update-ref", ref, new, old or gitcmd.zero_oid(), check=False
            )
        return res.returncode == 0

    def tracking(self, ref: str) -> str:  # noqa: D401
        """refs/repobus/claims/T -> refs/remotes/<remote>-repobus/claims/T"""
        return f"refs/remotes/{self.name}-repobus/{ref[len(ROOT) + 1 :]}"

    def local_of(self, tracking: str) -> str:
        prefix = f"refs/remotes/{self.name}-repobus/"
        return f"{ROOT}/{tracking[len(prefix) :]}"

    @property
    def refspec(self) -> str:
        return f"{ROOT}/*:refs/remotes/{self.name}-repobus/*"

    def _git(self, *args: str) -> gitcmd.Result:
        return gitcmd.run(self.repo.root, *args, check=False, timeout=self.timeout)

    def _read(self, *args: str) -> gitcmd.Result:
        """A read from the remote (fetch, ls-remote), tried again after a transient transport
        failure (a busy server resets connections); reads change nothing, so this is safe."""
        import time

        for attempt in range(3):
            res = self._git(*args)
            if res.returncode == 0 or not any(t in res.stderr for t in _TRANSIENT):
                return res
            time.sleep(0.1 * 3**attempt)
        return res

    def push(self, updates: list[tuple[str, str, str | None]], atomic: bool = False) -> PushResult:
        """updates: (new oid or local ref, remote ref, expected old oid; None = must not exist)."""
        args = ["push", "--porcelain", "--no-verify"]
        if atomic:
            args.append("--atomic")
        for _, ref, old in updates:
            args.append(f"--force-with-lease={ref}:{old or ''}")
        args.append(self.name)
        args += [f"{src}:{ref}" for src, ref, _ in updates]
        try:
            res = self._git(*args)
        except RemoteError as exc:
            return PushResult(False, transport_error=exc.message)
        out = PushResult(res.returncode == 0)
        for line in res.stdout.decode("utf-8", "replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or ":" not in parts[1]:
                continue
            ref = parts[1].split(":", 1)[1]
            if parts[0] == "!":
                out.rejected[ref] = parts[2]
            else:
                out.accepted.add(ref)
        if res.returncode != 0 and not out.rejected:
            out.transport_error = _first_error(res.stderr)
        return out

    def fetch(self, pattern: str = "*") -> FetchResult:
        """Fetch bus refs (`pattern` under refs/repobus/) into a private quarantine namespace,
        then move each tracking ref only by fast-forward.  A remote ref rewritten (neither a
        descendant nor an ancestor of what was tracked) is refused and named; with the whole
        bus fetched, a tracked ref missing on the remote is reported as deleted."""
        import os

        quarantine = (
            f"refs/remotes/{self.name}-repobus-incoming/{os.getpid()}-{os.urandom(4).hex()}"
        )
        spec = f"+{ROOT}/{pattern}:{quarantine}/{pattern}"
        # --refmap= : no opportunistic update of the configured tracking refs (those refuse a
        # non-fast-forward and would fail the whole fetch); we move them ourselves below.  The
        # quarantine is private to this fetch, so concurrent fetches of one clone never meet.
        res = self._read(
            "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--refmap=", self.name, spec
        )
        try:
            if res.returncode != 0:
                if "couldn't find remote ref" in res.stderr:
                    return FetchResult([], {})
                raise RemoteError(
                    f"cannot fetch the bus from remote '{self.name}': {_first_error(res.stderr)}",
                    hint="check the network and `git remote -v`; claims fail closed while the "
                    "remote is unreachable (or pass --offline)",
                )
            fetched = self._heads(f"{quarantine}/")
            return self._integrate_tracking(fetched, whole=pattern == "*")
        finally:
            self._drop(quarantine)

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
                import time

                lock = self.repo.common_dir / "packed-refs.lock"
                try:
                    if time.time() - lock.stat().st_mtime >= self.lock_stale:
                        lock.unlink()
                except FileNotFoundError:
                    pass
        from repobus.errors import LockedError

        raise LockedError(
            f"cannot remove the fetch's quarantine refs {prefix}/*: "
            f"{res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'git failed'}",
            hint="if no other git is running, `repobus doctor --fix` clears a stale lock",
        )

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
        return self._heads(f"refs/remotes/{self.name}-repobus/")

    def is_ancestor(self, old: str, new: str) -> bool:
        res = gitcmd.run(self.repo.root, "merge-base", "--is-ancestor", old, new, check=False)
        return res.returncode == 0

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
            script.append(
                f"update refs/remotes/{self.name}-repobus/{name} {oid} {old or gitcmd.zero_oid()}\n"
            )
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
                        name = ref.split("-repobus/", 1)[1]
                        updated.remove(f"{ROOT}/{name}")
                        stuck[f"{ROOT}/{name}"] = (
                            f"cannot update {ref}: locked; if no other repobus is running, "
                            "`repobus doctor --fix` clears a stale lock"
                        )
        return FetchResult(updated, refused, stuck)

    def _settle(self, ref: str, new: str) -> bool:
        """Move tracking ref `ref` forward to `new` unless another process already moved it
        there or further; True when it holds `new` or a descendant of it."""
        import time

        for attempt in range(20):
            res = gitcmd.run(self.repo.root, "rev-parse", "-q", "--verify", ref, check=False)
            cur = res.stdout.decode().strip() or None
            if cur == new or (cur is not None and self.is_ancestor(new, cur)):
                return True
            if cur is not None and not self.is_ancestor(cur, new):
                return True  # it diverged meanwhile: the next fetch compares again
            if self.set_ref(ref, new, cur):
                return True
            time.sleep(0.01 * (attempt + 1))
        return False

    def ls(self, ref: str) -> str | None:
        try:
            res = self._read("ls-remote", self.name, ref)
        except RemoteError:
            return None
        if res.returncode != 0:
            return None
        for line in res.stdout.decode().splitlines():
            oid, _, name = line.partition("\t")
            if name == ref:
                return oid
        return ""


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith(("fatal:", "error:")):
            return line
    return stderr.strip().splitlines()[0] if stderr.strip() else "no message from git"


def configure(repo: Repo, name: str) -> list[str]:
    """Point the bus at remote `name`: record it, and add a fetch refspec for the bus refs
    into `refs/remotes/<name>-repobus/*` (no `+`: a rewrite on the remote is refused).

    No push refspec is added to the remote: that would change what a plain `git push` does
    for the user's branches; repobus pushes the bus refs itself, always with a lease."""
    res = gitcmd.run(repo.root, "remote", "get-url", name, check=False)
    if res.returncode != 0:
        from repobus.errors import NotFoundError

        raise NotFoundError(
            f"no git remote named {name!r}", hint="add it first: git remote add NAME URL"
        )
    done = []
    spec = f"{ROOT}/*:refs/remotes/{name}-repobus/*"
    have = (
        gitcmd.run(repo.root, "config", "--get-all", f"remote.{name}.fetch", check=False)
        .stdout.decode()
        .split()
    )
    if spec not in have:
        gitcmd.run(repo.root, "config", "--add", f"remote.{name}.fetch", spec)
        done.append(f"added fetch refspec {spec} to remote {name}")
    cur = gitcmd.run(repo.root, "config", "--get", "repobus.remote", check=False)
    if cur.stdout.decode().strip() != name:
        gitcmd.run(repo.root, "config", "repobus.remote", name)
        done.append(f"set repobus.remote={name}")
    return done


def default_remote(repo: Repo) -> str | None:
    names = gitcmd.run(repo.root, "remote", check=False).stdout.decode().split()
    return "origin" if "origin" in names else None
