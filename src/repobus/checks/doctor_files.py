"""`repobus doctor`'s checks of what killed writers leave behind: ref lock files in every bus
namespace, fetch quarantines of processes that are gone, temporary object files.  With fix,
only what is older than `repobus.lockStale` (or whose process is gone) is removed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from repobus.bus import Bus
from repobus.checks.findings import finding as _finding
from repobus.errors import git_reason
from repobus.git import gitcmd


# -- locks and temporary files -----------------------------------------------------------------
def lock_files(bus: Bus) -> list[Path]:
    """Ref lock files of the bus (store/locks.py)."""
    from repobus.store.locks import ref_lock_files

    return ref_lock_files(bus.repo.common_dir)


def _age(path: Path, now: float) -> float | None:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None  # its writer finished meanwhile


def _remove_old(paths: list[Path], max_age: float) -> list[Path]:
    removed = []
    now = time.time()
    for p in paths:
        age = _age(p, now)
        if age is not None and age >= max_age:
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                continue
    return removed


def _rel(bus: Bus, paths: list[Path]) -> str:
    names = []
    for p in paths[:5]:
        try:
            names.append(str(p.relative_to(bus.repo.common_dir)))
        except ValueError:
            names.append(str(p))
    return ", ".join(names) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def locks(bus: Bus, fix: bool) -> list[dict[str, str]]:
    if bus.store.refs_root is None:  # no ref locks: the store's flocks die with their writer
        return [_finding("locks", "ok", "dir backend: flocks are released by the kernel")]
    locks = lock_files(bus)
    if not locks:
        return [_finding("locks", "ok", "no leftover lock files")]
    stale = bus.cfg.lock_stale
    now = time.time()
    old = [p for p in locks if (_age(p, now) or 0) >= stale]
    if fix and old:
        removed = _remove_old(old, stale)
        young = len(locks) - len(old)
        return [
            _finding(
                "locks",
                "ok" if not young else "warning",
                f"fixed: removed {len(removed)} stale lock file(s): {_rel(bus, removed)}"
                + (
                    f"; {young} younger than {stale}s kept (a writer may hold them)"
                    if young
                    else ""
                ),
            )
        ]
    level = "problem" if old else "warning"
    return [
        _finding(
            "locks",
            level,
            f"{len(locks)} lock file(s) ({_rel(bus, locks)}), "
            f"{len(old)} older than {stale}s" + ("; run `repobus doctor --fix`" if old else ""),
        )
    ]


def _alive(owner: str) -> bool:
    """Whether the process that named a fetch quarantine `<pid>-<tag>` still runs."""
    pid = owner.split("-", 1)[0]
    if not pid.isdigit():
        return False  # not a quarantine of a process (an older layout): nobody owns it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def quarantines(bus: Bus, fix: bool) -> dict[str, str]:
    """Refs a fetch killed before its clean-up left in its private quarantine
    (refs/repobus-incoming/<remote>/<pid>-<tag>/): garbage once the process is gone."""
    from repobus.store.tracking import INCOMING_ROOT

    prefix = f"{INCOMING_ROOT}/{bus.cfg.remote}/"
    res = gitcmd.run(
        bus.repo.root, "for-each-ref", "--format=%(refname) %(objectname)", prefix, check=False
    )
    stale = {}
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        ref, _, oid = line.partition(" ")
        if not _alive(ref[len(prefix) :].split("/", 1)[0]):
            stale[ref] = oid
    if not stale:
        return _finding("quarantine", "ok", "no fetch quarantine left behind")
    owners = len({ref[len(prefix) :].split("/", 1)[0] for ref in stale})
    what = f"{len(stale)} ref(s) in {owners} fetch quarantine(s) left by killed processes"
    if not fix:
        return _finding(
            "quarantine", "warning", f"{what} (harmless; `repobus doctor --fix` deletes them)"
        )
    script = "".join(f"delete {ref} {oid}\n" for ref, oid in stale.items())
    done = gitcmd.run(bus.repo.root, "update-ref", "--stdin", stdin=script.encode(), check=False)
    if done.returncode != 0:
        why = git_reason(done.stderr)
        return _finding("quarantine", "problem", f"{what}; deleting them failed: {why}")
    return _finding("quarantine", "ok", f"fixed: deleted {what}")


def temp_objects(bus: Bus, fix: bool) -> dict[str, str]:
    """Object files a writer killed mid-write left under a temporary name (never referenced)."""
    objects = bus.repo.common_dir / "objects"
    temps = [p for p in objects.glob("??/tmp_obj_*")] if objects.is_dir() else []
    if not temps:
        return _finding("temp objects", "ok", "no temporary object files")
    if fix:
        removed = _remove_old(temps, bus.cfg.lock_stale)
        return _finding(
            "temp objects",
            "ok",
            f"fixed: removed {len(removed)} temporary object file(s) left by killed writers",
        )
    return _finding(
        "temp objects",
        "warning",
        f"{len(temps)} temporary object file(s) left by "
        "killed writers (harmless; `repobus doctor --fix` removes them)",
    )
