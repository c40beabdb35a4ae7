"""Read-side views over a bus: status, the watch stream, and the exported `_bus/` tree.

Nothing here writes to the bus; `export` writes files only into the directory it is given,
and only the files whose content changed (so a worktree mirror is refreshed incrementally).
"""

from __future__ import annotations

import time
from pathlib import Path

from repobus.bus import Bus
from repobus.records import layout, lease, models, shown, times
from repobus.store import Entry, Slot, snapshot, sql

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any


def claim_view(bus: Bus, slot: Slot, now: int) -> dict[str, Any]:
    """A claim as status shows it, its lease fields from the one lease rule."""
    return snapshot.claim_dict(slot.key, slot.record, *bus.lease_fields(slot.record, now))


def status(
    bus: Bus,
    *,
    limit: int = 10,
    agents: Iterable[str] | None = None,
    active_only: bool = False,
    since: int | None = None,
    all_claims: bool = False,
    cursor: str | None = None,
    page_size: int = shown.PAGE_SIZE,
) -> dict[str, Any]:
    """The original bus_status JSON shape (claims, events, filters) plus lease fields, the
    claims being one page of the listing records/shown.py defines (live claims, finished ones
    within the window; `all_claims`: every one), with `claims_left_out` (the claims the
    listing leaves out) and `next_cursor` (None: nothing follows this page)."""
    wanted = sorted(set(agents or ()))
    now = bus.clock()
    listing = shown.Listing.of(
        now, since=since, all_claims=all_claims, cursor=cursor, size=page_size
    )
    page: list[Slot] = []
    left_out, more = 0, False
    for slot in sorted(bus.store.list("claims"), key=lambda s: s.key):
        rec = slot.record
        if wanted and rec.get("agent_id") not in wanted:
            continue
        if not listed(listing, slot, active_only):
            left_out += 1
        elif listing.after is None or slot.key > listing.after:
            more = more or len(page) == listing.size
            page += [slot] if len(page) < listing.size else []
    entries = bus.store.tail("events", limit=max(limit, 0), since=since, writers=wanted or None)
    events = []
    for i, e in enumerate(entries):
        rec = dict(e.record)
        rec["_index"] = len(entries) - i
        events.append(rec)
    return {
        "claims": [claim_view(bus, slot, now) for slot in page],
        "claims_left_out": left_out,
        "events": events,
        "filters": _filters(wanted, active_only, limit, since, listing, cursor),
        "next_cursor": listing.next_cursor([s.key for s in page], more),
    }


def listed(listing: shown.Listing, slot: Slot, active_only: bool) -> bool:
    """Whether a claim is in the listing (on any of its pages)."""
    status = slot.record.get("status")
    if active_only and shown.finished(status):  # live: active, paused, or unknown (held)
        return False
    return shown.shown(status, shown.finished_at(slot.record), listing.start)


def _filters(
    wanted: list[str],
    active_only: bool,
    limit: int,
    since: int | None,
    listing: shown.Listing,
    cursor: str | None,
) -> dict[str, Any]:
    start = listing.start
    return {
        "agents": wanted,
        "active_only": active_only,
        "all": start is None,
        "cursor": cursor or None,
        "finished_since": times.fmt(start) if start is not None else None,
        "limit": limit,
        "page_size": listing.size,
        "since": times.fmt(since) if since is not None else None,
    }


