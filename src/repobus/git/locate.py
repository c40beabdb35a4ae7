"""Finding the repository without running git: the worktree root, its git dir and the common
dir, from `.git` (a directory or a `gitdir:` file) and `commondir`.  Imports only `os`: the
lean status path uses it."""

from __future__ import annotations

import os


def locate(start: str) -> tuple[str, str, str] | None:
    """(worktree root, git dir, common dir) of the clone or worktree holding `start` (a
    resolved, existing directory), in plain path strings; None for a layout this does not
    recognise (the caller asks git)."""
    d = start
    while True:
        dot = os.path.join(d, ".git")
        if os.path.isdir(dot):
            if os.path.exists(os.path.join(dot, "HEAD")):
                return d, dot, _common(dot)
        elif os.path.isfile(dot):
            gd = _gitfile(dot)
            if gd is not None and os.path.exists(os.path.join(gd, "HEAD")):
                return d, gd, _common(gd)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _gitfile(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
    except (OSError, ValueError):
        return None
    if not text.startswith("gitdir:"):
        return None
    target = text[len("gitdir:") :].strip()
    if os.path.isabs(target):
        return target
    return os.path.realpath(os.path.join(os.path.dirname(path), target))


def _common(git_dir: str) -> str:
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
            rel = fh.read().strip()
    except (OSError, ValueError):
        return git_dir
    return rel if os.path.isabs(rel) else os.path.realpath(os.path.join(git_dir, rel))
