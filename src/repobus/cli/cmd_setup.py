"""`init --shims` / `init --hooks` (the playbook's set-up) and `hook pre-push`."""

from __future__ import annotations

import sys

from repobus.cli import Ctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def playbook_setup(ctx: Ctx, repo: Any) -> list[str]:
    from repobus import config, hooks, policy, shims

    done: list[str] = []
    if ctx.values.get("shims"):
        for w in shims.write_shims(repo.root):
            if w.action == "written":
                done.append(f"wrote {w.path}")
            elif w.action == "kept":
                done.append(f"kept {w.path} (not written by repobus; not overwritten)")
        cfg = config.load(repo)
        for key, value in policy.PLAYBOOK.items():
            if key.lower() not in cfg.raw:
                config.set_value(repo, key, value)
                done.append(f"set repobus.{key}={value} (playbook policy)")
    if ctx.values.get("hooks"):
        path, action = hooks.install_pre_push(repo, sys.executable)
        if action == "written":
            done.append(f"installed the pre-push hook: {path}")
    return done


def pre_push(ctx: Ctx) -> int:
    """git runs this with the remote name and URL, and the refs being pushed on stdin."""
    from repobus import hooks, policy
    from repobus.errors import CheckFailed

    lines = [] if sys.stdin.isatty() else sys.stdin.read().splitlines()
    branches = hooks.pushed_branches(lines)
    remote_branch = ctx.env.get("PRE_COMMIT_REMOTE_BRANCH")  # run by the pre-commit framework
    if not lines and remote_branch and remote_branch.startswith("refs/heads/"):
        branches = [remote_branch[len("refs/heads/") :]]
    if not branches:
        return 0
    bus = ctx.bus()
    agent = ctx.agent()
    verdict = hooks.check_push(bus, agent, branches, policy.push_allow(bus.cfg))
    for text in verdict.warnings:
        ctx.err.write(text + "\n")
    if verdict.refused:
        raise CheckFailed(
            f"push refused: {', '.join(verdict.refused)} outside agent/{agent}/ (agents push "
            f"only their own agent/<id>/ branches)",
            hint="push to agent/<id>/<slug> (repobus branch SLUG), or allow it: "
            "git config repobus.pushAllow 'main release/*'",
        )
    return 0
