"""Who is acting: the agent id from `--agent`, `REPOBUS_AGENT`, or the worktree's manifest.

The CLI reads argv and the environment and passes both values here; this module only reads
the manifest files.  Several agents may act from one worktree, each with its own `--agent` or
`REPOBUS_AGENT`, without touching the shared `AGENT_MANIFEST.json`.

With the repository policy `repobus.identity = manifest` (set by `repobus init --shims`), a
per-process id must match a manifest of the worktree: `AGENT_MANIFEST.json` or a variant
`AGENT_MANIFEST.<id>.json` (the original tools' `agent mismatch` rule, widened to variants so
agents sharing a checkout each keep their own identity file).  Without any manifest an
explicit id is accepted, as the original tools did.

Manifest variants are swapped in with a backup (`.manifest_backups/`) and an atomic replace
under a lock, so a crash never leaves a truncated identity file.
"""

from __future__ import annotations

import re
from pathlib import Path

from repobus.errors import ConflictError, CorruptError, NotFoundError, SetupError, UsageError
from repobus.records import models, names
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MANIFEST = "AGENT_MANIFEST.json"
BACKUPS = ".manifest_backups"
SESSIONS = ".manifest_sessions"
AGENT_REQUIRED = "agent id required (supply --agent or populate AGENT_MANIFEST.json)"
_VARIANT = re.compile(r"AGENT_MANIFEST\.([A-Za-z0-9][A-Za-z0-9._-]*)\.json\Z")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """A manifest's JSON object; None when missing or unreadable (as the original tools)."""
    try:
        data = models.loads(path.read_bytes(), path.name)
    except (OSError, CorruptError):
        return None
    return data if isinstance(data, dict) else None


def _agent_of(data: dict[str, Any] | None) -> str | None:
    value = (data or {}).get("agent_id")
    return value.strip() or None if isinstance(value, str) else None


def manifest_agent(root: Path) -> str | None:
    """The manifest's `agent_id`, stripped; None when missing, empty or unreadable (as the
    original tools did)."""
    return _agent_of(read_manifest(root / MANIFEST))


class Variant:
    """A manifest variant: its file, the id in its name, its agent_id and roles."""

    __slots__ = ("path", "name", "agent_id", "roles")

    def __init__(self, path: Path, name: str, agent_id: str | None, roles: tuple[str, ...]) -> None:
        self.path, self.name, self.agent_id, self.roles = path, name, agent_id, roles


def variants(root: Path) -> list[Variant]:
    """`AGENT_MANIFEST.<id>.json` files of the worktree, sorted by file name."""
    out = []
    for p in sorted(root.glob("AGENT_MANIFEST.*.json")):
        m = _VARIANT.match(p.name)
        if not m:
            continue
        data = read_manifest(p)
        roles = (data or {}).get("desired_roles")
        out.append(
            Variant(
                p,
                m.group(1),
                _agent_of(data),
                tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
            )
        )
    return out


def known_agents(root: Path) -> list[str]:
    """Every agent id a manifest of the worktree declares (the default one first)."""
    out = []
    main = manifest_agent(root)
    if main:
        out.append(main)
    out += [v.agent_id for v in variants(root) if v.agent_id and v.agent_id not in out]
    return out


def manager_candidates(root: Path) -> set[str]:
    """Agents whose manifest (default or variant) lists `manager` in desired_roles."""
    found = set()
    main = read_manifest(root / MANIFEST)
    roles = (main or {}).get("desired_roles")
    if isinstance(roles, list) and "manager" in roles and _agent_of(main):
        found.add(str(_agent_of(main)))
    found |= {v.agent_id for v in variants(root) if v.agent_id and "manager" in v.roles}
    return found


def mismatch(root: Path, agent: str) -> SetupError:
    declared = manifest_agent(root) or ", ".join(known_agents(root))
    return SetupError(
        f"agent mismatch: AGENT_MANIFEST.json declares '{declared}' but command used "
        f"'{agent}'. Run session_boot or update the manifest before proceeding.",
        hint=f"repobus manifest use {agent} (after writing AGENT_MANIFEST.{agent}.json), "
        "or act as the manifest's agent",
    )


def strict_from_config(root: Path) -> bool:
    from repobus.git import config, gitcmd, policy

    try:
        return policy.strict_identity(config.load(gitcmd.discover(root)))
    except SetupError:
        return False


def resolve_agent(
    root: Path, explicit: str | None, from_env: str | None, strict: bool | None = None
) -> str:
    for value in (explicit, from_env):
        if value is not None and value.strip():
            agent = names.agent_id(value)
            if strict is None:
                strict = strict_from_config(root)
            if strict:
                known = known_agents(root)
                if known and agent not in known:
                    raise mismatch(root, agent)
            return agent
    found = manifest_agent(root)
    if found:
        return names.agent_id(found)
    raise SetupError(
        AGENT_REQUIRED,
        hint="pass --agent ID, set REPOBUS_AGENT, or run `repobus init --agent ID`",
    )


