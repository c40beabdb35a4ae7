"""Reads of history that page: the events of a task, an agent or an event name, newest first,
a page at a time - from the index's own indexes when the store keeps one, so the cost is the
page, not the log.  Shared by MCP (`task_history`, `report`) and the dashboard (the task page,
the event filters, the events page's "older" and "newer" links).

Invariants: read-only; a page's cursor continues the same listing (records/shown.py
`event_cursor`): rows older than the page's last, never one twice; a cursor of one store is
read by that store (an index cursor names a row, a scan cursor counts rows).
"""

from __future__ import annotations

from repobus.bus import Bus
from repobus.records import models, shown
from repobus.store import Slot
from repobus.views.overview import matches

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def current(bus: Bus, kind: str, key: str) -> Slot | None:
    """One slot (a task's claim or assignment): from the index when reads use it (a lookup,
    no git process), else from the store."""
    index = bus.store.index if bus.store.use_index else None
    return index.slot(kind, key) if index is not None else bus.store.get(kind, key)


def event_page(
    bus: Bus,
    *,
    limit: int = shown.EVENTS_PAGE,
    task: str | None = None,
    agents: Iterable[str] = (),
    events: Iterable[str] = (),
    since: int | None = None,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the events matching the filters, newest first, and the cursor of the
    next (older) page, None when nothing older matches.  With the index, an indexed query
    by task / agent / name (store/sql.py `events_page`): it reads the page, not the log."""
    wanted, names = set(agents), set(events)
    after = shown.parse_event_cursor(cursor) if cursor else None
    index = bus.store.index if bus.store.use_index else None
    if index is None or isinstance(after, int):
        skip = after if isinstance(after, int) else 0
        return _scanned_page(bus, limit, task, wanted, names, since, skip)
    q = {"task": task, "agents": wanted, "names": names, "since": since, "before": after}
    rows = index.events(**q, limit=limit + 1)
    page = [models.loads(rec, "the index") for *_, rec in rows[:limit]]
    last = rows[limit - 1][:3] if len(rows) > limit and limit > 0 else None
    if last is None or None in last:  # a row without time or seq cannot be paged past
        return page, None
    return page, shown.event_cursor((int(last[0]), str(last[1]), int(last[2])))


def newer_cursor(
    bus: Bus,
    cursor: str,
    *,
    limit: int = shown.EVENTS_PAGE,
    task: str | None = None,
    agents: Iterable[str] = (),
    events: Iterable[str] = (),
    since: int | None = None,
) -> str | None:
    """The cursor of the page just newer than the page `cursor` starts, None when that is
    the first page: the `limit` rows newer than the page, oldest first (an indexed query),
    end where the page after the next-newer row begins."""
    at = shown.parse_event_cursor(cursor)
    if isinstance(at, int):  # a scan's cursor counts rows
        return shown.event_cursor(at - limit) if at > limit else None
    index = bus.store.index if bus.store.use_index else None
    if index is None:
        return None
    q = {"task": task, "agents": set(agents), "names": set(events), "since": since}
    rows = index.events(**q, start=at, limit=limit + 1)
    if len(rows) <= limit or None in rows[limit][:3]:
        return None
    ts, chain, seq = rows[limit][:3]
    return shown.event_cursor((int(ts), str(chain), int(seq)))


def _scanned_page(
    bus: Bus,
    limit: int,
    task: str | None,
    agents: set[str],
    events: set[str],
    since: int | None,
    skip: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """`event_page` by reading the log (a store without an index): the cursor counts the
    rows already shown."""
    got = [
        e.record
        for e in bus.store.tail("events", since=since)
        if matches(e.record, agents, events, since)
        and (task is None or e.record.get("task_id") == task)
    ]
    got.reverse()
    page = got[skip : skip + limit]
    more = len(got) > skip + limit
    return page, shown.event_cursor(skip + limit) if more else None
