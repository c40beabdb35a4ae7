"""Roles in the pre-push hook: the manifest's role decides what `git push` may update.

The manager (AGENT_MANIFEST.json desired_roles: manager) pushes the integration branch
(main, or repobus.integrationBranch) with no repobus.pushAllow; an engineer is refused main
and pushes only agent/<own id>/*.  Real git, a bare origin, the hook `init --hooks` installs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pbhelpers import env, git, run

MGR, ENG = "codex-manager", "codex-1"


def _push(cwd: Path, *refs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", "origin", *refs],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _team(repo: Path, tmp: Path) -> tuple[Path, Path]:
    """The manager's clone (hook installed, manifest role manager) and an engineer's
    worktree with its own manifest; a bare origin holding main."""
    origin = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    (repo / "AGENT_MANIFEST.json").write_text(
        json.dumps(
            {"agent_id": MGR, "desired_roles": ["manager"], "branch_prefix": f"agent/{MGR}/"}
        )
    )
    res = run(f"repobus init --shims --hooks --no-remote --agent {MGR}", repo)
    assert "installed the pre-push hook" in res.stdout
    wt = tmp / "wt-eng"
    git(repo, "worktree", "add", "-q", "-b", f"agent/{ENG}/home", str(wt), "main")
    run(f"repobus init --no-remote --agent {ENG}", wt)
    return repo, wt


def test_the_manager_pushes_main_and_an_engineer_is_refused(repo: Path, tmp_path: Path) -> None:
    mgr, eng = _team(repo, tmp_path)
    assert subprocess.run(
        ["git", "config", "repobus.pushAllow"], cwd=mgr, capture_output=True
    ).returncode  # nothing allowed by configuration: the role alone lets the manager through
    git(mgr, "commit", "-q", "--allow-empty", "-m", "integrate")
    pushed = _push(mgr, "main")
    assert pushed.returncode == 0, pushed.stderr
    assert git(tmp_path / "origin.git", "rev-parse", "main") == git(mgr, "rev-parse", "main")

    git(eng, "merge", "-q", "--ff-only", "main")  # a fast-forward: only the hook can refuse it
    git(eng, "commit", "-q", "--allow-empty", "-m", "engineer work")
    refused = _push(eng, "HEAD:main")
    assert refused.returncode != 0
    assert f"push refused: main outside agent/{ENG}/" in refused.stderr
    assert git(tmp_path / "origin.git", "rev-parse", "main") == git(mgr, "rev-parse", "main")
    own = _push(eng, f"agent/{ENG}/home")
    assert own.returncode == 0, own.stderr
    other = _push(eng, f"agent/{ENG}/home:agent/{MGR}/x")
    assert other.returncode != 0 and "push refused" in other.stderr


def test_the_configured_integration_branch_replaces_main(repo: Path, tmp_path: Path) -> None:
    mgr, _eng = _team(repo, tmp_path)
    git(mgr, "config", "repobus.integrationBranch", "trunk")
    git(mgr, "branch", "trunk")
    assert _push(mgr, "trunk").returncode == 0
    refused = _push(mgr, "main")
    assert refused.returncode != 0 and "push refused: main" in refused.stderr
