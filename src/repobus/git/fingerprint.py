"""Fingerprints of the ref storage: a few `stat` calls that change whenever a bus ref moves.

The index, the `_bus/` mirror and the lean read path each compare one of these with the one
they were made for; this module is their one definition.  Imports only `os`.
"""

from __future__ import annotations

import os

from repobus.records.layout import LOG_KINDS, ROOT, SLOT_KINDS


def _stat(path: str) -> list[int]:
    """(mtime_ns, size, inode) of `path`; zeros when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return [0, 0, 0]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def kind_signature(common: str, kind: str) -> tuple[int, ...]:
    """Changes whenever a ref of `kind` moves: two `stat` calls (its loose-ref directory,
    packed-refs), as (mtime_ns, size, inode) each; zeros for a missing one."""
    return (*_stat(os.path.join(common, ROOT, kind)), *_stat(os.path.join(common, "packed-refs")))


def mirror_text(sig: dict[str, list[int]]) -> str:
    """How the `_bus/` mirror records the fingerprint it is current with."""
    return ";".join(f"{k}:" + ",".join(str(n) for n in v) for k, v in sig.items())


def mirror_signature(common: str) -> dict[str, list[int]]:
    """`kind_signature` of every kind, packed-refs looked at once."""
    packed = _stat(os.path.join(common, "packed-refs"))
    return {k: [*_stat(os.path.join(common, ROOT, k)), *packed] for k in (*SLOT_KINDS, *LOG_KINDS)}


def mirror_state(root: str, git_dir: str, common: str) -> str | None:
    """'disabled' (the worktree tracks its own `_bus/`), 'current' (the mirror matches the
    refs), or None: a refresh must look."""
    try:
        with open(os.path.join(git_dir, "repobus-mirror.sig"), encoding="utf-8") as fh:
            saved = fh.read()
    except (OSError, ValueError):
        return None
    if saved == "disabled":
        return "disabled"
    if saved == mirror_text(mirror_signature(common)) and os.path.isdir(os.path.join(root, "_bus")):
        return "current"
    return None


def ref_signature(common: str) -> tuple[str, float]:
    """The index's fingerprint of every bus ref, and the newest mtime in it."""
    parts: list[str] = []
    newest = 0.0
    paths = [os.path.join(common, ROOT, k) for k in (*SLOT_KINDS, *LOG_KINDS)]
    for p in (*paths, os.path.join(common, ROOT), os.path.join(common, "packed-refs")):
        try:
            st = os.stat(p)
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{st.st_mtime_ns}.{st.st_size}.{st.st_ino}")
        newest = max(newest, st.st_mtime)
    return "|".join(parts), newest


def unpushed_path(common: str) -> str:
    """The marker a remote store leaves while this clone holds records the remote lacks."""
    return os.path.join(common, "repobus", "unpushed")
