"""`repobus doctor`: what is set up, what is wrong, and what it fixed.

Checks: git version, the repobus config and remote refspec, leftover lock files, clock skew
against the remote's newest commit.  With fix=True it does only what is safe: remove lock
files older than the safe age, add the missing fetch refspec.
"""

from __future__ import annotations

import time
from typing import Any

from repobus import gitcmd
from repobus.bus import Bus

SKEW_WARN = 30


def _finding(check: str, level: str, detail: str) -> dict[str, str]:
    return {"check": check, "level": level, "detail": detail}


def diagnose(bus: Bus, fix: bool = False) -> list[dict[str, str]]:
    out = [_git_version(bus)]
    cfg = bus.cfg
    out.append(_finding("config", "ok" if cfg.initialized else "warning",
                        f"backend={cfg.backend}, ttl={cfg.ttl}s, grace={cfg.grace}s"
                        if cfg.initialized else "repobus init has not been run here"))
    out += _locks(bus, fix)
    if cfg.remote:
        out += _remote(bus, fix)
    return out


def _git_version(bus: Bus) -> dict[str, str]:
    text = gitcmd.out(bus.repo.root, "--version")
    parts = text.split()[2].split(".") if len(text.split()) > 2 else ["0", "0"]
    ok = (int(parts[0]), int(parts[1])) >= (2, 30)
    return _finding("git", "ok" if ok else "problem", text + ("" if ok else " (need >= 2.30)"))


def _locks(bus: Bus, fix: bool) -> list[dict[str, str]]:
    store: Any = bus.store
    if not hasattr(store, "lock_files"):
        return [_finding("locks", "ok", "dir backend: flocks are released by the kernel")]
    locks = store.lock_files()
    if not locks:
        return [_finding("locks", "ok", "no leftover lock files")]
    now = time.time()
    old = [p for p in locks if now - p.stat().st_mtime >= bus.cfg.lock_stale]
    if fix and old:
        removed = store.clear_stale_lock(max_age=bus.cfg.lock_stale)
        return [_finding("locks", "ok", f"removed {len(removed)} stale lock file(s): "
                         + ", ".join(p.name for p in removed))]
    level = "problem" if old else "warning"
    return [_finding("locks", level, f"{len(locks)} lock file(s), {len(old)} older than "
                     f"{bus.cfg.lock_stale}s" + ("; run `repobus doctor --fix`" if old else ""))]


def _remote(bus: Bus, fix: bool) -> list[dict[str, str]]:
    from repobus.store import remote as rmt

    name = bus.cfg.remote or ""
    out = []
    spec = f"refs/repobus/*:refs/remotes/{name}-repobus/*"
    have = gitcmd.run(bus.repo.root, "config", "--get-all", f"remote.{name}.fetch",
                      check=False).stdout.decode().split()
    if spec in have:
        out.append(_finding("refspec", "ok", f"remote.{name}.fetch has {spec}"))
    elif fix:
        rmt.configure(bus.repo, name)
        out.append(_finding("refspec", "ok", f"added {spec} to remote.{name}.fetch"))
    else:
        out.append(_finding("refspec", "problem", f"remote.{name}.fetch lacks {spec}; "
                            "run `repobus doctor --fix`"))
    if any(s.startswith("+refs/repobus") for s in have):
        out.append(_finding("refspec", "problem", "a '+' bus refspec lets a rewritten remote "
                            "history in silently; remove the '+'"))
    out.append(_skew(bus))
    return out


def _skew(bus: Bus) -> dict[str, str]:
    from repobus.store.remotestore import verify_remote_clock

    store: Any = bus.store
    try:
        store.remote.fetch()
    except Exception as exc:  # unreachable: say so, the other checks still count
        return _finding("clock", "warning", f"cannot reach the remote to compare clocks: {exc}")
    ahead = verify_remote_clock(store)
    if ahead is None:
        return _finding("clock", "ok", "no remote records yet to compare with")
    level = "warning" if ahead > SKEW_WARN else "ok"
    return _finding("clock", level, f"the newest remote record is {ahead}s ahead of this "
                    f"clock" + (f" (leases are judged with a {bus.cfg.grace}s grace)"
                                if level == "warning" else ""))
