"""Branch discipline at push time: the pre-push hook (playbook: agents work under
`agent/<agent_id>/*` branches).

The hook refuses a push of any branch outside `agent/<own id>/` unless the agent's role or the
repository allows it, and warns when the agent holds no active claim on the task of the
branch it pushes.  Roles come from the manifests of the worktree (`desired_roles`, the same
rule as everywhere: session.manager_candidates): a manager may also push the integration
branch (`repobus.integrationBranch`, default `main`); engineers only their own branches.
`repobus.pushAllow` (space-separated globs such as `release/*`) lets every agent through.
Tags, deletions and the bus's own refs (`refs/repobus/*`) are not branches and pass.  Hosting
rules cannot see custom refs or agent identities; this hook and `repobus check --pr` enforce
what the host cannot.
"""

from __future__ import annotations

import fnmatch
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from repobus.bus import Bus
from repobus.errors import ConflictError
from repobus.git.gitcmd import Repo
from repobus.store import files

MARKER = "# repobus-hook: pre-push"
_ZERO = frozenset("0")


def hook_script(python: str) -> str:
    py = shlex.quote(python)
    return f"""#!/bin/sh
{MARKER} (written by `repobus init --hooks`)
# Refuses pushes of branches outside agent/<your id>/. A manager (AGENT_MANIFEST*.json
# desired_roles) may also push the integration branch (git config repobus.integrationBranch,
# default main); git config repobus.pushAllow lists branches any agent may push.
PY={py}
if [ -x "$PY" ] && "$PY" -c 'import repobus' 2>/dev/null; then
    exec "$PY" -m repobus hook pre-push "$@"
fi
if command -v repobus >/dev/null 2>&1; then
    exec repobus hook pre-push "$@"
fi
echo "repobus pre-push hook: repobus is not installed; install it, or push with --no-verify" >&2
exit 1
"""


def hook_path(repo: Repo) -> Path:
    rel = repo.git("rev-parse", "--git-path", "hooks/pre-push").stdout.decode().strip()
    path = Path(rel)
    return path if path.is_absolute() else repo.root / path


def install_pre_push(repo: Repo, python: str) -> tuple[str, str]:
    """(path, written|unchanged); ConflictError when a foreign pre-push hook is present."""
    path = hook_path(repo)
    text = hook_script(python)
    try:
        old = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        old = None
    if old is not None and MARKER not in old:
        raise ConflictError(
            f"{path} exists and was not written by repobus; not overwriting it",
            hint='call `repobus hook pre-push "$@"` from your hook, or use the pre-commit '
            "hook id repobus-pre-push (see docs/playbook.md)",
        )
    if old == text:
        return str(path), "unchanged"
    files.write_atomic(path, text, 0o755)
    return str(path), "written"


def pushed_branches(stdin_lines: list[str]) -> list[str]:
    """Branch names a push updates (git's pre-push stdin); deletions and non-branches skipped."""
    out = []
    for line in stdin_lines:
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, remote_ref, _remote_sha = parts
        if set(local_sha) <= _ZERO or not remote_ref.startswith("refs/heads/"):
            continue
        out.append(remote_ref[len("refs/heads/") :])
    return out


@dataclass
class PushVerdict:
    refused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)


def role_allow(bus: Bus, agent: str) -> list[str]:
    """Branches the agent's role lets it push besides its own: the integration branch for a
    manager by the worktree's manifests, nothing for an engineer."""
    from repobus.git import policy
    from repobus.playbook import session

    if agent in session.manager_candidates(bus.repo.root):
        return [policy.integration_branch(bus.cfg)]
    return []


def check_push(bus: Bus, agent: str, branches: list[str], allow: list[str]) -> PushVerdict:
    """Sort the pushed branches: allowed (own, by role, by `allow`) or refused."""
    verdict = PushVerdict()
    allow = [*allow, *role_allow(bus, agent)]
    prefix = f"agent/{agent}/"
    claims = None
    for br in branches:
        if any(fnmatch.fnmatchcase(br, pat) for pat in allow):
            verdict.allowed.append(br)
            continue
        if not br.startswith(prefix) or br == prefix:
            verdict.refused.append(br)
            continue
        verdict.allowed.append(br)
        if claims is None:
            claims = [s.record for s in bus.store.list("claims")]
        held = [
            c
            for c in claims
            if c.get("branch") == br
            and c.get("agent_id") == agent
            and c.get("status") == "active"
            and not bus.is_expired(c)
        ]
        if not held:
            verdict.warnings.append(
                f"warning: {agent} holds no active claim for branch {br}; claim its task "
                f"first (repobus claim --task TASK --branch {br})"
            )
    return verdict
