"""Who is acting: the agent id from `--agent`, `REPOBUS_AGENT`, or the worktree's manifest.

The CLI reads argv and the environment and passes both values here; this module only reads
the manifest file.  Several agents may act from one worktree, each with its own `--agent` or
`REPOBUS_AGENT`, without touching the shared `AGENT_MANIFEST.json`.
"""

from __future__ import annotations

from pathlib import Path

from repobus import models, names
from repobus.errors import CorruptError, SetupError

MANIFEST = "AGENT_MANIFEST.json"
AGENT_REQUIRED = "agent id required (supply --agent or populate AGENT_MANIFEST.json)"


def manifest_agent(root: Path) -> str | None:
    """The manifest's `agent_id`, stripped; None when missing, empty or unreadable (as the
    original tools did)."""
    path = root / MANIFEST
    try:
        data = models.loads(path.read_bytes(), MANIFEST)
    except (OSError, CorruptError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("agent_id")
    return value.strip() or None if isinstance(value, str) else None


def resolve_agent(root: Path, explicit: str | None, from_env: str | None) -> str:
    for value in (explicit, from_env):
        if value is not None and value.strip():
            return names.agent_id(value)
    found = manifest_agent(root)
    if found:
        return names.agent_id(found)
    raise SetupError(
        AGENT_REQUIRED,
        hint="pass --agent ID, set REPOBUS_AGENT, or run `repobus init --agent ID`",
    )


def write_manifest(root: Path, agent: str) -> Path | None:
    """Write a minimal manifest unless one exists; return its path when written."""
    path = root / MANIFEST
    if path.exists():
        return None
    rec = models.Manifest(
        agent_id=agent, owner=agent, agent_type="agent", capabilities=[], desired_roles=["engineer"],
        branch_prefix=f"agent/{agent}/", contact="", notes="",
    )
    path.write_text(models.doc_text(rec.to_dict()), encoding="utf-8")
    return path
