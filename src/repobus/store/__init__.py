"""Storage: the protocol (base.py), the git, remote and dir backends, the derived index.

`open_store` picks the backend a repository's settings name.
"""

from __future__ import annotations

from repobus.store.base import LOG_KINDS, SLOT_KINDS, Entry, Problem, Slot, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo

__all__ = ["LOG_KINDS", "SLOT_KINDS", "Entry", "Problem", "Slot", "Store", "open_store"]


def open_store(repo: Repo, cfg: Config, backend: str | None = None) -> Store:
    chosen = backend or cfg.backend
    if chosen == "dir":
        from repobus.store.dirstore import DirStore

        return DirStore(repo, cfg)
    if cfg.remote:
        from repobus.store.remotestore import RemoteGitStore

        return RemoteGitStore(repo, cfg)
    from repobus.store.gitstore import GitStore

    return GitStore(repo, cfg)
