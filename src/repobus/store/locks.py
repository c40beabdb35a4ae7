"""Ref locks of the bus: which lock files there are, and what a failed ref update means; and
the clone's advisory turn locks, waited for without polling.

Invariants: a wait for a turn lock blocks in the kernel (flock) and costs no CPU; it is
bounded in time; a lock given up on is never left held (the thread that waited drops it the
moment it gets it); the kernel drops a lock whose holder died.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from repobus.errors import GitError, LockedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


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


@contextmanager
def flock_within(path: Path, wait: float, shared: bool = False) -> Iterator[bool]:
    """A flock on `path` (exclusive, or `shared`), waited for at most `wait` seconds; yields
    whether it is held.  Taken at once when free; otherwise a helper thread blocks in the
    kernel for it while this one waits on an event, so a long wait costs no CPU."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        got = _blocking(path, mode, wait)
        if got is None:
            yield False
            return
        fd = got
    try:
        yield True
    finally:
        os.close(fd)  # closing the only descriptor of the open file drops its flock


def _blocking(path: Path, mode: int, wait: float) -> int | None:
    """The descriptor holding `mode` on `path` once a helper thread got it within `wait`
    seconds; None when time ran out (the helper then drops it as soon as it gets it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    done = threading.Event()
    guard = threading.Lock()
    state = {"abandoned": False, "failed": False}

    def take() -> None:
        try:
            fcntl.flock(fd, mode)
        except OSError:
            state["failed"] = True
        with guard:
            if state["abandoned"]:
                os.close(fd)  # the waiter left: never keep a lock nobody uses
                return
            done.set()

    threading.Thread(target=take, name="repobus-flock", daemon=True).start()
    done.wait(max(wait, 0.0))
    with guard:
        if done.is_set() and not state["failed"]:
            return fd
        state["abandoned"] = True
        if done.is_set():  # the helper failed: nothing held, the descriptor is ours to close
            os.close(fd)
    return None