def status_json(
    bus: Bus,
    *,
    limit: int = 10,
    agents: Iterable[str] | None = None,
    active_only: bool = False,
    since: int | None = None,
    all_claims: bool = False,
    cursor: str | None = None,
    page_size: int = shown.PAGE_SIZE,
) -> str:
    """`status(...)` as JSON text, the same bytes whichever way it is made.  With the index:
    from the status snapshot when no filter but `limit` and the listing is asked for, else
    from the views SQLite keeps; at ten thousand claims that is what keeps status fast."""
    index = bus.store.index if bus.store.use_index else None
    if index is None:
        doc = status(
            bus,
            limit=limit,
            agents=agents,
            active_only=active_only,
            since=since,
            all_claims=all_claims,
            cursor=cursor,
            page_size=page_size,
        )
        return models.canonical(doc).decode("utf-8")
    wanted = sorted(set(agents or ()))
    now = bus.clock()
    listing = shown.Listing.of(
        now, since=since, all_claims=all_claims, cursor=cursor, size=page_size
    )
    filters = _filters(wanted, active_only, limit, since, listing, cursor)
    asked: dict[str, Any] = {
        "now": now,
        "ttl": bus.cfg.ttl,
        "grace": bus.cfg.grace,
        "limit": limit,
        "filters": models.canonical(filters).decode("utf-8"),
        "listing": listing,
    }
    index.catch_up()
    if not wanted and not active_only and since is None:
        data = index.status_snapshot()
        text = snapshot.render(data, **asked) if data is not None else None
        if text is not None:
            return text.decode("utf-8")
    db = index.db()
    db.execute("BEGIN")  # one snapshot for the claims and the events
    try:
        return sql.status_json(db, agents=wanted, active_only=active_only, since=since, **asked)
    finally:
        db.execute("COMMIT")


def status_text(data: dict[str, Any]) -> str:
    filtered = bool(data["filters"]["agents"] or data["filters"]["active_only"])
    lines = [
        "Active claims:"
        if data["claims"]
        else (
            "No claims matching filters."
            if filtered
            else ("No live claims." if data.get("claims_left_out") else "No claims recorded.")
        )
    ]
    for c in data["claims"]:
        lines.append(
            f"  - {c.get('task_id')} [{_shown(c.get('status'))}] by {_shown(c.get('agent_id'))}"
            f" → {c.get('branch') or '-'} (plan={c.get('plan_id') or 'N/A'}) "
            f"token={_shown(c.get('fencing_token'))}{_lease_note(c)}"
        )
    lines += listing_notes(data)
    lines.append(
        "Recent events:"
        if data["events"]
        else (
            "No events matching filters."
            if data["filters"]["agents"] or data["filters"]["since"]
            else "No events recorded."
        )
    )
    lines += ["  - " + event_line(e) for e in data["events"]]
    return "\n".join(lines)


def _lease_note(c: dict[str, Any]) -> str:
    """What a claim line of `status` says about its lease (and a pause)."""
    left, state = c.get("lease_seconds_left"), c.get("lease_state")
    extra = ""
    if state == lease.IN_GRACE:
        extra = " lease ended, in grace (not free yet)"
    elif left is not None:
        extra = f" lease {times.human(left)} left"
    elif state == lease.EXPIRED:
        extra = " lease EXPIRED (may be taken over)"
    elif state == lease.UNKNOWN_HELD:
        extra = " (unknown status, held)"
    if c.get("status") == "paused":
        extra += f" paused by {c.get('by') or c.get('agent_id')}"
        if c.get("notes"):
            extra += f": {c['notes']}"
    return extra


def listing_notes(data: dict[str, Any]) -> list[str]:
    """What the human output says about the claims a status read left out or did not reach."""
    out = []
    left, flt = data.get("claims_left_out") or 0, data["filters"]
    if left:
        why = (
            "finished" if flt.get("active_only") else f"finished before {flt.get('finished_since')}"
        )
        out.append(
            f"  ({left} claim{'s' if left != 1 else ''} {why} left out: "
            "`repobus status --all` or `--since 7d` shows them)"
        )
    if data.get("next_cursor"):
        out.append(f"  (more claims: `repobus status --cursor {data['next_cursor']}`)")
    return out


def _shown(value: Any) -> str:
    """A field as text: `-` for one a legacy record lacks (never `None`)."""
    return "-" if value is None else str(value)


def event_line(rec: dict[str, Any]) -> str:
    line = (
        f"{_shown(rec.get('ts'))} :: {_shown(rec.get('agent_id'))} :: {_shown(rec.get('event'))}"
        f" :: task={rec.get('task_id') or '-'} :: {rec.get('summary', '')}"
    )
    if rec.get("receipts"):
        line += " :: receipts=" + ",".join(str(r) for r in rec["receipts"])
    return line


