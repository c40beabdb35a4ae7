"""HTML for the dashboard, rendered from the dicts of `web.data` (no Starlette here).

Invariant: every value from the bus is escaped; a page is complete on its own (inline CSS and
JS from `assets`), and its live part can be fetched alone and swapped in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from repobus.records import times
from repobus.web import assets
from repobus.web.data import Filters


@dataclass(frozen=True)
class Frame:
    """What every page of one request shares: write mode, acting agent, a flash line."""

    writes: bool = False
    agent: str | None = None
    flash: str | None = None
    error: bool = False


NAV = (
    ("overview", "/", "Overview"),
    ("events", "/events", "Events"),
    ("report", "/report", "Manager report"),
)


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return "just now" if seconds < 5 else f"{times.human(seconds)} ago"


def when(ts: Any, now: int) -> str:
    epoch = times.parse_or_none(ts)
    rel = f' <span class="mute">({ago(now - epoch)})</span>' if epoch is not None else ""
    return f"{e(ts)}{rel}"


def tag(kind: str, text: str | None = None) -> str:
    return f'<span class="tag {e(kind)}">{e(text or kind)}</span>'


def task_link(task: Any) -> str:
    if not task:
        return '<span class="mute">-</span>'
    return f'<a href="/task/{quote(str(task))}">{e(task)}</a>'


def table(headers: Iterable[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, here: str, frame: Frame, body: str) -> str:
    nav = "".join(
        f'<a href="{href}"{" class=here" if key == here else ""}>{label}</a>'
        for key, href, label in NAV
    )
    mode = (
        (
            f"writes enabled as <b>{e(frame.agent)}</b> · token "
            f'<input id="token-box" type="password" placeholder="paste the write token" '
            f'autocomplete="off">'
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
        f'<header><span class="brand">repobus</span><nav>{nav}</nav>'
        f'<span class="mode">{mode}</span><span id="live-state">○ connecting</span></header>'
        f"<main>{flash}{body}</main><script>{assets.JS}</script></body></html>"
    )


def live(part_url: str, inner: str) -> str:
    return f'<div id="live" data-part="{e(part_url)}">{inner}</div>'


# -- write forms ---------------------------------------------------------------------------


def _hidden(task: str, back: str) -> str:
    return (
        f'<input type="hidden" name="task" value="{e(task)}">'
        f'<input type="hidden" name="next" value="{e(back)}">'
        '<input type="hidden" name="token" value="">'
    )


def claim_actions(claim: dict[str, Any], back: str) -> str:
    task = str(claim.get("task_id"))
    out = ""
    if claim.get("status") == "active":
        out += (
            f'<form class="act" method="post" action="/act/pause">{_hidden(task, back)}'
            '<input name="notes" placeholder="why pause? (required)" required size="18">'
            '<button name="do" value="pause">Pause</button></form>'
        )
    out += (
        f'<form class="act" method="post" action="/act/release">{_hidden(task, back)}'
        '<select name="status"><option>released</option><option>done</option></select>'
        '<button name="do" value="release">Release</button></form>'
    )
    return out


def message_form(task: str, back: str) -> str:
    return (
        "<section><h2>Post a message</h2>"
        f'<form class="filters" method="post" action="/act/send">{_hidden(task, back)}'
        '<label>type<input name="type" value="comment" size="10"></label>'
        '<label>to (optional)<input name="to" size="12"></label>'
        '<label>message<input name="summary" required size="50"></label>'
        "<button>Send</button></form></section>"
    )


# -- overview ------------------------------------------------------------------------------


def _lease(c: dict[str, Any]) -> str:
    state = c.get("lease_state")
    if state == "in_grace":
        return tag("stale", "ended: in grace")
    if state == "active" and c.get("lease_seconds_left") is None:
        return '<span class="mute">no lease end</span>'
    if state == "active":
        return f"{e(times.human(c.get('lease_seconds_left') or 0))} left"
    if state == "expired":
        return tag("expired", "lease expired") + '<span class="mute">may be taken over</span>'
    return '<span class="mute">-</span>'


def claim_flags(c: dict[str, Any]) -> str:
    flags = tag(str(c.get("status")))
    if c.get("stale"):
        flags += tag("stale", "stale: holder idle")
    return flags


def claim_row(c: dict[str, Any], frame: Frame, back: str) -> str:
    cls = (
        "expired"
        if c.get("lease_state") == "expired"
        else ("stale" if c.get("stale") else ("paused" if c.get("status") == "paused" else ""))
    )
    notes = e(c.get("notes"))
    if c.get("status") == "paused":
        notes = f"paused by {e(c.get('by'))}: {notes}"
    acts = f"<td>{claim_actions(c, back)}</td>" if frame.writes else ""
    return (
        f'<tr class="{cls}" data-task="{e(c.get("task_id"))}">'
        f"<td>{task_link(c.get('task_id'))}</td><td>{e(c.get('agent_id'))}</td>"
        f"<td>{claim_flags(c)}</td><td class=num>{_lease(c)}</td>"
        f"<td class=num>{e(c.get('fencing_token'))}</td><td>{e(c.get('branch'))}</td>"
        f"<td>{e(c.get('plan_id') or '')}</td><td>{notes}</td>{acts}</tr>"
    )


def overview_part(d: dict[str, Any], frame: Frame) -> str:
    now = d["now"]
    agents = [
        f"<tr><td>{e(a['agent_id'])}</td><td>{when(a['ts'], now)}</td>"
        f"<td>{e(a['what'])}</td><td>{' '.join(task_link(t) for t in a['holds'])}</td></tr>"
        for a in d["agents"]
    ]
    head = ["task", "agent", "state", "lease", "token", "branch", "plan", "notes"]
    claims = [claim_row(c, frame, "/") for c in d["claims"]]
    done = [
        f"<tr><td>{task_link(c.get('task_id'))}</td><td>{e(c.get('agent_id'))}</td>"
        f"<td>{tag(str(c.get('status')))}</td><td>{when(c.get('updated_at'), now)}</td>"
        f"<td class=num>{e(c.get('fencing_token'))}</td><td>{e(c.get('notes'))}</td></tr>"
        for c in d["finished"]
    ]
    return (
        f"<section><h2>Claims ({len(d['claims'])} active or paused)</h2>"
        f"{table(head + (['act'] if frame.writes else []), claims, 'No active claims.')}"
        "</section>"
        f"<section><h2>Agents</h2>"
        f"{table(['agent', 'last seen', 'doing', 'holds'], agents, 'No agent seen yet.')}"
        "</section>"
        f"<section><h2>Latest events</h2>{event_table(d['events'], now)}"
        '<p><a href="/events">all events →</a></p></section>'
        f"<section><h2>Recently finished</h2>"
        f"{table(['task', 'agent', 'status', 'when', 'token', 'notes'], done, 'None yet.')}"
        "</section>"
    )


# -- events ----------------------------------------------------------------------------------


def event_table(recs: list[dict[str, Any]], now: int) -> str:
    rows = []
    for r in recs:
        receipts = " ".join(f"<code>{e(x)}</code>" for x in r.get("receipts") or [])
        token = (
            f" {tag('active', 'token ' + str(r['fencing_token']))}"
            if r.get("fencing_token") is not None
            else ""
        )
        rows.append(
            f'<tr class="ev" data-agent="{e(r.get("agent_id"))}">'
            f"<td>{when(r.get('ts'), now)}</td><td>{e(r.get('agent_id'))}</td>"
            f"<td>{e(r.get('event'))}{token}</td><td>{task_link(r.get('task_id'))}</td>"
            f"<td>{e(r.get('summary'))}</td><td>{receipts}</td></tr>"
        )
    return table(
        ["time", "agent", "event", "task", "summary", "receipts"], rows, "No events match."
    )


def older_link(f: Filters, cursor: str | None) -> str:
    """The link to the next (older) page of an event listing; nothing at its end."""
    if not cursor:
        return ""
    q = {k: v for k, v in f.query().items() if v}
    return (
        f'<p class="older"><a href="/events?{e(urlencode({**q, "cursor": cursor}))}">older</a></p>'
    )


def events_section(f: Filters, recs: list[dict[str, Any]], older: str | None, now: int) -> str:
    return f"<section>{event_table(recs, now)}{older_link(f, older)}</section>"


def events_page(f: Filters, recs: list[dict[str, Any]], older: str | None, now: int) -> str:
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
        events_part_url(f), events_section(f, recs, older, now)
    )


def events_part_url(f: Filters) -> str:
    q = {k: v for k, v in f.query().items() if v}
    if f.cursor:
        q["cursor"] = f.cursor  # an older page stays that page while it updates
    return "/part/events" + (f"?{urlencode(q)}" if q else "")


# -- task ------------------------------------------------------------------------------------


def history_table(history: list[dict[str, Any]]) -> str:
    rows = []
    for h in reversed(history):
        op = str(h.get("op") or "")
        take = h.get("op") == "takeover"
        prev = f" from {e(h.get('previous_holder'))}" if h.get("previous_holder") else ""
        rows.append(
            f'<tr class="{"takeover" if take else ""}"><td>{e(h.get("updated_at"))}</td>'
            f"<td>{tag('takeover' if take else 'done', op or '?')}{prev}</td>"
            f"<td>{e(h.get('by') or h.get('agent_id'))}</td><td>{e(h.get('agent_id'))}</td>"
            f"<td>{tag(str(h.get('status')))}</td>"
            f"<td class=num>{e(h.get('fencing_token'))}</td>"
            f"<td>{e(h.get('lease_expires_at'))}</td><td>{e(h.get('notes'))}</td></tr>"
        )
    head = ["when", "op", "by", "holder", "status", "token", "lease until", "notes"]
    return table(head, rows, "Never claimed.")


def thread_table(msgs: list[dict[str, Any]], now: int) -> str:
    rows = [
        f"<tr><td>{when(m.get('ts'), now)}</td><td>{e(m.get('from'))}</td>"
        f"<td>{e(m.get('to') or '')}</td><td>{e(m.get('type'))}</td>"
        f"<td>{e(m.get('summary'))}</td></tr>"
        for m in msgs
    ]
    return table(["time", "from", "to", "type", "summary"], rows, "No messages.")


def task_part(d: dict[str, Any], frame: Frame) -> str:
    now, c = d["now"], d["claim"]
    back = f"/task/{quote(d['task_id'])}"
    if c is None:
        cur = '<p class="empty">No claim.</p>'
    else:
        cur = table(
            ["task", "agent", "state", "lease", "token", "branch", "plan", "notes"]
            + (["act"] if frame.writes else []),
            [claim_row(c, frame, back)],
            "",
        )
    asg = d["assignment"]
    asg_html = (
        (
            f"<p>Assigned to <b>{e(asg.get('engineer'))}</b> by {e(asg.get('manager'))} "
            f"at {e(asg.get('assigned_at'))}. {e(asg.get('note') or '')}</p>"
        )
        if asg
        else ""
    )
    plan = d["plan"]
    if plan is None:
        plan_html = '<p class="empty">No plan linked.</p>'
    elif plan["text"] is None:
        plan_html = f'<p class="empty">{e(plan["path"])} not found in this worktree.</p>'
    else:
        plan_html = f"<p><code>{e(plan['path'])}</code></p><pre>{e(plan['text'])}</pre>"
    receipts = [
        f"<tr><td><code>{e(r['path'])}</code></td>"
        f"<td>{'' if r['exists'] else tag('stale', 'missing here')}</td></tr>"
        for r in d["receipts"]
    ]
    return (
        f"<section><h2>Current claim</h2>{cur}{asg_html}</section>"
        f"<section><h2>Claim history</h2>{history_table(d['history'])}</section>"
        f"<section><h2>Events</h2>{event_table(d['events'], now)}"
        f"{older_link(Filters(task=d['task_id']), d.get('events_older'))}</section>"
        f"<section><h2>Message thread</h2>{thread_table(d['thread'], now)}</section>"
        f"<section><h2>Plan</h2>{plan_html}</section>"
        f"<section><h2>Receipts</h2>{table(['path', ''], receipts, 'No receipts.')}</section>"
    )


def task_page(d: dict[str, Any], frame: Frame) -> str:
    tid = d["task_id"]
    form = message_form(tid, f"/task/{quote(tid)}") if frame.writes else ""
    return f"<h1>Task {e(tid)}</h1>" + live(f"/part/task/{quote(tid)}", task_part(d, frame)) + form


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
        f"<pre>{e(rep['text'])}</pre></section>"
    )


def error_body(status: int, message: str, hint: str | None) -> str:
    hint_html = f"<p>{e(hint)}</p>" if hint else ""
    return (
        f"<h1>{tag('refused', str(status))} {e(message)}</h1>{hint_html}"
        '<p><a href="/">back to the overview</a></p>'
    )
