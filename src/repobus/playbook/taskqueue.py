"""The task queue (`queue/`) with each task's state on the bus.

A queue entry is a file `queue/<TASK>.<ext>` (QUEUE-001.md); its title is its first heading
or first line.  Tasks the bus knows (claims, assignments) without a queue file are listed
too.  States, in order of precedence:
  done      the claim was finished (status done)
  stale     an active claim whose lease expired (it may be taken over)
  claimed   an active claim (holder, lease left)
  paused    a paused claim (notes say why; any agent may take it over)
  held      a claim whose status repobus does not know (`in_progress`, `pending`, ...):
            held by its holder (records/lease.py), never free; the notes name the status
  assigned  an assignment and no live claim
  open      nothing yet
"""

from __future__ import annotations

from pathlib import Path

from repobus.bus import Bus
from repobus.errors import BusError
from repobus.records import lease, models, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATES = ("open", "assigned", "claimed", "paused", "held", "stale", "done")


def _title(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if path.suffix == ".json":
        try:
            data = models.loads(text, path.name)
            if isinstance(data, dict) and isinstance(data.get("title"), str):
                return str(data["title"])
        except BusError:
            return ""
    for line in text.splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()
    return ""


def queue_files(root: Path) -> dict[str, Path]:
    folder = root / "queue"
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not p.is_file() or p.name.startswith(".") or p.name.lower().startswith("readme"):
            continue
        stem = p.name.split(".", 1)[0]
        try:
            out.setdefault(names.task_id(stem), p)
        except BusError:
            continue
    return out


def state_of(
    bus: Bus, claim: dict[str, Any] | None, assignment: dict[str, Any] | None, now: int
) -> str:
    status = (claim or {}).get("status")
    if status == "done":
        return "done"
    if status == "active":
        return "stale" if bus.is_expired(claim or {}, now) else "claimed"
    if status == "paused":
        return "paused"
    if claim is not None and lease.unknown(status):
        return "held"
    return "assigned" if assignment else "open"


_HELD = ("claimed", "paused", "held", "stale")  # the states whose claim names a holder


def _notes(claim: dict[str, Any] | None, state: str) -> str | None:
    """A paused claim's notes; for a held one, its status, named as unknown."""
    if claim and state == "paused":
        return claim.get("notes")
    if claim and state == "held":
        status = claim.get("status")
        named = repr(status) if isinstance(status, str) else "missing"
        return f"status {named}: unknown status, held"
    return None


def entries(bus: Bus, root: Path, states: set[str] | None = None) -> list[dict[str, Any]]:
    now = bus.clock()
    claims = {s.key: s.record for s in bus.store.list("claims")}
    assigned = {s.key: s.record for s in bus.store.list("assignments")}
    qfiles = queue_files(root)
    out = []
    for task in sorted(set(qfiles) | set(claims) | set(assigned)):
        claim, asg = claims.get(task), assigned.get(task)
        state = state_of(bus, claim, asg, now)
        if states and state not in states:
            continue
        left = bus.lease_fields(claim, now)[1] if claim and state == "claimed" else None
        path = qfiles.get(task)
        out.append(
            {
                "task_id": task,
                "title": _title(path) if path else "",
                "state": state,
                "source": str(path.relative_to(root)) if path else "bus",
                "holder": claim.get("agent_id") if claim and state in _HELD else None,
                "status": claim.get("status") if claim else None,
                "lease_seconds_left": left,
                "notes": _notes(claim, state),
                "assigned_to": asg.get("engineer") if asg else None,
                "plan_id": (claim or {}).get("plan_id") or (asg or {}).get("plan_id"),
            }
        )
    return out
