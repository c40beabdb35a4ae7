"""`manifest_helper session-save|session-restore|session-list|session-delete` (FORMATS §15)."""

from __future__ import annotations

import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run(cmd: str, a: dict[str, Any], root: Path | str | None) -> int:
    from repobus.errors import BusError, git_reason
    from repobus.git import gitcmd
    from repobus.playbook import boot, session
    from repobus.records import times

    try:
        repo = gitcmd.discover(root)
        where = repo.root
        if cmd == "session-list":
            for m in session.session_list(where):
                sys.stdout.write(
                    f"{m.get('label')}: branch={m.get('branch')} "
                    f"agent={m.get('agent_id')} created={m.get('created')}\n"
                )
            return 0
        if cmd == "session-delete":
            session.session_delete(where, a["label"])
            sys.stdout.write(f"Deleted session {a['label']}\n")
            return 0
        if cmd == "session-save":
            return _save(repo, a)
        meta = session.session_get(where, a["label"])
        if not a.get("manifest_only"):
            if boot.dirty(repo) and not a.get("allow_dirty"):
                raise BusError(
                    "working tree has uncommitted changes; commit them or pass --allow-dirty"
                )
            res = repo.git("checkout", str(meta.get("branch")), check=False)
            if res.returncode != 0:
                why = git_reason(res.stderr)
                raise BusError(f"git checkout {meta.get('branch')} failed: {why}")
        session.session_restore_manifest(where, a["label"], keep_backup=not a.get("no_backup"))
        sys.stdout.write(
            f"Restored session {a['label']} (agent {meta.get('agent_id')}, branch "
            f"{meta.get('branch')}) at {times.fmt(times.now())}\n"
        )
        return 0
    except BusError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 2 if exc.code == 2 else 1


def _save(repo: Any, a: dict[str, Any]) -> int:
    from repobus.bus import open_bus, parse_pairs
    from repobus.errors import BusError
    from repobus.playbook import boot, session
    from repobus.records import times

    if boot.dirty(repo) and not a.get("allow_dirty"):
        raise BusError("working tree has uncommitted changes; commit them or pass --allow-dirty")
    branch = boot.current_branch(repo) or "HEAD"
    commit = repo.git("rev-parse", "HEAD").stdout.decode().strip()
    extras = parse_pairs(a.get("heartbeat_meta"), "--heartbeat-meta")
    if a.get("dry_run"):
        sys.stdout.write(
            f"would save session {a['label']} (branch {branch}, commit {commit[:12]})\n"
        )
        return 0
    meta = session.session_save(
        repo.root,
        a["label"],
        branch=branch,
        commit=commit,
        created=times.fmt(times.now()),
        force=bool(a.get("force")),
    )
    if not a.get("no_heartbeat"):
        summary = a.get("heartbeat_summary") or f"Session wrap: {a['label']}"
        bus = open_bus(repo.root)
        bus.log(
            meta["agent_id"],
            "status",
            summary,
            extra={
                "session_label": a["label"],
                "session_branch": branch,
                "session_commit": commit,
                **extras,
            },
        )
        from repobus.views import mirror

        mirror.refresh(bus)
    sys.stdout.write(f"Saved session {a['label']} → .manifest_sessions/{a['label']}/\n")
    return 0
