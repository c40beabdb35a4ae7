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
from repobus.web import data, pages  # noqa: E402


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
