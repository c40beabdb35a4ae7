"""A task's claim history as spans on a time axis: who held it from when to when, with which
fencing token, and where it was taken over - what the timeline draws (web/timeline.py).

Invariants: pure functions of the history records and the instants given (no I/O, no clock);
a history is oldest first, as `store.history` returns it; each version holds from its own
time (`updated_at`, else `claimed_at`) until the next version's time, or until `now` when it
is the newest and its status is not finished (records/shown.py `finished`); consecutive
versions with the same holder, status and token (renewals) make one bar; only active and
paused versions make bars (a finished claim is held by nobody); a bar is clipped to the
window and dropped when it falls outside; a lease that ended before its version was
replaced (or before now) is kept as an `over` interval - from the lease end (the lease rule,
`lease_end`) to the end of that version; a version whose `op` is `takeover` is a mark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from repobus.records import times

LeaseEnd = Callable[[dict[str, Any]], int | None]
BARRED = ("active", "paused")  # the statuses during which somebody holds the task


@dataclass
class Bar:
    task: str
    agent: str
    status: str
    token: Any
    start: int
    end: int
    open: bool  # still held now: the bar runs to the right edge
    op: str = ""
    over: list[tuple[int, int]] = field(default_factory=list)  # lease ended, still held
    row: int = 0  # which row of its agent's lane (bars that overlap in time stack)


@dataclass
class Mark:
    """A takeover: `agent` took `task` from `previous` at `at`, with fencing token `token`."""

    task: str
    agent: str
    previous: str
    token: Any
    at: int
    row: int = 0  # the row of the bar it starts


def at(rec: dict[str, Any]) -> int | None:
    """When a version of a claim was written."""
    return times.parse_or_none(rec.get("updated_at") or rec.get("claimed_at"))


def spans(
    task: str, history: list[dict[str, Any]], now: int, lease_end: LeaseEnd
) -> tuple[list[Bar], list[Mark]]:
    """The bars and takeover marks of one task's claim history (not clipped)."""
    bars: list[Bar] = []
    marks: list[Mark] = []
    timed = [(t, rec) for rec in history if (t := at(rec)) is not None]
    for i, (t, rec) in enumerate(timed):
        nxt = timed[i + 1][0] if i + 1 < len(timed) else None
        if rec.get("op") == "takeover":
            prev = str(rec.get("previous_holder") or "?")
            marks.append(Mark(task, _holder(rec), prev, rec.get("fencing_token"), t))
        if rec.get("status") in BARRED:
            bar = _extend(bars, task, rec, t, max(t, now if nxt is None else nxt))
            bar.open = nxt is None
            ends = lease_end(rec) if rec.get("status") == "active" else None
            if ends is not None and ends < bar.end:
                bar.over.append((max(ends, t), bar.end))
    return bars, marks


def _holder(rec: dict[str, Any]) -> str:
    return str(rec.get("agent_id") or "?")


def _extend(bars: list[Bar], task: str, rec: dict[str, Any], t: int, end: int) -> Bar:
    """The bar this version continues (a renewal: same holder, status and token, right after
    the last bar), extended to `end`; else a new bar."""
    key = (_holder(rec), str(rec.get("status")), rec.get("fencing_token"))
    last = bars[-1] if bars else None
    if last is not None and last.end == t and (last.agent, last.status, last.token) == key:
        last.end = end
        return last
    bar = Bar(task, key[0], key[1], key[2], t, end, False, str(rec.get("op") or ""))
    bars.append(bar)
    return bar


SIMPLE_OPS = ("claim", "renew", "release", None)


def needs_history(rec: dict[str, Any]) -> bool:
    """Whether a claim's current version may hide more than one span: a raised fencing token
    (taken over or claimed again), a resume, a pause, or a change by another agent than its
    holder (a pause or an operator's release).  Otherwise the current version alone says it
    all: held from `claimed_at` to its release (or to now)."""
    token = rec.get("fencing_token")
    if not isinstance(token, int) or token > 1 or rec.get("op") not in SIMPLE_OPS:
        return True
    return bool(rec.get("by")) and rec.get("by") != rec.get("agent_id")


def current_spans(
    task: str, rec: dict[str, Any], now: int, lease_end: LeaseEnd
) -> tuple[list[Bar], list[Mark]]:
    """The spans of a claim's current holding, from its current version alone (no history
    read): from `claimed_at` to the version's time when it is finished, to now while held, a
    paused one paused from the version's time; a takeover's mark at `claimed_at`."""
    t = at(rec)
    start = times.parse_or_none(rec.get("claimed_at")) or t
    if t is None or start is None:
        return [], []
    history = [dict(rec, status="active", updated_at=times.fmt(start), op="claim"), rec]
    bars, _ = spans(task, history if start < t else [rec], now, lambda r: None)
    status, token, agent = rec.get("status"), rec.get("fencing_token"), _holder(rec)
    if bars and status == "active":
        end = lease_end(rec)
        bars[-1].over = [(max(end, bars[-1].start), now)] if end is not None and end < now else []
    marks = []
    if rec.get("op") == "takeover":
        prev = str(rec.get("previous_holder") or "?")
        marks.append(Mark(task, agent, prev, token, start))
    return bars, marks


def clip(bars: list[Bar], marks: list[Mark], start: int, end: int) -> tuple[list[Bar], list[Mark]]:
    """The bars and marks that fall in `[start, end]`, bars cut to it."""
    kept: list[Bar] = []
    for b in bars:
        if b.end < start or b.start > end:
            continue
        over = [(max(a, start), min(z, end)) for a, z in b.over if z >= start and a <= end]
        kept.append(
            Bar(
                b.task,
                b.agent,
                b.status,
                b.token,
                max(b.start, start),
                min(b.end, end),
                b.open,
                b.op,
                over,
            )
        )
    return kept, [m for m in marks if start <= m.at <= end]


def lanes(bars: list[Bar], marks: list[Mark], ticks: list[dict[str, Any]]) -> dict[str, int]:
    """The agents that have something to draw, in agent-id order (one lane each), with the
    rows each lane needs: bars of one agent that overlap in time go on separate rows (each
    bar on the first row free at its start), a takeover mark on its bar's row."""
    found = {b.agent for b in bars} | {m.agent for m in marks}
    found |= {str(t.get("agent_id")) for t in ticks if t.get("agent_id")}
    rows: dict[str, list[int]] = {a: [] for a in sorted(found)}  # per row: where it ends
    for b in sorted(bars, key=lambda b: (b.start, b.end, b.task)):
        ends = rows[b.agent]
        b.row = next((i for i, end in enumerate(ends) if end <= b.start), len(ends))
        ends[b.row : b.row + 1] = [b.end]
    starts = {(b.task, b.agent, b.start): b.row for b in bars}
    for m in marks:
        m.row = starts.get((m.task, m.agent, m.at), 0)
    return {agent: max(len(ends), 1) for agent, ends in rows.items()}


def task_window(bars: list[Bar], history: list[dict[str, Any]], now: int) -> tuple[int, int]:
    """The span a task page's timeline shows: from its first claim to now while held, else to
    its last change, with a margin so the first and last marks are not on the frame."""
    stamps = [t for rec in history if (t := at(rec)) is not None]
    if not stamps:
        return now - 3600, now
    first = min(stamps)
    last = now if any(b.open for b in bars) else max(stamps)
    pad = max((last - first) // 20, 60)
    return first - pad, min(last + pad, now)
