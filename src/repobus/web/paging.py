"""The events page's way through history: "newest", "newer" and "older" links.

Invariants: a link keeps the page's filters and changes only the cursor; "older" continues
after the page's last row and "newer" returns to the page just before it (views/history.py
`newer_cursor`, an indexed query), so walking either way shows every matching event once;
the first page (no cursor) has neither "newest" nor "newer".
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from repobus.bus import Bus
from repobus.views.history import newer_cursor
from repobus.web.data import Filters


def newer(bus: Bus, f: Filters) -> str | None:
    """The cursor of the page newer than `f`'s, None when that is the first page."""
    if not f.cursor:
        return None
    return newer_cursor(
        bus,
        f.cursor,
        limit=f.limit,
        task=f.task,
        agents=f.agents,
        events=f.events,
        since=f.since,
    )


def _href(f: Filters, cursor: str | None) -> str:
    q = {k: v for k, v in f.query().items() if v}
    if cursor:
        q["cursor"] = cursor
    return escape("/events" + (f"?{urlencode(q)}" if q else ""))


def links(f: Filters, older: str | None, newer: str | None) -> str:
    """The page links under an event listing; nothing on a first page that is also the last."""
    out = []
    if f.cursor:
        out.append(f'<a href="{_href(f, None)}" rel="first">newest</a>')
        out.append(f'<a href="{_href(f, newer)}" rel="prev">newer</a>')
    if older:
        out.append(f'<a href="{_href(f, older)}" rel="next">older</a>')
    if not out:
        return ""
    return f'<nav aria-label="event pages"><p class="older">{" · ".join(out)}</p></nav>'
