"""The HTML pieces every dashboard page is built from: escaping, tags, links, tables.

Invariants: every value from the bus goes through `e` (escaped) before it reaches the page; a
task id is rendered by `task_link` alone, which never wraps (CSS `.tid`); every table has a
non-empty header per column and labels each cell with its header (`data-label`), so under
the narrow-screen media query (assets.CSS) a row reads as a card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from repobus.records import times


@dataclass(frozen=True)
class Frame:
    """What every page of one request shares: write mode, acting agent, a flash line."""

    writes: bool = False
    agent: str | None = None
    flash: str | None = None
    error: bool = False


Row = tuple[str, Sequence[str]]
"""One table row: the `<tr>`'s attributes (already escaped) and its cells' HTML."""


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return "just now" if seconds < 5 else f"{times.human(seconds)} ago"


def when(ts: Any, now: int) -> str:
    epoch = times.parse_or_none(ts)
    rel = f' <span class="mute">({ago(now - epoch)})</span>' if epoch is not None else ""
    return f'<span class="ts">{e(ts)}</span>{rel}'


def tag(kind: str, text: str | None = None) -> str:
    return f'<span class="tag {e(kind)}">{e(text or kind)}</span>'


def task_href(task: Any) -> str:
    return f"/task/{quote(str(task), safe='')}"


def who(agent: Any) -> str:
    """An agent id, kept on one line."""
    return f'<span class="who">{e(agent)}</span>'


def task_link(task: Any) -> str:
    if not task:
        return '<span class="mute">-</span>'
    return f'<a class="tid" href="{e(task_href(task))}">{e(task)}</a>'


def table(headers: Iterable[str], rows: list[Row], empty: str, cls: str = "") -> str:
    """A table of `rows` under `headers`; `empty` (a sentence) when there are no rows."""
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'
    heads = list(headers)
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in heads)
    body = "".join(
        f"<tr{' ' + attrs if attrs else ''}>"
        + "".join(f'<td data-label="{e(h)}">{c}</td>' for h, c in zip(heads, cells, strict=True))
        + "</tr>"
        for attrs, cells in rows
    )
    return (
        f'<table class="cards {e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def scroll_box(label: str, inner: str, tag_name: str = "div") -> str:
    """A region that scrolls on its own: reachable by keyboard (tabindex) and named."""
    return (
        f'<{tag_name} class="scroll" tabindex="0" role="region" aria-label="{e(label)}">'
        f"{inner}</{tag_name}>"
    )


def live(part_url: str, inner: str) -> str:
    """The part of a page the script fetches again (from `part_url`) and swaps in."""
    return f'<div id="live" data-part="{e(part_url)}">{inner}</div>'
