"""report, heartbeat, stale, memory log, mirror."""

from __future__ import annotations

from pathlib import Path

from repobus.cli.runner import Ctx
from repobus.records import names, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _maybe_agent(ctx: Ctx) -> str | None:
    from repobus.errors import SetupError

    try:
        return str(ctx.agent())
    except SetupError:
        return None


def report(ctx: Ctx) -> int:
    from repobus.bus import parse_pairs
    from repobus.playbook import report as rp

    bus = ctx.bus()
    writes = bool(ctx.consensus or ctx.log_heartbeat)
    manager = ctx.agent() if writes else (_maybe_agent(ctx) or "manager")
    meta = parse_pairs(ctx.heartbeat_meta, "--heartbeat-meta")
    now = bus.clock()
    root = bus.repo.root
    if ctx.log_heartbeat:  # bad input is refused before the report is written
        from repobus.bus import build_event

        build_event(
            manager,
            "status",
            ctx.heartbeat_summary,
            receipts=["-"],
            extra=meta or None,
            ts=times.fmt(now),
        )
    path = rp.write(root, rp.render(bus, rp.collect(bus, root, now), manager, now), now)
    rel = str(path.relative_to(root))
    lines = [f"Manager report written to {rel}"]
    if ctx.consensus:
        bus.send(
            manager,
            "manager-report",
            "consensus",
            f"Manager report {rel} ready for human review",
            receipts=[rel],
            meta={"report": rel},
        )
        lines.append("Posted consensus to _bus/messages/manager-report.jsonl")
    if ctx.log_heartbeat:
        bus.log(manager, "status", ctx.heartbeat_summary, receipts=[rel], extra=meta or None)
        lines.append(f"Logged status event for {manager} (manager heartbeat)")
    ctx.emit(
        {
            "report": rel,
            "manager": manager,
            "consensus": bool(ctx.consensus),
            "heartbeat": bool(ctx.log_heartbeat),
        },
        "\n".join(lines),
    )
    return 0


def _minutes(value: str, option: str) -> float:
    from repobus.errors import UsageError

    try:
        out = float(value)
    except (TypeError, ValueError):
        out = -1.0
    if out < 0:
        raise UsageError(f"{option} must be a number of minutes >= 0, got {value!r}")
    return out


def heartbeat(ctx: Ctx) -> int:
    from repobus.playbook import heartbeat as hb

    manager_window = _minutes(ctx.manager_window, "--manager-window")
    given = ctx.values.get("agent_window")  # none: repobus.staleAfter
    agent_window = None if given is None else _minutes(given, "--agent-window")
    bus = ctx.bus()
    now = times.parse_since(ctx.now, "--now") if ctx.values.get("now") else bus.clock()
    agent = _maybe_agent(ctx)
    root = bus.repo.root
    rep = hb.assess(bus, root, now=now, manager_window=manager_window, agent_window=agent_window)
    plan = names.plan_id(ctx.plan)
    alerting = bool(rep["alerts"]) and not ctx.dry_run
    summary = hb.summary(rep)
    alert: dict[str, Any] = {
        "task": ctx.task,
        "plan": plan,
        "branch": ctx.branch,
        "severity": rep["severity"],
        "extra": {"alerts": rep["alerts"]},
    }
    if alerting and agent:  # bad input is refused before anything is written
        if not ctx.no_bus_event:
            from repobus.bus import build_event

            build_event(agent, "alert", summary, receipts=["-"], ts=times.fmt(now), **alert)
        if not ctx.no_bus_message:
            bus.check_send(agent, ctx.message_task, ctx.message_type)
    path = hb.write_receipt(_alert_dir(ctx, root, agent), rep, now)
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    lines = [("Alerts emitted" if rep["alerts"] else "Heartbeat OK") + f"; receipt at {rel}"]
    lines += [
        f"  - {a['type']}: {a['agent_id']} (last "
        f"{a.get('last_seen') or a.get('last_activity') or 'never'})"
        for a in rep["alerts"]
    ]
    if alerting and agent:
        if not ctx.no_bus_event:
            bus.log(agent, "alert", summary, receipts=[rel], **alert)
        if not ctx.no_bus_message:
            bus.send(
                agent,
                ctx.message_task,
                ctx.message_type,
                summary,
                plan=plan,
                receipts=[rel],
                note=ctx.values.get("note"),
                branch=ctx.branch,
            )
    ctx.emit({**rep, "receipt": rel}, "\n".join(lines))
    order = {"low": 0, "medium": 1, "high": 2}
    fail = ctx.fail_on != "never" and order[rep["severity"]] >= order[ctx.fail_on]
    return 1 if fail else 0


