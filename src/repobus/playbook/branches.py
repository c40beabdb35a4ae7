"""Agent branches `agent/<id>/<slug>` (playbook step 7), optionally in their own worktree.

A new worktree gets a copy of the current worktree's AGENT_MANIFEST.json when that file is
not tracked (an untracked identity file does not travel with the checkout).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from repobus.errors import ConflictError, NotFoundError, git_reason
from repobus.git.gitcmd import Repo
from repobus.records import names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MANIFEST = "AGENT_MANIFEST.json"


def branch_name(agent: str, slug: str) -> str:
    return f"agent/{names.agent_id(agent)}/{names.slug(slug)}"


def exists(repo: Repo, branch: str) -> bool:
    return (
        repo.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode
        == 0
    )


def current(repo: Repo) -> str | None:
    res = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    name = res.stdout.decode().strip()
    return name or None


def _fail(res: Any, what: str) -> ConflictError:
    return ConflictError(f"{what}: {git_reason(res.stderr)}")


def create(
    repo: Repo, agent: str, slug: str, *, worktree: Path | None = None, base: str | None = None
) -> dict[str, Any]:
    name = branch_name(agent, slug)
    had = exists(repo, name)
    if (
        base
        and not had
        and repo.git(
            "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False
        ).returncode
        != 0
    ):
        raise NotFoundError(f"no such base revision: {base}")
    if worktree is None:
        args = ["switch", name] if had else ["switch", "-c", name, *([base] if base else [])]
        res = repo.git(*args, check=False)
        if res.returncode != 0:
            raise _fail(res, f"cannot switch to {name}")
        return {"branch": name, "created": not had, "worktree": str(repo.root)}
    if worktree.exists():
        raise ConflictError(f"{worktree} already exists", hint="pass another --path")
    args = (
        ["worktree", "add", str(worktree), name]
        if had
        else ["worktree", "add", "-b", name, str(worktree), *([base] if base else [])]
    )
    res = repo.git(*args, check=False)
    if res.returncode != 0:
        raise _fail(res, f"cannot add a worktree for {name}")
    copied = _copy_manifest(repo, worktree)
    return {
        "branch": name,
        "created": not had,
        "worktree": str(worktree),
        "manifest_copied": copied,
    }


def _copy_manifest(repo: Repo, worktree: Path) -> bool:
    src, dest = repo.root / MANIFEST, worktree / MANIFEST
    if not src.is_file() or dest.exists():
        return False
    tracked = repo.git("ls-files", "--error-unmatch", MANIFEST, check=False).returncode == 0
    if tracked:
        return False
    shutil.copy2(src, dest)
    return True
