"""Read models of the bus: the status overview and the worktree's `_bus/` mirror.

`repobus.views.status`, `status_json`, `status_text`, `follow` and `export` (the public Python
API, docs/python-api.md) are those of `views.overview`, loaded on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PUBLIC = frozenset({"status", "status_json", "status_text", "follow", "export", "tree"})


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        from repobus.views import overview

        return getattr(overview, name)
    raise AttributeError(f"module 'repobus.views' has no attribute {name!r}")
