"""The dashboard's event listings answer from the index and page: the event filters and the
task page read an indexed query by task / agent / name, and the events page links to the
older page with a cursor instead of stopping at 200 rows; on both backends."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed")

from test_web import serve  # noqa: E402, F401  (the fixture: `repobus serve` stopped by PID)

from repobus.bus import open_bus  # noqa: E402
from repobus.web import data, pages, timeline  # noqa: E402


def _seed(repo: Path, cli: Callable[..., Any]) -> Any:
    assert cli("init", "--agent", "a1", "--no-remote", cwd=repo).code == 0
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.claim("a2", "T-2")
    for i in range(25):
        bus.log(
            "a1" if i % 2 else "a2", "note" if i % 3 else "progress", f"e{i}", task=f"T-{1 + i % 2}"
        )
    return bus


def _pages(bus: Any, q: dict[str, str], limit: int) -> list[str]:
    seen: list[str] = []
    for _ in range(50):
        recs, older = data.stream(bus, data.Filters.parse(q, limit=limit))
        assert len(recs) <= limit
        seen += [r["summary"] for r in recs]
        if older is None:
            return seen
        q = {**q, "cursor": older}
    raise AssertionError("the pages never ended")


def test_filters_page_through_every_matching_event_once(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    bus = _seed(any_repo, cli)
    asks = (
        ({}, 4, range(25)),
        ({"task": "T-2"}, 3, range(1, 25, 2)),
        ({"agent": "a1"}, 5, range(1, 25, 2)),
        ({"agent": "a2", "event": "note"}, 2, [i for i in range(0, 25, 2) if i % 3]),
    )
    for q, size, want in asks:
        whole = [r["summary"] for r in data.stream(bus, data.Filters.parse(q, limit=1000))[0]]
        assert sorted(whole) == sorted(f"e{i}" for i in want), q
        assert _pages(bus, q, size) == whole, q  # every event once, in the one order


def test_the_task_page_shows_its_newest_events_and_links_older(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    bus = _seed(any_repo, cli)
    d = data.task(bus, "T-1")
    assert sorted(e["summary"] for e in d["events"]) == sorted(f"e{i}" for i in range(0, 25, 2))
    assert d["events_older"] is None and d["claim"]["task_id"] == "T-1"
    recs, older = data.stream(bus, data.Filters.parse({}, limit=10))
    html = pages.events_page(data.Filters.parse({}), recs, older, bus.clock())
    assert older and f"cursor={older}" in unescape(html) and ">older</a>" in html


def test_a_bad_cursor_is_refused(repo: Path, cli: Callable[..., Any]) -> None:
    from repobus.errors import UsageError

    _seed(repo, cli)
    with pytest.raises(UsageError):
        data.Filters.parse({"cursor": "k.x"})


def test_the_events_page_over_http_links_the_older_page(
    repo: Path,
    cli: Callable[..., Any],
    serve: Callable[..., Any],  # noqa: F811
) -> None:
    bus = _seed(repo, cli)
    for i in range(200):
        bus.log("a3", "note", f"bulk {i}")
    srv = serve()
    with urllib.request.urlopen(srv.url + "events", timeout=30) as res:
        first = res.read().decode("utf-8")
    assert first.count('<tr class="ev"') == 200 and ">older</a>" in first
    link = unescape(first.split('<p class="older"><a href="/', 1)[1].split('"', 1)[0])
    with urllib.request.urlopen(srv.url + link, timeout=30) as res:
        second = res.read().decode("utf-8")
    assert second.count('<tr class="ev"') == 25 and ">older</a>" not in second
    assert json.dumps("e0")[1:-1] in second


# -- attention first, the timeline (issue 17 items 1, 2, 5) -----------------------------------


def _realistic(repo: Path, cli: Callable[..., Any]) -> tuple[Any, dict[str, list[str]]]:
    import realistic

    assert cli("init", "--agent", "codex-1", "--no-remote", cwd=repo).code == 0
    tasks = realistic.build(repo)["tasks"]
    return open_bus(repo), tasks


def test_the_overview_puts_what_needs_a_person_first_and_counts_what_it_lists(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    bus, tasks = _realistic(any_repo, cli)
    d = data.overview(bus)
    attention = [c["task_id"] for c in d["attention"]]
    assert attention == tasks["expired"] + tasks["stale"] + tasks["paused"]  # urgency, then id
    active = [c["task_id"] for c in d["claims"]]
    assert active[:3] == tasks["in_grace"][::-1]  # in grace next, the soonest lease end first
    assert sorted(active) == sorted(tasks["in_grace"] + tasks["active"])
    lease_ends = [c["lease_end"] for c in d["claims"][3:]]
    assert lease_ends == sorted(lease_ends)
    assert d["counts"] == {
        "live": len(attention) + len(active),
        "in grace": 3,
        "expired": 4,
        "stale": 3,
        "paused": 3,
        "finished (24 h)": len(tasks["done"]) + len(tasks["released"]),
    }
    assert d["finished_total"] == len(d["finished"]) == 16  # all within FINISHED_SHOWN
    alerts = {(a["type"], a["agent_id"]) for a in d["alerts"]}
    assert alerts == {("manager_heartbeat_missing", "mgr-0"), ("agent_idle", "gemini-5")}
    assert [a["agent_id"] for a in d["agents"] if a["idle"]] == ["gemini-5"]
    html = pages.overview_part(d, pages.Frame())
    assert data.ORDER_TEXT in html and "form" not in html
    for t in attention + active:
        assert html.count(f'data-task="{t}"') == 1, t  # each live claim once
    assert html.index('id="attention"') < html.index('id="active"') < html.index('id="agents"')


def test_write_forms_are_labelled_and_say_what_they_will_do(
    repo: Path, cli: Callable[..., Any]
) -> None:
    bus, tasks = _realistic(repo, cli)
    html = pages.overview_part(data.overview(bus), pages.Frame(True, "alice"))
    first = tasks["expired"][0]
    assert f'data-confirm="Release {first} held by codex-1?"' in html
    assert f'data-confirm="Pause {first} held by codex-1?"' in html
    assert html.count("<select") == html.count('<select name="status" aria-label=')
    assert '<th scope="col"></th>' not in html


def test_the_task_page_of_a_stale_claim_flags_it(repo: Path, cli: Callable[..., Any]) -> None:
    bus, tasks = _realistic(repo, cli)
    stale = data.task(bus, tasks["stale"][0])
    assert stale["claim"]["stale"] and "stale: holder idle" in pages.task_part(stale, pages.Frame())
    fresh = data.task(bus, tasks["active"][0])
    assert not fresh["claim"]["stale"]
    assert "stale: holder idle" not in pages.task_part(fresh, pages.Frame())


def test_the_timeline_draws_claims_takeovers_and_events_linked_to_tasks(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    bus, tasks = _realistic(any_repo, cli)
    now = bus.clock()
    d = data.timeline(bus, data.parse_window("24h"), now)
    took = tasks["takeover"][0]
    mine = [(b.agent, b.token, b.open) for b in d["bars"] if b.task == took]
    assert mine == [("aider-3", 1, False), ("claude-6", 2, True)]
    assert [(m.task, m.agent, m.previous, m.token) for m in d["marks"]] == [
        (took, "claude-6", "aider-3", 2)
    ]
    drawn = {b.task for b in d["bars"]}
    assert drawn == {f"QUEUE-{i:03d}" for i in range(1, 41)}  # everything of the last day
    assert list(d["lanes"]) == sorted(d["lanes"]) and d["lanes"]["codex-1"] > 1  # stacked rows
    svg = timeline.svg(d, "t")
    assert svg.count('<rect class="bar ') == len(d["bars"])
    assert f'<a href="/task/{took}" aria-label="{took}: taken over by claude-6' in svg
    assert svg.count('class="take"') == 1 and ">#2</text>" in svg
    assert svg.count('<line class="tick"') == len(d["ticks"]) > 0
    assert svg.count("<title>") >= len(d["bars"]) + len(d["ticks"]) + 1
    short = data.timeline(bus, data.parse_window("1h"), now)  # cost follows the window
    assert {b.task for b in short["bars"]} < drawn and not any(
        b.start < now - 3600 for b in short["bars"]
    )
    page = pages.timeline_page(short, pages.Frame())
    assert 'data-part="/part/timeline?window=1h"' in page and "aria-current=page>1h" in page


def test_a_window_is_a_duration_within_bounds() -> None:
    from repobus.errors import UsageError

    assert data.parse_window(None) == 24 * 3600 and data.parse_window("7d") == 7 * 86400
    for bad in ("soon", "0h", "400d"):
        with pytest.raises(UsageError):
            data.parse_window(bad)


def test_a_claim_history_becomes_bars_marks_and_lease_overruns() -> None:
    from repobus.records import times
    from repobus.web import spans

    def rec(at: int, agent: str, status: str, token: int, op: str, **kw: Any) -> dict[str, Any]:
        return {
            "updated_at": times.fmt(at),
            "agent_id": agent,
            "status": status,
            "fencing_token": token,
            "op": op,
            **kw,
        }

    t0 = 1_700_000_000
    history = [
        rec(t0, "a", "active", 1, "claim"),
        rec(t0 + 100, "a", "active", 1, "renew"),
        rec(t0 + 200, "a", "paused", 1, "pause"),
        rec(t0 + 300, "b", "active", 2, "takeover", previous_holder="a"),
        rec(t0 + 900, "b", "done", 2, "release"),
    ]
    ends = {t0: t0 + 50, t0 + 100: t0 + 500, t0 + 300: t0 + 400}
    bars, marks = spans.spans(
        "T", history, t0 + 1000, lambda r: ends.get(times.parse_or_none(r["updated_at"]) or 0)
    )
    got = [(b.agent, b.status, b.token, b.start - t0, b.end - t0, b.open) for b in bars]
    assert got == [
        ("a", "active", 1, 0, 200, False),
        ("a", "paused", 1, 200, 300, False),
        ("b", "active", 2, 300, 900, False),
    ]
    assert [(o[0] - t0, o[1] - t0) for o in bars[0].over] == [(50, 100)]  # renewed late
    assert [(o[0] - t0, o[1] - t0) for o in bars[2].over] == [(400, 900)]
    assert [(m.agent, m.previous, m.token, m.at - t0) for m in marks] == [("b", "a", 2, 300)]
    cut, kept = spans.clip(bars, marks, t0 + 250, t0 + 1000)
    assert [(b.status, b.start - t0) for b in cut] == [("paused", 250), ("active", 300)]
    assert kept == marks


def test_a_claim_with_one_holding_is_drawn_from_its_current_version() -> None:
    from repobus.records import times
    from repobus.web import spans

    t0 = 1_700_000_000
    base = {"agent_id": "a", "fencing_token": 1, "claimed_at": times.fmt(t0)}
    paused = dict(base, status="paused", op="pause", by="a", updated_at=times.fmt(t0 + 60))
    active = dict(base, status="active", op="renew", updated_at=times.fmt(t0 + 60))
    done = dict(base, status="done", op="release", updated_at=times.fmt(t0 + 90))
    assert not any(spans.needs_history(r) for r in (active, done))
    assert spans.needs_history(paused) and spans.needs_history(dict(active, fencing_token=2))
    assert spans.needs_history(dict(done, by="alice"))  # an operator's release
    bars, marks = spans.current_spans("T", paused, t0 + 100, lambda r: None)
    assert [(b.status, b.start - t0, b.end - t0, b.open) for b in bars] == [
        ("active", 0, 60, False),
        ("paused", 60, 100, True),
    ]
    bars, _ = spans.current_spans("T", active, t0 + 100, lambda r: t0 + 80)
    assert [(b.start - t0, b.end - t0, b.open) for b in bars] == [(0, 100, True)]
    assert [(a - t0, z - t0) for a, z in bars[0].over] == [(80, 100)]
    bars, _ = spans.current_spans("T", done, t0 + 100, lambda r: None)
    assert [(b.start - t0, b.end - t0, b.open) for b in bars] == [(0, 90, False)]
