"""The clone's local ignore list (`.git/info/exclude`), shared by all its worktrees.

repobus keeps per-worktree state there that must never be committed: the read-only `_bus/`
mirror, session receipts, manifest backups.  Adding a pattern is idempotent and appends one
line; existing lines are never rewritten.
"""

from __future__ import annotations

import os

from repobus.git.gitcmd import Repo


def ensure_excluded(repo: Repo, *patterns: str) -> list[str]:
    """Add the patterns missing from info/exclude; return the ones added."""
    path = repo.common_dir / "info" / "exclude"
    try:
        have = set(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        have = set()
    missing = [p for p in patterns if p not in have]
    if not missing:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{p}\n" for p in missing)
    try:
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            text = "\n" + text
    except OSError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    return missing
