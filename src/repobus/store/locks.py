"""Ref locks of the bus: which lock files there are, and what a failed ref update means."""

from __future__ import annotations

import time
from pathlib import Path

from repobus.errors import GitError, LockedError


def ref_lock_files(common: Path) -> list[Path]:
    """Ref lock files of the bus (the one list): under refs/repobus/, the tracking and fetch
    quarantine namespaces (and layout 1's refs/remotes/<remote>-repobus*/), packed-refs.lock."""
    refs = common / "refs"
    roots = [refs / "repobus", refs / "repobus-remote", refs / "repobus-incoming"]
    if (refs / "remotes").is_dir():
        roots += [p for p in (refs / "remotes").iterdir() if "-repobus" in p.name]
    found = [p for root in roots if root.is_dir() for p in root.rglob("*.lock")]
    packed = common / "packed-refs.lock"
    return sorted(found) + ([packed] if packed.exists() else [])


def remove_stale(paths: list[Path], age: float) -> list[Path]:
    """Remove the lock files of `paths` at least `age` seconds old (git holds a ref lock for
    milliseconds; an old one was left by a writer killed mid-update); those removed."""
    removed = []
    now = time.time()
    for p in paths:
        try:
            if now - p.stat().st_mtime >= age:
                p.unlink()
                removed.append(p)
        except FileNotFoundError:
            continue
    return removed


def update_failed(ref: str, code: int, stderr: str, lock_stale: int) -> Exception:
    """What a failed `update-ref` of `ref` (that did not lose a race) means: a full disk, a
    lock held (by a racer, or left by a crashed writer), or a git failure."""
    if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
        from repobus.errors import StorageError

        return StorageError(
            f"cannot write {ref}: No space left on device",
            hint="free some space, then retry: nothing was changed",
        )
    if ".lock" in stderr:
        import re

        named = re.search(r"'(refs/[^']+?)(?:\.lock)?'", stderr)
        return LockedError(
            f"{named.group(1) if named else ref} is locked: {stderr.strip().splitlines()[-1]}",
            hint=f"if no other writer is running, a crashed one left the lock: it is removed "
            f"automatically once {lock_stale}s old, or run `repobus doctor --fix`",
        )
    return GitError(("git", "update-ref", ref), code, stderr)
