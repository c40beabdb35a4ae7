"""Plans under `_plans/<id>.plan.json` (playbook step 6) and their validation.

A plan names its task, actor, justification and steps; its `links` carry
`{"type": "bus", "ref": "_bus/claims/<TASK>.json"}` for traceability.  `check` flags what the
original coordination dashboard flagged (a completed step without receipts, receipts that do
not exist) and also: a plan whose id differs from its file name, unknown statuses, and bus
links that do not resolve.  Plans are created exclusively (never overwritten) and updated by
atomic replace.
"""

from __future__ import annotations

import re
from pathlib import Path

from repobus.bus import Bus
from repobus.errors import ConflictError, CorruptError, NotFoundError, UsageError
from repobus.records import layout, models, names, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PLANS = "_plans"
PLAN_STATUSES = ("draft", "active", "in_progress", "blocked", "done", "completed", "closed")
STEP_STATUSES = ("pending", "in_progress", "blocked", "done", "completed", "skipped")
COMPLETE = ("done", "completed")


def plan_path(root: Path, plan: str) -> Path:
    pid = names.plan_id(plan)
    if pid is None:
        raise UsageError("plan id is empty")
    return root / PLANS / f"{pid}.plan.json"


def default_id(title: str, now: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-") or "plan"
    return f"{times.fmt(now)[:10]}-{slug}"


def new_plan(
    root: Path,
    *,
    task: str,
    title: str,
    actor: str,
    now: int,
    plan: str | None = None,
    steps: list[str] | None = None,
    justification: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    task = names.task_id(task)
    if not title.strip():
        raise UsageError("plan --title must not be empty")
    pid = names.plan_id(plan) if plan else default_id(title, now)
    assert pid is not None
    doc = {
        "version": 1,
        "plan_id": pid,
        "title": title.strip(),
        "task_id": task,
        "actor": actor,
        "status": "active",
        "created": times.fmt(now),
        "justification": justification or "",
        "steps": [
            {"id": f"S{i}", "title": s, "status": "pending", "receipts": []}
            for i, s in enumerate(steps or [title.strip()], 1)
        ],
        "checkpoint": {"status": "pending", "receipts": []},
        "receipts": [],
        "links": [{"type": "bus", "ref": layout.bus_path(layout.slot_file("claims", task))}],
    }
    path = root / PLANS / f"{pid}.plan.json"
    try:
        files.create_exclusive(path, models.doc_text(doc))
    except FileExistsError:
        raise ConflictError(
            f"plan {path.relative_to(root)} already exists",
            hint="pick another --id, or edit the plan",
        ) from None
    return path, doc


def load(path: Path, root: Path) -> dict[str, Any]:
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no plan {rel}") from None
    data = models.loads(raw, rel)
    if not isinstance(data, dict):
        raise CorruptError(f"Invalid JSON in {rel}: not an object")
    return data


def set_step(
    root: Path, plan: str, step: str, *, status: str, receipts: list[str]
) -> dict[str, Any]:
    if status not in STEP_STATUSES:
        raise UsageError(f"step status must be one of {', '.join(STEP_STATUSES)}, got {status!r}")
    path = plan_path(root, plan)
    from repobus.git import gitcmd

    with files.locked(gitcmd.discover(root).git_dir / "repobus-plans.lock"):
        doc = load(path, root)
        found = next(
            (s for s in doc.get("steps") or [] if isinstance(s, dict) and s.get("id") == step), None
        )
        if found is None:
            raise NotFoundError(f"plan {doc.get('plan_id')} has no step {step!r}")
        missing = [r for r in receipts if not (root / r).is_file()]
        if missing:
            raise NotFoundError(
                f"receipt {missing[0]} does not exist",
                hint="store it first: repobus receipt add PATH --kind agent",
            )
        found["status"] = status
        found["receipts"] = sorted(set(found.get("receipts") or []) | set(receipts))
        files.write_atomic(path, models.doc_text(doc))
    return doc


def problems(doc: dict[str, Any], path: Path, root: Path, bus: Bus | None) -> list[str]:
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    out: list[str] = []
    stem = path.name[: -len(".plan.json")] if path.name.endswith(".plan.json") else path.stem
    if doc.get("plan_id") != stem:
        out.append(f"{rel}: plan_id {doc.get('plan_id')!r} does not match the file name")
    if not isinstance(doc.get("actor"), str) or not doc.get("actor"):
        out.append(f"{rel}: actor missing or empty")
    if doc.get("status") not in PLAN_STATUSES:
        out.append(f"{rel}: status {doc.get('status')!r} not in {list(PLAN_STATUSES)}")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        out.append(f"{rel}: steps missing or empty")
        steps = []
    for i, s in enumerate(steps, 1):
        out += _step_problems(rel, i, s, root)
    for where, items in (
        ("receipts", doc.get("receipts")),
        ("checkpoint", (doc.get("checkpoint") or {}).get("receipts")),
    ):
        for r in items or []:
            if not (root / str(r)).is_file():
                out.append(f"{rel}: {where} receipt {r} does not exist")
    for link in doc.get("links") or []:
        out += _link_problems(rel, link, bus)
    return out


def _step_problems(rel: str, i: int, s: Any, root: Path) -> list[str]:
    if not isinstance(s, dict) or not s.get("id"):
        return [f"{rel}: step {i} has no id"]
    out = []
    sid, status = s.get("id"), s.get("status")
    if status not in STEP_STATUSES:
        out.append(f"{rel}: step {sid} status {status!r} not in {list(STEP_STATUSES)}")
    receipts = s.get("receipts") or []
    if status in COMPLETE and not receipts:
        out.append(f"{rel}: step {sid} is {status} but has no receipts")
    out += [
        f"{rel}: step {sid} receipt {r} does not exist"
        for r in receipts
        if not (root / str(r)).is_file()
    ]
    return out


def _link_problems(rel: str, link: Any, bus: Bus | None) -> list[str]:
    if not isinstance(link, dict) or link.get("type") != "bus" or bus is None:
        return []
    ref = str(link.get("ref", ""))
    at = layout.place_of(ref)
    if at is None or at.kind not in layout.SLOT_KINDS:
        return [f"{rel}: bus link {ref!r} is not _bus/claims/<TASK>.json"]
    if bus.store.get(at.kind, at.key) is None:
        return [f"{rel}: bus link {ref} does not resolve (no such {at.kind[:-1]} yet)"]
    return []


def check(root: Path, bus: Bus | None, only: list[str] | None = None) -> tuple[int, list[str]]:
    paths = (
        [plan_path(root, p) for p in only]
        if only
        else sorted((root / PLANS).glob("*.plan.json"))
        if (root / PLANS).is_dir()
        else []
    )
    out: list[str] = []
    for p in paths:
        try:
            doc = load(p, root)
        except CorruptError as exc:
            out.append(exc.message)
            continue
        out += problems(doc, p, root, bus)
    return len(paths), out
