"""The overview's HTML, attention first: the counts, what needs a person, active claims,
recently finished, and the agents - from `web.data.overview`.

Invariants: a claim is rendered by `claim_row` alone (the overview and the task page share
it), once per page, in the order the data gives (web/data.py `order_key`, stated on the page);
its lease wording follows the lease state the data carries (the lease rule), never its times;
the write forms exist only in write mode, each form control labelled, and the release and
pause forms carry `data-confirm`, the question the page asks before posting them.
"""

from __future__ import annotations

from typing import Any

from repobus.records import times
from repobus.web.html import Frame, Row, ago, e, table, tag, task_link, when, who

CLAIM_HEAD = ["task", "agent", "state", "lease", "token", "branch", "plan", "notes"]


def _hidden(task: str, back: str) -> str:
    return (
        f'<input type="hidden" name="task" value="{e(task)}">'
        f'<input type="hidden" name="next" value="{e(back)}">'
        '<input type="hidden" name="token" value="">'
    )


def confirm_text(verb: str, claim: dict[str, Any]) -> str:
    """The question asked before a write on a claim: `Release QUEUE-001 held by bob?`."""
    return f"{verb} {claim.get('task_id')} held by {claim.get('agent_id') or 'nobody'}?"


def claim_actions(claim: dict[str, Any], back: str) -> str:
    task = str(claim.get("task_id"))
    out = ""
    if claim.get("status") == "active":
        out += (
            f'<form class="act" method="post" action="/act/pause" '
            f'data-confirm="{e(confirm_text("Pause", claim))}">{_hidden(task, back)}'
            f'<input name="notes" placeholder="why pause? (required)" required size="14" '
            f'aria-label="why pause {e(task)}">'
            '<button name="do" value="pause">Pause</button></form>'
        )
    out += (
        f'<form class="act" method="post" action="/act/release" '
        f'data-confirm="{e(confirm_text("Release", claim))}">{_hidden(task, back)}'
        f'<select name="status" aria-label="release {e(task)} as">'
        "<option>released</option><option>done</option></select>"
        '<button name="do" value="release">Release</button></form>'
    )
    return out


def lease_cell(c: dict[str, Any]) -> str:
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


def claim_row(c: dict[str, Any], frame: Frame, back: str) -> Row:
    cls = {"expired": "expired", "stale": "stale", "paused": "paused"}.get(c.get("urgency", ""), "")
    notes = e(c.get("notes"))
    if c.get("status") == "paused":
        notes = f"paused by {e(c.get('by'))}: {notes}"
    cells = [
        task_link(c.get("task_id")),
        who(c.get("agent_id")),
        claim_flags(c),
        lease_cell(c),
        f'<span class="num">{e(c.get("fencing_token"))}</span>',
        e(c.get("branch")).replace("/", "/<wbr>"),
        e(c.get("plan_id") or ""),
        f'<span class="note">{notes}</span>' if notes else "",
    ]
    if frame.writes:
        cells.append(claim_actions(c, back))
    return f'class="{cls}" data-task="{e(c.get("task_id"))}"', cells


def claims_table(claims: list[dict[str, Any]], frame: Frame, back: str, empty: str) -> str:
    head = CLAIM_HEAD + (["actions"] if frame.writes else [])
    return table(head, [claim_row(c, frame, back) for c in claims], empty, "claims")


def counts_bar(counts: dict[str, int], order: str) -> str:
    items = "".join(
        f'<li class="count {e(name.split()[0])}{" zero" if n == 0 else ""}">'
        f'<span class="n">{n}</span> <span class="what">{e(name)}</span></li>'
        for name, n in counts.items()
    )
    return (
        f'<section class="summary" aria-label="counts"><ul class="counts">{items}</ul>'
        f'<p class="order mute">{e(order)}</p></section>'
    )


def alerts_list(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return ""
    items = "".join(
        f"<li>{tag('stale' if a['type'] == 'agent_idle' else 'expired', a['agent_id'])} "
        f"{e(a['text'])} {' '.join(task_link(t) for t in a['tasks'])}</li>"
        for a in alerts
    )
    return f'<ul class="alerts">{items}</ul>'


def agents_table(agents: list[dict[str, Any]], now: int) -> str:
    rows: list[Row] = [
        (
            f'data-agent="{e(a["agent_id"])}"',
            [
                who(a["agent_id"]) + (" " + tag("stale", "idle") if a["idle"] else ""),
                f'<span title="{e(a["ts"])}">{e(ago(now - a["epoch"]))}</span>',
                e(a["what"]),
                " ".join(task_link(t) for t in a["holds"]) or '<span class="mute">-</span>',
            ],
        )
        for a in agents
    ]
    return table(["agent", "last seen", "doing", "holds"], rows, "No agent seen yet.", "agents")


def finished_table(done: list[dict[str, Any]], total: int, now: int) -> str:
    rows: list[Row] = [
        (
            f'data-task="{e(c.get("task_id"))}"',
            [
                task_link(c.get("task_id")),
                who(c.get("agent_id")),
                tag(str(c.get("status"))),
                when(c.get("updated_at"), now),
                f'<span class="num">{e(c.get("fencing_token"))}</span>',
                f'<span class="note">{e(c.get("notes"))}</span>',
            ],
        )
        for c in done
    ]
    more = f'<p class="mute">and {total - len(done)} more.</p>' if total > len(done) else ""
    head = ["task", "agent", "status", "when", "token", "notes"]
    return table(head, rows, "None in the last 24 hours.") + more


def overview_part(d: dict[str, Any], frame: Frame, events: str) -> str:
    """The overview's live part; `events` is the latest events' table (pages.event_table)."""
    now = d["now"]
    attention = alerts_list(d["alerts"]) + claims_table(
        d["attention"], frame, "/", "Nothing is expired, stale or paused."
    )
    n_att = len(d["attention"]) + len(d["alerts"])
    return (
        counts_bar(d["counts"], d["order"]) + '<div class="board"><div class="col">'
        f'<section id="attention" class="attention"><h2>Needs a person ({n_att})</h2>'
        f"{attention}</section>"
        f'<section id="active"><h2>Active claims ({len(d["claims"])})</h2>'
        f"{claims_table(d['claims'], frame, '/', 'No other live claims.')}</section>"
        f'<section id="finished"><h2>Recently finished ({d["finished_total"]})</h2>'
        f"{finished_table(d['finished'], d['finished_total'], now)}</section>"
        f'<section id="latest"><h2>Latest events</h2>{events}'
        '<p><a href="/events">all events →</a> · <a href="/timeline">timeline →</a></p>'
        '</section></div><div class="col side">'
        f'<section id="agents"><h2>Agents ({len(d["agents"])})</h2>'
        f"{agents_table(d['agents'], now)}</section></div></div>"
    )
