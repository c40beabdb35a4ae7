"""claim, renew, pause, release: parse -> one use case (playbook/doors.py) -> render."""

from __future__ import annotations

from repobus.cli.lifecycle import door
from repobus.cli.runner import Ctx
from repobus.playbook import doors
from repobus.records import names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _render(ctx: Ctx, rec: dict[str, Any], text: str) -> int:
    ctx.emit({**rec, "_path": _kept(ctx, rec)}, text)
    return 0


def _kept(ctx: Ctx, rec: dict[str, Any]) -> str:
    """Where a person finds the claim just written: its `_bus/` file when that file holds it
    (the dir backend, or the mirror refreshed it), else its ref (a tracked `_bus/` turns the
    mirror off: its file still holds what was committed)."""
    import json

    from repobus.records import layout

    bus = ctx.bus()
    rel = layout.bus_path(layout.slot_file("claims", rec["task_id"]))
    try:
        held = json.loads((bus.repo.root / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        held = None
    return rel if held == rec else bus.store.where("claims", rec["task_id"])


def _lease(rec: dict[str, Any]) -> str:
    return f"fencing token {rec.get('fencing_token')}, lease until {rec.get('lease_expires_at')}"


def claim(ctx: Ctx) -> int:
    slot = doors.claim(
        door(ctx),
        ctx.agent(),
        ctx.need("task"),
        plan=names.plan_id(ctx.text("plan")),
        branch=ctx.text("branch"),
        notes=ctx.text("notes"),
        clear_notes=ctx.flag("clear_notes"),
        ttl=ctx.ttl_seconds(),
        allow_unassigned=ctx.flag("allow_unassigned"),
    )
    rec = slot.record
    head = (
        f"Took over {rec['task_id']} from {rec['previous_holder']}"
        if rec.get("op") == "takeover"
        else f"Claimed {rec['task_id']}"
    )
    text = (
        f"{head} for {rec['agent_id']} → {rec['branch']} ({_lease(rec)})\n"
        f"Recorded claim for {rec['task_id']} by {rec['agent_id']} → {_kept(ctx, rec)}"
    )
    return _render(ctx, rec, text)


def renew(ctx: Ctx) -> int:
    task = ctx.need("task")
    slot = doors.renew(door(ctx), ctx.agent(), task, ttl=ctx.ttl_seconds(), fence=ctx.fence)
    return _render(ctx, slot.record, f"Renewed {task} ({_lease(slot.record)})")


def pause(ctx: Ctx) -> int:
    slot = doors.pause(
        door(ctx),
        ctx.agent(),
        ctx.need("task"),
        notes=ctx.need("notes"),
        fence=ctx.fence,
        force=ctx.flag("force"),
        reason=ctx.text("reason"),
    )
    rec = slot.record
    why = rec.get("force_reason")
    forced = f"; forced: {why}, {rec['agent_id']} was sent a message" if why else ""
    return _render(
        ctx,
        rec,
        f"Paused {rec['task_id']} (held by {rec['agent_id']}, paused by "
        f"{rec['by']}): {rec.get('notes')}{forced}",
    )


def release(ctx: Ctx) -> int:
    task = ctx.need("task")
    slot = doors.release(
        door(ctx),
        ctx.agent(),
        task,
        status=ctx.need("status"),
        notes=ctx.text("notes"),
        fence=ctx.fence,
    )
    return _render(ctx, slot.record, f"Updated claim {task} → status={slot.record['status']}")