def matches(rec: dict[str, Any], agents: set[str], events: set[str], since: int | None) -> bool:
    if agents and rec.get("agent_id") not in agents:
        return False
    if events and rec.get("event") not in events:
        return False
    if since is not None:
        ts = times.parse_or_none(rec.get("ts"))
        if ts is None or ts < since:
            return False
    return True


def recent(
    bus: Bus, *, limit: int, agents: set[str], events: set[str], since: int | None
) -> list[dict[str, Any]]:
    """The last `limit` events matching the filters, oldest first."""
    return [
        e.record
        for e in recent_entries(bus, limit=limit, agents=agents, events=events, since=since)
    ]


def recent_entries(
    bus: Bus, *, limit: int, agents: set[str], events: set[str], since: int | None
) -> list[Entry]:
    if not limit:
        return []
    if not events:
        got = bus.store.tail("events", limit=limit, since=since, writers=agents or None)
        return [e for e in got if matches(e.record, agents, events, since)]
    got = bus.store.tail("events", since=since, writers=agents or None)
    return [e for e in got if matches(e.record, agents, events, since)][-limit:]


def mark(bus: Bus) -> tuple[tuple[int, ...], dict[str, str]]:
    """Where the event stream is now: `follow(start=mark(bus))` yields what comes after."""
    return bus.store.signature("events"), bus.store.heads("events")


def follow(
    bus: Bus,
    *,
    poll: float = 0.1,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    refresh: tuple[float, Callable[[], None]] | None = None,
    start: tuple[tuple[int, ...], dict[str, str]] | None = None,
) -> Iterator[Entry]:
    """Entries appended after the call (or after `start`, a `mark()`), from any worktree or
    process, until `stop()`.  With `refresh=(interval, fn)`, fn (a fetch from the remote)
    runs every interval."""
    store = bus.store
    sig, heads = start or mark(bus)
    next_refresh = time.monotonic()
    while not stop():
        if refresh is not None and time.monotonic() >= next_refresh:
            refresh[1]()
            next_refresh = time.monotonic() + refresh[0]
        sleep(poll)
        now_sig = store.signature("events")
        if now_sig == sig:
            continue
        sig = now_sig
        entries, heads = store.since_heads("events", heads)
        yield from entries


# -- export -------------------------------------------------------------------------------


def tree(bus: Bus) -> dict[str, str]:
    """Relative path under `_bus/` -> file content, as the original tools would have it."""
    files: dict[str, str] = {}
    for kind in layout.SLOT_KINDS:
        for slot in bus.store.list(kind):
            files[layout.slot_file(kind, slot.key)] = models.doc_text(slot.record)
    events = bus.store.tail("events")
    if events:
        files[layout.EVENTS_LOG] = "".join(models.event_line(e.record) for e in events)
    threads: dict[str, list[str]] = {}
    for e in bus.store.tail("messages"):  # a dir backend's entry names its file (`chain`)
        for rel in layout.message_files(e.record, e.chain):
            threads.setdefault(rel, []).append(models.message_line(e.record))
    files.update({k: "".join(v) for k, v in threads.items()})
    return files


def export(bus: Bus, dest: Path) -> dict[str, int]:
    """Write the `_bus/` tree into `dest`; only changed files are rewritten, files that
    no longer exist in the bus are removed.  Returns counts of written/unchanged/removed."""
    files = tree(bus)
    counts = {"written": 0, "unchanged": 0, "removed": 0}
    for rel, text in files.items():
        path = dest / rel
        data = text.encode("utf-8")
        try:
            if path.read_bytes() == data:
                counts["unchanged"] += 1
                continue
        except OSError:
            pass
        from repobus.store.files import write_atomic

        write_atomic(path, data, durable=False)
        counts["written"] += 1
    for sub in (*layout.SLOT_KINDS, *layout.LOG_KINDS):
        folder = dest / sub
        for p in folder.glob("*.json*") if folder.is_dir() else []:
            if f"{sub}/{p.name}" not in files:
                p.unlink()
                counts["removed"] += 1
    return counts
