"""assign, ack, queue, send, inbox."""

from __future__ import annotations

from pathlib import Path

from repobus.cli.lifecycle import door
from repobus.cli.runner import Ctx
from repobus.records import names, times


def assign(ctx: Ctx) -> int:
    from repobus.playbook import doors

    manager = ctx.agent()
    slot, entry = doors.assign(
        door(ctx),
        manager,
        ctx.task,
        ctx.engineer,
        plan=names.plan_id(ctx.plan),
        branch=ctx.branch,
        note=ctx.values.get("note"),
        force=bool(ctx.force),
    )
    rec = slot.record
    ctx.emit(
        {**rec, "_path": f"_bus/assignments/{rec['task_id']}.json", "registry": entry},
        f"Recorded assignment → _bus/assignments/{rec['task_id']}.json\n"
        f"Assigned {rec['task_id']} to {rec['engineer']} (manager {manager}); message in "
        f"_bus/messages/{rec['task_id']}.jsonl and agent-{rec['engineer'].lower()}.jsonl; "
        f"agents/tasks/tasks.json updated",
    )
    return 0


def ack(ctx: Ctx) -> int:
    from repobus.playbook import doors

    rec = doors.ack(door(ctx), ctx.agent(), ctx.task, ctx.values.get("note"))
    ctx.emit(
        rec, f"Acknowledged {rec['task_id']}: ack event logged, message sent to the manager's inbox"
    )
    return 0


def queue(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.playbook import taskqueue

    states = set(ctx.values.get("state") or [])
    bad = states - set(taskqueue.STATES)
    if bad:
        raise UsageError(f"--state {sorted(bad)[0]!r} is not one of {', '.join(taskqueue.STATES)}")
    bus = ctx.bus()
    rows = taskqueue.entries(bus, bus.repo.root, states or None)
    lines = []
    for r in rows:
        who = ""
        if r["holder"]:
            who = f" by {r['holder']}"
            if r["lease_seconds_left"] is not None:
                who += f" (lease {times.human(r['lease_seconds_left'])} left)"
        elif r["assigned_to"]:
            who = f" to {r['assigned_to']}"
        notes = f" — {r['notes']}" if r["notes"] else ""
        lines.append(f"{r['task_id']:<14} {r['state']:<9}{who}  {r['title']}{notes}".rstrip())
    ctx.emit(
        {"tasks": rows},
        "\n".join(lines)
        if lines
        else "The queue is empty (queue/ has no entries, the bus no tasks).",
    )
    return 0


def send(ctx: Ctx) -> int:
    from repobus.bus import parse_pairs
    from repobus.playbook import doors

    entry = doors.send(
        door(ctx),
        ctx.agent(),
        ctx.task,
        ctx.type,
        ctx.summary,
        to=ctx.to,
        branch=ctx.branch,
        plan=names.plan_id(ctx.plan),
        meta=parse_pairs(ctx.meta, "--meta"),
        receipts=list(ctx.receipt or []),
        note=ctx.values.get("note"),
        fence=ctx.fence,
    )
    rec = entry.record
    if _files_hold_it(ctx):
        text = f"Logged message to _bus/messages/{rec['task_id']}.jsonl"
        if rec.get("to"):
            text += f" + agent inbox _bus/messages/agent-{rec['to']}.jsonl"
    else:  # a tracked `_bus/` turns the mirror off: its files are the repository's
        ref = ctx.bus().store.where("messages", entry.chain)
        text = f"Logged message on {rec['task_id']} → {ref}"
    ctx.emit(rec, text)
    return 0


def _files_hold_it(ctx: Ctx) -> bool:
    """Whether `_bus/` files get what this command wrote: the dir backend's own files, or
    the git backend's mirror when it is on (not turned off, nor by a tracked `_bus/`)."""
    from repobus.git import fingerprint, policy

    bus = ctx.bus()
    if bus.cfg.backend == "dir":
        return True
    if not policy.mirror_applies(bus.cfg):
        return False
    repo = bus.repo
    state = fingerprint.mirror_state(str(repo.root), str(repo.git_dir), str(repo.common_dir))
    return state != "disabled"


def inbox(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.playbook import inbox as ib
    from repobus.store.files import write_atomic

    if ctx.limit < 0:
        raise UsageError("--limit must be >= 0")
    bus = ctx.bus()
    agent = ctx.agent()
    entries = ib.messages_for(bus, agent)
    cursor_path = (
        Path(ctx.state).resolve() if ctx.values.get("state") else ib.cursor_path(bus, agent)
    )
    cursor = ib.load_cursor(cursor_path)
    flagged = [(e, ib.is_unread(e, cursor)) for e in entries]
    unread = sum(1 for _, u in flagged if u)
    pool = [p for p in flagged if p[1]] if ctx.unread else flagged
    shown = pool[-ctx.limit :] if ctx.limit else []
    now = bus.clock()
    if ctx.values.get("capture_receipt") or ctx.values.get("receipt"):
        path = (
            Path(ctx.receipt)
            if ctx.values.get("receipt")
            else bus.repo.root / "_report" / "session" / agent / "agent-inbox-tail.txt"
        )
        write_atomic(path, ib.receipt_text(agent, [e for e, _ in shown], unread, now, ctx.limit))
    if ctx.mark_read:
        ib.mark_read(cursor_path, entries, now)
    last = entries[-1].record.get("ts") if entries else None
    head = f"Inbox agent-{agent.lower()}: total={len(entries)} new={unread} last={last or '-'}"
    lines = [
        f"{'*' if u else ' '} {e.record.get('ts')} :: {e.record.get('from')} :: "
        f"{e.record.get('type')} :: {e.record.get('task_id')} :: {e.record.get('summary')}"
        for e, u in shown
    ]
    ctx.emit(
        {
            "agent": agent,
            "total": len(entries),
            "new": unread,
            "last": last,
            "marked_read": bool(ctx.mark_read),
            "messages": [{**e.record, "unread": u} for e, u in shown],
        },
        "\n".join([head, *lines]),
    )
    return 0
