"""The timeline: swimlanes, one per agent, drawn on the server as one inline SVG (no chart
library, no script) - claims as bars from claim to release (or now), takeovers and fencing
tokens marked, events as ticks; from `web.data.timeline` or a task's `task_timeline`.

Invariants: every coordinate comes from `x`, a linear map of `[start, end]` onto the drawing;
every bar, mark and tick carries a `<title>` (the hover text) and, when it names a task, links
to its task page with an accessible name; the SVG scales with its viewBox to the width of its
box, and below MIN_WIDTH its box scrolls on its own (a named, focusable region), so the
document never grows wider than the screen.
"""

from __future__ import annotations

import time
from typing import Any

from repobus.records import times
from repobus.web.html import Frame, e, scroll_box, task_href
from repobus.web.spans import Bar, Mark

WIDTH = 1000  # viewBox units across
LABEL = 150  # the agents' column, left of the time axis
RIGHT = 28  # room for the last axis label
AXIS = 24  # the time axis row, above the lanes
ROW = 22  # one row of bars inside a lane
PAD = 4  # above and below a lane's rows
STEPS = (60, 300, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
WINDOWS = ("1h", "6h", "24h", "3d", "7d")


class Scale:
    """Instants to x, lanes to y."""

    def __init__(self, start: int, end: int, lanes: dict[str, int]) -> None:
        self.start, self.end = start, max(end, start + 1)
        self.rows = lanes
        self.top: dict[str, int] = {}
        y = AXIS
        for agent in lanes:
            self.top[agent] = y
            y += self.height(agent)
        self.bottom = y

    def x(self, t: float) -> float:
        span = WIDTH - LABEL - RIGHT
        return round(LABEL + (t - self.start) / (self.end - self.start) * span, 1)

    def height(self, agent: str) -> int:
        return 2 * PAD + ROW * self.rows[agent]

    def y(self, agent: str, row: int = 0) -> int:
        """The top of `row` in `agent`'s lane."""
        return self.top[agent] + PAD + row * ROW


def _link(task: str, label: str, inner: str) -> str:
    return (
        f'<a href="{e(task_href(task))}" aria-label="{e(label)}">'
        f"<title>{e(label)}</title>{inner}</a>"
    )


def _bar(b: Bar, s: Scale) -> str:
    x0, x1, y = s.x(b.start), s.x(b.end), s.y(b.agent, b.row) + 2
    w = max(x1 - x0, 2.0)
    until = "now (held)" if b.open else times.fmt(b.end)
    label = f"{b.task}: {b.status} by {b.agent}, token {b.token}, {times.fmt(b.start)} to {until}"
    over = "".join(
        f'<rect class="over" x="{s.x(a)}" y="{y}" width="{max(s.x(z) - s.x(a), 1.0)}" '
        f'height="{ROW - 4}"/>'
        for a, z in b.over
    )
    if b.over:
        label += f"; lease ended {times.fmt(b.over[0][0])}"
    text = f"{b.task} #{b.token}"
    caption = (
        f'<text class="cap" x="{x0 + (10 if b.op == "takeover" else 4)}" y="{y + 13}">'
        f"{e(text)}</text>"
        if w >= 7 * len(text) + 8
        else ""
    )
    shape = (
        f'<rect class="bar {e(b.status)}" x="{x0}" y="{y}" width="{w}" height="{ROW - 4}" '
        f'rx="3"/>{over}{caption}'
    )
    return _link(b.task, label, shape)


def _mark(m: Mark, s: Scale) -> str:
    x, y = s.x(m.at), s.y(m.agent, m.row) + ROW // 2
    label = (
        f"{m.task}: taken over by {m.agent} from {m.previous}, token {m.token}, {times.fmt(m.at)}"
    )
    shape = (
        f'<path class="take" d="M{x} {y - 9}L{x + 6} {y}L{x} {y + 9}L{x - 6} {y}Z"/>'
        f'<text class="tok" x="{x - 8}" y="{y + 4}" text-anchor="end">#{e(m.token)}</text>'
    )
    return _link(m.task, label, shape)


def _tick(t: dict[str, Any], s: Scale) -> str:
    at = times.parse_or_none(t.get("ts"))
    agent = str(t.get("agent_id") or "")
    if at is None or agent not in s.rows:
        return ""
    x, y = s.x(at), s.top[agent]
    task = t.get("task_id")
    label = f"{t.get('ts')} {agent}: {t.get('event')}"
    label += f" on {task}" if task else ""
    label += f" - {t.get('summary')}" if t.get("summary") else ""
    line = f'<line class="tick" x1="{x}" y1="{y}" x2="{x}" y2="{y + PAD + 3}"/>'
    if task:
        return _link(str(task), label, line)
    return f"<g><title>{e(label)}</title>{line}</g>"


def _axis(s: Scale, height: int) -> str:
    span = s.end - s.start
    step = next((st for st in STEPS if span / st <= 8), STEPS[-1])
    fmt = "%H:%M" if span <= 2 * 86400 else "%m-%d"
    first = (s.start // step + 1) * step
    out = []
    for t in range(first, s.end + 1, step):
        x = s.x(t)
        label = time.strftime(fmt, time.gmtime(t))
        out.append(
            f'<line class="grid" x1="{x}" y1="{AXIS - 4}" x2="{x}" y2="{height}"/>'
            f'<text class="ax" x="{x}" y="{AXIS - 8}" text-anchor="middle">{label}</text>'
        )
    return "".join(out)


def svg(d: dict[str, Any], title: str) -> str:
    """The swimlanes of `d` (web/data.py `timeline` or `task_timeline`) as one SVG."""
    s = Scale(d["start"], d["end"], d["lanes"])
    height = s.bottom + 4
    lanes = "".join(
        f'<rect class="lane{i % 2}" x="0" y="{s.top[a]}" width="{WIDTH}" '
        f'height="{s.height(a)}"/>'
        f'<text class="who" x="6" y="{s.top[a] + PAD + 15}"><title>{e(a)}</title>{e(a[:18])}'
        "</text>"
        for i, a in enumerate(d["lanes"])
    )
    body = (
        lanes
        + _axis(s, height)
        + "".join(_bar(b, s) for b in d["bars"])
        + "".join(_tick(t, s) for t in d["ticks"])
        + "".join(_mark(m, s) for m in d["marks"])
        + f'<line class="now" x1="{s.x(s.end)}" y1="{AXIS - 4}" x2="{s.x(s.end)}" y2="{height}"/>'
    )
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="group" '
        f'aria-label="{e(title)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


LEGEND = (
    '<p class="legend mute"><span class="key active"></span> held (active) '
    '<span class="key paused"></span> paused <span class="key over"></span> lease ended, '
    'still held <span class="key take"></span> takeover (#fencing token) '
    '<span class="key tick"></span> event. Lanes in agent-id order; hover or focus a bar '
    "for its times; a bar links to its task.</p>"
)


def chart(d: dict[str, Any], title: str) -> str:
    """The SVG in its scrolling box, with its legend; a sentence when nothing falls in it."""
    if not d["lanes"]:
        return '<p class="empty">Nothing was held and nothing happened in this window.</p>'
    notes = []
    if d.get("tasks_left_out"):
        notes.append(f"{d['tasks_left_out']} older claims in this window are not drawn")
    if d.get("ticks_cut"):
        notes.append("only the newest events of this window are drawn as ticks")
    cut = f'<p class="mute">{e("; ".join(notes))}.</p>' if notes else ""
    return scroll_box(title, svg(d, title)) + LEGEND + cut


def window_text(seconds: int) -> str:
    if seconds % 86400 == 0 and seconds > 86400:
        return f"{seconds // 86400}d"
    return f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds // 60}m"


def timeline_part(d: dict[str, Any]) -> str:
    """The live part of /timeline."""
    span = f"{times.fmt(d['start'])} to {times.fmt(d['end'])}"
    title = f"Claims and events per agent, {span}"
    return f"<section><h2>Last {e(window_text(d['window']))}</h2>{chart(d, title)}</section>"


def timeline_page(d: dict[str, Any], frame: Frame) -> str:
    """The body of /timeline?window=…: the window's links and the live swimlanes; its live
    part is /part/timeline with the same window."""
    del frame  # the timeline has no write forms
    here = window_text(d["window"])
    links = " ".join(
        f'<a href="/timeline?window={w}"{" aria-current=page" if w == here else ""}>{w}</a>'
        for w in WINDOWS
    )
    return (
        f'<h1>Timeline</h1><nav class="windows" aria-label="window">window: {links}</nav>'
        f'<div id="live" data-part="/part/timeline?window={e(here)}">{timeline_part(d)}</div>'
    )