def _alert_dir(ctx: Ctx, root: Path, agent: str | None) -> Path:
    """Where the heartbeat receipt goes: --alert-dir (relative to the worktree), else the
    agent's receipts folder, else the worktree's."""
    if ctx.values.get("alert_dir"):
        folder = Path(ctx.alert_dir)
        return folder if folder.is_absolute() else root / folder
    if agent:
        return root / "_report" / "agent" / agent / "heartbeat"
    return root / "_report" / "heartbeat"


def stale(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.playbook import heartbeat as hb

    given = ctx.values.get("threshold_hours")  # none: repobus.staleAfter
    try:
        threshold = None if given is None else float(given)
    except ValueError:
        threshold = -1.0
    if threshold is not None and threshold < 0:
        raise UsageError(f"--threshold-hours must be a number >= 0, got {given!r}")
    only = names.agent_id(ctx.values["agent"]) if ctx.values.get("agent") else None
    if ctx.release and only is None:
        raise UsageError("--release currently requires --agent to avoid releasing other seats")
    bus = ctx.bus()
    rows = hb.stale_claims(bus, now=bus.clock(), threshold_hours=threshold, agent=only)
    released = []
    if ctx.release and rows:
        actor = ctx.agent()
        for r in rows:
            bus.release(
                actor,
                r["task_id"],
                status="released",
                notes="Auto-release stale claim (> threshold)",
            )
            released.append(r["task_id"])
    lines = (
        ["task_id | agent | plan_id | hours_stale | last_touch"]
        + [
            f"{r['task_id']} | {r['agent_id']} | {r['plan_id'] or '-'} | {r['hours_stale']} | "
            f"{r['last_touch'] or '-'}"
            for r in rows
        ]
        if rows
        else ["No stale claims detected."]
    )
    lines += [f"Released {t}" for t in released]
    if ctx.fail_on_stale and rows and not ctx.json:
        lines.append(f"::error ::detected {len(rows)} stale claim(s)")
    ctx.emit({"stale": rows, "released": released}, "\n".join(lines))
    return 1 if ctx.fail_on_stale and rows else 0


def memory_log(ctx: Ctx) -> int:
    from repobus.playbook import memory

    bus = ctx.bus()
    agent = ctx.agent()
    refs = list(ctx.ref or [])
    if ctx.last_event:
        task = names.task_id(ctx.task) if ctx.task else None
        refs.append(memory.event_ref(memory.last_event(bus, agent, task, ctx.event)))
    rec = memory.log(bus, agent, ctx.summary, refs, ctx.values.get("note"), bus.clock())
    ctx.emit(rec, f"Appended to {memory.LOG}: {rec['summary']} (ref {rec['ref']})")
    return 0


def mirror(ctx: Ctx) -> int:
    from repobus.views import mirror as mr

    bus = ctx.bus()
    res = mr.refresh(bus, full=bool(ctx.rebuild))
    if res is None:
        why = (
            "the dir backend keeps _bus/ itself"
            if bus.store.files_root is not None
            else "repobus is not set up here (repobus init), or repobus.mirror is false"
        )
        ctx.emit({"mirror": None, "why": why}, f"No mirror: {why}")
        return 0
    state = f"disabled ({res['disabled']})" if res.get("disabled") else "up to date"
    ctx.emit(
        {"mirror": str(bus.repo.root / "_bus"), **res},
        f"_bus/ mirror {state} ({res.get('changed', 0)} record(s) written)",
    )
    return 0
