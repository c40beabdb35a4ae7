"""HTML for the dashboard, rendered from the dicts of `web.data` (no Starlette here).

Invariant: every value from the bus is escaped; a page is complete on its own (inline CSS and
JS from `assets`), and its live part can be fetched alone and swapped in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from repobus.web import assets, cards, paging
from repobus.web.cards import claims_table
from repobus.web.data import Filters
from repobus.web.html import Frame, Row, e, live, scroll_box, table, tag, task_link, when
from repobus.web.timeline import chart, timeline_page, timeline_part

__all__ = ["Frame", "e", "live", "page", "timeline_page", "timeline_part"]

NAV = (
    ("overview", "/", "Overview"),
    ("timeline", "/timeline", "Timeline"),
    ("events", "/events", "Events"),
    ("report", "/report", "Manager report"),
)


def page(title: str, here: str, frame: Frame, body: str) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=here aria-current=page" if key == here else ""}>{label}</a>'
        for key, href, label in NAV
    )
    mode = (
        (
            f"writes enabled as <b>{e(frame.agent)}</b> · token "
            f'<input id="token-box" type="password" placeholder="paste the write token" '
            f'autocomplete="off" aria-label="write token">'
        )
        if frame.writes
        else "read-only"
    )
    flash = ""
    if frame.flash:
        flash = f'<div class="flash{" error" if frame.error else ""}">{e(frame.flash)}</div>'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>repobus · {e(title)}</title><style>{assets.CSS}</style></head><body>"
        f'<header><span class="brand">repobus</span><nav aria-label="pages">{nav}</nav>'
        f'<span class="mode">{mode}</span><span id="live-state">○ connecting</span></header>'
        f"<main>{flash}{body}</main><script>{assets.JS}</script></body></html>"
    )


# -- write forms ---------------------------------------------------------------------------


def message_form(task: str, back: str) -> str:
    return (
        "<section><h2>Post a message</h2>"
        f'<form class="filters" method="post" action="/act/send">'
        f'<input type="hidden" name="task" value="{e(task)}">'
        f'<input type="hidden" name="next" value="{e(back)}">'
        '<input type="hidden" name="token" value="">'
        '<label>type<input name="type" value="comment" size="10"></label>'
        '<label>to (optional)<input name="to" size="12"></label>'
        '<label>message<input name="summary" required size="50"></label>'
        "<button>Send</button></form></section>"
    )


# -- overview ------------------------------------------------------------------------------


def overview_part(d: dict[str, Any], frame: Frame) -> str:
    """The overview's live part: attention first (web/cards.py)."""
    return cards.overview_part(d, frame, event_table(d["events"], d["now"]))


# -- events ----------------------------------------------------------------------------------


def event_table(recs: list[dict[str, Any]], now: int) -> str:
    rows: list[Row] = []
    for r in recs:
        receipts = " ".join(f"<code>{e(x)}</code>" for x in r.get("receipts") or [])
        token = (
            f" {tag('active', 'token ' + str(r['fencing_token']))}"
            if r.get("fencing_token") is not None
            else ""
        )
        attrs = f'class="ev" data-agent="{e(r.get("agent_id"))}"'
        cells = [
            when(r.get("ts"), now),
            e(r.get("agent_id")),
            f"{e(r.get('event'))}{token}",
            task_link(r.get("task_id")),
            f'<span class="note">{e(r.get("summary"))}</span>',
            receipts or '<span class="mute">-</span>',
        ]
        rows.append((attrs, cells))
    head = ["time", "agent", "event", "task", "summary", "receipts"]
    return table(head, rows, "No events match.", "events")


def older_link(f: Filters, cursor: str | None) -> str:
    """The link to the next (older) page of an event listing; nothing at its end."""
    if not cursor:
        return ""
    q = {k: v for k, v in f.query().items() if v}
    return (
        f'<p class="older"><a href="/events?{e(urlencode({**q, "cursor": cursor}))}">older</a></p>'
    )


def events_section(
    f: Filters, recs: list[dict[str, Any]], older: str | None, now: int, newer: str | None = None
) -> str:
    return f"<section>{event_table(recs, now)}{paging.links(f, older, newer)}</section>"


def events_page(
    f: Filters, recs: list[dict[str, Any]], older: str | None, now: int, newer: str | None = None
) -> str:
    q = f.query()
    fields = "".join(
        f'<label>{name}<input name="{name}" value="{e(q[name])}" placeholder="{ph}"></label>'
        for name, ph in (
            ("agent", "codex-1,claude-2"),
            ("event", "status"),
            ("task", "QUEUE-001"),
            ("since", "2h or ISO time"),
        )
    )
    form = (
        f'<section><form class="filters" method="get" action="/events">{fields}'
        '<button>Filter</button> <a href="/events">clear</a></form></section>'
    )
    return f"<h1>Event stream</h1>{form}" + live(
        events_part_url(f), events_section(f, recs, older, now, newer)
    )