def write_manifest(root: Path, agent: str, roles: list[str] | None = None) -> Path | None:
    """Write a minimal manifest unless one exists; return its path when written."""
    path = root / MANIFEST
    if path.exists():
        return None
    from repobus.records import types

    rec = types.Manifest(
        agent_id=agent,
        owner=agent,
        agent_type="agent",
        capabilities=[],
        desired_roles=roles or ["engineer"],
        branch_prefix=f"agent/{agent}/",
        contact="",
        notes="",
    )
    path.write_text(models.doc_text(rec.to_dict()), encoding="utf-8")
    return path


# -- variants: list, use, restore ---------------------------------------------------------


def variant_path(root: Path, name: str) -> Path:
    """`codex-4` or `AGENT_MANIFEST.codex-4.json` -> the variant's path (validated)."""
    name = name.strip()
    m = _VARIANT.match(name)
    ident = m.group(1) if m else name
    if ident.endswith(".json") or "/" in ident or "\\" in ident:
        raise UsageError(
            f"unsafe manifest variant {name!r}: pass an id like codex-4 or a file "
            "name like AGENT_MANIFEST.codex-4.json"
        )
    names.agent_id(ident)
    return root / f"AGENT_MANIFEST.{ident}.json"


def _lock(root: Path) -> Path:
    return root / BACKUPS / ".lock"


def backup(root: Path) -> Path | None:
    src = root / MANIFEST
    if not src.exists():
        return None
    dest = root / BACKUPS / f"{MANIFEST}.{src.stat().st_mtime_ns}"
    if not dest.exists():
        import shutil

        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    return dest


def use_variant(root: Path, name: str, keep_backup: bool = True) -> dict[str, Any]:
    """Make a variant the worktree's AGENT_MANIFEST.json (backup first, atomic replace)."""
    path = variant_path(root, name)
    if not path.is_file():
        raise NotFoundError(
            f"variant {path.name} not found",
            hint="repobus manifest list shows the variants of this worktree",
        )
    data = read_manifest(path)
    if _agent_of(data) is None:
        raise CorruptError(f"{path.name}: not a manifest with an agent_id")
    with files.locked(_lock(root)):
        saved = backup(root) if keep_backup else None
        files.write_atomic(root / MANIFEST, path.read_bytes())
    return {
        "agent_id": _agent_of(data),
        "variant": path.name,
        "backup": str(saved.relative_to(root)) if saved else None,
    }


def backups(root: Path) -> list[Path]:
    folder = root / BACKUPS
    found = (
        [p for p in folder.glob(f"{MANIFEST}.*") if p.suffix.lstrip(".").isdigit()]
        if folder.is_dir()
        else []
    )
    return sorted(found, key=lambda p: int(p.suffix.lstrip(".")))


def restore(root: Path) -> dict[str, Any]:
    found = backups(root)
    if not found:
        raise NotFoundError(
            "no backups available", hint=f"backups are made by `repobus manifest use` in {BACKUPS}/"
        )
    latest = found[-1]
    with files.locked(_lock(root)):
        files.write_atomic(root / MANIFEST, latest.read_bytes())
    return {"agent_id": manifest_agent(root), "backup": str(latest.relative_to(root))}


# -- saved sessions (manifest_helper session-*) ---------------------------------------------

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def _label(label: str) -> str:
    if not _LABEL.match(label or "") or ".." in label:
        raise UsageError(
            f"unsafe session label {label[:40]!r}: use letters, digits, '.', '_' "
            "and '-' (at most 64)"
        )
    return label


def session_save(
    root: Path, label: str, *, branch: str, commit: str, created: str, force: bool = False
) -> dict[str, Any]:
    folder = root / SESSIONS / _label(label)
    if folder.exists() and not force:
        raise ConflictError(f"session {label} already saved", hint="pass --force to overwrite")
    agent = manifest_agent(root)
    if agent is None:
        raise SetupError(AGENT_REQUIRED)
    meta = {
        "label": label,
        "agent_id": agent,
        "branch": branch,
        "commit": commit,
        "created": created,
    }
    files.write_atomic(folder / MANIFEST, (root / MANIFEST).read_bytes())
    files.write_atomic(folder / "metadata.json", models.doc_text(meta))
    return meta


def session_list(root: Path) -> list[dict[str, Any]]:
    folder = root / SESSIONS
    out = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        meta = read_manifest(p / "metadata.json")
        if meta is not None:
            out.append(meta)
    return out


def session_get(root: Path, label: str) -> dict[str, Any]:
    folder = root / SESSIONS / _label(label)
    meta = read_manifest(folder / "metadata.json")
    if meta is None or not (folder / MANIFEST).is_file():
        raise NotFoundError(f"session {label} not found")
    return meta


def session_restore_manifest(root: Path, label: str, keep_backup: bool = True) -> None:
    session_get(root, label)
    with files.locked(_lock(root)):
        if keep_backup:
            backup(root)
        files.write_atomic(
            root / MANIFEST, (root / SESSIONS / _label(label) / MANIFEST).read_bytes()
        )


def session_delete(root: Path, label: str) -> None:
    import shutil

    session_get(root, label)
    shutil.rmtree(root / SESSIONS / _label(label))
