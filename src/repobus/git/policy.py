"""The playbook's repository policies, kept in git config under `[repobus]`.

All of them are off by default, so the core commands (and `repobus demo`) work without a
session handshake or an assignment; `repobus init --shims` turns on the original tools'
rules for a repository that follows the playbook:

  repobus.sessionGuard       bus writes need a fresh session receipt (`repobus boot`)
  repobus.sessionMaxAge      how fresh, e.g. 1h (default) or 30m
  repobus.requireAssignment  claiming a task needs an assignment (or --allow-unassigned)
  repobus.identity           `manifest`: a per-process id (--agent, REPOBUS_AGENT) must match
                             AGENT_MANIFEST.json or a variant AGENT_MANIFEST.<id>.json
  repobus.pushAllow          branches besides agent/<own id>/ the pre-push hook lets through
                             for every agent (space-separated globs, e.g. "main release/*")
  repobus.integrationBranch  the branch a manager (by its manifest's role) may push: main
  repobus.mirror             `false` turns off the worktree's read-only _bus/ mirror
"""

from __future__ import annotations

from repobus.git.config import Config

_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")

# What `init --shims` sets when the repository has not chosen otherwise.
PLAYBOOK = {"sessionGuard": "true", "requireAssignment": "true", "identity": "manifest"}


def session_guard(cfg: Config) -> bool:
    return cfg.raw.get("sessionguard", "false").strip().lower() in _TRUE


def strict_identity(cfg: Config) -> bool:
    return cfg.raw.get("identity", "loose").strip().lower() in ("manifest", "strict")


def push_allow(cfg: Config) -> list[str]:
    return cfg.raw.get("pushallow", "").replace(",", " ").split()


def integration_branch(cfg: Config) -> str:
    return cfg.raw.get("integrationbranch", "").strip() or "main"


def mirror_enabled(cfg: Config) -> bool:
    return cfg.raw.get("mirror", "true").strip().lower() not in _FALSE


def mirror_applies(cfg: Config) -> bool:
    """The git backend keeps a `_bus/` mirror in every worktree of a set-up repository,
    unless `repobus.mirror` is false."""
    return bool(cfg.initialized) and mirror_enabled(cfg)
