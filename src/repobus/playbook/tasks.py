"""Assignments as the playbook runs them: the assignment (bus), its message, and the task
registry `agents/tasks/tasks.json` (FORMATS §12); the engineer's acknowledgement.

Invariants: the registry is read, changed and replaced atomically under a lock (never a lost
update between two managers of one worktree, never a truncated file); a registry that does
not parse is reported before anything is written; an assignment that would take a task from
another engineer or from a claim holder needs `force` (Bus.assign).
"""

from __future__ import annotations

from pathlib import Path

from repobus.bus import Bus
from repobus.errors import ConflictError, CorruptError, NotFoundError
from repobus.git.gitcmd import Repo
from repobus.records import models, names
from repobus.store import Slot, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TASKS = "agents/tasks/tasks.json"


def read_registry(root: Path) -> dict[str, Any]:
    path = root / TASKS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {"tasks": []}
    data = models.loads(raw, TASKS)
    if not isinstance(data, dict) or not isinstance(data.get("tasks", []), list):
        raise CorruptError(f'Invalid JSON in {TASKS}: expected {{"tasks": [...]}}')
    data.setdefault("tasks", [])
    return data


def upsert(
    repo: Repo,
    task: str,
    *,
    manager: str,
    plan: str | None,
    branch: str | None,
    title: str | None = None,
) -> dict[str, Any]:
    """Insert or update the registry entry of `task`; returns the entry."""
    with files.locked(repo.git_dir / "repobus-tasks.lock"):
        data = read_registry(repo.root)
        entry = next(
            (t for t in data["tasks"] if isinstance(t, dict) and t.get("id") == task), None
        )
        if entry is None:
            entry = {
                "id": task,
                "title": title or task,
                "role": "engineer",
                "priority": "medium",
                "status": "open",
            }
            data["tasks"].append(entry)
        elif title:
            entry["title"] = title
        entry["plan_id"] = plan if plan is not None else entry.get("plan_id")
        entry["branch"] = branch if branch is not None else entry.get("branch")
        entry["assigned_by"] = manager
        files.write_atomic(repo.root / TASKS, models.doc_text(data))
    return entry


def assign(
    bus: Bus,
    manager: str,
    task: str,
    engineer: str,
    *,
    plan: str | None,
    branch: str | None,
    note: str | None,
    force: bool,
) -> tuple[Slot, dict[str, Any]]:
    task = names.task_id(task)
    read_registry(bus.repo.root)  # a broken registry is reported before anything is written
    slot = bus.assign(manager, task, engineer, plan=plan, branch=branch, note=note, force=force)
    entry = upsert(bus.repo, task, manager=manager, plan=plan, branch=branch, title=note)
    return slot, entry


def ack(bus: Bus, agent: str, task: str, note: str | None = None) -> dict[str, Any]:
    """The engineer acknowledges its assignment: an `ack` event on the task and an `ack`
    message in the manager's inbox."""
    task = names.task_id(task)
    asg = bus.store.get("assignments", task)
    if asg is None:
        raise NotFoundError(
            f"no assignment for {task} to acknowledge",
            hint=f"ask a manager: repobus assign --task {task} --engineer {agent}",
        )
    rec = asg.record
    if rec.get("engineer") != agent:
        raise ConflictError(f"assignment for {task} targets {rec.get('engineer')}, not {agent}")
    manager = str(rec.get("manager") or "manager")
    summary = f"Acknowledged assignment of {task} from {manager}"
    extra = {"note": note} if note else None
    event = bus.log(agent, "ack", summary, task=task, plan=rec.get("plan_id"), extra=extra)
    bus.send(agent, task, "ack", summary, to=manager, note=note)
    return event.record
