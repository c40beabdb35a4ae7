"""The draft pull request of playbook step 9: a body with the plan, the justification, the
receipts (with their sha256), the claim and the task's events.

Composing is pure: this module reads the bus and the worktree and returns text.  Running
`gh` (or saying how to open the PR without it) is the CLI's job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from repobus.bus import Bus
from repobus.errors import CorruptError, NotFoundError
from repobus.playbook import plans, receipts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RECOMMENDED_LABELS = ("codex::docs", "codex::tests", "codex::refactor")


def infer_task(bus: Bus, agent: str, branch: str | None) -> str | None:
    """The task whose claim by `agent` names `branch` (an active claim first)."""
    if not branch:
        return None
    mine = [
        s
        for s in bus.store.list("claims")
        if s.record.get("branch") == branch and s.record.get("agent_id") == agent
    ]
    mine.sort(key=lambda s: s.record.get("status") != "active")
    return mine[0].key if mine else None


def _plan(root: Path, plan_id: str | None) -> tuple[str | None, dict[str, Any] | None]:
    if not plan_id:
        return None, None
    try:
        path = plans.plan_path(root, plan_id)
        return str(path.relative_to(root)), plans.load(path, root)
    except (NotFoundError, CorruptError):
        return f"_plans/{plan_id}.plan.json", None


def compose(
    bus: Bus, root: Path, *, agent: str, task: str, branch: str, justification: str | None = None
) -> tuple[str, str]:
    claim_slot = bus.store.get("claims", task)
    if claim_slot is None:
        raise NotFoundError(
            f"no claim found for task {task}", hint=f"claim it first: repobus claim --task {task}"
        )
    claim = claim_slot.record
    asg = bus.store.get("assignments", task)
    plan_id = claim.get("plan_id") or (asg.record.get("plan_id") if asg else None)
    plan_rel, plan = _plan(root, plan_id)
    title = f"[{task}] " + str(
        (plan or {}).get("title") or (asg.record.get("note") if asg else None) or task
    )
    events = [e.record for e in bus.store.tail("events") if e.record.get("task_id") == task]
    out = [f"Task: `{task}` · agent: `{agent}` · branch: `{branch}`", "", "## Plan", ""]
    if plan is not None:
        out.append(f"`{plan_rel}` — {plan.get('title', '')} (status {plan.get('status')})")
        for s in plan.get("steps") or []:
            if isinstance(s, dict):
                mark = "x" if s.get("status") in plans.COMPLETE else " "
                out.append(f"- [{mark}] {s.get('id')}: {s.get('title', '')}")
    else:
        out.append(f"`{plan_rel}` (not found in this worktree)" if plan_rel else "(no plan)")
    why = justification or (plan or {}).get("justification") or "(none given)"
    out += ["", "## Justification", "", str(why), "", "## Receipts", ""]
    out += _receipts(root, task, events, plan)
    out += [
        "",
        "## Claim",
        "",
        "```json",
        json.dumps(claim, indent=2, sort_keys=True),
        "```",
        "",
        "## Events",
        "",
    ]
    out += [
        f"- {e.get('ts')} :: {e.get('agent_id')} :: {e.get('event')} :: {e.get('summary')}"
        for e in events
    ] or ["- (none)"]
    out += [
        "",
        f"_Composed by `repobus pr` from the coordination bus (`_bus/claims/{task}.json`)._",
    ]
    return title, "\n".join(out) + "\n"


def _receipts(
    root: Path, task: str, events: list[dict[str, Any]], plan: dict[str, Any] | None
) -> list[str]:
    indexed = {r["path"]: r for r in receipts.for_task(root, task)}
    cited: list[str] = [str(r) for e in events for r in e.get("receipts") or []]
    for s in (plan or {}).get("steps") or []:
        if isinstance(s, dict):
            cited += [str(r) for r in s.get("receipts") or []]
    lines = []
    for path in dict.fromkeys([*indexed, *cited]):
        rec = indexed.get(path)
        state = rec["sha256"] if rec else ("present" if (root / path).exists() else "MISSING")
        lines.append(f"- `{path}` ({state})")
    return lines or ["- (none)"]


def body_path(root: Path, agent: str, task: str) -> Path:
    return root / "_report" / "agent" / agent / "pr" / f"{task}-pr-body.md"


def pr_number(text: str) -> str | None:
    found = re.findall(r"/pull/(\d+)", text)
    return found[-1] if found else None