def events_part_url(f: Filters) -> str:
    q = {k: v for k, v in f.query().items() if v}
    if f.cursor:
        q["cursor"] = f.cursor  # an older page stays that page while it updates
    return "/part/events" + (f"?{urlencode(q)}" if q else "")


# -- task ------------------------------------------------------------------------------------


def history_table(history: list[dict[str, Any]]) -> str:
    rows: list[Row] = []
    for h in reversed(history):
        op = str(h.get("op") or "")
        take = h.get("op") == "takeover"
        prev = f" from {e(h.get('previous_holder'))}" if h.get("previous_holder") else ""
        cells = [
            f'<span class="ts">{e(h.get("updated_at"))}</span>',
            f"{tag('takeover' if take else 'done', op or '?')}{prev}",
            e(h.get("by") or h.get("agent_id")),
            e(h.get("agent_id")),
            tag(str(h.get("status"))),
            f'<span class="num">{e(h.get("fencing_token"))}</span>',
            f'<span class="ts">{e(h.get("lease_expires_at"))}</span>',
            f'<span class="note">{e(h.get("notes"))}</span>',
        ]
        rows.append(('class="takeover"' if take else "", cells))
    head = ["when", "op", "by", "holder", "status", "token", "lease until", "notes"]
    return table(head, rows, "Never claimed.")


def thread_table(msgs: list[dict[str, Any]], now: int) -> str:
    rows: list[Row] = [
        (
            "",
            [
                when(m.get("ts"), now),
                e(m.get("from")),
                e(m.get("to") or ""),
                e(m.get("type")),
                f'<span class="note">{e(m.get("summary"))}</span>',
            ],
        )
        for m in msgs
    ]
    return table(["time", "from", "to", "type", "summary"], rows, "No messages.")


def _plan(plan: dict[str, Any] | None) -> str:
    if plan is None:
        return '<p class="empty">No plan linked.</p>'
    if plan["text"] is None:
        return f'<p class="empty">{e(plan["path"])} not found in this worktree.</p>'
    text = scroll_box(f"plan {plan['path']}", e(plan["text"]), "pre")
    return f"<p><code>{e(plan['path'])}</code></p>{text}"


def _assignment(asg: dict[str, Any] | None) -> str:
    if not asg:
        return ""
    return (
        f"<p>Assigned to <b>{e(asg.get('engineer'))}</b> by {e(asg.get('manager'))} "
        f"at {e(asg.get('assigned_at'))}. {e(asg.get('note') or '')}</p>"
    )


def task_part(d: dict[str, Any], frame: Frame) -> str:
    now, c, tid = d["now"], d["claim"], d["task_id"]
    back = f"/task/{quote(tid, safe='')}"
    cur = '<p class="empty">No claim.</p>'
    if c is not None:
        cur = claims_table([c], frame, back, "No claim.")
    receipts: list[Row] = [
        ("", [f"<code>{e(r['path'])}</code>", "yes" if r["exists"] else tag("stale", "missing")])
        for r in d["receipts"]
    ]
    history = chart(d["timeline"], f"Claim history of {tid}") if d["history"] else ""
    return (
        f"<section><h2>Current claim</h2>{cur}{_assignment(d['assignment'])}</section>"
        f"<section><h2>Claim history</h2>{history}{history_table(d['history'])}</section>"
        f"<section><h2>Events</h2>{event_table(d['events'], now)}"
        f"{older_link(Filters(task=tid), d.get('events_older'))}</section>"
        f"<section><h2>Message thread</h2>{thread_table(d['thread'], now)}</section>"
        f"<section><h2>Plan</h2>{_plan(d['plan'])}</section>"
        "<section><h2>Receipts</h2>"
        f"{table(['path', 'in this worktree'], receipts, 'No receipts.')}</section>"
    )


def task_page(d: dict[str, Any], frame: Frame) -> str:
    tid = d["task_id"]
    path = quote(tid, safe="")
    form = message_form(tid, f"/task/{path}") if frame.writes else ""
    return f"<h1>Task {e(tid)}</h1>" + live(f"/part/task/{path}", task_part(d, frame)) + form


# -- report and errors -------------------------------------------------------------------------


def report_page(rep: dict[str, Any] | None) -> str:
    if rep is None:
        return (
            '<h1>Manager report</h1><section><p class="empty">No manager report yet '
            "(_report/manager/manager-report-*.md).</p></section>"
        )
    return (
        f"<h1>Manager report</h1><section><p><code>{e(rep['path'])}</code> · modified "
        f"{e(rep['modified'])} · {rep['count']} report(s) in total</p>"
        f"{scroll_box('manager report text', e(rep['text']), 'pre')}</section>"
    )


def error_body(status: int, message: str, hint: str | None) -> str:
    hint_html = f"<p>{e(hint)}</p>" if hint else ""
    return (
        f"<h1>{tag('refused', str(status))} {e(message)}</h1>{hint_html}"
        '<p><a href="/">back to the overview</a></p>'
    )
