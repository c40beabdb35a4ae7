"""log, status, watch."""

from __future__ import annotations

from repobus.cli.runner import Ctx
from repobus.records import names, times


def log(ctx: Ctx) -> int:
    from repobus.bus import parse_pairs
    from repobus.cli.lifecycle import door
    from repobus.playbook import doors

    entry = doors.log(
        door(ctx),
        ctx.agent(),
        ctx.event,
        ctx.summary,
        task=ctx.task,
        plan=names.plan_id(ctx.plan),
        branch=ctx.branch,
        pr=ctx.pr,
        receipts=[ctx.receipt] if ctx.receipt else None,
        severity=ctx.severity,
        extra=parse_pairs(ctx.extra, "--extra"),
        fence=ctx.fence,
    )
    rec = entry.record
    ctx.emit(rec, f"Logged event {rec['event']} for agent {rec['agent_id']}")
    return 0


def _since(ctx: Ctx) -> int | None:
    return times.parse_since(ctx.since) if ctx.values.get("since") else None


def status(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.views import overview as views

    if ctx.limit < 0:
        raise UsageError("--limit must be >= 0")
    from repobus.records import shown

    since = shown.since(ctx.since, times.now()) if ctx.values.get("since") else None
    agents = [names.agent_id(a) for a in ctx.values["agent"] or []]
    size = ctx.values.get("page_size")  # absent when a playbook shim calls status
    if ctx.fetch:
        _fetch(ctx)
    opts = {
        "limit": ctx.limit,
        "agents": agents,
        "active_only": ctx.active_only,
        "since": since,
        "all_claims": bool(ctx.values.get("all")),
        "cursor": ctx.values.get("cursor"),
        "page_size": shown.page_size(size if size is not None else shown.PAGE_SIZE),
    }
    _note_unpushed(ctx)
    if ctx.json:
        ctx.out.write(views.status_json(ctx.bus(), **opts) + "\n")
        ctx.out.flush()
    else:
        data = views.status(ctx.bus(), **opts)
        ctx.emit(data, views.status_text(data))
    return 0


def _note_unpushed(ctx: Ctx) -> None:
    """With a remote, name the records this clone holds that the remote does not have yet
    (counted only while the publisher left its marker: no cost on a healthy bus)."""
    bus = ctx.bus()
    if not bus.cfg.remote:
        return  # no remote: nothing can be unpushed, and the remote store is not loaded
    store = bus.store
    if store.remote_name is None:
        return
    import os

    from repobus.git.fingerprint import unpushed_path

    if not os.path.exists(unpushed_path(str(store.repo.common_dir))):
        return
    counts = store.unpushed()
    if counts:
        what = ", ".join(f"{chain} ({n})" for chain, n in sorted(counts.items()))
        ctx.note(f"note: records not on remote '{store.remote_name}' yet: {what}; `repobus sync`")


def watch(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.views import overview as views

    if ctx.limit < 0:
        raise UsageError("--limit must be >= 0")
    try:
        poll = float(ctx.poll)
    except ValueError:
        raise UsageError(f"--poll must be a number of seconds, got {ctx.poll!r}") from None
    bus = ctx.bus()
    agents = {names.agent_id(a) for a in ctx.values["agent"] or []}
    events = set(ctx.event or [])
    since = _since(ctx)
    refresh = None
    if ctx.follow and ctx.values.get("remote"):
        interval = _interval(ctx, bus.cfg.fetch_interval)
        refresh = (interval, lambda: _fetch(ctx))
    try:
        # Mark the stream before printing the recent events: nothing written in between is
        # missed, and nothing is shown twice.
        start = views.mark(bus) if ctx.follow else None
        shown = set()
        for entry in views.recent_entries(
            bus, limit=ctx.limit, agents=agents, events=events, since=since
        ):
            _show(ctx, entry.record)
            shown.add(entry.pos)
        if not ctx.follow:
            return 0
        for entry in views.follow(bus, poll=max(poll, 0.02), refresh=refresh, start=start):
            if entry.pos not in shown and views.matches(entry.record, agents, events, since):
                _show(ctx, entry.record)
    except KeyboardInterrupt:
        return 0  # Ctrl-C ends a watch: that is how it is meant to stop
    return 0


def _show(ctx: Ctx, rec: dict[str, object]) -> None:
    from repobus.views import overview as views

    ctx.emit(rec, views.event_line(rec))


def _interval(ctx: Ctx, default: float) -> float:
    from repobus.errors import UsageError

    raw = ctx.values.get("interval")
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        raise UsageError(f"--interval must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise UsageError("--interval must be > 0")
    return value


def _fetch(ctx: Ctx) -> None:
    """Bring other machines' records in; an unreachable remote is a warning here (reads
    show what this clone has), never an error."""
    from repobus.errors import RemoteError, SetupError

    store = ctx.bus().store
    if store.remote_name is None:
        raise SetupError(
            "no remote configured for the bus", hint="run `repobus init --remote origin`"
        )
    try:
        store.remote.fetch()
        store.integrate()
    except RemoteError as exc:
        ctx.err.write(f"warning: {exc.message}; showing this clone's records\n")
