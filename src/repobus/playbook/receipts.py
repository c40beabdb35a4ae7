"""Receipts: evidence files stored under `_report/` where plans, events and PRs can cite them.

Layout (the playbook's): `_report/agent/<agent>/[<task>/]`, `_report/runner/[<task>/]`,
`_report/planner/[<task>/]`.  Each stored receipt is indexed with its sha256 in
`receipts.jsonl` of its kind's folder (one appended line), so a PR body or a reviewer can check
that the file cited is the file produced.  A receipt is never silently replaced by different
content.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from repobus.errors import ConflictError, CorruptError, NotFoundError, UsageError
from repobus.records import models, names, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("agent", "runner", "planner")
INDEX = "receipts.jsonl"


def base(root: Path, kind: str, agent: str) -> Path:
    if kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return root / "_report" / kind / agent if kind == "agent" else root / "_report" / kind


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def add(
    root: Path,
    src: Path,
    *,
    kind: str,
    agent: str,
    now: int,
    task: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    folder = base(root, kind, agent)
    if task:
        folder = folder / names.task_id(task)
    if not src.is_file():
        raise NotFoundError(f"no such receipt file: {src}")
    fname = name or src.name
    if "/" in fname or fname in (".", "..", INDEX) or not fname.strip():
        raise UsageError(f"unsafe receipt name {fname!r}")
    dest = folder / fname
    digest = sha256(src)
    copied = src.resolve() != dest.resolve()
    if copied and dest.exists():
        if sha256(dest) != digest:
            raise ConflictError(
                f"{dest.relative_to(root)} exists with different content",
                hint="pass --name to store it under another name",
            )
        copied = False
    if copied:
        files.write_atomic(dest, src.read_bytes())
    rec = {
        "ts": times.fmt(now),
        "agent_id": agent,
        "kind": kind,
        "path": str(dest.relative_to(root)),
        "sha256": digest,
        "size": dest.stat().st_size,
    }
    if task:
        rec["task_id"] = task
    files.append_line(base(root, kind, agent) / INDEX, models.event_line(rec))
    return {**rec, "copied": copied}


def for_task(root: Path, task: str) -> list[dict[str, Any]]:
    """Receipts indexed for a task (latest entry per path)."""
    found: dict[str, dict[str, Any]] = {}
    report = root / "_report"
    for index in sorted(report.glob(f"**/{INDEX}")) if report.is_dir() else []:
        for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = models.loads(line, str(index))
            except CorruptError:
                continue
            if isinstance(rec, dict) and rec.get("task_id") == task and rec.get("path"):
                found[str(rec["path"])] = rec
    return list(found.values())
